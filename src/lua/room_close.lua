-- room_close.lua - the creator USER (generation GEN) closes ROOM; the
-- other members are told.
-- ARGV: ROOM USER GEN.  Returns {'OK'}, {'NOT_FOUND'}, {'FORBIDDEN'},
-- {'GONE'}, {'WRONG'}.
local room, user, gen = ARGV[13], ARGV[14], ARGV[15]
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
if not is_member(room, user) or not (r[1] == user and r[2] == '1') then
	return {'FORBIDDEN'}
end
announce(room, 'closed', user, user, 'closed', user, nil)
delete_room(room)
finish()
return {'OK'}
