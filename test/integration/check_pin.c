/*
 * check_pin.c - POST /pin and sends by X-PIN, /healthz and /metrics (SPEC
 * section 2), end to end against the real daemon.
 *
 * Every test starts its own inboxd on an ephemeral loopback port with
 * Argon2 down to 64 KiB and one pass.  Waits are bounded everywhere: a
 * test waits out a known timeout (pin-timeout, inbox-timeout,
 * message-timeout, plus the one tick of lateness SPEC section 3 allows),
 * or polls /metrics for a condition with a deadline; in particular a GET
 * counts as held once inboxd_waiters says so, never after a guessed sleep.
 * /metrics is read from 127.0.0.1 (or 127.0.0.2, also loopback), and its
 * whole body is checked against the Prometheus text format 0.0.4.
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

/* The second client address (see client_connect_from). */
#define OTHER "127.0.0.2"

/* The timer wheel's tick, the most SPEC section 3 lets expiry be late. */
#define TICK_MS 100
/* Scheduling slack on top of it, for a loaded machine. */
#define SLACK_MS 150

/* Why a cluster (INBOXD_CLUSTER=1) skips some checks of one process. */
#define PER_NODE_HASHES "each node verifies a password with Argon2 once " \
	"before it caches it (SPEC section 8), so the hashes depend on how " \
	"the requests spread over the nodes"
#define PER_NODE_CODES "each node counts the requests it answered, and " \
	"these went to two nodes"

/* r has status, or the test fails showing what came instead. */
static void
expect_status(const struct response *r, int status)
{
	ck_assert_msg(r->status == status, "status %d, expected %d:\n%s%s",
	    r->status, status, r->head, r->body ? r->body : "");
}

/*
 * POST /pin as user: 201, Content-Type application/json, a body
 * {"pin": exactly `digits' decimal digits, "expires_in": expires_in};
 * the PIN is copied to pin.
 */
static void
new_pin(struct inboxd *d, const char *user, const char *password,
    unsigned digits, long expires_in, char pin[16])
{
	struct response r;
	const char *type;
	cJSON *j, *p, *e;
	size_t i;

	ck_assert_int_ne(req(d, "POST", "/pin", user, password, NULL, NULL, 0,
	    &r), -1);
	expect_status(&r, 201);
	type = response_header(&r, "Content-Type");
	ck_assert_msg(type != NULL &&
	    strncasecmp(type, "application/json", 16) == 0,
	    "POST /pin answered Content-Type %s", type ? type : "(none)");
	assert_cors(&r);
	j = cJSON_ParseWithLength(r.body, r.body_len);
	ck_assert_msg(cJSON_IsObject(j), "POST /pin body is not a JSON "
	    "object: %s", r.body);
	p = cJSON_GetObjectItemCaseSensitive(j, "pin");
	e = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
	ck_assert_msg(cJSON_IsString(p), "no string \"pin\" in %s", r.body);
	ck_assert_msg(strlen(p->valuestring) == digits,
	    "PIN \"%s\" is not %u digits long", p->valuestring, digits);
	for (i = 0; i < digits; i++)
		ck_assert_msg(p->valuestring[i] >= '0' &&
		    p->valuestring[i] <= '9', "PIN \"%s\" holds a non-digit",
		    p->valuestring);
	ck_assert_msg(cJSON_IsNumber(e) && e->valuedouble == (double)expires_in,
	    "\"expires_in\" is not %ld in %s", expires_in, r.body);
	snprintf(pin, 16, "%s", p->valuestring);
	cJSON_Delete(j);
	response_free(&r);
}

/* POST body to the inbox of PIN pin (X-PIN and no `to') as from. */
static int
send_pin(struct inboxd *d, const char *from, const char *password,
    const char *pin, const char *type, const void *body, size_t len,
    struct response *r)
{
	char extra[512];

	snprintf(extra, sizeof(extra), "X-PIN: %s\r\n%s%s%s", pin,
	    type ? "Content-Type: " : "", type ? type : "", type ? "\r\n" : "");
	return req(d, "POST", "/inbox", from, password, extra, body, len, r);
}

/* A send by PIN is 204 with X-To: owner and no body. */
static void
expect_sent_to(struct inboxd *d, const char *from, const char *pin,
    const char *body, const char *owner)
{
	struct response r;
	const char *to;

	ck_assert_int_ne(send_pin(d, from, "pw", pin, NULL, body, strlen(body),
	    &r), -1);
	expect_status(&r, 204);
	to = response_header(&r, "X-To");
	ck_assert_msg(to != NULL && strcmp(to, owner) == 0,
	    "send by PIN %s: X-To %s, expected %s", pin, to ? to : "(none)",
	    owner);
	ck_assert_uint_eq(r.body_len, 0);
	assert_cors(&r);
	response_free(&r);
}

/* A send by PIN is 404 not_found. */
static void
expect_unknown_pin(struct inboxd *d, const char *from, const char *pin)
{
	struct response r;

	ck_assert_int_ne(send_pin(d, from, "pw", pin, NULL, "x", 1, &r), -1);
	assert_error_full(&r, 404, "not_found");
	ck_assert_ptr_null(response_header(&r, "X-To"));
	response_free(&r);
}

/* Pop one message and check its body, sender and type. */
static void
expect_pop(struct inboxd *d, const char *user, const char *password,
    const char *body, const char *from, const char *type)
{
	struct response r;
	size_t len = strlen(body);

	ck_assert_msg(get(d, user, password, "/inbox?wait=0", &r) == 200,
	    "%s popped nothing (status %d), expected \"%s\" from %s", user,
	    r.status, body, from);
	ck_assert_msg(r.body_len == len && memcmp(r.body, body, len) == 0,
	    "%s popped \"%.*s\", expected \"%s\"", user, (int)r.body_len,
	    r.body, body);
	ck_assert_str_eq(response_header(&r, "X-From"), from);
	if (type != NULL)
		ck_assert_str_eq(response_header(&r, "Content-Type"), type);
	response_free(&r);
}

/* user's inbox is empty (and exists with this password). */
static void
expect_empty(struct inboxd *d, const char *user, const char *password)
{
	ck_assert_int_eq(get(d, user, password, "/inbox?wait=0", NULL), 204);
}

/* Another PIN of `digits' digits than pin: pin + k, wrapping. */
static void
other_pin(const char *pin, unsigned digits, unsigned k, char out[16])
{
	unsigned long mod = 1, v = strtoul(pin, NULL, 10);
	unsigned i;

	for (i = 0; i < digits; i++)
		mod *= 10;
	snprintf(out, 16, "%0*lu", (int)digits, (v + k) % mod);
}

/* ------------------------------------------------------------ POST /pin */

START_TEST(test_post_pin_is_201_json_with_six_digits_expiring_in_60)
{
	struct inboxd d;
	char pin[16];

	start(&d, "");
	contact(&d, "alice", "pw");
	new_pin(&d, "alice", "pw", 6, 60, pin);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 1);
	stop(&d);
}
END_TEST

START_TEST(test_post_pin_by_an_unknown_user_is_its_first_contact)
{
	struct inboxd d;
	struct response r;
	char pin[16];

	start(&d, "");
	new_pin(&d, "alice", "pw", 6, 60, pin);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 1);
	/* The inbox is alice's, with that password. */
	expect_empty(&d, "alice", "pw");
	ck_assert_int_eq(get(&d, "alice", "other", "/inbox?wait=0", &r), 401);
	assert_error_full(&r, 401, "unauthorized");
	response_free(&r);
	ck_assert_int_eq(req(&d, "POST", "/pin", "alice", "other", NULL, NULL,
	    0, &r), 401);
	assert_error_full(&r, 401, "unauthorized");
	response_free(&r);
	/* A later POST /pin is no first contact: no hash. */
	new_pin(&d, "alice", "pw", 6, 60, pin);
	if (!cluster_skip(__func__, PER_NODE_HASHES))
		ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 1);
	expect_sent_to(&d, "bob", pin, "hi", "alice");
	expect_pop(&d, "alice", "pw", "hi", "bob", NULL);
	stop(&d);
}
END_TEST

START_TEST(test_post_pin_needs_credentials_and_is_post_only)
{
	static const char *const methods[] = { "GET", "PUT", "DELETE",
		"PATCH" };
	struct inboxd d;
	struct response r;
	const char *allow;
	size_t i;

	start(&d, "");
	ck_assert_int_eq(req(&d, "POST", "/pin", NULL, NULL, NULL, NULL, 0,
	    &r), 401);
	assert_error_full(&r, 401, "unauthorized");
	ck_assert_str_eq(response_header(&r, "WWW-Authenticate"),
	    "Basic realm=\"inboxd\", charset=\"UTF-8\"");
	response_free(&r);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		ck_assert_int_eq(req(&d, methods[i], "/pin", "alice", "pw",
		    NULL, NULL, 0, &r), 405);
		assert_error_full(&r, 405, "method_not_allowed");
		allow = response_header(&r, "Allow");
		ck_assert_msg(allow != NULL && has_token(allow, "POST") &&
		    !has_token(allow, methods[i]), "%s /pin: Allow %s",
		    methods[i], allow ? allow : "(none)");
		response_free(&r);
	}
	/* None of it made an inbox or a PIN. */
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_four_digit_pins_work)
{
	struct inboxd d;
	char pin[16];

	start(&d, "pin-digits 4\npin-timeout 30\n");
	contact(&d, "alice", "pw");
	new_pin(&d, "alice", "pw", 4, 30, pin);
	expect_sent_to(&d, "bob", pin, "four", "alice");
	expect_pop(&d, "alice", "pw", "four", "bob", NULL);
	/* Six digits are the wrong length here. */
	new_pin(&d, "alice", "pw", 4, 30, pin);
	expect_unknown_pin(&d, "bob", "123456");
	stop(&d);
}
END_TEST

START_TEST(test_nine_digit_pins_work)
{
	struct inboxd d;
	char pin[16], six[16];

	start(&d, "pin-digits 9\npin-timeout 600\n");
	contact(&d, "alice", "pw");
	new_pin(&d, "alice", "pw", 9, 600, pin);
	/* The last six digits of a live PIN are not it. */
	snprintf(six, sizeof(six), "%s", pin + 3);
	expect_unknown_pin(&d, "bob", six);
	expect_sent_to(&d, "bob", pin, "nine", "alice");
	expect_pop(&d, "alice", "pw", "nine", "bob", NULL);
	stop(&d);
}
END_TEST

#define MANY_PINS 200

START_TEST(test_live_pins_are_distinct_among_two_hundred_of_four_digits)
{
	static char pins[MANY_PINS][16];
	struct inboxd d;
	char name[32], owner[32];
	int i, j, zero = 0;

	start(&d, "pin-digits 4\n");
	for (i = 0; i < MANY_PINS; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		new_pin(&d, name, "pw", 4, 60, pins[i]);
		zero += pins[i][0] == '0';
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(pins[i], pins[j]) != 0,
			    "PIN %s given to u%d and u%d, both live", pins[i], j,
			    i);
	}
	ck_assert_int_eq(metric(&d, "inboxd_pins"), MANY_PINS);
	/*
	 * One code in ten starts with 0, so 200 draws without one would
	 * happen once in 10^9 runs: the zero padding was exercised.
	 */
	ck_assert_msg(zero > 0, "no PIN below 1000 in %d", MANY_PINS);
	/* Each PIN names its own inbox. */
	for (i = 0; i < MANY_PINS; i++) {
		snprintf(owner, sizeof(owner), "u%d", i);
		expect_sent_to(&d, "sender", pins[i], owner, owner);
	}
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 0);
	for (i = 0; i < MANY_PINS; i += 37) {
		snprintf(owner, sizeof(owner), "u%d", i);
		expect_pop(&d, owner, "pw", owner, "sender", NULL);
	}
	stop(&d);
}
END_TEST

/* --------------------------------------------------------- send by PIN */

START_TEST(test_send_by_pin_reaches_its_owner_and_answers_x_to)
{
	static const char owner[] = "zo\xc3\xab/phone@example.org";
	struct inboxd d;
	struct response r;
	char pin[16];

	start(&d, "");
	contact(&d, owner, "pw");
	new_pin(&d, owner, "pw", 6, 60, pin);
	/* bob's first contact is this very send. */
	ck_assert_int_eq(send_pin(&d, "bob", "pw", pin, "application/sdp",
	    "v=0", 3, &r), 204);
	ck_assert_str_eq(response_header(&r, "X-To"), owner);
	ck_assert_uint_eq(r.body_len, 0);
	assert_cors(&r);
	response_free(&r);
	expect_pop(&d, owner, "pw", "v=0", "bob", "application/sdp");
	expect_empty(&d, owner, "pw");
	/* bob has an inbox now, under his password. */
	expect_empty(&d, "bob", "pw");
	ck_assert_int_eq(get(&d, "bob", "other", "/inbox?wait=0", NULL), 401);
	/* And goes on with ?to= and the name X-To gave him. */
	ck_assert_int_eq(send_to(&d, "bob", "pw",
	    "zo%C3%AB%2Fphone%40example.org", NULL, "again", 5, NULL), 204);
	expect_pop(&d, owner, "pw", "again", "bob", NULL);
	ck_assert_int_eq(metric(&d, "inboxd_messages_sent_total"), 2);
	stop(&d);
}
END_TEST

START_TEST(test_pin_is_consumed_by_its_first_send)
{
	struct inboxd d;
	char pin[16];

	start(&d, "");
	contact(&d, "alice", "pw");
	new_pin(&d, "alice", "pw", 6, 60, pin);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 1);
	expect_sent_to(&d, "bob", pin, "once", "alice");
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 0);
	expect_unknown_pin(&d, "bob", pin);
	expect_unknown_pin(&d, "carol", pin);
	expect_pop(&d, "alice", "pw", "once", "bob", NULL);
	expect_empty(&d, "alice", "pw");
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 2);
	stop(&d);
}
END_TEST

START_TEST(test_expired_pin_is_not_found)
{
	struct inboxd d;
	char fresh[16], stale[16];
	long t;

	start(&d, "pin-timeout 1\n");
	contact(&d, "alice", "pw");
	contact(&d, "carol", "pw");
	new_pin(&d, "alice", "pw", 6, 1, fresh);
	new_pin(&d, "carol", "pw", 6, 1, stale);
	t = client_now_ms();
	expect_sent_to(&d, "bob", fresh, "in time", "alice");
	/* pin-timeout, plus the one tick expiry may be late. */
	sleep_until(t + 1000 + TICK_MS + SLACK_MS);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 0);
	expect_unknown_pin(&d, "bob", stale);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 1);
	/* The inboxes themselves live on. */
	expect_empty(&d, "carol", "pw");
	expect_pop(&d, "alice", "pw", "in time", "bob", NULL);
	stop(&d);
}
END_TEST

START_TEST(test_malformed_pins_are_not_found_and_count_as_failures)
{
	static const char *const bad[] = { "12ab", "12345", "1234567", "",
		"abcdef", "12 456", "+12345", "-12345", "0x1234",
		"\xef\xbc\x91\xef\xbc\x92" /* fullwidth 12 */ };
	const size_t n = sizeof(bad) / sizeof(bad[0]);
	struct inboxd d;
	char pin[16], longer[20];
	size_t i;

	start(&d, "");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	new_pin(&d, "alice", "pw", 6, 60, pin);
	for (i = 0; i < n; i++)
		expect_unknown_pin(&d, "bob", bad[i]);
	/* The live PIN with a leading zero is seven digits: not it. */
	snprintf(longer, sizeof(longer), "0%s", pin);
	expect_unknown_pin(&d, "bob", longer);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"),
	    (long long)n + 1);
	/* None of them used the live PIN up, and none made a message. */
	ck_assert_int_eq(metric(&d, "inboxd_messages_sent_total"), 0);
	expect_sent_to(&d, "bob", pin, "real", "alice");
	expect_pop(&d, "alice", "pw", "real", "bob", NULL);
	expect_empty(&d, "alice", "pw");
	stop(&d);
}
END_TEST

START_TEST(test_unknown_pins_count_as_failures_then_429)
{
	struct inboxd d;
	struct response r;
	char pin[16], wrong[16], extra[64];
	unsigned k;

	start(&d, "auth-failures-per-minute 3\n");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	new_pin(&d, "alice", "pw", 6, 60, pin);
	/* alice's is the one live PIN: any other code is unknown. */
	for (k = 1; k <= 3; k++) {
		other_pin(pin, 6, k, wrong);
		expect_unknown_pin(&d, "bob", wrong);
	}
	/* Now even the right PIN is refused from this address... */
	ck_assert_int_eq(send_pin(&d, "bob", "pw", pin, NULL, "x", 1, &r),
	    429);
	assert_error_full(&r, 429, "too_many_requests");
	ck_assert_msg(retry_after(&r) >= 1 && retry_after(&r) <= 60,
	    "429 with Retry-After %ld", retry_after(&r));
	response_free(&r);
	ck_assert_int_eq(req(&d, "POST", "/pin", "bob", "pw", NULL, NULL, 0,
	    &r), 429);
	assert_error_full(&r, 429, "too_many_requests");
	response_free(&r);
	/* ... without using it up: from another address it still works. */
	snprintf(extra, sizeof(extra), "X-PIN: %s\r\n", pin);
	ck_assert_int_eq(client_request_from(d.port, OTHER, "POST", "/inbox",
	    "bob", "pw", extra, "z", 1, &r), 204);
	ck_assert_str_eq(response_header(&r, "X-To"), "alice");
	response_free(&r);
	ck_assert_int_eq(client_request_from(d.port, OTHER, "GET",
	    "/inbox?wait=0", "alice", "pw", NULL, NULL, 0, &r), 200);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	response_free(&r);
	/* Three unknown PINs; the two 429s are no further failures. */
	ck_assert_int_eq(metric_from(&d, OTHER, "inboxd_auth_failures_total"),
	    3);
	ck_assert_int_eq(metric_from(&d, OTHER,
	    "inboxd_rate_limited_requests_total"), 2);
	stop(&d);
}
END_TEST

START_TEST(test_to_takes_precedence_over_x_pin)
{
	struct inboxd d;
	struct response r;
	char pin[16], extra[64];

	start(&d, "");
	contact(&d, "alice", "pw");
	contact(&d, "carol", "pw");
	new_pin(&d, "alice", "pw", 6, 60, pin);
	snprintf(extra, sizeof(extra), "X-PIN: %s\r\n", pin);
	ck_assert_int_eq(req(&d, "POST", "/inbox?to=carol", "bob", "pw", extra,
	    "for carol", 9, &r), 204);
	ck_assert_ptr_null(response_header(&r, "X-To"));
	response_free(&r);
	ck_assert_int_eq(req(&d, "POST", "/inbox?to=nobody", "bob", "pw",
	    extra, "lost", 4, &r), 404);
	assert_error_full(&r, 404, "not_found");
	response_free(&r);
	expect_pop(&d, "carol", "pw", "for carol", "bob", NULL);
	expect_empty(&d, "carol", "pw");
	expect_empty(&d, "alice", "pw");
	/* The PIN was not looked at, let alone used. */
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	expect_sent_to(&d, "bob", pin, "for alice", "alice");
	expect_pop(&d, "alice", "pw", "for alice", "bob", NULL);
	stop(&d);
}
END_TEST

START_TEST(test_new_pin_replaces_the_inbox_earlier_pin)
{
	struct inboxd d;
	char first[16], second[16];

	start(&d, "");
	contact(&d, "alice", "pw");
	new_pin(&d, "alice", "pw", 6, 60, first);
	new_pin(&d, "alice", "pw", 6, 60, second);
	ck_assert_msg(strcmp(first, second) != 0, "the same PIN %s twice "
	    "while it was live", first);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 1);
	expect_unknown_pin(&d, "bob", first);
	expect_sent_to(&d, "bob", second, "second", "alice");
	expect_pop(&d, "alice", "pw", "second", "bob", NULL);
	expect_empty(&d, "alice", "pw");
	stop(&d);
}
END_TEST

START_TEST(test_pin_goes_with_its_expired_inbox)
{
	struct inboxd d;
	char pin[16];
	long t;

	start(&d, "inbox-timeout 1\n");
	new_pin(&d, "alice", "old", 6, 60, pin);
	t = client_now_ms();
	/* inbox-timeout, plus the one tick expiry may be late. */
	sleep_until(t + 1000 + TICK_MS + SLACK_MS);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes_expired_total"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 0);
	/* A new inbox of the same name does not inherit the PIN. */
	contact(&d, "alice", "new");
	expect_unknown_pin(&d, "mallory", pin);
	expect_empty(&d, "alice", "new");
	stop(&d);
}
END_TEST

START_TEST(test_inbox_full_through_a_pin_leaves_the_pin_usable)
{
	struct inboxd d;
	struct response r;
	char pin[16];

	start(&d, "max-messages 1\n");
	contact(&d, "alice", "pw");
	new_pin(&d, "alice", "pw", 6, 60, pin);
	ck_assert_int_eq(send_to(&d, "carol", "pw", "alice", NULL, "first", 5,
	    NULL), 204);
	ck_assert_int_eq(send_pin(&d, "bob", "pw", pin, NULL, "second", 6,
	    &r), 503);
	assert_error_full(&r, 503, "inbox_full");
	ck_assert_int_eq(retry_after(&r), 1);
	ck_assert_ptr_null(response_header(&r, "X-To"));
	response_free(&r);
	/* Not a failed attempt, and the PIN is still alice's. */
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 1);
	expect_pop(&d, "alice", "pw", "first", "carol", NULL);
	expect_sent_to(&d, "bob", pin, "second", "alice");
	expect_pop(&d, "alice", "pw", "second", "bob", NULL);
	expect_unknown_pin(&d, "bob", pin);
	stop(&d);
}
END_TEST

START_TEST(test_preflight_on_pin_allows_x_pin_and_answers_expose_x_to)
{
	static const char *const paths[] = { "/pin", "/inbox" };
	static const char preflight[] = "Origin: https://app.example\r\n"
	    "Access-Control-Request-Method: POST\r\n"
	    "Access-Control-Request-Headers: authorization, x-pin\r\n";
	struct inboxd d;
	struct response r;
	const char *v;
	char pin[16];
	size_t i;

	start(&d, "");
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(req(&d, "OPTIONS", paths[i], NULL, NULL,
		    preflight, NULL, 0, &r), 204);
		v = response_header(&r, "Access-Control-Allow-Headers");
		ck_assert_msg(v != NULL && has_token(v, "X-PIN") &&
		    has_token(v, "Authorization") &&
		    has_token(v, "Content-Type"), "OPTIONS %s: "
		    "Access-Control-Allow-Headers %s", paths[i],
		    v ? v : "(none)");
		v = response_header(&r, "Access-Control-Allow-Methods");
		ck_assert_msg(v != NULL && has_token(v, "POST"), "OPTIONS %s: "
		    "Access-Control-Allow-Methods %s", paths[i],
		    v ? v : "(none)");
		ck_assert_ptr_nonnull(response_header(&r,
		    "Access-Control-Max-Age"));
		assert_cors(&r);
		response_free(&r);
	}
	/* A preflight is no first contact. */
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	/* new_pin, expect_sent_to and expect_unknown_pin check X-To is
	 * exposed on 201, 204 and 404. */
	new_pin(&d, "alice", "pw", 6, 60, pin);
	expect_sent_to(&d, "bob", pin, "x", "alice");
	expect_unknown_pin(&d, "bob", pin);
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- healthz */

START_TEST(test_healthz_is_200_ok_without_credentials)
{
	struct inboxd d;
	struct response r;
	const char *type;
	cJSON *j, *st;

	start(&d, "");
	ck_assert_int_eq(req(&d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0,
	    &r), 200);
	type = response_header(&r, "Content-Type");
	ck_assert_msg(type != NULL &&
	    strncasecmp(type, "application/json", 16) == 0,
	    "/healthz Content-Type %s", type ? type : "(none)");
	j = cJSON_ParseWithLength(r.body, r.body_len);
	st = cJSON_GetObjectItemCaseSensitive(j, "status");
	ck_assert_msg(cJSON_IsString(st) && strcmp(st->valuestring, "ok") == 0,
	    "/healthz body %s", r.body);
	cJSON_Delete(j);
	assert_cors(&r);
	response_free(&r);
	/* Credentials are neither needed nor looked at. */
	ck_assert_int_eq(req(&d, "GET", "/healthz", "alice", "pw", NULL, NULL,
	    0, NULL), 200);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_healthz_and_metrics_allow_only_get)
{
	static const char *const paths[] = { "/healthz", "/metrics" };
	static const char *const methods[] = { "POST", "PUT", "DELETE" };
	struct inboxd d;
	struct response r;
	const char *allow;
	size_t i, k;

	start(&d, "");
	for (i = 0; i < 2; i++)
		for (k = 0; k < 3; k++) {
			ck_assert_int_eq(req(&d, methods[k], paths[i], NULL,
			    NULL, NULL, k == 0 ? "x" : NULL, k == 0, &r),
			    405);
			assert_error_full(&r, 405, "method_not_allowed");
			allow = response_header(&r, "Allow");
			ck_assert_msg(allow != NULL &&
			    strcmp(allow, "GET") == 0, "%s %s: Allow %s",
			    methods[k], paths[i], allow ? allow : "(none)");
			response_free(&r);
		}
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- metrics */

/*
 * The Prometheus text exposition format, version 0.0.4, as the tests
 * hold the daemon to it: lines of "# HELP name text", "# TYPE name
 * counter|gauge", or samples "name{label="value",...} value"; names
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; every
 * sample's family declared by an earlier TYPE, each family's lines
 * together, one HELP and one TYPE a family, counters named *_total, no
 * series twice, and the last line ended by a newline.
 */
#define MAX_FAMILIES 64
#define MAX_SERIES 512

struct exposition {
	struct family {
		char name[128];
		char type[16];
		int help;
	} family[MAX_FAMILIES];
	int nfamilies;
	char series[MAX_SERIES][256];
	int nseries;
	int current; /* the family of the line before, or -1 */
};

static int
name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    c == ':';
}

static int
name_char(int c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* The length of the metric name at p (0 when there is none). */
static size_t
metric_name(const char *p)
{
	size_t n = 0;

	if (!name_start((unsigned char)p[0]))
		return 0;
	while (name_char((unsigned char)p[n]))
		n++;
	return n;
}

/* The length of a label name at p (no colon), or 0. */
static size_t
label_name(const char *p)
{
	size_t n = 0;

	if (p[0] == ':' || !name_start((unsigned char)p[0]))
		return 0;
	while (p[n] != ':' && name_char((unsigned char)p[n]))
		n++;
	return n;
}

/* A Go ParseFloat value as the format allows: decimal, NaN, +Inf, -Inf. */
static int
valid_value(const char *v, size_t len, double *out)
{
	char buf[64];
	size_t i = 0, digits = 0;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (strcmp(buf, "NaN") == 0 || strcmp(buf, "+Inf") == 0 ||
	    strcmp(buf, "-Inf") == 0) {
		*out = strtod(buf, NULL);
		return 1;
	}
	if (buf[i] == '+' || buf[i] == '-')
		i++;
	while (buf[i] >= '0' && buf[i] <= '9')
		i++, digits++;
	if (buf[i] == '.')
		for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
			digits++;
	if (digits == 0)
		return 0;
	if (buf[i] == 'e' || buf[i] == 'E') {
		i++;
		if (buf[i] == '+' || buf[i] == '-')
			i++;
		if (buf[i] < '0' || buf[i] > '9')
			return 0;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (buf[i] != '\0')
		return 0;
	*out = strtod(buf, NULL);
	return 1;
}

static int
find_family(struct exposition *x, const char *name, size_t len)
{
	int i;

	for (i = 0; i < x->nfamilies; i++)
		if (strlen(x->family[i].name) == len &&
		    strncmp(x->family[i].name, name, len) == 0)
			return i;
	return -1;
}

/* The family of name, declared now if new; its lines must be together. */
static int
enter_family(struct exposition *x, const char *name, size_t len, int lineno)
{
	int f = find_family(x, name, len);

	if (f == -1) {
		ck_assert_msg(x->nfamilies < MAX_FAMILIES && len < 128,
		    "line %d: too many families", lineno);
		f = x->nfamilies++;
		memcpy(x->family[f].name, name, len);
		x->family[f].name[len] = '\0';
		x->family[f].type[0] = '\0';
		x->family[f].help = 0;
	} else
		ck_assert_msg(f == x->current, "line %d: the lines of %s are "
		    "not together", lineno, x->family[f].name);
	x->current = f;
	return f;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One sample line. */
static void
check_sample(struct exposition *x, const char *line, int lineno)
{
	char key[256], *labels[32], pairs[32][128];
	size_t n = metric_name(line), k;
	const char *p = line + n, *end;
	int f, nlabels = 0, i;
	double value;

	ck_assert_msg(n > 0, "line %d: no metric name: %s", lineno, line);
	f = find_family(x, line, n);
	ck_assert_msg(f != -1 && x->family[f].type[0] != '\0',
	    "line %d: sample of %.*s before its # TYPE", lineno, (int)n,
	    line);
	enter_family(x, line, n, lineno);
	if (strcmp(x->family[f].type, "counter") == 0)
		ck_assert_msg(n > 6 && strncmp(line + n - 6, "_total", 6) == 0,
		    "line %d: counter %.*s is not named *_total", lineno,
		    (int)n, line);
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln = label_name(p), vlen = 0;
			char val[96];

			ck_assert_msg(ln > 0, "line %d: bad label name at %s",
			    lineno, p);
			ck_assert_msg(ln < 2 || strncmp(p, "__", 2) != 0,
			    "line %d: reserved label name", lineno);
			ck_assert_msg(p[ln] == '=' && p[ln + 1] == '"',
			    "line %d: label without =\"value\": %s", lineno,
			    line);
			end = p + ln + 2;
			while (*end != '"') {
				ck_assert_msg(*end != '\0', "line %d: "
				    "unterminated label value", lineno);
				if (*end == '\\') {
					ck_assert_msg(end[1] == '\\' ||
					    end[1] == '"' || end[1] == 'n',
					    "line %d: bad escape in a label "
					    "value", lineno);
					end++;
				}
				ck_assert(vlen < sizeof(val) - 1);
				val[vlen++] = *end++;
			}
			val[vlen] = '\0';
			ck_assert(nlabels < 32);
			snprintf(pairs[nlabels], sizeof(pairs[0]),
			    "%.*s=\"%s\"", (int)ln, p, val);
			for (i = 0; i < nlabels; i++)
				ck_assert_msg(strncmp(pairs[i], p, ln) != 0 ||
				    pairs[i][ln] != '=', "line %d: label %.*s "
				    "twice", lineno, (int)ln, p);
			labels[nlabels] = pairs[nlabels];
			nlabels++;
			p = end + 1;
			if (*p == ',')
				p++;
			else
				ck_assert_msg(*p == '}', "line %d: labels not "
				    "closed: %s", lineno, line);
		}
		p++;
	}
	ck_assert_msg(*p == ' ', "line %d: no blank before the value: %s",
	    lineno, line);
	p++;
	end = strchr(p, ' ');
	k = end ? (size_t)(end - p) : strlen(p);
	ck_assert_msg(valid_value(p, k, &value), "line %d: bad value: %s",
	    lineno, line);
	if (end != NULL) { /* an optional timestamp, in ms */
		const char *t = end + 1;

		if (*t == '-')
			t++;
		ck_assert_msg(*t != '\0' && strspn(t, "0123456789") ==
		    strlen(t), "line %d: bad timestamp: %s", lineno, line);
	}
	if (strcmp(x->family[f].type, "counter") == 0)
		ck_assert_msg(value >= 0, "line %d: negative counter", lineno);
	/* The series: its name and its labels in order. */
	qsort(labels, (size_t)nlabels, sizeof(labels[0]), cmp_str);
	snprintf(key, sizeof(key), "%.*s", (int)n, line);
	for (i = 0; i < nlabels; i++) {
		strncat(key, i == 0 ? "{" : ",", sizeof(key) - strlen(key) - 1);
		strncat(key, labels[i], sizeof(key) - strlen(key) - 1);
	}
	if (nlabels > 0)
		strncat(key, "}", sizeof(key) - strlen(key) - 1);
	for (i = 0; i < x->nseries; i++)
		ck_assert_msg(strcmp(x->series[i], key) != 0,
		    "line %d: series %s twice", lineno, key);
	ck_assert(x->nseries < MAX_SERIES);
	snprintf(x->series[x->nseries++], sizeof(x->series[0]), "%s", key);
}

/* "# HELP name text" or "# TYPE name type". */
static void
check_comment(struct exposition *x, const char *line, int lineno)
{
	const char *p;
	size_t n;
	int f;

	if (strncmp(line, "# HELP ", 7) == 0) {
		p = line + 7;
		n = metric_name(p);
		ck_assert_msg(n > 0, "line %d: HELP of no name", lineno);
		ck_assert_msg(p[n] == ' ' && p[n + 1] != '\0',
		    "line %d: HELP without text: %s", lineno, line);
		f = enter_family(x, p, n, lineno);
		ck_assert_msg(!x->family[f].help, "line %d: a second HELP for "
		    "%s", lineno, x->family[f].name);
		x->family[f].help = 1;
		for (p += n + 1; *p != '\0'; p++)
			if (*p == '\\') {
				ck_assert_msg(p[1] == '\\' || p[1] == 'n',
				    "line %d: bad escape in HELP", lineno);
				p++;
			}
	} else if (strncmp(line, "# TYPE ", 7) == 0) {
		p = line + 7;
		n = metric_name(p);
		ck_assert_msg(n > 0 && p[n] == ' ', "line %d: bad TYPE: %s",
		    lineno, line);
		ck_assert_msg(strcmp(p + n + 1, "counter") == 0 ||
		    strcmp(p + n + 1, "gauge") == 0,
		    "line %d: TYPE is not counter or gauge: %s", lineno, line);
		f = enter_family(x, p, n, lineno);
		ck_assert_msg(x->family[f].type[0] == '\0',
		    "line %d: a second TYPE for %s", lineno,
		    x->family[f].name);
		snprintf(x->family[f].type, sizeof(x->family[f].type), "%s",
		    p + n + 1);
	} else
		ck_assert_msg(0, "line %d: neither HELP, TYPE nor a sample: "
		    "%s", lineno, line);
}

/* Check a whole /metrics body; *x gets its families and series. */
static void
check_exposition(const char *body, size_t len, struct exposition *x)
{
	char line[1024];
	size_t at = 0;
	int lineno = 0, f;

	memset(x, 0, sizeof(*x));
	x->current = -1;
	ck_assert_msg(len > 0 && body[len - 1] == '\n',
	    "the exposition does not end with a newline");
	ck_assert_msg(strlen(body) == len, "a NUL in the exposition");
	while (at < len) {
		const char *nl = memchr(body + at, '\n', len - at);
		size_t n = (size_t)(nl - (body + at));

		lineno++;
		ck_assert_msg(n < sizeof(line), "line %d is too long", lineno);
		memcpy(line, body + at, n);
		line[n] = '\0';
		at += n + 1;
		ck_assert_msg(n > 0, "line %d is empty", lineno);
		ck_assert_msg(strchr(line, '\r') == NULL, "line %d ends in CR",
		    lineno);
		if (line[0] == '#')
			check_comment(x, line, lineno);
		else
			check_sample(x, line, lineno);
	}
	for (f = 0; f < x->nfamilies; f++)
		ck_assert_msg(x->family[f].type[0] != '\0',
		    "%s has a HELP but no TYPE", x->family[f].name);
}

/* GET /metrics from 127.0.0.1, checked whole. */
static char *
fetch_metrics(struct inboxd *d, size_t *len, struct exposition *x)
{
	struct response r;
	const char *type;
	char *body;

	ck_assert_int_ne(req(d, "GET", "/metrics", NULL, NULL, NULL, NULL, 0,
	    &r), -1);
	expect_status(&r, 200);
	type = response_header(&r, "Content-Type");
	ck_assert_msg(type != NULL &&
	    strncmp(type, "text/plain; version=0.0.4", 25) == 0 &&
	    (type[25] == '\0' || type[25] == ';'),
	    "/metrics Content-Type %s", type ? type : "(none)");
	check_exposition(r.body, r.body_len, x);
	body = r.body;
	*len = r.body_len;
	return body;
}

/* The families SPEC section 2 asks for, with their types. */
static void
assert_spec_families(struct exposition *x)
{
	static const char *const want[][2] = {
		{ "inboxd_inboxes", "gauge" },
		{ "inboxd_messages_queued", "gauge" },
		{ "inboxd_queued_bytes", "gauge" },
		{ "inboxd_waiters", "gauge" },
		{ "inboxd_http_requests_total", "counter" },
		{ "inboxd_messages_sent_total", "counter" },
		{ "inboxd_messages_delivered_total", "counter" },
		{ "inboxd_messages_requeued_total", "counter" },
		{ "inboxd_messages_expired_total", "counter" },
		{ "inboxd_inboxes_expired_total", "counter" },
		{ "inboxd_auth_failures_total", "counter" },
		{ "inboxd_rate_limited_requests_total", "counter" },
		{ "inboxd_argon2_hashes_total", "counter" },
	};
	size_t i;
	int f;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		f = find_family(x, want[i][0], strlen(want[i][0]));
		ck_assert_msg(f != -1, "no %s in /metrics", want[i][0]);
		ck_assert_msg(strcmp(x->family[f].type, want[i][1]) == 0,
		    "%s is a %s, expected a %s", want[i][0], x->family[f].type,
		    want[i][1]);
		ck_assert_msg(x->family[f].help, "%s has no HELP", want[i][0]);
	}
}

START_TEST(test_metrics_body_is_valid_prometheus_text)
{
	struct exposition *x = malloc(sizeof(*x));
	struct inboxd d;
	char *body, pin[16];
	size_t len;
	int i, codes = 0;

	ck_assert_ptr_nonnull(x);
	start(&d, "");
	/* Before any request: every family, no request counted yet. */
	body = fetch_metrics(&d, &len, x);
	assert_spec_families(x);
	free(body);
	/* Traffic of every kind: 200, 201, 204, 400, 401, 404, 405. */
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "m", 1,
	    NULL), 204);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 200);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=x", NULL), 400);
	ck_assert_int_eq(get(&d, "alice", "no", "/inbox?wait=0", NULL), 401);
	ck_assert_int_eq(get(&d, "alice", "pw", "/nowhere", NULL), 404);
	ck_assert_int_eq(req(&d, "DELETE", "/inbox", NULL, NULL, NULL, NULL, 0,
	    NULL), 405);
	new_pin(&d, "alice", "pw", 6, 60, pin);
	wait_metric(&d, "inboxd_http_requests_total{code=\"405\"}", 1, 3000);
	wait_metric(&d, "inboxd_http_requests_total{code=\"201\"}", 1, 3000);
	body = fetch_metrics(&d, &len, x);
	assert_spec_families(x);
	for (i = 0; i < x->nseries; i++)
		if (strncmp(x->series[i], "inboxd_http_requests_total", 26) ==
		    0) {
			const char *c = x->series[i] + 26;

			/* One label, code, a status code. */
			ck_assert_msg(strncmp(c, "{code=\"", 7) == 0 &&
			    strlen(c) == 12 && strcmp(c + 10, "\"}") == 0 &&
			    strspn(c + 7, "0123456789") == 3 && c[7] >= '1' &&
			    c[7] <= '5', "series %s", x->series[i]);
			codes++;
		}
	if (!cluster_skip(__func__, PER_NODE_CODES))
		ck_assert_msg(codes >= 7, "%d status codes counted, expected "
		    "200, 201, 204, 400, 401, 404 and 405:\n%s", codes, body);
	free(body);
	free(x);
	stop(&d);
}
END_TEST

START_TEST(test_metrics_count_inboxes_messages_bytes_and_hashes)
{
	struct inboxd d;
	char pin[16];
	int i;

	start(&d, "");
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_waiters"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_messages_sent_total"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 0);
	contact(&d, "alice", "pw");
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 1);
	/* bob's first contact is a send. */
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "hello", 5,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "abc", 3,
	    NULL), 204);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 2);
	if (!cluster_skip(__func__, PER_NODE_HASHES))
		ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_messages_sent_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), 8);
	expect_pop(&d, "alice", "pw", "hello", "bob", NULL);
	/* Delivered once the response is handed over: poll for it. */
	wait_metric(&d, "inboxd_messages_delivered_total", 1, 3000);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), 3);
	/* A send by PIN is a send. */
	new_pin(&d, "alice", "pw", 6, 60, pin);
	expect_sent_to(&d, "bob", pin, "12", "alice");
	ck_assert_int_eq(metric(&d, "inboxd_messages_sent_total"), 3);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), 5);
	expect_pop(&d, "alice", "pw", "abc", "bob", NULL);
	expect_pop(&d, "alice", "pw", "12", "bob", NULL);
	for (i = 0; i < 5; i++)
		expect_empty(&d, "alice", "pw");
	wait_metric(&d, "inboxd_messages_delivered_total", 3, 3000);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), 0);
	/* Polls and later sends hash nothing: the verification is cached. */
	if (!cluster_skip(__func__, PER_NODE_HASHES))
		ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 2);
	/* 204: contact, 2 sends, 1 send by PIN, 5 empty polls. */
	wait_metric(&d, "inboxd_http_requests_total{code=\"204\"}", 9, 3000);
	stop(&d);
}
END_TEST

/* A GET with wait on its own socket, once /metrics shows it held. */
static int
hold(struct inboxd *d, const char *user, int wait, long long waiters)
{
	char target[64];
	int fd;

	snprintf(target, sizeof(target), "/inbox?wait=%d", wait);
	fd = client_send(d->port, "GET", target, user, "pw", NULL, NULL, 0);
	ck_assert_int_ne(fd, -1);
	wait_metric(d, "inboxd_waiters", waiters, 5000);
	return fd;
}

/* Read the answer of a held GET. */
static void
answered(int fd, int status)
{
	struct response r;

	ck_assert_int_eq(client_read(fd, &r, 5000), 0);
	expect_status(&r, status);
	response_free(&r);
	close(fd);
}

START_TEST(test_metrics_waiters_equal_the_gets_held)
{
	struct inboxd d;
	int a, b, c, a2, e;
	long t;

	start(&d, "");
	contact(&d, "a", "pw");
	contact(&d, "b", "pw");
	contact(&d, "c", "pw");
	contact(&d, "e", "pw");
	ck_assert_int_eq(metric(&d, "inboxd_waiters"), 0);
	a = hold(&d, "a", 30, 1);
	b = hold(&d, "b", 30, 2);
	c = hold(&d, "c", 30, 3);
	/* A second GET on a displaces the first: still three held. */
	a2 = client_send(d.port, "GET", "/inbox?wait=30", "a", "pw", NULL,
	    NULL, 0);
	ck_assert_int_ne(a2, -1);
	answered(a, 204);
	ck_assert_int_eq(metric(&d, "inboxd_waiters"), 3);
	/* A send answers b's: the count drops before the answer goes. */
	ck_assert_int_eq(send_to(&d, "x", "pw", "b", NULL, "m", 1, NULL), 204);
	answered(b, 200);
	ck_assert_int_eq(metric(&d, "inboxd_waiters"), 2);
	/* A hold that runs out. */
	t = client_now_ms();
	e = hold(&d, "e", 1, 3);
	answered(e, 204);
	ck_assert_msg(client_now_ms() - t >= 900, "wait=1 ended early");
	ck_assert_int_eq(metric(&d, "inboxd_waiters"), 2);
	ck_assert_int_eq(send_to(&d, "x", "pw", "a", NULL, "m", 1, NULL), 204);
	answered(a2, 200);
	ck_assert_int_eq(send_to(&d, "x", "pw", "c", NULL, "m", 1, NULL), 204);
	answered(c, 200);
	ck_assert_int_eq(metric(&d, "inboxd_waiters"), 0);
	stop(&d);
}
END_TEST

/* A 16 MiB body that a loopback socket cannot swallow whole. */
#define BIG_CONF "max-message-size 16M\nmax-inbox-bytes 32M\nmax-memory 64M\n"
#define BIG_LEN ((size_t)16 * MIB)

START_TEST(test_metrics_count_requeued_messages)
{
	struct inboxd d;
	struct response r;
	unsigned char *body = malloc(BIG_LEN);
	size_t hlen;
	char *text;
	int fd;

	ck_assert_ptr_nonnull(body);
	memset(body, 'v', BIG_LEN);
	start(&d, BIG_CONF);
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, body, BIG_LEN,
	    NULL), 204);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), (long long)BIG_LEN);
	/* Pop it on a tiny window, read the head only, reset. */
	fd = client_connect_rcvbuf(d.port, 4096);
	ck_assert_int_ne(fd, -1);
	text = client_build("GET", "/inbox?wait=0", "alice", "pw", NULL, NULL,
	    0, &hlen);
	ck_assert_int_eq(client_write(fd, text, hlen), 0);
	free(text);
	ck_assert_int_eq(client_read_head(fd, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	client_abort(fd);
	wait_metric(&d, "inboxd_messages_requeued_total", 1, 5000);
	ck_assert_int_eq(metric(&d, "inboxd_messages_delivered_total"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), (long long)BIG_LEN);
	/* Now whole. */
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r), 200);
	ck_assert_uint_eq(r.body_len, BIG_LEN);
	response_free(&r);
	wait_metric(&d, "inboxd_messages_delivered_total", 1, 5000);
	ck_assert_int_eq(metric(&d, "inboxd_messages_requeued_total"), 1);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 0);
	free(body);
	stop(&d);
}
END_TEST

START_TEST(test_metrics_count_expired_messages_and_inboxes)
{
	struct inboxd d;
	long t;

	/* inbox-timeout leaves room for the metrics read between: in
	 * cluster mode each waits for a walk over the inboxes. */
	start(&d, "message-timeout 1\ninbox-timeout 5\n");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "one", 3,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "two", 3,
	    NULL), 204);
	t = client_now_ms();
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 2);
	/* message-timeout and a tick: both gone, the inboxes not yet. */
	sleep_until(t + 1000 + TICK_MS + SLACK_MS);
	/* In cluster mode a plain inbox's stale messages are dropped by the
	 * next walk over the inboxes, a quarter second at most. */
	wait_metric(&d, "inboxd_messages_expired_total", 2,
	    cluster_mode() ? 500 : 0);
	ck_assert_int_eq(metric(&d, "inboxd_messages_queued"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_queued_bytes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes_expired_total"), 0);
	/* inbox-timeout and a tick after bob's last request (and, in
	 * cluster mode, the slack of a node's refresh: inboxd(8)). */
	sleep_until(t + 5000 + TICK_MS + SLACK_MS +
	    (cluster_mode() ? 1000 : 0));
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes_expired_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_messages_expired_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_messages_delivered_total"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_metrics_count_auth_failures_and_rate_limited_requests)
{
	struct inboxd d;
	struct response r;
	char pin[16], wrong[16];

	start(&d, "auth-failures-per-minute 2\n");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	ck_assert_int_eq(get(&d, "alice", "no", "/inbox?wait=0", NULL), 401);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 1);
	new_pin(&d, "alice", "pw", 6, 60, pin);
	other_pin(pin, 6, 1, wrong);
	expect_unknown_pin(&d, "alice", wrong);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_rate_limited_requests_total"), 0);
	if (redis_cluster_mode()) {
		/* On a Redis Cluster the block reaches the other node over
		 * the cluster bus, a hop more than one Redis takes: that
		 * node answers 429 once it is there. */
		unsigned port = cluster_next_port(&d);
		long deadline = client_now_ms() + 2000;
		int st;

		while ((st = client_request(port, "GET", "/inbox?wait=0",
		    "alice", "pw", NULL, NULL, 0, &r)) == 204 &&
		    client_now_ms() < deadline) {
			response_free(&r);
			sleep_ms(5);
		}
		ck_assert_int_eq(st, 429);
	} else
		ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r),
		    429);
	response_free(&r);
	ck_assert_int_eq(send_pin(&d, "alice", "pw", wrong, NULL, "x", 1, &r),
	    429);
	response_free(&r);
	/* A 429 is counted as such, not as one more failure. */
	ck_assert_int_eq(metric(&d, "inboxd_rate_limited_requests_total"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 2);
	wait_metric(&d, "inboxd_http_requests_total{code=\"429\"}", 2, 3000);
	wait_metric(&d, "inboxd_http_requests_total{code=\"401\"}", 1, 3000);
	wait_metric(&d, "inboxd_http_requests_total{code=\"404\"}", 1, 3000);
	stop(&d);
}
END_TEST

/* GET /metrics from src with extra headers: the status; r if not NULL. */
static int
metrics_from(struct inboxd *d, const char *src, const char *extra,
    struct response *r)
{
	return client_request_from(d->port, src, "GET", "/metrics", NULL, NULL,
	    extra, NULL, 0, r);
}

START_TEST(test_metrics_outside_metrics_allow_are_403)
{
	struct inboxd d;
	struct response r;

	start(&d, "metrics-allow 10.0.0.0/8\n");
	ck_assert_int_eq(metrics_from(&d, "127.0.0.1", NULL, &r), 403);
	assert_error_full(&r, 403, "forbidden");
	ck_assert_ptr_null(strstr(r.body, "inboxd_"));
	response_free(&r);
	ck_assert_int_eq(metrics_from(&d, OTHER, NULL, &r), 403);
	assert_error_full(&r, 403, "forbidden");
	response_free(&r);
	/* /healthz is for everyone. */
	ck_assert_int_eq(req(&d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0,
	    NULL), 200);
	stop(&d);
}
END_TEST

START_TEST(test_metrics_allow_admits_the_listed_addresses_only)
{
	struct inboxd d;
	struct response r;
	struct exposition *x = malloc(sizeof(*x));

	ck_assert_ptr_nonnull(x);
	start(&d, "metrics-allow 127.0.0.2\n");
	ck_assert_int_eq(metrics_from(&d, OTHER, NULL, &r), 200);
	check_exposition(r.body, r.body_len, x);
	assert_spec_families(x);
	response_free(&r);
	ck_assert_int_eq(metrics_from(&d, "127.0.0.1", NULL, &r), 403);
	assert_error_full(&r, 403, "forbidden");
	response_free(&r);
	free(x);
	stop(&d);
}
END_TEST

START_TEST(test_metrics_ignore_forwarded_for_from_a_trusted_proxy)
{
	struct inboxd d;
	struct response r;

	start(&d, "trusted-proxies 127.0.0.1\nmetrics-allow 10.0.0.0/8\n");
	/* The proxy vouches for 10.1.1.1; the socket peer is 127.0.0.1. */
	ck_assert_int_eq(metrics_from(&d, "127.0.0.1",
	    "X-Forwarded-For: 10.1.1.1\r\n", &r), 403);
	assert_error_full(&r, 403, "forbidden");
	response_free(&r);
	ck_assert_int_eq(metrics_from(&d, "127.0.0.1",
	    "X-Forwarded-For: 10.1.1.1, 127.0.0.1\r\n", &r), 403);
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_metrics_answer_a_loopback_peer_whatever_it_forwards)
{
	struct inboxd d;
	struct response r;

	start(&d, "trusted-proxies 127.0.0.1\n");
	ck_assert_int_eq(metrics_from(&d, "127.0.0.1",
	    "X-Forwarded-For: 203.0.113.9\r\n", &r), 200);
	response_free(&r);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------------- suite */

static Suite *
pin_suite(void)
{
	Suite *s = suite_create("pin");
	TCase *tc;

	tc = tcase(s, "post_pin", 20);
	tcase_add_test(tc,
	    test_post_pin_is_201_json_with_six_digits_expiring_in_60);
	tcase_add_test(tc,
	    test_post_pin_by_an_unknown_user_is_its_first_contact);
	tcase_add_test(tc, test_post_pin_needs_credentials_and_is_post_only);
	tcase_add_test(tc, test_four_digit_pins_work);
	tcase_add_test(tc, test_nine_digit_pins_work);
	tcase_add_test(tc,
	    test_live_pins_are_distinct_among_two_hundred_of_four_digits);

	tc = tcase(s, "send_by_pin", 20);
	tcase_add_test(tc, test_send_by_pin_reaches_its_owner_and_answers_x_to);
	tcase_add_test(tc, test_pin_is_consumed_by_its_first_send);
	tcase_add_test(tc, test_expired_pin_is_not_found);
	tcase_add_test(tc,
	    test_malformed_pins_are_not_found_and_count_as_failures);
	tcase_add_test(tc, test_unknown_pins_count_as_failures_then_429);
	tcase_add_test(tc, test_to_takes_precedence_over_x_pin);
	tcase_add_test(tc, test_new_pin_replaces_the_inbox_earlier_pin);
	tcase_add_test(tc, test_pin_goes_with_its_expired_inbox);
	tcase_add_test(tc,
	    test_inbox_full_through_a_pin_leaves_the_pin_usable);
	tcase_add_test(tc,
	    test_preflight_on_pin_allows_x_pin_and_answers_expose_x_to);

	tc = tcase(s, "healthz", 10);
	tcase_add_test(tc, test_healthz_is_200_ok_without_credentials);
	tcase_add_test(tc, test_healthz_and_metrics_allow_only_get);

	tc = tcase(s, "metrics", 30);
	tcase_add_test(tc, test_metrics_body_is_valid_prometheus_text);
	tcase_add_test(tc, test_metrics_count_inboxes_messages_bytes_and_hashes);
	tcase_add_test(tc, test_metrics_waiters_equal_the_gets_held);
	tcase_add_test(tc, test_metrics_count_requeued_messages);
	tcase_add_test(tc, test_metrics_count_expired_messages_and_inboxes);
	tcase_add_test(tc,
	    test_metrics_count_auth_failures_and_rate_limited_requests);
	tcase_add_test(tc, test_metrics_outside_metrics_allow_are_403);
	tcase_add_test(tc, test_metrics_allow_admits_the_listed_addresses_only);
	tcase_add_test(tc, test_metrics_ignore_forwarded_for_from_a_trusted_proxy);
	tcase_add_test(tc,
	    test_metrics_answer_a_loopback_peer_whatever_it_forwards);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(pin_suite());
}
