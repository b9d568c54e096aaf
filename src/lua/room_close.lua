-- room_close.lua - the creator USER closes ROOM: every other member is
-- told, and every member and invited inbox forgets it (the outbox); the
-- room stays, closing, until that is done (room_trim.lua).
-- KEYS: ROOM's hash :m :v :o, its slot's :x.  ARGV: ROOM USER.  Returns
-- {'OK', outbox...}, {'NOT_FOUND'}, {'FORBIDDEN'}.
local room, user = ARGV[12], ARGV[13]
set_xkey(KEYS[5])
if not room_live(room) then
	return {'NOT_FOUND'}
end
local r = redis.call('HMGET', KEYS[1], 'c', 'cc')
if not is_member(room, user) or not (r[1] == user and r[2] == '1') then
	return {'FORBIDDEN'}
end
close_room(room, 'closed', user)
local o = outbox(room)
table.insert(o, 1, 'OK')
return o
