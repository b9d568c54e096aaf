-- create.lua - make inbox NAME with generation GEN and Argon2id SALT and
-- TAG, unless it exists: then answer its generation and hash, for the
-- caller to verify against.
-- ARGV: NAME GEN SALT TAG.  Returns {'OK'}, {'EXISTS', gen, salt, tag}
-- or {'SERVER_FULL'} (max-inboxes or max-memory).
local name, gen, salt, tag = ARGV[13], ARGV[14], ARGV[15], ARGV[16]
local i = ikey(name, 'i')
local h = redis.call('HMGET', i, 'g', 'salt', 'tag')
if h[1] then
	return {'EXISTS', h[1], h[2], h[3]}
end
if redis.call('ZCARD', EXP) >= L.maxinboxes or
    num(redis.call('HGET', STATS, 'memory')) + INBOX_COST > L.maxmem then
	return {'SERVER_FULL'}
end
redis.call('DEL', ikey(name, 'q'), ikey(name, 'f'), ikey(name, 'r'))
redis.call('HSET', i, 'g', gen, 'salt', salt, 'tag', tag, 's', '0',
    'b', '0', 'm', '0', 'nr', '0', 'a', str(NOW))
setexp(name, NOW + L.it)
stat('memory', INBOX_COST)
finish()
return {'OK'}
