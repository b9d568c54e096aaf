-- heartbeat.lua - this node is alive for LEASE ms more, holding HELD
-- GETs.  A node whose heartbeat key is gone is dead: messages it had in
-- flight go back to their inboxes at their next pop.  The key is the
-- node's alone; the other nodes learn HELD (their waiters gauge) from
-- the beat published on inboxd:all.
-- KEYS: inboxd:hb:{NODE}.  ARGV: HELD LEASE.  Returns 1.
redis.call('SET', KEYS[1], ARGV[12], 'PX', ARGV[13])
redis.call('PUBLISH', P .. 'all', 'beat ' .. NODE .. ' ' .. ARGV[12])
return 1
