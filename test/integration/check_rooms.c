/*
 * check_rooms.c - rooms (SPEC section 7 as pinned down by the rooms
 * design), end to end against the real daemon: create, join, the members
 * query, fan-out, invitations, leave, remove and close, the events each
 * of those queues in the members' inboxes, presence by inbox expiry,
 * room expiry, routing, CORS and the room metrics.
 *
 * Every test starts its own inboxd on an ephemeral loopback port with
 * Argon2 down to 64 KiB and one pass, and every peer uses the password
 * "pw".  JSON bodies are compared whole (cJSON_Compare), "expires_in"
 * against the exact bounds the test's own clock allows.  Waits are
 * bounded everywhere: a GET counts as held once inboxd_waiters says so,
 * and an expiry is waited out to its deadline plus the one tick of
 * lateness SPEC section 3 allows (sleep_until), never after a guess.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

/* Every peer's password. */
#define PW "pw"

/* The second client address (see client_connect_from). */
#define OTHER "127.0.0.2"

/* The timer wheel's tick, the most SPEC section 3 lets expiry be late. */
#define TICK_MS 100
/* Scheduling slack on top of it, for a loaded machine. */
#define SLACK_MS 150

/* A random room id: 16 base64url characters; a token: 22. */
#define ROOM_ID_LEN 16
#define TOKEN_LEN 22

#define JSON_TYPE "Content-Type: application/json\r\n"

/* A room as the tests know it. */
struct room {
	char name[600];  /* the room's name (or id), decoded */
	char path[1900]; /* the same, percent-encoded for a path or query */
	char token[64];  /* the generated join token, or "" */
	long ttl;        /* seconds it was created for */
	long t0;         /* client time before the create was sent */
	long t1;         /* client time once its answer was in */
};

/* ------------------------------------------------------------- helpers */

/* r has status, or the test fails showing what came instead. */
static void
expect_status(const struct response *r, int status)
{
	ck_assert_msg(r->status == status, "status %d, expected %d:\n%s%s",
	    r->status, status, r->head, r->body ? r->body : "");
}

/* Header name of r is exactly want. */
static void
expect_header(const struct response *r, const char *name, const char *want)
{
	const char *v = response_header(r, name);

	ck_assert_msg(v != NULL && strcmp(v, want) == 0,
	    "%s is \"%s\", expected \"%s\" in:\n%s", name, v ? v : "(none)",
	    want, r->head);
}

/* The Content-Type of r is application/json. */
static void
expect_json_type(const struct response *r)
{
	const char *type = response_header(r, "Content-Type");

	ck_assert_msg(type != NULL &&
	    strncasecmp(type, "application/json", 16) == 0 &&
	    (type[16] == '\0' || type[16] == ';'),
	    "Content-Type is %s, expected application/json in:\n%s",
	    type ? type : "(none)", r->head);
}

/* The CORS headers, with X-Room and X-Event exposed too. */
static void
assert_room_cors(const struct response *r)
{
	const char *v;

	assert_cors(r);
	v = response_header(r, "Access-Control-Expose-Headers");
	ck_assert_msg(has_token(v, "X-Room") && has_token(v, "X-Event"),
	    "X-Room and X-Event are not exposed: %s", v ? v : "(none)");
}

/* A JSON error, with a message and the room CORS headers. */
static void
assert_room_error(const struct response *r, int status, const char *code)
{
	assert_error_full(r, status, code);
	assert_room_cors(r);
}

/* Percent-encode s as encodeURIComponent does. */
static void
pct(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		ck_assert(n + 4 < size);
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-_.!~*'()", c) != NULL)
			out[n++] = (char)c;
		else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

/* A room known by name only (one that may not exist). */
static void
named(struct room *rm, const char *name)
{
	memset(rm, 0, sizeof(*rm));
	snprintf(rm->name, sizeof(rm->name), "%s", name);
	pct(name, rm->path, sizeof(rm->path));
}

/* s is len base64url characters. */
static int
is_base64url(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

/* Whole seconds in ms, rounded up; 0 for none. */
static long
secs_up(long ms)
{
	return ms <= 0 ? 0 : (ms + 999) / 1000;
}

/* j equals the JSON text want, or the test fails showing both. */
static void
assert_json_eq(const cJSON *j, const char *want, const char *what)
{
	cJSON *w = cJSON_Parse(want);
	char *got;

	ck_assert_msg(w != NULL, "bad expected JSON %s", want);
	if (!cJSON_Compare(j, w, 1)) {
		got = cJSON_PrintUnformatted(j);
		ck_abort_msg("%s is %s, expected %s", what, got, want);
	}
	cJSON_Delete(w);
}

/*
 * r is status with a JSON body that is exactly {"room": rm's name,
 * "members": members (JSON text), "expires_in": N} plus "token": rm's
 * token when token is set, N being the whole seconds left of rm's ttl,
 * rounded up, as the clock allows for a request sent at sent.
 */
static void
expect_room_body(const struct response *r, int status, const struct room *rm,
    const char *members, int token, long sent)
{
	long now = client_now_ms(), lo, hi, n;
	cJSON *j, *want, *m;
	const cJSON *v;
	char *got, *exp;

	expect_status(r, status);
	expect_json_type(r);
	assert_room_cors(r);
	j = cJSON_ParseWithLength(r->body, r->body_len);
	ck_assert_msg(cJSON_IsObject(j), "body is not a JSON object: %s",
	    r->body);
	v = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	ck_assert_msg(cJSON_IsNumber(v) &&
	    v->valuedouble == (double)(long)v->valuedouble,
	    "no whole \"expires_in\" in %s", r->body);
	n = (long)v->valuedouble;
	/* The room was made between t0 and t1, answered before now. */
	lo = secs_up(rm->ttl * 1000 - (now - rm->t0) - 1);
	hi = secs_up(rm->ttl * 1000 - (sent - rm->t1) + 1);
	if (hi > rm->ttl)
		hi = rm->ttl;
	ck_assert_msg(n >= lo && n <= hi && n >= 1,
	    "\"expires_in\" is %ld, expected %ld to %ld: %s", n, lo, hi,
	    r->body);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "expires_in");
	want = cJSON_CreateObject();
	cJSON_AddStringToObject(want, "room", rm->name);
	m = cJSON_Parse(members);
	ck_assert_msg(m != NULL, "bad expected members %s", members);
	cJSON_AddItemToObject(want, "members", m);
	if (token)
		cJSON_AddStringToObject(want, "token", rm->token);
	if (!cJSON_Compare(j, want, 1)) {
		got = cJSON_PrintUnformatted(j);
		exp = cJSON_PrintUnformatted(want);
		ck_abort_msg("body %s, expected %s with \"expires_in\": %ld",
		    got, exp, hi);
	}
	cJSON_Delete(want);
	cJSON_Delete(j);
}

/* POST /rooms as user with a JSON body (NULL: none): the status. */
static int
post_rooms(struct inboxd *d, const char *user, const char *body,
    struct response *r)
{
	return req(d, "POST", "/rooms", user, PW, body ? JSON_TYPE : NULL, body,
	    body ? strlen(body) : 0, r);
}

/*
 * POST /rooms as user with body (NULL: none): 201 with user the only
 * member; the room is named name, or a random id when name is NULL; a
 * generated token comes with it when token is set; it expires in ttl.
 */
static void
create(struct inboxd *d, const char *user, const char *body,
    const char *name, int token, long ttl, struct room *rm)
{
	struct response r;
	char members[600];
	const cJSON *v;
	cJSON *j;

	memset(rm, 0, sizeof(*rm));
	rm->ttl = ttl;
	rm->t0 = client_now_ms();
	ck_assert_int_ne(post_rooms(d, user, body, &r), -1);
	rm->t1 = client_now_ms();
	expect_status(&r, 201);
	j = cJSON_ParseWithLength(r.body, r.body_len);
	ck_assert_msg(cJSON_IsObject(j), "POST /rooms body is not a JSON "
	    "object: %s", r.body);
	v = cJSON_GetObjectItemCaseSensitive(j, "room");
	ck_assert_msg(cJSON_IsString(v), "no string \"room\" in %s", r.body);
	if (name == NULL)
		ck_assert_msg(is_base64url(v->valuestring, ROOM_ID_LEN),
		    "room id \"%s\" is not %d base64url characters",
		    v->valuestring, ROOM_ID_LEN);
	else
		ck_assert_str_eq(v->valuestring, name);
	snprintf(rm->name, sizeof(rm->name), "%s", v->valuestring);
	pct(rm->name, rm->path, sizeof(rm->path));
	v = cJSON_GetObjectItemCaseSensitive(j, "token");
	if (token) {
		ck_assert_msg(cJSON_IsString(v), "no string \"token\" in %s",
		    r.body);
		ck_assert_msg(is_base64url(v->valuestring, TOKEN_LEN),
		    "token \"%s\" is not %d base64url characters",
		    v->valuestring, TOKEN_LEN);
		snprintf(rm->token, sizeof(rm->token), "%s", v->valuestring);
	}
	cJSON_Delete(j);
	snprintf(members, sizeof(members), "[\"%s\"]", user);
	expect_room_body(&r, 201, rm, members, token, rm->t0);
	response_free(&r);
}

/* POST /rooms as user with body: the JSON error status/code. */
static void
create_error(struct inboxd *d, const char *user, const char *body,
    int status, const char *code)
{
	struct response r;

	ck_assert_int_ne(post_rooms(d, user, body, &r), -1);
	ck_assert_msg(r.status == status, "POST /rooms %s: status %d, "
	    "expected %d: %s", body ? body : "(no body)", r.status, status,
	    r.body);
	assert_room_error(&r, status, code);
	response_free(&r);
}

/* POST /rooms/ROOM/members as user, X-Room-Token secret unless NULL. */
static int
join(struct inboxd *d, const char *user, const struct room *rm,
    const char *secret, struct response *r)
{
	char target[2048], extra[1200] = "";

	snprintf(target, sizeof(target), "/rooms/%s/members", rm->path);
	if (secret != NULL)
		snprintf(extra, sizeof(extra), "X-Room-Token: %s\r\n", secret);
	return req(d, "POST", target, user, PW, secret ? extra : NULL, NULL, 0,
	    r);
}

/* The join is 200 with the room's members after it. */
static void
join_ok(struct inboxd *d, const char *user, const struct room *rm,
    const char *secret, const char *members)
{
	struct response r;
	long sent = client_now_ms();

	ck_assert_int_ne(join(d, user, rm, secret, &r), -1);
	expect_room_body(&r, 200, rm, members, 0, sent);
	response_free(&r);
}

/* The join is the JSON error status/code. */
static void
join_error(struct inboxd *d, const char *user, const struct room *rm,
    const char *secret, int status, const char *code)
{
	struct response r;

	ck_assert_int_ne(join(d, user, rm, secret, &r), -1);
	assert_room_error(&r, status, code);
	response_free(&r);
}

/* GET /rooms/ROOM as user. */
static int
get_room(struct inboxd *d, const char *user, const struct room *rm,
    struct response *r)
{
	char target[2048];

	snprintf(target, sizeof(target), "/rooms/%s", rm->path);
	return get(d, user, PW, target, r);
}

/* GET /rooms/ROOM as user is 200 with members. */
static void
members_are(struct inboxd *d, const char *user, const struct room *rm,
    const char *members)
{
	struct response r;
	long sent = client_now_ms();

	ck_assert_int_ne(get_room(d, user, rm, &r), -1);
	expect_room_body(&r, 200, rm, members, 0, sent);
	response_free(&r);
}

/* GET /rooms/ROOM as user is the JSON error status/code. */
static void
get_room_error(struct inboxd *d, const char *user, const struct room *rm,
    int status, const char *code)
{
	struct response r;

	ck_assert_int_ne(get_room(d, user, rm, &r), -1);
	assert_room_error(&r, status, code);
	response_free(&r);
}

/* POST /inbox?room=ROOM as user, with Content-Type type unless NULL. */
static int
fan_out(struct inboxd *d, const char *user, const struct room *rm,
    const char *type, const void *body, size_t len, struct response *r)
{
	char target[2048], extra[512] = "";

	snprintf(target, sizeof(target), "/inbox?room=%s", rm->path);
	if (type != NULL)
		snprintf(extra, sizeof(extra), "Content-Type: %s\r\n", type);
	return req(d, "POST", target, user, PW, type ? extra : NULL, body, len,
	    r);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The strings of a JSON array, sorted and joined by commas, into out. */
static int
sorted_names(const cJSON *a, char *out, size_t size)
{
	char *names[64];
	const cJSON *e;
	int n = 0, i;

	out[0] = '\0';
	if (!cJSON_IsArray(a))
		return -1;
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsString(e) || n == 64)
			return -1;
		names[n++] = e->valuestring;
	}
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, ",", size - strlen(out) - 1);
		strncat(out, names[i], size - strlen(out) - 1);
	}
	return 0;
}

/*
 * A fan-out of body by user is 200, JSON, {"delivered": delivered (the
 * names in any order, given as JSON text), "failed": failed (JSON text)}.
 */
static void
fan_out_ok(struct inboxd *d, const char *user, const struct room *rm,
    const char *type, const char *body, const char *delivered,
    const char *failed)
{
	char got[2048], want[2048];
	struct response r;
	cJSON *j, *w;

	ck_assert_int_ne(fan_out(d, user, rm, type, body, strlen(body), &r),
	    -1);
	expect_status(&r, 200);
	expect_json_type(&r);
	assert_room_cors(&r);
	j = cJSON_ParseWithLength(r.body, r.body_len);
	ck_assert_msg(cJSON_IsObject(j) && cJSON_GetArraySize(j) == 2,
	    "fan-out answer is not an object of two keys: %s", r.body);
	w = cJSON_Parse(delivered);
	ck_assert(w != NULL);
	ck_assert_msg(sorted_names(cJSON_GetObjectItemCaseSensitive(j,
	    "delivered"), got, sizeof(got)) == 0, "no \"delivered\" list of "
	    "names in %s", r.body);
	ck_assert(sorted_names(w, want, sizeof(want)) == 0);
	ck_assert_msg(strcmp(got, want) == 0, "delivered to [%s], expected "
	    "[%s]: %s", got, want, r.body);
	cJSON_Delete(w);
	assert_json_eq(cJSON_GetObjectItemCaseSensitive(j, "failed"), failed,
	    "\"failed\"");
	cJSON_Delete(j);
	response_free(&r);
}

/* A fan-out by user is the JSON error status/code. */
static void
fan_out_error(struct inboxd *d, const char *user, const struct room *rm,
    const char *body, int status, const char *code)
{
	struct response r;

	ck_assert_int_ne(fan_out(d, user, rm, NULL, body, strlen(body), &r),
	    -1);
	assert_room_error(&r, status, code);
	response_free(&r);
}

/* POST /rooms/ROOM/invitations?peer=PEER as user. */
static int
invite(struct inboxd *d, const char *user, const struct room *rm,
    const char *peer, struct response *r)
{
	char target[4096], p[1200];

	pct(peer, p, sizeof(p));
	snprintf(target, sizeof(target), "/rooms/%s/invitations?peer=%s",
	    rm->path, p);
	return req(d, "POST", target, user, PW, NULL, NULL, 0, r);
}

/* The invitation is 204 with no body. */
static void
invite_ok(struct inboxd *d, const char *user, const struct room *rm,
    const char *peer)
{
	struct response r;

	ck_assert_int_ne(invite(d, user, rm, peer, &r), -1);
	expect_status(&r, 204);
	ck_assert_uint_eq(r.body_len, 0);
	assert_room_cors(&r);
	response_free(&r);
}

/* The invitation is the JSON error status/code. */
static void
invite_error(struct inboxd *d, const char *user, const struct room *rm,
    const char *peer, int status, const char *code)
{
	struct response r;

	ck_assert_int_ne(invite(d, user, rm, peer, &r), -1);
	assert_room_error(&r, status, code);
	response_free(&r);
}

/* DELETE /rooms/ROOM/members/NAME as user. */
static int
remove_member(struct inboxd *d, const char *user, const struct room *rm,
    const char *name, struct response *r)
{
	char target[4096], n[1200];

	pct(name, n, sizeof(n));
	snprintf(target, sizeof(target), "/rooms/%s/members/%s", rm->path, n);
	return req(d, "DELETE", target, user, PW, NULL, NULL, 0, r);
}

/* DELETE /rooms/ROOM as user. */
static int
close_room(struct inboxd *d, const char *user, const struct room *rm,
    struct response *r)
{
	char target[2048];

	snprintf(target, sizeof(target), "/rooms/%s", rm->path);
	return req(d, "DELETE", target, user, PW, NULL, NULL, 0, r);
}

/* r is 204 with no body and the room CORS headers. */
static void
expect_204(const struct response *r)
{
	expect_status(r, 204);
	ck_assert_uint_eq(r->body_len, 0);
	assert_room_cors(r);
}

/* user leaves, or the creator user removes name: 204. */
static void
remove_ok(struct inboxd *d, const char *user, const struct room *rm,
    const char *name)
{
	struct response r;

	ck_assert_int_ne(remove_member(d, user, rm, name, &r), -1);
	expect_204(&r);
	response_free(&r);
}

/* DELETE /rooms/ROOM/members/NAME as user is the error status/code. */
static void
remove_error(struct inboxd *d, const char *user, const struct room *rm,
    const char *name, int status, const char *code)
{
	struct response r;

	ck_assert_int_ne(remove_member(d, user, rm, name, &r), -1);
	assert_room_error(&r, status, code);
	response_free(&r);
}

/* DELETE /rooms/ROOM as user is the error status/code. */
static void
close_error(struct inboxd *d, const char *user, const struct room *rm,
    int status, const char *code)
{
	struct response r;

	ck_assert_int_ne(close_room(d, user, rm, &r), -1);
	assert_room_error(&r, status, code);
	response_free(&r);
}

/*
 * r is a popped event of room rm: 200, X-From from, X-Room, X-Event
 * event, Content-Type application/json, an X-Message-Id, and the body
 * {"event", "room", "peer", "reason" (null when NULL), "members"} exactly.
 */
static void
check_event(const struct response *r, const struct room *rm,
    const char *event, const char *from, const char *peer,
    const char *reason, const char *members)
{
	cJSON *j, *want, *m;
	const char *id;
	char *got, *exp;

	expect_status(r, 200);
	expect_header(r, "X-Event", event);
	expect_header(r, "X-From", from);
	expect_header(r, "X-Room", rm->name);
	expect_json_type(r);
	id = response_header(r, "X-Message-Id");
	ck_assert_msg(id != NULL && id[0] != '\0', "event without "
	    "X-Message-Id:\n%s", r->head);
	assert_room_cors(r);
	j = cJSON_ParseWithLength(r->body, r->body_len);
	ck_assert_msg(j != NULL, "event body is not JSON: %s", r->body);
	want = cJSON_CreateObject();
	cJSON_AddStringToObject(want, "event", event);
	cJSON_AddStringToObject(want, "room", rm->name);
	cJSON_AddStringToObject(want, "peer", peer);
	if (reason != NULL)
		cJSON_AddStringToObject(want, "reason", reason);
	else
		cJSON_AddNullToObject(want, "reason");
	m = cJSON_Parse(members);
	ck_assert_msg(m != NULL, "bad expected members %s", members);
	cJSON_AddItemToObject(want, "members", m);
	if (!cJSON_Compare(j, want, 1)) {
		got = cJSON_PrintUnformatted(j);
		exp = cJSON_PrintUnformatted(want);
		ck_abort_msg("event body %s, expected %s", got, exp);
	}
	cJSON_Delete(want);
	cJSON_Delete(j);
}

/* Pop user's next message: the event described as for check_event. */
static void
expect_event(struct inboxd *d, const char *user, const struct room *rm,
    const char *event, const char *from, const char *peer,
    const char *reason, const char *members)
{
	struct response r;

	ck_assert_msg(get(d, user, PW, "/inbox?wait=0", &r) == 200,
	    "%s popped no %s event from %s (status %d)", user, event, from,
	    r.status);
	check_event(&r, rm, event, from, peer, reason, members);
	response_free(&r);
}

/*
 * r is a fan-out copy of body from `from' in room rm: X-From, X-Room, the
 * sender's Content-Type, an X-Message-Id (copied to id), and no X-Event.
 */
static void
check_copy(const struct response *r, const struct room *rm, const char *from,
    const char *type, const void *body, size_t len, char id[128])
{
	const char *v;

	expect_status(r, 200);
	ck_assert_msg(r->body_len == len && memcmp(r->body, body, len) == 0,
	    "copy of %zu bytes (%.40s), expected %zu", r->body_len, r->body,
	    len);
	expect_header(r, "X-From", from);
	expect_header(r, "X-Room", rm->name);
	expect_header(r, "Content-Type", type);
	ck_assert_msg(response_header(r, "X-Event") == NULL,
	    "a message copy carries X-Event:\n%s", r->head);
	v = response_header(r, "X-Message-Id");
	ck_assert_msg(v != NULL && v[0] != '\0' && strlen(v) < 128,
	    "copy without X-Message-Id:\n%s", r->head);
	snprintf(id, 128, "%s", v);
	assert_room_cors(r);
}

/* Pop user's next message: a copy as for check_copy. */
static void
expect_copy(struct inboxd *d, const char *user, const struct room *rm,
    const char *from, const char *type, const void *body, size_t len,
    char id[128])
{
	struct response r;

	ck_assert_msg(get(d, user, PW, "/inbox?wait=0", &r) == 200,
	    "%s popped no copy from %s (status %d)", user, from, r.status);
	check_copy(&r, rm, from, type, body, len, id);
	response_free(&r);
}

/* user's inbox is empty. */
static void
expect_empty(struct inboxd *d, const char *user)
{
	struct response r;

	ck_assert_int_ne(get(d, user, PW, "/inbox?wait=0", &r), -1);
	ck_assert_msg(r.status == 204, "%s's inbox is not empty: %d\n%s%s",
	    user, r.status, r.head, r.body ? r.body : "");
	response_free(&r);
}

/* Pop a plain message of user. */
static void
expect_pop(struct inboxd *d, const char *user, const char *body,
    const char *from)
{
	struct response r;
	size_t len = strlen(body);

	ck_assert_msg(get(d, user, PW, "/inbox?wait=0", &r) == 200,
	    "%s popped nothing (status %d), expected \"%s\"", user, r.status,
	    body);
	ck_assert_msg(r.body_len == len && memcmp(r.body, body, len) == 0,
	    "%s popped \"%.*s\", expected \"%s\"", user, (int)r.body_len,
	    r.body, body);
	expect_header(&r, "X-From", from);
	response_free(&r);
}

/* A GET with wait on its own socket, once /metrics shows it held. */
static int
hold(struct inboxd *d, const char *user, int wait, long long waiters)
{
	char target[64];
	int fd;

	snprintf(target, sizeof(target), "/inbox?wait=%d", wait);
	fd = client_send(d->port, "GET", target, user, PW, NULL, NULL, 0);
	ck_assert_int_ne(fd, -1);
	wait_metric(d, "inboxd_waiters", waiters, 5000);
	return fd;
}

/* The number of comma-separated tokens of list. */
static int
count_tokens(const char *list)
{
	int n = 0;
	const char *p;

	for (p = list; p != NULL && *p != '\0'; ) {
		p += strspn(p, " ,");
		if (*p == '\0')
			break;
		n++;
		p += strcspn(p, ",");
	}
	return n;
}

/* The header list allow holds exactly the methods of want. */
static void
assert_same_tokens(const char *allow, const char *want, const char *what)
{
	char copy[256], *tok, *save;

	ck_assert_msg(allow != NULL, "%s: no Allow", what);
	ck_assert_msg(count_tokens(allow) == count_tokens(want),
	    "%s: Allow %s, expected %s", what, allow, want);
	snprintf(copy, sizeof(copy), "%s", want);
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save))
		ck_assert_msg(has_token(allow, tok), "%s: Allow %s, expected %s",
		    what, allow, want);
}

/* -------------------------------------------------------------- create */

START_TEST(test_create_without_body_gives_random_id_and_token)
{
	struct inboxd d;
	struct room rm[10], other;
	int i, k;

	start(&d, "");
	/* The create is alice's first contact. */
	create(&d, "alice", NULL, NULL, 1, 7200, &rm[0]);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 1);
	expect_empty(&d, "alice");
	ck_assert_int_eq(get(&d, "alice", "other", "/inbox?wait=0", NULL),
	    401);
	/* So is an empty body, {}, and invite_only false. */
	create(&d, "alice", "", NULL, 1, 7200, &rm[1]);
	create(&d, "alice", "{}", NULL, 1, 7200, &rm[2]);
	create(&d, "alice", "{\"invite_only\":false}", NULL, 1, 7200, &rm[3]);
	for (i = 4; i < 10; i++)
		create(&d, "alice", NULL, NULL, 1, 7200, &rm[i]);
	for (i = 0; i < 10; i++)
		for (k = 0; k < i; k++) {
			ck_assert_msg(strcmp(rm[i].name, rm[k].name) != 0,
			    "room id %s twice", rm[i].name);
			ck_assert_msg(strcmp(rm[i].token, rm[k].token) != 0,
			    "token %s twice", rm[i].token);
		}
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 10);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 10);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_created_total"), 10);
	/* The token returned is the room's secret, and only that room's. */
	contact(&d, "bob", PW);
	join_error(&d, "bob", &rm[0], rm[1].token, 403, "forbidden");
	join_ok(&d, "bob", &rm[0], rm[0].token, "[\"alice\",\"bob\"]");
	/* A room of the same id elsewhere is not it. */
	named(&other, rm[0].name);
	other.name[0] = other.name[0] == 'A' ? 'B' : 'A';
	pct(other.name, other.path, sizeof(other.path));
	join_error(&d, "bob", &other, rm[0].token, 404, "not_found");
	stop(&d);
}
END_TEST

START_TEST(test_create_with_a_chosen_name_and_password)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	/* No token comes back: the password is the secret. */
	create(&d, "alice", "{\"name\":\"standup\",\"password\":\"s3cret\"}",
	    "standup", 0, 7200, &rm);
	join_error(&d, "bob", &rm, "s3cre", 403, "forbidden");
	join_error(&d, "bob", &rm, "S3CRET", 403, "forbidden");
	join_error(&d, "bob", &rm, "s3cret ", 403, "forbidden");
	join_ok(&d, "bob", &rm, "s3cret", "[\"alice\",\"bob\"]");
	/* A chosen name without a password gets a generated token. */
	create(&d, "carol", "{\"name\":\"retro\"}", "retro", 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"carol\",\"bob\"]");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	stop(&d);
}
END_TEST

START_TEST(test_create_names_and_passwords_at_their_length_limits)
{
	struct inboxd d;
	struct room rm;
	char name[300], pw[1100], body[1500];

	start(&d, "");
	contact(&d, "bob", PW);
	memset(name, 'n', 256);
	name[256] = '\0';
	memset(pw, 'p', 1024);
	pw[1024] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"%s\"}",
	    name, pw);
	create(&d, "alice", body, name, 0, 7200, &rm);
	join_ok(&d, "bob", &rm, pw, "[\"alice\",\"bob\"]");
	/* Names are any other UTF-8, "@", "+", spaces included. */
	create(&d, "alice", "{\"name\":\"caf\xc3\xa9 room+1@home\"}",
	    "caf\xc3\xa9 room+1@home", 1, 7200, &rm);
	stop(&d);
}
END_TEST

START_TEST(test_create_ttl_defaults_to_room_timeout_and_is_clamped)
{
	static const struct {
		const char *body;
		long expires_in;
	} cases[] = {
		{ NULL, 100 },
		{ "{\"ttl\":50}", 50 },
		{ "{\"ttl\":1}", 1 },
		{ "{\"ttl\":300}", 300 },
		{ "{\"ttl\":301}", 300 },
		{ "{\"ttl\":86400}", 300 },
		{ "{\"ttl\":4294967296}", 300 },
	};
	struct inboxd d;
	struct room rm;
	size_t i;

	start(&d, "room-timeout 100\nroom-max-timeout 300\n");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		create(&d, "alice", cases[i].body, NULL, 1, cases[i].expires_in,
		    &rm);
	stop(&d);
	/* The defaults: 7200 s, and at most 86400 s. */
	start(&d, "");
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	create(&d, "alice", "{\"ttl\":86400}", NULL, 1, 86400, &rm);
	create(&d, "alice", "{\"ttl\":86401}", NULL, 1, 86400, &rm);
	create(&d, "alice", "{\"ttl\":1000000}", NULL, 1, 86400, &rm);
	stop(&d);
}
END_TEST

START_TEST(test_create_max_members_defaults_to_and_is_clamped_by_config)
{
	static const char *const bodies[] = { NULL, "{\"max_members\":10}",
		"{\"max_members\":3}", "{\"max_members\":4294967297}" };
	struct inboxd d;
	struct room rm;
	size_t i;

	/* Each room takes three members at most. */
	start(&d, "max-room-members 3\n");
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		create(&d, "alice", bodies[i], NULL, 1, 7200, &rm);
		join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
		join_ok(&d, "carol", &rm, rm.token,
		    "[\"alice\",\"bob\",\"carol\"]");
		join_error(&d, "dave", &rm, rm.token, 409, "room_full");
	}
	/* A smaller max_members holds. */
	create(&d, "alice", "{\"max_members\":2}", NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_error(&d, "carol", &rm, rm.token, 409, "room_full");
	create(&d, "alice", "{\"max_members\":1}", NULL, 1, 7200, &rm);
	join_error(&d, "bob", &rm, rm.token, 409, "room_full");
	members_are(&d, "alice", &rm, "[\"alice\"]");
	stop(&d);
}
END_TEST

START_TEST(test_invite_only_room_has_no_secret)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "bob", PW);
	create(&d, "alice", "{\"invite_only\":true}", NULL, 0, 7200, &rm);
	join_error(&d, "bob", &rm, NULL, 403, "forbidden");
	create(&d, "alice", "{\"name\":\"vip\",\"invite_only\":true}", "vip", 0,
	    7200, &rm);
	join_error(&d, "bob", &rm, NULL, 403, "forbidden");
	members_are(&d, "alice", &rm, "[\"alice\"]");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	stop(&d);
}
END_TEST

START_TEST(test_taken_name_is_409_conflict)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	create(&d, "alice", "{\"name\":\"lobby\"}", "lobby", 1, 7200, &rm);
	create_error(&d, "bob", "{\"name\":\"lobby\"}", 409, "conflict");
	create_error(&d, "alice", "{\"name\":\"lobby\",\"password\":\"x\"}",
	    409, "conflict");
	/* Names are case-sensitive. */
	create(&d, "bob", "{\"name\":\"Lobby\"}", "Lobby", 1, 7200, &rm);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_created_total"), 2);
	/* Once the room is gone, the name is free again. */
	named(&rm, "lobby");
	remove_ok(&d, "alice", &rm, "alice");
	create(&d, "bob", "{\"name\":\"lobby\"}", "lobby", 1, 7200, &rm);
	stop(&d);
}
END_TEST

START_TEST(test_create_past_max_rooms_per_inbox_is_409_too_many_rooms)
{
	struct inboxd d;
	struct room a, b;

	start(&d, "max-rooms-per-inbox 2\n");
	contact(&d, "alice", PW);
	create(&d, "alice", "{\"name\":\"a\"}", "a", 1, 7200, &a);
	create(&d, "alice", "{\"name\":\"b\"}", "b", 1, 7200, &b);
	create_error(&d, "alice", NULL, 409, "too_many_rooms");
	create_error(&d, "alice", "{\"name\":\"c\"}", 409, "too_many_rooms");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	/* Another inbox has its own count. */
	create(&d, "bob", "{\"name\":\"c\"}", "c", 1, 7200, &b);
	/* Leaving one (the last member: the room goes) frees a place. */
	remove_ok(&d, "alice", &a, "alice");
	create(&d, "alice", "{\"name\":\"d\"}", "d", 1, 7200, &a);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 3);
	stop(&d);
}
END_TEST

START_TEST(test_create_past_max_rooms_is_503_server_full)
{
	struct inboxd d;
	struct response r;
	struct room rm;

	start(&d, "max-rooms 2\n");
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	create(&d, "bob", "{\"name\":\"two\"}", "two", 1, 7200, &rm);
	/* Cluster mode counts rooms by walking over them (inboxd(8)). */
	if (cluster_mode())
		ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	ck_assert_int_eq(post_rooms(&d, "carol", NULL, &r), 503);
	assert_room_error(&r, 503, "server_full");
	ck_assert_msg(retry_after(&r) >= 1, "503 server_full with Retry-After "
	    "%ld", retry_after(&r));
	response_free(&r);
	create_error(&d, "carol", "{\"name\":\"three\"}", 503, "server_full");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_created_total"), 2);
	/* A room that goes makes room. */
	remove_ok(&d, "bob", &rm, "bob");
	if (cluster_mode())
		ck_assert_int_eq(metric(&d, "inboxd_rooms"), 1);
	create(&d, "carol", "{\"name\":\"three\"}", "three", 1, 7200, &rm);
	stop(&d);
}
END_TEST

START_TEST(test_create_with_a_body_that_is_not_the_json_described_is_400)
{
	static const char *const bad[] = {
		"[]", "\"lobby\"", "42", "null", "true", "{", "not json",
		"{\"name\":\"x\"", "{}x", "{} {}", "{\"name\":\"a\"}]",
		"{\"name\":1}", "{\"name\":null}", "{\"name\":[\"a\"]}",
		"{\"name\":\"\"}", "{\"name\":\"a/b\"}", "{\"name\":\"/\"}",
		"{\"name\":\"a\\u0001b\"}", "{\"name\":\"tab\\there\"}",
		"{\"name\":\"nl\\n\"}", "{\"name\":\"del\\u007f\"}",
		"{\"password\":\"\"}", "{\"password\":5}",
		"{\"password\":null}", "{\"password\":{}}",
		"{\"ttl\":0}", "{\"ttl\":-5}", "{\"ttl\":1.5}", "{\"ttl\":\"60\"}",
		"{\"ttl\":null}", "{\"ttl\":true}",
		"{\"max_members\":0}", "{\"max_members\":-1}",
		"{\"max_members\":2.5}", "{\"max_members\":\"3\"}",
		"{\"max_members\":false}",
		"{\"invite_only\":\"yes\"}", "{\"invite_only\":1}",
		"{\"invite_only\":null}", "{\"invite_only\":\"true\"}",
		"{\"color\":\"red\"}", "{\"Name\":\"x\"}",
		"{\"name\":\"ok\",\"extra\":1}",
		"{\"password\":\"x\",\"invite_only\":true}",
	};
	struct inboxd d;
	struct room rm;
	char big[1200], body[1300];
	size_t i;

	start(&d, "");
	contact(&d, "alice", PW);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		create_error(&d, "alice", bad[i], 400, "bad_request");
	/* A name of 257 bytes, a password of 1025. */
	memset(big, 'n', 257);
	big[257] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", big);
	create_error(&d, "alice", body, 400, "bad_request");
	memset(big, 'p', 1025);
	big[1025] = '\0';
	snprintf(body, sizeof(body), "{\"password\":\"%s\"}", big);
	create_error(&d, "alice", body, 400, "bad_request");
	/* None of it made a room or counted as a failed attempt. */
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_created_total"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	/* And the name asked for is still free. */
	create(&d, "alice", "{\"name\":\"ok\"}", "ok", 1, 7200, &rm);
	stop(&d);
}
END_TEST

START_TEST(test_room_requests_need_credentials)
{
	struct inboxd d;
	struct response r;
	struct room rm;
	char target[2048];

	start(&d, "");
	ck_assert_int_eq(req(&d, "POST", "/rooms", NULL, NULL, NULL, NULL, 0,
	    &r), 401);
	assert_room_error(&r, 401, "unauthorized");
	ck_assert_str_eq(response_header(&r, "WWW-Authenticate"),
	    "Basic realm=\"inboxd\", charset=\"UTF-8\"");
	response_free(&r);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	snprintf(target, sizeof(target), "/rooms/%s", rm.path);
	ck_assert_int_eq(req(&d, "GET", target, NULL, NULL, NULL, NULL, 0,
	    &r), 401);
	assert_room_error(&r, 401, "unauthorized");
	response_free(&r);
	ck_assert_int_eq(req(&d, "DELETE", target, "alice", "wrong", NULL,
	    NULL, 0, &r), 401);
	assert_room_error(&r, 401, "unauthorized");
	response_free(&r);
	ck_assert_int_eq(req(&d, "POST", "/rooms", "alice", "wrong", NULL,
	    NULL, 0, &r), 401);
	assert_room_error(&r, 401, "unauthorized");
	response_free(&r);
	/* The room is still alice's alone. */
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 1);
	members_are(&d, "alice", &rm, "[\"alice\"]");
	stop(&d);
}
END_TEST

/* ---------------------------------------------------------------- join */

START_TEST(test_join_with_the_token_tells_the_other_members)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	/* The joiner hears nothing of its own join. */
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 3);
	/* A join may be the joiner's first contact. */
	join_ok(&d, "dave", &rm, rm.token,
	    "[\"alice\",\"bob\",\"carol\",\"dave\"]");
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 4);
	expect_empty(&d, "dave");
	expect_event(&d, "carol", &rm, "joined", "dave", "dave", NULL,
	    "[\"alice\",\"bob\",\"carol\",\"dave\"]");
	stop(&d);
}
END_TEST

START_TEST(test_wrong_secret_is_403_and_counts_toward_429)
{
	struct inboxd d;
	struct response r;
	struct room rm;
	char target[2048], extra[128];
	int i;

	start(&d, "auth-failures-per-minute 3\n");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	/* A missing secret is refused without counting. */
	for (i = 0; i < 5; i++)
		join_error(&d, "bob", &rm, NULL, 403, "forbidden");
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	/* A wrong one counts, like a wrong password. */
	for (i = 0; i < 3; i++)
		join_error(&d, "bob", &rm, "not-the-token", 403, "forbidden");
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 3);
	/* Now even the right token is refused from this address... */
	ck_assert_int_eq(join(&d, "bob", &rm, rm.token, &r), 429);
	assert_room_error(&r, 429, "too_many_requests");
	ck_assert_msg(retry_after(&r) >= 1 && retry_after(&r) <= 60,
	    "429 with Retry-After %ld", retry_after(&r));
	response_free(&r);
	/* ... as is every other room request from it. */
	ck_assert_int_eq(get_room(&d, "alice", &rm, &r), 429);
	assert_room_error(&r, 429, "too_many_requests");
	response_free(&r);
	ck_assert_int_eq(post_rooms(&d, "alice", NULL, &r), 429);
	assert_room_error(&r, 429, "too_many_requests");
	response_free(&r);
	ck_assert_int_eq(fan_out(&d, "alice", &rm, NULL, "x", 1, &r), 429);
	assert_room_error(&r, 429, "too_many_requests");
	response_free(&r);
	ck_assert_int_eq(invite(&d, "alice", &rm, "bob", &r), 429);
	assert_room_error(&r, 429, "too_many_requests");
	response_free(&r);
	ck_assert_int_eq(close_room(&d, "alice", &rm, &r), 429);
	assert_room_error(&r, 429, "too_many_requests");
	response_free(&r);
	/* From another address the token works. */
	snprintf(target, sizeof(target), "/rooms/%s/members", rm.path);
	snprintf(extra, sizeof(extra), "X-Room-Token: %s\r\n", rm.token);
	ck_assert_int_eq(client_request_from(d.port, OTHER, "POST", target,
	    "bob", PW, extra, NULL, 0, &r), 200);
	response_free(&r);
	snprintf(target, sizeof(target), "/rooms/%s", rm.path);
	ck_assert_int_eq(client_request_from(d.port, OTHER, "GET", target,
	    "alice", PW, NULL, NULL, 0, &r), 200);
	response_free(&r);
	ck_assert_int_eq(metric_from(&d, OTHER,
	    "inboxd_rate_limited_requests_total"), 6);
	ck_assert_int_eq(metric_from(&d, OTHER, "inboxd_auth_failures_total"),
	    3);
	ck_assert_int_eq(metric_from(&d, OTHER, "inboxd_room_members"), 2);
	stop(&d);
}
END_TEST

START_TEST(test_join_unknown_room_is_404)
{
	struct inboxd d;
	struct room nope;

	start(&d, "");
	contact(&d, "bob", PW);
	named(&nope, "nope");
	join_error(&d, "bob", &nope, NULL, 404, "not_found");
	join_error(&d, "bob", &nope, "token", 404, "not_found");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_full_room_is_409_room_full_and_rejoin_is_harmless)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", "{\"max_members\":2}", NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	join_error(&d, "carol", &rm, rm.token, 409, "room_full");
	/* The secret is checked before the room's fullness. */
	join_error(&d, "carol", &rm, "wrong", 403, "forbidden");
	join_error(&d, "carol", &rm, NULL, 403, "forbidden");
	/* A member joining again: 200, whatever the secret, even full. */
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "bob", &rm, NULL, "[\"alice\",\"bob\"]");
	join_ok(&d, "bob", &rm, "wrong", "[\"alice\",\"bob\"]");
	join_ok(&d, "alice", &rm, NULL, "[\"alice\",\"bob\"]");
	/* No event, no failure counted for the member. */
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	/* Once bob has left, carol's place is free. */
	remove_ok(&d, "bob", &rm, "bob");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"carol\"]");
	stop(&d);
}
END_TEST

START_TEST(test_join_past_max_rooms_per_inbox_is_409_too_many_rooms)
{
	struct inboxd d;
	struct room a, b, c, full;

	start(&d, "max-rooms-per-inbox 2\n");
	contact(&d, "bob", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &a);
	create(&d, "carol", NULL, NULL, 1, 7200, &b);
	create(&d, "dave", NULL, NULL, 1, 7200, &c);
	create(&d, "erin", "{\"max_members\":1}", NULL, 1, 7200, &full);
	join_ok(&d, "bob", &a, a.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "bob", &b, b.token, "[\"carol\",\"bob\"]");
	join_error(&d, "bob", &c, c.token, 409, "too_many_rooms");
	/* Joined rooms count toward creating one too. */
	create_error(&d, "bob", NULL, 409, "too_many_rooms");
	/* Order: the secret, then the room's fullness, then the count. */
	join_error(&d, "bob", &c, "wrong", 403, "forbidden");
	join_error(&d, "bob", &full, full.token, 409, "room_full");
	/* A rejoin is no new room. */
	join_ok(&d, "bob", &a, a.token, "[\"alice\",\"bob\"]");
	members_are(&d, "dave", &c, "[\"dave\"]");
	remove_ok(&d, "bob", &a, "bob");
	join_ok(&d, "bob", &c, c.token, "[\"dave\",\"bob\"]");
	stop(&d);
}
END_TEST

/* -------------------------------------------------------- members query */

START_TEST(test_get_room_answers_members_only)
{
	struct inboxd d;
	struct room rm, nope;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", "{\"name\":\"lobby\"}", "lobby", 1, 7200, &rm);
	members_are(&d, "alice", &rm, "[\"alice\"]");
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	members_are(&d, "alice", &rm, "[\"alice\",\"bob\"]");
	members_are(&d, "bob", &rm, "[\"alice\",\"bob\"]");
	get_room_error(&d, "carol", &rm, 403, "forbidden");
	named(&nope, "nope");
	get_room_error(&d, "alice", &nope, 404, "not_found");
	get_room_error(&d, "carol", &nope, 404, "not_found");
	/* Once bob has left he is an outsider again. */
	remove_ok(&d, "bob", &rm, "bob");
	get_room_error(&d, "bob", &rm, 403, "forbidden");
	members_are(&d, "alice", &rm, "[\"alice\"]");
	/* Asking is not a failed attempt. */
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_percent_encoded_room_and_member_names)
{
	static const char room[] = "caf\xc3\xa9 room+1@home";
	static const char bob[] = "bob/phone@example.org";
	struct inboxd d;
	struct room rm;
	char id[128];

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, bob, PW);
	contact(&d, "carol+1", PW);
	create(&d, "alice", "{\"name\":\"caf\xc3\xa9 room+1@home\"}", room, 1,
	    7200, &rm);
	ck_assert_str_eq(rm.path, "caf%C3%A9%20room%2B1%40home");
	join_ok(&d, bob, &rm, rm.token,
	    "[\"alice\",\"bob/phone@example.org\"]");
	expect_event(&d, "alice", &rm, "joined", bob, bob, NULL,
	    "[\"alice\",\"bob/phone@example.org\"]");
	members_are(&d, bob, &rm, "[\"alice\",\"bob/phone@example.org\"]");
	fan_out_ok(&d, "alice", &rm, "text/plain", "hi",
	    "[\"bob/phone@example.org\"]", "{}");
	expect_copy(&d, bob, &rm, "alice", "text/plain", "hi", 2, id);
	invite_ok(&d, bob, &rm, "carol+1");
	expect_event(&d, "carol+1", &rm, "invited", bob, "carol+1", NULL,
	    "[\"alice\",\"bob/phone@example.org\"]");
	join_ok(&d, "carol+1", &rm, NULL,
	    "[\"alice\",\"bob/phone@example.org\",\"carol+1\"]");
	expect_event(&d, bob, &rm, "joined", "carol+1", "carol+1", NULL,
	    "[\"alice\",\"bob/phone@example.org\",\"carol+1\"]");
	/* The creator removes bob by his encoded name. */
	remove_ok(&d, "alice", &rm, bob);
	expect_event(&d, bob, &rm, "left", bob, bob, "removed",
	    "[\"alice\",\"carol+1\"]");
	members_are(&d, "carol+1", &rm, "[\"alice\",\"carol+1\"]");
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- fan-out */

START_TEST(test_fan_out_gives_every_other_member_its_own_copy)
{
	static const char bin[] = "a\0b\r\n\xff";
	struct inboxd d;
	struct response r;
	struct room rm, solo;
	char id1[128], id2[128], id3[128];

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	fan_out_ok(&d, "alice", &rm, "text/plain; charset=utf-8", "hi all",
	    "[\"bob\",\"carol\"]", "{}");
	expect_copy(&d, "bob", &rm, "alice", "text/plain; charset=utf-8",
	    "hi all", 6, id1);
	expect_copy(&d, "carol", &rm, "alice", "text/plain; charset=utf-8",
	    "hi all", 6, id2);
	ck_assert_msg(strcmp(id1, id2) != 0, "both copies are message %s",
	    id1);
	/* None for the sender. */
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	wait_metric(&d, "inboxd_room_copies_delivered_total", 2, 3000);
	/* Without a Content-Type, binary bytes exact. */
	ck_assert_int_eq(fan_out(&d, "bob", &rm, NULL, bin, sizeof(bin) - 1,
	    &r), 200);
	response_free(&r);
	expect_copy(&d, "alice", &rm, "bob", "application/octet-stream", bin,
	    sizeof(bin) - 1, id3);
	expect_copy(&d, "carol", &rm, "bob", "application/octet-stream", bin,
	    sizeof(bin) - 1, id1);
	ck_assert_str_ne(id1, id2);
	ck_assert_str_ne(id1, id3);
	expect_empty(&d, "bob");
	wait_metric(&d, "inboxd_room_copies_delivered_total", 4, 3000);
	ck_assert_int_eq(metric(&d, "inboxd_room_copies_failed_total"), 0);
	/* A room of one delivers to nobody. */
	create(&d, "carol", NULL, NULL, 1, 7200, &solo);
	fan_out_ok(&d, "carol", &solo, NULL, "echo", "[]", "{}");
	expect_empty(&d, "carol");
	/* A direct send between members keeps working, without X-Room. */
	ck_assert_int_eq(send_to(&d, "bob", PW, "carol", NULL, "direct", 6,
	    NULL), 204);
	ck_assert_int_eq(get(&d, "carol", PW, "/inbox?wait=0", &r), 200);
	expect_header(&r, "X-From", "bob");
	ck_assert_ptr_null(response_header(&r, "X-Room"));
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_fan_out_to_a_full_inbox_does_not_block_the_others)
{
	struct inboxd d;
	struct room rm;
	char id[128];

	start(&d, "max-messages 2\n");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	join_ok(&d, "dave", &rm, rm.token,
	    "[\"alice\",\"bob\",\"carol\",\"dave\"]");
	expect_event(&d, "alice", &rm, "joined", "dave", "dave", NULL,
	    "[\"alice\",\"bob\",\"carol\",\"dave\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "dave", "dave", NULL,
	    "[\"alice\",\"bob\",\"carol\",\"dave\"]");
	expect_event(&d, "carol", &rm, "joined", "dave", "dave", NULL,
	    "[\"alice\",\"bob\",\"carol\",\"dave\"]");
	/* carol's inbox is full. */
	ck_assert_int_eq(send_to(&d, "erin", PW, "carol", NULL, "one", 3,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "erin", PW, "carol", NULL, "two", 3,
	    NULL), 204);
	fan_out_ok(&d, "alice", &rm, "text/plain", "to all",
	    "[\"bob\",\"dave\"]", "{\"carol\":\"inbox_full\"}");
	expect_copy(&d, "bob", &rm, "alice", "text/plain", "to all", 6, id);
	expect_copy(&d, "dave", &rm, "alice", "text/plain", "to all", 6, id);
	wait_metric(&d, "inboxd_room_copies_delivered_total", 2, 3000);
	ck_assert_int_eq(metric(&d, "inboxd_room_copies_failed_total"), 1);
	/* An event that does not fit is dropped; the others get theirs. */
	ck_assert_int_eq(metric(&d, "inboxd_room_events_dropped_total"), 0);
	remove_ok(&d, "dave", &rm, "dave");
	ck_assert_int_eq(metric(&d, "inboxd_room_events_dropped_total"), 1);
	expect_event(&d, "alice", &rm, "left", "dave", "dave", "left",
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "left", "dave", "dave", "left",
	    "[\"alice\",\"bob\",\"carol\"]");
	/* carol has her own two, and nothing of the room. */
	expect_pop(&d, "carol", "one", "erin");
	expect_pop(&d, "carol", "two", "erin");
	expect_empty(&d, "carol");
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "dave");
	/* With room again, she gets the next one. */
	fan_out_ok(&d, "bob", &rm, "text/plain", "again",
	    "[\"alice\",\"carol\"]", "{}");
	expect_copy(&d, "carol", &rm, "bob", "text/plain", "again", 5, id);
	stop(&d);
}
END_TEST

START_TEST(test_fan_out_errors)
{
	struct inboxd d;
	struct response r;
	struct room rm, nope;
	char target[2048], big[100];

	start(&d, "max-message-size 64\n");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", "{\"name\":\"r\"}", "r", 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	/* Not a member. */
	fan_out_error(&d, "carol", &rm, "intruder", 403, "forbidden");
	/* No such room. */
	named(&nope, "nope");
	fan_out_error(&d, "alice", &nope, "lost", 404, "not_found");
	/* Both to and room. */
	snprintf(target, sizeof(target), "/inbox?to=bob&room=%s", rm.path);
	ck_assert_int_eq(req(&d, "POST", target, "alice", PW, NULL, "both", 4,
	    &r), 400);
	assert_room_error(&r, 400, "bad_request");
	response_free(&r);
	snprintf(target, sizeof(target), "/inbox?room=%s&to=carol", rm.path);
	ck_assert_int_eq(req(&d, "POST", target, "alice", PW, NULL, "both", 4,
	    &r), 400);
	assert_room_error(&r, 400, "bad_request");
	response_free(&r);
	/* Larger than max-message-size. */
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(fan_out(&d, "alice", &rm, NULL, big, sizeof(big),
	    &r), 413);
	assert_room_error(&r, 413, "payload_too_large");
	response_free(&r);
	/* Nothing went anywhere. */
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	ck_assert_int_eq(metric(&d, "inboxd_room_copies_delivered_total"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_room_copies_failed_total"), 0);
	/* A member that left may not send to the room. */
	remove_ok(&d, "bob", &rm, "bob");
	expect_event(&d, "alice", &rm, "left", "bob", "bob", "left",
	    "[\"alice\"]");
	fan_out_error(&d, "bob", &rm, "gone", 403, "forbidden");
	expect_empty(&d, "alice");
	stop(&d);
}
END_TEST

START_TEST(test_held_gets_are_woken_by_a_fan_out)
{
	struct inboxd d;
	struct response r;
	struct room rm;
	int fb, fc;
	long t;
	char id[128];

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	fb = hold(&d, "bob", 10, 1);
	fc = hold(&d, "carol", 10, 2);
	t = client_now_ms();
	fan_out_ok(&d, "alice", &rm, "application/sdp", "v=0",
	    "[\"bob\",\"carol\"]", "{}");
	ck_assert_int_eq(client_read(fb, &r, 5000), 0);
	check_copy(&r, &rm, "alice", "application/sdp", "v=0", 3, id);
	response_free(&r);
	ck_assert_int_eq(client_read(fc, &r, 5000), 0);
	check_copy(&r, &rm, "alice", "application/sdp", "v=0", 3, id);
	response_free(&r);
	ck_assert_msg(client_now_ms() - t < 1000, "held GETs answered %ld ms "
	    "after the fan-out", client_now_ms() - t);
	close(fb);
	close(fc);
	wait_metric(&d, "inboxd_waiters", 0, 3000);
	/* An event wakes a held GET too. */
	fb = hold(&d, "bob", 10, 1);
	remove_ok(&d, "carol", &rm, "carol");
	ck_assert_int_eq(client_read(fb, &r, 5000), 0);
	check_event(&r, &rm, "left", "carol", "carol", "left",
	    "[\"alice\",\"bob\"]");
	response_free(&r);
	close(fb);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------- invitations */

START_TEST(test_invitation_lets_a_peer_join_without_the_secret)
{
	struct inboxd d;
	struct response r;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	/* Any member may invite; only the invitee hears of it. */
	ck_assert_int_eq(invite(&d, "bob", &rm, "carol", &r), 204);
	expect_204(&r);
	response_free(&r);
	expect_event(&d, "carol", &rm, "invited", "bob", "carol", NULL,
	    "[\"alice\",\"bob\"]");
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	join_ok(&d, "carol", &rm, NULL, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_empty(&d, "carol");
	/* The join used the invitation up. */
	remove_ok(&d, "carol", &rm, "carol");
	join_error(&d, "carol", &rm, NULL, 403, "forbidden");
	/* A wrong secret with an invitation still gets in. */
	invite_ok(&d, "alice", &rm, "carol");
	join_ok(&d, "carol", &rm, "wrong", "[\"alice\",\"bob\",\"carol\"]");
	stop(&d);
}
END_TEST

START_TEST(test_invite_only_room_admits_the_creators_invitees_only)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	create(&d, "alice", "{\"name\":\"vip\",\"invite_only\":true}", "vip", 0,
	    7200, &rm);
	join_error(&d, "bob", &rm, NULL, 403, "forbidden");
	invite_ok(&d, "alice", &rm, "bob");
	expect_event(&d, "bob", &rm, "invited", "alice", "bob", NULL,
	    "[\"alice\"]");
	join_ok(&d, "bob", &rm, NULL, "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	/* Only the creator invites here; outsiders never. */
	invite_error(&d, "bob", &rm, "carol", 403, "forbidden");
	invite_error(&d, "dave", &rm, "carol", 403, "forbidden");
	expect_empty(&d, "carol");
	join_error(&d, "carol", &rm, NULL, 403, "forbidden");
	invite_ok(&d, "alice", &rm, "carol");
	expect_event(&d, "carol", &rm, "invited", "alice", "carol", NULL,
	    "[\"alice\",\"bob\"]");
	/* An invitation is the invitee's alone. */
	join_error(&d, "dave", &rm, NULL, 403, "forbidden");
	join_ok(&d, "carol", &rm, NULL, "[\"alice\",\"bob\",\"carol\"]");
	members_are(&d, "carol", &rm, "[\"alice\",\"bob\",\"carol\"]");
	stop(&d);
}
END_TEST

START_TEST(test_invitation_errors_and_repeats)
{
	struct inboxd d;
	struct response r;
	struct room rm, nope;
	char target[2048];

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	contact(&d, "erin", PW);
	create(&d, "alice", "{\"max_members\":2}", NULL, 1, 7200, &rm);
	named(&nope, "nope");
	invite_error(&d, "alice", &nope, "bob", 404, "not_found");
	invite_error(&d, "alice", &rm, "nobody", 404, "not_found");
	invite_error(&d, "bob", &rm, "carol", 403, "forbidden");
	snprintf(target, sizeof(target), "/rooms/%s/invitations", rm.path);
	ck_assert_int_eq(req(&d, "POST", target, "alice", PW, NULL, NULL, 0,
	    &r), 400);
	assert_room_error(&r, 400, "bad_request");
	response_free(&r);
	snprintf(target, sizeof(target), "/rooms/%s/invitations?peer=",
	    rm.path);
	ck_assert_int_eq(req(&d, "POST", target, "alice", PW, NULL, NULL, 0,
	    &r), 400);
	assert_room_error(&r, 400, "bad_request");
	response_free(&r);
	/* Inviting a member does nothing. */
	invite_ok(&d, "alice", &rm, "alice");
	expect_empty(&d, "alice");
	/* Inviting again sends the event again. */
	invite_ok(&d, "alice", &rm, "bob");
	invite_ok(&d, "alice", &rm, "bob");
	expect_event(&d, "bob", &rm, "invited", "alice", "bob", NULL,
	    "[\"alice\"]");
	expect_event(&d, "bob", &rm, "invited", "alice", "bob", NULL,
	    "[\"alice\"]");
	expect_empty(&d, "bob");
	/* At most max_members invitations wait at once. */
	invite_ok(&d, "alice", &rm, "carol");
	invite_error(&d, "alice", &rm, "dave", 409, "too_many_invitations");
	expect_empty(&d, "dave");
	/* bob's again is still one of the two. */
	invite_ok(&d, "alice", &rm, "bob");
	/* The join uses one up: room for another, and the room is full. */
	join_ok(&d, "carol", &rm, NULL, "[\"alice\",\"carol\"]");
	invite_ok(&d, "alice", &rm, "dave");
	join_error(&d, "dave", &rm, NULL, 409, "room_full");
	invite_error(&d, "alice", &rm, "erin", 409, "too_many_invitations");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	stop(&d);
}
END_TEST

/* ---------------------------------------------------- leave and remove */

START_TEST(test_member_leaves_and_the_others_hear_it)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	remove_ok(&d, "bob", &rm, "bob");
	expect_event(&d, "alice", &rm, "left", "bob", "bob", "left",
	    "[\"alice\",\"carol\"]");
	expect_event(&d, "carol", &rm, "left", "bob", "bob", "left",
	    "[\"alice\",\"carol\"]");
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	/* Not a member any more: leaving again, or removing, is 403. */
	remove_error(&d, "bob", &rm, "bob", 403, "forbidden");
	remove_error(&d, "bob", &rm, "carol", 403, "forbidden");
	get_room_error(&d, "bob", &rm, 403, "forbidden");
	/* A member that is not the creator may not remove another. */
	remove_error(&d, "carol", &rm, "alice", 403, "forbidden");
	remove_error(&d, "carol", &rm, "bob", 403, "forbidden");
	members_are(&d, "carol", &rm, "[\"alice\",\"carol\"]");
	expect_empty(&d, "alice");
	stop(&d);
}
END_TEST

START_TEST(test_creator_removes_a_member_who_is_told_too)
{
	struct inboxd d;
	struct room rm, nope;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	remove_ok(&d, "alice", &rm, "carol");
	expect_event(&d, "bob", &rm, "left", "carol", "carol", "removed",
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "carol", &rm, "left", "carol", "carol", "removed",
	    "[\"alice\",\"bob\"]");
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	get_room_error(&d, "carol", &rm, 403, "forbidden");
	members_are(&d, "bob", &rm, "[\"alice\",\"bob\"]");
	/* Not a member: 404 to the creator; outsiders 403; no room 404. */
	remove_error(&d, "alice", &rm, "carol", 404, "not_found");
	remove_error(&d, "alice", &rm, "dave", 404, "not_found");
	remove_error(&d, "alice", &rm, "nobody", 404, "not_found");
	remove_error(&d, "dave", &rm, "bob", 403, "forbidden");
	named(&nope, "nope");
	remove_error(&d, "alice", &nope, "alice", 404, "not_found");
	/* The removed may come back with the secret. */
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 3);
	stop(&d);
}
END_TEST

START_TEST(test_creator_closes_the_room)
{
	struct inboxd d;
	struct room rm, nope;
	struct response r;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	create(&d, "alice", "{\"name\":\"meeting\"}", "meeting", 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	close_error(&d, "bob", &rm, 403, "forbidden");
	close_error(&d, "dave", &rm, 403, "forbidden");
	named(&nope, "nope");
	close_error(&d, "alice", &nope, 404, "not_found");
	members_are(&d, "bob", &rm, "[\"alice\",\"bob\",\"carol\"]");
	ck_assert_int_eq(close_room(&d, "alice", &rm, &r), 204);
	expect_204(&r);
	response_free(&r);
	expect_event(&d, "bob", &rm, "closed", "alice", "alice", "closed", "[]");
	expect_event(&d, "carol", &rm, "closed", "alice", "alice", "closed",
	    "[]");
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	expect_empty(&d, "dave");
	/* Gone for everyone. */
	get_room_error(&d, "alice", &rm, 404, "not_found");
	get_room_error(&d, "bob", &rm, 404, "not_found");
	join_error(&d, "dave", &rm, rm.token, 404, "not_found");
	fan_out_error(&d, "bob", &rm, "late", 404, "not_found");
	close_error(&d, "alice", &rm, 404, "not_found");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 0);
	/* And its name is free. */
	create(&d, "dave", "{\"name\":\"meeting\"}", "meeting", 1, 7200, &rm);
	stop(&d);
}
END_TEST

START_TEST(test_without_its_creator_nobody_removes_closes_or_invites)
{
	struct inboxd d;
	struct room open, vip;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	create(&d, "alice", "{\"name\":\"open\"}", "open", 1, 7200, &open);
	join_ok(&d, "bob", &open, open.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &open, open.token,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &open, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &open, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &open, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	remove_ok(&d, "alice", &open, "alice");
	expect_event(&d, "bob", &open, "left", "alice", "alice", "left",
	    "[\"bob\",\"carol\"]");
	expect_event(&d, "carol", &open, "left", "alice", "alice", "left",
	    "[\"bob\",\"carol\"]");
	expect_empty(&d, "alice");
	/* No one removes or closes now, the old creator least of all. */
	remove_error(&d, "bob", &open, "carol", 403, "forbidden");
	remove_error(&d, "carol", &open, "bob", 403, "forbidden");
	remove_error(&d, "alice", &open, "bob", 403, "forbidden");
	close_error(&d, "bob", &open, 403, "forbidden");
	close_error(&d, "carol", &open, 403, "forbidden");
	close_error(&d, "alice", &open, 403, "forbidden");
	members_are(&d, "bob", &open, "[\"bob\",\"carol\"]");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	/* Rejoining with the secret does not make alice the creator again. */
	join_ok(&d, "alice", &open, open.token, "[\"bob\",\"carol\",\"alice\"]");
	remove_error(&d, "alice", &open, "bob", 403, "forbidden");
	close_error(&d, "alice", &open, 403, "forbidden");
	/* In a room that is not invite_only, members still invite. */
	invite_ok(&d, "bob", &open, "dave");
	join_ok(&d, "dave", &open, NULL,
	    "[\"bob\",\"carol\",\"alice\",\"dave\"]");

	/* In an invite_only room without its creator, no one invites. */
	create(&d, "alice", "{\"name\":\"vip\",\"invite_only\":true}", "vip", 0,
	    7200, &vip);
	invite_ok(&d, "alice", &vip, "bob");
	join_ok(&d, "bob", &vip, NULL, "[\"alice\",\"bob\"]");
	remove_ok(&d, "alice", &vip, "alice");
	invite_error(&d, "bob", &vip, "carol", 403, "forbidden");
	invite_error(&d, "alice", &vip, "carol", 403, "forbidden");
	join_error(&d, "carol", &vip, NULL, 403, "forbidden");
	join_error(&d, "alice", &vip, NULL, 403, "forbidden");
	members_are(&d, "bob", &vip, "[\"bob\"]");
	stop(&d);
}
END_TEST

START_TEST(test_last_member_leaving_deletes_the_room)
{
	struct inboxd d;
	struct room rm;

	start(&d, "");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	create(&d, "alice", "{\"name\":\"solo\"}", "solo", 1, 7200, &rm);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 1);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	/* The creator leaves first; bob, the last, after. */
	remove_ok(&d, "alice", &rm, "alice");
	expect_event(&d, "bob", &rm, "left", "alice", "alice", "left",
	    "[\"bob\"]");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 1);
	remove_ok(&d, "bob", &rm, "bob");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 0);
	get_room_error(&d, "bob", &rm, 404, "not_found");
	join_error(&d, "bob", &rm, rm.token, 404, "not_found");
	/* Nobody was told: nobody was left. */
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	/* The name is free, and the old token opens nothing. */
	create(&d, "bob", "{\"name\":\"solo\",\"password\":\"new\"}", "solo", 0,
	    7200, &rm);
	join_error(&d, "alice", &rm, "old", 403, "forbidden");
	/* The creator leaving alone deletes it too. */
	remove_ok(&d, "bob", &rm, "bob");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	get_room_error(&d, "bob", &rm, 404, "not_found");
	stop(&d);
}
END_TEST

/* -------------------------------------------------------------- expiry */

START_TEST(test_member_whose_inbox_expires_leaves_with_reason_expired)
{
	struct inboxd d;
	struct response r;
	struct room rm, lonely;
	long before, after, t;
	int fa, fb;

	start(&d, "inbox-timeout 2\n");
	contact(&d, "dave", PW);
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &rm, rm.token, "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "alice", &rm, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &rm, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	/* dave never asks again: his invitation goes with his inbox. */
	invite_ok(&d, "alice", &rm, "dave");
	/* carol's last request: a room of her own. */
	before = client_now_ms();
	create(&d, "carol", "{\"name\":\"lonely\"}", "lonely", 1, 7200,
	    &lonely);
	after = client_now_ms();
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	/* alice and bob stay: a held GET keeps an inbox alive. */
	fa = hold(&d, "alice", 5, 1);
	fb = hold(&d, "bob", 5, 2);
	/* inbox-timeout, plus at most a second. */
	ck_assert_int_eq(client_read(fa, &r, (int)(after + 3000 -
	    client_now_ms())), 0);
	t = client_now_ms();
	check_event(&r, &rm, "left", "carol", "carol", "expired",
	    "[\"alice\",\"bob\"]");
	response_free(&r);
	ck_assert_msg(t - before >= 1900, "carol left %ld ms after her last "
	    "request, before inbox-timeout", t - before);
	ck_assert_int_eq(client_read(fb, &r, (int)(after + 3000 -
	    client_now_ms())), 0);
	check_event(&r, &rm, "left", "carol", "carol", "expired",
	    "[\"alice\",\"bob\"]");
	response_free(&r);
	close(fa);
	close(fb);
	/* Her room of one went with her; so did dave's inbox. */
	wait_metric(&d, "inboxd_rooms", 1, 1000);
	wait_metric(&d, "inboxd_inboxes", 2, 1000);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	members_are(&d, "alice", &rm, "[\"alice\",\"bob\"]");
	get_room_error(&d, "alice", &lonely, 404, "not_found");
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	/* A new inbox of dave's name has no invitation. */
	contact(&d, "dave", PW);
	join_error(&d, "dave", &rm, NULL, 403, "forbidden");
	/* Nor is carol a member when she comes back. */
	contact(&d, "carol", PW);
	get_room_error(&d, "carol", &rm, 403, "forbidden");
	stop(&d);
}
END_TEST

START_TEST(test_room_expires_at_its_ttl_and_every_member_is_told)
{
	struct inboxd d;
	struct room a, b;
	long end;

	start(&d, "room-timeout 2\n");
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	contact(&d, "carol", PW);
	contact(&d, "dave", PW);
	contact(&d, "erin", PW);
	/* a by room-timeout, b by its ttl; b's creator leaves. */
	create(&d, "alice", NULL, NULL, 1, 2, &a);
	create(&d, "dave", "{\"name\":\"brief\",\"ttl\":2}", "brief", 1, 2, &b);
	join_ok(&d, "bob", &a, a.token, "[\"alice\",\"bob\"]");
	join_ok(&d, "carol", &a, a.token, "[\"alice\",\"bob\",\"carol\"]");
	join_ok(&d, "erin", &b, b.token, "[\"dave\",\"erin\"]");
	remove_ok(&d, "dave", &b, "dave");
	expect_event(&d, "alice", &a, "joined", "bob", "bob", NULL,
	    "[\"alice\",\"bob\"]");
	expect_event(&d, "alice", &a, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "bob", &a, "joined", "carol", "carol", NULL,
	    "[\"alice\",\"bob\",\"carol\"]");
	expect_event(&d, "dave", &b, "joined", "erin", "erin", NULL,
	    "[\"dave\",\"erin\"]");
	expect_event(&d, "erin", &b, "left", "dave", "dave", "left",
	    "[\"erin\"]");
	/* Not before its time (and a node's walk over the rooms has time
	 * to count them in cluster mode). */
	sleep_until(a.t0 + 1000);
	members_are(&d, "bob", &a, "[\"alice\",\"bob\",\"carol\"]");
	members_are(&d, "erin", &b, "[\"erin\"]");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_expired_total"), 0);
	/* ttl plus a tick after the later create. */
	end = a.t1 > b.t1 ? a.t1 : b.t1;
	sleep_until(end + 2000 + TICK_MS + SLACK_MS);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_expired_total"), 2);
	/* Every member is told, the creator too; X-From is the creator. */
	expect_event(&d, "alice", &a, "closed", "alice", "alice", "expired",
	    "[]");
	expect_event(&d, "bob", &a, "closed", "alice", "alice", "expired",
	    "[]");
	expect_event(&d, "carol", &a, "closed", "alice", "alice", "expired",
	    "[]");
	expect_event(&d, "erin", &b, "closed", "dave", "dave", "expired", "[]");
	expect_empty(&d, "alice");
	expect_empty(&d, "bob");
	expect_empty(&d, "carol");
	expect_empty(&d, "dave");
	expect_empty(&d, "erin");
	get_room_error(&d, "alice", &a, 404, "not_found");
	get_room_error(&d, "erin", &b, 404, "not_found");
	join_error(&d, "dave", &b, b.token, 404, "not_found");
	stop(&d);
}
END_TEST

/* ------------------------------------------------------ routing, CORS */

START_TEST(test_preflight_on_room_paths_allows_delete_and_x_room_token)
{
	static const char *const paths[] = { "/rooms", "/rooms/lobby",
		"/rooms/lobby/members", "/rooms/lobby/members/bob",
		"/rooms/lobby/invitations", "/rooms/lobby/invitations?peer=bob",
		"/inbox", "/inbox?room=lobby" };
	static const char preflight[] = "Origin: https://app.example\r\n"
	    "Access-Control-Request-Method: DELETE\r\n"
	    "Access-Control-Request-Headers: authorization, x-room-token\r\n";
	struct inboxd d;
	struct response r;
	const char *v;
	size_t i;

	start(&d, "");
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ck_assert_int_eq(req(&d, "OPTIONS", paths[i], NULL, NULL,
		    preflight, NULL, 0, &r), 204);
		ck_assert_uint_eq(r.body_len, 0);
		v = response_header(&r, "Access-Control-Allow-Methods");
		ck_assert_msg(v != NULL && has_token(v, "GET") &&
		    has_token(v, "POST") && has_token(v, "DELETE") &&
		    has_token(v, "OPTIONS"), "OPTIONS %s: "
		    "Access-Control-Allow-Methods %s", paths[i],
		    v ? v : "(none)");
		v = response_header(&r, "Access-Control-Allow-Headers");
		ck_assert_msg(v != NULL && has_token(v, "Authorization") &&
		    has_token(v, "Content-Type") && has_token(v, "X-PIN") &&
		    has_token(v, "X-Room-Token"), "OPTIONS %s: "
		    "Access-Control-Allow-Headers %s", paths[i],
		    v ? v : "(none)");
		v = response_header(&r, "Access-Control-Max-Age");
		ck_assert_msg(v != NULL && atoi(v) > 0, "OPTIONS %s: "
		    "Access-Control-Max-Age %s", paths[i], v ? v : "(none)");
		assert_room_cors(&r);
		response_free(&r);
	}
	/* A preflight is no first contact, and makes no room. */
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_inbox_responses_expose_x_room_and_x_event)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	ck_assert_int_eq(get(&d, "alice", PW, "/inbox?wait=0", &r), 204);
	assert_room_cors(&r);
	response_free(&r);
	ck_assert_int_eq(send_to(&d, "bob", PW, "alice", NULL, "m", 1, &r),
	    204);
	assert_room_cors(&r);
	response_free(&r);
	ck_assert_int_eq(get(&d, "alice", PW, "/inbox?wait=0", &r), 200);
	assert_room_cors(&r);
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_other_methods_on_room_paths_are_405_with_allow)
{
	static const struct {
		const char *suffix;
		const char *allow;
		const char *methods[4];
	} cases[] = {
		{ "", "POST, OPTIONS", { "GET", "PUT", "DELETE", "PATCH" } },
		{ "/lobby", "GET, DELETE, OPTIONS", { "POST", "PUT", "PATCH" } },
		{ "/lobby/members", "POST, OPTIONS",
		    { "GET", "PUT", "DELETE", "PATCH" } },
		{ "/lobby/members/bob", "DELETE, OPTIONS",
		    { "GET", "POST", "PUT", "PATCH" } },
		{ "/lobby/invitations", "POST, OPTIONS",
		    { "GET", "PUT", "DELETE", "PATCH" } },
	};
	struct inboxd d;
	struct response r;
	struct room rm;
	char target[256], what[300];
	size_t i, k;

	start(&d, "");
	contact(&d, "bob", PW);
	create(&d, "alice", "{\"name\":\"lobby\"}", "lobby", 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (k = 0; k < 4 && cases[i].methods[k] != NULL; k++) {
			snprintf(target, sizeof(target), "/rooms%s",
			    cases[i].suffix);
			snprintf(what, sizeof(what), "%s %s",
			    cases[i].methods[k], target);
			ck_assert_int_ne(req(&d, cases[i].methods[k], target,
			    "alice", PW, NULL, NULL, 0, &r), -1);
			ck_assert_msg(r.status == 405, "%s: status %d, "
			    "expected 405: %s", what, r.status, r.body);
			assert_room_error(&r, 405, "method_not_allowed");
			assert_same_tokens(response_header(&r, "Allow"),
			    cases[i].allow, what);
			response_free(&r);
		}
	/* Nothing changed. */
	members_are(&d, "bob", &rm, "[\"alice\",\"bob\"]");
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 1);
	stop(&d);
}
END_TEST

START_TEST(test_unknown_paths_under_rooms_are_404)
{
	/*
	 * Not /rooms/lobby/members/bob/x: libmicrohttpd hands the daemon
	 * the path decoded, where it is /rooms/lobby/members/bob%2Fx, the
	 * member "bob/x" (see test_percent_encoded_room_and_member_names).
	 */
	static const char *const paths[] = {
		"/rooms/lobby/foo", "/rooms/lobby/invitations/bob",
		"/rooms/lobby/MEMBERS", "/rooms/lobby/x/y",
		"/rooms/lobby/invitations/x/y", "/rooms/lobby/foo/members",
		"/roomsx", "/room", "/Rooms",
	};
	static const char *const methods[] = { "GET", "POST", "DELETE" };
	struct inboxd d;
	struct response r;
	struct room rm;
	size_t i, k;

	start(&d, "");
	contact(&d, "bob", PW);
	create(&d, "alice", "{\"name\":\"lobby\"}", "lobby", 1, 7200, &rm);
	join_ok(&d, "bob", &rm, rm.token, "[\"alice\",\"bob\"]");
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (k = 0; k < 3; k++) {
			ck_assert_int_ne(req(&d, methods[k], paths[i], "alice",
			    PW, NULL, NULL, 0, &r), -1);
			ck_assert_msg(r.status == 404, "%s %s: status %d, "
			    "expected 404: %s", methods[k], paths[i], r.status,
			    r.body);
			assert_room_error(&r, 404, "not_found");
			response_free(&r);
		}
	members_are(&d, "bob", &rm, "[\"alice\",\"bob\"]");
	expect_empty(&d, "bob");
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- metrics */

START_TEST(test_room_metrics_exist_and_move)
{
	static const char *const series[] = { "inboxd_rooms",
		"inboxd_room_members", "inboxd_rooms_created_total",
		"inboxd_rooms_expired_total",
		"inboxd_room_copies_delivered_total",
		"inboxd_room_copies_failed_total", "inboxd_room_events_total",
		"inboxd_room_events_dropped_total" };
	struct inboxd d;
	struct room a, b;
	size_t i;

	start(&d, "");
	for (i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		ck_assert_msg(metric(&d, series[i]) == 0, "%s is %lld before "
		    "any room", series[i], metric(&d, series[i]));
	contact(&d, "carol", PW);
	create(&d, "alice", NULL, NULL, 1, 7200, &a);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_created_total"), 1);
	create(&d, "bob", NULL, NULL, 1, 7200, &b);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 2);
	join_ok(&d, "carol", &a, a.token, "[\"alice\",\"carol\"]");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 3);
	ck_assert_int_eq(metric(&d, "inboxd_room_events_total"), 1);
	join_ok(&d, "bob", &a, a.token, "[\"alice\",\"carol\",\"bob\"]");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 4);
	ck_assert_int_eq(metric(&d, "inboxd_room_events_total"), 3);
	fan_out_ok(&d, "alice", &a, NULL, "x", "[\"carol\",\"bob\"]", "{}");
	wait_metric(&d, "inboxd_room_copies_delivered_total", 2, 3000);
	remove_ok(&d, "carol", &a, "carol");
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 3);
	ck_assert_int_eq(metric(&d, "inboxd_room_events_total"), 5);
	ck_assert_int_eq(close_room(&d, "alice", &a, NULL), 204);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_room_events_total"), 6);
	ck_assert_int_eq(metric(&d, "inboxd_rooms_created_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_room_copies_failed_total"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_room_events_dropped_total"), 0);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------------- suite */

static Suite *
rooms_suite(void)
{
	Suite *s = suite_create("rooms");
	TCase *tc;

	tc = tcase(s, "create", 20);
	tcase_add_test(tc, test_create_without_body_gives_random_id_and_token);
	tcase_add_test(tc, test_create_with_a_chosen_name_and_password);
	tcase_add_test(tc,
	    test_create_names_and_passwords_at_their_length_limits);
	tcase_add_test(tc,
	    test_create_ttl_defaults_to_room_timeout_and_is_clamped);
	tcase_add_test(tc,
	    test_create_max_members_defaults_to_and_is_clamped_by_config);
	tcase_add_test(tc, test_invite_only_room_has_no_secret);
	tcase_add_test(tc, test_taken_name_is_409_conflict);
	tcase_add_test(tc,
	    test_create_past_max_rooms_per_inbox_is_409_too_many_rooms);
	tcase_add_test(tc, test_create_past_max_rooms_is_503_server_full);
	tcase_add_test(tc,
	    test_create_with_a_body_that_is_not_the_json_described_is_400);
	tcase_add_test(tc, test_room_requests_need_credentials);

	tc = tcase(s, "join", 20);
	tcase_add_test(tc, test_join_with_the_token_tells_the_other_members);
	tcase_add_test(tc, test_wrong_secret_is_403_and_counts_toward_429);
	tcase_add_test(tc, test_join_unknown_room_is_404);
	tcase_add_test(tc,
	    test_full_room_is_409_room_full_and_rejoin_is_harmless);
	tcase_add_test(tc,
	    test_join_past_max_rooms_per_inbox_is_409_too_many_rooms);

	tc = tcase(s, "members_query", 10);
	tcase_add_test(tc, test_get_room_answers_members_only);
	tcase_add_test(tc, test_percent_encoded_room_and_member_names);

	tc = tcase(s, "fan_out", 20);
	tcase_add_test(tc, test_fan_out_gives_every_other_member_its_own_copy);
	tcase_add_test(tc,
	    test_fan_out_to_a_full_inbox_does_not_block_the_others);
	tcase_add_test(tc, test_fan_out_errors);
	tcase_add_test(tc, test_held_gets_are_woken_by_a_fan_out);

	tc = tcase(s, "invitations", 20);
	tcase_add_test(tc, test_invitation_lets_a_peer_join_without_the_secret);
	tcase_add_test(tc,
	    test_invite_only_room_admits_the_creators_invitees_only);
	tcase_add_test(tc, test_invitation_errors_and_repeats);

	tc = tcase(s, "leave_remove_close", 20);
	tcase_add_test(tc, test_member_leaves_and_the_others_hear_it);
	tcase_add_test(tc, test_creator_removes_a_member_who_is_told_too);
	tcase_add_test(tc, test_creator_closes_the_room);
	tcase_add_test(tc,
	    test_without_its_creator_nobody_removes_closes_or_invites);
	tcase_add_test(tc, test_last_member_leaving_deletes_the_room);

	tc = tcase(s, "expiry", 20);
	tcase_add_test(tc,
	    test_member_whose_inbox_expires_leaves_with_reason_expired);
	tcase_add_test(tc,
	    test_room_expires_at_its_ttl_and_every_member_is_told);

	tc = tcase(s, "routing_and_cors", 20);
	tcase_add_test(tc,
	    test_preflight_on_room_paths_allows_delete_and_x_room_token);
	tcase_add_test(tc, test_inbox_responses_expose_x_room_and_x_event);
	tcase_add_test(tc, test_other_methods_on_room_paths_are_405_with_allow);
	tcase_add_test(tc, test_unknown_paths_under_rooms_are_404);

	tc = tcase(s, "metrics", 10);
	tcase_add_test(tc, test_room_metrics_exist_and_move);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(rooms_suite());
}
