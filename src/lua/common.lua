-- common.lua - what every script of the Redis store begins with: the top
-- of the Functions library (redis_link.c), run once when it is loaded.
--
-- Keys (SPEC section 8).  Every key of one inbox, one room or one slot
-- shares a hash tag, so that a call's keys are in one slot of a Redis
-- Cluster; a call reaches one inbox, one room or one slot, and the C side
-- chains calls for what spans several (inboxd(8): the order of effects).
--
-- Inbox NAME, tag T (NAME, or ~ and its hex when it holds a `}' or begins
-- with `~', see tag()): inboxd:{T}:i, a hash (k its Argon2id salt and
-- tag, the salt's first 8 bytes being the inbox's generation; x expiry
-- ms, kept here unless the inbox is plain (below); s the last message
-- id it gave (see Ids below); n messages and b body bytes queued, and
-- an and ab those awaiting an acknowledgement (ad: when the first of
-- them outlives message-timeout, ho: the last delivery's number), each
-- absent while 0; p and pt
-- its PIN and when that lapses; wn wt wd the node, token and deadline of
-- its held GET, with a, the last request of its owner; d while the reap
-- takes it out of its rooms); :q, the list of queued messages, oldest
-- first; :f, a hash of messages in flight (id -> node NL token of the
-- GET NL when popped NL message; node and token empty once delivered to
-- an ack= GET, awaiting its acknowledgement); :r, a hash of the rooms it is in or
-- invited to (room -> STATE SEQ: m member, j joining, v invited; SEQ the
-- last event of the room it got, see Rooms below).
--
-- Room R, tag of R: inboxd:r:{T} (hash: c creator, cc 1 while the
-- creator is a member, k MAC of the secret, mm max_members, x expiry, n
-- last join number, e last event number, z 1 once closed, until its
-- events are out), :m (members, scored by join order), :v (set of
-- invited names), :o (its outbox: events not yet in every recipient's
-- inbox).
--
-- Slot S, tag G = redis_slot_tag(S), the same slot: inboxd:{G}:x, the
-- expiry index of the inboxes and rooms of S that need a reap ('i' NAME
-- and 'r' ROOM, scored by their next deadline); inboxd:{G}:c, the count
-- of inboxes made in S, from which the walk (gauges.lua) tells how many
-- expired.  inboxd:pin:{CODE} names the inbox of a PIN, for as long as
-- the PIN lives (the inbox's p says whether it still does).
-- inboxd:hb:{NODE} is a node's heartbeat; inboxd:{g}:nodes the last node
-- number, inboxd:{g}:key the MAC key: the only keys of the whole
-- cluster, read and written at a node's start and once a heartbeat.
--
-- Expiry.  An inbox in no room and invited to none is plain: its hash's
-- TTL is its expiry and Redis deletes it then, with its queue.  Any other
-- is in its slot's index, scored by its next deadline (idle expiry or
-- oldest message's); its keys outlive that by GRACE, for a node's reap
-- (reap.lua) to take it out of its rooms and delete it.  finish() moves
-- an inbox between the two as it changes.
--
-- Rooms.  A room's state lives in its slot, each member's side (its :r
-- entry) in the member's: the member's side is written first and undone
-- on refusal, so that an inbox never leaves a room it does not know it
-- is in.  Every event (joined, left, closed, invited) is numbered (e)
-- and put in the room's outbox with its recipients in the same call that
-- changes the room; the node then queues it in each recipient's inbox
-- (member_deliver.lua, which skips what the recipient's SEQ says it got,
-- so delivering twice is harmless, and takes every earlier event still
-- out first, so they arrive in order) and trims the outbox.  A node that
-- dies between leaves the room due in its slot's index: the next reap
-- delivers what is left.

-- A message is one string: "ID ENQ EVENT LEN\nFROM\nTYPE\nROOM\nBODY";
-- names, types and rooms never hold a newline.  ID is the X-Message-Id,
-- which also orders an inbox's messages, ENQ the enqueue time (ms of
-- Redis' clock), EVENT an enum room_event.
--
-- Ids (SPEC section 9).  The id of a message is the inbox's last (s)
-- plus one, or Redis' clock in microseconds if that is later: so ids grow
-- within an inbox while it lives, and one that expired and came back
-- under the same name starts past every id it gave, as long as the clock
-- of the inbox's shard does not step back; below 2^53 until the year
-- 2255.  s outlives the messages (finish() leaves it), so that the
-- queue, put-backs and acknowledgements can go by id.
--
-- Acknowledgements (SPEC section 9).  What an ack= GET was handed and
-- delivered stays in :f, with no node and numbered by the inbox's count
-- of such deliveries (ho), counted in an and ab against the quotas; a
-- dead node's put-back (requeue_dead) leaves it: the client has it, or
-- its next ack= GET puts it back.  That GET, in its pop (settle),
-- deletes the one it names and those delivered before it, and puts the
-- others back, by id; one that outlived message-timeout is dropped.
--
-- ARGV[1..11] are the same for every script (redis_call.c: redis_call_init):
-- timeouts and limits, whether events are rendered and this node's id;
-- its own arguments follow from ARGV[12].  A script that reaches an inbox
-- names the inbox's slot index XKEY (set_xkey()) among its KEYS.

local P = 'inboxd:'
local GRACE = 60000     -- ms keys outlive their deadline, if no node reaps
local RETRY = 5000      -- ms before a reap finishes what a node left

-- What one call knows, set by begin() as each function starts: the
-- library's top level runs once, when it is loaded, not per call.
local L, NODE, NOW, NOWUS
local touched, CNT, XKEY, DUE

local function num(v)
	return tonumber(v) or 0
end

local function str(n)
	return string.format('%d', n)
end

-- Bytes i to j of s in lower-case hex.
local function hex(s, i, j)
	return string.format(string.rep('%02x', j - i + 1), string.byte(s, i, j))
end

-- The hash tag of the keys of an inbox or room named name: the name
-- itself, unless a `}' in it would end the tag early (or it begins with
-- `~', as the other form does): then `~' and its hex (redis_call.c:
-- redis_call_tag writes the same).
local function tag(name)
	if string.find(name, '}', 1, true) or string.byte(name, 1) == 126 then
		return '~' .. hex(name, 1, #name)
	end
	return name
end

local function ikey(name, s)
	return P .. '{' .. tag(name) .. '}:' .. s
end

local function rkey(room, s)
	return P .. 'r:{' .. tag(room) .. '}' .. (s or '')
end

-- The slot index of the call: the KEYS entry the C side named.
local function set_xkey(k)
	XKEY = k
end

-- Count n more of field.  Counters go back to the calling node with the
-- answer (begin() and counts()): each node exports its own, so no call
-- writes a counter shared by the cluster.
local function stat(field, n)
	if n ~= 0 then
		CNT[field] = (CNT[field] or 0) + n
	end
end

-- Something of the call's slot is due at `at' (ms): the node that made
-- the call reaps the slot then (redis_node.c).
local function due(at)
	if DUE == nil or at < DUE then
		DUE = at
	end
end

-- The counters of this call, as the node reads them: {name, n, ...},
-- with due_in, the ms until the slot's earliest deadline this call set.
local function counts()
	local out = {}
	for k, v in pairs(CNT) do
		out[#out + 1] = k
		out[#out + 1] = v
	end
	if DUE then
		out[#out + 1] = 'due_in'
		out[#out + 1] = math.max(DUE - NOW, 0)
	end
	return out
end

-- The id of a message queued now in an inbox whose last id is last.
local function newid(last)
	return math.max(num(last) + 1, NOWUS)
end

-- redis.call(cmd, key, ...) with the values of list, a thousand a call
-- (unpack's stack has room for a few thousand): the last call's answer.
local function calln(cmd, key, list)
	local r
	for k = 1, #list, 1000 do
		r = redis.call(cmd, key, unpack(list, k, math.min(k + 999, #list)))
	end
	return r
end

-- Its id as a number (the order of the queue), its id as written,
-- enqueue time, event, body length: of message e.
local function parse(e)
	local id, enq, ev, len = string.match(e, '^(%d+) (%d+) (%d+) (%d+)\n')
	return tonumber(id), id, tonumber(enq), tonumber(ev), tonumber(len)
end

-- Inbox name's idle expiry (ms), or nil when it does not exist: its x,
-- or, plain, its hash's TTL (PEXPIRETIME: -2 without the key).
local function getx(name)
	local i = ikey(name, 'i')
	local x = tonumber(redis.call('HGET', i, 'x'))
	if x then
		return x
	end
	x = redis.call('PEXPIRETIME', i)
	return x >= 0 and x or nil
end

-- When the keys of inbox name, not plain, expire: GRACE after it does.
local function keys_at(name)
	return str((getx(name) or NOW) + GRACE)
end

-- Inbox name is about to change: remember how it was, for finish().
local function touch(name)
	if touched[name] == nil then
		touched[name] = {
			x = getx(name),
			ix = redis.call('ZSCORE', XKEY, 'i' .. name) ~= false,
		}
	end
end

-- Set inbox name's idle expiry to `at' (ms); finish() sets the TTLs.
local function setexp(name, at)
	touch(name)
	redis.call('HSET', ikey(name, 'i'), 'x', str(at))
end

-- Move inbox name's idle expiry to `at' unless it is later already.
local function extend(name, at)
	if at > (getx(name) or 0) then
		setexp(name, at)
	end
end

-- A request of inbox name's owner: it lives inbox-timeout from now (a
-- held GET may keep it longer); while a GET is held, `a' says when its
-- owner was last active.  The script may change it further: it is
-- touched either way.
local function active(name)
	local i = ikey(name, 'i')
	touch(name)
	if redis.call('HEXISTS', i, 'wn') == 1 then
		redis.call('HSET', i, 'a', str(NOW))
	end
	extend(name, NOW + L.it)
end

-- Set the keys of inbox name to expire at `at' (ms).
local function ttl_at(name, at)
	local px = str(at)
	redis.call('PEXPIREAT', ikey(name, 'i'), px)
	redis.call('PEXPIREAT', ikey(name, 'q'), px)
	redis.call('PEXPIREAT', ikey(name, 'f'), px)
end

-- Bring every touched inbox's expiry up to date: a plain one (see Expiry
-- above) gets its keys' TTLs, any other its x, TTLs and its score in
-- the slot's index, at its idle expiry or its oldest message's deadline,
-- whichever is first.
local function finish()
	for name, was in pairs(touched) do
		touched[name] = nil
		local i = ikey(name, 'i')
		local h = redis.call('HMGET', i, 'x', 'n', 'ad')
		local x = tonumber(h[1]) or getx(name)
		if not x then
			-- Gone.
		elseif redis.call('EXISTS', ikey(name, 'r')) == 1 then
			local at = x
			local e = num(h[2]) > 0 and
			    redis.call('LINDEX', ikey(name, 'q'), 0)
			if e then
				local _, _, enq = parse(e)
				at = math.min(at, enq + L.mt)
			end
			at = math.min(at, tonumber(h[3]) or at)
			if not h[1] then
				redis.call('HSET', i, 'x', str(x))
			end
			if not was.ix or was.x ~= x then
				ttl_at(name, x + GRACE)
				redis.call('PEXPIREAT', ikey(name, 'r'), str(x + GRACE))
			end
			redis.call('ZADD', XKEY, str(at), 'i' .. name)
			due(at)
		elseif x <= NOW + 10 then
			-- Plain, and its time is up already (a hold whose client
			-- hung up): it goes now.
			if was.ix then
				redis.call('ZREM', XKEY, 'i' .. name)
			end
			redis.call('DEL', i, ikey(name, 'q'), ikey(name, 'f'))
		else
			if was.ix then
				redis.call('ZREM', XKEY, 'i' .. name)
			end
			if h[1] then
				redis.call('HDEL', i, 'x')
			end
			ttl_at(name, x)
			if h[2] and num(h[2]) == 0 and
			    redis.call('HLEN', ikey(name, 'f')) == 0 then
				-- Nothing queued or in flight to count.
				redis.call('HDEL', i, 'n', 'b', 'an', 'ab', 'ad')
			end
		end
	end
end

-- nil when inbox name exists with generation gen, else why not.
local function checkgen(name, gen)
	local k = redis.call('HGET', ikey(name, 'i'), 'k')
	if not k then
		return 'GONE'
	end
	if hex(k, 1, 8) ~= gen then
		return 'WRONG'
	end
	return nil
end

local function exists(name)
	return redis.call('EXISTS', ikey(name, 'i')) == 1
end

-- Account for message e leaving (-1) or joining (1) inbox name's queue:
-- its count n and body bytes b, which the quotas check.
local function account(name, e, sign)
	local _, _, _, _, len = parse(e)
	local i = ikey(name, 'i')
	redis.call('HINCRBY', i, 'b', str(sign * len))
	redis.call('HINCRBY', i, 'n', str(sign))
	touch(name)
end

-- Tell the node holding a GET of inbox name that a message is there.
-- PUBLISH, not SPUBLISH: the node's channel is not in this slot, and a
-- cluster passes a PUBLISH to every node, where the waiter's node
-- listens (inboxd(8)).
local function wake(name)
	local w = redis.call('HMGET', ikey(name, 'i'), 'wn', 'wd')
	if w[1] and num(w[2]) > NOW then
		redis.call('PUBLISH', P .. 'node:' .. w[1], 'wake ' .. name)
	end
end

-- Drop the messages of inbox name that outlived message-timeout.
local function drop_stale(name)
	local q = ikey(name, 'q')
	while true do
		local e = redis.call('LINDEX', q, 0)
		if not e then
			return
		end
		local _, _, enq = parse(e)
		if enq + L.mt > NOW then
			return
		end
		redis.call('LPOP', q)
		account(name, e, -1)
		stat('expired', 1)
	end
end

-- Put message e back into inbox name before every later one (by id),
-- unless it outlived message-timeout (then false), and wake its held GET
-- unless quiet (the caller wakes it once for several).
local function requeue(name, e, quiet)
	local seq, _, enq = parse(e)
	if enq + L.mt <= NOW then
		stat('expired', 1)
		return false
	end
	local q = ikey(name, 'q')
	local k, pivot = 0, nil
	while true do
		local h = redis.call('LINDEX', q, k)
		if not h then
			break
		end
		if parse(h) > seq then
			pivot = h
			break
		end
		k = k + 1
	end
	if pivot then
		redis.call('LINSERT', q, 'BEFORE', pivot, e)
	else
		redis.call('RPUSH', q, e)
	end
	redis.call('PEXPIREAT', q, keys_at(name))
	account(name, e, 1)
	stat('requeued', 1)
	if not quiet then
		wake(name)
	end
	return true
end

-- An in-flight entry for message e, popped now by this node's GET
-- token; an ack= GET's carries the inbox's count of ack= GETs (ac) as
-- it was at that GET's pop, after "/" (see done.lua).
local function flight(token, e, epoch)
	return NODE .. '\n' .. token .. '\n' .. str(NOW) ..
	    (epoch and '/' .. str(epoch) or '') .. '\n' .. e
end

-- An in-flight entry: node, token of the GET, message, when it was
-- popped, and the count of ack= GETs it was popped under (or nil).
local function inflight(v)
	local a = string.find(v, '\n', 1, true)
	local b = string.find(v, '\n', a + 1, true)
	local c = string.find(v, '\n', b + 1, true)
	local at, epoch = string.match(string.sub(v, b + 1, c - 1),
	    '^(%d*)/?(%d*)$')
	return string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1),
	    string.sub(v, c + 1), tonumber(at), tonumber(epoch)
end

-- The nodes the C side says are alive ('1') or dead ('0'): ARGV text
-- "NODE\nSTATE\n..." as a table.
local function node_states(text)
	local t = {}
	for n, v in string.gmatch(text or '', '([^\n]+)\n([01])\n') do
		t[n] = v
	end
	return t
end

-- The nodes other than this one with messages of inbox name in flight
-- (or, with wn, holding its GET since `since') of which states says
-- nothing: the C side finds out (a heartbeat key gone is a dead node)
-- and calls again.  A node that popped or held less than a lease ago
-- (the nodes' lease-timeout less the second between heartbeats) cannot
-- have lost its heartbeat yet: nobody asks.
local function unknown_nodes(name, states, wn, since)
	local out, seen = {}, {}
	local recent = NOW - (L.lease - 1000)
	local function see(node, at)
		if node and node ~= '' and node ~= NODE and not states[node] and
		    not seen[node] and (at or 0) <= recent then
			seen[node] = true
			out[#out + 1] = node
		end
	end
	local f = ikey(name, 'f')
	if redis.call('HLEN', f) > 0 then
		local all = redis.call('HVALS', f)
		for k = 1, #all do
			local node, _, _, at = inflight(all[k])
			see(node, at)
		end
	end
	see(wn, since)
	return out
end

-- Requeue inbox name's messages in flight on nodes states says are dead
-- (at-least-once: such a node may have died mid-delivery), or on this
-- node for GET token (its pop's answer never reached the node).  Those
-- awaiting an acknowledgement have no node: they stay.
local function requeue_dead(name, token, states)
	local f = ikey(name, 'f')
	if redis.call('HLEN', f) == 0 then
		return
	end
	local all = redis.call('HGETALL', f)
	for k = 1, #all, 2 do
		local node, tok, e = inflight(all[k + 1])
		if (node == NODE and tok == token) or states[node] == '0' then
			redis.call('HDEL', f, all[k])
			requeue(name, e)
		end
	end
end

-- An in-flight entry for message e, delivered now to an ack= GET and
-- awaiting its acknowledgement: no node, and in the token's place its
-- number in the order the inbox's deliveries ended (ho).
local function awaiting(ho, e)
	return '\n' .. str(ho) .. '\n' .. str(NOW) .. '\n' .. e
end

-- Inbox name now has n messages of len body bytes awaiting an
-- acknowledgement, the first to outlive message-timeout at `at': its
-- an, ab and ad, absent while n is 0.  Written whole, not counted up
-- and down: counts that outlived their in-flight hash (its TTL may come
-- before the inbox's) come right again.
local function set_acks(name, n, len, at)
	local i = ikey(name, 'i')
	if n > 0 then
		redis.call('HSET', i, 'an', str(n), 'ab', str(len), 'ad', str(at))
	else
		redis.call('HDEL', i, 'an', 'ab', 'ad')
	end
	touch(name)
end

-- A GET held on inbox name gives way to the ack= GET that put messages
-- back beside it, as to any newer GET (SPEC section 2): its node is told
-- and it is no longer the inbox's waiter.
local function displace(name)
	local i = ikey(name, 'i')
	local w = redis.call('HMGET', i, 'wn', 'wt', 'wd')
	if w[1] then
		if num(w[3]) > NOW then
			redis.call('PUBLISH', P .. 'node:' .. w[1],
			    'displace ' .. w[2] .. ' ' .. name)
		end
		redis.call('HDEL', i, 'wn', 'wt', 'wd', 'a', 'we')
	end
end

-- The messages of inbox name awaiting an acknowledgement, in the order
-- their deliveries ended: each {that number, id, message, body length}.
local function acks(name)
	local f, out = ikey(name, 'f'), {}
	if redis.call('HLEN', f) == 0 then
		return out
	end
	local all = redis.call('HGETALL', f)
	for k = 1, #all, 2 do
		local node, ho, e = inflight(all[k + 1])
		if node == '' then
			local _, id, _, _, len = parse(e)
			out[#out + 1] = {tonumber(ho), id, e, len}
		end
	end
	table.sort(out, function(x, y) return x[1] < y[1] end)
	return out
end

-- The acknowledgement of an ack= GET of inbox name (SPEC section 9): of
-- the messages awaiting one, the one of id ack and those handed out
-- before it are deleted, the others go back to the queue by id (so at
-- its head, in order), unless they outlived message-timeout; an ack
-- that names none deletes none.
local function settle(name, ack)
	local list = acks(name)
	if #list == 0 then
		return
	end
	local upto = 0
	for k, a in ipairs(list) do
		if a[2] == ack then
			upto = k
		end
	end
	local f, back = ikey(name, 'f'), {}
	for k, a in ipairs(list) do
		redis.call('HDEL', f, a[2])
		if k <= upto then
			stat('acked', 1)
		else
			back[#back + 1] = a[3]
		end
	end
	-- The youngest first: each then goes in before the queue's head.
	table.sort(back, function(x, y) return parse(x) > parse(y) end)
	local queued = false
	for _, e in ipairs(back) do
		queued = requeue(name, e, true) or queued
	end
	set_acks(name, 0, 0)
	if queued then
		displace(name)
	end
end

-- Drop inbox name's messages awaiting an acknowledgement that outlived
-- message-timeout: they are never delivered again.
local function drop_stale_acks(name)
	local f, n, left, bytes, next = ikey(name, 'f'), 0, 0, 0, nil
	for _, a in ipairs(acks(name)) do
		local _, _, enq = parse(a[3])
		if enq + L.mt <= NOW then
			redis.call('HDEL', f, a[2])
			n = n + 1
		else
			left, bytes = left + 1, bytes + a[4]
			next = math.min(next or enq + L.mt, enq + L.mt)
		end
	end
	set_acks(name, left, bytes, next)
	stat('expired', n)
end

-- Messages of inbox name in flight on a node: not awaiting an
-- acknowledgement, which keeps nobody's delivery open.
local function flying(name)
	local f = ikey(name, 'f')
	if redis.call('HLEN', f) == 0 then
		return 0
	end
	local n = 0
	for _, v in ipairs(redis.call('HVALS', f)) do
		if string.byte(v, 1) ~= 10 then
			n = n + 1
		end
	end
	return n
end

-- Would n messages of len bytes more take inbox name, whose fields h
-- are {n, b, an, ab}, past max-messages or max-inbox-bytes?
local function full(h, len)
	return num(h[1]) + num(h[3]) >= L.maxmsg or
	    num(h[2]) + num(h[4]) + len > L.maxbytes
end

-- Queue a message in inbox `to': 'OK', 'INBOX_FULL', or 'NOT_FOUND' when
-- it does not exist (its hash is never made here).
local function enqueue(to, ev, from, ctype, room, body)
	local i, q = ikey(to, 'i'), ikey(to, 'q')
	if not exists(to) then
		return 'NOT_FOUND'
	end
	touch(to)
	drop_stale(to)
	local h = redis.call('HMGET', i, 'n', 'b', 'an', 'ab', 's')
	if full(h, #body) then
		drop_stale_acks(to)
		h = redis.call('HMGET', i, 'n', 'b', 'an', 'ab', 's')
		if full(h, #body) then
			return 'INBOX_FULL'
		end
	end
	local id = newid(h[5])
	local e = str(id) .. ' ' .. str(NOW) .. ' ' .. ev .. ' ' ..
	    str(#body) .. '\n' .. from .. '\n' .. ctype .. '\n' .. room ..
	    '\n' .. body
	redis.call('HSET', i, 's', str(id))
	redis.call('RPUSH', q, e)
	redis.call('PEXPIREAT', q, keys_at(to))
	account(to, e, 1)
	stat('sent', 1)
	wake(to)
	return 'OK'
end

-- Rooms (SPEC section 7).

local EVENT = { joined = '1', left = '2', closed = '3', invited = '4' }
local ESCAPE = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b',
    ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local TELL, DROP = 1, 2 -- what an event asks of a recipient

-- s as a JSON string, escaped as cJSON prints it.
local function jstr(s)
	return '"' .. (string.gsub(s, '[%c"\\]', function(c)
		return ESCAPE[c] or string.format('\\u%04x', string.byte(c))
	end)) .. '"'
end

local function members(room)
	return redis.call('ZRANGE', rkey(room, ':m'), 0, -1)
end

local function is_member(room, name)
	return redis.call('ZSCORE', rkey(room, ':m'), name) ~= false
end

-- Room's score in the slot's index: `at', or earlier when lt.
local function room_due(room, at, lt)
	if lt then
		redis.call('ZADD', XKEY, 'LT', str(at), 'r' .. room)
	else
		redis.call('ZADD', XKEY, str(at), 'r' .. room)
	end
	due(at)
end

-- Give the keys of room its lifetime (they outlive it by GRACE).
local function room_ttl(room)
	local px = str(num(redis.call('HGET', rkey(room), 'x')) + GRACE)
	redis.call('PEXPIREAT', rkey(room), px)
	redis.call('PEXPIREAT', rkey(room, ':m'), px)
	redis.call('PEXPIREAT', rkey(room, ':v'), px)
	redis.call('PEXPIREAT', rkey(room, ':o'), px)
end

-- A live room: it exists and is not closing.
local function room_live(room)
	local h = redis.call('HMGET', rkey(room), 'x', 'z')
	return h[1] ~= false and h[2] ~= '1'
end

-- {'OK', ms left, members...}: a roster for the C side.
local function roster(room)
	local r = {'OK', str(num(redis.call('HGET', rkey(room), 'x')) - NOW)}
	for _, m in ipairs(members(room)) do
		r[#r + 1] = m
	end
	return r
end

-- The body of an event, as json_room_event renders it.
local function render(ev, room, peer, reason, list)
	local q = {}
	for k, m in ipairs(list) do
		q[k] = jstr(m)
	end
	return '{"event":"' .. ev .. '","room":' .. jstr(room) .. ',"peer":' ..
	    jstr(peer) .. ',"reason":' .. (reason and jstr(reason) or 'null') ..
	    ',"members":[' .. table.concat(q, ',') .. ']}'
end

-- Put event ev from `from' about peer (for reason) in room's outbox:
-- "SEQ EVENT N\nFROM\n" with N lines "FLAGS NAME\n", then the body.  It
-- goes to every member but `except' (TELL), when events are rendered
-- (except true: to none of them), and to each of extra ({flags, name}:
-- TELL is dropped unless rendered; DROP asks the recipient to forget the
-- room once it is told).  The room is due for its delivery in RETRY,
-- should its node not finish it.
local function announce(room, ev, from, peer, reason, except, extra)
	local list, rec = members(room), {}
	if L.render and except ~= true then
		for _, m in ipairs(list) do
			if m ~= except then
				rec[#rec + 1] = {TELL, m}
			end
		end
	end
	for _, x in ipairs(extra or {}) do
		local flags = L.render and x[1] or (x[1] - x[1] % 2 * TELL)
		if flags > 0 then
			rec[#rec + 1] = {flags, x[2]}
		end
	end
	if #rec == 0 then
		return
	end
	local body = L.render and render(ev, room, peer, reason,
	    ev == 'closed' and {} or list) or ''
	local seq = redis.call('HINCRBY', rkey(room), 'e', 1)
	local lines = {}
	for k, x in ipairs(rec) do
		lines[k] = str(x[1]) .. ' ' .. x[2] .. '\n'
	end
	redis.call('RPUSH', rkey(room, ':o'), str(seq) .. ' ' .. EVENT[ev] ..
	    ' ' .. str(#rec) .. '\n' .. from .. '\n' .. table.concat(lines) ..
	    body)
	room_ttl(room)
	room_due(room, NOW + RETRY, true)
end

-- The room's outbox, oldest first, for the node to deliver.
local function outbox(room)
	return redis.call('LRANGE', rkey(room, ':o'), 0, -1)
end

-- Delete room with its members, invitations and outbox.
local function delete_room(room)
	redis.call('DEL', rkey(room), rkey(room, ':m'), rkey(room, ':v'),
	    rkey(room, ':o'))
	redis.call('ZREM', XKEY, 'r' .. room)
end

-- The room's lifetime is over, or its creator closed it (reason): every
-- member is told, from the creator, and forgets it, and so does every
-- invited inbox; the room stays, closing (z), until that is done.
local function close_room(room, reason, closer)
	local c = redis.call('HGET', rkey(room), 'c')
	local extra = {}
	for _, m in ipairs(members(room)) do
		extra[#extra + 1] = {m == closer and DROP or TELL + DROP, m}
	end
	for _, v in ipairs(redis.call('SMEMBERS', rkey(room, ':v'))) do
		extra[#extra + 1] = {DROP, v}
	end
	redis.call('HSET', rkey(room), 'z', '1')
	announce(room, 'closed', c, c, reason, true, extra)
	redis.call('DEL', rkey(room, ':m'), rkey(room, ':v'))
	if redis.call('EXISTS', rkey(room, ':o')) == 0 then
		delete_room(room)
	end
end

-- Member name leaves room for reason: the others hear of it, but
-- remover, and so does a removed peer (`told'); name forgets the room
-- (DROP) unless its inbox is going anyway (reason expired).  The last
-- one out deletes the room.
local function leave(room, name, reason, remover)
	redis.call('ZREM', rkey(room, ':m'), name)
	if redis.call('HGET', rkey(room), 'c') == name then
		redis.call('HSET', rkey(room), 'cc', '0')
	end
	local extra = {}
	if reason == 'removed' then
		extra[1] = {TELL + DROP, name}
	elseif reason == 'left' then
		extra[1] = {DROP, name}
	end
	if redis.call('ZCARD', rkey(room, ':m')) == 0 then
		-- Nobody to tell: but name forgets the room (the reply says
		-- so, should the outbox go with the room).
		announce(room, 'left', name, name, reason, remover, extra)
		local o = outbox(room)
		delete_room(room)
		return o
	end
	announce(room, 'left', name, name, reason, remover, extra)
	return nil
end

-- Every function's first step: ARGV[1..11] (see above) and Redis' clock.
local function begin(ARGV)
	L = {
		it = tonumber(ARGV[1]),         -- inbox-timeout, ms
		mt = tonumber(ARGV[2]),         -- message-timeout, ms
		maxmsg = tonumber(ARGV[3]),
		maxbytes = tonumber(ARGV[4]),
		lease = tonumber(ARGV[5]),      -- lease-timeout, ms
		maxinboxes = tonumber(ARGV[6]),
		maxrooms = tonumber(ARGV[7]),
		maxmembers = tonumber(ARGV[8]),
		maxperinbox = tonumber(ARGV[9]),
		render = ARGV[10] == '1',
	}
	NODE = ARGV[11]
	touched, CNT, XKEY, DUE = {}, {}, nil, nil
	local t = redis.call('TIME')
	NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
	NOWUS = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
