/*
 * check_limits.c - the limits and abuse defences of SPEC section 4, end to
 * end against the real daemon, by fault and flood: max-inboxes and
 * max-memory under a flood, slow clients and connection-timeout, the
 * per-address failure throttle (429) and connection limit, trusted proxies
 * and X-Forwarded-For, and HTTPS (tls-cert, tls-key).
 *
 * Every test starts its own inboxd on an ephemeral loopback port and
 * talks to 127.0.0.1, or from 127.0.0.2 where a second client address is
 * needed (Linux routes all of 127.0.0.0/8 to lo).  Floods are bounded in
 * count; waits are bounded everywhere, on a condition (the log, the
 * socket) or on a known timeout, never on a guess.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

/* The daemon of `make sanitize' is built with the tests' flags. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* The second client address (see client_connect_from). */
#define OTHER "127.0.0.2"

/* req from the loopback address src. */
static int
req_from(struct inboxd *d, const char *src, const char *method,
    const char *target, const char *user, const char *password,
    const char *extra, const void *body, size_t len, struct response *r)
{
	return client_request_from(d->port, src, method, target, user,
	    password, extra, body, len, r);
}

/* One request on the open connection fd; the status, or -1. */
static int
exchange(int fd, const char *method, const char *target, const char *user,
    const char *password, const char *extra, struct response *r,
    int timeout_ms)
{
	size_t len;
	char *text = client_build(method, target, user, password, extra, NULL,
	    0, &len);
	int status = -1;

	memset(r, 0, sizeof(*r));
	if (text != NULL && client_write(fd, text, len) == 0 &&
	    client_read(fd, r, timeout_ms) == 0)
		status = r->status;
	free(text);
	return status;
}

/* The "error" code of a JSON error body, copied to code; "" if none. */
static void
error_code(const struct response *r, char *code, size_t len)
{
	cJSON *j = r->body ? cJSON_ParseWithLength(r->body, r->body_len) :
	    NULL;
	cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	snprintf(code, len, "%s", cJSON_IsString(e) ? e->valuestring : "");
	cJSON_Delete(j);
}

/* A 429 too_many_requests with Retry-After within the 60 s window. */
static void
assert_throttled(const struct response *r)
{
	long ra;

	assert_error(r, 429, "too_many_requests");
	ra = retry_after(r);
	ck_assert_msg(ra >= 1 && ra <= 60,
	    "429 with Retry-After %s, expected 1 to 60:\n%s",
	    response_header(r, "Retry-After") ?
	    response_header(r, "Retry-After") : "(none)", r->head);
}

/*
 * The client address the access log gives for the request of user (the
 * line ending in "USER"); fails when no such line shows up in 3 s.
 */
static void
logged_client(struct inboxd *d, const char *user, char client[64])
{
	char needle[300], *line;

	snprintf(needle, sizeof(needle), " \"%s\"", user);
	line = inboxd_log_line(d, needle, 3000);
	ck_assert_msg(line != NULL, "no access log line for %s in %s", user,
	    d->log);
	/* TIME CLIENT METHOD "PATH" STATUS BYTES MS "USER" */
	ck_assert_msg(sscanf(line, "%*s %63s", client) == 1,
	    "malformed access log line: %s", line);
	free(line);
}

/* ------------------------------------------------------- max-inboxes */

#define FLOOD_INBOXES 200  /* max-inboxes */
#define FLOOD_CONTACTS 400 /* first contacts in the flood */
#define FLOOD_THREADS 16

struct flood_job {
	unsigned port;
	int first;                 /* names flood<first> ... */
	pthread_barrier_t *halfway; /* every thread is half done */
	atomic_int *running;
	int ok, full, other;       /* 204, 503 server_full, anything else */
	int bad_full;              /* 503 without server_full / Retry-After */
	char why[256];             /* the first unexpected answer */
};

static void
flood_contact(struct flood_job *j, int i)
{
	struct response r;
	char name[32], code[64];
	int status;

	snprintf(name, sizeof(name), "flood%d", j->first + i);
	status = client_request(j->port, "GET", "/inbox?wait=0", name, "pw",
	    NULL, NULL, 0, &r);
	if (status == 204) {
		j->ok++;
	} else if (status == 503) {
		error_code(&r, code, sizeof(code));
		if (strcmp(code, "server_full") == 0 && retry_after(&r) >= 1) {
			j->full++;
		} else {
			if (j->bad_full++ == 0)
				snprintf(j->why, sizeof(j->why),
				    "%s: 503 %s, Retry-After %s", name, code,
				    response_header(&r, "Retry-After") ?
				    response_header(&r, "Retry-After") :
				    "(none)");
		}
	} else if (j->other++ == 0) {
		snprintf(j->why, sizeof(j->why), "%s: status %d", name,
		    status);
	}
	if (status != -1)
		response_free(&r);
}

static void *
flood_thread(void *arg)
{
	struct flood_job *j = arg;
	int n = FLOOD_CONTACTS / FLOOD_THREADS, i;

	for (i = 0; i < n / 2; i++)
		flood_contact(j, i);
	pthread_barrier_wait(j->halfway);
	for (; i < n; i++)
		flood_contact(j, i);
	atomic_fetch_sub(j->running, 1);
	return NULL;
}

/* One message through the keeper's own inbox: send 204, pop 200. */
static void
keeper_round(struct inboxd *d, int round)
{
	struct response r;
	char body[32];

	snprintf(body, sizeof(body), "keeper %d", round);
	ck_assert_msg(send_to(d, "keeper", "pw", "keeper", NULL, body,
	    strlen(body), &r) == 204, "keeper send %d got %d", round,
	    r.status);
	response_free(&r);
	ck_assert_msg(get(d, "keeper", "pw", "/inbox?wait=0", &r) == 200,
	    "keeper pop %d got %d", round, r.status);
	ck_assert_str_eq(response_header(&r, "X-From"), "keeper");
	ck_assert_uint_eq(r.body_len, strlen(body));
	ck_assert(memcmp(r.body, body, r.body_len) == 0);
	response_free(&r);
}

START_TEST(test_first_contact_flood_past_max_inboxes_is_503_and_spares_existing)
{
	struct flood_job jobs[FLOOD_THREADS];
	pthread_t tid[FLOOD_THREADS];
	pthread_barrier_t halfway;
	atomic_int running = FLOOD_THREADS;
	struct inboxd d;
	struct response r;
	int i, ok = 0, full = 0, during = 0, after;

	start(&d, "max-inboxes 200\n");
	/* The keeper's inbox exists before the flood: one of the 200. */
	contact(&d, "keeper", "pw");
	pthread_barrier_init(&halfway, NULL, FLOOD_THREADS + 1);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < FLOOD_THREADS; i++) {
		jobs[i].port = d.port;
		jobs[i].first = i * (FLOOD_CONTACTS / FLOOD_THREADS);
		jobs[i].halfway = &halfway;
		jobs[i].running = &running;
		ck_assert_int_eq(pthread_create(&tid[i], NULL, flood_thread,
		    &jobs[i]), 0);
	}
	/* While the flood runs; once at halfway, when the server is full
	 * (200 of the 400 contacts made) and the flood goes on. */
	keeper_round(&d, during++);
	pthread_barrier_wait(&halfway);
	do
		keeper_round(&d, during++);
	while (atomic_load(&running) > 0);
	for (i = 0; i < FLOOD_THREADS; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&halfway);
	for (i = 0; i < FLOOD_THREADS; i++) {
		ck_assert_msg(jobs[i].other == 0 && jobs[i].bad_full == 0,
		    "thread %d: %s", i, jobs[i].why);
		ok += jobs[i].ok;
		full += jobs[i].full;
	}
	printf("max-inboxes flood: %d created, %d refused 503 server_full, "
	    "%d keeper rounds during the flood\n", ok, full, during);
	ck_assert_msg(ok == FLOOD_INBOXES - 1 &&
	    full == FLOOD_CONTACTS - (FLOOD_INBOXES - 1),
	    "%d first contacts succeeded and %d got 503 server_full; "
	    "expected %d and %d", ok, full, FLOOD_INBOXES - 1,
	    FLOOD_CONTACTS - (FLOOD_INBOXES - 1));
	/* After the flood: still full, and the keeper still works. */
	ck_assert_int_eq(get(&d, "latecomer", "pw", "/inbox?wait=0", &r),
	    503);
	assert_error(&r, 503, "server_full");
	ck_assert_int_ge(retry_after(&r), 1);
	response_free(&r);
	for (after = 0; after < 3; after++)
		keeper_round(&d, during + after);
	/* And the flood's own inboxes work too. */
	ck_assert_int_eq(send_to(&d, "keeper", "pw", "flood0", NULL, "x", 1,
	    NULL), 204);
	ck_assert_int_eq(get(&d, "flood0", "pw", "/inbox?wait=0", &r), 200);
	response_free(&r);
	stop(&d);
}
END_TEST

/* -------------------------------------------------------- max-memory */

#define MEM_INBOXES 4
#define MEM_BODY (64 * 1024)                /* max-message-size, 64K */
#define MEM_MAX (8 * MIB)                   /* max-memory */
#define MEM_SLACK (4 * MIB)                 /* allowed RSS overhead */
#define MEM_MIN_FIT (MEM_MAX / MEM_BODY - 8) /* messages that must fit */
#define MEM_ATTEMPTS 300                    /* per thread, at most */

struct mem_job {
	unsigned port;
	int n;      /* inbox m<n>, body bytes all 'A' + n */
	int sent;   /* 204s */
	int status; /* the answer that ended the flood */
	char code[64];
	long retry;
};

static void *
mem_thread(void *arg)
{
	struct mem_job *j = arg;
	struct response r;
	char name[16], target[32], *body = malloc(MEM_BODY);
	int i;

	j->status = -1;
	if (body == NULL)
		return NULL;
	memset(body, 'A' + j->n, MEM_BODY);
	snprintf(name, sizeof(name), "m%d", j->n);
	snprintf(target, sizeof(target), "/inbox?to=%s", name);
	for (i = 0; i < MEM_ATTEMPTS; i++) {
		j->status = client_request(j->port, "POST", target, name, "pw",
		    NULL, body, MEM_BODY, &r);
		if (j->status != 204) {
			if (j->status != -1) {
				error_code(&r, j->code, sizeof(j->code));
				j->retry = retry_after(&r);
				response_free(&r);
			}
			break;
		}
		response_free(&r);
		j->sent++;
	}
	free(body);
	return NULL;
}

/* Pop inbox m<n> empty; every message is MEM_BODY bytes of 'A' + n. */
static int
drain(struct inboxd *d, int n)
{
	struct response r;
	char name[16], from[16];
	int popped = 0;
	size_t i;

	snprintf(name, sizeof(name), "m%d", n);
	snprintf(from, sizeof(from), "m%d", n);
	while (get(d, name, "pw", "/inbox?wait=0", &r) == 200) {
		ck_assert_uint_eq(r.body_len, MEM_BODY);
		for (i = 0; i < r.body_len; i++)
			if (r.body[i] != 'A' + n)
				break;
		ck_assert_msg(i == r.body_len, "%s: byte %zu of message %d is "
		    "wrong", name, i, popped);
		ck_assert_str_eq(response_header(&r, "X-From"), from);
		response_free(&r);
		popped++;
	}
	ck_assert_msg(r.status == 204, "%s: pop ended with %d", name,
	    r.status);
	response_free(&r);
	return popped;
}

START_TEST(test_message_flood_stops_at_max_memory_and_rss_stays_bounded)
{
	struct mem_job jobs[MEM_INBOXES];
	pthread_t tid[MEM_INBOXES];
	struct inboxd d;
	struct response r;
	long idle, full, refilled;
	char *body;
	int i, sent = 0, popped = 0, again = 0, status;

	start(&d, "max-memory 8M\nmax-messages 1000\nmax-inbox-bytes 8M\n");
	for (i = 0; i < MEM_INBOXES; i++) {
		char name[16];

		snprintf(name, sizeof(name), "m%d", i);
		contact(&d, name, "pw");
	}
	idle = inboxd_rss_kib(&d);
	ck_assert_msg(idle > 0, "cannot read VmRSS of pid %ld",
	    (long)d.pid);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < MEM_INBOXES; i++) {
		jobs[i].port = d.port;
		jobs[i].n = i;
		ck_assert_int_eq(pthread_create(&tid[i], NULL, mem_thread,
		    &jobs[i]), 0);
	}
	for (i = 0; i < MEM_INBOXES; i++)
		pthread_join(tid[i], NULL);
	full = inboxd_rss_kib(&d);
	for (i = 0; i < MEM_INBOXES; i++) {
		ck_assert_msg(jobs[i].status == 503 &&
		    strcmp(jobs[i].code, "server_full") == 0 &&
		    jobs[i].retry >= 1,
		    "m%d: the flood ended after %d sends with status %d, %s, "
		    "Retry-After %ld; expected 503 server_full with "
		    "Retry-After", i, jobs[i].sent, jobs[i].status, jobs[i].code,
		    jobs[i].retry);
		sent += jobs[i].sent;
	}
	printf("max-memory flood: %d messages of %d bytes queued (%ld KiB); "
	    "VmRSS idle %ld KiB, full %ld KiB, growth %ld KiB "
	    "(bound: max-memory %ld KiB + %ld KiB)\n", sent, MEM_BODY,
	    (long)sent * MEM_BODY / KIB, idle, full, full - idle,
	    MEM_MAX / KIB, MEM_SLACK / KIB);
	ck_assert_msg((long)sent * MEM_BODY <= MEM_MAX,
	    "%d messages of %d bytes queued past max-memory", sent, MEM_BODY);
	ck_assert_msg(sent >= MEM_MIN_FIT, "only %d messages of %d bytes "
	    "fitted in max-memory 8M", sent, MEM_BODY);
#if !SANITIZED
	/* Under AddressSanitizer, redzones and its quarantine add their own. */
	ck_assert_msg(full - idle < (MEM_MAX + MEM_SLACK) / KIB,
	    "VmRSS grew by %ld KiB, past max-memory + %ld KiB", full - idle,
	    MEM_SLACK / KIB);
#endif
	/* Pop everything: each message whole, none lost, none extra. */
	for (i = 0; i < MEM_INBOXES; i++)
		popped += drain(&d, i);
	ck_assert_int_eq(popped, sent);
	/* The memory is free again: one inbox takes as much as all four. */
	body = malloc(MEM_BODY);
	ck_assert_ptr_nonnull(body);
	memset(body, 'A', MEM_BODY);
	while ((status = send_to(&d, "m0", "pw", "m0", NULL, body, MEM_BODY,
	    &r)) == 204 && again < MEM_ATTEMPTS) {
		response_free(&r);
		again++;
	}
	ck_assert_msg(again >= MEM_MIN_FIT, "after popping everything only %d "
	    "sends succeeded", again);
	assert_error(&r, 503, "server_full");
	response_free(&r);
	free(body);
	refilled = inboxd_rss_kib(&d);
	printf("max-memory refill: %d messages queued again; VmRSS %ld KiB, "
	    "growth over idle %ld KiB\n", again, refilled, refilled - idle);
#if !SANITIZED
	ck_assert_msg(refilled - idle < (MEM_MAX + MEM_SLACK) / KIB,
	    "VmRSS grew by %ld KiB after the refill", refilled - idle);
#endif
	ck_assert_int_eq(drain(&d, 0), again);
	stop(&d);
}
END_TEST

/* ---------------------------------------------------- slow clients */

START_TEST(test_slow_clients_are_cut_after_connection_timeout_held_gets_are_not)
{
	static const char half_line[] = "GET /inbox?wa";
	struct inboxd d;
	struct response r;
	char body[10];
	size_t len;
	char *text;
	long t0, t_line = -1, t_body = -1, t_held, n;
	int held, line, post;

	start(&d, "connection-timeout 1\n");
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	/* A GET held for 3 s, longer than connection-timeout. */
	held = client_send(d.port, "GET", "/inbox?wait=3", "alice", "pw", NULL,
	    NULL, 0);
	ck_assert_int_ne(held, -1);
	t0 = client_now_ms();
	/* Half a request line, then nothing. */
	line = client_connect(d.port);
	ck_assert_int_ne(line, -1);
	ck_assert_int_eq(client_write(line, half_line, strlen(half_line)), 0);
	/* A POST's headers with Content-Length: 100, then 10 body bytes. */
	text = client_build("POST", "/inbox?to=alice", "bob", "pw",
	    "Content-Length: 100\r\n", NULL, 0, &len);
	post = client_connect(d.port);
	ck_assert_int_ne(post, -1);
	ck_assert_int_eq(client_write(post, text, len), 0);
	free(text);
	memset(body, 'x', sizeof(body));
	ck_assert_int_eq(client_write(post, body, sizeof(body)), 0);
	/* Both are closed within about 3 s. */
	n = client_wait_close(line, 3500, NULL, 0);
	if (n != -1)
		t_line = client_now_ms() - t0;
	close(line);
	n = client_wait_close(post, (int)(t0 + 3500 - client_now_ms()), NULL,
	    0);
	if (n != -1)
		t_body = client_now_ms() - t0;
	close(post);
	printf("connection-timeout 1: half request line cut after %ld ms, "
	    "half body cut after %ld ms\n", t_line, t_body);
	ck_assert_msg(t_line != -1, "a half request line was not cut off "
	    "within 3.5 s");
	ck_assert_msg(t_body != -1, "a POST with 10 of 100 body bytes was not "
	    "cut off within 3.5 s");
	/* The held GET outlives connection-timeout and gets its 204. */
	ck_assert_msg(client_read(held, &r, 4000) == 0,
	    "the held GET got no answer (cut by connection-timeout?)");
	t_held = client_now_ms() - t0;
	close(held);
	printf("connection-timeout 1: held GET (wait=3) answered %d after "
	    "%ld ms\n", r.status, t_held);
	ck_assert_int_eq(r.status, 204);
	ck_assert_msg(t_held >= 2500 && t_held <= 4500,
	    "the held GET was answered after %ld ms, expected about 3000",
	    t_held);
	response_free(&r);
	/* The cut POST queued nothing. */
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST


/*
 * connection-timeout bounds a request's head and body in total: bytes
 * trickling in faster than the idle timeout do not keep it open
 * (slowloris).  A head sent a byte every 200 ms and a body likewise are
 * cut about connection-timeout after the connection opened; the request
 * whose head and body came at once is served.
 */
START_TEST(test_trickling_requests_are_cut_after_connection_timeout)
{
	enum { N = 40 };
	static const char head[] = "GET /inbox?wait=0 HTTP/1.1\r\nHost: x\r\n"
	    "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
	struct inboxd d;
	int fd[N], i, open_n;
	size_t at = 0;
	long t0, cut = -1;
	char *text;
	size_t len;

	start(&d, "connection-timeout 1\n");
	contact(&d, "alice", "pw");
	t0 = client_now_ms();
	for (i = 0; i < N; i++) {
		fd[i] = client_connect(d.port);
		ck_assert_int_ne(fd[i], -1);
		if (i % 2) { /* a POST whose body trickles */
			text = client_build("POST", "/inbox?to=alice", "alice",
			    "pw", "Content-Length: 1000\r\n", NULL, 0, &len);
			ck_assert_int_eq(client_write(fd[i], text, len), 0);
			free(text);
		}
	}
	/* A byte each every 200 ms, for up to 3 s. */
	for (open_n = N; open_n > 0 && client_now_ms() - t0 < 3000; ) {
		open_n = 0;
		for (i = 0; i < N; i++) {
			if (fd[i] == -1)
				continue;
			if (client_write(fd[i], i % 2 ? "x" : head + at % (
			    sizeof(head) - 1), 1) == -1 ||
			    client_wait_close(fd[i], 0, NULL, 0) != -1) {
				close(fd[i]);
				fd[i] = -1;
				continue;
			}
			open_n++;
		}
		at++;
		if (open_n == 0)
			cut = client_now_ms() - t0;
		else
			sleep_ms(200);
	}
	for (i = 0; i < N; i++)
		if (fd[i] != -1)
			close(fd[i]);
	printf("connection-timeout 1: %d requests trickling a byte every "
	    "200 ms all cut after %ld ms\n", N, cut);
	ck_assert_msg(open_n == 0, "%d of %d trickling requests still open "
	    "after 3 s", open_n, N);
	ck_assert_msg(cut >= 900 && cut <= 2000, "cut after %ld ms, "
	    "expected about 1000", cut);
	ck_assert_int_eq(metric(&d, "inboxd_request_timeouts_total"), N);
	/* Nothing half-sent was queued; a whole request is served. */
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

/*
 * Past connection-limit a connection is closed as soon as it is accepted,
 * not left in the listen backlog; once connections close, new ones are
 * served again.
 */
START_TEST(test_connections_past_connection_limit_are_closed_at_once)
{
	enum { LIMIT = 10 };
	struct inboxd d;
	int fd[LIMIT], extra, i;
	long t0, n;

	start(&d, "connection-limit 10\nper-ip-connection-limit 0\n");
	contact(&d, "alice", "pw");
	for (i = 0; i < LIMIT; i++) {
		fd[i] = client_connect(d.port);
		ck_assert_int_ne(fd[i], -1);
	}
	/* The daemon counts them once it has accepted them all (a loaded
	 * machine may take a while to). */
	for (t0 = client_now_ms(); client_now_ms() - t0 < 8000; sleep_ms(20)) {
		extra = client_connect(d.port);
		ck_assert_int_ne(extra, -1);
		n = client_wait_close(extra, 500, NULL, 0);
		close(extra);
		if (n != -1)
			break;
	}
	ck_assert_msg(n != -1, "a connection past connection-limit 10 was "
	    "not closed");
	t0 = client_now_ms();
	extra = client_connect(d.port);
	ck_assert_int_ne(extra, -1);
	n = client_wait_close(extra, 1000, NULL, 0);
	close(extra);
	printf("connection-limit 10: the 11th connection closed after %ld "
	    "ms\n", client_now_ms() - t0);
	ck_assert_msg(n != -1, "the 11th connection was not closed at once");
	for (i = 0; i < LIMIT; i++)
		close(fd[i]);
	/* Served again once the others closed. */
	for (t0 = client_now_ms(); client_now_ms() - t0 < 2000; sleep_ms(20))
		if (get(&d, "alice", "pw", "/inbox?wait=0", NULL) == 204)
			break;
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 204);
	ck_assert_int_ge(metric(&d, "inboxd_connections_refused_total"), 2);
	stop(&d);
}
END_TEST

/* ------------------------------------------------------ 429 throttle */

START_TEST(test_wrong_passwords_past_the_limit_are_429_per_address)
{
	struct inboxd d;
	struct response r;
	int i;

	start(&d, "");
	contact(&d, "alice", "right");
	for (i = 0; i < 40; i++) {
		ck_assert_int_ne(get(&d, "alice", "wrong", "/inbox?wait=0", &r),
		    -1);
		if (i < 20)
			ck_assert_msg(r.status == 401,
			    "wrong password %d got %d, expected 401", i + 1,
			    r.status);
		else
			assert_throttled(&r);
		response_free(&r);
	}
	/* Every /inbox request from this address, right password too. */
	ck_assert_int_eq(get(&d, "alice", "right", "/inbox?wait=0", &r), 429);
	assert_throttled(&r);
	response_free(&r);
	ck_assert_int_eq(send_to(&d, "alice", "right", "alice", NULL, "x", 1,
	    &r), 429);
	assert_throttled(&r);
	response_free(&r);
	/* A preflight is not throttled. */
	ck_assert_int_eq(req(&d, "OPTIONS", "/inbox", NULL, NULL, NULL, NULL,
	    0, NULL), 204);
	/* Another address still works, and has its own count. */
	ck_assert_int_eq(req_from(&d, OTHER, "GET", "/inbox?wait=0", "alice",
	    "right", NULL, NULL, 0, NULL), 204);
	ck_assert_int_eq(req_from(&d, OTHER, "POST", "/inbox?to=alice",
	    "alice", "right", NULL, "y", 1, NULL), 204);
	ck_assert_int_eq(req_from(&d, OTHER, "GET", "/inbox?wait=0", "alice",
	    "wrong", NULL, NULL, 0, NULL), 401);
	ck_assert_int_eq(req_from(&d, OTHER, "GET", "/inbox?wait=0", "alice",
	    "right", NULL, NULL, 0, &r), 200);
	ck_assert_uint_eq(r.body_len, 1);
	ck_assert_int_eq(r.body[0], 'y');
	response_free(&r);
	stop(&d);
}
END_TEST

/* --------------------------------------------- per-ip-connection-limit */

#define PER_IP 5

/* Connect from src and get a preflight answered on it; the socket is
 * left open (keep-alive).  Returns the socket, or -1 if not served. */
static int
served_connection(unsigned port, const char *src, int timeout_ms)
{
	struct response r;
	int fd = client_connect_from(port, src), status;

	if (fd == -1)
		return -1;
	status = exchange(fd, "OPTIONS", "/inbox", NULL, NULL, NULL, &r,
	    timeout_ms);
	response_free(&r);
	if (status != 204) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A connection from src is accepted by the kernel, then closed by the
 * daemon without a response within 2 s. */
static void
assert_refused(unsigned port, const char *src, const char *what)
{
	char got[256];
	long t0, n;
	size_t len;
	char *text;
	int fd = client_connect_from(port, src);

	ck_assert_int_ne(fd, -1);
	t0 = client_now_ms();
	text = client_build("OPTIONS", "/inbox", NULL, NULL, NULL, NULL, 0,
	    &len);
	(void)client_write(fd, text, len); /* may fail: closed already */
	free(text);
	n = client_wait_close(fd, 2000, got, sizeof(got));
	close(fd);
	ck_assert_msg(n != -1, "%s: still open after 2 s; it received: %s",
	    what, got[0] ? got : "nothing");
	ck_assert_msg(n == 0, "%s: got a response: %s", what, got);
	printf("per-ip-connection-limit %d: %s closed after %ld ms\n", PER_IP,
	    what, client_now_ms() - t0);
}

START_TEST(test_connections_past_per_ip_limit_are_closed_at_once)
{
	struct inboxd d;
	int fd[PER_IP], other, i;
	long deadline;

	start(&d, "per-ip-connection-limit 5\n");
	/* Five connections from 127.0.0.1, each served and kept open. */
	for (i = 0; i < PER_IP; i++) {
		fd[i] = served_connection(d.port, "127.0.0.1", 3000);
		ck_assert_msg(fd[i] != -1, "connection %d was not served",
		    i + 1);
	}
	assert_refused(d.port, "127.0.0.1", "the 6th connection");
	/* Another address is counted on its own. */
	other = served_connection(d.port, OTHER, 3000);
	ck_assert_msg(other != -1, "a connection from %s was not served",
	    OTHER);
	/* The five are still served on their connections. */
	for (i = 0; i < PER_IP; i++) {
		struct response r;

		ck_assert_int_eq(exchange(fd[i], "OPTIONS", "/inbox", NULL,
		    NULL, NULL, &r, 3000), 204);
		response_free(&r);
	}
	/* Close one: the daemon sees it asynchronously, so poll. */
	close(fd[0]);
	deadline = client_now_ms() + 3000;
	while ((fd[0] = served_connection(d.port, "127.0.0.1", 1000)) == -1 &&
	    client_now_ms() < deadline)
		sleep_ms(20);
	ck_assert_msg(fd[0] != -1, "no new connection from 127.0.0.1 was "
	    "served within 3 s of closing one of the five");
	/* Five again: the next one is refused again. */
	assert_refused(d.port, "127.0.0.1", "the 6th connection, again");
	for (i = 0; i < PER_IP; i++)
		close(fd[i]);
	close(other);
	stop(&d);
}
END_TEST

/* ---------------------------------------------------- trusted proxies */

/* n wrong passwords for alice with X-Forwarded-For xff, each a 401. */
static void
fail_n(struct inboxd *d, const char *src, const char *xff, int n)
{
	char extra[128];
	int i, status;

	snprintf(extra, sizeof(extra), "X-Forwarded-For: %s\r\n", xff);
	for (i = 0; i < n; i++) {
		status = req_from(d, src, "GET", "/inbox?wait=0", "alice",
		    "wrong", extra, NULL, 0, NULL);
		ck_assert_msg(status == 401, "wrong password %d from %s "
		    "(X-Forwarded-For: %s) got %d, expected 401", i + 1, src,
		    xff, status);
	}
}

/* GET alice's inbox from src with X-Forwarded-For xff; the status. */
static int
get_xff(struct inboxd *d, const char *src, const char *xff,
    const char *password, struct response *r)
{
	char extra[128];

	snprintf(extra, sizeof(extra), "X-Forwarded-For: %s\r\n", xff);
	return req_from(d, src, "GET", "/inbox?wait=0", "alice", password,
	    extra, NULL, 0, r);
}

/* A first contact by user from src with X-Forwarded-For xff is logged
 * with client `expect'. */
static void
assert_logged(struct inboxd *d, const char *src, const char *xff,
    const char *user, const char *expect)
{
	char extra[128], client[64];

	snprintf(extra, sizeof(extra), "X-Forwarded-For: %s\r\n", xff);
	ck_assert_int_eq(req_from(d, src, "GET", "/inbox?wait=0", user, "pw",
	    extra, NULL, 0, NULL), 204);
	logged_client(d, user, client);
	ck_assert_msg(strcmp(client, expect) == 0, "request from %s with "
	    "X-Forwarded-For: %s logged as client %s, expected %s", src, xff,
	    client, expect);
}

START_TEST(test_trusted_proxy_forwarded_client_is_logged_and_throttled)
{
	struct inboxd d;
	struct response r;

	start(&d, "trusted-proxies 127.0.0.1\n");
	contact(&d, "alice", "right");
	assert_logged(&d, "127.0.0.1", "203.0.113.7, 127.0.0.1", "viaproxy",
	    "203.0.113.7");
	/* The failures count against 203.0.113.7, not the proxy. */
	fail_n(&d, "127.0.0.1", "203.0.113.7", 20);
	ck_assert_int_eq(get_xff(&d, "127.0.0.1", "203.0.113.7", "right", &r),
	    429);
	assert_throttled(&r);
	response_free(&r);
	ck_assert_int_eq(get_xff(&d, "127.0.0.1", "203.0.113.7, 127.0.0.1",
	    "right", &r), 429);
	response_free(&r);
	ck_assert_int_eq(get_xff(&d, "127.0.0.1", "203.0.113.8", "right",
	    NULL), 204);
	/* The proxy itself, without the header, is its own client. */
	ck_assert_int_eq(get(&d, "alice", "right", "/inbox?wait=0", NULL),
	    204);
	stop(&d);
}
END_TEST

START_TEST(test_forwarded_for_is_ignored_without_trusted_proxies)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	contact(&d, "alice", "right");
	assert_logged(&d, "127.0.0.1", "203.0.113.7", "noproxy",
	    "127.0.0.1");
	/* The failures count against the socket peer, whatever it claims. */
	fail_n(&d, "127.0.0.1", "203.0.113.7", 20);
	ck_assert_int_eq(get_xff(&d, "127.0.0.1", "203.0.113.8", "right", &r),
	    429);
	assert_throttled(&r);
	response_free(&r);
	ck_assert_int_eq(req_from(&d, OTHER, "GET", "/inbox?wait=0", "alice",
	    "right", NULL, NULL, 0, NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_forwarded_for_from_an_untrusted_peer_is_ignored)
{
	struct inboxd d;
	struct response r;

	start(&d, "trusted-proxies 127.0.0.1\n");
	contact(&d, "alice", "right");
	assert_logged(&d, OTHER, "203.0.113.7", "untrusted", OTHER);
	assert_logged(&d, "127.0.0.1", "203.0.113.9", "trusted",
	    "203.0.113.9");
	/* 127.0.0.2 is throttled as itself, whatever it forwards. */
	fail_n(&d, OTHER, "203.0.113.7", 20);
	ck_assert_int_eq(get_xff(&d, OTHER, "203.0.113.9", "right", &r), 429);
	assert_throttled(&r);
	response_free(&r);
	/* And 203.0.113.7 behind the trusted proxy was never blamed. */
	ck_assert_int_eq(get_xff(&d, "127.0.0.1", "203.0.113.7", "right",
	    NULL), 204);
	stop(&d);
}
END_TEST

START_TEST(test_trusted_proxies_take_ipv6_and_cidr_ranges)
{
	struct inboxd d;

	start(&d, "trusted-proxies 127.0.0.1 ::1/128 10.0.0.0/8\n");
	contact(&d, "alice", "right");
	/* The rightmost address that is not itself a trusted proxy. */
	assert_logged(&d, "127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.2.3",
	    "chain", "203.0.113.7");
	assert_logged(&d, "127.0.0.1", "2001:db8::7, ::1", "v6client",
	    "2001:db8::7");
	/* 127.0.0.2 is not in any of the ranges. */
	assert_logged(&d, OTHER, "203.0.113.7", "notinrange", OTHER);
	stop(&d);
}
END_TEST

/* ---------------------------------------------------------------- TLS */

struct tls_dir {
	char dir[64];
	char cert[128];
	char key[128];
	char out[128]; /* openssl's output */
};

/* Remove what make_certificate made. */
static void
tls_dir_cleanup(struct tls_dir *t)
{
	if (t->dir[0] == '\0')
		return;
	unlink(t->cert);
	unlink(t->key);
	unlink(t->out);
	rmdir(t->dir);
	t->dir[0] = '\0';
}

/*
 * A self-signed P-256 certificate for 127.0.0.1, made with openssl(1)
 * into a fresh temporary directory.
 */
static void
make_certificate(struct tls_dir *t)
{
	int status, fd;
	pid_t pid;

	strcpy(t->dir, "/tmp/inboxd-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->cert, sizeof(t->cert), "%s/cert.pem", t->dir);
	snprintf(t->key, sizeof(t->key), "%s/key.pem", t->dir);
	snprintf(t->out, sizeof(t->out), "%s/openssl.out", t->dir);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execlp("openssl", "openssl", "req", "-x509", "-newkey", "ec",
		    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days",
		    "1", "-subj", "/CN=localhost", "-addext",
		    "subjectAltName=IP:127.0.0.1", "-keyout", t->key, "-out",
		    t->cert, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		tls_dir_cleanup(t);
		ck_abort_msg("openssl(1) is not installed: the TLS test makes "
		    "its certificate with it (Debian package: openssl)");
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "openssl req failed; see %s", t->out);
}

struct tls_conn {
	int fd;
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
	char buf[MEM_BODY + 16384]; /* received, not yet consumed */
	size_t len;
};

/* True when the server's certificate is byte for byte the one in path. */
static int
peer_is_certificate(gnutls_session_t s, const char *path)
{
	const gnutls_datum_t *peers;
	gnutls_datum_t pem, der;
	unsigned n = 0;
	size_t len;
	int same;

	peers = gnutls_certificate_get_peers(s, &n);
	if (peers == NULL || n == 0)
		return 0;
	if ((pem.data = (unsigned char *)read_file(path, &len)) == NULL)
		return 0;
	pem.size = (unsigned)len;
	if (gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der) < 0) {
		free(pem.data);
		return 0;
	}
	same = der.size == peers[0].size &&
	    memcmp(der.data, peers[0].data, der.size) == 0;
	gnutls_free(der.data);
	free(pem.data);
	return same;
}

/*
 * Connect to 127.0.0.1:port over TLS, trusting only the certificate in
 * ca and checking it is issued for the IP address 127.0.0.1.
 */
static void
tls_open(struct tls_conn *c, unsigned port, const char *ca)
{
	gnutls_datum_t why;
	unsigned verify;
	int ret;

	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(gnutls_certificate_allocate_credentials(&c->cred),
	    GNUTLS_E_SUCCESS);
	ret = gnutls_certificate_set_x509_trust_file(c->cred, ca,
	    GNUTLS_X509_FMT_PEM);
	ck_assert_msg(ret == 1, "%s: %d certificates loaded (%s)", ca, ret,
	    ret < 0 ? gnutls_strerror(ret) : "expected 1");
	ck_assert_int_eq(gnutls_init(&c->s, GNUTLS_CLIENT), GNUTLS_E_SUCCESS);
	ck_assert_int_eq(gnutls_set_default_priority(c->s), GNUTLS_E_SUCCESS);
	ck_assert_int_eq(gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE,
	    c->cred), GNUTLS_E_SUCCESS);
	/* An IP address: checked against the IP subjectAltName. */
	gnutls_session_set_verify_cert(c->s, "127.0.0.1", 0);
	c->fd = client_connect(port);
	ck_assert_int_ne(c->fd, -1);
	gnutls_transport_set_int(c->s, c->fd);
	gnutls_handshake_set_timeout(c->s, 5000);
	do
		ret = gnutls_handshake(c->s);
	while (ret < 0 && gnutls_error_is_fatal(ret) == 0);
	if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		verify = gnutls_session_get_verify_cert_status(c->s);
		gnutls_certificate_verification_status_print(verify,
		    GNUTLS_CRT_X509, &why, 0);
		ck_abort_msg("the server certificate did not verify: %s",
		    why.data);
	}
	ck_assert_msg(ret == 0, "TLS handshake failed: %s",
	    gnutls_strerror(ret));
	ck_assert_msg(peer_is_certificate(c->s, ca),
	    "the server did not present the certificate of %s", ca);
	gnutls_record_set_timeout(c->s, 5000);
}

static void
tls_close(struct tls_conn *c)
{
	gnutls_bye(c->s, GNUTLS_SHUT_WR);
	close(c->fd);
	gnutls_deinit(c->s);
	gnutls_certificate_free_credentials(c->cred);
}

/* Receive more bytes into c->buf; fails on an error or a close. */
static void
tls_more(struct tls_conn *c)
{
	ssize_t n;

	ck_assert_msg(c->len < sizeof(c->buf), "TLS response too large");
	do
		n = gnutls_record_recv(c->s, c->buf + c->len,
		    sizeof(c->buf) - c->len);
	while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	ck_assert_msg(n > 0, "TLS receive: %s", n == 0 ? "closed" :
	    gnutls_strerror((int)n));
	c->len += (size_t)n;
}

/* One request over c (kept alive), its response into *r. */
static int
tls_request(struct tls_conn *c, const char *method, const char *target,
    const char *user, const char *password, const void *body, size_t blen,
    struct response *r)
{
	size_t len, off = 0, hlen, want = 0;
	char *text = client_build(method, target, user, password, NULL, body,
	    blen, &len), *end;
	const char *cl;
	ssize_t n;

	ck_assert_ptr_nonnull(text);
	while (off < len) {
		n = gnutls_record_send(c->s, text + off, len - off);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		ck_assert_msg(n > 0, "TLS send: %s", gnutls_strerror((int)n));
		off += (size_t)n;
	}
	free(text);
	memset(r, 0, sizeof(*r));
	while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
		tls_more(c);
	hlen = (size_t)(end - c->buf) + 4;
	ck_assert_uint_lt(hlen, sizeof(r->head));
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = '\0';
	ck_assert_msg(sscanf(r->head, "HTTP/1.%*d %d", &r->status) == 1,
	    "malformed TLS response: %s", r->head);
	if ((cl = response_header(r, "Content-Length")) != NULL)
		want = strtoul(cl, NULL, 10);
	if (r->status == 204 || r->status == 304)
		want = 0;
	while (c->len < hlen + want)
		tls_more(c);
	r->body = malloc(want + 1);
	ck_assert_ptr_nonnull(r->body);
	memcpy(r->body, c->buf + hlen, want);
	r->body[want] = '\0';
	r->body_len = want;
	memmove(c->buf, c->buf + hlen + want, c->len - hlen - want);
	c->len -= hlen + want;
	return r->status;
}

START_TEST(test_https_send_and_pop_with_a_generated_certificate)
{
	static const char msg[] = "v=0 over TLS";
	struct tls_dir t;
	struct tls_conn c;
	struct inboxd d;
	struct response r;
	char conf[512], got[512];
	int fd;
	long n;

	memset(&t, 0, sizeof(t));
	make_certificate(&t);
	snprintf(conf, sizeof(conf), "tls-cert %s\ntls-key %s\n"
	    "connection-timeout 2\n", t.cert, t.key);
	start(&d, conf);
	/* Plain HTTP on the TLS port gets no 2xx, and is closed. */
	fd = client_send(d.port, "GET", "/inbox?wait=0", "alice", "pw", NULL,
	    NULL, 0);
	ck_assert_int_ne(fd, -1);
	n = client_wait_close(fd, 5000, got, sizeof(got));
	close(fd);
	printf("plain HTTP on the TLS port: %ld bytes back before the close "
	    "(-1: not closed)\n", n);
	ck_assert_msg(!(n > 9 && strncmp(got, "HTTP/1.", 7) == 0 &&
	    got[9] == '2'), "plain HTTP on the TLS port got: %s", got);
	ck_assert_msg(n != -1, "plain HTTP on the TLS port: still open "
	    "after 5 s");
	/* Over TLS: first contact, send, pop, on one kept-alive connection. */
	tls_open(&c, d.port, t.cert);
	ck_assert_int_eq(tls_request(&c, "GET", "/inbox?wait=0", "alice",
	    "pw", NULL, 0, &r), 204);
	response_free(&r);
	ck_assert_int_eq(tls_request(&c, "POST", "/inbox?to=alice", "bob",
	    "pw", msg, strlen(msg), &r), 204);
	response_free(&r);
	ck_assert_int_eq(tls_request(&c, "GET", "/inbox?wait=0", "alice",
	    "pw", NULL, 0, &r), 200);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	ck_assert_uint_eq(r.body_len, strlen(msg));
	ck_assert(memcmp(r.body, msg, r.body_len) == 0);
	response_free(&r);
	tls_close(&c);
	/* A second connection: the inbox is empty now. */
	tls_open(&c, d.port, t.cert);
	ck_assert_int_eq(tls_request(&c, "GET", "/inbox?wait=0", "alice",
	    "pw", NULL, 0, &r), 204);
	response_free(&r);
	tls_close(&c);
	stop(&d);
	tls_dir_cleanup(&t);
}
END_TEST

/* --------------------------------------------------------------- suite */

static Suite *
limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc;

	tc = tcase(s, "flood", 30);
	tcase_add_test(tc,
	    test_first_contact_flood_past_max_inboxes_is_503_and_spares_existing);
	tcase_add_test(tc,
	    test_message_flood_stops_at_max_memory_and_rss_stays_bounded);

	tc = tcase(s, "slow_clients", 15);
	tcase_add_test(tc,
	    test_slow_clients_are_cut_after_connection_timeout_held_gets_are_not);
	tcase_add_test(tc,
	    test_trickling_requests_are_cut_after_connection_timeout);
	tcase_add_test(tc,
	    test_connections_past_connection_limit_are_closed_at_once);

	tc = tcase(s, "throttle", 15);
	tcase_add_test(tc, test_wrong_passwords_past_the_limit_are_429_per_address);

	tc = tcase(s, "connection_limit", 15);
	tcase_add_test(tc, test_connections_past_per_ip_limit_are_closed_at_once);

	tc = tcase(s, "trusted_proxies", 15);
	tcase_add_test(tc,
	    test_trusted_proxy_forwarded_client_is_logged_and_throttled);
	tcase_add_test(tc, test_forwarded_for_is_ignored_without_trusted_proxies);
	tcase_add_test(tc, test_forwarded_for_from_an_untrusted_peer_is_ignored);
	tcase_add_test(tc, test_trusted_proxies_take_ipv6_and_cidr_ranges);

	tc = tcase(s, "tls", 15);
	tcase_add_test(tc, test_https_send_and_pop_with_a_generated_certificate);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(limits_suite());
}
