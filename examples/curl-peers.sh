#!/usr/bin/env bash
# curl-peers.sh - two peers set up a WebRTC call through inboxd with curl.
#
# The caller drops its SDP offer into the callee's inbox; the callee
# long-polls its inbox, reads who sent it (X-From) and drops its SDP
# answer into the caller's inbox; then both trickle their ICE candidates
# to each other, one message each.  The SDPs and candidates are the real
# ones Chromium emitted, from test/data.
#
# Usage:
#   ./inboxd -d -f etc/inboxd.conf &
#   examples/curl-peers.sh
#
# Environment:
#   INBOXD_URL  the server (default http://127.0.0.1:8080)
#   TESTDATA    the directory of offer.sdp, answer.sdp and candidates.json
#               (default: test/data beside this script's directory)
#
# Needs curl and jq.  Exits non-zero if anything arrives changed or not
# at all.

set -euo pipefail

URL=${INBOXD_URL:-http://127.0.0.1:8080}
DATA=${TESTDATA:-$(cd "$(dirname "$0")/.." && pwd)/test/data}

# Inbox names are whatever the peers like; random ones do not collide with
# an earlier run whose inboxes have not expired yet.
run=$$-$RANDOM
CALLER=caller-$run
CALLEE=callee-$run
PASSWORD=secret

for tool in curl jq; do
	command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

die() {
	echo "$0: $*" >&2
	exit 1
}

# The value of header $2 in the header dump $1 (curl -D).
header() {
	tr -d '\r' <"$1" | sed -n "s/^$2:[[:space:]]*//Ip" | tail -n 1
}

# Percent-encode a name for ?to= (RFC 3986).
urlencode() {
	jq -rn --arg s "$1" '$s | @uri'
}

# First contact: the first request of a name creates its inbox with the
# password it carries.  An empty inbox with wait=0 answers 204 at once.
hello() {
	local code
	code=$(curl -sS -o "$tmp/body" -w '%{http_code}' \
		-u "$1:$PASSWORD" "$URL/inbox?wait=0") ||
		die "cannot reach inboxd at $URL"
	[ "$code" = 204 ] || die "first contact of $1: HTTP $code $(cat "$tmp/body")"
	echo "$1: inbox ready"
}

# send FROM TO CONTENT-TYPE FILE: drop FILE into TO's inbox.
send() {
	local code
	code=$(curl -sS -o "$tmp/body" -w '%{http_code}' \
		-u "$1:$PASSWORD" -H "Content-Type: $3" --data-binary "@$4" \
		"$URL/inbox?to=$(urlencode "$2")")
	[ "$code" = 204 ] || die "$1 -> $2: HTTP $code $(cat "$tmp/body")"
	echo "$1 -> $2: $(wc -c <"$4") bytes of $3"
}

# receive USER FILE: long-poll USER's inbox until a message comes, store
# its body in FILE and its headers in FILE.headers.  A 204 means the wait
# ran out with nothing for us: poll again.
receive() {
	local code tries=0
	while :; do
		code=$(curl -sS -D "$2.headers" -o "$2" -w '%{http_code}' \
			-u "$1:$PASSWORD" "$URL/inbox?wait=25")
		case $code in
		200) break ;;
		204) tries=$((tries + 1))
		     [ "$tries" -lt 3 ] || die "$1: nothing arrived" ;;
		*) die "$1: HTTP $code $(cat "$2")" ;;
		esac
	done
	echo "$1 <- $(header "$2.headers" X-From): $(wc -c <"$2") bytes of" \
		"$(header "$2.headers" Content-Type)," \
		"message $(header "$2.headers" X-Message-Id)"
}

# expect FILE SENDER ORIGINAL: the message is the original, from SENDER.
expect() {
	[ "$(header "$1.headers" X-From)" = "$2" ] ||
		die "$1: X-From is not $2"
	cmp -s "$1" "$3" || die "$1 differs from $3"
}

hello "$CALLER"
hello "$CALLEE"

# The callee waits for a call; the offer wakes its long poll.
receive "$CALLEE" "$tmp/offer" &
waiting=$!
send "$CALLER" "$CALLEE" application/sdp "$DATA/offer.sdp"
wait "$waiting" || die "the callee got no offer"
expect "$tmp/offer" "$CALLER" "$DATA/offer.sdp"

# The callee answers whoever called (X-From).
caller=$(header "$tmp/offer.headers" X-From)
send "$CALLEE" "$caller" application/sdp "$DATA/answer.sdp"
receive "$CALLER" "$tmp/answer"
expect "$tmp/answer" "$CALLEE" "$DATA/answer.sdp"

# Trickle ICE: every candidate is its own message to the other peer.  A
# candidate whose usernameFragment is the offer's ICE ufrag is the caller's.
ufrag=$(tr -d '\r' <"$DATA/offer.sdp" | sed -n 's/^a=ice-ufrag://p' | head -n 1)
to_callee=0
to_caller=0
while IFS= read -r candidate; do
	if [ "$(jq -r .usernameFragment <<<"$candidate")" = "$ufrag" ]; then
		to_callee=$((to_callee + 1))
		printf '%s' "$candidate" >"$tmp/sent-callee-$to_callee"
		send "$CALLER" "$CALLEE" application/json "$tmp/sent-callee-$to_callee"
	else
		to_caller=$((to_caller + 1))
		printf '%s' "$candidate" >"$tmp/sent-caller-$to_caller"
		send "$CALLEE" "$CALLER" application/json "$tmp/sent-caller-$to_caller"
	fi
done < <(jq -c '.[]' "$DATA/candidates.json")

for i in $(seq "$to_callee"); do
	receive "$CALLEE" "$tmp/got-callee-$i"
	expect "$tmp/got-callee-$i" "$CALLER" "$tmp/sent-callee-$i"
	echo "  $(jq -r .candidate "$tmp/got-callee-$i")"
done
for i in $(seq "$to_caller"); do
	receive "$CALLER" "$tmp/got-caller-$i"
	expect "$tmp/got-caller-$i" "$CALLEE" "$tmp/sent-caller-$i"
	echo "  $(jq -r .candidate "$tmp/got-caller-$i")"
done

echo "offer, answer and $((to_callee + to_caller)) candidates arrived intact"
