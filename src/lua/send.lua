-- send.lua - FROM (generation GEN) sends a message to inbox TO: the
-- sender is refreshed, the recipient's quotas checked, the message
-- queued and the node holding the recipient's GET told.
-- ARGV: FROM GEN TO TYPE BODY.  Returns OK, NOT_FOUND, INBOX_FULL,
-- SERVER_FULL, or GONE / WRONG for the sender.
local from, gen, to, ctype, body =
    ARGV[13], ARGV[14], ARGV[15], ARGV[16], ARGV[17]
local bad = checkgen(from, gen)
if bad then
	return bad
end
active(from)
local r = enqueue(to, '0', from, ctype, '', body)
finish()
return r
