-- room_forget.lua - inbox NAME is going (the reap, reap.lua): it leaves
-- ROOM, the others told (left, expired), and its invitation lapses.
-- Doing it again does nothing more.
-- KEYS: ROOM's hash :m :v :o, its slot's :x.  ARGV: ROOM NAME.  Returns
-- {outbox...}.
local room, name = ARGV[12], ARGV[13]
set_xkey(KEYS[5])
if not room_live(room) then
	return outbox(room)
end
redis.call('SREM', KEYS[3], name)
if is_member(room, name) then
	local o = leave(room, name, 'expired', nil)
	if o then
		return o
	end
end
return outbox(room)
