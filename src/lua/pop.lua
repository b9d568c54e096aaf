-- pop.lua - receive for inbox NAME: first put back what dead nodes had in
-- flight and, for an ack= GET, settle what its last delivery left
-- awaiting an acknowledgement (common.lua: settle), and drop stale
-- messages; then take up to MAX of the oldest into the in-flight hash,
-- marked with this node; or, the inbox being empty and WAIT > 0, record
-- this node's GET (TOKEN, deadline) as the inbox's waiter, in the same
-- step, so that no send between "empty" and "waiting" goes unseen.
-- An earlier GET held on another node is told it is displaced.
-- MODE 'wake' pops on behalf of this node's held GET after a wake-up: it
-- checks no generation, settles nothing and, with nothing queued, keeps
-- the hold.
-- A plain inbox with nothing in flight (the common case) takes the short
-- way: one HMGET, the pop, the in-flight entries, its counts and TTLs.
-- Messages in flight on other nodes go back only once the node says
-- those are dead (NODES, "NODE\nSTATE\n..." with STATE 1 alive, 0 dead):
-- a node the call does not know of is answered {'NODES', node...},
-- before anything changed, for the node to find out and call again.
-- KEYS: NAME's :i :q :f, its slot's :x.  ARGV: NAME GEN TOKEN WAIT MODE
-- NODES MAX ACK (the id acknowledged; empty without ack=).  Returns
-- {'OK', message...}, oldest first, {'EMPTY'}, {'HELD'}, {'STALE'}
-- (wake: the hold is no longer this node's), {'NODES', ...}, or
-- {'GONE'} / {'WRONG'}.
local name, gen, token, wait, mode, nodes, max, ack =
    ARGV[12], ARGV[13], ARGV[14], tonumber(ARGV[15]), ARGV[16], ARGV[17],
    math.max(tonumber(ARGV[18]) or 1, 1), ARGV[19] or ''
local i, q, f = KEYS[1], KEYS[2], KEYS[3]
set_xkey(KEYS[4])
local h = redis.call('HMGET', i, 'k', 'x', 'n', 'b', 'wn', 'wt', 'wd', 'an',
    'we')
if not h[1] then
	return {'GONE'}
end
if mode == 'get' and hex(h[1], 1, 8) ~= gen then
	return {'WRONG'}
end
if mode == 'wake' and h[5] ~= NODE then
	return {'STALE'}
end

-- An ack= GET counts one more of the inbox's ack= GETs (ac): what
-- earlier ones popped and are still writing then goes back when their
-- delivery ends (done.lua).  Its messages carry the count, now or, held,
-- when it is woken (we).
local epoch
if mode == 'get' and ack ~= '' then
	epoch = redis.call('HINCRBY', i, 'ac', 1)
elseif mode == 'wake' then
	epoch = tonumber(h[9])
end

-- Mark the messages of out (from its second element on) in flight for
-- this GET, HSET by HSET of at most 100 fields.
local function fly(out)
	local args = {}
	for k = 2, #out do
		local _, id = parse(out[k])
		args[#args + 1] = id
		args[#args + 1] = flight(token, out[k], epoch)
		if #args == 200 or k == #out then
			redis.call('HSET', f, unpack(args))
			args = {}
		end
	end
end

-- An ack= GET of a plain inbox whose messages in flight all await an
-- acknowledgement: settle them as settle() would, with one HGETALL, one
-- HDEL and one LPUSH, when those that go back are all older than the
-- queue's head (always, unless a failed delivery of another GET put
-- back older ones meanwhile).  The in-flight hash is then empty and the
-- short way goes on with the counts given back; false if it cannot.
local function settle_plain()
	local all, list = redis.call('HGETALL', f), {}
	for k = 1, #all, 2 do
		local node, ho, e = inflight(all[k + 1])
		if node ~= '' then
			return false
		end
		list[#list + 1] = {tonumber(ho), all[k], e}
	end
	table.sort(list, function(x, y) return x[1] < y[1] end)
	local upto = 0
	for k, a in ipairs(list) do
		if a[2] == ack then
			upto = k
		end
	end
	local back, gone, ids = {}, 0, {}
	for k, a in ipairs(list) do
		ids[#ids + 1] = a[2]
		if k > upto then
			local seq, _, enq = parse(a[3])
			if enq + L.mt > NOW then
				back[#back + 1] = {seq, a[3]}
			else
				gone = gone + 1
			end
		end
	end
	table.sort(back, function(x, y) return x[1] > y[1] end)
	local head = #back > 0 and num(h[3]) > 0 and redis.call('LINDEX', q, 0)
	if head and parse(head) < back[1][1] then
		return false
	end
	calln('HDEL', f, ids)
	stat('acked', upto)
	stat('expired', gone)
	local n, b = num(h[3]), num(h[4])
	if #back > 0 then
		local es = {}
		for k, x in ipairs(back) do
			local _, _, _, _, len = parse(x[2])
			es[k] = x[2]
			n, b = n + 1, b + len
		end
		if calln('LPUSH', q, es) == #es then
			redis.call('PEXPIREAT', q, str(NOW + L.it))
		end
		stat('requeued', #back)
		if h[5] then
			displace(name)
			h[5] = nil
		end
	end
	redis.call('HDEL', i, 'an', 'ab', 'ad')
	h[3], h[4] = str(n), str(b)
	return true
end

-- The short way: take the oldest live messages.
local short = not h[2] and redis.call('HLEN', f) == 0
if short and h[8] then
	redis.call('HDEL', i, 'an', 'ab', 'ad') -- counts outlived their hash
elseif not short and not h[2] and mode == 'get' and ack ~= '' and h[8] then
	short = settle_plain()
end
if short then
	local n, b = num(h[3]), num(h[4])
	local out = {'OK'}
	while n > 0 and #out <= max do
		local want = math.min(max - #out + 1, n)
		local got = want == 1 and {redis.call('LPOP', q)} or
		    redis.call('LPOP', q, want)
		if not got or not got[1] then
			n, b = 0, 0 -- counts that outlived their queue
			break
		end
		for _, e in ipairs(got) do
			local _, _, enq, _, len = parse(e)
			n, b = n - 1, b - len
			if enq + L.mt > NOW then
				out[#out + 1] = e
			else
				stat('expired', 1)
			end
		end
	end
	if #out > 1 then
		local at = str(NOW + L.it)
		fly(out)
		redis.call('HSET', i, 'n', str(n), 'b', str(b))
		if mode == 'wake' then
			redis.call('HDEL', i, 'wn', 'wt', 'wd', 'a', 'we')
			ttl_at(name, NOW + L.it)
		else
			if h[5] then
				redis.call('HSET', i, 'a', str(NOW))
			end
			redis.call('PEXPIREAT', i, at, 'GT')
			redis.call('PEXPIREAT', q, at, 'GT')
			redis.call('PEXPIREAT', f, at) -- a new key: GT sets none
		end
		return out
	end
	if num(h[3]) > 0 then
		redis.call('HSET', i, 'n', str(n), 'b', str(b))
	end
	if mode == 'wake' then
		return {'EMPTY'}
	end
	if wait == 0 then
		if h[5] then
			redis.call('HSET', i, 'a', str(NOW))
		end
		local at = str(NOW + L.it)
		redis.call('PEXPIREAT', i, at, 'GT')
		return {'EMPTY'}
	end
	redis.call('HSET', i, 'wn', NODE, 'wt', token, 'wd', str(NOW + wait),
	    'a', str(NOW), 'we', epoch and str(epoch) or '')
	redis.call('PEXPIREAT', i, str(NOW + wait + L.it), 'GT')
	if h[5] and h[5] ~= NODE and num(h[7]) > NOW then
		redis.call('PUBLISH', P .. 'node:' .. h[5],
		    'displace ' .. h[6] .. ' ' .. name)
	end
	return {'HELD'}
end

-- The long way: an indexed inbox, or messages in flight.
local states = node_states(nodes)
local unknown = unknown_nodes(name, states, nil, nil)
if #unknown > 0 then
	table.insert(unknown, 1, 'NODES')
	return unknown
end
requeue_dead(name, nil, states)
if mode == 'get' and ack ~= '' then
	settle(name, ack)
end
drop_stale(name)
local w = redis.call('HMGET', i, 'wn', 'wt', 'wd')
if mode == 'wake' and w[1] ~= NODE then
	finish()
	return {'STALE'}
end
local out, bytes = {'OK'}, 0
local got = max == 1 and {redis.call('LPOP', q)} or
    redis.call('LPOP', q, max)
for _, e in ipairs(got or {}) do
	if e then -- drop_stale left only live ones
		local _, _, _, _, len = parse(e)
		out[#out + 1] = e
		bytes = bytes + len
	end
end
if #out > 1 then
	redis.call('HINCRBY', i, 'n', str(1 - #out))
	redis.call('HINCRBY', i, 'b', str(-bytes))
	touch(name)
	fly(out)
	if mode == 'wake' then
		redis.call('HDEL', i, 'wn', 'wt', 'wd', 'a', 'we')
		setexp(name, NOW + L.it)
	else
		active(name)
	end
	redis.call('PEXPIREAT', f, keys_at(name))
	finish()
	return out
end
if mode == 'wake' then
	finish()
	return {'EMPTY'}
end
active(name)
if wait == 0 then
	finish()
	return {'EMPTY'}
end
redis.call('HSET', i, 'wn', NODE, 'wt', token, 'wd', str(NOW + wait),
    'a', str(NOW), 'we', epoch and str(epoch) or '')
extend(name, NOW + wait + L.it)
if w[1] and w[1] ~= NODE and num(w[3]) > NOW then
	redis.call('PUBLISH', P .. 'node:' .. w[1],
	    'displace ' .. w[2] .. ' ' .. name)
end
finish()
return {'HELD'}
