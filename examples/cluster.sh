#!/usr/bin/env bash
# cluster.sh - a local two-node cluster to try cluster mode with: a
# redis-server of its own (loopback, a temporary directory, nothing
# saved) and two inboxd nodes on it, each on its own port, in the
# foreground until Ctrl-C, which stops them all and removes the
# directory.  `make cluster' builds inboxd and runs it; `make cluster
# SHARDS=3' puts the nodes on a Redis Cluster of three shards instead.
#
#	examples/cluster.sh [INBOXD]
#
# Environment: REDIS_PORT (default 6380, not to meet a system Redis on
# 6379), NODE_PORTS (default "8081 8082"), SHARDS (default 1: one
# redis-server).  SHARDS=N, 3 or more, starts a Redis Cluster of N
# masters with a replica each on ports REDIS_PORT to REDIS_PORT+2N-1
# (their cluster bus 10000 above), made by redis-cli --cluster create,
# and gives the nodes all of them as seeds in redis-url.  Each node's
# log goes to the terminal with its name in front.  Needs redis-server,
# and redis-cli for SHARDS (Debian: apt-get install redis-server).
set -euo pipefail

INBOXD=${1:-${INBOXD:-./inboxd}}
REDIS_PORT=${REDIS_PORT:-6380}
SHARDS=${SHARDS:-1}
read -r -a ports <<<"${NODE_PORTS:-8081 8082}"

if ! [[ $SHARDS =~ ^[0-9]+$ ]] || [ "$SHARDS" -eq 0 ] ||
    [ "$SHARDS" -eq 2 ] || [ "$SHARDS" -gt 16 ]; then
	echo "cluster.sh: SHARDS is 1 (one redis-server) or 3 to 16 (a" \
	    "Redis Cluster has 3 masters or more), not $SHARDS" >&2
	exit 1
fi
if ! command -v redis-server >/dev/null; then
	echo "cluster.sh needs redis-server: apt-get install redis-server" >&2
	exit 1
fi
if [ "$SHARDS" -gt 1 ] && ! command -v redis-cli >/dev/null; then
	echo "cluster.sh needs redis-cli: apt-get install redis-tools" >&2
	exit 1
fi
if [ ! -x "$INBOXD" ]; then
	echo "cluster.sh: no $INBOXD; run make first" >&2
	exit 1
fi

# One Redis, or a master and a replica per shard (and their bus ports).
redis_ports=("$REDIS_PORT")
taken=("$REDIS_PORT")
if [ "$SHARDS" -gt 1 ]; then
	redis_ports=()
	taken=()
	for ((i = 0; i < 2 * SHARDS; i++)); do
		redis_ports+=($((REDIS_PORT + i)))
		taken+=($((REDIS_PORT + i)) $((REDIS_PORT + i + 10000)))
	done
fi
for p in "${taken[@]}" "${ports[@]}"; do
	if [ "$p" -gt 65535 ] ||
	    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "cluster.sh: port $p is taken (set REDIS_PORT or" \
		    "NODE_PORTS)" >&2
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

# Wait up to 5 s for something to listen on 127.0.0.1 port $1.
wait_port() {
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

if [ "$SHARDS" -eq 1 ]; then
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" \
	    --save '' --appendonly no --logfile "$dir/redis.log" &
	pids+=($!)
	wait_port "$REDIS_PORT" || true
	redis_url=redis://127.0.0.1:$REDIS_PORT/0
	redis_where="Redis on 127.0.0.1:$REDIS_PORT"
else
	# As test/harness.c builds its Redis Cluster: each node in a
	# directory of its own, nothing saved, a replica's first copy sent
	# at once, a node that stops answering for 2 s failed over.
	seeds=()
	for p in "${redis_ports[@]}"; do
		mkdir "$dir/$p"
		redis-server --bind 127.0.0.1 --port "$p" --dir "$dir/$p" \
		    --cluster-enabled yes --cluster-config-file nodes.conf \
		    --cluster-node-timeout 2000 --save '' --appendonly no \
		    --repl-diskless-sync yes --repl-diskless-sync-delay 0 \
		    --logfile "$dir/$p/redis.log" &
		pids+=($!)
		seeds+=("redis://127.0.0.1:$p")
	done
	for p in "${redis_ports[@]}"; do
		if ! wait_port "$p"; then
			echo "cluster.sh: redis-server on port $p did not" \
			    "start; see $dir/$p/redis.log" >&2
			exit 1
		fi
	done
	if ! redis-cli --cluster create "${redis_ports[@]/#/127.0.0.1:}" \
	    --cluster-replicas 1 --cluster-yes >"$dir/redis-cli.log" 2>&1
	then
		cat "$dir/redis-cli.log" >&2
		echo "cluster.sh: redis-cli --cluster create failed" >&2
		exit 1
	fi
	# Until every node says cluster_state:ok, for 20 s at most.
	deadline=$((SECONDS + 20))
	for p in "${redis_ports[@]}"; do
		until redis-cli -p "$p" cluster info 2>/dev/null |
		    grep -q '^cluster_state:ok'; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				echo "cluster.sh: the Redis Cluster is not" \
				    "ok on port $p after 20 s" >&2
				exit 1
			fi
			sleep 0.1
		done
	done
	redis_url=${seeds[*]}
	redis_where="A Redis Cluster of $SHARDS masters and $SHARDS replicas"
	redis_where+=" on 127.0.0.1:${redis_ports[0]}-${redis_ports[-1]}"
fi

# The nodes' configurations: the same but for listen and node-id.
n=0
for p in "${ports[@]}"; do
	n=$((n + 1))
	cat > "$dir/node-$n.conf" <<EOF
listen 127.0.0.1:$p
store redis
redis-url $redis_url
node-id node-$n
lease-timeout 10
EOF
	# An inboxd that does not take the configuration (several seeds
	# before it knows Redis Cluster) says why; Redis stays up.
	if [ "$SHARDS" -gt 1 ] &&
	    ! "$INBOXD" -n -f "$dir/node-$n.conf" >/dev/null; then
		echo "cluster.sh: $INBOXD does not take this redis-url;" \
		    "$redis_where stays up until Ctrl-C" >&2
		wait
		exit 1
	fi
	"$INBOXD" -d -f "$dir/node-$n.conf" \
	    2> >(sed -u "s/^/node-$n: /" >&2) &
	pids+=($!)
done

sleep 0.5
cat <<EOF
$redis_where; nodes on ${ports[*]/#/127.0.0.1:}.
Let alice wait on the first node:

    curl -i -u alice:secret 'http://127.0.0.1:${ports[0]}/inbox?wait=25'

and bob send through the other; alice's request returns at once:

    curl -u bob:hunter2 --data-binary 'hello' \\
        'http://127.0.0.1:${ports[1]}/inbox?to=alice'

Ctrl-C stops the nodes and Redis.
EOF
wait
