#!/usr/bin/env bash
# run.sh - the browser tests of the examples, each in a fresh network
# namespace whose only interface is loopback, so no packet can leave the
# machine:
#   webrtc.js      two headless Chromium pages pair through inboxd with a
#                  PIN and chat over a WebRTC data channel (examples/webrtc)
#   conference.js  three pages meet in an inboxd room and see each other's
#                  fake camera over a mesh of RTCPeerConnections; one of
#                  them vanishes and the others hear that its inbox expired
#                  (examples/conference)
#   readme.js      the WebRTC chat of clients/js/README, as it is written
#                  there, in two pages against inboxd on 127.0.0.1:8080
#   relay.js       two pages of examples/webrtc connect through a TURN
#                  relay only, a coturn the test starts, with the
#                  credentials of inboxd's GET /ice
# What they share (inboxd with a config, examples/ served from another
# origin, Chromium and its flags, the deadline, screenshots) is lib.js.
#
# Usage: INBOXD=/path/to/inboxd test/browser/run.sh [TEST.js ...]
#
# Environment:
#   INBOXD    the daemon to test (default: inboxd at the top of the tree);
#             run.sh builds nothing
#   CHROMIUM  the browser (default /usr/bin/chromium, Debian's chromium)
#   BROWSER_RUNS  how many times each test pairs or meets, to print the
#             medians of the requests each page made to inboxd and of the
#             times to connected (default 1)
#
# Exits 0 when every test passed, 1 when one failed, 77 when they cannot
# run here (no Chromium, no node, no node_modules, no network namespace);
# make check counts 77 as a failure (it installs what is missing first,
# and make check BROWSER=0 is how to skip these tests).  Screenshots land
# in test/browser/out/.

set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
INBOXD=${INBOXD:-$top/inboxd}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

skip() {
	echo "test/browser: SKIP: $*" >&2
	exit 77
}

case $INBOXD in
/*) ;;
*) INBOXD=$PWD/$INBOXD ;;
esac
if [ ! -x "$INBOXD" ]; then
	echo "test/browser: FAIL: INBOXD=$INBOXD is not an executable (build it first)" >&2
	exit 1
fi
[ -x "$CHROMIUM" ] ||
	skip "no Chromium at $CHROMIUM (apt-get install chromium)"
command -v node >/dev/null ||
	skip "no node (apt-get install nodejs npm)"
[ -f "$here/node_modules/playwright-core/package.json" ] ||
	skip "no test/browser/node_modules (cd test/browser && npm ci)"
for tool in unshare ip timeout; do
	command -v "$tool" >/dev/null ||
		skip "no $tool (apt-get install util-linux iproute2 coreutils)"
done

# A network namespace of our own, with only lo, and a PID namespace, so
# that inboxd and Chromium die with the test whatever happens; as root
# directly, else inside a user namespace where we are root.
if [ "$(id -u)" = 0 ]; then
	ns=(unshare --net --pid --mount-proc --fork --kill-child)
else
	ns=(unshare --user --map-root-user --net --pid --mount-proc --fork --kill-child)
fi
if ! err=$("${ns[@]}" true 2>&1); then
	skip "cannot make a network namespace (${ns[*]}: ${err:-failed})"
fi

# BROWSER_RUNS=N: measure N times (the medians of the requests and times
# to connected); the outer deadline grows with it.
runs=${BROWSER_RUNS:-1}
case $runs in
'' | *[!0-9]* | 0) runs=1 ;;
esac
limit=$((90 + 30 * (runs - 1)))

mkdir -p "$here/out"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(webrtc.js conference.js readme.js relay.js)
failed=0
for t in "${tests[@]}"; do
	t=$(basename "$t")
	if [ ! -f "$here/$t" ]; then
		echo "test/browser: FAIL: no test $t" >&2
		failed=1
		continue
	fi
	# Each test has its own deadline (60 or 75 s, more with BROWSER_RUNS);
	# this one only catches a hang of the deadline itself.
	timeout -k 5 "$limit" "${ns[@]}" env INBOXD="$INBOXD" \
		CHROMIUM="$CHROMIUM" BROWSER_RUNS="$runs" \
		bash -c 'ip link set lo up && exec node "$1"' _ "$here/$t"
	rc=$?
	case $rc in
	0) ;;
	124 | 137) echo "test/browser: FAIL: $t killed after $limit s" >&2 ;;
	1) ;;
	77) echo "test/browser: FAIL: $t exited 77 after it ran" >&2 ;;
	*) echo "test/browser: FAIL: $t exit status $rc" >&2 ;;
	esac
	[ "$rc" -eq 0 ] || failed=1
done
exit "$failed"
