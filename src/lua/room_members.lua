-- room_members.lua - the members of ROOM, asked by USER (whose own
-- inbox refresh.lua checked), or the recipients of USER's copies.
-- KEYS: ROOM's hash :m.  ARGV: ROOM USER.  Returns a roster, or
-- {'NOT_FOUND'}, {'FORBIDDEN'}.
local room, user = ARGV[12], ARGV[13]
if not room_live(room) then
	return {'NOT_FOUND'}
end
if not is_member(room, user) then
	return {'FORBIDDEN'}
end
return roster(room)
