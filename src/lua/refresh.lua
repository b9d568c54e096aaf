-- refresh.lua - a request of inbox NAME (generation GEN) other than a
-- receive: it lives inbox-timeout more, and SLACK ms: a node refreshes
-- an inbox at most once in SLACK ms (redis_inbox.c), so an inbox it skipped
-- never expires early, and late by SLACK at most.  A plain inbox only
-- moves its keys' TTLs forward (PEXPIREAT GT: a held GET may keep it
-- longer already).  Room operations begin with it, for their caller.
-- KEYS: NAME's :i :q :f, its slot's :x.  ARGV: NAME GEN SLACK.  Returns
-- 'OK', or 'GONE' / 'WRONG'.
local name, gen, slack = ARGV[12], ARGV[13], tonumber(ARGV[14])
local i = KEYS[1]
set_xkey(KEYS[4])
local h = redis.call('HMGET', i, 'k', 'x', 'wn')
if not h[1] then
	return 'GONE'
end
if hex(h[1], 1, 8) ~= gen then
	return 'WRONG'
end
if h[2] then
	active(name)
	finish()
	return 'OK'
end
if h[3] then
	redis.call('HSET', i, 'a', str(NOW))
end
local at = str(NOW + L.it + slack)
redis.call('PEXPIREAT', i, at, 'GT')
redis.call('PEXPIREAT', KEYS[2], at, 'GT')
redis.call('PEXPIREAT', KEYS[3], at, 'GT')
return 'OK'
