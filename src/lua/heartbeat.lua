-- heartbeat.lua - this node is alive for LEASE ms more, holding HELD
-- GETs.  A node whose heartbeat key is gone has its in-flight messages
-- put back by the next pop of their inbox, on any node.  A Redis that
-- lost its data (restarted without persistence) gets the node counter
-- back up to this node's NUMBER, so that no later node takes it again.
-- ARGV: HELD LEASE NUMBER.  Returns 1 while the cluster's MAC key
-- exists, 0 when the node must write it again.
redis.call('SET', P .. 'hb:' .. NODE, ARGV[13], 'PX', ARGV[14])
redis.call('SADD', P .. 'live', NODE)
if num(redis.call('GET', P .. 'nodes')) < tonumber(ARGV[15]) then
	redis.call('SET', P .. 'nodes', ARGV[15])
end
return redis.call('EXISTS', P .. 'key')
