/*
 * check_inbox.c - the /inbox protocol of SPEC sections 2 and 3, end to end
 * against the real daemon: every test starts its own inboxd on an
 * ephemeral loopback port (test/client.c) and speaks raw HTTP/1.1 to it.
 *
 * Each test configures Argon2 down to 64 KiB and one pass, so first
 * contacts cost microseconds.  Waits are bounded everywhere; where a test
 * must wait for the daemon, it waits for a known deadline or polls for the
 * condition with a bounded deadline.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

/* Expect the request to get the JSON error status/code. */
static void
expect_error(struct inboxd *d, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t len, int status, const char *code)
{
	struct response r;

	ck_assert_int_eq(req(d, method, target, user, password, extra, body,
	    len, &r), status);
	assert_error_full(&r, status, code);
	response_free(&r);
}

/* A 401 carries the Basic challenge of RFC 7617 with the UTF-8 charset. */
static void
assert_unauthorized(const struct response *r)
{
	const char *v;

	assert_error_full(r, 401, "unauthorized");
	v = response_header(r, "WWW-Authenticate");
	ck_assert_msg(v != NULL, "401 without WWW-Authenticate:\n%s",
	    r->head);
	ck_assert_str_eq(v, "Basic realm=\"inboxd\", charset=\"UTF-8\"");
}

/* Pop one message and check its body, sender and type. */
static void
expect_pop(struct inboxd *d, const char *user, const char *password,
    const void *body, size_t len, const char *from, const char *type)
{
	struct response r;

	ck_assert_msg(get(d, user, password, "/inbox?wait=0", &r) == 200,
	    "%s popped nothing (status %d), expected %zu bytes from %s",
	    user, r.status, len, from);
	ck_assert_msg(r.body_len == len && memcmp(r.body, body, len) == 0,
	    "%s popped %zu bytes (%.40s), expected %zu (%.40s)", user,
	    r.body_len, r.body, len, (const char *)body);
	ck_assert_str_eq(response_header(&r, "X-From"), from);
	if (type != NULL)
		ck_assert_str_eq(response_header(&r, "Content-Type"), type);
	assert_cors(&r);
	response_free(&r);
}

/* ---------------------------------------------------------------- auth */

START_TEST(test_missing_authorization_is_401_with_basic_challenge)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	ck_assert_int_eq(get(&d, NULL, NULL, "/inbox?wait=0", &r), 401);
	assert_unauthorized(&r);
	response_free(&r);
	ck_assert_int_eq(req(&d, "POST", "/inbox?to=bob", NULL, NULL, NULL,
	    "x", 1, &r), 401);
	assert_unauthorized(&r);
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_malformed_authorization_is_401_with_basic_challenge)
{
	static const char *const bad[] = {
		"Authorization: Bearer abc.def.ghi\r\n",
		"Authorization: Basic\r\n",
		"Authorization: Basic !!!not-base64!!!\r\n",
		/* base64("alice"): no colon between user-id and password */
		"Authorization: Basic YWxpY2U=\r\n",
		"Authorization: Digest username=\"alice\"\r\n",
	};
	struct inboxd d;
	struct response r;
	size_t i;

	start(&d, "");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(req(&d, "GET", "/inbox?wait=0", NULL, NULL,
		    bad[i], NULL, 0, &r), 401);
		assert_unauthorized(&r);
		response_free(&r);
	}
	stop(&d);
}
END_TEST

START_TEST(test_wrong_password_is_401)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	contact(&d, "alice", "right");
	ck_assert_int_eq(get(&d, "alice", "wrong", "/inbox?wait=0", &r), 401);
	assert_unauthorized(&r);
	response_free(&r);
	/* A send by alice is refused the same way. */
	contact(&d, "bob", "pw");
	ck_assert_int_eq(send_to(&d, "alice", "wrong", "bob", NULL, "x", 1,
	    &r), 401);
	assert_unauthorized(&r);
	response_free(&r);
	/* And the right password still works. */
	contact(&d, "alice", "right");
	stop(&d);
}
END_TEST

START_TEST(test_username_longer_than_256_bytes_is_400)
{
	struct inboxd d;
	char name[300];

	start(&d, "");
	memset(name, 'n', 257);
	name[257] = '\0';
	expect_error(&d, "GET", "/inbox?wait=0", name, "pw", NULL, NULL, 0,
	    400, "bad_request");
	name[256] = '\0'; /* 256 bytes is still a name */
	contact(&d, name, "pw");
	stop(&d);
}
END_TEST

START_TEST(test_username_with_control_character_is_400)
{
	static const char *const bad[] = {
		"al\001ice", "alice\037", "al\177ice", "al\tice", "\033[31m",
	};
	struct inboxd d;
	size_t i;

	start(&d, "");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(&d, "GET", "/inbox?wait=0", bad[i], "pw", NULL,
		    NULL, 0, 400, "bad_request");
	stop(&d);
}
END_TEST

START_TEST(test_empty_username_is_400)
{
	struct inboxd d;

	start(&d, "");
	expect_error(&d, "GET", "/inbox?wait=0", "", "pw", NULL, NULL, 0, 400,
	    "bad_request");
	stop(&d);
}
END_TEST

START_TEST(test_username_that_is_not_utf8_is_400)
{
	struct inboxd d;

	start(&d, "");
	expect_error(&d, "GET", "/inbox?wait=0", "bad\377name", "pw", NULL,
	    NULL, 0, 400, "bad_request");
	expect_error(&d, "GET", "/inbox?wait=0", "half\303", "pw", NULL, NULL,
	    0, 400, "bad_request");
	stop(&d);
}
END_TEST

START_TEST(test_username_may_hold_any_other_utf8)
{
	static const char *const good[] = {
		"peer@example.org", "a/b/c", "a+b=", "zo\303\253",
		"\346\227\245\346\234\254", "550e8400-e29b-41d4-a716-446655440000",
		"MCowBQYDK2VwAyEA+/=",
	};
	struct inboxd d;
	size_t i;

	start(&d, "");
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		contact(&d, good[i], "pw");
	stop(&d);
}
END_TEST

START_TEST(test_empty_password_is_400)
{
	struct inboxd d;

	start(&d, "");
	expect_error(&d, "GET", "/inbox?wait=0", "alice", "", NULL, NULL, 0,
	    400, "bad_request");
	stop(&d);
}
END_TEST

START_TEST(test_password_longer_than_1024_bytes_is_400)
{
	struct inboxd d;
	char pw[1100];

	start(&d, "");
	memset(pw, 'p', 1025);
	pw[1025] = '\0';
	expect_error(&d, "GET", "/inbox?wait=0", "alice", pw, NULL, NULL, 0,
	    400, "bad_request");
	pw[1024] = '\0'; /* 1024 bytes is still a password */
	contact(&d, "alice", pw);
	contact(&d, "alice", pw);
	stop(&d);
}
END_TEST

START_TEST(test_min_password_length_is_honoured)
{
	struct inboxd d;

	start(&d, "min-password-length 8\n");
	expect_error(&d, "GET", "/inbox?wait=0", "alice", "1234567", NULL, NULL,
	    0, 400, "bad_request");
	contact(&d, "alice", "12345678");
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- receive */

START_TEST(test_wait_that_is_not_a_whole_number_is_400)
{
	static const char *const bad[] = {
		"/inbox?wait=-1", "/inbox?wait=abc", "/inbox?wait=1.5",
		"/inbox?wait=", "/inbox?wait", "/inbox?wait=1e3",
		"/inbox?wait=0x10", "/inbox?wait=5s", "/inbox?wait=%201",
	};
	struct inboxd d;
	size_t i;

	start(&d, "");
	contact(&d, "alice", "pw");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(&d, "GET", bad[i], "alice", "pw", NULL, NULL, 0,
		    400, "bad_request");
	stop(&d);
}
END_TEST

/* GET target on a raw socket; *ms gets the time to the answer. */
static int
timed_get(struct inboxd *d, const char *user, const char *target,
    int timeout_ms, long *ms, struct response *r)
{
	long t0 = client_now_ms();
	int fd = client_send(d->port, "GET", target, user, "pw", NULL, NULL,
	    0), status = -1;

	ck_assert_int_ne(fd, -1);
	if (client_read(fd, r, timeout_ms) == 0)
		status = r->status;
	*ms = client_now_ms() - t0;
	close(fd);
	return status;
}

START_TEST(test_wait_above_max_wait_is_clamped)
{
	struct inboxd d;
	struct response r;
	long ms;

	start(&d, "max-wait 1\ndefault-wait 1\n");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(timed_get(&d, "alice", "/inbox?wait=999", 5000, &ms,
	    &r), 204);
	response_free(&r);
	ck_assert_msg(ms >= 900 && ms <= 2200,
	    "wait=999 with max-wait 1 answered after %ld ms", ms);
	/* Too large for 64 bits is still a whole number: clamped too. */
	ck_assert_int_eq(timed_get(&d, "alice",
	    "/inbox?wait=99999999999999999999999", 5000, &ms, &r), 204);
	response_free(&r);
	ck_assert_msg(ms >= 900 && ms <= 2200,
	    "a huge wait with max-wait 1 answered after %ld ms", ms);
	stop(&d);
}
END_TEST

START_TEST(test_empty_inbox_with_wait_0_is_204)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r), 204);
	ck_assert_uint_eq(r.body_len, 0);
	assert_cors(&r);
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_pop_returns_oldest_with_sender_and_headers)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice",
	    "text/plain; charset=utf-8", "hello alice", 11, NULL), 204);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r), 200);
	ck_assert_uint_eq(r.body_len, 11);
	ck_assert(memcmp(r.body, "hello alice", 11) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	ck_assert_str_eq(response_header(&r, "Content-Type"),
	    "text/plain; charset=utf-8");
	ck_assert_ptr_nonnull(response_header(&r, "X-Message-Id"));
	ck_assert_str_ne(response_header(&r, "X-Message-Id"), "");
	ck_assert_str_eq(response_header(&r, "Cache-Control"), "no-store");
	ck_assert_str_eq(response_header(&r, "X-Content-Type-Options"),
	    "nosniff");
	assert_cors(&r);
	response_free(&r);
	/* Popped means removed. */
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_pop_without_sender_type_is_octet_stream)
{
	struct inboxd d;

	start(&d, "");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "raw", 3,
	    NULL), 204);
	expect_pop(&d, "alice", "pw", "raw", 3, "bob",
	    "application/octet-stream");
	stop(&d);
}
END_TEST

START_TEST(test_message_ids_are_distinct)
{
	struct inboxd d;
	struct response r;
	char ids[5][64];
	int i, j;

	start(&d, "");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "same",
		    4, NULL), 204);
	for (i = 0; i < 5; i++) {
		const char *id;

		ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r),
		    200);
		id = response_header(&r, "X-Message-Id");
		ck_assert_ptr_nonnull(id);
		ck_assert_uint_lt(strlen(id), sizeof(ids[i]));
		strcpy(ids[i], id);
		response_free(&r);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	}
	stop(&d);
}
END_TEST

/* ---------------------------------------------------------------- send */

START_TEST(test_send_is_204_without_body)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", "text/plain", "hi",
	    2, &r), 204);
	ck_assert_uint_eq(r.body_len, 0);
	assert_cors(&r);
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_send_without_to_is_400)
{
	struct inboxd d;

	start(&d, "");
	contact(&d, "alice", "pw");
	expect_error(&d, "POST", "/inbox", "bob", "pw", NULL, "x", 1, 400,
	    "bad_request");
	expect_error(&d, "POST", "/inbox?to=", "bob", "pw", NULL, "x", 1, 400,
	    "bad_request");
	expect_error(&d, "POST", "/inbox?to", "bob", "pw", NULL, "x", 1, 400,
	    "bad_request");
	expect_error(&d, "POST", "/inbox?too=alice", "bob", "pw", NULL, "x", 1,
	    400, "bad_request");
	/* Nothing reached anyone. */
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_send_to_unknown_recipient_is_404)
{
	struct inboxd d;

	start(&d, "");
	expect_error(&d, "POST", "/inbox?to=nobody", "bob", "pw", NULL, "x", 1,
	    404, "not_found");
	stop(&d);
}
END_TEST

START_TEST(test_send_above_max_message_size_is_413)
{
	struct inboxd d;
	char body[1025];

	start(&d, "max-message-size 1K\n");
	contact(&d, "alice", "pw");
	memset(body, 'x', sizeof(body));
	expect_error(&d, "POST", "/inbox?to=alice", "bob", "pw", NULL, body,
	    1025, 413, "payload_too_large");
	/* Exactly the limit is fine. */
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, body, 1024,
	    NULL), 204);
	expect_pop(&d, "alice", "pw", body, 1024, "bob", NULL);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_send_too_large_is_413_before_the_body_is_sent)
{
	struct inboxd d;
	struct response r;
	size_t len;
	char *text;
	int fd;

	start(&d, "max-message-size 1K\n");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	/* Headers announce 1 MiB; no body byte follows. */
	text = client_build("POST", "/inbox?to=alice", "bob", "pw",
	    "Content-Length: 1048576\r\n", NULL, 0, &len);
	fd = client_connect(d.port);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(client_write(fd, text, len), 0);
	free(text);
	ck_assert_msg(client_read(fd, &r, 3000) == 0,
	    "no answer before the body: the daemon waits to read it");
	assert_error_full(&r, 413, "payload_too_large");
	response_free(&r);
	close(fd);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

/* Send body as chunks of `chunk' bytes (RFC 9112 section 7.1). */
static int
send_chunked(struct inboxd *d, const char *to, const char *body, size_t len,
    size_t chunk, struct response *r)
{
	char target[256], size[32];
	size_t hlen, off;
	char *text;
	int fd, status = -1;

	snprintf(target, sizeof(target), "/inbox?to=%s", to);
	text = client_build("POST", target, "bob", "pw",
	    "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n", NULL,
	    0, &hlen);
	fd = client_connect(d->port);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(client_write(fd, text, hlen), 0);
	free(text);
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		snprintf(size, sizeof(size), "%zx\r\n", n);
		if (client_write(fd, size, strlen(size)) == -1 ||
		    client_write(fd, body + off, n) == -1 ||
		    client_write(fd, "\r\n", 2) == -1)
			break;
	}
	if (off >= len)
		client_write(fd, "0\r\n\r\n", 5);
	if (client_read(fd, r, 5000) == 0)
		status = r->status;
	close(fd);
	return status;
}

/* A chunked body a little over the limit (within twice it) is read on,
 * dropped and answered 413. */
START_TEST(test_chunked_send_above_max_message_size_is_413)
{
	struct inboxd d;
	struct response r;
	char body[1500];

	start(&d, "max-message-size 1K\n");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	memset(body, 'c', sizeof(body));
	ck_assert_int_eq(send_chunked(&d, "alice", body, sizeof(body), 500,
	    &r), 413);
	assert_error_full(&r, 413, "payload_too_large");
	response_free(&r);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

/* A chunked body that runs on past twice the limit is cut: the connection
 * is closed without a response, and the daemon goes on serving. */
START_TEST(test_chunked_send_past_twice_the_limit_is_cut)
{
	struct inboxd d;
	char body[500], size[32], got[256];
	size_t hlen;
	char *text;
	long n;
	int fd, i;

	start(&d, "max-message-size 1K\n");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	memset(body, 'c', sizeof(body));
	text = client_build("POST", "/inbox?to=alice", "bob", "pw",
	    "Transfer-Encoding: chunked\r\n", NULL, 0, &hlen);
	fd = client_connect(d.port);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(client_write(fd, text, hlen), 0);
	free(text);
	/* 6 x 500 bytes: 3000, past 2 x 1024; writes may fail once cut. */
	snprintf(size, sizeof(size), "%zx\r\n", sizeof(body));
	for (i = 0; i < 6; i++)
		if (client_write(fd, size, strlen(size)) == -1 ||
		    client_write(fd, body, sizeof(body)) == -1 ||
		    client_write(fd, "\r\n", 2) == -1)
			break;
	if (i == 6)
		client_write(fd, "0\r\n\r\n", 5);
	n = client_wait_close(fd, 5000, got, sizeof(got));
	close(fd);
	ck_assert_msg(n != -1, "the connection is still open after 5 s; it "
	    "received: %s", got[0] ? got : "nothing");
	ck_assert_msg(n == 0, "the cut connection got a response: %s", got);
	/* Nothing was queued, and the daemon serves the next request. */
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "after", 5,
	    NULL), 204);
	expect_pop(&d, "alice", "pw", "after", 5, "bob", NULL);
	stop(&d);
}
END_TEST

START_TEST(test_chunked_send_within_limit_is_delivered_whole)
{
	struct inboxd d;
	struct response r;
	char body[4000];
	size_t i;

	start(&d, "max-message-size 4000\n");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	for (i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7);
	ck_assert_int_eq(send_chunked(&d, "alice", body, sizeof(body), 333,
	    &r), 204);
	response_free(&r);
	expect_pop(&d, "alice", "pw", body, sizeof(body), "bob", "text/plain");
	stop(&d);
}
END_TEST

START_TEST(test_send_to_inbox_at_max_messages_is_503_inbox_full)
{
	struct inboxd d;
	struct response r;

	start(&d, "max-messages 2\n");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "1", 1, NULL),
	    204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "2", 1, NULL),
	    204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "3", 1, &r),
	    503);
	assert_error_full(&r, 503, "inbox_full");
	ck_assert_str_eq(response_header(&r, "Retry-After"), "1");
	response_free(&r);
	/* Popping one makes room again; the refused one never arrived. */
	expect_pop(&d, "alice", "pw", "1", 1, "bob", NULL);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "4", 1, NULL),
	    204);
	expect_pop(&d, "alice", "pw", "2", 1, "bob", NULL);
	expect_pop(&d, "alice", "pw", "4", 1, "bob", NULL);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_send_to_inbox_at_max_inbox_bytes_is_503_inbox_full)
{
	struct inboxd d;
	struct response r;
	char body[1024];

	start(&d, "max-message-size 1K\nmax-inbox-bytes 2K\n");
	contact(&d, "alice", "pw");
	memset(body, 'b', sizeof(body));
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, body, 1024,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, body, 1024,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "x", 1, &r),
	    503);
	assert_error_full(&r, 503, "inbox_full");
	ck_assert_str_eq(response_header(&r, "Retry-After"), "1");
	response_free(&r);
	expect_pop(&d, "alice", "pw", body, 1024, "bob", NULL);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "x", 1, NULL),
	    204);
	stop(&d);
}
END_TEST

START_TEST(test_send_beyond_max_memory_is_503_server_full)
{
	static const char *const to[] = { "a", "b", "c", "d" };
	struct inboxd d;
	struct response r;
	char body[1024];
	int i, status = 204;

	/* Four inboxes could take 8K; the server takes 4K in all. */
	start(&d, "max-message-size 1K\nmax-inbox-bytes 2K\nmax-memory 4K\n");
	for (i = 0; i < 4; i++)
		contact(&d, to[i], "pw");
	memset(body, 'm', sizeof(body));
	for (i = 0; i < 8 && status == 204; i++) {
		/* Cluster mode judges by the gauges of its last walk over
		 * the inboxes (inboxd(8)): let it see each send. */
		if (cluster_mode())
			(void)metric(&d, "inboxd_memory_bytes");
		status = send_to(&d, "a", "pw", to[i % 4], NULL, body,
		    sizeof(body), &r);
		if (status == 204)
			response_free(&r);
	}
	ck_assert_msg(i > 1, "not even one message fitted");
	assert_error_full(&r, 503, "server_full");
	ck_assert_ptr_nonnull(response_header(&r, "Retry-After"));
	ck_assert_int_gt(atoi(response_header(&r, "Retry-After")), 0);
	response_free(&r);
	/* Popping frees memory for the next send. */
	expect_pop(&d, "a", "pw", body, sizeof(body), "a", NULL);
	if (cluster_mode())
		(void)metric(&d, "inboxd_memory_bytes");
	ck_assert_int_eq(send_to(&d, "a", "pw", "a", NULL, "x", 1, NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_first_contact_beyond_max_inboxes_is_503_server_full)
{
	struct inboxd d;
	struct response r;

	start(&d, "max-inboxes 2\n");
	contact(&d, "one", "pw");
	contact(&d, "two", "pw");
	/* Cluster mode counts inboxes by walking over them (inboxd(8)). */
	if (cluster_mode())
		ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 2);
	ck_assert_int_eq(get(&d, "three", "pw", "/inbox?wait=0", &r), 503);
	assert_error_full(&r, 503, "server_full");
	ck_assert_ptr_nonnull(response_header(&r, "Retry-After"));
	response_free(&r);
	/* The existing inboxes go on working. */
	ck_assert_int_eq(send_to(&d, "one", "pw", "two", NULL, "hi", 2, NULL),
	    204);
	expect_pop(&d, "two", "pw", "hi", 2, "one", NULL);
	stop(&d);
}
END_TEST

START_TEST(test_first_contact_by_send_creates_the_senders_inbox)
{
	struct inboxd d;

	start(&d, "");
	contact(&d, "alice", "pw");
	/* bob's first request is a send: it creates bob's inbox too. */
	ck_assert_int_eq(send_to(&d, "bob", "bobpw", "alice", NULL, "hi", 2,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "alice", "pw", "bob", NULL, "re", 2, NULL),
	    204);
	expect_pop(&d, "bob", "bobpw", "re", 2, "alice", NULL);
	expect_error(&d, "GET", "/inbox?wait=0", "bob", "other", NULL, NULL, 0,
	    401, "unauthorized");
	/* A refused send creates nothing. */
	expect_error(&d, "POST", "/inbox?to=nobody", "carol", "pw", NULL, "x",
	    1, 404, "not_found");
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- routing */

START_TEST(test_other_methods_on_inbox_are_405_with_allow)
{
	static const char *const methods[] = { "PUT", "DELETE", "PATCH" };
	struct inboxd d;
	struct response r;
	size_t i;

	start(&d, "");
	contact(&d, "alice", "pw");
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		const char *allow;

		ck_assert_int_eq(req(&d, methods[i], "/inbox", "alice", "pw",
		    NULL, NULL, 0, &r), 405);
		assert_error_full(&r, 405, "method_not_allowed");
		allow = response_header(&r, "Allow");
		ck_assert_msg(allow != NULL, "405 without Allow");
		ck_assert(has_token(allow, "GET"));
		ck_assert(has_token(allow, "POST"));
		ck_assert(!has_token(allow, methods[i]));
		response_free(&r);
	}
	stop(&d);
}
END_TEST

START_TEST(test_unknown_path_is_404)
{
	static const char *const paths[] = {
		"/", "/inboxes", "/inbox/alice", "/no/such/path", "/INBOX",
	};
	struct inboxd d;
	size_t i;

	start(&d, "");
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		expect_error(&d, "GET", paths[i], "alice", "pw", NULL, NULL, 0,
		    404, "not_found");
		expect_error(&d, "GET", paths[i], NULL, NULL, NULL, NULL, 0, 404,
		    "not_found");
	}
	stop(&d);
}
END_TEST

START_TEST(test_preflight_is_204_with_cors_headers)
{
	struct inboxd d;
	struct response r;
	const char *v;

	start(&d, "");
	/* A preflight carries no credentials (Fetch standard). */
	ck_assert_int_eq(req(&d, "OPTIONS", "/inbox?to=alice", NULL, NULL,
	    "Origin: https://app.example\r\n"
	    "Access-Control-Request-Method: POST\r\n"
	    "Access-Control-Request-Headers: authorization, content-type\r\n",
	    NULL, 0, &r), 204);
	assert_cors(&r);
	v = response_header(&r, "Access-Control-Allow-Methods");
	ck_assert_msg(v != NULL, "no Access-Control-Allow-Methods");
	ck_assert(has_token(v, "GET"));
	ck_assert(has_token(v, "POST"));
	ck_assert(has_token(v, "OPTIONS"));
	v = response_header(&r, "Access-Control-Allow-Headers");
	ck_assert_msg(v != NULL, "no Access-Control-Allow-Headers");
	ck_assert(has_token(v, "Authorization"));
	ck_assert(has_token(v, "Content-Type"));
	ck_assert(has_token(v, "X-PIN"));
	v = response_header(&r, "Access-Control-Max-Age");
	ck_assert_msg(v != NULL, "no Access-Control-Max-Age");
	ck_assert_int_gt(atoi(v), 0);
	ck_assert_uint_eq(r.body_len, 0);
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_every_response_carries_cors_headers)
{
	struct inboxd d;
	struct response r;
	char big[100];

	start(&d, "max-message-size 64\nmax-messages 1\n");
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r), 204);
	assert_cors(&r);
	response_free(&r);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "m", 1, &r),
	    204);
	assert_cors(&r);
	response_free(&r);
	expect_error(&d, "POST", "/inbox?to=alice", "bob", "pw", NULL, "m", 1,
	    503, "inbox_full");
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r), 200);
	assert_cors(&r);
	response_free(&r);
	expect_error(&d, "GET", "/inbox?wait=x", "alice", "pw", NULL, NULL, 0,
	    400, "bad_request");
	expect_error(&d, "GET", "/inbox?wait=0", NULL, NULL, NULL, NULL, 0,
	    401, "unauthorized");
	expect_error(&d, "GET", "/inbox?wait=0", "alice", "bad", NULL, NULL, 0,
	    401, "unauthorized");
	expect_error(&d, "POST", "/inbox?to=nobody", "bob", "pw", NULL, "m", 1,
	    404, "not_found");
	expect_error(&d, "GET", "/elsewhere", NULL, NULL, NULL, NULL, 0, 404,
	    "not_found");
	expect_error(&d, "DELETE", "/inbox", "alice", "pw", NULL, NULL, 0, 405,
	    "method_not_allowed");
	expect_error(&d, "POST", "/inbox?to=alice", "bob", "pw", NULL, big,
	    sizeof(big), 413, "payload_too_large");
	ck_assert_int_eq(req(&d, "OPTIONS", "/inbox", NULL, NULL, NULL, NULL,
	    0, &r), 204);
	assert_cors(&r);
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_listed_origin_is_echoed_with_vary)
{
	struct inboxd d;
	struct response r;

	start(&d, "cors-origins https://a.example\n");
	ck_assert_int_eq(req(&d, "GET", "/inbox?wait=0", "alice", "pw",
	    "Origin: https://a.example\r\n", NULL, 0, &r), 204);
	ck_assert_str_eq(response_header(&r, "Access-Control-Allow-Origin"),
	    "https://a.example");
	ck_assert(has_token(response_header(&r, "Vary"), "Origin"));
	ck_assert_ptr_nonnull(response_header(&r,
	    "Access-Control-Expose-Headers"));
	response_free(&r);
	ck_assert_int_eq(req(&d, "OPTIONS", "/inbox", NULL, NULL,
	    "Origin: https://a.example\r\n"
	    "Access-Control-Request-Method: GET\r\n", NULL, 0, &r), 204);
	ck_assert_str_eq(response_header(&r, "Access-Control-Allow-Origin"),
	    "https://a.example");
	ck_assert(has_token(response_header(&r, "Vary"), "Origin"));
	response_free(&r);
	/* Errors carry it too, so the page can read them. */
	ck_assert_int_eq(req(&d, "GET", "/inbox?wait=0", NULL, NULL,
	    "Origin: https://a.example\r\n", NULL, 0, &r), 401);
	ck_assert_str_eq(response_header(&r, "Access-Control-Allow-Origin"),
	    "https://a.example");
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_unlisted_origin_is_not_echoed)
{
	static const char *const others[] = {
		"Origin: https://b.example\r\n",
		"Origin: https://a.example.evil\r\n",
		"Origin: http://a.example\r\n",
		"",
	};
	struct inboxd d;
	struct response r;
	size_t i;

	start(&d, "cors-origins https://a.example\n");
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		const char *v;

		ck_assert_int_eq(req(&d, "GET", "/inbox?wait=0", "alice", "pw",
		    others[i], NULL, 0, &r), 204);
		v = response_header(&r, "Access-Control-Allow-Origin");
		ck_assert_msg(v == NULL,
		    "%s answered Access-Control-Allow-Origin: %s",
		    others[i][0] ? others[i] : "no Origin", v);
		response_free(&r);
	}
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------ messages */

START_TEST(test_messages_pop_in_fifo_order)
{
	static const char *const from[] = { "bob", "carol", "bob", "dave",
		"carol", "bob" };
	struct inboxd d;
	char body[32];
	int i;

	start(&d, "");
	contact(&d, "alice", "pw");
	for (i = 0; i < 6; i++) {
		snprintf(body, sizeof(body), "message %d", i);
		ck_assert_int_eq(send_to(&d, from[i], "pw", "alice", NULL, body,
		    strlen(body), NULL), 204);
	}
	for (i = 0; i < 6; i++) {
		snprintf(body, sizeof(body), "message %d", i);
		expect_pop(&d, "alice", "pw", body, strlen(body), from[i],
		    NULL);
	}
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_binary_body_with_nul_bytes_is_byte_exact)
{
	struct inboxd d;
	unsigned char body[4096];
	size_t i;

	start(&d, "");
	contact(&d, "alice", "pw");
	for (i = 0; i < sizeof(body); i++)
		body[i] = (unsigned char)(i % 256);
	body[0] = body[1] = 0;                 /* starts with NULs */
	body[sizeof(body) - 1] = 0;            /* and ends with one */
	memcpy(body + 100, "\r\n\r\n", 4);     /* no header end inside */
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice",
	    "application/octet-stream", body, sizeof(body), NULL), 204);
	/* A body that looks like a form is still opaque bytes. */
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice",
	    "application/x-www-form-urlencoded", "a=1&b=%20+", 10, NULL), 204);
	expect_pop(&d, "alice", "pw", body, sizeof(body), "bob",
	    "application/octet-stream");
	expect_pop(&d, "alice", "pw", "a=1&b=%20+", 10, "bob",
	    "application/x-www-form-urlencoded");
	stop(&d);
}
END_TEST

START_TEST(test_empty_message_pops_as_200_not_204)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "", 0, NULL),
	    204);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r), 200);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	ck_assert_ptr_nonnull(response_header(&r, "X-Message-Id"));
	response_free(&r);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_percent_encoded_utf8_recipient_reaches_inbox)
{
	struct inboxd d;

	start(&d, "");
	contact(&d, "zo\303\253", "pw");           /* zoë */
	contact(&d, "x@y/z=", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "zo%C3%AB", NULL, "for zoe",
	    7, NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "zo%c3%ab", NULL, "again", 5,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "x%40y%2Fz%3D", NULL, "xyz",
	    3, NULL), 204);
	expect_pop(&d, "zo\303\253", "pw", "for zoe", 7, "bob", NULL);
	expect_pop(&d, "zo\303\253", "pw", "again", 5, "bob", NULL);
	expect_pop(&d, "x@y/z=", "pw", "xyz", 3, "bob", NULL);
	/* A name that decodes to a control character is no name. */
	expect_error(&d, "POST", "/inbox?to=a%0Ab", "bob", "pw", NULL, "x", 1,
	    400, "bad_request");
	stop(&d);
}
END_TEST

/*
 * The query is decoded as application/x-www-form-urlencoded, as browsers'
 * URLSearchParams encode it and as emad-elsaid/inbox decodes it: `+' is a
 * space, and a `+' in a name travels as %2B.
 */
START_TEST(test_query_plus_is_space_and_2b_is_plus)
{
	struct inboxd d;

	start(&d, "");
	contact(&d, "a+b", "pw");
	contact(&d, "a b", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "a%2Bb", NULL, "2B", 2,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "a+b", NULL, "plus", 4,
	    NULL), 204);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "a%20b", NULL, "space", 5,
	    NULL), 204);
	expect_pop(&d, "a+b", "pw", "2B", 2, "bob", NULL);
	ck_assert_int_eq(get(&d, "a+b", "pw", "/inbox?wait=0", NULL), 204);
	expect_pop(&d, "a b", "pw", "plus", 4, "bob", NULL);
	expect_pop(&d, "a b", "pw", "space", 5, "bob", NULL);
	stop(&d);
}
END_TEST

/* ----------------------------------------------------------- long poll */

/* Send a GET with wait on a socket of its own and check that it is held. */
static int
hold(struct inboxd *d, const char *user, const char *password, int wait)
{
	char target[64];
	int fd;

	snprintf(target, sizeof(target), "/inbox?wait=%d", wait);
	fd = client_send(d->port, "GET", target, user, password, NULL, NULL,
	    0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(client_quiet(fd, 300), "GET wait=%d was not held", wait);
	return fd;
}

START_TEST(test_held_get_is_woken_by_send)
{
	struct inboxd d;
	struct response r;
	long t0, ms;
	int fd;

	start(&d, "");
	contact(&d, "alice", "pw");
	fd = hold(&d, "alice", "pw", 10);
	t0 = client_now_ms();
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", "text/plain",
	    "wake up", 7, NULL), 204);
	ck_assert_int_eq(client_read(fd, &r, 5000), 0);
	ms = client_now_ms() - t0;
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 7);
	ck_assert(memcmp(r.body, "wake up", 7) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	ck_assert_str_eq(response_header(&r, "Content-Type"), "text/plain");
	assert_cors(&r);
	response_free(&r);
	close(fd);
	ck_assert_msg(ms < 1000, "the held GET answered %ld ms after the send",
	    ms);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_held_get_times_out_with_204_at_its_deadline)
{
	struct inboxd d;
	struct response r;
	long ms;

	start(&d, "");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(timed_get(&d, "alice", "/inbox?wait=1", 5000, &ms,
	    &r), 204);
	assert_cors(&r);
	response_free(&r);
	ck_assert_msg(ms >= 950, "wait=1 answered early, after %ld ms", ms);
	ck_assert_msg(ms <= 2200, "wait=1 answered late, after %ld ms", ms);
	stop(&d);
}
END_TEST

START_TEST(test_get_without_wait_holds_for_default_wait)
{
	struct inboxd d;
	struct response r;
	long ms;

	start(&d, "default-wait 1\n");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(timed_get(&d, "alice", "/inbox", 5000, &ms, &r), 204);
	response_free(&r);
	ck_assert_msg(ms >= 950 && ms <= 2200,
	    "default-wait 1 answered after %ld ms", ms);
	stop(&d);
}
END_TEST

START_TEST(test_second_get_displaces_the_first)
{
	struct inboxd d;
	struct response r;
	long t0, ms;
	int first, second;

	start(&d, "");
	contact(&d, "alice", "pw");
	first = hold(&d, "alice", "pw", 10);
	t0 = client_now_ms();
	second = client_send(d.port, "GET", "/inbox?wait=10", "alice", "pw",
	    NULL, NULL, 0);
	ck_assert_int_ne(second, -1);
	ck_assert_int_eq(client_read(first, &r, 5000), 0);
	ms = client_now_ms() - t0;
	ck_assert_int_eq(r.status, 204);
	assert_cors(&r);
	response_free(&r);
	close(first);
	ck_assert_msg(ms < 1000, "the displaced GET answered after %ld ms", ms);
	/* The newer one is still held, and gets the next message. */
	ck_assert_msg(client_quiet(second, 300), "the newer GET was answered");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "next", 4,
	    NULL), 204);
	ck_assert_int_eq(client_read(second, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 4);
	ck_assert(memcmp(r.body, "next", 4) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	response_free(&r);
	close(second);
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- no loss */

START_TEST(test_message_sent_after_waiter_hung_up_is_kept)
{
	struct inboxd d;
	int fd;

	start(&d, "");
	contact(&d, "alice", "pw");
	fd = hold(&d, "alice", "pw", 10);
	close(fd);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "kept", 4,
	    NULL), 204);
	expect_pop(&d, "alice", "pw", "kept", 4, "bob", NULL);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
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
 * Pop alice's head message on a socket whose receive window is tiny, read
 * only the response headers, then reset the connection, so the daemon
 * cannot hand the whole body to the socket.  The X-Message-Id is copied to
 * id.
 */
static void
pop_and_reset(struct inboxd *d, char *id, size_t size)
{
	struct response r;
	size_t hlen;
	char *text;
	int fd;

	fd = client_connect_rcvbuf(d->port, 4096);
	ck_assert_int_ne(fd, -1);
	text = client_build("GET", "/inbox?wait=0", "alice", "pw", NULL, NULL,
	    0, &hlen);
	ck_assert_int_eq(client_write(fd, text, hlen), 0);
	free(text);
	ck_assert_int_eq(client_read_head(fd, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(response_header(&r, "X-Message-Id"));
	snprintf(id, size, "%s", response_header(&r, "X-Message-Id"));
	client_abort(fd);
}

/* r is the big message from bob with X-Message-Id id, byte for byte. */
static void
assert_big(const struct response *r, const unsigned char *body,
    const char *id)
{
	ck_assert_int_eq(r->status, 200);
	ck_assert_uint_eq(r->body_len, BIG_LEN);
	ck_assert(memcmp(r->body, body, BIG_LEN) == 0);
	ck_assert_str_eq(response_header(r, "X-Message-Id"), id);
	ck_assert_str_eq(response_header(r, "X-From"), "bob");
	ck_assert_str_eq(response_header(r, "Content-Type"), "video/webm");
}

START_TEST(test_undelivered_pop_goes_back_to_the_inbox)
{
	struct inboxd d;
	struct response r;
	unsigned char *body = big_body();
	char id[64];
	long deadline;
	int status;

	start(&d, BIG_CONF);
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", "video/webm", body,
	    BIG_LEN, NULL), 204);
	pop_and_reset(&d, id, sizeof(id));
	/* Requeued once the daemon sees the write fail: poll for it. */
	deadline = client_now_ms() + 5000;
	for (;;) {
		status = get(&d, "alice", "pw", "/inbox?wait=2", &r);
		if (status != 204 || client_now_ms() >= deadline)
			break;
		response_free(&r);
	}
	ck_assert_msg(status == 200, "the message did not come back (%d)",
	    status);
	assert_big(&r, body, id);
	response_free(&r);
	free(body);
	/* Exactly once. */
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_undelivered_pop_goes_back_before_later_messages)
{
	struct inboxd d;
	struct response r;
	unsigned char *body = big_body();
	char id[64];
	long deadline;

	start(&d, BIG_CONF);
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", "video/webm", body,
	    BIG_LEN, NULL), 204);
	ck_assert_int_eq(send_to(&d, "carol", "pw", "alice", NULL, "second", 6,
	    NULL), 204);
	pop_and_reset(&d, id, sizeof(id));
	/*
	 * A pop before the daemon noticed the reset may take "second": the
	 * first is still in flight.  The access log line of the failed GET
	 * (status 0) is written after the requeue, so wait for it.
	 */
	deadline = client_now_ms() + 5000;
	while (!inboxd_log_contains(&d, "GET \"/inbox\" 0 ") &&
	    client_now_ms() < deadline)
		sleep_ms(10);
	ck_assert_msg(inboxd_log_contains(&d, "GET \"/inbox\" 0 "),
	    "no failed GET in the access log %s", d.log);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", &r), 200);
	assert_big(&r, body, id);
	response_free(&r);
	free(body);
	expect_pop(&d, "alice", "pw", "second", 6, "carol", NULL);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

#define HUNG_UP 300

START_TEST(test_hung_up_waiters_on_many_inboxes_lose_nothing)
{
	struct inboxd d;
	struct response r;
	char name[32], body[32];
	int fd[HUNG_UP], i;

	/* HUNG_UP connections from one address: past the default limit. */
	start(&d, "per-ip-connection-limit 0\n");
	for (i = 0; i < HUNG_UP; i++) {
		snprintf(name, sizeof(name), "peer%d", i);
		contact(&d, name, "pw");
	}
	for (i = 0; i < HUNG_UP; i++) {
		snprintf(name, sizeof(name), "peer%d", i);
		fd[i] = client_send(d.port, "GET", "/inbox?wait=10", name, "pw",
		    NULL, NULL, 0);
		ck_assert_int_ne(fd[i], -1);
	}
	ck_assert(client_quiet(fd[HUNG_UP - 1], 300));
	for (i = 0; i < HUNG_UP; i++) {
		ck_assert_msg(client_quiet(fd[i], 0), "GET %d was answered", i);
		close(fd[i]);
	}
	for (i = 0; i < HUNG_UP; i++) {
		snprintf(name, sizeof(name), "peer%d", i);
		snprintf(body, sizeof(body), "to peer %d", i);
		ck_assert_int_eq(send_to(&d, "sender", "pw", name, NULL, body,
		    strlen(body), NULL), 204);
	}
	for (i = 0; i < HUNG_UP; i++) {
		snprintf(name, sizeof(name), "peer%d", i);
		snprintf(body, sizeof(body), "to peer %d", i);
		ck_assert_int_eq(get(&d, name, "pw", "/inbox?wait=0", &r), 200);
		ck_assert_uint_eq(r.body_len, strlen(body));
		ck_assert(memcmp(r.body, body, r.body_len) == 0);
		response_free(&r);
		ck_assert_int_eq(get(&d, name, "pw", "/inbox?wait=0", NULL),
		    204);
	}
	stop(&d);
}
END_TEST

/* -------------------------------------------------------------- expiry */

START_TEST(test_message_older_than_message_timeout_is_never_delivered)
{
	struct inboxd d;
	long t0;

	start(&d, "message-timeout 1\ninbox-timeout 30\n");
	contact(&d, "alice", "pw");
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "fresh", 5,
	    NULL), 204);
	expect_pop(&d, "alice", "pw", "fresh", 5, "bob", NULL);
	t0 = client_now_ms();
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "stale", 5,
	    NULL), 204);
	/* message-timeout plus one tick is the latest it may live. */
	sleep_until(t0 + 2500);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	/* The inbox itself lives on: its password still counts. */
	expect_error(&d, "GET", "/inbox?wait=0", "alice", "other", NULL, NULL,
	    0, 401, "unauthorized");
	stop(&d);
}
END_TEST

START_TEST(test_idle_inbox_expires_and_its_name_is_free_again)
{
	struct inboxd d;
	struct response r;
	long t0, deadline;
	int status;

	start(&d, "inbox-timeout 1\n");
	t0 = client_now_ms();
	contact(&d, "alice", "old");
	/* Sends from others do not keep alice's inbox alive. */
	deadline = t0 + 2500;
	for (;;) {
		status = send_to(&d, "bob", "pw", "alice", NULL, "x", 1, &r);
		if (status != 204 || client_now_ms() >= deadline)
			break;
		response_free(&r);
		sleep_ms(100);
	}
	assert_error_full(&r, 404, "not_found");
	response_free(&r);
	ck_assert_msg(client_now_ms() - t0 >= 1000,
	    "the inbox expired before inbox-timeout");
	/* The owner's next request is a first contact: any password. */
	contact(&d, "alice", "new");
	expect_error(&d, "GET", "/inbox?wait=0", "alice", "old", NULL, NULL, 0,
	    401, "unauthorized");
	/* And nothing of the old inbox is left in it. */
	ck_assert_int_eq(get(&d, "alice", "new", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_held_get_keeps_its_inbox_alive)
{
	struct inboxd d;
	struct response r;
	long t0;
	int fd;

	start(&d, "inbox-timeout 1\n");
	t0 = client_now_ms();
	contact(&d, "alice", "pw");
	fd = hold(&d, "alice", "pw", 3);
	/* Past inbox-timeout plus a tick, while the GET is held. */
	sleep_until(t0 + 2500);
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "alive", 5,
	    NULL), 204);
	ck_assert_int_eq(client_read(fd, &r, 3000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 5);
	ck_assert(memcmp(r.body, "alive", 5) == 0);
	response_free(&r);
	close(fd);
	stop(&d);
}
END_TEST

START_TEST(test_sends_by_the_owner_keep_its_inbox_alive)
{
	struct inboxd d;
	long t0;

	start(&d, "inbox-timeout 1\n");
	t0 = client_now_ms();
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	/* alice only sends, for twice inbox-timeout plus a tick. */
	while (client_now_ms() < t0 + 2500) {
		ck_assert_int_eq(send_to(&d, "alice", "pw", "bob", NULL, "x", 1,
		    NULL), 204);
		ck_assert_int_eq(get(&d, "bob", "pw", "/inbox?wait=0", NULL),
		    200);
		sleep_ms(200);
	}
	ck_assert_int_eq(send_to(&d, "bob", "pw", "alice", NULL, "still", 5,
	    NULL), 204);
	expect_pop(&d, "alice", "pw", "still", 5, "bob", NULL);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------- concurrency */

struct contact_job {
	pthread_barrier_t *barrier;
	unsigned port;
	char user[32];
	char password[32];
	int status;
};

static void *
contact_thread(void *arg)
{
	struct contact_job *j = arg;

	pthread_barrier_wait(j->barrier);
	j->status = client_request(j->port, "GET", "/inbox?wait=0", j->user,
	    j->password, NULL, NULL, 0, NULL);
	return NULL;
}

/* Run the n jobs at once, each on its own thread. */
static void
run_contacts(struct contact_job *jobs, int n, unsigned port)
{
	pthread_barrier_t barrier;
	pthread_t *tid = calloc((size_t)n, sizeof(*tid));
	int i;

	ck_assert_ptr_nonnull(tid);
	pthread_barrier_init(&barrier, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		jobs[i].barrier = &barrier;
		jobs[i].port = port;
		ck_assert_int_eq(pthread_create(&tid[i], NULL, contact_thread,
		    &jobs[i]), 0);
	}
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&barrier);
	free(tid);
}

#define CONTACTS 50

START_TEST(test_concurrent_first_contacts_on_distinct_names_all_succeed)
{
	struct contact_job jobs[CONTACTS];
	struct inboxd d;
	int i;

	/* CONTACTS wrong passwords below: past the default throttle. */
	start(&d, "auth-failures-per-minute 0\n");
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < CONTACTS; i++) {
		snprintf(jobs[i].user, sizeof(jobs[i].user), "peer%d", i);
		snprintf(jobs[i].password, sizeof(jobs[i].password), "pw%d", i);
	}
	run_contacts(jobs, CONTACTS, d.port);
	for (i = 0; i < CONTACTS; i++)
		ck_assert_msg(jobs[i].status == 204, "%s got %d", jobs[i].user,
		    jobs[i].status);
	/* Every inbox exists with its own password. */
	for (i = 0; i < CONTACTS; i++) {
		ck_assert_int_eq(send_to(&d, "x", "pw", jobs[i].user, NULL, "m",
		    1, NULL), 204);
		ck_assert_int_eq(get(&d, jobs[i].user, "wrong", "/inbox?wait=0",
		    NULL), 401);
		ck_assert_int_eq(get(&d, jobs[i].user, jobs[i].password,
		    "/inbox?wait=0", NULL), 200);
	}
	stop(&d);
}
END_TEST

START_TEST(test_concurrent_first_contacts_on_one_name_all_succeed)
{
	struct contact_job jobs[CONTACTS];
	struct inboxd d;
	int i;

	start(&d, "");
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < CONTACTS; i++) {
		strcpy(jobs[i].user, "everyone");
		strcpy(jobs[i].password, "same");
	}
	run_contacts(jobs, CONTACTS, d.port);
	for (i = 0; i < CONTACTS; i++)
		ck_assert_msg(jobs[i].status == 204, "contact %d got %d", i,
		    jobs[i].status);
	/* One inbox came of it. */
	ck_assert_int_eq(send_to(&d, "x", "pw", "everyone", NULL, "one", 3,
	    NULL), 204);
	expect_pop(&d, "everyone", "same", "one", 3, "x", NULL);
	ck_assert_int_eq(get(&d, "everyone", "same", "/inbox?wait=0", NULL),
	    204);
	stop(&d);
}
END_TEST

#define RACES 20

START_TEST(test_racing_passwords_on_one_name_exactly_one_wins)
{
	struct contact_job jobs[2 * RACES];
	struct inboxd d;
	int i;

	/* 2 x RACES wrong passwords (losers, then the checks below): past
	 * the default throttle. */
	start(&d, "auth-failures-per-minute 0\n");
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 2 * RACES; i++) {
		snprintf(jobs[i].user, sizeof(jobs[i].user), "race%d", i / 2);
		strcpy(jobs[i].password, i % 2 ? "odd" : "even");
	}
	run_contacts(jobs, 2 * RACES, d.port);
	for (i = 0; i < 2 * RACES; i += 2) {
		int a = jobs[i].status, b = jobs[i + 1].status;
		const char *winner, *loser;

		ck_assert_msg((a == 204 && b == 401) || (a == 401 && b == 204),
		    "%s: the two passwords got %d and %d", jobs[i].user, a, b);
		winner = a == 204 ? jobs[i].password : jobs[i + 1].password;
		loser = a == 204 ? jobs[i + 1].password : jobs[i].password;
		ck_assert_int_eq(get(&d, jobs[i].user, winner, "/inbox?wait=0",
		    NULL), 204);
		ck_assert_int_eq(get(&d, jobs[i].user, loser, "/inbox?wait=0",
		    NULL), 401);
	}
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------ shutdown */

START_TEST(test_sigterm_answers_held_gets_204_and_exits_0)
{
	struct inboxd d;
	struct response r;
	int a, b, status;

	start(&d, "");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	a = hold(&d, "alice", "pw", 10);
	b = hold(&d, "bob", "pw", 10);
	inboxd_signal(&d, SIGTERM);
	ck_assert_int_eq(client_read(a, &r, 3000), 0);
	ck_assert_int_eq(r.status, 204);
	response_free(&r);
	ck_assert_int_eq(client_read(b, &r, 3000), 0);
	ck_assert_int_eq(r.status, 204);
	response_free(&r);
	close(a);
	close(b);
	status = inboxd_wait(&d, 5000);
	if (status == -2)
		inboxd_kill(&d, SIGKILL);
	ck_assert_msg(status == 0, "inboxd exit status %d after SIGTERM (-2: "
	    "still running 5 s later); see %s", status, d.log);
	inboxd_cleanup(&d);
}
END_TEST

/* -------------------------------------------------- a real WebRTC call */

static char *
testdata(const char *name, size_t *len)
{
	const char *dir = getenv("TESTDATA");
	char path[1024];
	char *text;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "test/data", name);
	text = read_file(path, len);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	return text;
}

struct peer {
	const char *name;
	const char *password;
};

/*
 * Find the objects of the top-level JSON array in text, as the exact byte
 * ranges of the file (strings and their escapes skipped).  Returns how
 * many were found, at most max.
 */
static int
json_array_objects(const char *text, size_t len, const char *obj[],
    size_t obj_len[], int max)
{
	int depth = 0, n = 0, in_string = 0;
	const char *start = NULL;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (c == '"')
			in_string = 1;
		else if (c == '{' || c == '[') {
			if (++depth == 2 && c == '{')
				start = text + i;
		} else if (c == '}' || c == ']') {
			if (depth-- == 2 && c == '}' && start != NULL && n < max) {
				obj[n] = start;
				obj_len[n++] = (size_t)(text + i + 1 - start);
				start = NULL;
			}
		}
	}
	return n;
}

START_TEST(test_sdp_offer_answer_and_candidates_are_byte_exact)
{
	struct inboxd d;
	struct response r;
	size_t offer_len, answer_len, cand_len;
	char *offer, *answer, *cands;
	const struct peer caller = { "caller", "caller-secret" };
	const struct peer callee = { "callee", "callee-secret" };
	const struct peer *from[16], *to[16];
	const char *obj[16];
	size_t obj_len[16];
	cJSON *list;
	int n, i, fd;

	offer = testdata("offer.sdp", &offer_len);
	answer = testdata("answer.sdp", &answer_len);
	cands = testdata("candidates.json", &cand_len);
	/* The sizes of test/data/README: the files are intact. */
	ck_assert_uint_eq(offer_len, 5737);
	ck_assert_uint_eq(answer_len, 5073);
	ck_assert_uint_eq(cand_len, 1799);
	list = cJSON_ParseWithLength(cands, cand_len);
	ck_assert_ptr_nonnull(list);
	ck_assert_int_eq(cJSON_GetArraySize(list), 8);

	start(&d, "");
	contact(&d, "caller", "caller-secret");
	contact(&d, "callee", "callee-secret");

	/* The callee waits; the offer wakes it. */
	fd = hold(&d, "callee", "callee-secret", 10);
	ck_assert_int_eq(send_to(&d, "caller", "caller-secret", "callee",
	    "application/sdp", offer, offer_len, NULL), 204);
	ck_assert_int_eq(client_read(fd, &r, 5000), 0);
	close(fd);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, offer_len);
	ck_assert(memcmp(r.body, offer, offer_len) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "caller");
	ck_assert_str_eq(response_header(&r, "Content-Type"),
	    "application/sdp");
	response_free(&r);

	ck_assert_int_eq(send_to(&d, "callee", "callee-secret", "caller",
	    "application/sdp", answer, answer_len, NULL), 204);
	expect_pop(&d, "caller", "caller-secret", answer, answer_len, "callee",
	    "application/sdp");

	/*
	 * Trickle ICE: each candidate is its own message to the other peer,
	 * its bytes exactly as they stand in the file.  Entries 1-6 are the
	 * offerer's (ufrag MY+9), 7-8 the answerer's.
	 */
	n = json_array_objects(cands, cand_len, obj, obj_len, 16);
	ck_assert_int_eq(n, 8);
	for (i = 0; i < n; i++) {
		cJSON *item = cJSON_ParseWithLength(obj[i], obj_len[i]);
		cJSON *ufrag = cJSON_GetObjectItemCaseSensitive(item,
		    "usernameFragment");
		int mine = cJSON_IsString(ufrag) &&
		    strcmp(ufrag->valuestring, "MY+9") == 0;

		ck_assert(cJSON_Compare(item, cJSON_GetArrayItem(list, i), 1));
		cJSON_Delete(item);
		ck_assert_int_eq(mine, i < 6);
		from[i] = mine ? &caller : &callee;
		to[i] = mine ? &callee : &caller;
		ck_assert_int_eq(send_to(&d, from[i]->name, from[i]->password,
		    to[i]->name, "application/json", obj[i], obj_len[i], NULL),
		    204);
	}
	/* Each peer pops the other's candidates in the order they came. */
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(get(&d, to[i]->name, to[i]->password,
		    "/inbox?wait=0", &r), 200);
		ck_assert_uint_eq(r.body_len, obj_len[i]);
		ck_assert(memcmp(r.body, obj[i], obj_len[i]) == 0);
		ck_assert_str_eq(response_header(&r, "X-From"), from[i]->name);
		ck_assert_str_eq(response_header(&r, "Content-Type"),
		    "application/json");
		response_free(&r);
	}
	ck_assert_int_eq(get(&d, "caller", "caller-secret", "/inbox?wait=0",
	    NULL), 204);
	ck_assert_int_eq(get(&d, "callee", "callee-secret", "/inbox?wait=0",
	    NULL), 204);
	cJSON_Delete(list);
	free(offer);
	free(answer);
	free(cands);
	stop(&d);
}
END_TEST

/* --------------------------------------------------------------- suite */

static Suite *
inbox_suite(void)
{
	Suite *s = suite_create("inbox");
	TCase *tc;

	tc = tcase(s, "auth", 10);
	tcase_add_test(tc, test_missing_authorization_is_401_with_basic_challenge);
	tcase_add_test(tc, test_malformed_authorization_is_401_with_basic_challenge);
	tcase_add_test(tc, test_wrong_password_is_401);
	tcase_add_test(tc, test_username_longer_than_256_bytes_is_400);
	tcase_add_test(tc, test_username_with_control_character_is_400);
	tcase_add_test(tc, test_empty_username_is_400);
	tcase_add_test(tc, test_username_that_is_not_utf8_is_400);
	tcase_add_test(tc, test_username_may_hold_any_other_utf8);
	tcase_add_test(tc, test_empty_password_is_400);
	tcase_add_test(tc, test_password_longer_than_1024_bytes_is_400);
	tcase_add_test(tc, test_min_password_length_is_honoured);

	tc = tcase(s, "receive", 15);
	tcase_add_test(tc, test_wait_that_is_not_a_whole_number_is_400);
	tcase_add_test(tc, test_wait_above_max_wait_is_clamped);
	tcase_add_test(tc, test_empty_inbox_with_wait_0_is_204);
	tcase_add_test(tc, test_pop_returns_oldest_with_sender_and_headers);
	tcase_add_test(tc, test_pop_without_sender_type_is_octet_stream);
	tcase_add_test(tc, test_message_ids_are_distinct);

	tc = tcase(s, "send", 15);
	tcase_add_test(tc, test_send_is_204_without_body);
	tcase_add_test(tc, test_send_without_to_is_400);
	tcase_add_test(tc, test_send_to_unknown_recipient_is_404);
	tcase_add_test(tc, test_send_above_max_message_size_is_413);
	tcase_add_test(tc, test_send_too_large_is_413_before_the_body_is_sent);
	tcase_add_test(tc, test_chunked_send_above_max_message_size_is_413);
	tcase_add_test(tc, test_chunked_send_past_twice_the_limit_is_cut);
	tcase_add_test(tc, test_chunked_send_within_limit_is_delivered_whole);
	tcase_add_test(tc, test_send_to_inbox_at_max_messages_is_503_inbox_full);
	tcase_add_test(tc,
	    test_send_to_inbox_at_max_inbox_bytes_is_503_inbox_full);
	tcase_add_test(tc, test_send_beyond_max_memory_is_503_server_full);
	tcase_add_test(tc,
	    test_first_contact_beyond_max_inboxes_is_503_server_full);
	tcase_add_test(tc, test_first_contact_by_send_creates_the_senders_inbox);

	tc = tcase(s, "routing_and_cors", 10);
	tcase_add_test(tc, test_other_methods_on_inbox_are_405_with_allow);
	tcase_add_test(tc, test_unknown_path_is_404);
	tcase_add_test(tc, test_preflight_is_204_with_cors_headers);
	tcase_add_test(tc, test_every_response_carries_cors_headers);
	tcase_add_test(tc, test_listed_origin_is_echoed_with_vary);
	tcase_add_test(tc, test_unlisted_origin_is_not_echoed);

	tc = tcase(s, "messages", 10);
	tcase_add_test(tc, test_messages_pop_in_fifo_order);
	tcase_add_test(tc, test_binary_body_with_nul_bytes_is_byte_exact);
	tcase_add_test(tc, test_empty_message_pops_as_200_not_204);
	tcase_add_test(tc, test_percent_encoded_utf8_recipient_reaches_inbox);
	tcase_add_test(tc, test_query_plus_is_space_and_2b_is_plus);

	tc = tcase(s, "long_poll", 15);
	tcase_add_test(tc, test_held_get_is_woken_by_send);
	tcase_add_test(tc, test_held_get_times_out_with_204_at_its_deadline);
	tcase_add_test(tc, test_get_without_wait_holds_for_default_wait);
	tcase_add_test(tc, test_second_get_displaces_the_first);

	tc = tcase(s, "no_loss", 30);
	tcase_add_test(tc, test_message_sent_after_waiter_hung_up_is_kept);
	tcase_add_test(tc, test_undelivered_pop_goes_back_to_the_inbox);
	tcase_add_test(tc,
	    test_undelivered_pop_goes_back_before_later_messages);
	tcase_add_test(tc, test_hung_up_waiters_on_many_inboxes_lose_nothing);

	tc = tcase(s, "expiry", 15);
	tcase_add_test(tc,
	    test_message_older_than_message_timeout_is_never_delivered);
	tcase_add_test(tc, test_idle_inbox_expires_and_its_name_is_free_again);
	tcase_add_test(tc, test_held_get_keeps_its_inbox_alive);
	tcase_add_test(tc, test_sends_by_the_owner_keep_its_inbox_alive);

	tc = tcase(s, "concurrency", 30);
	tcase_add_test(tc,
	    test_concurrent_first_contacts_on_distinct_names_all_succeed);
	tcase_add_test(tc, test_concurrent_first_contacts_on_one_name_all_succeed);
	tcase_add_test(tc, test_racing_passwords_on_one_name_exactly_one_wins);

	tc = tcase(s, "shutdown", 15);
	tcase_add_test(tc, test_sigterm_answers_held_gets_204_and_exits_0);

	tc = tcase(s, "webrtc", 15);
	tcase_add_test(tc, test_sdp_offer_answer_and_candidates_are_byte_exact);
	return s;
}

int
main(void)
{
	return check_run(inbox_suite());
}
