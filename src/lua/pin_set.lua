-- pin_set.lua - inbox NAME (generation GEN) takes CODE as its PIN for
-- TIMEOUT ms, in place of any earlier one: the node has claimed
-- inboxd:pin:{CODE} for it already (SET NX, in the code's own slot).
-- The inbox's p is what makes a code live: an earlier code, or one whose
-- claim outlived its inbox, leads nowhere (pin_deliver.lua).
-- KEYS: NAME's :i :q :f, its slot's :x.  ARGV: NAME GEN CODE TIMEOUT.
-- Returns {'OK', the earlier code or ''}, or {'GONE'} / {'WRONG'}.
local name, gen, code, timeout = ARGV[12], ARGV[13], ARGV[14],
    tonumber(ARGV[15])
set_xkey(KEYS[4])
local bad = checkgen(name, gen)
if bad then
	return {bad}
end
active(name)
local old = redis.call('HGET', KEYS[1], 'p')
redis.call('HSET', KEYS[1], 'p', code, 'pt', str(NOW + timeout))
finish()
return {'OK', old and old ~= code and old or ''}
