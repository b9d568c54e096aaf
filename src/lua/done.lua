-- done.lua - the delivery of message ID of inbox NAME is over: delivered
-- (DELIVERED 1), it is deleted; else it goes back before every later
-- message, unless it outlived message-timeout.  A delivered message of
-- a plain inbox costs the in-flight entry's deletion and, the inbox
-- being idle then, that of its counts.
-- KEYS: NAME's :i :q :f, its slot's :x.  ARGV: NAME ID DELIVERED.
-- Returns 1, or 0 when it was not in flight.
local name, id, delivered = ARGV[13], ARGV[14], ARGV[15]
local i, f = KEYS[1], KEYS[3]
set_xkey(KEYS[4])
if delivered == '1' then
	if redis.call('HDEL', f, id) == 0 then
		return 0
	end
	stat('delivered', 1)
	local h = redis.call('HMGET', i, 'x', 'n')
	if not h[1] and num(h[2]) == 0 and redis.call('HLEN', f) == 0 then
		redis.call('HDEL', i, 's', 'n', 'b')
	end
	return 1
end
local v = redis.call('HGET', f, id)
if not v then
	return 0
end
redis.call('HDEL', f, id)
if not exists(name) then
	return 0
end
active(name)
local _, _, e = inflight(v)
requeue(name, e)
finish()
return 1
