-- member_invite.lua - PEER is about to be invited to ROOM: its side
-- first, "v 0" in its :r unless it has an entry for ROOM, so that its
-- invitation lapses with its inbox.  UNDO 1 takes back an entry made so
-- when the room said no.
-- KEYS: PEER's :i :q :f :r, its slot's :x.  ARGV: PEER ROOM UNDO.
-- Returns {'OK', '1' when the entry is new, else '0'}, or {'NO_PEER'}.
local peer, room, undo = ARGV[12], ARGV[13], ARGV[14] == '1'
set_xkey(KEYS[5])
local cur = redis.call('HGET', KEYS[4], room)
if undo then
	if cur == 'v 0' then
		touch(peer)
		redis.call('HDEL', KEYS[4], room)
		finish()
	end
	return {'OK', '0'}
end
if not exists(peer) then
	return {'NO_PEER'}
end
if cur then
	return {'OK', '0'}
end
touch(peer)
redis.call('HSET', KEYS[4], room, 'v 0')
redis.call('PEXPIREAT', KEYS[4], keys_at(peer))
finish()
return {'OK', '1'}
