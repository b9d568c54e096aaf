#!/usr/bin/env bash
# run.sh - `make bench': inboxd side by side with Nchan (nginx, one worker)
# on loopback, alternating, with every figure printed against its target
# (SPEC section 6); then cluster mode (SPEC section 8): one node, then
# two, on a private redis-server, beside the in-memory node's figures of
# the same run.  Loopback only; every run is bounded in time.
#
# Environment: INBOXD (the daemon), LOADGEN (test/bench/loadgen),
# BENCH_SECONDS (per wrk run, default 10), BENCH_ROUNDS (default 2),
# BENCH_CLUSTER (0: skip cluster mode).
set -euo pipefail
cd "$(dirname "$0")/../.."

INBOXD=${INBOXD:-./inboxd}
LOADGEN=${LOADGEN:-test/bin/loadgen}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
HELD=${BENCH_HELD:-19000}
LATENCY_HELD=10000
FILL=100000

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || need+=(libnginx-mod-nchan)
if [ "${BENCH_CLUSTER:-1}" != 0 ]; then
	command -v redis-server >/dev/null || need+=(redis-server)
	command -v redis-cli >/dev/null || need+=(redis-tools)
fi
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
	else
		echo "make bench needs: apt-get install ${need[*]}" >&2
		exit 1
	fi
fi

dir=$(mktemp -d /tmp/inboxd-bench-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

cat > "$dir/inboxd.conf" <<EOF
# Cheap Argon2: thousands of first contacts are set-up, not what is measured.
argon2-memory-kib 64
argon2-time-cost 1
connection-limit 19800
per-ip-connection-limit 0
auth-failures-per-minute 0
max-messages 100000
max-inbox-bytes 64M
max-memory 2G
EOF

# Start inboxd on an ephemeral port, with a log of its own, from the
# configuration file $1 (default: inboxd.conf above); sets INBOXD_PID,
# INBOXD_PORT and INBOXD_LOG.
runs=0
start_inboxd() {
	runs=$((runs + 1))
	INBOXD_LOG=$dir/inboxd-$runs.log
	"$INBOXD" -d -f "${1:-$dir/inboxd.conf}" -l 127.0.0.1:0 \
	    2>"$INBOXD_LOG" &
	INBOXD_PID=$!
	pids+=("$INBOXD_PID")
	for _ in $(seq 100); do
		INBOXD_PORT=$(sed -n 's/.* port \([0-9]*\)$/\1/p' "$INBOXD_LOG" | head -1)
		[ -n "$INBOXD_PORT" ] && return 0
		sleep 0.05
	done
	echo "inboxd did not start" >&2
	cat "$INBOXD_LOG" >&2
	exit 1
}

stop_inboxd() {
	kill "$INBOXD_PID"
	wait "$INBOXD_PID" || true
}

# A port below the ephemeral range (32768 up), which the load generator's
# thousands of connections leave busy, and in no socket's use.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		ss -tan | grep -q ":$p " || { echo "$p"; return; }
	done
}

start_nchan() {
	NCHAN_PORT=$(free_port)
	sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$NCHAN_PORT|g" \
	    test/bench/nchan.conf.in > "$dir/nginx.conf"
	nginx -c "$dir/nginx.conf" -p "$dir" 2>"$dir/nginx.err" &
	NCHAN_PID=$!
	pids+=("$NCHAN_PID")
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$NCHAN_PORT/pub?id=probe" \
		    -X POST -d x && break
		sleep 0.05
	done
	if ! kill -0 "$NCHAN_PID" 2>/dev/null; then
		echo "nginx did not start:" >&2
		cat "$dir/nginx.err" "$dir/nginx-error.log" >&2
		exit 1
	fi
	# The worker is the process that holds the connections.
	NCHAN_WORKER=$(pgrep -P "$NCHAN_PID" | head -1)
}

stop_nchan() {
	kill "$NCHAN_PID"
	wait "$NCHAN_PID" || true
}

# wrk RUN_NAME URL MODE: requests per second, refusing non-2xx answers.
wrk_rate() {
	local out
	out=$(wrk -t2 -c50 -d"${SECS}s" -s test/bench/wrk.lua "$2" -- "$3" 2>&1)
	if grep -q "Non-2xx" <<<"$out"; then
		echo "$1: non-2xx answers:" >&2
		echo "$out" >&2
		exit 1
	fi
	if ! grep -q "^empty 0$" <<<"$out"; then
		echo "$1: $(grep '^empty' <<<"$out") answers found nothing" >&2
	fi
	awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out"
}

value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }

declare -A sum
add() { sum[$1]=$(( ${sum[$1]:-0} + $2 )); }

echo "inboxd $("$INBOXD" -V | cut -d' ' -f2) against Nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null) in nginx $(nginx -v 2>&1 | sed 's|.*/||'), 1 worker"
echo "$(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t2 -c50 -d${SECS}s, $ROUNDS rounds, alternating"
echo

start_inboxd
start_nchan
"$LOADGEN" setup -p "$INBOXD_PORT" -n 1000 -f u%d
setup_hashes=1000
for r in $(seq "$ROUNDS"); do
	i=$(wrk_rate "inboxd send" "http://127.0.0.1:$INBOXD_PORT" inbox-send)
	n=$(wrk_rate "nchan publish" "http://127.0.0.1:$NCHAN_PORT" nchan-send)
	echo "round $r: send     inboxd $i/s  nchan $n/s"
	add send_i "$i"; add send_n "$n"
	i=$(wrk_rate "inboxd pop" "http://127.0.0.1:$INBOXD_PORT" inbox-pop)
	n=$(wrk_rate "nchan poll" "http://127.0.0.1:$NCHAN_PORT" nchan-pop)
	echo "round $r: pop      inboxd $i/s  nchan $n/s"
	add pop_i "$i"; add pop_n "$n"
	i=$(value round_trips "$("$LOADGEN" rt -p "$INBOXD_PORT" -c 50 -d "$SECS" -t inbox)")
	n=$(value round_trips "$("$LOADGEN" rt -p "$NCHAN_PORT" -c 50 -d "$SECS" -t nchan)")
	echo "round $r: wake-up  inboxd $i/s  nchan $n/s"
	add rt_i "$i"; add rt_n "$n"
done
setup_hashes=$((setup_hashes + 100))   # the round-trip pairs' first contacts
stop_inboxd
hashes=$(sed -n 's/.*stopped after \([0-9]*\) Argon2id hashes.*/\1/p' "$INBOXD_LOG")
stop_nchan

# Held polls and wake latency: a fresh server each, since clients that
# leave keep their polls held until the wait runs out.
start_inboxd
held=$("$LOADGEN" hold -p "$INBOXD_PORT" -P "$INBOXD_PID" -n "$HELD" -s 0)
stop_inboxd
start_inboxd
lat=$("$LOADGEN" hold -p "$INBOXD_PORT" -P "$INBOXD_PID" -n "$LATENCY_HELD" -s 20000)
stop_inboxd
start_nchan
nheld=$("$LOADGEN" hold -p "$NCHAN_PORT" -P "$NCHAN_WORKER" -n "$LATENCY_HELD" -s 20000 -t nchan)
stop_nchan
start_inboxd
mem=$("$LOADGEN" fill -p "$INBOXD_PORT" -P "$INBOXD_PID" -n "$FILL")
stop_inboxd

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk "BEGIN { print (($1) ? \"pass\" : \"FAIL\") }"; }
avg() { echo $(( ${sum[$1]} / ROUNDS )); }

send_i=$(avg send_i); send_n=$(avg send_n)
pop_i=$(avg pop_i); pop_n=$(avg pop_n)
rt_i=$(avg rt_i); rt_n=$(avg rt_n)
per_poll=$(value memory_per_held_poll "$held")
n_per_poll=$(value memory_per_held_poll "$nheld")
p50=$(value wake_latency_p50 "$lat"); p99=$(value wake_latency_p99 "$lat")
p999=$(value wake_latency_p999 "$lat")
n99=$(value wake_latency_p99 "$nheld")
per_msg=$(value memory_per_queued_message "$mem")
per_inbox=$(value memory_per_idle_inbox "$mem")

echo
printf '%-44s %12s %12s %7s  %-18s %s\n' figure inboxd nchan ratio target result
row() { printf '%-44s %12s %12s %7s  %-18s %s\n' "$@"; }
row "send, requests/s (200 B, 1000 inboxes)" "$send_i" "$send_n" "$(ratio "$send_i" "$send_n")" ">= 1.0x nchan" "$(verdict "$send_i >= $send_n")"
row "pop, requests/s (queued messages)" "$pop_i" "$pop_n" "$(ratio "$pop_i" "$pop_n")" ">= 1.0x nchan" "$(verdict "$pop_i >= $pop_n")"
row "send -> held GET round trips/s (50 pairs)" "$rt_i" "$rt_n" "$(ratio "$rt_i" "$rt_n")" ">= 1.0x nchan" "$(verdict "$rt_i >= $rt_n")"
row "held polls at once" "$(value held_polls "$held")" "" "" ">= 19000" "$(verdict "$(value held_polls "$held") >= 19000")"
row "memory per held poll, bytes ($HELD held)" "$per_poll" "" "" "<= 8192" "$(verdict "$per_poll <= 8192")"
row "memory per held poll, bytes (10000 held)" "" "$n_per_poll" "" "(nchan: reference)" ""
row "wake latency p50, us (10000 held)" "$p50" "$(value wake_latency_p50 "$nheld")" "" "" ""
row "wake latency p99, us (10000 held)" "$p99" "$n99" "" "< 1000" "$(verdict "$p99 < 1000")"
row "wake latency p999, us (10000 held)" "$p999" "$(value wake_latency_p999 "$nheld")" "" "" ""
row "memory per queued 190-byte message, bytes" "$per_msg" "" "" "<= 400" "$(verdict "$per_msg <= 400")"
row "memory per idle empty inbox, bytes" "$per_inbox" "" "" "<= 256" "$(verdict "$per_inbox <= 256")"
row "Argon2id hashes beyond first contacts" "$((hashes - setup_hashes))" "" "" "0" "$(verdict "$hashes == $setup_hashes")"

[ "${BENCH_CLUSTER:-1}" = 0 ] && exit 0

# ---------------------------------------------------------------- cluster
# Cluster mode: nodes with `store redis' on a redis-server of the bench's
# own (loopback, a temporary directory, no persistence), emptied between
# parts.  One node on Redis, then two with the requests spread over both
# (a wrk per node, a round trip's GET held on one node and its send
# through the other), beside the in-memory node's figures above.  Redis'
# INFO around each run gives the scripts called (EVALSHA), the commands
# those scripts ran and the CPU time of Redis' main thread, per request;
# they include the nodes' own periodic scripts (heartbeat, expiry: about
# ten a second a node), a few hundred against a run's 100,000s.

REDIS_PORT=$(free_port)
mkdir "$dir/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir/redis" \
    --save '' --appendonly no --logfile "$dir/redis.log" &
REDIS_PID=$!
pids+=("$REDIS_PID")
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
for _ in $(seq 100); do
	[ "$(rcli ping 2>/dev/null)" = PONG ] && break
	sleep 0.05
done
if [ "$(rcli ping 2>/dev/null)" != PONG ]; then
	echo "redis-server did not start:" >&2
	cat "$dir/redis.log" >&2
	exit 1
fi

# A node's configuration: the bench's, on this Redis, named $1; any
# further arguments are more lines.
node_conf() {
	local f=$dir/node-$1.conf id=$1
	shift
	{ cat "$dir/inboxd.conf"
	  echo "store redis"
	  echo "redis-url redis://127.0.0.1:$REDIS_PORT/0"
	  echo "node-id bench-$id"
	  for line; do echo "$line"; done; } > "$f"
	echo "$f"
}

# Start nodes 1..$1 (sets NODE_PORTS and NODE_PIDS, comma-separated, and
# the arrays NPORT and NPID); stop_nodes stops them and empties Redis.
start_nodes() {
	local k
	NPORT=(); NPID=()
	for k in $(seq "$1"); do
		start_inboxd "$(node_conf "$k" "${@:2}")"
		NPORT+=("$INBOXD_PORT"); NPID+=("$INBOXD_PID")
	done
	NODE_PORTS=$(IFS=,; echo "${NPORT[*]}")
	NODE_PIDS=$(IFS=,; echo "${NPID[*]}")
}
stop_nodes() {
	local p
	for p in "${NPID[@]}"; do
		kill "$p"
		wait "$p" || true
	done
	rcli flushall >/dev/null
}

# Redis' counters now: EVALSHA calls, every command (a script's own
# calls included) and the main thread's CPU time in microseconds.
redis_counters() {
	rcli info all | tr -d '\r' | awk -F'[:,=]' '
		$1 == "cmdstat_evalsha" { e = $3 }
		$1 == "total_commands_processed" { t = $2 }
		$1 == "used_cpu_user_main_thread" || $1 == "used_cpu_sys_main_thread" { c += $2 }
		END { printf "%d %d %.0f\n", e, t, c * 1e6 }'
}

# Add what Redis did since counters $2 (from redis_counters) to the sums
# of figure $1: evalsha_$1, inner_$1 (commands run by scripts: every
# command but the EVALSHAs and one INFO) and cpu_$1.
redis_since() {
	local e0 t0 c0 e1 t1 c1
	read -r e0 t0 c0 <<<"$2"
	read -r e1 t1 c1 <<<"$(redis_counters)"
	add "evalsha_$1" $((e1 - e0))
	add "inner_$1" $((t1 - t0 - (e1 - e0) - 1))
	add "cpu_$1" $((c1 - c0))
}

# wrk on each node's port at once, the 2 threads and 50 connections
# shared among them: "RATE REQUESTS", summed; refuses non-2xx answers.
wrk_nodes() {
	local mode=$1 k t c p out rate=0 reqs=0 w=()
	shift
	k=$#
	t=$((2 / k)); c=$((50 / k))
	for p; do
		wrk -t"$t" -c"$c" -d"${SECS}s" -s test/bench/wrk.lua \
		    "http://127.0.0.1:$p" -- "$mode" >"$dir/wrk-$p.out" 2>&1 &
		w+=($!)
	done
	wait "${w[@]}"
	for p; do
		out=$(cat "$dir/wrk-$p.out")
		if grep -q "Non-2xx" <<<"$out"; then
			echo "$mode on a node: non-2xx answers:" >&2
			echo "$out" >&2
			exit 1
		fi
		if ! grep -q "^empty 0$" <<<"$out"; then
			echo "$mode on a node: $(grep '^empty' <<<"$out") answers found nothing" >&2
		fi
		rate=$(awk -v s="$rate" '/^Requests\/sec:/ { s += $2 } END { printf "%.0f", s }' <<<"$out")
		reqs=$((reqs + $(awk '/ requests in / { print $1 }' <<<"$out")))
	done
	echo "$rate $reqs"
}

# The rates on $1 nodes, named by suffix $2, ROUNDS times: sums of
# send_$2, pop_$2, rt_$2 (per second) and of the requests and Redis'
# counters behind each.
cluster_rates() {
	local r m p before out rate reqs line
	start_nodes "$1"
	# Each node verifies a password once before it trusts it.
	for p in "${NPORT[@]}"; do
		"$LOADGEN" setup -p "$p" -n 1000 -f u%d
	done
	for r in $(seq "$ROUNDS"); do
		line="round $r: $1 node(s) on Redis:"
		for m in send pop; do
			before=$(redis_counters)
			out=$(wrk_nodes "inbox-$m" "${NPORT[@]}")
			redis_since "${m}_$2" "$before"
			read -r rate reqs <<<"$out"
			add "${m}_$2" "$rate"; add "req_${m}_$2" "$reqs"
			line+=" $m $rate/s"
		done
		before=$(redis_counters)
		out=$("$LOADGEN" rt -p "$NODE_PORTS" -c 50 -d "$SECS")
		redis_since "rt_$2" "$before"
		add "rt_$2" "$(value round_trips "$out")"
		add "req_rt_$2" "$(value round_trip_count "$out")"
		echo "$line round trips $(value round_trips "$out")/s"
	done
	stop_nodes
}

echo
echo "cluster mode: redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on loopback, no persistence; load average $(cut -d' ' -f1-3 /proc/loadavg)"
cluster_rates 1 r1
cluster_rates 2 r2

# Wake latency: 10,000 polls held across two nodes, each woken by a send
# through the other node.
start_nodes 2
clat=$("$LOADGEN" hold -p "$NODE_PORTS" -P "$NODE_PIDS" -n "$LATENCY_HELD" -s 20000)
stop_nodes

# Redis memory per idle inbox and per queued message: used_memory over
# FILL inboxes, with timeouts long enough that nothing expires meanwhile.
start_nodes 1 "inbox-timeout 600" "message-timeout 600"
cmem=$("$LOADGEN" fill -p "$NODE_PORTS" -R "$REDIS_PORT" -n "$FILL")
usage_i=$(rcli memory usage 'inboxd:{e0000000}:i')
usage_q=$(rcli memory usage 'inboxd:{e0000000}:q')
stop_nodes

# Per request (3 decimals) of figure $1 for requests in req_$2.
per() { awk -v a="${sum[$1]:-0}" -v b="${sum[$2]:-0}" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }
per1() { awk -v a="${sum[$1]:-0}" -v b="${sum[$2]:-0}" 'BEGIN { printf "%.1f", b ? a / b : 0 }'; }
# A round trip is two requests: a send and the GET it wakes.
for c in r1 r2; do
	sum[req2_rt_$c]=$(( ${sum[req_rt_$c]:-0} * 2 ))
done

send_r1=$(avg send_r1); send_r2=$(avg send_r2)
pop_r1=$(avg pop_r1); pop_r2=$(avg pop_r2)
rt_r1=$(avg rt_r1); rt_r2=$(avg rt_r2)
cp99=$(value wake_latency_p99 "$clat")
cmsg=$(value memory_per_queued_message "$cmem")
cinbox=$(value memory_per_idle_inbox "$cmem")
cpu_send=$(per1 cpu_send_r1 req_send_r1)

echo
printf '%-46s %9s %9s %9s  %-14s %s\n' "cluster figure" memory "redis 1" "redis 2" target result
crow() { printf '%-46s %9s %9s %9s  %-14s %s\n' "$@"; }
crow "send, requests/s (200 B, 1000 inboxes)" "$send_i" "$send_r1" "$send_r2" "" ""
crow "pop, requests/s (queued messages)" "$pop_i" "$pop_r1" "$pop_r2" "" ""
crow "send -> held GET round trips/s (50 pairs)" "$rt_i" "$rt_r1" "$rt_r2" "" ""
crow "EVALSHA per send" "" "$(per evalsha_send_r1 req_send_r1)" "$(per evalsha_send_r2 req_send_r2)" "1" \
    "$(verdict "$(per evalsha_send_r1 req_send_r1) <= 1.01 && $(per evalsha_send_r2 req_send_r2) <= 1.01")"
crow "EVALSHA per pop (the pop, then its ack)" "" "$(per evalsha_pop_r1 req_pop_r1)" "$(per evalsha_pop_r2 req_pop_r2)" "<= 2" \
    "$(verdict "$(per evalsha_pop_r1 req_pop_r1) <= 2.01 && $(per evalsha_pop_r2 req_pop_r2) <= 2.01")"
crow "EVALSHA per round trip (send + woken GET)" "" "$(per evalsha_rt_r1 req_rt_r1)" "$(per evalsha_rt_r2 req_rt_r2)" "<= 4" \
    "$(verdict "$(per evalsha_rt_r1 req_rt_r1) <= 4.02 && $(per evalsha_rt_r2 req_rt_r2) <= 4.02")"
crow "commands run by the scripts, per send" "" "$(per1 inner_send_r1 req_send_r1)" "$(per1 inner_send_r2 req_send_r2)" "" ""
crow "commands run by the scripts, per pop" "" "$(per1 inner_pop_r1 req_pop_r1)" "$(per1 inner_pop_r2 req_pop_r2)" "" ""
crow "commands run by the scripts, per round trip" "" "$(per1 inner_rt_r1 req_rt_r1)" "$(per1 inner_rt_r2 req_rt_r2)" "" ""
crow "Redis CPU per send, us" "" "$cpu_send" "$(per1 cpu_send_r2 req_send_r2)" "" ""
crow "Redis CPU per pop, us" "" "$(per1 cpu_pop_r1 req_pop_r1)" "$(per1 cpu_pop_r2 req_pop_r2)" "" ""
crow "Redis CPU per round trip, us" "" "$(per1 cpu_rt_r1 req_rt_r1)" "$(per1 cpu_rt_r2 req_rt_r2)" "" ""
crow "wake latency p50, us (10000 held, 2 nodes)" "$p50" "" "$(value wake_latency_p50 "$clat")" "" ""
crow "wake latency p99, us (10000 held, 2 nodes)" "$p99" "" "$cp99" "< 2000" "$(verdict "$cp99 < 2000")"
crow "wake latency p999, us (10000 held, 2 nodes)" "$p999" "" "$(value wake_latency_p999 "$clat")" "" ""
crow "node memory per held poll, bytes" "$per_poll" "" "$(value memory_per_held_poll "$clat")" "" ""
crow "memory per idle empty inbox, bytes" "$per_inbox" "$cinbox" "" "<= 200" "$(verdict "$cinbox <= 200")"
cfur=$(value memory_per_further_message "$cmem")
crow "memory per queued 190-byte message, bytes" "$per_msg" "$cfur" "" "<= 320" "$(verdict "$cfur <= 320")"
crow "  an inbox's first (its queue made), bytes" "" "$cmsg" "" "" ""
echo
echo "memory: the in-memory node's heap (RSS); redis: Redis' used_memory over $FILL inboxes, beyond the 8-byte names;"
echo "  a queued message: the second in each inbox; an inbox's first also makes its queue key and its expiry index entry"
echo "MEMORY USAGE of one inbox's keys with its two messages: hash ${usage_i} B, queue ${usage_q} B"
echo "wake latency, memory: the in-memory node's above; redis 2: polls on two nodes, each woken through the other"
awk -v c="$cpu_send" 'BEGIN { if (c > 0) printf "Redis CPU per send %s us: one Redis core tops out near %.0f sends/s\n", c, 1e6 / c }'
