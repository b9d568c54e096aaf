-- fail.lua - one more authentication failure of client address ADDR (32
-- hex digits, an IPv6 client's /64 or an IPv4-mapped address), counted
-- in a window of WINDOW ms from its first failure, the same for every
-- node.  From LIMIT failures on, every node is told on inboxd:all, so the
-- address is refused everywhere at once, not node by node.
-- KEYS: inboxd:fail:{ADDR}.  ARGV: ADDR WINDOW LIMIT.  Returns {failures,
-- ms left in the window}.
local addr, window, limit = ARGV[12], ARGV[13], tonumber(ARGV[14])
local k = KEYS[1]
local n = redis.call('INCR', k)
local left = redis.call('PTTL', k)
if left < 0 then
	redis.call('PEXPIRE', k, window)
	left = tonumber(window)
end
if limit > 0 and n >= limit then
	redis.call('PUBLISH', P .. 'all',
	    'fail ' .. addr .. ' ' .. str(n) .. ' ' .. str(left))
end
return {n, left}
