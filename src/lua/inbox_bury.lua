-- inbox_bury.lua - the reap's last step for inbox NAME (reap.lua): it
-- has left ROOMS; unless its owner came back meanwhile (then it only
-- forgets them), it is deleted with its queue.
-- KEYS: NAME's :i :q :f :r, its slot's :x.  ARGV: NAME ROOM...
-- Returns 1 when it was deleted.
local name = ARGV[12]
set_xkey(KEYS[5])
local h = redis.call('HMGET', KEYS[1], 'x', 'd', 'wd', 'n', 'an')
if h[2] == '1' and num(h[1]) <= NOW and num(h[3]) <= NOW and
    flying(name) == 0 then
	stat('expired', num(h[4]) + num(h[5]))
	redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
	redis.call('ZREM', XKEY, 'i' .. name)
	return 1
end
if not h[1] then
	return 0
end
touch(name)
redis.call('HDEL', KEYS[1], 'd')
for k = 13, #ARGV do
	redis.call('HDEL', KEYS[4], ARGV[k])
end
finish()
return 0
