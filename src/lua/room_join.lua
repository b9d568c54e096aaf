-- room_join.lua - USER joins ROOM with the credential MAC of the secret
-- it gave (empty: none) or an invitation, which the join uses up; the
-- other members are told (the outbox).  A member joining again is
-- answered, and nobody told.  The user's side comes first and after
-- (member_mark.lua: NROOMS rooms of its already; member_confirm.lua).
-- KEYS: ROOM's hash :m :v :o, its slot's :x.  ARGV: ROOM USER MAC NROOMS.
-- Returns {'OK', ms left, SEQ, N, N members..., outbox...} (SEQ: the
-- last event the user need not get), or {'NOT_FOUND'},
-- {'WRONG_SECRET'}, {'FORBIDDEN'}, {'ROOM_FULL'}, {'TOO_MANY_ROOMS'}.
local room, user, mac, nrooms = ARGV[12], ARGV[13], ARGV[14],
    tonumber(ARGV[15])
set_xkey(KEYS[5])

local function answer()
	local list = members(room)
	local h = redis.call('HMGET', KEYS[1], 'x', 'e')
	local r = {'OK', str(num(h[1]) - NOW), str(num(h[2])), str(#list)}
	for _, m in ipairs(list) do
		r[#r + 1] = m
	end
	for _, e in ipairs(outbox(room)) do
		r[#r + 1] = e
	end
	return r
end

if not room_live(room) then
	return {'NOT_FOUND'}
end
local r = redis.call('HMGET', KEYS[1], 'k', 'mm')
if is_member(room, user) then
	return answer()
end
local invited = redis.call('SISMEMBER', KEYS[3], user) == 1
if not invited and (mac == '' or not r[1] or r[1] ~= mac) then
	if mac ~= '' then
		return {'WRONG_SECRET'}
	end
	return {'FORBIDDEN'}
end
if redis.call('ZCARD', KEYS[2]) >= num(r[2]) then
	return {'ROOM_FULL'}
end
if nrooms >= L.maxperinbox then
	return {'TOO_MANY_ROOMS'}
end
if invited then
	redis.call('SREM', KEYS[3], user)
end
redis.call('ZADD', KEYS[2], str(redis.call('HINCRBY', KEYS[1], 'n', 1)),
    user)
room_ttl(room)
announce(room, 'joined', user, user, nil, user, nil)
return answer()
