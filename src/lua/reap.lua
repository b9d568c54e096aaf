-- reap.lua - the inboxes and rooms of one slot whose deadline in the
-- slot's index has passed, run by the node that set the deadline when it
-- comes, and by every node's slow sweep over every slot (redis_node.c).
-- Plain inboxes (common.lua: Expiry) are never here: they go with their
-- TTLs.  An inbox that is due is rid of its stale messages; then, if it
-- stayed idle for inbox-timeout, holds no GET and has nothing in flight
-- on a live node (what awaits an acknowledgement goes with it), it is
-- deleted with its queue, unless it is in rooms or
-- invited to some: then it is marked (d) and handed to the node, which
-- takes it out of each room (room_forget.lua, the others told: left,
-- expired) and then deletes it (inbox_bury.lua); should the node die
-- meanwhile, it is due again in RETRY.  A room that is due delivers what
-- its outbox still holds, or expires (every member told: closed,
-- expired), or, closed and delivered, goes.  Nodes states does not know
-- of (see pop.lua) are asked for, and what depends on them waits.
-- KEYS: the slot's :x.  ARGV: LIMIT NODES.  Returns {entries handled,
-- {unknown node...}, {work...}}, work {'i', NAME, room...} or {'r',
-- ROOM, outbox entry...}.
local limit, states = tonumber(ARGV[12]), node_states(ARGV[13])
set_xkey(KEYS[1])
local n, unknown, work, asked = 0, {}, {}, {}

local function delete_inbox(name)
	local i = ikey(name, 'i')
	local h = redis.call('HMGET', i, 'n', 'an')
	stat('expired', num(h[1]) + num(h[2]))
	redis.call('DEL', i, ikey(name, 'q'), ikey(name, 'f'), ikey(name, 'r'))
	redis.call('ZREM', XKEY, 'i' .. name)
	touched[name] = nil
end

local function reap_inbox(name)
	local i = ikey(name, 'i')
	if not exists(name) then
		-- Its keys outlived GRACE with no node reaping.
		redis.call('ZREM', XKEY, 'i' .. name)
		return
	end
	local w = redis.call('HMGET', i, 'wn', 'a')
	local unk = unknown_nodes(name, states, w[1], num(w[2]))
	if #unk > 0 then
		for _, node in ipairs(unk) do
			if not asked[node] then
				asked[node] = true
				unknown[#unknown + 1] = node
			end
		end
		return
	end
	requeue_dead(name, nil, states)
	drop_stale(name)
	drop_stale_acks(name)
	touch(name)
	local h = redis.call('HMGET', i, 'x', 'wd', 'wn', 'a')
	if num(h[2]) > NOW and states[h[3]] == '0' then
		-- Held on a node that died: nobody waits there.
		redis.call('HDEL', i, 'wn', 'wt', 'wd', 'a', 'we')
		setexp(name, num(h[4]) + L.it)
		h[1], h[2] = str(num(h[4]) + L.it), nil
	end
	if num(h[1]) > NOW then
		-- Only messages were due.
	elseif flying(name) > 0 then
		setexp(name, NOW + L.it)
	elseif num(h[2]) > NOW then
		setexp(name, num(h[2]) + L.it)
	else
		local rooms = redis.call('HKEYS', ikey(name, 'r'))
		if #rooms == 0 then
			delete_inbox(name)
			return
		end
		redis.call('HSET', i, 'd', '1')
		touched[name] = nil
		redis.call('ZADD', XKEY, str(NOW + RETRY), 'i' .. name)
		due(NOW + RETRY)
		table.insert(rooms, 1, name)
		table.insert(rooms, 1, 'i')
		work[#work + 1] = rooms
	end
end

local function reap_room(room)
	local h = redis.call('HMGET', rkey(room), 'x', 'z')
	if not h[1] then
		redis.call('ZREM', XKEY, 'r' .. room)
		return
	end
	if redis.call('LLEN', rkey(room, ':o')) == 0 then
		if h[2] == '1' then
			delete_room(room)
			return
		end
		if num(h[1]) > NOW then
			room_due(room, num(h[1]))
			return
		end
		close_room(room, 'expired', nil)
		stat('rooms_expired', 1)
		if redis.call('EXISTS', rkey(room)) == 0 then
			return
		end
	end
	room_due(room, NOW + RETRY)
	local o = outbox(room)
	table.insert(o, 1, room)
	table.insert(o, 1, 'r')
	work[#work + 1] = o
end

for _, e in ipairs(redis.call('ZRANGEBYSCORE', XKEY, '-inf', str(NOW),
    'LIMIT', 0, limit)) do
	n = n + 1
	if string.sub(e, 1, 1) == 'i' then
		reap_inbox(string.sub(e, 2))
	else
		reap_room(string.sub(e, 2))
	end
end
finish()
local first = redis.call('ZRANGE', XKEY, 0, 0, 'WITHSCORES')
if first[2] then
	due(math.max(tonumber(first[2]), #unknown > 0 and NOW + 100 or 0))
end
return {n, unknown, work}
