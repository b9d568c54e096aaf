-- room_create.lua - CREATOR (generation GEN) makes room NAME and is its
-- first member.  MAC is the credential MAC of the name and its secret,
-- empty for an invite_only room; MAX its max_members (0: the default).
-- ARGV: CREATOR GEN NAME MAC MAX TTL.  Returns a roster (see roster()),
-- or {'CONFLICT'}, {'TOO_MANY_ROOMS'}, {'SERVER_FULL'}, {'GONE'},
-- {'WRONG'}.
local creator, gen, room, mac, max, ttl =
    ARGV[13], ARGV[14], ARGV[15], ARGV[16], tonumber(ARGV[17]),
    tonumber(ARGV[18])
local bad = checkgen(creator, gen)
if bad then
	return {bad}
end
active(creator)
finish()
if redis.call('EXISTS', rkey(room)) == 1 then
	return {'CONFLICT'}
end
if num(redis.call('HGET', ikey(creator, 'i'), 'nr')) >= L.maxperinbox then
	return {'TOO_MANY_ROOMS'}
end
if redis.call('ZCARD', ROOMS) >= L.maxrooms then
	return {'SERVER_FULL'}
end
if max == 0 or max > L.maxmembers then
	max = L.maxmembers
end
redis.call('HSET', rkey(room), 'c', creator, 'cc', '1', 'mm', str(max),
    'x', str(NOW + ttl), 'n', '1')
if mac ~= '' then
	redis.call('HSET', rkey(room), 'k', mac)
end
redis.call('ZADD', rkey(room, ':m'), '1', creator)
touch(creator)
redis.call('HSET', ikey(creator, 'r'), room, 'm')
redis.call('PEXPIREAT', ikey(creator, 'r'),
    keys_at(creator))
redis.call('HINCRBY', ikey(creator, 'i'), 'nr', 1)
redis.call('ZADD', ROOMS, str(NOW + ttl), room)
room_ttl(room)
stat('members', 1)
stat('rooms_created', 1)
finish()
return roster(room)
