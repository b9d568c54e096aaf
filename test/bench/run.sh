#!/usr/bin/env bash
# run.sh - `make bench': inboxd side by side with Nchan (nginx, one worker)
# on loopback, alternating, with every figure printed against its target
# (SPEC section 6).  Loopback only; every run is bounded in time.
#
# Environment: INBOXD (the daemon), LOADGEN (test/bench/loadgen),
# BENCH_SECONDS (per wrk run, default 10), BENCH_ROUNDS (default 2).
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

# Start inboxd on an ephemeral port; sets INBOXD_PID and INBOXD_PORT.
# Start inboxd on an ephemeral port, with a log of its own; sets
# INBOXD_PID, INBOXD_PORT and INBOXD_LOG.
runs=0
start_inboxd() {
	runs=$((runs + 1))
	INBOXD_LOG=$dir/inboxd-$runs.log
	"$INBOXD" -d -f "$dir/inboxd.conf" -l 127.0.0.1:0 2>"$INBOXD_LOG" &
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
echo "$(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d); wrk -t2 -c50 -d${SECS}s, $ROUNDS rounds, alternating"
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
