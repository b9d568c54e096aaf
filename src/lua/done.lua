-- done.lua - the delivery of messages ID... of inbox NAME is over.
-- Delivered (DELIVERED 1) to a GET without ack=, they are deleted; to an
-- ack= GET (ACK 1), they stay in flight awaiting its acknowledgement
-- (common.lua: Acknowledgements), numbered in the order deliveries
-- end, and an indexed inbox is due for a reap when the first outlives
-- message-timeout.  Not delivered, they go back before every later
-- message, unless they outlived message-timeout.  A delivery to a plain
-- inbox without ack= costs the in-flight entries' deletion and, the
-- inbox being idle then, that of its counts.
-- KEYS: NAME's :i :q :f, its slot's :x.  ARGV: NAME DELIVERED ACK ID...
-- Returns 1, or 0 when none was in flight.
local name, delivered, ack = ARGV[12], ARGV[13] == '1', ARGV[14] == '1'
local i, f = KEYS[1], KEYS[3]
set_xkey(KEYS[4])
local ids = {}
for k = 15, #ARGV do
	ids[#ids + 1] = ARGV[k]
end
if #ids == 0 then
	return 0
end
if delivered and not ack then
	local n = redis.call('HDEL', f, unpack(ids))
	if n == 0 then
		return 0
	end
	stat('delivered', n)
	local h = redis.call('HMGET', i, 'x', 'n')
	if not h[1] and num(h[2]) == 0 and redis.call('HLEN', f) == 0 then
		redis.call('HDEL', i, 'n', 'b', 'an', 'ab', 'ad')
	end
	return 1
end
-- The entries still this node's: another's put-back may have taken one.
local vs, mine = redis.call('HMGET', f, unpack(ids)), {}
for k = 1, #ids do
	if vs[k] then
		local node, _, e, _, epoch = inflight(vs[k])
		if node ~= '' then
			mine[#mine + 1] = {ids[k], e, epoch}
		end
	end
end
if #mine == 0 then
	return 0
end
-- Delivered to an ack= GET: unless another ack= GET came since its pop
-- (its client gave up on this one, or it would not have asked again),
-- each waits for its acknowledgement; one that came after goes back,
-- as if not delivered, so that an ack of what the newer GET took cannot
-- delete it unread.
local back = mine
if delivered then
	local c = redis.call('HMGET', i, 'ho', 'an', 'ab', 'x', 'ad', 'ac')
	local ho, args, bytes, at = num(c[1]), {}, 0, tonumber(c[5])
	local stay = {}
	back = {}
	for _, m in ipairs(mine) do
		if m[3] == num(c[6]) then
			stay[#stay + 1] = m
		else
			back[#back + 1] = m
		end
	end
	for k, m in ipairs(stay) do
		local _, _, enq, _, len = parse(m[2])
		args[#args + 1] = m[1]
		args[#args + 1] = awaiting(ho + k, m[2])
		bytes = bytes + len
		at = math.min(at or enq + L.mt, enq + L.mt)
	end
	if #stay > 0 then
		if c[4] then
			-- Indexed: its reap drops them on time (a plain
			-- inbox's go in the gauges' walk).
			redis.call('ZADD', XKEY, 'LT', str(at), 'i' .. name)
			due(at)
		end
		redis.call('HSET', f, unpack(args))
		redis.call('HSET', i, 'ho', str(ho + #stay), 'an',
		    str(num(c[2]) + #stay), 'ab', str(num(c[3]) + bytes), 'ad',
		    str(at))
		stat('delivered', #stay)
	end
	if #back == 0 then
		return 1
	end
end
for _, m in ipairs(back) do
	redis.call('HDEL', f, m[1])
end
if not exists(name) then
	return 0
end
active(name)
-- The youngest first: each then goes in before the ones after it.
for k = #back, 1, -1 do
	requeue(name, back[k][2], true)
end
wake(name)
finish()
return 1
