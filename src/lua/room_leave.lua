-- room_leave.lua - member PEER leaves ROOM: by its own request (USER is
-- PEER: reason left) or removed by the creator USER (reason removed, the
-- peer told too); the others are told and PEER forgets the room (the
-- outbox).  The last member out deletes the room.
-- KEYS: ROOM's hash :m :v :o, its slot's :x.  ARGV: ROOM USER PEER.
-- Returns {'OK', outbox...}, {'NOT_FOUND'}, {'FORBIDDEN'}, {'NO_PEER'}.
local room, user, peer = ARGV[12], ARGV[13], ARGV[14]
set_xkey(KEYS[5])
if not room_live(room) then
	return {'NOT_FOUND'}
end
local r = redis.call('HMGET', KEYS[1], 'c', 'cc')
if not is_member(room, user) then
	return {'FORBIDDEN'}
end
local o
if user == peer then
	o = leave(room, user, 'left', nil)
else
	if not (r[1] == user and r[2] == '1') then
		return {'FORBIDDEN'}
	end
	if not is_member(room, peer) then
		return {'NO_PEER'}
	end
	o = leave(room, peer, 'removed', user)
end
o = o or outbox(room)
table.insert(o, 1, 'OK')
return o
