-- pin_deliver.lua - FROM sends a message to inbox TO, which PIN CODE
-- named (the node read inboxd:pin:{CODE}): queued only while CODE is
-- TO's live PIN, which it then consumes, so a code is used once however
-- many senders read it.
-- KEYS: TO's :i :q, its slot's :x.  ARGV: TO CODE FROM TYPE BODY.
-- Returns OK, INBOX_FULL (the PIN stays) or NOT_FOUND.
local to, code, from, ctype, body =
    ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[16]
set_xkey(KEYS[3])
local h = redis.call('HMGET', KEYS[1], 'p', 'pt')
if h[1] ~= code or num(h[2]) <= NOW then
	return 'NOT_FOUND'
end
local r = enqueue(to, '0', from, ctype, '', body)
if r == 'OK' then
	redis.call('HDEL', KEYS[1], 'p', 'pt')
end
finish()
return r
