-- room_members.lua - the members of ROOM, asked by USER (generation GEN).
-- ARGV: ROOM USER GEN.  Returns a roster, or {'NOT_FOUND'},
-- {'FORBIDDEN'}, {'GONE'}, {'WRONG'}.
local room, user, gen = ARGV[13], ARGV[14], ARGV[15]
local bad = checkgen(user, gen)
if bad then
	return {bad}
end
active(user)
finish()
if redis.call('EXISTS', rkey(room)) == 0 then
	return {'NOT_FOUND'}
end
if not is_member(room, user) then
	return {'FORBIDDEN'}
end
return roster(room)
