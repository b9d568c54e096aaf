-- send.lua - queue a message from FROM of Content-Type TYPE in inbox TO
-- and tell the node holding TO's GET, if any.  Only TO's keys: the
-- sender is refreshed by its own call (refresh.lua).  A plain inbox
-- (common.lua: Expiry) takes the short way: its count, bytes and last
-- id (common.lua: Ids) in one HMGET, the message pushed, the three
-- written back; stale messages, and those awaiting an acknowledgement
-- that outlived message-timeout, are dropped only when the quota (which
-- counts both) would refuse.
-- A room's copy (ROOM not empty) goes to a member, always indexed.
-- KEYS: TO's :i :q, its slot's :x.  ARGV: TO FROM TYPE BODY [ROOM].
-- Returns OK, NOT_FOUND or INBOX_FULL.
local to, from, ctype, body, room =
    ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[16] or ''
local i, q = KEYS[1], KEYS[2]
set_xkey(KEYS[3])
local h = redis.call('HMGET', i, 'k', 'x', 'n', 'b', 's', 'wn', 'wd', 'an',
    'ab')
if not h[1] then
	return 'NOT_FOUND'
end
if h[2] or room ~= '' then
	local r = enqueue(to, '0', from, ctype, room, body)
	finish()
	return r
end
local n, b = num(h[3]), num(h[4])
if full({n, b, h[8], h[9]}, #body) then
	drop_stale(to)
	drop_stale_acks(to)
	finish()
	h = redis.call('HMGET', i, 'k', 'x', 'n', 'b', 's', 'wn', 'wd', 'an',
	    'ab')
	n, b = num(h[3]), num(h[4])
	if full({n, b, h[8], h[9]}, #body) then
		return 'INBOX_FULL'
	end
end
local id = newid(h[5])
local e = str(id) .. ' ' .. str(NOW) .. ' 0 ' .. str(#body) .. '\n' ..
    from .. '\n' .. ctype .. '\n\n' .. body
if redis.call('RPUSH', q, e) == 1 then
	redis.call('PEXPIREAT', q, redis.call('PEXPIRETIME', i))
end
redis.call('HSET', i, 'n', str(n + 1), 'b', str(b + #body), 's', str(id))
stat('sent', 1)
if h[6] and num(h[7]) > NOW then
	redis.call('PUBLISH', P .. 'node:' .. h[6], 'wake ' .. to)
end
return 'OK'
