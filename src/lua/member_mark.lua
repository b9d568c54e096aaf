-- member_mark.lua - USER (generation GEN) is about to make or join ROOM:
-- its side first, "j 0" in its :r unless it has an entry for ROOM (m: a
-- member, v: invited), so that it is never in a room it does not know
-- of, should the node die before member_confirm.lua.  The inbox lives
-- inbox-timeout more, as for any request of its owner.
-- KEYS: USER's :i :q :f :r, its slot's :x.  ARGV: USER GEN ROOM.
-- Returns {'OK', rooms USER is in or joining but ROOM, its entry's state
-- before ('' for none)}, or {'GONE'} / {'WRONG'}.
local user, gen, room = ARGV[12], ARGV[13], ARGV[14]
set_xkey(KEYS[5])
local bad = checkgen(user, gen)
if bad then
	return {bad}
end
active(user)
local all = redis.call('HGETALL', KEYS[4])
local n, prior = 0, ''
for k = 1, #all, 2 do
	local st = string.sub(all[k + 1], 1, 1)
	if all[k] == room then
		prior = st
	elseif st == 'm' or st == 'j' then
		n = n + 1
	end
end
if prior == '' then
	redis.call('HSET', KEYS[4], room, 'j 0')
	redis.call('PEXPIREAT', KEYS[4], keys_at(user))
end
finish()
return {'OK', str(n), prior}
