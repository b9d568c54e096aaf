-- flags: allow-cross-slot-keys (it walks every slot of its server)
-- gauges.lua - one step of a node's walk over every key of one Redis
-- (SCAN from CURSOR, COUNT keys at most), off the hot paths: the
-- inboxes seen, their queued messages and body bytes, the rooms (not
-- closing), their members and invitations, the live PINs (an inbox's
-- pt), and the inboxes made (the slots' :c).  The node adds the steps
-- up, over every master of a cluster, and a walk that reached cursor 0
-- everywhere gives the cluster's gauges.  On the way, a plain inbox's messages that outlived
-- message-timeout are dropped (and counted expired), so that they leave
-- the gauges within a walk, and so are those awaiting an
-- acknowledgement; an indexed inbox's are the reap's.  A SCAN
-- may return a key twice: the gauges are approximate (SPEC section 8).
-- Messages awaiting an acknowledgement and their bytes are counted
-- apart (they count against max-memory, not as queued).
-- ARGV: CURSOR COUNT.  Returns {cursor, inboxes, messages, bytes, rooms,
-- members, invitations, pins, made, awaiting, their bytes}.
local r = redis.call('SCAN', ARGV[12], 'MATCH', P .. '*', 'COUNT',
    ARGV[13])
local n, m, b, rooms, mem, inv, pins, made = 0, 0, 0, 0, 0, 0, 0, 0
local an, ab = 0, 0
local function ends(k, s)
	return string.sub(k, -#s) == s
end
for _, k in ipairs(r[2]) do
	local pre = string.sub(k, 1, 10)
	if string.sub(pre, 1, 8) == 'inboxd:{' and ends(k, '}:i') then
		local h = redis.call('HMGET', k, 'n', 'b', 'x', 'pt', 'an', 'ab')
		local qn, qb = num(h[1]), num(h[2])
		if num(h[4]) > NOW then
			pins = pins + 1
		end
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
		local wn, wb = num(h[5]), num(h[6])
		if wn > 0 and not h[3] then
			-- What awaits an acknowledgement expires so too.
			local f = string.sub(k, 1, -2) .. 'f'
			local all = redis.call('HGETALL', f)
			local dropped, at = 0, nil
			wn, wb = 0, 0
			for j = 1, #all, 2 do
				local node, _, e = inflight(all[j + 1])
				if node == '' then
					local _, _, enq, _, len = parse(e)
					if enq + L.mt > NOW then
						wn, wb = wn + 1, wb + len
						at = math.min(at or enq + L.mt,
						    enq + L.mt)
					else
						redis.call('HDEL', f, all[j])
						dropped = dropped + 1
					end
				end
			end
			if dropped > 0 or wn ~= num(h[5]) then
				if wn > 0 then
					redis.call('HSET', k, 'an', str(wn), 'ab',
					    str(wb), 'ad', str(at))
				else
					redis.call('HDEL', k, 'an', 'ab', 'ad')
				end
				stat('expired', dropped)
			end
		end
		n = n + 1
		m = m + qn
		b = b + qb
		an = an + wn
		ab = ab + wb
	elseif string.sub(pre, 1, 8) == 'inboxd:{' and ends(k, '}:c') then
		made = made + num(redis.call('GET', k))
	elseif pre == 'inboxd:r:{' then
		if ends(k, '}') then
			if redis.call('HGET', k, 'z') ~= '1' then
				rooms = rooms + 1
			end
		elseif ends(k, '}:m') then
			mem = mem + redis.call('ZCARD', k)
		elseif ends(k, '}:v') then
			inv = inv + redis.call('SCARD', k)
		end
	end
end
return {r[1], n, m, b, rooms, mem, inv, pins, made, an, ab}
