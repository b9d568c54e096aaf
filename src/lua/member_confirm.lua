-- member_confirm.lua - the room said OK (a member now, having had every
-- event up to SEQ, or before it) or no to USER's create or join of ROOM:
-- its entry becomes "m SEQ", or, made by member_mark.lua (PRIOR ''), it
-- goes.  An entry gone meanwhile (the room closed and told it) stays
-- gone.
-- KEYS: USER's :i :q :f :r, its slot's :x.  ARGV: USER ROOM OK SEQ PRIOR.
-- Returns 1.
local user, room, ok, seq, prior =
    ARGV[12], ARGV[13], ARGV[14] == '1', tonumber(ARGV[15]), ARGV[16]
set_xkey(KEYS[5])
local cur = redis.call('HGET', KEYS[4], room)
if not cur then
	return 1
end
if ok then
	local had = tonumber(string.match(cur, ' (%d+)$')) or 0
	redis.call('HSET', KEYS[4], room, 'm ' .. str(math.max(had, seq)))
elseif string.sub(cur, 1, 1) == 'j' and prior == '' then
	touch(user)
	redis.call('HDEL', KEYS[4], room)
	finish()
end
return 1
