-- pin_drop.lua - forget PIN CODE if it still names inbox NAME: it was
-- used, or replaced by another.  A claim nobody drops lapses by its TTL.
-- KEYS: inboxd:pin:{CODE}.  ARGV: NAME.  Returns 1 when it was dropped.
if redis.call('GET', KEYS[1]) == ARGV[12] then
	redis.call('DEL', KEYS[1])
	return 1
end
return 0
