#!/bin/sh
# rooms-curl.sh - a worker pool through an inboxd room, with curl only.
#
# A client opens a room and hands its token to a worker (here: the same
# script); the worker joins, and the client hears of it from a "joined"
# event in its own inbox.  The client asks who is in the room, sends its
# offer to the worker directly, and reads the worker's answer; then it
# closes the room, and the worker hears of that from a "closed" event.
# Every room event is an ordinary message, popped with GET /inbox.
#
# Usage:
#   ./inboxd -d -f etc/inboxd.conf &
#   examples/rooms-curl.sh
#
# Environment:
#   INBOXD_URL  the server (default http://127.0.0.1:8080)
#
# Needs curl, sed and grep.  Exits non-zero on any answer it did not
# expect.

set -eu

URL=${INBOXD_URL:-http://127.0.0.1:8080}

# Inbox names are whatever the peers like; random ones do not collide with
# an earlier run whose inboxes have not expired yet.
run=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
CLIENT=client-$run
WORKER=worker-$run
PASSWORD=secret

command -v curl >/dev/null || { echo "$0: needs curl" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

die() {
	echo "$0: $*" >&2
	exit 1
}

# call STATUS USER METHOD PATH [CURL-ARGS...]: one request as USER; the
# body lands in $tmp/body, the headers in $tmp/headers.  Any status but
# STATUS ends the script.
call() {
	want=$1 user=$2 method=$3 path=$4
	shift 4
	code=$(curl -sS -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' \
		-u "$user:$PASSWORD" -X "$method" "$@" "$URL$path") ||
		die "cannot reach inboxd at $URL"
	[ "$code" = "$want" ] ||
		die "$method $path as $user: HTTP $code, not $want: $(cat "$tmp/body")"
	if [ -s "$tmp/body" ]; then
		echo "$user: $method $path -> $code $(cat "$tmp/body")"
	else
		echo "$user: $method $path -> $code"
	fi
}

# The value of header $1 in the last answer.
header() {
	tr -d '\r' <"$tmp/headers" | sed -n "s/^$1:[[:space:]]*//Ip" | tail -n 1
}

# The string field $1 of the last JSON answer: enough for the room ids,
# tokens and names of this script, none of which holds a quote.
field() {
	sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$tmp/body"
}

# has TEXT: the last body holds TEXT.
has() {
	grep -qF -- "$1" "$tmp/body" || die "expected $1 in $(cat "$tmp/body")"
}

# receive USER: long-poll USER's inbox until a message comes (a 204 means
# the wait ran out with nothing: poll again).
receive() {
	tries=0
	while :; do
		code=$(curl -sS -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' \
			-u "$1:$PASSWORD" "$URL/inbox?wait=25") ||
			die "cannot reach inboxd at $URL"
		case $code in
		200) break ;;
		204) tries=$((tries + 1))
		     [ "$tries" -lt 3 ] || die "$1: nothing arrived" ;;
		*) die "$1: GET /inbox: HTTP $code $(cat "$tmp/body")" ;;
		esac
	done
	event=$(header X-Event)
	echo "$1: GET /inbox -> 200, ${event:+$event event }from" \
		"$(header X-From): $(cat "$tmp/body")"
}

# expect_event USER EVENT PEER: the message just received is room event
# EVENT about PEER.
expect_event() {
	[ "$(header X-Event)" = "$2" ] || die "$1: X-Event is not $2"
	[ "$(header X-Room)" = "$ROOM" ] || die "$1: X-Room is not $ROOM"
	[ "$(header X-From)" = "$3" ] || die "$1: X-From is not $3"
	has "\"event\":\"$2\""
	has "\"peer\":\"$3\""
}

# 1. The client creates a room: a random id and a join token, given once.
#    Its first request also creates its inbox.
call 201 "$CLIENT" POST /rooms -H 'Content-Type: application/json' \
	--data-binary '{"ttl":600}'
ROOM=$(field room)
TOKEN=$(field token)
[ -n "$ROOM" ] || die "no room id in the answer"
[ -n "$TOKEN" ] || die "no token in the answer"

# 2. The worker, handed ROOM and TOKEN, joins (and gets its inbox).
call 200 "$WORKER" POST "/rooms/$ROOM/members" -H "X-Room-Token: $TOKEN"
has "\"members\":[\"$CLIENT\",\"$WORKER\"]"

# 3. The client hears of it: a "joined" event in its own inbox.
receive "$CLIENT"
expect_event "$CLIENT" joined "$WORKER"

# 4. The client asks who is in the room.
call 200 "$CLIENT" GET "/rooms/$ROOM"
has "\"members\":[\"$CLIENT\",\"$WORKER\"]"

# 5. The client sends its offer to the worker directly, by name.
call 204 "$CLIENT" POST "/inbox?to=$WORKER" \
	-H 'Content-Type: application/json' \
	--data-binary '{"type":"offer","job":42}'

# 6. The worker pops it; X-From says whom to answer.
receive "$WORKER"
[ "$(header X-From)" = "$CLIENT" ] || die "the offer is not from $CLIENT"
[ -z "$(header X-Event)" ] || die "the offer is not an event"
has '"type":"offer"'

# 7. The worker answers.
call 204 "$WORKER" POST "/inbox?to=$CLIENT" \
	-H 'Content-Type: application/json' \
	--data-binary '{"type":"answer","job":42}'

# 8. The client reads the answer.
receive "$CLIENT"
[ "$(header X-From)" = "$WORKER" ] || die "the answer is not from $WORKER"
has '"type":"answer"'

# 9. The client closes the room; the worker gets a "closed" event.
call 204 "$CLIENT" DELETE "/rooms/$ROOM"
receive "$WORKER"
expect_event "$WORKER" closed "$CLIENT"
has '"reason":"closed"'
has '"members":[]'

# The room is gone.
call 404 "$WORKER" GET "/rooms/$ROOM"

echo "room $ROOM: joined, offer, answer and closed arrived as expected"
