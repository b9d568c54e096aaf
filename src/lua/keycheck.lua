-- keycheck.lua - with each heartbeat: does the cluster's MAC key exist
-- (a Redis that lost its data must get it back), and the node counter
-- is brought up to this node's NUMBER, so that no later node takes it
-- again.
-- KEYS: inboxd:{g}:key inboxd:{g}:nodes.  ARGV: NUMBER.  Returns 1 while
-- the key exists, 0 when the node must write it again.
if num(redis.call('GET', KEYS[2])) < tonumber(ARGV[12]) then
	redis.call('SET', KEYS[2], ARGV[12])
end
return redis.call('EXISTS', KEYS[1])
