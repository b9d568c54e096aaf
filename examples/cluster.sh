#!/usr/bin/env bash
# cluster.sh - a local two-node cluster to try cluster mode with: a
# redis-server of its own (loopback, a temporary directory, nothing
# saved) and two inboxd nodes on it, each on its own port, in the
# foreground until Ctrl-C, which stops all three and removes the
# directory.  `make cluster' builds inboxd and runs it.
#
#	examples/cluster.sh [INBOXD]
#
# Environment: REDIS_PORT (default 6380, not to meet a system Redis on
# 6379), NODE_PORTS (default "8081 8082").  Each node's log goes to the
# terminal with its name in front.  Needs redis-server (Debian:
# apt-get install redis-server).
set -euo pipefail

INBOXD=${1:-${INBOXD:-./inboxd}}
REDIS_PORT=${REDIS_PORT:-6380}
read -r -a ports <<<"${NODE_PORTS:-8081 8082}"

if ! command -v redis-server >/dev/null; then
	echo "cluster.sh needs redis-server: apt-get install redis-server" >&2
	exit 1
fi
if [ ! -x "$INBOXD" ]; then
	echo "cluster.sh: no $INBOXD; run make first" >&2
	exit 1
fi
for p in "$REDIS_PORT" "${ports[@]}"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "cluster.sh: port $p is taken (set REDIS_PORT or NODE_PORTS)" >&2
		exit 1
	fi
done

dir=$(mktemp -d /tmp/inboxd-cluster-XXXXXX)
pids=()
stop() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 0' INT TERM

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" \
    --save '' --appendonly no --logfile "$dir/redis.log" &
pids+=($!)
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break
	sleep 0.1
done

# The nodes' configurations: the same but for listen and node-id.
n=0
for p in "${ports[@]}"; do
	n=$((n + 1))
	cat > "$dir/node-$n.conf" <<EOF
listen 127.0.0.1:$p
store redis
redis-url redis://127.0.0.1:$REDIS_PORT/0
node-id node-$n
lease-timeout 10
EOF
	"$INBOXD" -d -f "$dir/node-$n.conf" \
	    2> >(sed -u "s/^/node-$n: /" >&2) &
	pids+=($!)
done

sleep 0.5
cat <<EOF
Redis on 127.0.0.1:$REDIS_PORT; nodes on ${ports[*]/#/127.0.0.1:}.
Let alice wait on the first node:

    curl -i -u alice:secret 'http://127.0.0.1:${ports[0]}/inbox?wait=25'

and bob send through the other; alice's request returns at once:

    curl -u bob:hunter2 --data-binary 'hello' \\
        'http://127.0.0.1:${ports[1]}/inbox?to=alice'

Ctrl-C stops the nodes and Redis.
EOF
wait
