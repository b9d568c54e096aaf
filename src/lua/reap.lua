-- reap.lua - run by every node at each tick: the inboxes, PINs and rooms
-- whose deadline has passed.  Plain inboxes (common.lua: Expiry) go
-- with their TTLs.  An inbox of inboxd:exp that is due is rid of its
-- stale messages;
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
	local h = redis.call('HMGET', i, 'n', 'p')
	forget_rooms(name)
	stat('expired', num(h[1]))
	if h[2] and redis.call('GET', P .. 'pin:' .. h[2]) == name then
		redis.call('DEL', P .. 'pin:' .. h[2])
		redis.call('ZREM', PINS, h[2])
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
redis.call('ZREMRANGEBYSCORE', PINS, '-inf', str(NOW))
for _, room in ipairs(redis.call('ZRANGEBYSCORE', ROOMS, '-inf', str(NOW),
    'LIMIT', 0, limit)) do
	n = n + 1
	expire_room(room)
end
finish()
return {n, nids}
