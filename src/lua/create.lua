-- create.lua - make inbox NAME with Argon2id SALT and TAG (the first 8
-- bytes of SALT are its generation), unless it exists: then answer its
-- hash, for the caller to verify against.
-- ARGV: NAME SALT TAG.  Returns {'OK'}, {'EXISTS', salt, tag} or
-- {'SERVER_FULL'} (max-inboxes or max-memory).
local name, salt, tag = ARGV[13], ARGV[14], ARGV[15]
local i = ikey(name, 'i')
local k = redis.call('HGET', i, 'k')
if k then
	return {'EXISTS', string.sub(k, 1, #salt), string.sub(k, #salt + 1)}
end
if redis.call('ZCARD', EXP) + num(redis.call('HGET', STATS, 'plain')) >=
    L.maxinboxes or
    num(redis.call('HGET', STATS, 'memory')) + INBOX_COST > L.maxmem then
	return {'SERVER_FULL'}
end
touch(name)
redis.call('DEL', ikey(name, 'q'), ikey(name, 'f'), ikey(name, 'r'))
redis.call('HSET', i, 'k', salt .. tag)
setexp(name, NOW + L.it)
stat('memory', INBOX_COST)
finish()
return {'OK'}
