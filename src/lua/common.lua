-- common.lua - what every script of the Redis store begins with: the C
-- side sends this text in front of each other script, as one script.
--
-- Keys (SPEC section 8).  Inbox NAME: inboxd:{NAME}:i, a hash (k its
-- Argon2id salt and tag, the salt's first 8 bytes being the inbox's
-- generation; x expiry ms, kept here unless the inbox is plain (below);
-- s last sequence number, b body bytes and m cost queued, nr rooms it is
-- in, each absent while 0; p its PIN; wn wt wd the node, token and
-- deadline of its held GET, with a, the last request of its owner); :q,
-- the list of queued messages, oldest first; :f, a hash of messages in
-- flight (id -> node NL token of the GET NL message); :r, a hash of its
-- rooms (room -> m member, v invited).  Room R: inboxd:r:{R} (hash: c
-- creator, cc 1 while the creator is a member, k MAC of the secret, mm
-- max_members, x expiry, n last join number), :m (members, scored by
-- join order), :v (set of invited names).  inboxd:pin:CODE names an
-- inbox.  inboxd:hb:NODE is a node's heartbeat (its held GETs),
-- inboxd:live the set of nodes.  Global: inboxd:exp, inboxd:alive
-- (below), inboxd:pins and inboxd:rooms (scored by expiry), inboxd:stats
-- (gauges and counters), inboxd:nodes (the last node number),
-- inboxd:key (the MAC key).
--
-- Expiry.  An inbox with nothing but its hash (no message queued or in
-- flight, no PIN, room or invitation) is plain: its hash's TTL is its
-- expiry, Redis deletes it then, and it is only counted, in inboxd:alive
-- (tenth of a second of its expiry, rounded up -> inboxes expiring in
-- it), which reap.lua drains as time passes; without a held GET its hash
-- is k alone.  Any other inbox is in inboxd:exp, scored by its next
-- deadline (idle expiry or oldest message's); its keys outlive that by
-- GRACE, for a node's reap to delete it with its queue, PIN and
-- memberships and to tell its rooms.  finish() moves an inbox between
-- the two as it changes.

-- A message is one string: "SEQ ID ENQ EVENT LEN\nFROM\nTYPE\nROOM\nBODY";
-- names, types and rooms never hold a newline.  SEQ orders an inbox's
-- messages, ID is the X-Message-Id, ENQ the enqueue time (ms of Redis'
-- clock, which every node shares through TIME), EVENT an enum room_event.
--
-- ARGV[1..12] are the same for every script (redis_call.c: redis_call_init):
-- timeouts and limits, whether events are rendered, this node's id and
-- the first X-Message-Id the script may give; its own arguments follow
-- from ARGV[13].

local P = 'inboxd:'
local STATS = P .. 'stats'
local EXP = P .. 'exp'
local PINS = P .. 'pins'
local ROOMS = P .. 'rooms'
local GRACE = 60000     -- ms keys outlive their deadline, if no node reaps

-- What one call knows, set by begin() as each function starts: the
-- library's top level runs once, when it is loaded, not per call.
local L, NODE, IDBASE, NOW
local touched, nids

local function num(v)
	return tonumber(v) or 0
end

local function str(n)
	return string.format('%d', n)
end

local function ikey(name, s)
	return P .. '{' .. name .. '}:' .. s
end

local function rkey(room, s)
	return P .. 'r:{' .. room .. '}' .. (s or '')
end

-- Count n more of field.  Counters go back to the calling node with the
-- answer (begin() and counts()): each node exports its own, so no call
-- writes a counter shared by the cluster.  The room gauges (members,
-- invitations) change only on room operations, off the hot paths, and
-- are kept in STATS.
local ROOM_GAUGES = { members = true, invitations = true }
local CNT
local function stat(field, n)
	if n == 0 then
		return
	end
	if ROOM_GAUGES[field] then
		redis.call('HINCRBY', STATS, field, str(n))
	else
		CNT[field] = (CNT[field] or 0) + n
	end
end

-- The counters of this call, as the node reads them: {name, n, ...}.
local function counts()
	local out = {}
	for k, v in pairs(CNT) do
		out[#out + 1] = k
		out[#out + 1] = v
	end
	return out
end

-- The ids of messages made here: IDBASE, IDBASE + 1, ... (decimal
-- strings: an id may pass 2^53, where Lua's numbers stop being exact).
local function nextid()
	local k = nids
	nids = nids + 1
	if k == 0 then
		return IDBASE
	end
	local out, i = {}, #IDBASE
	while i >= 1 or k > 0 do
		local d = k + (i >= 1 and string.byte(IDBASE, i) - 48 or 0)
		out[#out + 1] = string.char(48 + d % 10)
		k = math.floor(d / 10)
		i = i - 1
	end
	return string.reverse(table.concat(out))
end

-- seq, id, enqueue time, event, body length of message e.
local function parse(e)
	local seq, id, enq, ev, len =
	    string.match(e, '^(%d+) (%d+) (%d+) (%d+) (%d+)\n')
	return tonumber(seq), id, tonumber(enq), tonumber(ev), tonumber(len)
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

-- The inboxes changed by this script, each with its idle expiry and
-- whether it was in EXP before the change (x nil: it did not exist).

-- Inbox name is about to change: remember how it was, for finish().
local function touch(name)
	if touched[name] == nil then
		touched[name] = {
			x = getx(name),
			ix = redis.call('ZSCORE', EXP, name) ~= false,
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
-- EXP, at its idle expiry or its oldest message's deadline, whichever is
-- first.
local function finish()
	for name, was in pairs(touched) do
		touched[name] = nil
		local i = ikey(name, 'i')
		local h = redis.call('HMGET', i, 'x', 'p', 'n')
		local x = tonumber(h[1]) or getx(name)
		if not x then
			-- Gone.
		elseif h[2] or redis.call('EXISTS', ikey(name, 'r')) == 1 then
			local at = x
			local e = num(h[3]) > 0 and
			    redis.call('LINDEX', ikey(name, 'q'), 0)
			if e then
				local _, _, enq = parse(e)
				at = math.min(at, enq + L.mt)
			end
			if not h[1] then
				redis.call('HSET', i, 'x', str(x))
			end
			if not was.ix or was.x ~= x then
				ttl_at(name, x + GRACE)
				redis.call('PEXPIREAT', ikey(name, 'r'), str(x + GRACE))
			end
			redis.call('ZADD', EXP, str(at), name)
		elseif x <= NOW + 10 then
			-- Plain, and its time is up already (a hold whose client
			-- hung up): it goes now.
			if was.ix then
				redis.call('ZREM', EXP, name)
			end
			redis.call('DEL', i, ikey(name, 'q'), ikey(name, 'f'))
		else
			if was.ix then
				redis.call('ZREM', EXP, name)
			end
			if h[1] then
				redis.call('HDEL', i, 'x')
			end
			ttl_at(name, x)
			if h[3] and num(h[3]) == 0 and
			    redis.call('HLEN', ikey(name, 'f')) == 0 then
				-- Nothing queued or in flight to count.
				redis.call('HDEL', i, 's', 'n', 'b', 'nr')
			end
		end
	end
end

-- Bytes i to j of s in lower-case hex.
local function hex(s, i, j)
	return string.format(string.rep('%02x', j - i + 1), string.byte(s, i, j))
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

-- Put message e back into inbox name before every later one (by
-- sequence number), unless it outlived message-timeout.
local function requeue(name, e)
	local seq, _, enq = parse(e)
	if enq + L.mt <= NOW then
		stat('expired', 1)
		return
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
	wake(name)
end

-- An in-flight entry: node, token of the GET, message.
local function inflight(v)
	local a = string.find(v, '\n', 1, true)
	local b = string.find(v, '\n', a + 1, true)
	return string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1),
	    string.sub(v, b + 1)
end

-- Requeue inbox name's messages in flight on nodes whose heartbeat is
-- gone (at-least-once: such a node may have died mid-delivery), or on
-- this node for GET token (its pop's answer never reached the node).
local function requeue_dead(name, token)
	local f = ikey(name, 'f')
	if redis.call('HLEN', f) == 0 then
		return
	end
	local all = redis.call('HGETALL', f)
	for k = 1, #all, 2 do
		local node, tok, e = inflight(all[k + 1])
		if (node == NODE and tok == token) or
		    redis.call('EXISTS', P .. 'hb:' .. node) == 0 then
			redis.call('HDEL', f, all[k])
			requeue(name, e)
		end
	end
end

-- Queue a message in inbox `to': 'OK', 'INBOX_FULL', 'SERVER_FULL', or
-- 'NOT_FOUND' when it does not exist (its hash is never made here).  Its
-- id is the next of this script's.
local function enqueue(to, ev, from, ctype, room, body)
	local i, q = ikey(to, 'i'), ikey(to, 'q')
	if not exists(to) then
		return 'NOT_FOUND'
	end
	touch(to)
	drop_stale(to)
	local h = redis.call('HMGET', i, 'n', 'b')
	if num(h[1]) >= L.maxmsg or num(h[2]) + #body > L.maxbytes then
		return 'INBOX_FULL'
	end
	local e = str(redis.call('HINCRBY', i, 's', 1)) .. ' ' .. nextid() ..
	    ' ' .. str(NOW) .. ' ' .. ev .. ' ' .. str(#body) .. '\n' .. from ..
	    '\n' .. ctype .. '\n' .. room .. '\n' .. body
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

-- Give the keys of room its lifetime (they outlive it by GRACE).
local function room_ttl(room)
	local px = str(num(redis.call('HGET', rkey(room), 'x')) + GRACE)
	redis.call('PEXPIREAT', rkey(room), px)
	redis.call('PEXPIREAT', rkey(room, ':m'), px)
	redis.call('PEXPIREAT', rkey(room, ':v'), px)
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

-- Queue event body from `from' in inbox `to'; a full inbox drops it.
local function tell(room, ev, from, body, to)
	if enqueue(to, EVENT[ev], from, 'application/json', room, body) ==
	    'OK' then
		stat('events', 1)
	else
		stat('events_dropped', 1)
	end
end

-- Tell every member of room but `except' of event ev about peer, from
-- `from'; also tell `also' (a peer just removed) when not nil.
local function announce(room, ev, from, peer, reason, except, also)
	if not L.render then
		return
	end
	local list = members(room)
	local body = render(ev, room, peer, reason, ev == 'closed' and {} or list)
	for _, m in ipairs(list) do
		if m ~= except then
			tell(room, ev, from, body, m)
		end
	end
	if also then
		tell(room, ev, from, body, also)
	end
end

-- Delete room with its memberships and invitations; nobody is told.
local function delete_room(room)
	for _, m in ipairs(members(room)) do
		redis.call('HDEL', ikey(m, 'r'), room)
		if exists(m) then
			redis.call('HINCRBY', ikey(m, 'i'), 'nr', -1)
		end
		stat('members', -1)
	end
	for _, v in ipairs(redis.call('SMEMBERS', rkey(room, ':v'))) do
		redis.call('HDEL', ikey(v, 'r'), room)
		stat('invitations', -1)
	end
	redis.call('DEL', rkey(room), rkey(room, ':m'), rkey(room, ':v'))
	redis.call('ZREM', ROOMS, room)
end

-- Member name leaves room for reason; the others but `remover' hear of
-- it, and a removed peer too.  The last one out deletes the room.
local function leave(room, name, reason, remover)
	redis.call('ZREM', rkey(room, ':m'), name)
	redis.call('HDEL', ikey(name, 'r'), room)
	if exists(name) then
		redis.call('HINCRBY', ikey(name, 'i'), 'nr', -1)
	end
	stat('members', -1)
	if redis.call('HGET', rkey(room), 'c') == name then
		redis.call('HSET', rkey(room), 'cc', '0')
	end
	if redis.call('ZCARD', rkey(room, ':m')) == 0 then
		delete_room(room)
		return
	end
	announce(room, 'left', name, name, reason, remover,
	    remover and name or nil)
end

-- Inbox name is being deleted: it leaves its rooms (reason expired) and
-- its invitations lapse.
local function forget_rooms(name)
	local all = redis.call('HGETALL', ikey(name, 'r'))
	for k = 1, #all, 2 do
		local room = all[k]
		if all[k + 1] == 'v' then
			redis.call('SREM', rkey(room, ':v'), name)
			stat('invitations', -1)
		elseif redis.call('EXISTS', rkey(room)) == 1 then
			leave(room, name, 'expired', nil)
		end
	end
	redis.call('DEL', ikey(name, 'r'))
end

-- Room's lifetime is over: every member is told, and it goes.
local function expire_room(room)
	local c = redis.call('HGET', rkey(room), 'c')
	if c then
		announce(room, 'closed', c, c, 'expired', nil, nil)
		stat('rooms_expired', 1)
		delete_room(room)
	else
		redis.call('ZREM', ROOMS, room)
	end
end

-- Every function's first step: ARGV[1..12] (see above) and Redis' clock.
local function begin(ARGV)
	L = {
		it = tonumber(ARGV[1]),         -- inbox-timeout, ms
		mt = tonumber(ARGV[2]),         -- message-timeout, ms
		maxmsg = tonumber(ARGV[3]),
		maxbytes = tonumber(ARGV[4]),
		maxmem = tonumber(ARGV[5]),
		maxinboxes = tonumber(ARGV[6]),
		maxrooms = tonumber(ARGV[7]),
		maxmembers = tonumber(ARGV[8]),
		maxperinbox = tonumber(ARGV[9]),
		render = ARGV[10] == '1',
	}
	NODE = ARGV[11]
	IDBASE = ARGV[12]
	touched, nids, CNT = {}, 0, {}
	local t = redis.call('TIME')
	NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
