-- member_deliver.lua - the events of ROOM's outbox for member NAME, in
-- order, each "SEQ EVENT FLAGS\nFROM\nBODY": those after the last its
-- :r entry says it got are queued (FLAGS 1) and the entry forgets the
-- room after one with FLAGS 2; the entry then says SEQ.  So an event
-- delivered twice (a node died before trimming the outbox, or two
-- requests deliver together) is queued once; an inbox with no entry for
-- ROOM gets nothing.
-- KEYS: NAME's :i :q :f :r, its slot's :x.  ARGV: NAME ROOM EVENT...
-- Returns the events queued.
local name, room = ARGV[12], ARGV[13]
set_xkey(KEYS[5])
local cur = redis.call('HGET', KEYS[4], room)
if not cur then
	return 0
end
local st, got = string.match(cur, '^(%a) (%d+)$')
got = tonumber(got) or 0
local told = 0
for k = 14, #ARGV do
	local seq, ev, flags, from, body =
	    string.match(ARGV[k], '^(%d+) (%d+) (%d+)\n([^\n]*)\n(.*)$')
	seq, flags = tonumber(seq), tonumber(flags)
	if seq and seq > got then
		got = seq
		if flags % 2 == 1 then
			if enqueue(name, ev, from, 'application/json', room,
			    body) == 'OK' then
				stat('events', 1)
				told = told + 1
			else
				stat('events_dropped', 1)
			end
		end
		if flags >= 2 then
			touch(name)
			redis.call('HDEL', KEYS[4], room)
			finish()
			return told
		end
	end
end
redis.call('HSET', KEYS[4], room, (st or 'm') .. ' ' .. str(got))
finish()
return told
