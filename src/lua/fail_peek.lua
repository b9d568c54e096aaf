-- fail_peek.lua - the authentication failures of client address ADDR in
-- its running window, as fail.lua counts them, without counting one:
-- for a node that has seen failures of ADDR and must not wait for the
-- announcement of its block.  KEYS: inboxd:fail:{ADDR}.  ARGV: ADDR.
-- Returns {failures, ms left}.
local k = KEYS[1]
local n = tonumber(redis.call('GET', k) or '0')
local left = redis.call('PTTL', k)
if left < 0 then
	left = 0
end
return {n, left}
