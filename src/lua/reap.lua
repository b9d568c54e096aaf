-- reap.lua - run by every node at each tick: the inboxes, PINs and rooms
-- whose deadline has passed.  Plain inboxes (common.lua: Expiry) went
-- with their TTLs: the slots of inboxd:alive that have passed are
-- taken off the counts.  An inbox of inboxd:exp that is due is rid of
-- its stale messages;
-- then, if it stayed idle for inbox-timeout, holds no GET and has nothing
-- in flight on a live node, it is deleted with its queue and PIN and
-- leaves its rooms (the others are told: left, expired).  Scripts run
-- one at a time, so nodes reaping together find the work done.
-- ARGV: LIMIT (inboxes and rooms at most).  Returns {inboxes and rooms
-- handled, message ids used}.
local limit = tonumber(ARGV[13])
local n = 0

local function delete_inbox(name)
	local i = ikey(name, 'i')
	local h = redis.call('HMGET', i, 'b', 'm', 'p')
	local count = redis.call('LLEN', ikey(name, 'q'))
	forget_rooms(name)
	stat('messages', -count)
	stat('bytes', -num(h[1]))
	stat('memory', -(num(h[2]) + INBOX_COST))
	stat('expired', count)
	stat('inboxes_expired', 1)
	if h[3] and redis.call('GET', P .. 'pin:' .. h[3]) == name then
		redis.call('DEL', P .. 'pin:' .. h[3])
		redis.call('ZREM', PINS, h[3])
	end
	redis.call('DEL', i, ikey(name, 'q'), ikey(name, 'f'), ikey(name, 'r'))
	redis.call('ZREM', EXP, name)
	touched[name] = nil
end

for _, name in ipairs(redis.call('ZRANGEBYSCORE', EXP, '-inf', str(NOW),
    'LIMIT', 0, limit)) do
	n = n + 1
	local i = ikey(name, 'i')
	if not exists(name) then
		-- Its keys outlived GRACE with no node reaping.
		redis.call('ZREM', EXP, name)
	else
		requeue_dead(name)
		drop_stale(name)
		touch(name)
		local h = redis.call('HMGET', i, 'x', 'wd', 'wn', 'a')
		if num(h[2]) > NOW and
		    redis.call('EXISTS', P .. 'hb:' .. h[3]) == 0 then
			-- Held on a node that died: nobody waits there.
			redis.call('HDEL', i, 'wn', 'wt', 'wd', 'a')
			setexp(name, num(h[4]) + L.it)
			h[1], h[2] = str(num(h[4]) + L.it), nil
		end
		if num(h[1]) > NOW then
			-- Only messages were due.
		elseif redis.call('HLEN', ikey(name, 'f')) > 0 then
			setexp(name, NOW + L.it)
		elseif num(h[2]) > NOW then
			setexp(name, num(h[2]) + L.it)
		else
			delete_inbox(name)
		end
	end
end
-- The plain inboxes that expired since the last reap, any node's: the
-- slots (tenths of a second) after the one it drained up to, or, the
-- first time or after the clock went back or jumped, every slot of
-- inboxd:alive passed.
local now_s = math.floor(NOW / 100)
local last = tonumber(redis.call('HGET', STATS, 'drained'))
local due = {}
if last and last <= now_s and now_s - last <= 600 then
	for s = last + 1, now_s do
		due[#due + 1] = str(s)
	end
else
	for _, s in ipairs(redis.call('HKEYS', ALIVE)) do
		if tonumber(s) <= now_s then
			due[#due + 1] = s
		end
	end
end
for _, s in ipairs(due) do
	local c = num(redis.call('HGET', ALIVE, s))
	if c > 0 then
		redis.call('HDEL', ALIVE, s)
		stat('plain', -c)
		stat('memory', -c * INBOX_COST)
		stat('inboxes_expired', c)
	end
end
if last ~= now_s then
	redis.call('HSET', STATS, 'drained', str(now_s))
end
redis.call('ZREMRANGEBYSCORE', PINS, '-inf', str(NOW))
for _, room in ipairs(redis.call('ZRANGEBYSCORE', ROOMS, '-inf', str(NOW),
    'LIMIT', 0, limit)) do
	n = n + 1
	expire_room(room)
end
finish()
return {n, nids}
