-- pop.lua - receive for inbox NAME: first put back what dead nodes had in
-- flight and drop stale messages, then take the oldest into the in-flight
-- hash, marked with this node; or, the inbox being empty and WAIT > 0,
-- record this node's GET (TOKEN, deadline) as the inbox's waiter, in the
-- same step, so that no send between "empty" and "waiting" goes unseen.
-- An earlier GET held on another node is told it is displaced.
-- MODE 'wake' pops on behalf of this node's held GET after a wake-up: it
-- checks no generation and, with nothing queued, keeps the hold.
-- ARGV: NAME GEN TOKEN WAIT MODE.  Returns {'OK', message}, {'EMPTY'},
-- {'HELD'}, {'STALE'} (wake: the hold is no longer this node's), or
-- {'GONE'} / {'WRONG'}.
local name, gen, token, wait, mode =
    ARGV[13], ARGV[14], ARGV[15], tonumber(ARGV[16]), ARGV[17]
local i = ikey(name, 'i')
if mode == 'get' then
	local bad = checkgen(name, gen)
	if bad then
		return {bad}
	end
elseif not exists(name) then
	return {'GONE'}
end
requeue_dead(name)
drop_stale(name)
local w = redis.call('HMGET', i, 'wn', 'wt', 'wd')
if mode == 'wake' and w[1] ~= NODE then
	finish()
	return {'STALE'}
end
local e = redis.call('LPOP', ikey(name, 'q'))
if e then
	local _, id = parse(e)
	local f = ikey(name, 'f')
	account(name, e, -1)
	redis.call('HSET', f, id, NODE .. '\n' .. token .. '\n' .. e)
	if mode == 'wake' then
		redis.call('HDEL', i, 'wn', 'wt', 'wd', 'a')
		setexp(name, NOW + L.it)
	else
		active(name)
	end
	redis.call('PEXPIREAT', f, keys_at(name))
	finish()
	return {'OK', e}
end
if mode == 'wake' then
	finish()
	return {'EMPTY'}
end
active(name)
if wait == 0 then
	finish()
	return {'EMPTY'}
end
redis.call('HSET', i, 'wn', NODE, 'wt', token, 'wd', str(NOW + wait),
    'a', str(NOW))
extend(name, NOW + wait + L.it)
if w[1] and w[1] ~= NODE and num(w[3]) > NOW then
	redis.call('PUBLISH', P .. 'node:' .. w[1],
	    'displace ' .. w[2] .. ' ' .. name)
end
finish()
return {'HELD'}
