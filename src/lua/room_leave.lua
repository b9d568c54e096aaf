-- room_leave.lua - member PEER leaves ROOM: by its own request (USER is
-- PEER: reason left) or removed by the creator USER (reason removed, the
-- peer told too).  The last member out deletes the room.
-- ARGV: ROOM USER GEN PEER.  Returns {'OK'}, {'NOT_FOUND'},
-- {'FORBIDDEN'}, {'NO_PEER'}, {'GONE'}, {'WRONG'}.
local room, user, gen, peer = ARGV[13], ARGV[14], ARGV[15], ARGV[16]
local bad = checkgen(user, gen)
if bad then
	return {bad}
end
active(user)
finish()
local r = redis.call('HMGET', rkey(room), 'c', 'cc')
if not r[1] then
	return {'NOT_FOUND'}
end
if not is_member(room, user) then
	return {'FORBIDDEN'}
end
if user == peer then
	leave(room, user, 'left', nil)
	finish()
	return {'OK'}
end
if not (r[1] == user and r[2] == '1') then
	return {'FORBIDDEN'}
end
if not exists(peer) or not is_member(room, peer) then
	return {'NO_PEER'}
end
leave(room, peer, 'removed', user)
finish()
return {'OK'}
