-- pin_create.lua - give inbox NAME (generation GEN) the first free code
-- of CODES (space-separated, drawn at random by the node) for TIMEOUT ms,
-- replacing its earlier PIN.
-- ARGV: NAME GEN TIMEOUT CODES.  Returns {'OK', code}, {'SERVER_FULL'}
-- (no free code among them), or {'GONE'} / {'WRONG'}.
local name, gen, timeout, codes =
    ARGV[13], ARGV[14], tonumber(ARGV[15]), ARGV[16]
local bad = checkgen(name, gen)
if bad then
	return {bad}
end
active(name)
local chosen
for c in string.gmatch(codes, '%d+') do
	if redis.call('EXISTS', P .. 'pin:' .. c) == 0 then
		chosen = c
		break
	end
end
if not chosen then
	finish()
	return {'SERVER_FULL'}
end
local i = ikey(name, 'i')
local old = redis.call('HGET', i, 'p')
if old and redis.call('GET', P .. 'pin:' .. old) == name then
	redis.call('DEL', P .. 'pin:' .. old)
	redis.call('ZREM', PINS, old)
end
redis.call('SET', P .. 'pin:' .. chosen, name, 'PX', str(timeout))
redis.call('ZADD', PINS, str(NOW + timeout), chosen)
redis.call('HSET', i, 'p', chosen)
finish()
return {'OK', chosen}
