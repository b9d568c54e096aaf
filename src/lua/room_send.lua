-- room_send.lua - FROM (generation GEN) sends a copy of a message to every
-- other member of ROOM, each under send's rules: a full inbox never
-- stops the others.
-- ARGV: ROOM FROM GEN TYPE BODY.  Returns {'OK', ms left, name, result,
-- ...} with result OK, INBOX_FULL or SERVER_FULL, or {'NOT_FOUND'},
-- {'FORBIDDEN'}, {'GONE'}, {'WRONG'}.
local room, from, gen, ctype, body =
    ARGV[13], ARGV[14], ARGV[15], ARGV[16], ARGV[17]
local bad = checkgen(from, gen)
if bad then
	return {bad}
end
active(from)
local x = redis.call('HGET', rkey(room), 'x')
if not x then
	finish()
	return {'NOT_FOUND'}
end
if not is_member(room, from) then
	finish()
	return {'FORBIDDEN'}
end
local r = {'OK', str(num(x) - NOW)}
for _, m in ipairs(members(room)) do
	if m ~= from then
		local res = enqueue(m, '0', from, ctype, room, body)
		if res == 'OK' then
			stat('copies_delivered', 1)
		else
			stat('copies_failed', 1)
		end
		r[#r + 1] = m
		r[#r + 1] = res
	end
end
finish()
return r
