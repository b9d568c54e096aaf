-- room_invite.lua - member USER (generation GEN) invites inbox PEER to
-- ROOM (in an invite_only room, only its creator may): PEER may then
-- join without the secret, and is told.  A member is not invited.
-- ARGV: ROOM USER GEN PEER.  Returns {'OK'}, {'NOT_FOUND'},
-- {'FORBIDDEN'}, {'NO_PEER'}, {'TOO_MANY_INVITATIONS'}, {'GONE'},
-- {'WRONG'}.
local room, user, gen, peer = ARGV[13], ARGV[14], ARGV[15], ARGV[16]
local bad = checkgen(user, gen)
if bad then
	return {bad}
end
active(user)
finish()
local r = redis.call('HMGET', rkey(room), 'k', 'mm', 'c', 'cc')
if not r[2] then
	return {'NOT_FOUND'}
end
if not is_member(room, user) or
    (not r[1] and not (r[3] == user and r[4] == '1')) then
	return {'FORBIDDEN'}
end
if not exists(peer) then
	return {'NO_PEER'}
end
if is_member(room, peer) then
	return {'OK'}
end
if redis.call('SISMEMBER', rkey(room, ':v'), peer) == 0 then
	if redis.call('SCARD', rkey(room, ':v')) >= num(r[2]) then
		return {'TOO_MANY_INVITATIONS'}
	end
	touch(peer)
	redis.call('SADD', rkey(room, ':v'), peer)
	room_ttl(room)
	redis.call('HSET', ikey(peer, 'r'), room, 'v')
	redis.call('PEXPIREAT', ikey(peer, 'r'),
	    keys_at(peer))
	stat('invitations', 1)
end
if L.render then
	tell(room, 'invited', user,
	    render('invited', room, peer, nil, members(room)), peer)
end
finish()
return {'OK'}
