#!/usr/bin/env bash
# run.sh - `make bench': inboxd side by side with Nchan (nginx, one worker)
# on loopback, alternating, with every figure printed against its target
# (SPEC section 6); then both on Redis (SPEC section 8): one inboxd node,
# Nchan in Redis storage mode and two inboxd nodes, alternating, each on
# a redis-server of its own, with Redis' own counters per request.
# Loopback only, everything in one temporary directory, every run bounded
# in time; every process started here is stopped on exit.
#
# Environment: INBOXD (the daemon), LOADGEN (test/bench/loadgen),
# BENCH_SECONDS (per wrk run, default 10), BENCH_ROUNDS (default 2),
# BENCH_HELD (held polls, default 19000), BENCH_FILL (inboxes of the
# memory figures, default 100000), BENCH_CLUSTER (0: skip Redis).
# `make bench' installs what this needs (the Makefile's NEEDS_bench).
set -euo pipefail
cd "$(dirname "$0")/../.."

INBOXD=${INBOXD:-./inboxd}
LOADGEN=${LOADGEN:-test/bin/loadgen}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
HELD=${BENCH_HELD:-19000}
LATENCY_HELD=10000
FILL=${BENCH_FILL:-100000}

dir=$(mktemp -d "${TMPDIR:-/tmp}/inboxd-bench-XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

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

# Start nginx with Nchan in a directory of its own: its in-memory store,
# or with $1 a Redis port, Redis storage on that redis-server.  Sets
# NCHAN_PORT, NCHAN_PID and NCHAN_WORKER (the process that holds the
# connections).  Ready means a publish is answered 2xx: in Redis mode
# Nchan answers 503 until it has connected.
nchan_runs=0
start_nchan() {
	local d mark
	nchan_runs=$((nchan_runs + 1))
	d=$dir/nchan-$nchan_runs
	mkdir "$d"
	NCHAN_PORT=$(free_port)
	if [ -n "${1:-}" ]; then
		mark='s/^\([[:space:]]*\)#redis /\1/'
	else
		mark='/^[[:space:]]*#redis /d'
	fi
	sed -e "$mark" -e "s|@DIR@|$d|g" -e "s|@PORT@|$NCHAN_PORT|g" \
	    -e "s|@REDIS_PORT@|${1:-}|g" test/bench/nchan.conf.in > "$d/nginx.conf"
	nginx -c "$d/nginx.conf" -p "$d" 2>"$d/nginx.err" &
	NCHAN_PID=$!
	pids+=("$NCHAN_PID")
	for _ in $(seq 200); do
		curl -sf -o /dev/null "http://127.0.0.1:$NCHAN_PORT/pub?id=probe" \
		    -X POST -d x && break
		kill -0 "$NCHAN_PID" 2>/dev/null || break
		sleep 0.05
	done
	if ! curl -sf -o /dev/null "http://127.0.0.1:$NCHAN_PORT/pub?id=probe" \
	    -X POST -d x; then
		echo "nginx with Nchan did not start or does not publish:" >&2
		cat "$d/nginx.err" "$d/nginx-error.log" >&2
		exit 1
	fi
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

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
verdict() { awk "BEGIN { print (($1) ? \"PASS\" : \"MISS\") }"; }
avg() { echo $(( ${sum[$1]:-0} / ROUNDS )); }

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
# Hang-ups: 1,000 held polls half-closed at once, each timed until the
# server closes its end.
start_inboxd
hup=$("$LOADGEN" hangup -p "$INBOXD_PORT" -P "$INBOXD_PID" -n 1000)
stop_inboxd
start_nchan
nhup=$("$LOADGEN" hangup -p "$NCHAN_PORT" -P "$NCHAN_WORKER" -n 1000 -t nchan)
stop_nchan

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
row "hang-up to close, p50 ms (1000 at once)" "$(value hangup_release_p50 "$hup")" "$(value hangup_release_p50 "$nhup")" "" "" ""
row "hang-up to close, p99 ms (1000 at once)" "$(value hangup_release_p99 "$hup")" "$(value hangup_release_p99 "$nhup")" "" "<= 50" "$(verdict "$(value hangup_release_p99 "$hup") <= 50")"
row "memory per queued 190-byte message, bytes" "$per_msg" "" "" "<= 400" "$(verdict "$per_msg <= 400")"
row "memory per idle empty inbox, bytes" "$per_inbox" "" "" "<= 256" "$(verdict "$per_inbox <= 256")"
row "Argon2id hashes beyond first contacts" "$((hashes - setup_hashes))" "" "" "0" "$(verdict "$hashes == $setup_hashes")"

[ "${BENCH_CLUSTER:-1}" = 0 ] && exit 0

# ------------------------------------------------------------------ Redis
# Both on Redis, each on a redis-server of the bench's own (loopback, a
# directory under $dir, no persistence): inboxd's nodes with `store
# redis' on one, emptied after each part, and Nchan in Redis storage
# mode on the other.  Each round measures one inboxd node, then Nchan,
# then two inboxd nodes with the requests spread over both (a wrk per
# node, a round trip's GET held on one node and its send through the
# other), with the same wrk scripts and 1,000 inboxes or channels as
# above.  Redis' INFO around each run gives, per request, the script
# calls (FCALL, EVALSHA ...), the other commands (those the scripts run,
# and any sent directly) and Redis' CPU time; inboxd's include the
# nodes' own periodic calls (heartbeat, reaping, the gauges' walk: tens
# a second a node), against a run's 100,000s of requests.

# Start a redis-server named $1 on a free port; sets REDIS_PORT.
start_redis() {
	REDIS_PORT=$(free_port)
	mkdir "$dir/redis-$1"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
	    --dir "$dir/redis-$1" --save '' --appendonly no \
	    --logfile "$dir/redis-$1/redis.log" &
	pids+=("$!")
	for _ in $(seq 100); do
		[ "$(rcli "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	echo "redis-server did not start:" >&2
	cat "$dir/redis-$1/redis.log" >&2
	exit 1
}
rcli() { redis-cli -h 127.0.0.1 -p "$@"; }

# Redis' counters now, of the redis-server on port $1: "CALLS COMMANDS
# CPU CALL_TIME": the script calls (FCALL, FCALL_RO, EVALSHA, EVALSHA_RO,
# EVAL, EVAL_RO), every other command but INFO (the scripts' own
# commands among them), the process' CPU time (used_cpu_sys +
# used_cpu_user) and the time spent in the script calls (commandstats),
# both in microseconds.
redis_counters() {
	rcli "$1" info all | tr -d '\r' | awk -F'[:,=]' '
		$1 ~ /^cmdstat_(fcall|fcall_ro|evalsha|evalsha_ro|eval|eval_ro)$/ { s += $3; u += $5; next }
		$1 ~ /^cmdstat_/ && $1 != "cmdstat_info" { t += $3 }
		$1 == "used_cpu_sys" || $1 == "used_cpu_user" { c += $2 }
		END { printf "%d %d %.0f %d\n", s, t, c * 1e6, u }'
}

# Add what the Redis on port $2 did since counters $3 (from
# redis_counters) to the sums of figure $1: calls_$1, cmds_$1, cpu_$1
# and calltime_$1.
redis_since() {
	local s0 t0 c0 u0 s1 t1 c1 u1
	read -r s0 t0 c0 u0 <<<"$3"
	read -r s1 t1 c1 u1 <<<"$(redis_counters "$2")"
	add "calls_$1" $((s1 - s0))
	add "cmds_$1" $((t1 - t0))
	add "cpu_$1" $((c1 - c0))
	add "calltime_$1" $((u1 - u0))
}

# wrk with mode $1 on each port that follows at once, the 2 threads and
# 50 connections shared among them: "RATE REQUESTS EMPTY", summed, where
# EMPTY counts the pops that found nothing; refuses non-2xx answers.
wrk_nodes() {
	local mode=$1 k t c p out rate=0 reqs=0 empty=0 w=()
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
			echo "$mode on port $p: non-2xx answers:" >&2
			echo "$out" >&2
			exit 1
		fi
		if ! grep -q "^empty 0$" <<<"$out"; then
			echo "$mode on port $p: $(grep '^empty' <<<"$out") answers found nothing" >&2
		fi
		rate=$(awk -v s="$rate" '/^Requests\/sec:/ { s += $2 } END { printf "%.0f", s }' <<<"$out")
		reqs=$((reqs + $(awk '/ requests in / { print $1 }' <<<"$out")))
		empty=$((empty + $(awk '$1 == "empty" { print $2 }' <<<"$out")))
	done
	echo "$rate $reqs $empty"
}

# Send and pop with wrk, then round trips, against the servers of type
# $3 (inbox or nchan) on the ports $4..., with figure names ending in $1
# and Redis' counters read on port $2: sums of send_$1, pop_$1, rt_$1
# (per second), req_send_$1, req_pop_$1 (pops that delivered a message,
# with its ack), req_rt_$1 (round trips) and Redis' counters behind
# each.  Prints the round's rates after the words in $line.
measure() {
	local fig=$1 rport=$2 type=$3 m before out rate reqs empty
	shift 3
	for m in send pop; do
		before=$(redis_counters "$rport")
		out=$(wrk_nodes "$type-$m" "$@")
		redis_since "${m}_$fig" "$rport" "$before"
		read -r rate reqs empty <<<"$out"
		add "${m}_$fig" "$rate"
		add "req_${m}_$fig" $((reqs - empty))
		line+=" $m $rate/s"
	done
	before=$(redis_counters "$rport")
	out=$("$LOADGEN" rt -p "$(IFS=,; echo "$*")" -c 50 -d "$SECS" -t "$type")
	redis_since "rt_$fig" "$rport" "$before"
	add "rt_$fig" "$(value round_trips "$out")"
	add "req_rt_$fig" "$(value round_trip_count "$out")"
	echo "$line round trips $(value round_trips "$out")/s"
}

# A node's configuration: the bench's, on inboxd's Redis, named $1; any
# further arguments are more lines.
node_conf() {
	local f=$dir/node-$1.conf id=$1
	shift
	{ cat "$dir/inboxd.conf"
	  echo "store redis"
	  echo "redis-url redis://127.0.0.1:$IREDIS/0"
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
	rcli "$IREDIS" flushall >/dev/null
}

# One round of $1 inboxd nodes on Redis, figures named by suffix $2.
inboxd_round() {
	local p line="round $r: inboxd, $1 node(s) on Redis:"
	start_nodes "$1"
	# Each node verifies a password once before it trusts it.
	for p in "${NPORT[@]}"; do
		"$LOADGEN" setup -p "$p" -n 1000 -f u%d
	done
	measure "$2" "$IREDIS" inbox "${NPORT[@]}"
	stop_nodes
}

# Proof that Nchan keeps its messages in Redis: each publish runs at
# least one command there; fails the bench if not.
nchan_used_redis() {
	local calls=${sum[calls_send_nr]:-0} cmds=${sum[cmds_send_nr]:-0}
	local pubs=${sum[req_send_nr]:-0}
	if [ "$pubs" -eq 0 ] || [ $((calls + cmds)) -lt "$pubs" ]; then
		echo "FAIL: Nchan did not use its Redis: $calls script calls" \
		    "and $cmds other commands there for $pubs publishes" >&2
		cat "$dir/nchan-$nchan_runs/nginx-error.log" >&2
		exit 1
	fi
}

start_redis inboxd; IREDIS=$REDIS_PORT
start_redis nchan; NREDIS=$REDIS_PORT
start_nchan "$NREDIS"

echo
echo "on Redis: redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on loopback, no persistence, one for inboxd and one for Nchan (Redis storage, nchan_redis_pass in each location); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	inboxd_round 1 r1
	line="round $r: Nchan on Redis:"
	measure nr "$NREDIS" nchan "$NCHAN_PORT"
	nchan_used_redis
	inboxd_round 2 r2
done
stop_nchan

# Wake latency: 10,000 polls held across two nodes, each woken by a send
# through the other node.
start_nodes 2
clat=$("$LOADGEN" hold -p "$NODE_PORTS" -P "$NODE_PIDS" -n "$LATENCY_HELD" -s 20000)
stop_nodes

# Redis memory per idle inbox and per queued message: used_memory over
# FILL inboxes, with timeouts long enough that nothing expires meanwhile.
start_nodes 1 "inbox-timeout 600" "message-timeout 600"
cmem=$("$LOADGEN" fill -p "$NODE_PORTS" -R "$IREDIS" -n "$FILL")
usage_i=$(rcli "$IREDIS" memory usage 'inboxd:{e0000000}:i')
usage_q=$(rcli "$IREDIS" memory usage 'inboxd:{e0000000}:q')
stop_nodes

send_r1=$(avg send_r1); send_r2=$(avg send_r2); send_nr=$(avg send_nr)
pop_r1=$(avg pop_r1); pop_r2=$(avg pop_r2); pop_nr=$(avg pop_nr)
rt_r1=$(avg rt_r1); rt_r2=$(avg rt_r2); rt_nr=$(avg rt_nr)
for c in r1 r2 nr; do
	for m in send pop rt; do
		sum[all_${m}_$c]=$(( ${sum[calls_${m}_$c]:-0} + ${sum[cmds_${m}_$c]:-0} ))
	done
done

# Sum $2 per request of sum $3, with $1 decimals.
per() { awk -v d="$1" -v a="${sum[$2]:-0}" -v b="${sum[$3]:-0}" 'BEGIN { printf "%.*f", d, b ? a / b : 0 }'; }

# A row of a cost: the sums $2_r1, $2_r2 and $2_nr per request of
# req_$3_... with $4 decimals, and when a target $5 (at most) is given,
# the one node's value against it (ratio, verdict).
costrow() {
	local v1 v2 vn
	v1=$(per "$4" "$2_r1" "$3_r1"); v2=$(per "$4" "$2_r2" "$3_r2")
	vn=$(per "$4" "$2_nr" "$3_nr")
	if [ -n "${5:-}" ]; then
		crow "$1" "$v1" "$v2" "$vn" "<= $5" "$(ratio "$v1" "$5")" "$(verdict "$v1 <= $5")"
	else
		crow "$1" "$v1" "$v2" "$vn" "" "" ""
	fi
}

fmt='%-44s %9s %9s %9s  %-14s %6s  %s\n'
crow() {
	# shellcheck disable=SC2059
	printf "$fmt" "$@"
}

echo
crow "on Redis" "inboxd 1" "inboxd 2" "nchan" target ratio result
crow "send, requests/s (200 B, 1000 inboxes)" "$send_r1" "$send_r2" "$send_nr" ">= 3x nchan" \
    "$(ratio "$send_r1" "$send_nr")" "$(verdict "$send_r1 >= 3 * $send_nr")"
crow "pop with its ack, requests/s (queued)" "$pop_r1" "$pop_r2" "$pop_nr" ">= 1.0x nchan" \
    "$(ratio "$pop_r1" "$pop_nr")" "$(verdict "$pop_r1 >= $pop_nr")"
crow "send -> held GET round trips/s (50 pairs)" "$rt_r1" "$rt_r2" "$rt_nr" "(reference)" \
    "$(ratio "$rt_r1" "$rt_nr")" ""
crow "two nodes against one: send" "" "$send_r2" "" ">= 1.0x" \
    "$(ratio "$send_r2" "$send_r1")" "$(verdict "$send_r2 >= $send_r1")"
crow "two nodes against one: pop with its ack" "" "$pop_r2" "" ">= 1.0x" \
    "$(ratio "$pop_r2" "$pop_r1")" "$(verdict "$pop_r2 >= $pop_r1")"
crow "two nodes against one: round trips" "" "$rt_r2" "" ">= 1.0x" \
    "$(ratio "$rt_r2" "$rt_r1")" "$(verdict "$rt_r2 >= $rt_r1")"
costrow "Redis CPU per send, us" cpu_send req_send 1 15
costrow "Redis CPU per pop with its ack, us" cpu_pop req_pop 1 20
costrow "Redis CPU per round trip, us" cpu_rt req_rt 1
costrow "  wall time in script calls, per send, us" calltime_send req_send 1
costrow "  the same per pop with its ack, us" calltime_pop req_pop 1
costrow "script calls per send" calls_send req_send 2
costrow "script calls per pop with its ack" calls_pop req_pop 2
costrow "script calls per round trip" calls_rt req_rt 2
costrow "other commands per send" cmds_send req_send 2 6
costrow "other commands per pop with its ack" cmds_pop req_pop 2
costrow "other commands per round trip" cmds_rt req_rt 2
costrow "all commands per send" all_send req_send 2
costrow "all commands per pop with its ack" all_pop req_pop 2
costrow "all commands per round trip" all_rt req_rt 2
echo "(ratio: inboxd 1 against nchan for the rates, inboxd 2 against inboxd 1 for two nodes,"
echo " inboxd 1 against the target for the costs; a pop with its ack counts pops that delivered a message;"
echo " script calls: FCALL, FCALL_RO, EVALSHA, EVALSHA_RO, EVAL, EVAL_RO; other commands: every other"
echo " command Redis counted but INFO, most of them run by the scripts; Redis CPU: used_cpu_sys + used_cpu_user;"
echo " wall time in script calls: their commandstats usec, a clock's, so above the CPU when Redis waits for a core)"
echo "Nchan used its Redis: $(( ${sum[calls_send_nr]:-0} + ${sum[calls_pop_nr]:-0} + ${sum[calls_rt_nr]:-0} )) script calls and $(( ${sum[cmds_send_nr]:-0} + ${sum[cmds_pop_nr]:-0} + ${sum[cmds_rt_nr]:-0} )) other commands there for ${sum[req_send_nr]:-0} publishes, ${sum[req_pop_nr]:-0} polls and ${sum[req_rt_nr]:-0} round trips"
echo "in-memory inboxd of this run, for comparison: send $send_i/s, pop $pop_i/s, round trips $rt_i/s"

cfur=$(value memory_per_further_message "$cmem")
cmsg=$(value memory_per_queued_message "$cmem")
cinbox=$(value memory_per_idle_inbox "$cmem")
cp99=$(value wake_latency_p99 "$clat")
echo
crow "cluster mode, two nodes on one Redis" "memory" "" "redis 2" target "" result
crow "wake latency p50, us (10000 held)" "$p50" "" "$(value wake_latency_p50 "$clat")" "" "" ""
crow "wake latency p99, us (10000 held)" "$p99" "" "$cp99" "< 2000" "" "$(verdict "$cp99 < 2000")"
crow "wake latency p999, us (10000 held)" "$p999" "" "$(value wake_latency_p999 "$clat")" "" "" ""
crow "node memory per held poll, bytes" "$per_poll" "" "$(value memory_per_held_poll "$clat")" "" "" ""
echo "(memory: the in-memory node above; redis 2: polls held on two nodes, each woken through the other)"
echo
crow "Redis memory, one node" "now" "before" "" target ratio result
crow "per idle empty inbox, bytes" "$cinbox" 191 "" "<= 191" "$(ratio "$cinbox" 191)" "$(verdict "$cinbox <= 191")"
crow "per queued 190-byte message, bytes" "$cfur" 320 "" "<= 320" "$(ratio "$cfur" 320)" "$(verdict "$cfur <= 320")"
crow "  an inbox's first (its queue made), bytes" "$cmsg" 692 "" "" "" ""
echo "(Redis' used_memory over $FILL inboxes, beyond the 8-byte names; a queued message: the second in"
echo " each inbox; before: the previous store's figures; MEMORY USAGE of one inbox's keys with its two"
echo " messages: hash ${usage_i} B, queue ${usage_q} B)"
awk -v c="$(per 1 cpu_send_r1 req_send_r1)" 'BEGIN { if (c > 0) printf "Redis CPU per send %s us: one Redis core tops out near %.0f sends/s\n", c, 1e6 / c }'
