/*
 * check_http.c - requests RFC 9112 leaves no room for, written as raw
 * bytes to the daemon's socket, each answered at once with a defined
 * status (inboxd(8), HTTP): repeated Content-Length, unsupported
 * Transfer-Encoding, HTTP/1.1 without Host, repeated Authorization,
 * repeated or NUL-bearing query arguments, %00 in the path.  What
 * libmicrohttpd 0.9.75 answers itself, before inboxd sees the request
 * (a malformed Content-Length, a garbage request line), is pinned down
 * too, so a change of library shows.  No test waits for a timeout: the
 * answer must come within ANSWER_MS.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define ANSWER_MS 1000
/* alice:password1 */
#define AUTH "Authorization: Basic YWxpY2U6cGFzc3dvcmQx\r\n"

static struct inboxd d;

static void
setup(void)
{
	start(&d, "argon2-time-cost 1\nargon2-memory-kib 8\n");
	contact(&d, "alice", "password1");
}

static void
teardown(void)
{
	stop(&d);
}

/* Write raw to a fresh connection and read one response. */
static void
raw(const char *req, size_t len, struct response *r)
{
	int fd = client_connect(d.port);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(client_write(fd, req, len), 0);
	ck_assert_msg(client_read(fd, r, ANSWER_MS) == 0,
	    "no answer within %d ms to:\n%s", ANSWER_MS, req);
	close(fd);
}

/* raw, and the answer must be status with error code. */
static void
refused(const char *req, int status, const char *code)
{
	struct response r;

	raw(req, strlen(req), &r);
	assert_error(&r, status, code);
	response_free(&r);
}

/* Nothing was queued by the refused requests. */
static void
nothing_queued(void)
{
	ck_assert_int_eq(get(&d, "alice", "password1", "/inbox?wait=0", NULL),
	    204);
}

START_TEST(test_content_length_given_twice_is_400)
{
	refused("POST /inbox?to=alice HTTP/1.1\r\nHost: x\r\n" AUTH
	    "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	    400, "bad_request");
	refused("POST /inbox?to=alice HTTP/1.1\r\nHost: x\r\n" AUTH
	    "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	    400, "bad_request");
	refused("POST /inbox?to=alice HTTP/1.1\r\nHost: x\r\n" AUTH
	    "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nabc\r\n0\r\n\r\n", 400, "bad_request");
	nothing_queued();
}
END_TEST

START_TEST(test_unsupported_transfer_encoding_is_501)
{
	static const char *const te[] = { "identity", "gzip, chunked",
		"xchunked", "chunked, chunked" };
	char req[512];
	size_t i;

	for (i = 0; i < sizeof(te) / sizeof(te[0]); i++) {
		snprintf(req, sizeof(req), "POST /inbox?to=alice HTTP/1.1\r\n"
		    "Host: x\r\n" AUTH "Transfer-Encoding: %s\r\n\r\n"
		    "3\r\nabc\r\n0\r\n\r\n", te[i]);
		refused(req, 501, "not_implemented");
	}
	nothing_queued();
}
END_TEST

START_TEST(test_http11_without_host_is_400)
{
	struct response r;
	static const char ok10[] = "GET /inbox?wait=0 HTTP/1.0\r\n" AUTH
	    "\r\n";

	refused("GET /inbox?wait=0 HTTP/1.1\r\n" AUTH "\r\n", 400,
	    "bad_request");
	refused("GET /inbox?wait=0 HTTP/1.1\r\nHost: x\r\nHost: y\r\n" AUTH
	    "\r\n", 400, "bad_request");
	/* HTTP/1.0 has no Host to require. */
	raw(ok10, strlen(ok10), &r);
	ck_assert_int_eq(r.status, 204);
	response_free(&r);
}
END_TEST

START_TEST(test_authorization_given_twice_is_400)
{
	/* The second is bob:pw. */
	refused("GET /inbox?wait=0 HTTP/1.1\r\nHost: x\r\n" AUTH
	    "Authorization: Basic Ym9iOnB3\r\n\r\n", 400, "bad_request");
	refused("GET /inbox?wait=0 HTTP/1.1\r\nHost: x\r\n" AUTH AUTH "\r\n",
	    400, "bad_request");
}
END_TEST

START_TEST(test_repeated_query_argument_is_400)
{
	refused("POST /inbox?to=alice&to=bob HTTP/1.1\r\nHost: x\r\n" AUTH
	    "Content-Length: 1\r\n\r\nx", 400, "bad_request");
	refused("GET /inbox?wait=0&wait=5 HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n",
	    400, "bad_request");
	nothing_queued();
}
END_TEST

START_TEST(test_nul_byte_is_400)
{
	refused("GET /inbox%00?wait=0 HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n",
	    400, "bad_request");
	refused("GET /inbox%00/x?wait=0 HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n",
	    400, "bad_request");
	refused("GET /inbox?wait=1%00 HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n",
	    400, "bad_request");
	refused("POST /inbox?to=alice%00x HTTP/1.1\r\nHost: x\r\n" AUTH
	    "Content-Length: 1\r\n\r\nx", 400, "bad_request");
	nothing_queued();
}
END_TEST

/*
 * libmicrohttpd 0.9.75 refuses a malformed Content-Length itself, with a
 * 400 of its own (an HTML body) that it writes twice, before inboxd sees
 * the request: what arrives first is that 400, and the connection
 * closes.  Nothing is queued.
 */
START_TEST(test_malformed_content_length_is_refused_by_the_library)
{
	static const char *const cl[] = { "-1", "0x3", "+3", "3, 3",
		"18446744073709551616" };
	char req[512];
	struct response r;
	size_t i;

	for (i = 0; i < sizeof(cl) / sizeof(cl[0]); i++) {
		snprintf(req, sizeof(req), "POST /inbox?to=alice HTTP/1.1\r\n"
		    "Host: x\r\n" AUTH "Content-Length: %s\r\n\r\nabc", cl[i]);
		raw(req, strlen(req), &r);
		ck_assert_msg(r.status == 400 || r.status == 413,
		    "Content-Length: %s: %d", cl[i], r.status);
		response_free(&r);
	}
	nothing_queued();
}
END_TEST

/* A request line that is not one: closed at once, by the library. */
START_TEST(test_garbage_request_line_is_closed)
{
	int fd = client_connect(d.port);
	char buf[256];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(client_write(fd, "GARBAGE\r\n\r\n", 11), 0);
	ck_assert_msg(client_wait_close(fd, ANSWER_MS, buf, sizeof(buf)) >= 0,
	    "a garbage request line left the connection open");
	close(fd);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("http");
	TCase *t = tcase(s, "rfc9112", 30);

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_content_length_given_twice_is_400);
	tcase_add_test(t, test_unsupported_transfer_encoding_is_501);
	tcase_add_test(t, test_http11_without_host_is_400);
	tcase_add_test(t, test_authorization_given_twice_is_400);
	tcase_add_test(t, test_repeated_query_argument_is_400);
	tcase_add_test(t, test_nul_byte_is_400);
	tcase_add_test(t, test_malformed_content_length_is_refused_by_the_library);
	tcase_add_test(t, test_garbage_request_line_is_closed);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(suite());
}
