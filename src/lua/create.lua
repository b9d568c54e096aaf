-- create.lua - make inbox NAME with Argon2id SALT and TAG (the first 8
-- bytes of SALT are its generation), unless it exists: then answer its
-- hash, for the caller to verify against.  max-inboxes and max-memory
-- are the node's to check, against the gauges (gauges.lua): nothing
-- here reads or writes a key of the whole cluster but the count of
-- inboxes made, from which the nodes tell how many expired.
-- KEYS: NAME's :i :q :f.  ARGV: NAME SALT TAG.  Returns {'OK'} or
-- {'EXISTS', salt, tag}.
local i, salt, tag = KEYS[1], ARGV[14], ARGV[15]
local k = redis.call('HGET', i, 'k')
if k then
	return {'EXISTS', string.sub(k, 1, #salt), string.sub(k, #salt + 1)}
end
redis.call('DEL', KEYS[2], KEYS[3], ikey(ARGV[13], 'r'))
redis.call('HSET', i, 'k', salt .. tag)
redis.call('PEXPIREAT', i, str(NOW + L.it))
redis.call('HINCRBY', STATS, 'created', 1)
return {'OK'}
