/*
 * check_ack.c - what clients get beyond the original (SPEC section 9),
 * end to end against the real daemon: message ids that grow across a
 * restart and stay below 2^53, batched receive (GET /inbox?max=N) and
 * acknowledgements (GET /inbox?ack=ID), with their interplay with
 * holds, displacement, dropped responses, quotas and message-timeout.
 *
 * Every test starts its own inboxd on an ephemeral loopback port (or, with
 * INBOXD_CLUSTER set, nodes on Redis) with Argon2 down to 64 KiB and one
 * pass; alice receives, bob sends, both with the password "pw".  Bodies,
 * ids and status codes are asserted exactly.
 *
 * A GET's messages stay in flight until its response completes (the
 * daemon calls store_done from libmicrohttpd's completion callback, on
 * one of its threads), so a client's next request can overtake it.  The
 * tests never race it: after every GET that was handed messages, they
 * wait until inboxd_messages_delivered_total counts them (settle) before
 * the next request.  Waits are bounded everywhere; an expiry is waited
 * out to its deadline measured from the send, then checked.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define PW "pw"

/* 2^53: ids stay below it, so that JavaScript numbers hold them. */
#define TWO_53 9007199254740992ULL

/* The timer wheel's tick, and scheduling slack on top of it. */
#define TICK_MS 100
#define SLACK_MS 300

/* How long the daemon may take to count a delivery it has written. */
#define SETTLE_MS 5000

typedef unsigned long long msgid;

/* Deliveries the running test expects inboxd_messages_delivered_total
 * to count by now (the daemon's own counter: 0 at its start). */
static long long delivered;

/* ------------------------------------------------------------- helpers */

/* r has status, or the test fails showing what came instead. */
static void
expect_status(const struct response *r, int status)
{
	ck_assert_msg(r->status == status, "status %d, expected %d:\n%s%s",
	    r->status, status, r->head, r->body ? r->body : "");
}

/* The daemon counts n more deliveries: wait until it has, so that the
 * messages are no longer being written but done with (freed, or kept in
 * flight for an acknowledgement). */
static void
settle(struct inboxd *d, int n)
{
	delivered += n;
	wait_metric(d, "inboxd_messages_delivered_total", delivered,
	    SETTLE_MS);
}

/* start, then first contacts of alice and bob. */
static void
begin(struct inboxd *d, const char *conf)
{
	start(d, conf);
	delivered = 0;
	contact(d, "alice", PW);
	contact(d, "bob", PW);
}

/* bob sends body (NUL-terminated) to alice: 204. */
static void
put(struct inboxd *d, const char *body)
{
	struct response r;

	ck_assert_int_ne(send_to(d, "bob", PW, "alice", NULL, body,
	    strlen(body), &r), -1);
	expect_status(&r, 204);
	response_free(&r);
}

/* bob sends body to alice with Content-Type type (or none): 204. */
static void
put_typed(struct inboxd *d, const char *type, const void *body, size_t len)
{
	struct response r;

	ck_assert_int_ne(send_to(d, "bob", PW, "alice", type, body, len, &r),
	    -1);
	expect_status(&r, 204);
	response_free(&r);
}

/* A decimal id as the daemon writes it: digits only, at least 1, below
 * 2^53. */
static msgid
parse_id(const char *s)
{
	msgid v;
	char *end;

	ck_assert_msg(s != NULL && s[0] >= '0' && s[0] <= '9',
	    "message id \"%s\" is not decimal", s ? s : "(none)");
	v = strtoull(s, &end, 10);
	ck_assert_msg(*end == '\0', "message id \"%s\" is not decimal", s);
	ck_assert_msg(v >= 1 && v < TWO_53, "message id %llu is not in "
	    "[1, 2^53)", v);
	return v;
}

/*
 * GET target as alice is the single-message form of SPEC section 2:
 * 200, the body exactly, X-From bob, the Content-Type given (or
 * application/octet-stream), X-Message-Id (returned).  Settled.
 */
static msgid
pop1(struct inboxd *d, const char *target, const char *body,
    const char *type)
{
	struct response r;
	size_t len = strlen(body);
	msgid id;

	ck_assert_int_ne(get(d, "alice", PW, target, &r), -1);
	ck_assert_msg(r.status == 200, "GET %s: status %d, expected 200 with "
	    "\"%s\"\n%s%s", target, r.status, body, r.head,
	    r.body ? r.body : "");
	ck_assert_msg(r.body_len == len && memcmp(r.body, body, len) == 0,
	    "GET %s: body \"%.*s\", expected \"%s\"", target, (int)r.body_len,
	    r.body, body);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	ck_assert_str_eq(response_header(&r, "Content-Type"),
	    type != NULL ? type : "application/octet-stream");
	id = parse_id(response_header(&r, "X-Message-Id"));
	assert_cors(&r);
	response_free(&r);
	settle(d, 1);
	return id;
}

/* GET target as alice answers 204 with no body. */
static void
none(struct inboxd *d, const char *target)
{
	struct response r;

	ck_assert_int_ne(get(d, "alice", PW, target, &r), -1);
	ck_assert_msg(r.status == 204, "GET %s: status %d, expected 204\n%s%s",
	    target, r.status, r.head, r.body ? r.body : "");
	ck_assert_uint_eq(r.body_len, 0);
	response_free(&r);
}

/* GET target as alice is 400 bad_request. */
static void
bad(struct inboxd *d, const char *target)
{
	struct response r;

	ck_assert_int_ne(get(d, "alice", PW, target, &r), -1);
	ck_assert_msg(r.status == 400, "GET %s: status %d, expected 400\n%s%s",
	    target, r.status, r.head, r.body ? r.body : "");
	assert_error_full(&r, 400, "bad_request");
	response_free(&r);
}

/*
 * r is a batch (SPEC section 9): 200, Content-Type application/json,
 * Cache-Control no-store, the CORS headers, and a body that is exactly
 * one object {"messages": [...]}.  Returns the parsed body.
 */
static cJSON *
parse_batch(const struct response *r, const char *what)
{
	const char *type;
	cJSON *j, *a;

	ck_assert_msg(r->status == 200, "%s: status %d, expected a batch\n%s%s",
	    what, r->status, r->head, r->body ? r->body : "");
	type = response_header(r, "Content-Type");
	ck_assert_msg(type != NULL &&
	    strncasecmp(type, "application/json", 16) == 0 &&
	    (type[16] == '\0' || type[16] == ';'),
	    "%s: Content-Type %s, expected application/json", what,
	    type ? type : "(none)");
	ck_assert_str_eq(response_header(r, "Cache-Control"), "no-store");
	ck_assert_ptr_null(response_header(r, "X-Message-Id"));
	assert_cors(r);
	j = cJSON_ParseWithLength(r->body, r->body_len);
	ck_assert_msg(cJSON_IsObject(j), "%s: the body is not a JSON object: "
	    "%.*s", what, (int)r->body_len, r->body);
	ck_assert_msg(cJSON_GetArraySize(j) == 1, "%s: keys beside "
	    "\"messages\": %s", what, r->body);
	a = cJSON_GetObjectItemCaseSensitive(j, "messages");
	ck_assert_msg(cJSON_IsArray(a), "%s: no array \"messages\": %s", what,
	    r->body);
	return j;
}

/* The messages array of a batch body. */
static cJSON *
items(cJSON *j)
{
	return cJSON_GetObjectItemCaseSensitive(j, "messages");
}

/* The id of a message of a batch: a JSON number, whole, in [1, 2^53). */
static msgid
item_id(const cJSON *o)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "id");
	msgid id;

	ck_assert_msg(cJSON_IsNumber(v), "\"id\" is not a number");
	ck_assert_msg(v->valuedouble >= 1 && v->valuedouble < (double)TWO_53,
	    "\"id\" %.17g is not in [1, 2^53)", v->valuedouble);
	id = (msgid)v->valuedouble;
	ck_assert_msg((double)id == v->valuedouble, "\"id\" %.17g is not "
	    "whole", v->valuedouble);
	return id;
}

/* A string member is want exactly, or null when want is NULL. */
static void
item_str(const cJSON *o, const char *key, const char *want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char *text = cJSON_PrintUnformatted(o);

	if (want == NULL)
		ck_assert_msg(cJSON_IsNull(v), "\"%s\" is not null in %s", key,
		    text);
	else
		ck_assert_msg(cJSON_IsString(v) &&
		    strcmp(v->valuestring, want) == 0,
		    "\"%s\" is not \"%s\" in %s", key, want, text);
	free(text);
}

/*
 * Message i of a batch is a direct text message from bob: exactly the
 * keys id, from, type (null when type is NULL) and body.  Returns its id.
 */
static msgid
item_text(const cJSON *a, int i, const char *body, const char *type)
{
	const cJSON *o = cJSON_GetArrayItem(a, i);

	ck_assert_msg(cJSON_IsObject(o), "message %d is not an object", i);
	ck_assert_msg(cJSON_GetArraySize(o) == 4, "message %d has %d keys, "
	    "expected id, from, type and body", i, cJSON_GetArraySize(o));
	item_str(o, "from", "bob");
	item_str(o, "type", type);
	item_str(o, "body", body);
	return item_id(o);
}

/*
 * GET target as alice answers a batch of the n text messages bodies[]
 * from bob without a type, oldest first; their ids go to ids[] (may be
 * NULL) and must increase.  Settled.
 */
static void
batch(struct inboxd *d, const char *target, int n,
    const char *const *bodies, msgid *ids)
{
	struct response r;
	cJSON *j, *a;
	msgid id, last = 0;
	int i;

	ck_assert_int_ne(get(d, "alice", PW, target, &r), -1);
	j = parse_batch(&r, target);
	a = items(j);
	ck_assert_msg(cJSON_GetArraySize(a) == n, "GET %s: %d messages, "
	    "expected %d: %s", target, cJSON_GetArraySize(a), n, r.body);
	for (i = 0; i < n; i++) {
		id = item_text(a, i, bodies[i], NULL);
		ck_assert_msg(id > last, "GET %s: id %llu after %llu", target,
		    id, last);
		last = id;
		if (ids != NULL)
			ids[i] = id;
	}
	cJSON_Delete(j);
	response_free(&r);
	settle(d, n);
}

/* "/inbox?wait=0&ack=ID" and the like, in a static buffer per call
 * site's slot (0 to 3). */
static const char *
target(int slot, const char *fmt, msgid id)
{
	static char buf[4][128];

	snprintf(buf[slot], sizeof(buf[slot]), fmt, id);
	return buf[slot];
}

/* bob's send to alice is 503 inbox_full with Retry-After 1. */
static void
put_full(struct inboxd *d, const char *body)
{
	struct response r;

	ck_assert_int_ne(send_to(d, "bob", PW, "alice", NULL, body,
	    strlen(body), &r), -1);
	assert_error_full(&r, 503, "inbox_full");
	ck_assert_str_eq(response_header(&r, "Retry-After"), "1");
	response_free(&r);
}

/* A GET as alice on its own socket, once /metrics shows waiters held. */
static int
hold(struct inboxd *d, const char *target, long long waiters)
{
	int fd;

	fd = client_send(cluster_next_port(d), "GET", target, "alice", PW,
	    NULL, NULL, 0);
	ck_assert_int_ne(fd, -1);
	wait_metric(d, "inboxd_waiters", waiters, 5000);
	return fd;
}

/* Base64 (RFC 4648 section 4, padded) into out; returns the length, or
 * -1 when s is not that. */
static long
unbase64(const char *s, unsigned char *out, size_t size)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), i, o = 0;
	unsigned v[4];
	int k, pad;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			const char *p;

			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad || s[i + k] == '\0' ||
			    (p = strchr(abc, s[i + k])) == NULL)
				return -1;
			v[k] = (unsigned)(p - abc);
		}
		if (o + 3 - (size_t)pad > size)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)o;
}

/* Stop the daemon (every node) and start it again with conf. */
static void
restart(struct inboxd *d, const char *conf)
{
	int i;

	if (d->cluster == NULL) {
		stop(d);
		start(d, conf);
	} else {
		for (i = 0; i < CLUSTER_NODES; i++) {
			ck_assert_msg(inboxd_stop(&d->cluster->node[i]) == 0,
			    "node %d did not exit with status 0; see %s", i,
			    d->cluster->node[i].log);
			ck_assert_msg(cluster_restart_node(d, i) == 0,
			    "node %d did not start again; see %s", i,
			    d->cluster->node[i].log);
		}
	}
	delivered = 0;
}

/* ------------------------------------------------------------------ ids */

START_TEST(test_ids_grow_across_a_restart_and_stay_below_2_53)
{
	static const char *const new_bodies[] = { "new 1", "new 2", "new 3" };
	struct inboxd d;
	msgid old[4], fresh[4], max_old = 0;
	int i, k;

	begin(&d, "");
	put(&d, "old 1");
	put(&d, "old 2");
	put(&d, "old 3");
	put(&d, "old 4");
	old[0] = pop1(&d, "/inbox?wait=0", "old 1", NULL);
	old[1] = pop1(&d, "/inbox?wait=0", "old 2", NULL);
	batch(&d, "/inbox?wait=0&max=2", 2,
	    (const char *const[]){ "old 3", "old 4" }, old + 2);
	for (i = 0; i < 4; i++) {
		if (old[i] > max_old)
			max_old = old[i];
		for (k = 0; k < i; k++)
			ck_assert_msg(old[k] < old[i], "ids %llu then %llu",
			    old[k], old[i]);
	}
	restart(&d, "");
	/* The same names again (new inboxes, on the memory store). */
	contact(&d, "alice", PW);
	contact(&d, "bob", PW);
	put(&d, "new 0");
	put(&d, "new 1");
	put(&d, "new 2");
	put(&d, "new 3");
	fresh[0] = pop1(&d, "/inbox?wait=0", "new 0", NULL);
	batch(&d, "/inbox?wait=0&max=32", 3, new_bodies, fresh + 1);
	for (i = 0; i < 4; i++) {
		ck_assert_msg(fresh[i] > max_old, "after the restart id %llu, "
		    "not above %llu of before it", fresh[i], max_old);
		ck_assert_msg(fresh[i] < TWO_53, "id %llu is not below 2^53",
		    fresh[i]);
		if (i > 0)
			ck_assert_msg(fresh[i] > fresh[i - 1], "ids %llu then "
			    "%llu", fresh[i - 1], fresh[i]);
	}
	stop(&d);
}
END_TEST

START_TEST(test_ids_grow_when_an_inbox_is_made_again_under_its_name)
{
	struct inboxd d;
	struct response r;
	msgid old, fresh;
	long t0, deadline;
	int status;

	begin(&d, "inbox-timeout 1\n");
	put(&d, "old");
	old = pop1(&d, "/inbox?wait=0&max=1&ack=0", "old", NULL);
	/* alice's inbox expires, with old in flight: bob's sends do not
	 * keep it alive. */
	t0 = client_now_ms();
	deadline = t0 + 4000;
	for (;;) {
		status = send_to(&d, "bob", PW, "alice", NULL, "x", 1, &r);
		if (status != 204 || client_now_ms() >= deadline)
			break;
		response_free(&r);
		sleep_ms(100);
	}
	assert_error_full(&r, 404, "not_found");
	response_free(&r);
	/* Made again under its name. */
	contact(&d, "alice", PW);
	none(&d, "/inbox?wait=0&ack=0");
	put(&d, "new");
	fresh = pop1(&d, "/inbox?wait=0&ack=0", "new", NULL);
	ck_assert_msg(fresh > old, "the inbox made again has id %llu, not "
	    "above %llu of the one before", fresh, old);
	none(&d, target(0, "/inbox?wait=0&ack=%llu", fresh));
	stop(&d);
}
END_TEST

#define HUNDRED 100

START_TEST(test_ids_of_one_inbox_strictly_increase_over_100_sends)
{
	struct inboxd d;
	struct response r;
	char body[32], want[32];
	msgid last = 0, id;
	cJSON *j, *a;
	int sent, got = 0, i, n;

	begin(&d, "");
	for (sent = 0; sent < HUNDRED; sent++) {
		snprintf(body, sizeof(body), "message %d", sent);
		put(&d, body);
	}
	/* 32 (max-batch) at a time: 32, 32, 32 and 4. */
	while (got < HUNDRED) {
		ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&max=100",
		    &r), -1);
		j = parse_batch(&r, "GET max=100");
		a = items(j);
		n = cJSON_GetArraySize(a);
		ck_assert_int_eq(n, HUNDRED - got < 32 ? HUNDRED - got : 32);
		for (i = 0; i < n; i++) {
			snprintf(want, sizeof(want), "message %d", got + i);
			id = item_text(a, i, want, NULL);
			ck_assert_msg(id > last, "message %d has id %llu, after "
			    "%llu", got + i, id, last);
			last = id;
		}
		got += n;
		cJSON_Delete(j);
		response_free(&r);
		settle(&d, n);
	}
	none(&d, "/inbox?wait=0&max=100");
	stop(&d);
}
END_TEST

/*
 * bob sends n messages "PREFIX k" to alice; GET target answers them all
 * in one batch, in order; their last id goes to *last.  Settled.
 */
static void
round_trip(struct inboxd *d, const char *prefix, int n, const char *target,
    msgid *last)
{
	struct response r;
	char body[32];
	cJSON *j, *a;
	int k;

	for (k = 0; k < n; k++) {
		snprintf(body, sizeof(body), "%s %d", prefix, k);
		put(d, body);
	}
	ck_assert_int_ne(get(d, "alice", PW, target, &r), -1);
	j = parse_batch(&r, target);
	a = items(j);
	ck_assert_int_eq(cJSON_GetArraySize(a), n);
	for (k = 0; k < n; k++) {
		snprintf(body, sizeof(body), "%s %d", prefix, k);
		*last = item_text(a, k, body, NULL);
	}
	cJSON_Delete(j);
	response_free(&r);
	settle(d, n);
}

/* A full batch (max-batch 32, the default) is done with whole: once
 * delivered, it is gone and frees its places; in flight, it is
 * acknowledged whole. */
START_TEST(test_full_batches_are_delivered_and_acknowledged_whole)
{
	struct inboxd d;
	msgid last;

	begin(&d, "max-messages 32\n");
	round_trip(&d, "plain", 32, "/inbox?wait=0&max=32", &last);
	none(&d, "/inbox?wait=0&max=32&ack=0");
	round_trip(&d, "acked", 32, "/inbox?wait=0&max=32&ack=0", &last);
	/* 32 in flight: full. */
	put_full(&d, "one more");
	none(&d, target(0, "/inbox?wait=0&max=32&ack=%llu", last));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 32);
	round_trip(&d, "again", 32, "/inbox?wait=0&max=32", &last);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------------- max= */

START_TEST(test_max_takes_the_oldest_n_and_the_rest_stay_queued_in_order)
{
	static const char *const b[] = { "one", "two", "three", "four",
		"five" };
	struct inboxd d;
	msgid first[3], rest[2];

	begin(&d, "");
	put(&d, "one");
	put(&d, "two");
	put(&d, "three");
	put(&d, "four");
	put(&d, "five");
	batch(&d, "/inbox?wait=0&max=3", 3, b, first);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 2);
	batch(&d, "/inbox?wait=0&max=3", 2, b + 3, rest);
	ck_assert_msg(rest[0] > first[2], "ids %llu then %llu", first[2],
	    rest[0]);
	/* Taken means removed, as for a GET without max=. */
	none(&d, "/inbox?wait=0&max=3");
	none(&d, "/inbox?wait=0");
	stop(&d);
}
END_TEST

START_TEST(test_max_above_max_batch_is_clamped_to_it)
{
	static const char *const b[] = { "1", "2", "3", "4", "5", "6", "7" };
	struct inboxd d;

	begin(&d, "max-batch 3\n");
	put(&d, "1");
	put(&d, "2");
	put(&d, "3");
	put(&d, "4");
	put(&d, "5");
	put(&d, "6");
	put(&d, "7");
	batch(&d, "/inbox?wait=0&max=4", 3, b, NULL);
	/* Too large for 64 bits is still a whole number: clamped too. */
	batch(&d, "/inbox?wait=0&max=99999999999999999999999", 3, b + 3, NULL);
	batch(&d, "/inbox?wait=0&max=1024", 1, b + 6, NULL);
	none(&d, "/inbox?wait=0&max=3");
	stop(&d);
}
END_TEST

START_TEST(test_max_or_ack_that_is_not_a_decimal_number_is_400)
{
	static const char *const targets[] = {
		"/inbox?wait=0&max=0", "/inbox?wait=0&max=x",
		"/inbox?wait=0&max=-1", "/inbox?wait=0&max=",
		"/inbox?wait=0&max", "/inbox?wait=0&max=1.5",
		"/inbox?wait=0&max=%201", "/inbox?wait=0&max=2x",
		"/inbox?wait=0&max=%2B2", "/inbox?wait=0&max=00",
		"/inbox?wait=0&ack=", "/inbox?wait=0&ack=x",
		"/inbox?wait=0&ack=-1", "/inbox?wait=0&ack=1.5",
		"/inbox?wait=0&ack=%2B1", "/inbox?wait=0&ack=1e3",
		"/inbox?wait=0&ack=18446744073709551616",
		"/inbox?wait=0&max=2&ack=x", "/inbox?wait=0&max=0&ack=0",
	};
	struct inboxd d;
	size_t i;

	begin(&d, "");
	put(&d, "still here");
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		bad(&d, targets[i]);
	/* None of them took the message. */
	pop1(&d, "/inbox?wait=0", "still here", NULL);
	none(&d, "/inbox?wait=0");
	stop(&d);
}
END_TEST

START_TEST(test_max_1_is_the_single_message_form)
{
	struct inboxd d;

	begin(&d, "");
	put_typed(&d, "text/plain", "hello", 5);
	put(&d, "world");
	pop1(&d, "/inbox?wait=0&max=1", "hello", "text/plain");
	pop1(&d, "/inbox?max=1&wait=0", "world", NULL);
	none(&d, "/inbox?wait=0&max=1");
	stop(&d);
}
END_TEST

/* max=01 is the decimal number 1 (field_max reads it so): the single
 * form too, as max=1 is (SPEC section 9). */
START_TEST(test_max_01_is_the_single_message_form_too)
{
	struct inboxd d;

	begin(&d, "");
	put_typed(&d, "text/plain", "hello", 5);
	pop1(&d, "/inbox?wait=0&max=01", "hello", "text/plain");
	stop(&d);
}
END_TEST

START_TEST(test_empty_inbox_with_max_and_wait_0_is_204)
{
	struct inboxd d;

	begin(&d, "");
	none(&d, "/inbox?wait=0&max=10");
	none(&d, "/inbox?wait=0&max=10&ack=0");
	stop(&d);
}
END_TEST

START_TEST(test_held_max_get_is_woken_by_one_send_with_a_batch_of_one)
{
	static const char *const b[] = { "later" };
	struct inboxd d;
	struct response r;
	long t0, ms;
	cJSON *j;
	int fd;

	begin(&d, "");
	fd = hold(&d, "/inbox?wait=10&max=10", 1);
	t0 = client_now_ms();
	put(&d, "wake up");
	ck_assert_int_eq(client_read(fd, &r, 5000), 0);
	ms = client_now_ms() - t0;
	close(fd);
	j = parse_batch(&r, "the held GET max=10");
	ck_assert_int_eq(cJSON_GetArraySize(items(j)), 1);
	item_text(items(j), 0, "wake up", NULL);
	cJSON_Delete(j);
	response_free(&r);
	settle(&d, 1);
	ck_assert_msg(ms < 1000, "the held GET answered %ld ms after the send",
	    ms);
	/* Nothing was queued behind it. */
	none(&d, "/inbox?wait=0&max=10");
	put(&d, "later");
	batch(&d, "/inbox?wait=0&max=10", 1, b, NULL);
	stop(&d);
}
END_TEST

START_TEST(test_batch_type_is_null_without_content_type_and_given_with_one)
{
	struct inboxd d;
	struct response r;
	cJSON *j, *a;

	begin(&d, "");
	put_typed(&d, NULL, "untyped", 7);
	put_typed(&d, "application/sdp", "v=0", 3);
	put_typed(&d, "text/plain; charset=utf-8", "typed", 5);
	ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&max=5", &r), -1);
	j = parse_batch(&r, "GET max=5");
	a = items(j);
	ck_assert_int_eq(cJSON_GetArraySize(a), 3);
	item_text(a, 0, "untyped", NULL);
	item_text(a, 1, "v=0", "application/sdp");
	item_text(a, 2, "typed", "text/plain; charset=utf-8");
	cJSON_Delete(j);
	response_free(&r);
	settle(&d, 3);
	stop(&d);
}
END_TEST

/* Message i of a batch is from bob without a type, its body exactly the
 * len bytes of want as "body_base64" (and no "body"). */
static void
item_binary(const cJSON *a, int i, const void *want, size_t len)
{
	const cJSON *o = cJSON_GetArrayItem(a, i), *v;
	unsigned char out[512];
	long n;

	ck_assert_msg(cJSON_IsObject(o), "message %d is not an object", i);
	ck_assert_msg(cJSON_GetArraySize(o) == 4, "message %d has %d keys, "
	    "expected id, from, type and body_base64", i,
	    cJSON_GetArraySize(o));
	item_str(o, "from", "bob");
	item_str(o, "type", NULL);
	ck_assert_msg(cJSON_GetObjectItemCaseSensitive(o, "body") == NULL,
	    "message %d has a \"body\": it is not UTF-8 text", i);
	v = cJSON_GetObjectItemCaseSensitive(o, "body_base64");
	ck_assert_msg(cJSON_IsString(v), "message %d has no string "
	    "\"body_base64\"", i);
	n = unbase64(v->valuestring, out, sizeof(out));
	ck_assert_msg(n >= 0, "message %d: \"%s\" is not padded base64", i,
	    v->valuestring);
	ck_assert_msg((size_t)n == len && memcmp(out, want, len) == 0,
	    "message %d: \"%s\" decodes to %ld bytes, not the %zu sent", i,
	    v->valuestring, n, len);
	item_id(o);
}

START_TEST(test_binary_body_comes_as_body_base64_and_utf8_as_body)
{
	/* Not UTF-8, with NULs. */
	static const unsigned char bin[] = { 0x00, 0xff, 0x01, 'a', 0x00,
		0xc3, 0x28, 0x80, 0xfe, 0x00 };
	/* UTF-8 but for one NUL byte. */
	static const char nul[] = { 'a', 0, 'b' };
	static const char overlong[] = "\xc0\xaf";
	static const char surrogate[] = "\xed\xa0\x80";
	static const char cut[] = "caf\xc3";
	static const char text[] = "zo\xc3\xab \xe2\x98\x83 \xf0\x9f\x8e\x89 "
	    "\"quoted\" \\ tab\t";
	struct inboxd d;
	struct response r;
	cJSON *j, *a;

	begin(&d, "");
	put_typed(&d, NULL, bin, sizeof(bin));
	put_typed(&d, NULL, nul, sizeof(nul));
	put_typed(&d, NULL, overlong, strlen(overlong));
	put_typed(&d, NULL, surrogate, strlen(surrogate));
	put_typed(&d, NULL, cut, strlen(cut));
	put_typed(&d, NULL, text, strlen(text));
	put_typed(&d, NULL, "", 0);
	ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&max=10", &r),
	    -1);
	j = parse_batch(&r, "GET max=10");
	a = items(j);
	ck_assert_int_eq(cJSON_GetArraySize(a), 7);
	item_binary(a, 0, bin, sizeof(bin));
	item_binary(a, 1, nul, sizeof(nul));
	item_binary(a, 2, overlong, strlen(overlong));
	item_binary(a, 3, surrogate, strlen(surrogate));
	item_binary(a, 4, cut, strlen(cut));
	item_text(a, 5, text, NULL);
	/* An empty body is text. */
	item_text(a, 6, "", NULL);
	cJSON_Delete(j);
	response_free(&r);
	settle(&d, 7);
	stop(&d);
}
END_TEST

START_TEST(test_room_messages_carry_room_and_event)
{
	static const char room[] = "{\"name\":\"ackroom\",\"password\":"
	    "\"room-secret\"}";
	struct inboxd d;
	struct response r;
	cJSON *j, *a, *o, *ev, *want;
	char *got;

	begin(&d, "");
	ck_assert_int_ne(req(&d, "POST", "/rooms", "alice", PW,
	    "Content-Type: application/json\r\n", room, strlen(room), &r), -1);
	expect_status(&r, 201);
	response_free(&r);
	ck_assert_int_ne(req(&d, "POST", "/rooms/ackroom/members", "bob", PW,
	    "X-Room-Token: room-secret\r\n", NULL, 0, &r), -1);
	expect_status(&r, 200);
	response_free(&r);
	ck_assert_int_ne(req(&d, "POST", "/inbox?room=ackroom", "bob", PW,
	    "Content-Type: text/plain\r\n", "hello room", 10, &r), -1);
	expect_status(&r, 200);
	response_free(&r);
	ck_assert_int_ne(req(&d, "POST", "/inbox?room=ackroom", "bob", PW,
	    NULL, "untyped copy", 12, &r), -1);
	expect_status(&r, 200);
	response_free(&r);
	put(&d, "direct");

	ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&max=10", &r),
	    -1);
	j = parse_batch(&r, "GET max=10");
	a = items(j);
	ck_assert_int_eq(cJSON_GetArraySize(a), 4);
	/* bob's join: an event, its body the JSON of SPEC section 7. */
	o = cJSON_GetArrayItem(a, 0);
	ck_assert_int_eq(cJSON_GetArraySize(o), 6);
	item_id(o);
	item_str(o, "from", "bob");
	item_str(o, "type", "application/json");
	item_str(o, "room", "ackroom");
	item_str(o, "event", "joined");
	ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "body")));
	ev = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(o,
	    "body")->valuestring);
	want = cJSON_Parse("{\"event\":\"joined\",\"room\":\"ackroom\","
	    "\"peer\":\"bob\",\"reason\":null,\"members\":[\"alice\",\"bob\"]}");
	got = cJSON_PrintUnformatted(ev);
	ck_assert_msg(cJSON_Compare(ev, want, 1), "the joined event's body is "
	    "%s", got);
	free(got);
	cJSON_Delete(ev);
	cJSON_Delete(want);
	/* The fan-out copies: event null. */
	o = cJSON_GetArrayItem(a, 1);
	ck_assert_int_eq(cJSON_GetArraySize(o), 6);
	item_id(o);
	item_str(o, "from", "bob");
	item_str(o, "type", "text/plain");
	item_str(o, "body", "hello room");
	item_str(o, "room", "ackroom");
	item_str(o, "event", NULL);
	o = cJSON_GetArrayItem(a, 2);
	ck_assert_int_eq(cJSON_GetArraySize(o), 6);
	item_str(o, "type", NULL);
	item_str(o, "body", "untyped copy");
	item_str(o, "room", "ackroom");
	item_str(o, "event", NULL);
	/* A direct message has neither. */
	item_text(a, 3, "direct", NULL);
	cJSON_Delete(j);
	response_free(&r);
	settle(&d, 4);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------------- ack= */

START_TEST(test_ack_0_on_a_first_poll_acknowledges_nothing)
{
	struct inboxd d;
	msgid id, again;

	begin(&d, "");
	none(&d, "/inbox?wait=0&ack=0");
	put(&d, "first");
	id = pop1(&d, "/inbox?wait=0&ack=0", "first", NULL);
	/* Still in flight: ack=0 again acknowledges nothing and gets it
	 * back, with its id. */
	again = pop1(&d, "/inbox?wait=0&ack=0", "first", NULL);
	ck_assert_uint_eq(again, id);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 0);
	none(&d, target(0, "/inbox?wait=0&ack=%llu", id));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 1);
	none(&d, "/inbox?wait=0&ack=0");
	stop(&d);
}
END_TEST

START_TEST(test_ack_of_the_last_of_a_batch_deletes_the_batch)
{
	static const char *const b[] = { "m1", "m2", "m3", "m4", "m5" };
	struct inboxd d;
	msgid first[3], second[2];

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	put(&d, "m4");
	put(&d, "m5");
	batch(&d, "/inbox?wait=0&max=3&ack=0", 3, b, first);
	/* The next GET acknowledges the batch and gets the next ones. */
	batch(&d, target(0, "/inbox?wait=0&max=3&ack=%llu", first[2]), 2,
	    b + 3, second);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 3);
	none(&d, target(0, "/inbox?wait=0&max=3&ack=%llu", second[1]));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 5);
	/* Nothing in flight, nothing queued. */
	none(&d, "/inbox?wait=0&max=3&ack=0");
	none(&d, "/inbox?wait=0");
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 5);
	stop(&d);
}
END_TEST

START_TEST(test_ack_of_a_middle_one_deletes_it_and_those_before_it)
{
	static const char *const b[] = { "m1", "m2", "m3", "m4", "m5" };
	struct inboxd d;
	msgid ids[4], back[3];

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	put(&d, "m4");
	batch(&d, "/inbox?wait=0&max=4&ack=0", 4, b, ids);
	put(&d, "m5");
	/* m1 and m2 go; m3 and m4 come back first, with their ids, before
	 * the newer m5. */
	batch(&d, target(0, "/inbox?wait=0&max=10&ack=%llu", ids[1]), 3,
	    b + 2, back);
	ck_assert_uint_eq(back[0], ids[2]);
	ck_assert_uint_eq(back[1], ids[3]);
	ck_assert_uint_gt(back[2], ids[3]);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	none(&d, target(0, "/inbox?wait=0&max=10&ack=%llu", back[2]));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 5);
	stop(&d);
}
END_TEST

START_TEST(test_ack_of_an_unknown_id_redelivers_all_in_flight)
{
	static const char *const b[] = { "m1", "m2", "m3" };
	struct inboxd d;
	msgid ids[3], back[3];
	int i;

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	batch(&d, "/inbox?wait=0&max=3&ack=0", 3, b, ids);
	/* An id never given out: all three back, with their ids. */
	batch(&d, target(0, "/inbox?wait=0&max=3&ack=%llu", ids[2] + 1000), 3,
	    b, back);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(back[i], ids[i]);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 0);
	/* m1 acknowledged; m2 and m3 back, m2 taken again. */
	ck_assert_uint_eq(pop1(&d, target(0, "/inbox?wait=0&ack=%llu",
	    ids[0]), "m2", NULL), ids[1]);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 1);
	/* An id acknowledged already is not in flight: m2 comes back. */
	ck_assert_uint_eq(pop1(&d, target(0, "/inbox?wait=0&ack=%llu",
	    ids[0]), "m2", NULL), ids[1]);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 1);
	/* Nor is m3, queued and not handed out: m2 comes back again. */
	ck_assert_uint_eq(pop1(&d, target(0, "/inbox?wait=0&ack=%llu",
	    ids[2]), "m2", NULL), ids[1]);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 1);
	ck_assert_uint_eq(pop1(&d, target(0, "/inbox?wait=0&ack=%llu",
	    ids[1]), "m3", NULL), ids[2]);
	none(&d, target(0, "/inbox?wait=0&ack=%llu", ids[2]));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 3);
	stop(&d);
}
END_TEST

START_TEST(test_ack_with_max_keeps_the_batch_in_flight_as_one)
{
	static const char *const b[] = { "m1", "m2", "m3" };
	struct inboxd d;
	msgid ids[3], back[3];
	int i;

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	batch(&d, "/inbox?wait=0&max=3&ack=0", 3, b, ids);
	/* The whole batch comes back, as one, in order. */
	batch(&d, "/inbox?wait=0&max=3&ack=0", 3, b, back);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(back[i], ids[i]);
	/* A smaller max takes part of it, the rest stays queued. */
	batch(&d, "/inbox?wait=0&max=2&ack=0", 2, b, back);
	ck_assert_uint_eq(back[0], ids[0]);
	ck_assert_uint_eq(back[1], ids[1]);
	pop1(&d, target(0, "/inbox?wait=0&ack=%llu", ids[1]), "m3", NULL);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	none(&d, target(0, "/inbox?wait=0&max=3&ack=%llu", ids[2]));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 3);
	stop(&d);
}
END_TEST

START_TEST(test_get_without_ack_leaves_the_in_flight_alone)
{
	static const char *const b[] = { "m1", "m2", "m3", "m4" };
	struct inboxd d;
	msgid ids[2], back[2];

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	put(&d, "m4");
	batch(&d, "/inbox?wait=0&max=2&ack=0", 2, b, ids);
	/* Plain GETs pop what is queued, and never the in-flight. */
	pop1(&d, "/inbox?wait=0", "m3", NULL);
	batch(&d, "/inbox?wait=0&max=5", 1, b + 3, NULL);
	none(&d, "/inbox?wait=0");
	none(&d, "/inbox?wait=0&max=5");
	/* They come back at the next ack= GET. */
	batch(&d, "/inbox?wait=0&max=5&ack=0", 2, b, back);
	ck_assert_uint_eq(back[0], ids[0]);
	ck_assert_uint_eq(back[1], ids[1]);
	none(&d, target(0, "/inbox?wait=0&ack=%llu", ids[1]));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	stop(&d);
}
END_TEST

/* A 16 MiB body that a loopback socket cannot swallow whole. */
#define BIG_CONF "max-message-size 16M\nmax-inbox-bytes 32M\nmax-memory 64M\n"
#define BIG_LEN ((size_t)16 * MIB)

static unsigned char *
big_body(void)
{
	unsigned char *body = malloc(BIG_LEN);
	size_t i;

	ck_assert_ptr_nonnull(body);
	for (i = 0; i < BIG_LEN; i++)
		body[i] = (unsigned char)((i * 2654435761u) >> 13);
	return body;
}

/*
 * GET target as alice on a socket whose receive window is tiny; read
 * only the response head (200, returned in *r), then reset the
 * connection.
 */
static void
get_head_and_reset(struct inboxd *d, const char *target, struct response *r)
{
	size_t hlen;
	char *text;
	int fd;

	fd = client_connect_rcvbuf(cluster_next_port(d), 4096);
	ck_assert_int_ne(fd, -1);
	text = client_build("GET", target, "alice", PW, NULL, NULL, 0, &hlen);
	ck_assert_int_eq(client_write(fd, text, hlen), 0);
	free(text);
	ck_assert_int_eq(client_read_head(fd, r, 5000), 0);
	expect_status(r, 200);
	client_abort(fd);
}

/*
 * After a GET handed n messages and was reset: wait until the daemon is
 * done with them, delivered (kept in flight) or not (requeued), whichever
 * it saw, then count the deliveries anew.
 */
static void
settle_reset(struct inboxd *d, long long requeued0, int n)
{
	long deadline = client_now_ms() + SETTLE_MS;
	long long del, req;

	for (;;) {
		del = metric(d, "inboxd_messages_delivered_total");
		req = metric(d, "inboxd_messages_requeued_total");
		if (del == delivered + n || req == requeued0 + n)
			break;
		ck_assert_msg(client_now_ms() < deadline, "the reset GET's %d "
		    "messages neither delivered (%lld, was %lld) nor requeued "
		    "(%lld, was %lld) after %d ms", n, del, delivered, req,
		    requeued0, SETTLE_MS);
		sleep_ms(5);
	}
	delivered = del;
}

START_TEST(test_dropped_response_of_an_ack_get_loses_nothing)
{
	struct inboxd d;
	struct response r;
	unsigned char *body = big_body();
	char id_big[64];
	long long requeued;
	msgid id, id2;

	begin(&d, BIG_CONF);
	requeued = metric(&d, "inboxd_messages_requeued_total");
	ck_assert_int_eq(send_to(&d, "bob", PW, "alice", "video/webm", body,
	    BIG_LEN, NULL), 204);
	put(&d, "second");
	/* The big one cannot be written whole: it goes back. */
	get_head_and_reset(&d, "/inbox?wait=0&ack=0", &r);
	snprintf(id_big, sizeof(id_big), "%s",
	    response_header(&r, "X-Message-Id"));
	response_free(&r);
	settle_reset(&d, requeued, 1);
	id = parse_id(id_big);
	ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&ack=0", &r), -1);
	expect_status(&r, 200);
	ck_assert_uint_eq(r.body_len, BIG_LEN);
	ck_assert(memcmp(r.body, body, BIG_LEN) == 0);
	ck_assert_str_eq(response_header(&r, "X-Message-Id"), id_big);
	ck_assert_str_eq(response_header(&r, "Content-Type"), "video/webm");
	response_free(&r);
	settle(&d, 1);
	free(body);
	/* Acknowledged, it is gone; then the small one, and its response
	 * dropped too (written whole or not): it comes back all the same. */
	requeued = metric(&d, "inboxd_messages_requeued_total");
	get_head_and_reset(&d, target(0, "/inbox?wait=0&ack=%llu", id), &r);
	id2 = parse_id(response_header(&r, "X-Message-Id"));
	response_free(&r);
	settle_reset(&d, requeued, 1);
	ck_assert_uint_eq(pop1(&d, "/inbox?wait=0&ack=0", "second", NULL), id2);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 1);
	none(&d, target(0, "/inbox?wait=0&ack=%llu", id2));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	stop(&d);
}
END_TEST

START_TEST(test_dropped_batch_of_an_ack_get_comes_back_whole)
{
	static const char *const b[] = { "m1", "m2", "m3" };
	struct inboxd d;
	struct response r;
	long long requeued;
	msgid back[3];

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	requeued = metric(&d, "inboxd_messages_requeued_total");
	get_head_and_reset(&d, "/inbox?wait=0&max=3&ack=0", &r);
	response_free(&r);
	settle_reset(&d, requeued, 3);
	batch(&d, "/inbox?wait=0&max=3&ack=0", 3, b, back);
	none(&d, target(0, "/inbox?wait=0&max=3&ack=%llu", back[2]));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 3);
	stop(&d);
}
END_TEST

START_TEST(test_in_flight_messages_count_against_max_messages)
{
	static const char *const b[] = { "m1", "m2", "m3", "m4", "m5",
		"m6" };
	struct inboxd d;
	msgid ids[3], more[2];

	begin(&d, "max-messages 3\n");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	put_full(&d, "m4");
	batch(&d, "/inbox?wait=0&max=3&ack=0", 3, b, ids);
	/* Nothing queued, three in flight: still full. */
	put_full(&d, "m4");
	/* Two acknowledged, two places; m3 in flight again. */
	pop1(&d, target(0, "/inbox?wait=0&ack=%llu", ids[1]), "m3", NULL);
	put(&d, "m4");
	put(&d, "m5");
	put_full(&d, "x");
	/* m3 acknowledged, m4 and m5 in flight: one place. */
	batch(&d, target(0, "/inbox?wait=0&max=3&ack=%llu", ids[2]), 2, b + 3,
	    more);
	put(&d, "m6");
	put_full(&d, "x");
	/* m4 and m5 acknowledged, m6 in flight: two places. */
	batch(&d, target(0, "/inbox?wait=0&max=3&ack=%llu", more[1]), 1, b + 5,
	    NULL);
	put(&d, "y");
	put(&d, "z");
	put_full(&d, "x");
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 5);
	stop(&d);
}
END_TEST

START_TEST(test_in_flight_messages_count_against_max_inbox_bytes)
{
	struct inboxd d;
	msgid id;

	begin(&d, "max-message-size 10\nmax-inbox-bytes 10\n");
	put(&d, "0123456789");
	put_full(&d, "x");
	id = pop1(&d, "/inbox?wait=0&ack=0", "0123456789", NULL);
	put_full(&d, "x");
	none(&d, target(0, "/inbox?wait=0&ack=%llu", id));
	put(&d, "x");
	stop(&d);
}
END_TEST

START_TEST(test_in_flight_messages_expire_with_message_timeout)
{
	struct inboxd d;
	msgid id, again, fresh;
	long t_sent;

	begin(&d, "message-timeout 2\ninbox-timeout 30\nmax-messages 1\n");
	put(&d, "stale");
	t_sent = client_now_ms();
	id = pop1(&d, "/inbox?wait=0&ack=0", "stale", NULL);
	/* Before its deadline it is still in flight and comes back. */
	again = pop1(&d, "/inbox?wait=0&ack=0", "stale", NULL);
	ck_assert_uint_eq(again, id);
	ck_assert_msg(client_now_ms() < t_sent + 2000, "the machine took "
	    "%ld ms for two GETs", client_now_ms() - t_sent);
	put_full(&d, "fresh");
	/* Past it, not: it is gone, and its place in the quota too. */
	sleep_until(t_sent + 2000 + TICK_MS + SLACK_MS);
	put(&d, "fresh");
	fresh = pop1(&d, "/inbox?wait=0&ack=0", "fresh", NULL);
	ck_assert_uint_gt(fresh, id);
	none(&d, target(0, "/inbox?wait=0&ack=%llu", fresh));
	none(&d, "/inbox?wait=0&ack=0");
	ck_assert_int_eq(metric(&d, "inboxd_messages_expired_total"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 1);
	stop(&d);
}
END_TEST

START_TEST(test_in_flight_messages_are_not_redelivered_after_message_timeout)
{
	static const char *const b[] = { "a", "b" };
	struct inboxd d;
	long t_sent;

	begin(&d, "message-timeout 1\ninbox-timeout 30\n");
	put(&d, "a");
	put(&d, "b");
	t_sent = client_now_ms();
	batch(&d, "/inbox?wait=0&max=2&ack=0", 2, b, NULL);
	sleep_until(t_sent + 1000 + TICK_MS + SLACK_MS);
	/* Not by ack=0, nor by an unknown id, nor by a held GET. */
	none(&d, "/inbox?wait=0&max=2&ack=0");
	none(&d, "/inbox?wait=0&ack=12345");
	none(&d, "/inbox?wait=1&max=2&ack=0");
	ck_assert_int_eq(metric(&d, "inboxd_messages_expired_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_second_ack_get_displaces_a_held_one_and_ack_still_works)
{
	static const char *const b[] = { "m1", "m2" };
	struct inboxd d;
	struct response r;
	msgid ids[2], id3;
	long t0, ms;
	cJSON *j;
	int first, second;

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	batch(&d, "/inbox?wait=0&max=2&ack=0", 2, b, ids);
	/* The first acknowledges both and is held on the empty inbox. */
	first = hold(&d, target(0, "/inbox?wait=10&max=5&ack=%llu", ids[1]),
	    1);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	/* The second displaces it (204 at once) and is held instead. */
	t0 = client_now_ms();
	second = client_send(cluster_next_port(&d), "GET",
	    target(1, "/inbox?wait=10&max=5&ack=%llu", ids[1]), "alice", PW,
	    NULL, NULL, 0);
	ck_assert_int_ne(second, -1);
	ck_assert_int_eq(client_read(first, &r, 5000), 0);
	ms = client_now_ms() - t0;
	close(first);
	expect_status(&r, 204);
	response_free(&r);
	ck_assert_msg(ms < 1000, "the displaced GET answered after %ld ms", ms);
	wait_metric(&d, "inboxd_waiters", 1, 5000);
	ck_assert_msg(client_quiet(second, 200), "the newer GET was answered");
	put(&d, "m3");
	ck_assert_int_eq(client_read(second, &r, 5000), 0);
	close(second);
	j = parse_batch(&r, "the held GET");
	ck_assert_int_eq(cJSON_GetArraySize(items(j)), 1);
	id3 = item_text(items(j), 0, "m3", NULL);
	cJSON_Delete(j);
	response_free(&r);
	settle(&d, 1);
	ck_assert_uint_gt(id3, ids[1]);
	/* m3 is in flight: back at ack=0, gone at ack=its id. */
	ck_assert_uint_eq(pop1(&d, "/inbox?wait=0&ack=0", "m3", NULL), id3);
	none(&d, target(0, "/inbox?wait=0&ack=%llu", id3));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 3);
	none(&d, "/inbox?wait=0&ack=0");
	stop(&d);
}
END_TEST

START_TEST(test_acknowledged_total_counts_what_was_acknowledged)
{
	static const char *const b[] = { "m1", "m2", "m3", "m4", "m5", "m6" };
	struct inboxd d;
	msgid ids[4], back[2];

	begin(&d, "");
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 0);
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	put(&d, "m4");
	batch(&d, "/inbox?wait=0&max=4&ack=0", 4, b, ids);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 0);
	batch(&d, target(0, "/inbox?wait=0&max=4&ack=%llu", ids[1]), 2, b + 2,
	    back);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	batch(&d, target(0, "/inbox?wait=0&max=4&ack=%llu", ids[3] + 1000), 2,
	    b + 2, back);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	/* Plain GETs acknowledge nothing. */
	put(&d, "m5");
	pop1(&d, "/inbox?wait=0", "m5", NULL);
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 2);
	none(&d, target(0, "/inbox?wait=0&max=4&ack=%llu", ids[3]));
	ck_assert_int_eq(metric(&d, "inboxd_messages_acknowledged_total"), 4);
	/* Delivered counts every hand-over: 4 + 2 + 2 + 1. */
	ck_assert_int_eq(metric(&d, "inboxd_messages_delivered_total"), 9);
	stop(&d);
}
END_TEST

/* True when the len bytes at s are UTF-8 (RFC 3629): no overlong form,
 * no surrogate, nothing past U+10FFFF. */
static int
is_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	unsigned long cp;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			n = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			n = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (i + n > len)
			return 0;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n;
	}
	return 1;
}

/*
 * A Content-Type may hold bytes 0x80-0xFF (obs-text, RFC 9110 section
 * 5.5), which need not be UTF-8; the batch is JSON, which must be
 * (RFC 8259 section 8.1): such a type is read as ISO-8859-1 (inboxd(8)),
 * while the single-message form hands it back as it came.
 */
START_TEST(test_batch_is_utf8_json_whatever_the_senders_content_type)
{
	static const char latin1[] = "text/plain; title=caf\xe9";
	struct inboxd d;
	struct response r;
	cJSON *j;

	begin(&d, "");
	put_typed(&d, latin1, "hi", 2);
	put_typed(&d, latin1, "hi", 2);
	ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&max=1", &r), -1);
	expect_status(&r, 200);
	ck_assert_str_eq(response_header(&r, "Content-Type"), latin1);
	response_free(&r);
	settle(&d, 1);
	ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&max=5", &r), -1);
	expect_status(&r, 200);
	ck_assert_msg(is_utf8((const unsigned char *)r.body, r.body_len),
	    "the batch is not UTF-8: %.*s", (int)r.body_len, r.body);
	j = parse_batch(&r, "GET max=5");
	ck_assert_int_eq(cJSON_GetArraySize(items(j)), 1);
	item_text(items(j), 0, "hi", "text/plain; title=caf\xc3\xa9");
	cJSON_Delete(j);
	response_free(&r);
	settle(&d, 1);
	stop(&d);
}
END_TEST

/*
 * An ack= GET may put messages back in the queue while another GET of
 * the inbox is held (one without ack= leaves the in-flight alone, so it
 * can be held beside them).  The held GET must not go on waiting beside
 * queued messages: it is answered at once, with a message or displaced,
 * and nothing is lost or doubled.
 */
START_TEST(test_held_get_is_answered_when_an_ack_get_puts_messages_back)
{
	static const char *const b[] = { "m1", "m2", "m3" };
	struct inboxd d;
	struct response r;
	cJSON *j, *a;
	msgid ids[3], id1;
	int fd, seen[3] = { 0, 0, 0 }, i, k, n;
	const char *body;

	begin(&d, "");
	put(&d, "m1");
	put(&d, "m2");
	put(&d, "m3");
	batch(&d, "/inbox?wait=0&max=3&ack=0", 3, b, ids);
	/* Held: nothing queued, three in flight. */
	fd = hold(&d, "/inbox?wait=10", 1);
	/* All three back, one taken: two queued beside the held GET. */
	ck_assert_int_ne(get(&d, "alice", PW, "/inbox?wait=0&ack=0", &r), -1);
	expect_status(&r, 200);
	id1 = parse_id(response_header(&r, "X-Message-Id"));
	for (k = 0; k < 3; k++)
		if (r.body_len == 2 && memcmp(r.body, b[k], 2) == 0)
			seen[k]++;
	response_free(&r);
	settle(&d, 1);
	ck_assert_msg(client_read(fd, &r, 2000) == 0, "the held GET was not "
	    "answered within 2 s, with %lld messages queued",
	    metric(&d, "inboxd_messages_queued"));
	close(fd);
	ck_assert_msg(r.status == 200 || r.status == 204, "the held GET "
	    "answered %d", r.status);
	if (r.status == 200) {
		for (k = 0; k < 3; k++)
			if (r.body_len == 2 && memcmp(r.body, b[k], 2) == 0)
				seen[k]++;
		settle(&d, 1);
	}
	response_free(&r);
	/* The rest, and the first acknowledged. */
	ck_assert_int_ne(get(&d, "alice", PW, target(0,
	    "/inbox?wait=0&max=5&ack=%llu", id1), &r), -1);
	if (r.status == 200) {
		j = parse_batch(&r, "the rest");
		a = items(j);
		n = cJSON_GetArraySize(a);
		for (i = 0; i < n; i++) {
			body = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetArrayItem(a, i), "body")->valuestring;
			for (k = 0; k < 3; k++)
				if (strcmp(body, b[k]) == 0)
					seen[k]++;
		}
		cJSON_Delete(j);
		settle(&d, n);
	} else
		expect_status(&r, 204);
	response_free(&r);
	for (k = 0; k < 3; k++)
		ck_assert_msg(seen[k] == 1, "%s was received %d times", b[k],
		    seen[k]);
	stop(&d);
}
END_TEST

/*
 * Cluster mode only (SPEC sections 8 and 9): what an ack= GET on one
 * node was handed awaits its client's acknowledgement, not that node; the
 * node dying puts none of it back early, and the other node settles it.
 */
START_TEST(test_in_flight_for_an_ack_outlives_the_node_that_delivered_it)
{
	struct inboxd d;
	struct response r;
	unsigned a, b;
	long deadline;
	cJSON *j;
	msgid ids[2], back;

	if (!cluster_mode()) {
		printf("test_in_flight_for_an_ack_outlives_the_node_that_"
		    "delivered_it: only in cluster mode (two nodes)\n");
		fflush(stdout);
		return;
	}
	begin(&d, "");
	a = d.cluster->node[0].port;
	b = d.cluster->node[1].port;
	put(&d, "m1");
	put(&d, "m2");
	ck_assert_int_eq(client_request(a, "GET", "/inbox?wait=0&max=2&ack=0",
	    "alice", PW, NULL, NULL, 0, &r), 200);
	j = parse_batch(&r, "GET max=2 on node-1");
	ck_assert_int_eq(cJSON_GetArraySize(items(j)), 2);
	ids[0] = item_text(items(j), 0, "m1", NULL);
	ids[1] = item_text(items(j), 1, "m2", NULL);
	cJSON_Delete(j);
	response_free(&r);
	/* Done with on node-1 before it dies. */
	deadline = client_now_ms() + SETTLE_MS;
	while (node_metric_from(a, NULL, "inboxd_messages_delivered_total") !=
	    2) {
		ck_assert_msg(client_now_ms() < deadline, "node-1 did not count "
		    "its deliveries");
		sleep_ms(5);
	}
	ck_assert_int_eq(inboxd_kill(&d.cluster->node[0], SIGKILL), -1);
	/* m1 acknowledged on node-2, m2 back with its id. */
	ck_assert_int_eq(client_request(b, "GET", target(0,
	    "/inbox?wait=0&ack=%llu", ids[0]), "alice", PW, NULL, NULL, 0, &r),
	    200);
	ck_assert_uint_eq(r.body_len, 2);
	ck_assert(memcmp(r.body, "m2", 2) == 0);
	back = parse_id(response_header(&r, "X-Message-Id"));
	response_free(&r);
	ck_assert_uint_eq(back, ids[1]);
	deadline = client_now_ms() + SETTLE_MS;
	while (node_metric_from(b, NULL, "inboxd_messages_delivered_total") !=
	    1) {
		ck_assert_msg(client_now_ms() < deadline, "node-2 did not count "
		    "its delivery");
		sleep_ms(5);
	}
	ck_assert_int_eq(client_request(b, "GET", target(0,
	    "/inbox?wait=0&ack=%llu", ids[1]), "alice", PW, NULL, NULL, 0, &r),
	    204);
	response_free(&r);
	ck_assert_int_eq(node_metric_from(b, NULL,
	    "inboxd_messages_acknowledged_total"), 2);
	ck_assert_int_eq(client_request(b, "GET", "/inbox?wait=0&ack=0",
	    "alice", PW, NULL, NULL, 0, &r), 204);
	response_free(&r);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------------- suite */

static Suite *
ack_suite(void)
{
	Suite *s = suite_create("ack");
	TCase *tc;

	tc = tcase(s, "ids", 20);
	tcase_add_test(tc, test_ids_grow_across_a_restart_and_stay_below_2_53);
	tcase_add_test(tc,
	    test_ids_grow_when_an_inbox_is_made_again_under_its_name);
	tcase_add_test(tc,
	    test_ids_of_one_inbox_strictly_increase_over_100_sends);
	tcase_add_test(tc,
	    test_full_batches_are_delivered_and_acknowledged_whole);

	tc = tcase(s, "max", 15);
	tcase_add_test(tc,
	    test_max_takes_the_oldest_n_and_the_rest_stay_queued_in_order);
	tcase_add_test(tc, test_max_above_max_batch_is_clamped_to_it);
	tcase_add_test(tc, test_max_or_ack_that_is_not_a_decimal_number_is_400);
	tcase_add_test(tc, test_max_1_is_the_single_message_form);
	tcase_add_test(tc, test_max_01_is_the_single_message_form_too);
	tcase_add_test(tc, test_empty_inbox_with_max_and_wait_0_is_204);
	tcase_add_test(tc,
	    test_held_max_get_is_woken_by_one_send_with_a_batch_of_one);
	tcase_add_test(tc,
	    test_batch_type_is_null_without_content_type_and_given_with_one);
	tcase_add_test(tc,
	    test_binary_body_comes_as_body_base64_and_utf8_as_body);
	tcase_add_test(tc, test_room_messages_carry_room_and_event);
	tcase_add_test(tc,
	    test_batch_is_utf8_json_whatever_the_senders_content_type);

	tc = tcase(s, "ack", 15);
	tcase_add_test(tc, test_ack_0_on_a_first_poll_acknowledges_nothing);
	tcase_add_test(tc, test_ack_of_the_last_of_a_batch_deletes_the_batch);
	tcase_add_test(tc,
	    test_ack_of_a_middle_one_deletes_it_and_those_before_it);
	tcase_add_test(tc, test_ack_of_an_unknown_id_redelivers_all_in_flight);
	tcase_add_test(tc, test_ack_with_max_keeps_the_batch_in_flight_as_one);
	tcase_add_test(tc, test_get_without_ack_leaves_the_in_flight_alone);
	tcase_add_test(tc,
	    test_second_ack_get_displaces_a_held_one_and_ack_still_works);
	tcase_add_test(tc,
	    test_acknowledged_total_counts_what_was_acknowledged);
	tcase_add_test(tc,
	    test_held_get_is_answered_when_an_ack_get_puts_messages_back);

	tc = tcase(s, "no_loss", 30);
	tcase_add_test(tc, test_dropped_response_of_an_ack_get_loses_nothing);
	tcase_add_test(tc, test_dropped_batch_of_an_ack_get_comes_back_whole);
	tcase_add_test(tc,
	    test_in_flight_for_an_ack_outlives_the_node_that_delivered_it);

	tc = tcase(s, "quotas_and_expiry", 15);
	tcase_add_test(tc, test_in_flight_messages_count_against_max_messages);
	tcase_add_test(tc,
	    test_in_flight_messages_count_against_max_inbox_bytes);
	tcase_add_test(tc, test_in_flight_messages_expire_with_message_timeout);
	tcase_add_test(tc,
	    test_in_flight_messages_are_not_redelivered_after_message_timeout);
	return s;
}

int
main(void)
{
	return check_run(ack_suite());
}
