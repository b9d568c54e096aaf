-- room_invite.lua - member USER invites inbox PEER to ROOM (in an
-- invite_only room, only its creator may): PEER may then join without
-- the secret, and is told (the outbox).  A member is not invited.  With
-- CHECK 1, nothing changes: the node asks first, then writes PEER's side
-- (member_invite.lua, which says NO_PEER), then calls again.
-- KEYS: ROOM's hash :m :v :o, its slot's :x.  ARGV: ROOM USER PEER CHECK.
-- Returns {'OK', outbox...}, {'MEMBER'} (PEER is one: OK, nothing done),
-- {'NOT_FOUND'}, {'FORBIDDEN'}, {'TOO_MANY_INVITATIONS'}.
local room, user, peer, check = ARGV[12], ARGV[13], ARGV[14],
    ARGV[15] == '1'
set_xkey(KEYS[5])
if not room_live(room) then
	return {'NOT_FOUND'}
end
local r = redis.call('HMGET', KEYS[1], 'k', 'mm', 'c', 'cc')
if not is_member(room, user) or
    (not r[1] and not (r[3] == user and r[4] == '1')) then
	return {'FORBIDDEN'}
end
if is_member(room, peer) then
	return {'MEMBER'}
end
local new = redis.call('SISMEMBER', KEYS[3], peer) == 0
if new and redis.call('SCARD', KEYS[3]) >= num(r[2]) then
	return {'TOO_MANY_INVITATIONS'}
end
if check then
	return {'OK'}
end
if new then
	redis.call('SADD', KEYS[3], peer)
	room_ttl(room)
end
announce(room, 'invited', user, peer, nil, true, {{TELL, peer}})
local o = outbox(room)
table.insert(o, 1, 'OK')
return o
