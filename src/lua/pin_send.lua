-- pin_send.lua - FROM (generation GEN) sends a message to the inbox PIN
-- CODE names, which is consumed once the message is queued.
-- ARGV: CODE FROM GEN TYPE BODY.  Returns {result, recipient}: OK,
-- INBOX_FULL or SERVER_FULL (the PIN stays); {'NOT_FOUND'}; or {'GONE'}
-- / {'WRONG'} for the sender.
local code, from, gen, ctype, body =
    ARGV[13], ARGV[14], ARGV[15], ARGV[16], ARGV[17]
local bad = checkgen(from, gen)
if bad then
	return {bad}
end
active(from)
local pk = P .. 'pin:' .. code
local to = redis.call('GET', pk)
if not to or not exists(to) then
	finish()
	return {'NOT_FOUND'}
end
local r = enqueue(to, '0', from, ctype, '', body)
if r == 'OK' then
	redis.call('DEL', pk)
	redis.call('ZREM', PINS, code)
	redis.call('HDEL', ikey(to, 'i'), 'p')
end
finish()
return {r, to}
