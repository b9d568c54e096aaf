-- wrk.lua - the request mixes of `make bench', one per mode:
--   inbox-send  POST /inbox?to=uR as uS, 200-byte body, R and S random
--   inbox-pop   GET /inbox?wait=0 as uS
--   nchan-send  POST /pub?id=cR, 200-byte body
--   nchan-pop   GET /sub?id=cR (oldest message at once)
-- among 1000 inboxes or channels.  Pops that find nothing are counted and
-- reported as "empty N", so a rate is never made of empty answers.

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local k = {}
		for j = 3, 0, -1 do
			k[#k + 1] = math.floor(n / 64 ^ j) % 64 + 1
		end
		out[#out + 1] = alphabet:sub(k[1], k[1]) .. alphabet:sub(k[2], k[2])
		    .. (b and alphabet:sub(k[3], k[3]) or "=")
		    .. (c and alphabet:sub(k[4], k[4]) or "=")
	end
	return table.concat(out)
end

local N = 1000
local auth = {}
for i = 0, N - 1 do
	auth[i] = "Basic " .. base64("u" .. i .. ":pw")
end
-- An ICE candidate as browsers send it, padded to 200 bytes.
local body = '{"candidate":"candidate:1467250027 1 udp 2122260223 192.168.1.7 46243 typ host generation 0 ufrag EEtu network-id 1","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"EEtuV2"}'
body = body .. string.rep(" ", 200 - #body)

local mode = "inbox-send"
local empty = 0
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	mode = args[1] or mode
	math.randomseed(os.time() + math.floor(os.clock() * 1e6))
	-- Only pops are inspected: a response hook costs wrk time.
	if not mode:find("pop") then
		response = nil
	end
end

function request()
	local r, s = math.random(0, N - 1), math.random(0, N - 1)
	if mode == "inbox-send" then
		return wrk.format("POST", "/inbox?to=u" .. r, {
			["Authorization"] = auth[s],
			["Content-Type"] = "application/json" }, body)
	elseif mode == "inbox-pop" then
		return wrk.format("GET", "/inbox?wait=0",
		    { ["Authorization"] = auth[s] })
	elseif mode == "nchan-send" then
		return wrk.format("POST", "/pub?id=c" .. r,
		    { ["Content-Type"] = "application/json" }, body)
	else
		return wrk.format("GET", "/sub?id=c" .. r)
	end
end

function response(status, headers, b)
	if status == 204 or status == 304 then
		empty = empty + 1
	end
end

function done(summary, latency, requests)
	local total = 0
	for _, t in ipairs(threads) do
		total = total + (t:get("empty") or 0)
	end
	print("empty " .. total)
end
