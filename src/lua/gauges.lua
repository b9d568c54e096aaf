-- gauges.lua - one step of a node's walk over every inbox (SCAN from
-- CURSOR, COUNT keys at most), off the hot paths: the inboxes seen, and
-- their queued messages and body bytes.  The node adds the steps up, and
-- a walk that reached cursor 0 again gives the cluster's gauges.  On the
-- way, a plain inbox's messages that outlived message-timeout are
-- dropped (and counted expired), so that they leave the gauges within a
-- walk; an indexed inbox's are the reap's.  A SCAN may return an inbox
-- twice: the gauges are approximate (SPEC section 8).
-- ARGV: CURSOR COUNT.  Returns {cursor, inboxes, messages, bytes}.
local r = redis.call('SCAN', ARGV[13], 'MATCH', P .. '{*}:i', 'COUNT',
    ARGV[14])
local n, m, b = 0, 0, 0
for _, k in ipairs(r[2]) do
	local h = redis.call('HMGET', k, 'n', 'b', 'x')
	local qn, qb = num(h[1]), num(h[2])
	if qn > 0 and not h[3] then
		local q = string.sub(k, 1, -2) .. 'q'
		local e = redis.call('LINDEX', q, 0)
		local dropped = 0
		while e do
			local _, _, enq, _, len = parse(e)
			if enq + L.mt > NOW then
				break
			end
			redis.call('LPOP', q)
			qn, qb, dropped = qn - 1, qb - len, dropped + 1
			e = redis.call('LINDEX', q, 0)
		end
		if dropped > 0 then
			redis.call('HSET', k, 'n', str(qn), 'b', str(qb))
			stat('expired', dropped)
		end
	end
	n = n + 1
	m = m + qn
	b = b + qb
end
return {r[1], n, m, b}
