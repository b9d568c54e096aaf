-- unhold.lua - this node's GET TOKEN on inbox NAME is no longer held: it
-- timed out (GONE 0), or its client hung up (GONE 1).  It is forgotten
-- as the inbox's waiter, if it still is, and the inbox lives on for
-- inbox-timeout from now, or, for a client gone, from its owner's last
-- request: a GET nobody waits for keeps nobody present.
-- KEYS: NAME's :i :q :f, its slot's :x.  ARGV: NAME TOKEN GONE.  Returns
-- 1 when it was the waiter, else 0.
local name, token, gone = ARGV[12], ARGV[13], ARGV[14] == '1'
local i = KEYS[1]
set_xkey(KEYS[4])
local w = redis.call('HMGET', i, 'wn', 'wt', 'a')
if w[1] ~= NODE or w[2] ~= token then
	return 0
end
redis.call('HDEL', i, 'wn', 'wt', 'wd', 'a', 'we')
if gone then
	setexp(name, num(w[3]) + L.it)
else
	setexp(name, NOW + L.it)
end
finish()
return 1
