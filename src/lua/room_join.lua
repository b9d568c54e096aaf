-- room_join.lua - USER (generation GEN) joins ROOM with the credential
-- MAC of the secret it gave (empty: none) or an invitation, which the
-- join uses up.  A member joining again is answered, and nobody told.
-- ARGV: ROOM USER GEN MAC.  Returns a roster, or {'NOT_FOUND'},
-- {'WRONG_SECRET'}, {'FORBIDDEN'}, {'ROOM_FULL'}, {'TOO_MANY_ROOMS'},
-- {'GONE'}, {'WRONG'}.
local room, user, gen, mac = ARGV[13], ARGV[14], ARGV[15], ARGV[16]
local bad = checkgen(user, gen)
if bad then
	return {bad}
end
active(user)
finish()
local r = redis.call('HMGET', rkey(room), 'k', 'mm', 'n')
if not r[2] then
	return {'NOT_FOUND'}
end
if is_member(room, user) then
	return roster(room)
end
local invited = redis.call('SISMEMBER', rkey(room, ':v'), user) == 1
if not invited and (mac == '' or not r[1] or r[1] ~= mac) then
	if mac ~= '' then
		return {'WRONG_SECRET'}
	end
	return {'FORBIDDEN'}
end
if redis.call('ZCARD', rkey(room, ':m')) >= num(r[2]) then
	return {'ROOM_FULL'}
end
if num(redis.call('HGET', ikey(user, 'i'), 'nr')) >= L.maxperinbox then
	return {'TOO_MANY_ROOMS'}
end
if invited then
	redis.call('SREM', rkey(room, ':v'), user)
	stat('invitations', -1)
end
redis.call('ZADD', rkey(room, ':m'),
    str(redis.call('HINCRBY', rkey(room), 'n', 1)), user)
touch(user)
redis.call('HSET', ikey(user, 'r'), room, 'm')
redis.call('PEXPIREAT', ikey(user, 'r'),
    keys_at(user))
redis.call('HINCRBY', ikey(user, 'i'), 'nr', 1)
room_ttl(room)
stat('members', 1)
announce(room, 'joined', user, user, nil, user, nil)
finish()
return roster(room)
