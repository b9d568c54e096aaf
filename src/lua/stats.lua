-- stats.lua - the cluster's room gauges and count of inboxes made
-- (inboxd:stats), live PINs and rooms counted from their indexes, and
-- the held GETs of the other live nodes as their heartbeats last said.
-- The inboxes, messages and bytes come from gauges.lua, the counters
-- from each node.
-- Returns a flat array of names and values.
local s = redis.call('HGETALL', STATS)
local function put(k, v)
	s[#s + 1] = k
	s[#s + 1] = str(v)
end
put('pins', redis.call('ZCOUNT', PINS, '(' .. str(NOW), '+inf'))
put('rooms', redis.call('ZCARD', ROOMS))
local held = 0
for _, n in ipairs(redis.call('SMEMBERS', P .. 'live')) do
	local v = redis.call('GET', P .. 'hb:' .. n)
	if not v then
		redis.call('SREM', P .. 'live', n)
	elseif n ~= NODE then
		held = held + num(v)
	end
end
put('waiters', held)
return s
