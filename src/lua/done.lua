-- done.lua - the delivery of message ID of inbox NAME is over: delivered
-- (DELIVERED 1), it is deleted; else it goes back before every later
-- message, unless it outlived message-timeout.
-- ARGV: NAME ID DELIVERED.  Returns 1, or 0 when it was not in flight.
local name, id, delivered = ARGV[13], ARGV[14], ARGV[15]
local f = ikey(name, 'f')
local v = redis.call('HGET', f, id)
if not v then
	return 0
end
redis.call('HDEL', f, id)
if not exists(name) then
	return 0
end
active(name)
if delivered == '1' then
	stat('delivered', 1)
else
	local _, _, e = inflight(v)
	requeue(name, e)
end
finish()
return 1
