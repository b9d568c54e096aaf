-- room_trim.lua - every recipient of ROOM's events up to SEQ has them:
-- they leave the outbox.  A closing room whose outbox is empty goes;
-- any other is due at its expiry again, or in RETRY while events are
-- still out.
-- KEYS: ROOM's hash :m :v :o, its slot's :x.  ARGV: ROOM SEQ.  Returns 1.
local room, seq = ARGV[12], tonumber(ARGV[13])
set_xkey(KEYS[5])
while true do
	local e = redis.call('LINDEX', KEYS[4], 0)
	if not e or tonumber(string.match(e, '^(%d+)')) > seq then
		break
	end
	redis.call('LPOP', KEYS[4])
end
local h = redis.call('HMGET', KEYS[1], 'x', 'z')
if not h[1] then
	redis.call('DEL', KEYS[4])
	redis.call('ZREM', XKEY, 'r' .. room)
elseif redis.call('EXISTS', KEYS[4]) == 1 then
	room_due(room, NOW + RETRY)
elseif h[2] == '1' then
	delete_room(room)
else
	room_due(room, num(h[1]))
end
return 1
