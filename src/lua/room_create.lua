-- room_create.lua - room ROOM is made, CREATOR its first member.  The
-- creator's side is written first (member_mark.lua, which counted NROOMS
-- rooms of its already) and confirmed after (member_confirm.lua).  MAC
-- is the credential MAC of the name and its secret, empty for an
-- invite_only room; MAX its max_members (0: the default).  max-rooms is
-- the node's to check, against the gauges.
-- KEYS: ROOM's hash :m :v :o, its slot's :x.  ARGV: ROOM CREATOR MAC MAX
-- TTL NROOMS.  Returns a roster (see roster()), or {'CONFLICT'},
-- {'TOO_MANY_ROOMS'}.
local room, creator, mac, max, ttl, nrooms =
    ARGV[12], ARGV[13], ARGV[14], tonumber(ARGV[15]), tonumber(ARGV[16]),
    tonumber(ARGV[17])
set_xkey(KEYS[5])
if redis.call('EXISTS', KEYS[1]) == 1 then
	return {'CONFLICT'}
end
if nrooms >= L.maxperinbox then
	return {'TOO_MANY_ROOMS'}
end
if max == 0 or max > L.maxmembers then
	max = L.maxmembers
end
redis.call('HSET', KEYS[1], 'c', creator, 'cc', '1', 'mm', str(max),
    'x', str(NOW + ttl), 'n', '1', 'e', '0')
if mac ~= '' then
	redis.call('HSET', KEYS[1], 'k', mac)
end
redis.call('ZADD', KEYS[2], '1', creator)
room_ttl(room)
room_due(room, NOW + ttl)
stat('rooms_created', 1)
return roster(room)
