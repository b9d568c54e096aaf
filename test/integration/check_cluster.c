/*
 * check_cluster.c - cluster mode (SPEC section 8) with the real parts:
 * a private redis-server and two inboxd nodes on it (test/client.c,
 * cluster_start), and nginx in front of them with the shipped
 * etc/nginx/inboxd-cluster.conf.
 *
 * The faults: kill -9 of a node holding in-flight messages and held GETs
 * (every message then popped exactly once through the other node: the
 * lost and duplicated counts are printed and must be 0), and a slow
 * client on a live node, which must not cause a second copy; an inbox
 * that expires and is made again on the other node (the old password
 * refused on both, the same password taken on both); Redis killed and
 * restarted under traffic (503 store_unavailable with Retry-After, held
 * GETs answered, /healthz 503, then service again without restarting
 * the nodes), and with an append-only file, queued messages that outlive
 * the restart.  Then security across nodes (racing first contacts,
 * failures spread over the nodes), what a request costs Redis (INFO
 * commandstats, and MONITOR for each script), wake-ups, displacement,
 * PINs and rooms across nodes, and nginx in front of both nodes, one of
 * which dies.
 *
 * Every node runs with Argon2 down to 64 KiB and one pass.  Waits are
 * bounded, and a wait for the daemon polls for the condition (/metrics,
 * /healthz) with a deadline, except where a test waits out a lease or an
 * expiry the configuration sets.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"
#include "harness.h"
#include "redis_slot.h"

#define A 0 /* the node index of node-1 */
#define B 1 /* and of node-2 */

/* The lease of the fault tests: short, and twice the heartbeat period
 * (SPEC section 8: renewed every second). */
#define LEASE_S 2
#define LEASE_CONF "lease-timeout 2\n"

/* Bodies a loopback socket with a 4 KiB window cannot take whole (the
 * send buffer tops out at 4 MiB here: net.ipv4.tcp_wmem). */
#define BIG_LEN ((size_t)8 * MIB)
#define BIG_CONF \
	"max-message-size 8M\nmax-inbox-bytes 32M\nmax-memory 256M\n"

#define OTHER "127.0.0.2" /* a second client address */

/* ------------------------------------------------------------ helpers */

static unsigned
port_of(struct inboxd *d, int node)
{
	return d->cluster->node[node].port;
}

/* One request to one node: the status, or -1. */
static int
at(struct inboxd *d, int node, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t len, struct response *r)
{
	return client_request(port_of(d, node), method, target, user, password,
	    extra, body, len, r);
}

static int
at_get(struct inboxd *d, int node, const char *user, const char *password,
    const char *target, struct response *r)
{
	return at(d, node, "GET", target, user, password, NULL, NULL, 0, r);
}

static int
at_send(struct inboxd *d, int node, const char *from, const char *to,
    const void *body, size_t len, struct response *r)
{
	char target[300];

	snprintf(target, sizeof(target), "/inbox?to=%s", to);
	return at(d, node, "POST", target, from, "pw", NULL, body, len, r);
}

/* A first contact on node, or the node's first request of a name that
 * another node made: 204 on an empty inbox. */
static void
at_contact(struct inboxd *d, int node, const char *user, const char *password)
{
	struct response r;
	int status = at_get(d, node, user, password, "/inbox?wait=0", &r);

	ck_assert_msg(status == 204, "GET /inbox?wait=0 as %s on node-%d: "
	    "%d\n%s%s", user, node + 1, status, r.head, r.body ? r.body : "");
	response_free(&r);
}

/* Poll one node's /metrics until series is value, for timeout_ms. */
static void
wait_node_metric(struct inboxd *d, int node, const char *series,
    long long value, int timeout_ms)
{
	long deadline = client_now_ms() + timeout_ms;
	long long v;

	while ((v = node_metric_from(port_of(d, node), NULL, series)) !=
	    value && client_now_ms() < deadline)
		sleep_ms(5);
	ck_assert_msg(v == value, "%s of node-%d is %lld after %d ms, "
	    "expected %lld", series, node + 1, v, timeout_ms, value);
}

/* A GET with wait on node, once the cluster's inboxd_waiters is
 * waiters. */
static int
at_hold(struct inboxd *d, int node, const char *user, int wait,
    long long waiters)
{
	char target[64];
	int fd;

	snprintf(target, sizeof(target), "/inbox?wait=%d", wait);
	fd = client_send(port_of(d, node), "GET", target, user, "pw", NULL,
	    NULL, 0);
	ck_assert_int_ne(fd, -1);
	wait_metric(d, "inboxd_waiters", waiters, 5000);
	return fd;
}

/* Read the answer of a held GET within timeout_ms: its status. */
static int
answer(int fd, int timeout_ms, struct response *r)
{
	int status = client_read(fd, r, timeout_ms) == 0 ? r->status : -1;

	close(fd);
	return status;
}

/* The /healthz status of node (-1: no answer). */
static int
health(struct inboxd *d, int node)
{
	return at(d, node, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, NULL);
}

/* Poll node's /healthz until it answers status, for timeout_ms; returns
 * the milliseconds it took. */
static long
wait_health(struct inboxd *d, int node, int status, int timeout_ms)
{
	long t0 = client_now_ms(), deadline = t0 + timeout_ms;
	int got;

	while ((got = health(d, node)) != status &&
	    client_now_ms() < deadline)
		sleep_ms(20);
	ck_assert_msg(got == status, "/healthz of node-%d is %d after %d ms, "
	    "expected %d", node + 1, got, timeout_ms, status);
	return client_now_ms() - t0;
}

/* The node still runs as the same process: not restarted, not dead. */
static void
assert_alive(struct inboxd *d, int node, pid_t pid)
{
	struct inboxd *n = &d->cluster->node[node];

	ck_assert_msg(n->pid == pid && pid > 0 &&
	    waitpid(pid, NULL, WNOHANG) == 0, "node-%d (pid %ld) is gone; "
	    "see %s", node + 1, (long)pid, n->log);
}

/* r is 503 store_unavailable with a JSON body and a Retry-After. */
static void
assert_unavailable(const struct response *r, const char *what)
{
	ck_assert_msg(r->status == 503, "%s with Redis down: %d, expected "
	    "503 store_unavailable:\n%s%s", what, r->status, r->head,
	    r->body ? r->body : "");
	assert_error_full(r, 503, "store_unavailable");
	ck_assert_msg(retry_after(r) >= 1, "%s: 503 without a Retry-After "
	    "of 1 s or more:\n%s", what, r->head);
}

/* A body of BIG_LEN bytes that says which it is (k) in every byte. */
static unsigned char *
big_body(int k)
{
	unsigned char *body = malloc(BIG_LEN);
	size_t i;

	ck_assert_ptr_nonnull(body);
	for (i = 0; i < BIG_LEN; i++)
		body[i] = (unsigned char)(((i * 2654435761u) >> 13) + (size_t)k);
	return body;
}

/*
 * Pop user's head message on node through a socket with a 4 KiB receive
 * window: read the status line and headers, copy X-Message-Id to id, and
 * leave the body unread, so the node cannot finish the response.
 * Returns the socket, still open.
 */
static int
stalled_pop(struct inboxd *d, int node, const char *user, char *id,
    size_t size)
{
	struct response r;
	size_t len;
	char *text;
	int fd;

	fd = client_connect_rcvbuf(port_of(d, node), 4096);
	ck_assert_int_ne(fd, -1);
	text = client_build("GET", "/inbox?wait=0", user, "pw", NULL, NULL, 0,
	    &len);
	ck_assert_int_eq(client_write(fd, text, len), 0);
	free(text);
	ck_assert_int_eq(client_read_head(fd, &r, 5000), 0);
	ck_assert_msg(r.status == 200, "pop of %s on node-%d: %d", user,
	    node + 1, r.status);
	ck_assert_ptr_nonnull(response_header(&r, "X-Message-Id"));
	snprintf(id, size, "%s", response_header(&r, "X-Message-Id"));
	return fd;
}

/* -------------------------------------------------------------- ledger */

/* Every message a test sent, and how often it came back. */
struct sent {
	char inbox[16];
	char body[32];           /* a small message's body */
	const unsigned char *big; /* or a big one's (BIG_LEN bytes) */
	char id[32];             /* X-Message-Id of its first pop */
	char stalled_id[32];     /* X-Message-Id of a pop never finished */
	int got;                 /* complete pops */
};

struct ledger {
	struct sent m[512];
	int n;
	int unexpected; /* pops that match no message sent */
	char what[256]; /* the first of them */
};

/* Send a small message numbered k to inbox through node and note it. */
static void
ledger_send(struct inboxd *d, struct ledger *l, int node, const char *inbox,
    int k)
{
	struct sent *s = &l->m[l->n++];
	struct response r;
	int status;

	ck_assert_int_le(l->n, 512);
	snprintf(s->inbox, sizeof(s->inbox), "%s", inbox);
	snprintf(s->body, sizeof(s->body), "%s message %d", inbox, k);
	status = at_send(d, node, "sender", inbox, s->body, strlen(s->body),
	    &r);
	ck_assert_msg(status == 204, "send to %s through node-%d: %d\n%s%s",
	    inbox, node + 1, status, r.head, r.body ? r.body : "");
	response_free(&r);
}

/* Send a big body to inbox through node and note it. */
static void
ledger_send_big(struct inboxd *d, struct ledger *l, int node,
    const char *inbox, const unsigned char *big)
{
	struct sent *s = &l->m[l->n++];

	snprintf(s->inbox, sizeof(s->inbox), "%s", inbox);
	s->big = big;
	ck_assert_int_eq(at_send(d, node, "sender", inbox, big, BIG_LEN,
	    NULL), 204);
}

/* Count the popped message r of inbox against what was sent. */
static void
ledger_got(struct ledger *l, const char *inbox, const struct response *r)
{
	const char *id = response_header(r, "X-Message-Id");
	int i;

	for (i = 0; i < l->n; i++) {
		struct sent *s = &l->m[i];

		if (strcmp(s->inbox, inbox) != 0)
			continue;
		if (s->big != NULL ? r->body_len == BIG_LEN &&
		    memcmp(r->body, s->big, BIG_LEN) == 0 :
		    r->body_len == strlen(s->body) &&
		    memcmp(r->body, s->body, r->body_len) == 0) {
			if (s->got++ == 0)
				snprintf(s->id, sizeof(s->id), "%s",
				    id != NULL ? id : "");
			return;
		}
	}
	if (l->unexpected++ == 0)
		snprintf(l->what, sizeof(l->what), "%s popped %zu bytes: %.40s",
		    inbox, r->body_len, r->body);
}

/* Pop inbox through node until it is empty; returns the pops. */
static int
ledger_drain(struct inboxd *d, struct ledger *l, int node, const char *inbox)
{
	struct response r;
	int status, n = 0;

	while ((status = at_get(d, node, inbox, "pw", "/inbox?wait=0", &r)) ==
	    200) {
		ledger_got(l, inbox, &r);
		response_free(&r);
		n++;
	}
	ck_assert_msg(status == 204, "pop of %s on node-%d: %d\n%s%s", inbox,
	    node + 1, status, r.head, r.body ? r.body : "");
	response_free(&r);
	return n;
}

/* Messages that never came back, and extra copies of the others. */
static void
ledger_count(const struct ledger *l, int *lost, int *duplicated)
{
	int i;

	*lost = *duplicated = 0;
	for (i = 0; i < l->n; i++) {
		if (l->m[i].got == 0)
			(*lost)++;
		else
			*duplicated += l->m[i].got - 1;
	}
}

/* ------------------------------------------------------- node failure */

#define QUEUES 10      /* inboxes with small messages queued */
#define QUEUED 6       /* small messages each */
#define POPPED 2       /* of which popped before the kill */
#define BIGS 3         /* inboxes whose head is in flight at the kill */
#define WAITERS 8      /* inboxes with a GET held at the kill */

START_TEST(test_kill_9_of_a_node_loses_nothing_and_duplicates_nothing)
{
	static struct ledger l;
	struct inboxd d;
	struct response r;
	unsigned char *big[BIGS];
	char name[16], ids[BIGS][32];
	int stalled[BIGS], held[WAITERS], fd, i, k, lost, dup, before = 0;
	int pending;
	long t_kill, recovered = -1, deadline;

	start_cluster(&d, LEASE_CONF BIG_CONF, 0);
	memset(&l, 0, sizeof(l));
	at_contact(&d, A, "sender", "pw");
	/* Queues, some of each popped through node-1 before it dies. */
	for (i = 0; i < QUEUES; i++) {
		snprintf(name, sizeof(name), "q%d", i);
		at_contact(&d, i % 2, name, "pw");
		for (k = 0; k < QUEUED; k++)
			ledger_send(&d, &l, k % 2, name, k);
	}
	for (i = 0; i < QUEUES; i++)
		for (k = 0; k < POPPED; k++) {
			snprintf(name, sizeof(name), "q%d", i);
			ck_assert_int_eq(at_get(&d, A, name, "pw",
			    "/inbox?wait=0", &r), 200);
			ledger_got(&l, name, &r);
			response_free(&r);
			before++;
		}
	/* Their deletions done: delivered means acknowledged. */
	wait_node_metric(&d, A, "inboxd_messages_delivered_total", before,
	    5000);
	/* Big messages whose pops on node-1 never finish: in flight. */
	for (i = 0; i < BIGS; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		at_contact(&d, B, name, "pw");
		big[i] = big_body(i);
		ledger_send_big(&d, &l, i % 2, name, big[i]);
		ledger_send(&d, &l, B, name, 1);
		stalled[i] = stalled_pop(&d, A, name, ids[i], sizeof(ids[i]));
		snprintf(l.m[l.n - 2].stalled_id, sizeof(l.m[0].stalled_id),
		    "%.31s", ids[i]);
	}
	/* GETs held on node-1. */
	for (i = 0; i < WAITERS; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		at_contact(&d, B, name, "pw");
		held[i] = client_send(port_of(&d, A), "GET", "/inbox?wait=30",
		    name, "pw", NULL, NULL, 0);
		ck_assert_int_ne(held[i], -1);
	}
	wait_metric(&d, "inboxd_waiters", WAITERS, 5000);

	ck_assert_int_eq(inboxd_kill(&d.cluster->node[A], SIGKILL), -1);
	t_kill = client_now_ms();
	for (i = 0; i < BIGS; i++)
		close(stalled[i]);
	for (i = 0; i < WAITERS; i++)
		close(held[i]);

	/* Traffic goes on through node-2 at once. */
	for (i = 0; i < WAITERS; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		ledger_send(&d, &l, B, name, 0);
		ledger_send(&d, &l, B, name, 1);
	}
	for (i = 0; i < QUEUES; i++) {
		snprintf(name, sizeof(name), "q%d", i);
		ledger_send(&d, &l, B, name, QUEUED);
	}
	/* A GET held on node-2 for an inbox whose waiter was node-1's is
	 * held there, and woken. */
	at_contact(&d, B, "wx", "pw");
	fd = at_hold(&d, B, "wx", 10, 1);
	ledger_send(&d, &l, B, "wx", 0);
	ck_assert_int_eq(answer(fd, 3000, &r), 200);
	ledger_got(&l, "wx", &r);
	response_free(&r);

	/* Drain through node-2 until every message came back: the in-flight
	 * ones once node-1's lease has run out. */
	deadline = t_kill + LEASE_S * 1000 + 4000;
	do {
		for (i = 0; i < QUEUES; i++) {
			snprintf(name, sizeof(name), "q%d", i);
			ledger_drain(&d, &l, B, name);
		}
		for (i = 0; i < WAITERS; i++) {
			snprintf(name, sizeof(name), "w%d", i);
			ledger_drain(&d, &l, B, name);
		}
		for (i = 0; i < BIGS; i++) {
			snprintf(name, sizeof(name), "big%d", i);
			ledger_drain(&d, &l, B, name);
		}
		for (i = 0, pending = 0; i < l.n; i++)
			pending += l.m[i].got == 0;
		if (pending == 0 && recovered == -1)
			recovered = client_now_ms() - t_kill;
		if (pending > 0)
			sleep_ms(50);
	} while (pending > 0 && client_now_ms() < deadline);
	/* Then a lease more: nothing comes back a second time. */
	sleep_until(client_now_ms() + LEASE_S * 1000 + 500);
	for (i = 0; i < QUEUES + WAITERS + BIGS; i++) {
		if (i < QUEUES)
			snprintf(name, sizeof(name), "q%d", i);
		else if (i < QUEUES + WAITERS)
			snprintf(name, sizeof(name), "w%d", i - QUEUES);
		else
			snprintf(name, sizeof(name), "big%d",
			    i - QUEUES - WAITERS);
		ledger_drain(&d, &l, B, name);
	}
	ledger_drain(&d, &l, B, "wx");

	ledger_count(&l, &lost, &dup);
	printf("kill -9 of node-1 holding %d in-flight messages and %d held "
	    "GETs, %d messages in all (lease-timeout %d s): lost %d, "
	    "duplicated %d, unexpected %d; every message back %ld ms after "
	    "the kill\n", BIGS, WAITERS, l.n, LEASE_S, lost, dup,
	    l.unexpected, recovered);
	for (i = 0; i < l.n; i++)
		ck_assert_msg(l.m[i].got == 1, "%s: %s popped %d times",
		    l.m[i].inbox, l.m[i].big ? "the big message" : l.m[i].body,
		    l.m[i].got);
	ck_assert_msg(l.unexpected == 0, "%d unexpected pops: %s",
	    l.unexpected, l.what);
	ck_assert_int_eq(lost, 0);
	ck_assert_int_eq(dup, 0);
	/* A message put back is the same message: the same X-Message-Id. */
	for (i = 0; i < l.n; i++)
		if (l.m[i].stalled_id[0] != '\0')
			ck_assert_msg(strcmp(l.m[i].id, l.m[i].stalled_id) == 0,
			    "%s's message came back as X-Message-Id %s, was %s",
			    l.m[i].inbox, l.m[i].id, l.m[i].stalled_id);
	/* And ids are unique across the cluster. */
	for (i = 0; i < l.n; i++)
		for (k = 0; k < i; k++)
			ck_assert_msg(strcmp(l.m[i].id, l.m[k].id) != 0,
			    "X-Message-Id %s given to two messages", l.m[i].id);
	/* Not before the lease could have run out. */
	ck_assert_msg(recovered <= LEASE_S * 1000 + 3000, "the in-flight "
	    "messages came back %ld ms after the kill (lease-timeout %d s)",
	    recovered, LEASE_S);
	for (i = 0; i < BIGS; i++)
		free(big[i]);
	stop(&d);
}
END_TEST

/* A node back under the same node-id at once is another run: what the
 * dead run had in flight still comes back after lease-timeout. */
START_TEST(test_node_restarted_under_its_id_gives_back_what_it_had_in_flight)
{
	static struct ledger l;
	struct inboxd d;
	unsigned char *big = big_body(3);
	char id[32];
	int fd, pending, i;
	long t_kill, deadline;

	start_cluster(&d, LEASE_CONF BIG_CONF, 0);
	memset(&l, 0, sizeof(l));
	at_contact(&d, A, "sender", "pw");
	at_contact(&d, A, "alice", "pw");
	ledger_send_big(&d, &l, B, "alice", big);
	ledger_send(&d, &l, B, "alice", 1);
	fd = stalled_pop(&d, A, "alice", id, sizeof(id));
	snprintf(l.m[0].stalled_id, sizeof(l.m[0].stalled_id), "%.31s", id);
	ck_assert_int_eq(inboxd_kill(&d.cluster->node[A], SIGKILL), -1);
	t_kill = client_now_ms();
	close(fd);
	ck_assert_msg(cluster_restart_node(&d, A) == 0, "node-1 did not start "
	    "again; see %s", d.cluster->node[A].log);
	/* Through both nodes, the restarted one too, until it is back. */
	deadline = t_kill + LEASE_S * 1000 + 4000;
	for (i = 0;; i++) {
		ledger_drain(&d, &l, i % 2, "alice");
		pending = l.m[0].got == 0 || l.m[1].got == 0;
		if (!pending || client_now_ms() >= deadline)
			break;
		sleep_ms(50);
	}
	printf("node-1 killed and started again under its node-id: its "
	    "message in flight back %ld ms after the kill\n",
	    client_now_ms() - t_kill);
	ck_assert_msg(l.m[0].got == 1, "the message node-1 had in flight "
	    "came back %d times in %d ms (lease-timeout %d s)", l.m[0].got,
	    LEASE_S * 1000 + 4000, LEASE_S);
	ck_assert_int_eq(l.m[1].got, 1);
	ck_assert_str_eq(l.m[0].id, l.m[0].stalled_id);
	sleep_ms(LEASE_S * 1000);
	ledger_drain(&d, &l, A, "alice");
	ledger_drain(&d, &l, B, "alice");
	ck_assert_int_eq(l.m[0].got, 1);
	ck_assert_int_eq(l.unexpected, 0);
	free(big);
	stop(&d);
}
END_TEST

/* SPEC section 8: a slow client on a live node never causes a second
 * copy, however long it takes. */
START_TEST(test_slow_client_on_a_live_node_causes_no_second_copy)
{
	struct inboxd d;
	struct response r;
	unsigned char *body = big_body(7);
	char id[32];
	size_t got = 0;
	long end;
	int fd;

	start_cluster(&d, LEASE_CONF BIG_CONF, 0);
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "sender", "pw");
	ck_assert_int_eq(at_send(&d, B, "sender", "alice", body, BIG_LEN,
	    NULL), 204);
	fd = stalled_pop(&d, A, "alice", id, sizeof(id));
	/* Twice the lease, polled through the other node. */
	end = client_now_ms() + 2 * LEASE_S * 1000 + 500;
	while (client_now_ms() < end) {
		ck_assert_msg(at_get(&d, B, "alice", "pw", "/inbox?wait=0",
		    NULL) == 204, "the message in flight on live node-1 was "
		    "handed out again by node-2");
		sleep_ms(100);
	}
	/* The slow client reads on, and has it whole. */
	end = client_now_ms() + 10000;
	while (got < BIG_LEN && client_now_ms() < end) {
		static char buf[65536];
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t k;

		if (poll(&p, 1, 1000) != 1)
			continue;
		if ((k = recv(fd, buf, sizeof(buf), 0)) <= 0)
			break;
		ck_assert_uint_le(got + (size_t)k, BIG_LEN);
		ck_assert(memcmp(buf, body + got, (size_t)k) == 0);
		got += (size_t)k;
	}
	close(fd);
	ck_assert_uint_eq(got, BIG_LEN);
	wait_node_metric(&d, A, "inboxd_messages_delivered_total", 1, 5000);
	ck_assert_int_eq(at_get(&d, B, "alice", "pw", "/inbox?wait=0", &r),
	    204);
	response_free(&r);
	ck_assert_int_eq(at_get(&d, A, "alice", "pw", "/inbox?wait=0", NULL),
	    204);
	free(body);
	stop(&d);
}
END_TEST

/* -------------------------------------------------------- credentials */

/* Send from bob to name through the nodes in turn until it is 404 (the
 * inbox expired), for at most timeout_ms. */
static void
wait_expired(struct inboxd *d, const char *name, int timeout_ms)
{
	long deadline = client_now_ms() + timeout_ms;
	struct response r;
	int status, i = 0;

	for (;;) {
		status = at_send(d, i++ % 2, "bob", name, "x", 1, &r);
		if (status != 204 || client_now_ms() >= deadline)
			break;
		response_free(&r);
		sleep_ms(100);
	}
	assert_error_full(&r, 404, "not_found");
	response_free(&r);
}

/* Every way the password may be used is refused (401) on both nodes. */
static void
refused_everywhere(struct inboxd *d, const char *user, const char *password)
{
	struct response r;
	int node;

	for (node = 0; node < CLUSTER_NODES; node++) {
		ck_assert_int_eq(at_get(d, node, user, password,
		    "/inbox?wait=0", &r), 401);
		assert_error_full(&r, 401, "unauthorized");
		response_free(&r);
		ck_assert_int_eq(at(d, node, "POST", "/inbox?to=bob", user,
		    password, NULL, "x", 1, &r), 401);
		assert_error_full(&r, 401, "unauthorized");
		response_free(&r);
		ck_assert_int_eq(at(d, node, "POST", "/pin", user, password,
		    NULL, NULL, 0, &r), 401);
		assert_error_full(&r, 401, "unauthorized");
		response_free(&r);
	}
}

START_TEST(test_inbox_created_again_elsewhere_refuses_the_old_password)
{
	struct inboxd d;
	struct response r;
	int node;

	start_cluster(&d, "inbox-timeout 1\nauth-failures-per-minute 0\n", 0);
	at_contact(&d, A, "bob", "pw");
	/* Both nodes verify and cache alice's first password. */
	at_contact(&d, A, "alice", "old");
	ck_assert_int_eq(at_get(&d, B, "alice", "old", "/inbox?wait=0", NULL),
	    204);
	ck_assert_int_eq(at_send(&d, B, "bob", "alice", "for old", 7, NULL),
	    204);
	wait_expired(&d, "alice", 4000);
	/* Created again on node-2 under another password. */
	at_contact(&d, B, "alice", "new");
	refused_everywhere(&d, "alice", "old");
	for (node = 0; node < CLUSTER_NODES; node++)
		ck_assert_int_eq(at_get(&d, node, "alice", "new",
		    "/inbox?wait=0", NULL), 204);
	/* And back: expired again, created on node-1. */
	wait_expired(&d, "alice", 4000);
	at_contact(&d, A, "alice", "third");
	refused_everywhere(&d, "alice", "new");
	refused_everywhere(&d, "alice", "old");
	ck_assert_int_eq(at_send(&d, B, "bob", "alice", "for third", 9, NULL),
	    204);
	ck_assert_int_eq(at_get(&d, B, "alice", "third", "/inbox?wait=0", &r),
	    200);
	ck_assert_uint_eq(r.body_len, 9);
	ck_assert(memcmp(r.body, "for third", 9) == 0);
	response_free(&r);
	stop(&d);
}
END_TEST

/* The same password for the new inbox: the node that knew the old one
 * verifies it again, and takes it. */
START_TEST(test_inbox_created_again_with_the_same_password_is_taken_everywhere)
{
	struct inboxd d;
	int node;

	start_cluster(&d, "inbox-timeout 1\nauth-failures-per-minute 0\n", 0);
	at_contact(&d, A, "bob", "pw");
	at_contact(&d, A, "alice", "same");
	ck_assert_int_eq(at_get(&d, B, "alice", "same", "/inbox?wait=0", NULL),
	    204);
	wait_expired(&d, "alice", 4000);
	at_contact(&d, B, "alice", "same");
	for (node = 0; node < CLUSTER_NODES; node++) {
		struct response r;
		int status = at_get(&d, node, "alice", "same", "/inbox?wait=0",
		    &r);

		ck_assert_msg(status == 204, "alice's password on node-%d, "
		    "after her inbox was made again with it on node-2: %d\n"
		    "%s%s", node + 1, status, r.head, r.body ? r.body : "");
		response_free(&r);
	}
	ck_assert_int_eq(at_send(&d, A, "bob", "alice", "hi", 2, NULL), 204);
	ck_assert_int_eq(at_get(&d, A, "alice", "same", "/inbox?wait=0", NULL),
	    200);
	stop(&d);
}
END_TEST

/* Two first contacts of one name with two passwords, on two nodes. */
struct race {
	pthread_barrier_t *barrier;
	unsigned port;
	char user[32];
	const char *password;
	int status;
};

static void *
race_thread(void *arg)
{
	struct race *j = arg;

	pthread_barrier_wait(j->barrier);
	j->status = client_request(j->port, "GET", "/inbox?wait=0", j->user,
	    j->password, NULL, NULL, 0, NULL);
	return NULL;
}

#define RACES 20

START_TEST(test_racing_first_contacts_on_two_nodes_exactly_one_wins)
{
	struct race jobs[2 * RACES];
	pthread_t tid[2 * RACES];
	pthread_barrier_t barrier;
	struct inboxd d;
	int i, node;

	start_cluster(&d, "auth-failures-per-minute 0\n", 0);
	pthread_barrier_init(&barrier, NULL, 2 * RACES);
	for (i = 0; i < 2 * RACES; i++) {
		jobs[i].barrier = &barrier;
		jobs[i].port = port_of(&d, i % 2);
		snprintf(jobs[i].user, sizeof(jobs[i].user), "race%d", i / 2);
		jobs[i].password = i % 2 ? "odd" : "even";
		ck_assert_int_eq(pthread_create(&tid[i], NULL, race_thread,
		    &jobs[i]), 0);
	}
	for (i = 0; i < 2 * RACES; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&barrier);
	for (i = 0; i < 2 * RACES; i += 2) {
		int a = jobs[i].status, b = jobs[i + 1].status;
		const char *winner, *loser;

		ck_assert_msg((a == 204 && b == 401) || (a == 401 && b == 204),
		    "%s on node-1 and node-2 at once: %d and %d", jobs[i].user,
		    a, b);
		winner = a == 204 ? jobs[i].password : jobs[i + 1].password;
		loser = a == 204 ? jobs[i + 1].password : jobs[i].password;
		for (node = 0; node < CLUSTER_NODES; node++) {
			ck_assert_int_eq(at_get(&d, node, jobs[i].user, winner,
			    "/inbox?wait=0", NULL), 204);
			ck_assert_int_eq(at_get(&d, node, jobs[i].user, loser,
			    "/inbox?wait=0", NULL), 401);
		}
	}
	stop(&d);
}
END_TEST

/*
 * Wrong passwords spread over both nodes count together.  A node that
 * has seen an address fail asks Redis before serving it, so the request
 * after the one that reached the limit is refused there at once; a node
 * that never saw the address fail learns of the block from its
 * announcement (pub/sub), so one guess there may slip in that moment,
 * and counts, and from then on it refuses too: a guesser spreading over
 * N nodes gains at most N - 1 guesses a window.
 */
#define GUESSERS 20

START_TEST(test_failures_spread_over_nodes_count_together)
{
	struct inboxd d;
	struct response r;
	char src[16];
	int g, i, k, status, slipped = 0, unseen_slips = 0;

	start_cluster(&d, "auth-failures-per-minute 4\n", 0);
	at_contact(&d, A, "alice", "pw");
	/*
	 * Each guesser from an address of its own (127.0.0.10 on): half of
	 * them guess on both nodes in turn, half on node-2 only, so that
	 * node-1 never saw them fail.
	 */
	for (g = 0; g < GUESSERS; g++) {
		bool unseen = g % 2; /* node-1 never saw it fail */

		snprintf(src, sizeof(src), "127.0.0.%d", 10 + g);
		for (i = 0; i < 4; i++)
			ck_assert_int_eq(client_request_from(port_of(&d,
			    unseen ? B : i % 2), src, "GET", "/inbox?wait=0",
			    "alice", "guess", NULL, NULL, 0, NULL), 401);
		/*
		 * The fourth was on node-2: at once on node-1, then node-2,
		 * then both again.
		 */
		for (k = 0; k < 2 * CLUSTER_NODES; k++) {
			i = k % CLUSTER_NODES;
			status = client_request_from(port_of(&d, i), src, "GET",
			    "/inbox?wait=0", "alice", "guess", NULL, NULL, 0, &r);
			if (status == 429)
				assert_error_full(&r, 429, "too_many_requests");
			else if (unseen && k == 0 && status == 401)
				unseen_slips++; /* before the announcement */
			else if (slipped++ == 0)
				printf("guesser %s (%s): guess %d, on node-%d, "
				    "after its fourth on node-2: %d\n", src,
				    unseen ? "on node-2 only" : "on both", 5 + k,
				    i + 1, status);
			response_free(&r);
		}
	}
	printf("failures spread over nodes: %d of %d guesses past the limit "
	    "slipped on a node that had not seen the address fail (at most "
	    "one each), %d anywhere else\n", unseen_slips, GUESSERS / 2,
	    slipped);
	ck_assert_msg(slipped == 0, "%d of %d guesses past "
	    "auth-failures-per-minute 4 were not refused (429)", slipped,
	    GUESSERS * 2 * CLUSTER_NODES);
	/* Another address is not held back. */
	ck_assert_int_eq(client_request_from(port_of(&d, B), OTHER, "GET",
	    "/inbox?wait=0", "alice", "pw", NULL, NULL, 0, NULL), 204);
	stop(&d);
}
END_TEST

/* ------------------------------------------------------- Redis outage */

/* Requests that keep going while Redis goes away and comes back. */
struct traffic {
	struct inboxd *d;
	volatile int stop;
	volatile int down; /* the test has stopped Redis */
	int sent, n503, ok_after;
	int bad;
	char what[600]; /* the first bad answer */
};

/* Note r of the request `what' in t: 200/204, 503 store_unavailable with
 * Retry-After, or 404 not_found (an inbox Redis lost) are fine. */
static void
traffic_note(struct traffic *t, const char *what, int status,
    const struct response *r)
{
	int fine;

	t->sent++;
	if (status == 503 && r->body != NULL &&
	    strstr(r->body, "\"store_unavailable\"") != NULL &&
	    retry_after(r) >= 1) {
		t->n503++;
		return;
	}
	fine = status == 200 || status == 204 ||
	    (status == 404 && r->body != NULL &&
	    strstr(r->body, "\"not_found\"") != NULL);
	if (fine && !t->down)
		t->ok_after++;
	if (!fine && t->bad++ == 0)
		snprintf(t->what, sizeof(t->what), "%s (Redis %s): %d\n%.300s"
		    "%.200s", what, t->down ? "down" : "up", status, r->head,
		    r->body ? r->body : "");
}

static void *
traffic_thread(void *arg)
{
	struct traffic *t = arg;
	struct response r;
	int i, status;

	for (i = 0; !t->stop; i++) {
		status = client_request(port_of(t->d, i % 2), "POST",
		    "/inbox?to=t2", "t1", "pw", NULL, "tick", 4, &r);
		traffic_note(t, "send t1 to t2", status, &r);
		response_free(&r);
		status = client_request(port_of(t->d, (i + 1) % 2), "GET",
		    "/inbox?wait=0", "t2", "pw", NULL, NULL, 0, &r);
		traffic_note(t, "pop of t2", status, &r);
		response_free(&r);
		sleep_ms(10);
	}
	return NULL;
}

/* With Redis down, every kind of request on node is 503. */
static void
everything_unavailable(struct inboxd *d, int node)
{
	struct response r;
	long t0;

	ck_assert_int_eq(at_send(d, node, "bob", "alice", "x", 1, &r), 503);
	assert_unavailable(&r, "a send");
	response_free(&r);
	ck_assert_int_eq(at_get(d, node, "alice", "pw", "/inbox?wait=0", &r),
	    503);
	assert_unavailable(&r, "a pop");
	response_free(&r);
	/* A long poll is not held on a store that is not there. */
	t0 = client_now_ms();
	ck_assert_int_eq(at_get(d, node, "alice", "pw", "/inbox?wait=5", &r),
	    503);
	assert_unavailable(&r, "a long poll");
	response_free(&r);
	ck_assert_msg(client_now_ms() - t0 < 2000, "a long poll with Redis "
	    "down answered after %ld ms", client_now_ms() - t0);
	ck_assert_int_eq(at_get(d, node, "newcomer", "pw", "/inbox?wait=0",
	    &r), 503);
	assert_unavailable(&r, "a first contact");
	response_free(&r);
	ck_assert_int_eq(at(d, node, "POST", "/pin", "alice", "pw", NULL, NULL,
	    0, &r), 503);
	assert_unavailable(&r, "POST /pin");
	response_free(&r);
	ck_assert_int_eq(at(d, node, "POST", "/rooms", "alice", "pw", NULL,
	    NULL, 0, &r), 503);
	assert_unavailable(&r, "POST /rooms");
	response_free(&r);
	ck_assert_int_eq(at(d, node, "GET", "/healthz", NULL, NULL, NULL, NULL,
	    0, &r), 503);
	response_free(&r);
}

/* A GET held on node `on' is woken by a send through node `by'. */
static void
woken_across(struct inboxd *d, int on, int by, const char *user)
{
	struct response r;
	long t0;
	int fd;

	fd = at_hold(d, on, user, 10, 1);
	t0 = client_now_ms();
	ck_assert_int_eq(at_send(d, by, "bob", user, "across", 6, NULL), 204);
	ck_assert_msg(answer(fd, 3000, &r) == 200, "a GET held on node-%d "
	    "was not woken by a send through node-%d: %d", on + 1, by + 1,
	    r.status);
	ck_assert_uint_eq(r.body_len, 6);
	ck_assert(memcmp(r.body, "across", 6) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	response_free(&r);
	ck_assert_msg(client_now_ms() - t0 < 1000, "woken %ld ms after the "
	    "send", client_now_ms() - t0);
}

START_TEST(test_redis_killed_and_restarted_under_traffic)
{
	static struct traffic t;
	struct inboxd d;
	struct response r;
	pthread_t tid;
	pid_t pids[CLUSTER_NODES];
	int fa, fb, node;
	long t_down, t_up, back[CLUSTER_NODES];

	start_cluster(&d, "auth-failures-per-minute 0\n", 0);
	for (node = 0; node < CLUSTER_NODES; node++)
		pids[node] = d.cluster->node[node].pid;
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "bob", "pw");
	at_contact(&d, A, "carol", "pw");
	at_contact(&d, A, "t1", "pw");
	at_contact(&d, B, "t2", "pw");
	/* Both nodes know dave's password. */
	at_contact(&d, A, "dave", "pw");
	at_contact(&d, B, "dave", "pw");
	fa = at_hold(&d, A, "alice", 20, 1);
	fb = at_hold(&d, B, "carol", 20, 2);
	memset(&t, 0, sizeof(t));
	t.d = &d;
	ck_assert_int_eq(pthread_create(&tid, NULL, traffic_thread, &t), 0);
	sleep_ms(200);

	t.down = 1;
	ck_assert_int_eq(redis_kill(&d.cluster->redis, SIGKILL), -1);
	t_down = client_now_ms();
	/* Held GETs are answered 204. */
	ck_assert_msg(answer(fa, 3000, &r) == 204, "a GET held on node-1: %d "
	    "after Redis died", r.status);
	response_free(&r);
	ck_assert_msg(answer(fb, 3000, &r) == 204, "a GET held on node-2: %d "
	    "after Redis died", r.status);
	response_free(&r);
	for (node = 0; node < CLUSTER_NODES; node++) {
		wait_health(&d, node, 503, 3000);
		everything_unavailable(&d, node);
	}
	/* A while down, under traffic. */
	sleep_until(t_down + 1500);

	ck_assert_msg(redis_restart(&d.cluster->redis) == 0, "redis-server "
	    "did not start again; see %s", d.cluster->redis.log);
	t_up = client_now_ms();
	for (node = 0; node < CLUSTER_NODES; node++)
		back[node] = wait_health(&d, node, 200, 12000);
	t.down = 0;
	/* The traffic gets through again. */
	while (t.ok_after < 4 && client_now_ms() < t_up + 15000)
		sleep_ms(20);
	t.stop = 1;
	pthread_join(tid, NULL);
	printf("Redis killed under traffic: down %ld ms, %d requests, %d "
	    "answered 503 store_unavailable; /healthz 200 again %ld and %ld "
	    "ms after the restart\n", t_up - t_down, t.sent, t.n503, back[A],
	    back[B]);
	ck_assert_msg(t.bad == 0, "%d requests answered wrongly; the first: "
	    "%s", t.bad, t.what);
	ck_assert_msg(t.n503 > 0, "no request was refused while Redis was "
	    "down");
	ck_assert_msg(t.ok_after >= 4, "the traffic did not get through after "
	    "the restart");

	/* Nothing was kept (no persistence): the names are free.  dave
	 * comes back through node-1, which makes his inbox again, and then
	 * through node-2, which had verified his password before: the same
	 * password, taken on both. */
	for (node = 0; node < CLUSTER_NODES; node++) {
		int k, status = -1;

		for (k = 0; k < 2; k++) {
			status = at_get(&d, node, "dave", "pw", "/inbox?wait=0",
			    &r);
			ck_assert_msg(status == 204, "dave's GET %d on node-%d "
			    "after Redis came back empty: %d\n%s%s", k + 1,
			    node + 1, status, r.head, r.body ? r.body : "");
			response_free(&r);
		}
	}
	/* Both nodes serve the others again, wake-ups across nodes
	 * included. */
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "bob", "pw");
	at_contact(&d, B, "carol", "pw");
	woken_across(&d, A, B, "alice");
	woken_across(&d, B, A, "carol");
	ck_assert_int_eq(at_send(&d, A, "bob", "carol", "again", 5, NULL),
	    204);
	ck_assert_int_eq(at_get(&d, B, "carol", "pw", "/inbox?wait=0", &r),
	    200);
	ck_assert_uint_eq(r.body_len, 5);
	response_free(&r);
	/* The same processes all along. */
	for (node = 0; node < CLUSTER_NODES; node++)
		assert_alive(&d, node, pids[node]);
	stop(&d);
}
END_TEST

START_TEST(test_queued_messages_survive_a_redis_restart_with_persistence)
{
	static const char *const bodies[] = { "first", "second", "third" };
	struct inboxd d;
	struct response r;
	pid_t pids[CLUSTER_NODES];
	int i, node;

	start_cluster(&d, "", CLUSTER_REDIS_PERSIST);
	for (node = 0; node < CLUSTER_NODES; node++)
		pids[node] = d.cluster->node[node].pid;
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "bob", "pw");
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(at_send(&d, i % 2, "bob", "alice", bodies[i],
		    strlen(bodies[i]), NULL), 204);
	/* A clean stop: Redis writes what it has and exits 0. */
	ck_assert_int_eq(redis_kill(&d.cluster->redis, SIGTERM), 0);
	for (node = 0; node < CLUSTER_NODES; node++) {
		wait_health(&d, node, 503, 3000);
		ck_assert_int_eq(at_get(&d, node, "alice", "pw",
		    "/inbox?wait=0", &r), 503);
		assert_unavailable(&r, "a pop");
		response_free(&r);
	}
	ck_assert_msg(redis_restart(&d.cluster->redis) == 0, "redis-server "
	    "did not start again; see %s", d.cluster->redis.log);
	for (node = 0; node < CLUSTER_NODES; node++)
		wait_health(&d, node, 200, 12000);
	/* Everything is there, in order, through either node. */
	for (i = 0; i < 3; i++) {
		ck_assert_msg(at_get(&d, (i + 1) % 2, "alice", "pw",
		    "/inbox?wait=0", &r) == 200, "message %d after the "
		    "restart: %d", i, r.status);
		ck_assert_uint_eq(r.body_len, strlen(bodies[i]));
		ck_assert(memcmp(r.body, bodies[i], r.body_len) == 0);
		ck_assert_str_eq(response_header(&r, "X-From"), "bob");
		response_free(&r);
	}
	ck_assert_int_eq(at_get(&d, A, "alice", "pw", "/inbox?wait=0", NULL),
	    204);
	/* So is the password's hash. */
	for (node = 0; node < CLUSTER_NODES; node++)
		ck_assert_int_eq(at_get(&d, node, "alice", "other",
		    "/inbox?wait=0", NULL), 401);
	for (node = 0; node < CLUSTER_NODES; node++)
		assert_alive(&d, node, pids[node]);
	stop(&d);
}
END_TEST

/* ------------------------------------------------- Redis round trips */

/* The calls of command name in INFO commandstats (cmdstat_NAME). */
static long long
cmdstat(struct inboxd *d, const char *name)
{
	char *info = redis_cmd(&d->cluster->redis, "INFO", "commandstats",
	    (char *)NULL), key[64], *p;
	long long calls = 0;

	ck_assert_msg(info != NULL, "INFO commandstats: no answer");
	snprintf(key, sizeof(key), "cmdstat_%s:calls=", name);
	if ((p = strstr(info, key)) != NULL)
		calls = strtoll(p + strlen(key), NULL, 10);
	free(info);
	return calls;
}

/*
 * The commands clients sent Redis (not those its scripts ran), from a
 * MONITOR connection: each line of the stream is +TIME [DB SOURCE]
 * "COMMAND" "ARG"..., SOURCE `lua' for a script's own calls.  Counted by
 * name, and FCALL by name and function ("FCALL:" and the function's
 * name without the library's version).  The test's own markers are ECHO commands.
 */
#define TALLY_MAX 48

struct tally {
	char name[TALLY_MAX][24];
	long count[TALLY_MAX];
	int n;
};

static void
tally_add(struct tally *t, const char *name, long count)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->name[i], name) == 0) {
			t->count[i] += count;
			return;
		}
	if (t->n < TALLY_MAX) {
		snprintf(t->name[t->n], sizeof(t->name[0]), "%s", name);
		t->count[t->n++] = count;
	}
}

static long
tally_get(const struct tally *t, const char *name)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->name[i], name) == 0)
			return t->count[i];
	return 0;
}

/* What t holds that background does not: the requests' own commands. */
static void
tally_minus(const struct tally *t, const struct tally *background,
    struct tally *out)
{
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < t->n; i++)
		if (tally_get(background, t->name[i]) == 0)
			tally_add(out, t->name[i], t->count[i]);
}

/* The FCALL calls of t (any function). */
static long
tally_fcall(const struct tally *t)
{
	long n = 0;
	int i;

	for (i = 0; i < t->n; i++)
		if (strncmp(t->name[i], "FCALL:", 6) == 0)
			n += t->count[i];
	return n;
}

/*
 * The calls of the commands (or scripts) of t made at least min times:
 * the requests' own, where min is half the requests; *kinds gets how
 * many commands that is, *stray the calls of the others (a periodic
 * script that happened to fall in the window).
 */
static long
tally_top(const struct tally *t, long min, int *kinds, long *stray)
{
	long n = 0;
	int i;

	*kinds = 0;
	*stray = 0;
	for (i = 0; i < t->n; i++) {
		if (t->count[i] >= min) {
			n += t->count[i];
			++*kinds;
			if (strncmp(t->name[i], "FCALL:", 6) != 0)
				*kinds += 100; /* not a script: no match */
		} else
			*stray += t->count[i];
	}
	return n;
}

/* "FCALL:send 50, SET 2" */
static void
tally_text(const struct tally *t, char *out, size_t size)
{
	size_t n = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < t->n && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s %ld",
		    i ? ", " : "", t->name[i], t->count[i]);
	if (t->n == 0)
		snprintf(out, size, "nothing");
}

/* A MONITOR connection to the cluster's Redis. */
static int
monitor_open(struct inboxd *d)
{
	static const char cmd[] = "*1\r\n$7\r\nMONITOR\r\n";
	char ok[8];
	int fd = redis_connect(&d->cluster->redis);
	size_t n = 0;

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(client_write(fd, cmd, sizeof(cmd) - 1), 0);
	while (n < 5) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t k;

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		k = recv(fd, ok + n, 5 - n, 0);
		ck_assert_int_gt(k, 0);
		n += (size_t)k;
	}
	ck_assert(memcmp(ok, "+OK\r\n", 5) == 0);
	return fd;
}

/* Mark a point in the MONITOR stream. */
static void
monitor_mark(struct inboxd *d, const char *mark)
{
	free(redis_cmd(&d->cluster->redis, "ECHO", mark, (char *)NULL));
}

/*
 * Read the MONITOR stream of fd up to the ECHO of mark and tally the
 * clients' commands since the last mark, leaving out the test's own
 * (ECHO, INFO) and those of Lua.
 */
static void
monitor_tally(int fd, const char *mark, struct tally *t)
{
	static char buf[1 << 20];
	static size_t len;
	char want[64];

	memset(t, 0, sizeof(*t));
	snprintf(want, sizeof(want), "\"ECHO\" \"%s\"", mark);
	for (;;) {
		char *eol, *src, *cmd, *v, name[24], fn[24], key[24];
		size_t n;

		while ((eol = memchr(buf, '\n', len)) == NULL) {
			struct pollfd p = { fd, POLLIN, 0 };
			ssize_t k;

			ck_assert_msg(poll(&p, 1, 5000) == 1 && len < sizeof(buf),
			    "MONITOR: no mark %s", mark);
			k = recv(fd, buf + len, sizeof(buf) - len, 0);
			ck_assert_int_gt(k, 0);
			len += (size_t)k;
		}
		*eol = '\0';
		if (strstr(buf, want) != NULL) {
			n = (size_t)(eol + 1 - buf);
			memmove(buf, eol + 1, len - n);
			len -= n;
			return;
		}
		if ((src = strchr(buf, '[')) != NULL &&
		    (cmd = strstr(src, "] \"")) != NULL &&
		    strncmp(src + strcspn(src, " "), " lua]", 5) != 0 &&
		    sscanf(cmd + 3, "%23[^\"]", name) == 1 &&
		    strcasecmp(name, "ECHO") != 0 &&
		    strcasecmp(name, "INFO") != 0) {
			if (strcasecmp(name, "FCALL") == 0 &&
			    sscanf(cmd + 3, "%*[^\"]\" \"%23[0-9a-z_]", fn) == 1) {
				/* name_VERSION: the name alone */
				if ((v = strrchr(fn, '_')) != NULL)
					*v = '\0';
				snprintf(key, sizeof(key), "FCALL:%.17s", fn);
				tally_add(t, key, 1);
			} else
				tally_add(t, name, 1);
		}
		n = (size_t)(eol + 1 - buf);
		memmove(buf, eol + 1, len - n);
		len -= n;
	}
}

#define ROUNDS 100
#define TRIPS 10

START_TEST(test_hot_paths_are_one_fcall_each)
{
	struct inboxd d;
	struct response r;
	struct tally bg, raw, sends, pops, polls, trips;
	char text[1024];
	long long e0, e1, e2, e3, delivered;
	long window;
	long n, stray;
	int i, fd, mon, kinds;

	start_cluster(&d, "", 0);
	/* Both nodes have verified both passwords: no first contact and no
	 * Argon2 below, only the hot paths. */
	for (i = 0; i < CLUSTER_NODES; i++) {
		at_contact(&d, i, "alice", "pw");
		at_contact(&d, i, "bob", "pw");
	}
	mon = monitor_open(&d);
	/* What the nodes send Redis with no request at all (heartbeats),
	 * and for /metrics: not the hot paths'. */
	monitor_mark(&d, "idle");
	monitor_tally(mon, "idle", &raw);
	sleep_ms(1200);
	(void)metric(&d, "inboxd_waiters");
	(void)metric(&d, "inboxd_messages_delivered_total");
	monitor_mark(&d, "sends");
	monitor_tally(mon, "sends", &bg);

	e0 = cmdstat(&d, "fcall");
	for (i = 0; i < ROUNDS; i++)
		ck_assert_int_eq(at_send(&d, i % 2, "bob", "alice", "m", 1,
		    NULL), 204);
	e1 = cmdstat(&d, "fcall");
	monitor_mark(&d, "pops");
	monitor_tally(mon, "pops", &raw);
	tally_minus(&raw, &bg, &sends);
	window = tally_fcall(&raw); /* every FCALL around e0..e1 */

	delivered = metric(&d, "inboxd_messages_delivered_total");
	e2 = cmdstat(&d, "fcall");
	for (i = 0; i < ROUNDS; i++) {
		ck_assert_int_eq(at_get(&d, i % 2, "alice", "pw",
		    "/inbox?wait=0", &r), 200);
		response_free(&r);
	}
	/* Each pop is done once its delivery is acknowledged. */
	wait_metric(&d, "inboxd_messages_delivered_total", delivered + ROUNDS,
	    5000);
	monitor_mark(&d, "polls");
	monitor_tally(mon, "polls", &raw);
	tally_minus(&raw, &bg, &pops);

	e3 = cmdstat(&d, "fcall");
	for (i = 0; i < ROUNDS; i++)
		ck_assert_int_eq(at_get(&d, i % 2, "alice", "pw",
		    "/inbox?wait=0", NULL), 204);
	monitor_mark(&d, "trips");
	monitor_tally(mon, "trips", &raw);
	tally_minus(&raw, &bg, &polls);

	/* A GET held on one node, woken by a send through the other: the
	 * GET, the send, the pop on the waiter's behalf, its
	 * acknowledgement. */
	delivered = metric(&d, "inboxd_messages_delivered_total");
	for (i = 0; i < TRIPS; i++) {
		fd = client_send(port_of(&d, i % 2), "GET", "/inbox?wait=10",
		    "alice", "pw", NULL, NULL, 0);
		ck_assert_int_ne(fd, -1);
		/* Held by now, or else it pops the message at once: one
		 * script fewer, and the count below allows for that. */
		ck_assert(client_quiet(fd, 100));
		ck_assert_int_eq(at_send(&d, (i + 1) % 2, "bob", "alice", "w", 1,
		    NULL), 204);
		ck_assert_int_eq(answer(fd, 3000, &r), 200);
		response_free(&r);
	}
	wait_metric(&d, "inboxd_messages_delivered_total", delivered + TRIPS,
	    5000);
	monitor_mark(&d, "end");
	monitor_tally(mon, "end", &raw);
	tally_minus(&raw, &bg, &trips);
	close(mon);

	tally_text(&bg, text, sizeof(text));
	printf("Redis commands of the nodes with no request (heartbeats) "
	    "and for /metrics, left out below: %s\n", text);
	tally_text(&sends, text, sizeof(text));
	printf("%d sends: %s\n", ROUNDS, text);
	tally_text(&pops, text, sizeof(text));
	printf("%d pops of a message: %s\n", ROUNDS, text);
	tally_text(&polls, text, sizeof(text));
	printf("%d empty polls: %s\n", ROUNDS, text);
	tally_text(&trips, text, sizeof(text));
	printf("%d GETs held on one node, woken through the other: %s\n",
	    TRIPS, text);
	printf("FCALL per request: send %.2f, pop %.2f, empty poll %.2f, "
	    "held GET woken across nodes (GET and send together) %.2f; INFO "
	    "commandstats, heartbeats included: send %.2f, pop %.2f\n",
	    (double)tally_fcall(&sends) / ROUNDS,
	    (double)tally_fcall(&pops) / ROUNDS,
	    (double)tally_fcall(&polls) / ROUNDS,
	    (double)tally_fcall(&trips) / TRIPS,
	    (double)(e1 - e0) / ROUNDS, (double)(e3 - e2) / ROUNDS);

	/* One round trip, one script, per send and per empty poll, and no
	 * other command. */
	n = tally_top(&sends, ROUNDS / 2, &kinds, &stray);
	ck_assert_msg(n == ROUNDS && kinds == 1 && stray <= 2, "%d sends "
	    "were not %d FCALL of one function", ROUNDS, ROUNDS);
	n = tally_top(&polls, ROUNDS / 2, &kinds, &stray);
	ck_assert_msg(n == ROUNDS && kinds == 1 && stray <= 2, "%d empty "
	    "polls were not %d FCALL of one function", ROUNDS, ROUNDS);
	/* A pop: one script in the request, and the deletion of the
	 * in-flight copy once the response is out (SPEC section 8). */
	n = tally_top(&pops, ROUNDS / 2, &kinds, &stray);
	ck_assert_msg(n >= ROUNDS && n <= 2 * ROUNDS && kinds <= 2 &&
	    stray <= 2, "%d pops: %ld calls of %d commands", ROUNDS, n, kinds);
	/* A held GET woken across nodes: four at most (above). */
	n = tally_top(&trips, TRIPS / 2, &kinds, &stray);
	ck_assert_msg(n <= 4 * TRIPS && kinds <= 4 && stray <= 2, "%d held "
	    "GETs woken across nodes: %ld calls of %d commands", TRIPS, n,
	    kinds);
	/* commandstats agrees: the sends, and no FCALL that MONITOR did
	 * not see around them (heartbeats and walks that fell in). */
	ck_assert_msg(e1 - e0 >= ROUNDS && e1 - e0 <= window, "INFO "
	    "commandstats: %lld FCALL for %d sends, %ld seen by MONITOR",
	    e1 - e0, ROUNDS, window);
	stop(&d);
}
END_TEST

/* -------------------------------------------------- across the nodes */

START_TEST(test_held_get_on_one_node_is_woken_by_a_send_through_the_other)
{
	struct inboxd d;
	struct response r;
	long t0, ms[2];
	int fd, i;

	start_cluster(&d, "", 0);
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "bob", "pw");
	for (i = 0; i < 2; i++) {
		fd = at_hold(&d, i, "alice", 10, 1);
		t0 = client_now_ms();
		ck_assert_int_eq(at_send(&d, 1 - i, "bob", "alice", "wake", 4,
		    NULL), 204);
		ck_assert_msg(answer(fd, 3000, &r) == 200, "a GET held on "
		    "node-%d: %d after a send through node-%d", i + 1, r.status,
		    2 - i);
		ms[i] = client_now_ms() - t0;
		ck_assert_uint_eq(r.body_len, 4);
		ck_assert(memcmp(r.body, "wake", 4) == 0);
		ck_assert_str_eq(response_header(&r, "X-From"), "bob");
		ck_assert_ptr_nonnull(response_header(&r, "X-Message-Id"));
		response_free(&r);
		ck_assert_msg(ms[i] < 1000, "woken %ld ms after the send",
		    ms[i]);
		wait_metric(&d, "inboxd_waiters", 0, 3000);
	}
	printf("held GET woken across nodes: %ld ms (on node-1), %ld ms (on "
	    "node-2) after the send's answer\n", ms[0], ms[1]);
	ck_assert_int_eq(at_get(&d, A, "alice", "pw", "/inbox?wait=0", NULL),
	    204);
	stop(&d);
}
END_TEST

START_TEST(test_get_on_one_node_displaces_a_get_held_on_the_other)
{
	struct inboxd d;
	struct response r;
	long t0;
	int first, second;

	start_cluster(&d, "", 0);
	at_contact(&d, A, "alice", "pw");
	first = at_hold(&d, A, "alice", 10, 1);
	t0 = client_now_ms();
	second = client_send(port_of(&d, B), "GET", "/inbox?wait=10", "alice",
	    "pw", NULL, NULL, 0);
	ck_assert_int_ne(second, -1);
	ck_assert_msg(answer(first, 3000, &r) == 204, "the GET held on "
	    "node-1: %d, expected 204 once node-2 holds a newer one",
	    r.status);
	response_free(&r);
	ck_assert_msg(client_now_ms() - t0 < 1000, "displaced after %ld ms",
	    client_now_ms() - t0);
	wait_metric(&d, "inboxd_waiters", 1, 3000);
	ck_assert_msg(client_quiet(second, 200), "the newer GET was answered");
	/* The newer one gets the next message, sent through node-1. */
	ck_assert_int_eq(at_send(&d, A, "bob", "alice", "yours", 5, NULL),
	    204);
	ck_assert_int_eq(answer(second, 3000, &r), 200);
	ck_assert_uint_eq(r.body_len, 5);
	ck_assert(memcmp(r.body, "yours", 5) == 0);
	response_free(&r);
	stop(&d);
}
END_TEST

#define RACE_ROUNDS 100

/* A send that races a new GET on the other node is never missed: the
 * GET answers it at once or is woken by it, never runs out. */
START_TEST(test_send_racing_a_get_on_the_other_node_is_never_missed)
{
	struct inboxd d;
	struct response r;
	char body[32];
	int i, fd, on;

	start_cluster(&d, "", 0);
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "bob", "pw");
	for (i = 0; i < RACE_ROUNDS; i++) {
		on = i % 2;
		snprintf(body, sizeof(body), "race %d", i);
		fd = client_send(port_of(&d, on), "GET", "/inbox?wait=5",
		    "alice", "pw", NULL, NULL, 0);
		ck_assert_int_ne(fd, -1);
		ck_assert_int_eq(at_send(&d, 1 - on, "bob", "alice", body,
		    strlen(body), NULL), 204);
		ck_assert_msg(answer(fd, 2500, &r) == 200, "round %d: the GET "
		    "on node-%d missed the send through node-%d (%d)", i,
		    on + 1, 2 - on, r.status);
		ck_assert_uint_eq(r.body_len, strlen(body));
		ck_assert(memcmp(r.body, body, r.body_len) == 0);
		response_free(&r);
	}
	ck_assert_int_eq(at_get(&d, A, "alice", "pw", "/inbox?wait=0", NULL),
	    204);
	stop(&d);
}
END_TEST

/* PINs, rooms and message ids are the cluster's, not a node's. */
/* The fields of inbox name's hash in Redis, one a line (HKEYS), sorted by
 * the test's expectation: the reply as redis_cmd gives it, malloc'd. */
static char *
inbox_fields(struct inboxd *d, const char *name)
{
	char key[300];
	char *v;

	snprintf(key, sizeof(key), "inboxd:{%s}:i", name);
	v = redis_cmd(&d->cluster->redis, "HKEYS", key, (char *)NULL);
	ck_assert_ptr_nonnull(v);
	return v;
}

/* Whether inbox name is in its slot's expiry index, inboxd:{TAG}:x
 * (src/lua/common.lua) as member i NAME. */
static int
indexed(struct inboxd *d, const char *name)
{
	char key[300], index[64], member[300], *v;
	int yes;

	snprintf(key, sizeof(key), "inboxd:{%s}:i", name);
	snprintf(index, sizeof(index), "inboxd:{%s}:x",
	    redis_slot_tag(redis_slot_of(key, strlen(key))));
	snprintf(member, sizeof(member), "i%s", name);
	v = redis_cmd(&d->cluster->redis, "ZSCORE", index, member,
	    (char *)NULL);

	ck_assert_ptr_nonnull(v);
	yes = strcmp(v, "(nil)") != 0;
	free(v);
	return yes;
}

/* Assert that key SUFFIX of inbox name expires when its hash does. */
static void
assert_same_expiry(struct inboxd *d, const char *name, char suffix)
{
	char key[300], other[300], *a, *b;

	snprintf(key, sizeof(key), "inboxd:{%s}:i", name);
	snprintf(other, sizeof(other), "inboxd:{%s}:%c", name, suffix);
	a = redis_cmd(&d->cluster->redis, "PEXPIRETIME", key, (char *)NULL);
	b = redis_cmd(&d->cluster->redis, "PEXPIRETIME", other, (char *)NULL);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_msg(strcmp(a, b) == 0 && a[0] == ':' && atol(a + 1) > 0,
	    "%s expires at %s, %s at %s", key, a, other, b);
	free(a);
	free(b);
}

/* Assert that inbox name is plain (common.lua, Expiry): its hash alone,
 * holding only its credential and, once it was sent a message, its last
 * message id (common.lua, Ids), with a TTL of at most inbox-timeout
 * (it_ms) and the slack of a node's refresh (REFRESH_MS, redis_impl.h), and
 * not in the expiry index. */
static void
assert_plain(struct inboxd *d, const char *name, long it_ms)
{
	char key[300], *v;
	long ttl;

	v = inbox_fields(d, name);
	ck_assert_msg(strcmp(v, "k") == 0 || strcmp(v, "k\ns") == 0, "the hash "
	    "of plain inbox %s has fields \"%s\", expected only k and s",
	    name, v);
	free(v);
	ck_assert_msg(!indexed(d, name), "plain inbox %s is in its slot's "
	    "expiry index", name);
	snprintf(key, sizeof(key), "inboxd:{%s}:i", name);
	v = redis_cmd(&d->cluster->redis, "PTTL", key, (char *)NULL);
	ck_assert_ptr_nonnull(v);
	ttl = atol(v + 1);
	ck_assert_msg(v[0] == ':' && ttl > 0 && ttl <= it_ms + 1000, "PTTL "
	    "of plain inbox %s: %s, expected 1..%ld", name, v, it_ms + 1000);
	free(v);
}

/* The data model behind the memory figures of SPEC section 8: an idle
 * inbox is one small hash that Redis expires by its TTL, counted but not
 * indexed; a message makes it indexed, and it is plain again once the
 * message is delivered; a held GET leaves it plain.  Its expiry still
 * counts as the in-memory store's does, and an indexed one's (a PIN, a
 * room) goes with what it held. */
START_TEST(test_idle_inbox_is_one_hash_expired_by_its_ttl)
{
	static const char room[] = "{\"name\":\"den\",\"password\":\"s\"}";
	struct inboxd d;
	struct response r;
	char *v;
	int fd;

	start_cluster(&d, "inbox-timeout 2\n", 0);
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "bob", "pw");
	assert_plain(&d, "alice", 2000);
	assert_plain(&d, "bob", 2000);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 2);

	/* A message leaves it plain: its count, bytes and last message id
	 * beside the credential, its queue expiring with it. */
	ck_assert_int_eq(at_send(&d, B, "bob", "alice", "hi", 2, NULL), 204);
	ck_assert(!indexed(&d, "alice"));
	v = inbox_fields(&d, "alice");
	ck_assert_msg(strstr(v, "x") == NULL && strstr(v, "n") != NULL,
	    "plain inbox alice with a message: fields \"%s\"", v);
	free(v);
	assert_same_expiry(&d, "alice", 'q');
	assert_plain(&d, "bob", 2000);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 2);
	ck_assert_int_eq(at_get(&d, A, "alice", "pw", "/inbox?wait=0", &r),
	    200);
	response_free(&r);
	wait_node_metric(&d, A, "inboxd_messages_delivered_total", 1, 5000);
	assert_plain(&d, "alice", 2000);

	/* Held and timed out: plain throughout, its hash as it was. */
	fd = at_hold(&d, B, "alice", 1, 1);
	ck_assert(!indexed(&d, "alice"));
	ck_assert_int_eq(answer(fd, 3000, &r), 204);
	response_free(&r);
	wait_metric(&d, "inboxd_waiters", 0, 5000);
	assert_plain(&d, "alice", 2000);

	/* A PIN leaves it plain: the inbox's p is what makes the code
	 * live, and goes with it. */
	ck_assert_int_eq(at(&d, A, "POST", "/pin", "bob", "pw", NULL, NULL, 0,
	    &r), 201);
	response_free(&r);
	ck_assert(!indexed(&d, "bob"));
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 1);

	/* So do a room made and a room joined. */
	at_contact(&d, B, "carol", "pw");
	at_contact(&d, A, "dave", "pw");
	ck_assert_int_eq(at(&d, B, "POST", "/rooms", "carol", "pw",
	    "Content-Type: application/json\r\n", room, strlen(room), &r),
	    201);
	response_free(&r);
	ck_assert(indexed(&d, "carol"));
	ck_assert_int_eq(at(&d, A, "POST", "/rooms/den/members", "dave", "pw",
	    "X-Room-Token: s\r\n", NULL, 0, &r), 200);
	response_free(&r);
	ck_assert(indexed(&d, "dave"));

	/* Gone, alice and bob (and his PIN) with their TTLs, carol and dave
	 * reaped with their room, and counted out within a tick or so. */
	wait_metric(&d, "inboxd_inboxes", 0, 4000);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes_expired_total"), 4);
	ck_assert_int_eq(metric(&d, "inboxd_memory_bytes"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_pins"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	ck_assert_int_eq(metric(&d, "inboxd_room_members"), 0);
	v = redis_cmd(&d.cluster->redis, "EXISTS", "inboxd:{alice}:i",
	    "inboxd:{bob}:i", "inboxd:{carol}:i", "inboxd:{dave}:i",
	    (char *)NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, ":0");
	free(v);
	stop(&d);
}
END_TEST

START_TEST(test_pin_and_room_made_on_one_node_work_on_the_other)
{
	static const char room[] = "{\"name\":\"lobby\",\"password\":\"s\"}";
	struct inboxd d;
	struct response r;
	char pin[16], extra[128], *p;
	int fd;

	start_cluster(&d, "", 0);
	at_contact(&d, A, "alice", "pw");
	at_contact(&d, B, "bob", "pw");
	ck_assert_int_eq(at(&d, A, "POST", "/pin", "alice", "pw", NULL, NULL,
	    0, &r), 201);
	p = strstr(r.body, "\"pin\":\"");
	ck_assert_ptr_nonnull(p);
	snprintf(pin, sizeof(pin), "%.*s", (int)strcspn(p + 7, "\""), p + 7);
	response_free(&r);
	snprintf(extra, sizeof(extra), "X-PIN: %s\r\n", pin);
	ck_assert_int_eq(at(&d, B, "POST", "/inbox", "bob", "pw", extra, "hi",
	    2, &r), 204);
	ck_assert_str_eq(response_header(&r, "X-To"), "alice");
	response_free(&r);
	ck_assert_int_eq(at(&d, A, "POST", "/inbox", "bob", "pw", extra, "hi",
	    2, &r), 404);
	response_free(&r);
	ck_assert_int_eq(at_get(&d, B, "alice", "pw", "/inbox?wait=0", &r),
	    200);
	response_free(&r);
	/* A room made on node-1, joined on node-2, its fan-out waking a GET
	 * held on node-1. */
	ck_assert_int_eq(at(&d, A, "POST", "/rooms", "alice", "pw",
	    "Content-Type: application/json\r\n", room, strlen(room), &r),
	    201);
	response_free(&r);
	ck_assert_int_eq(at(&d, B, "POST", "/rooms/lobby/members", "bob", "pw",
	    "X-Room-Token: s\r\n", NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "[\"alice\",\"bob\"]"));
	response_free(&r);
	ck_assert_int_eq(at(&d, B, "GET", "/rooms/lobby", "alice", "pw", NULL,
	    NULL, 0, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "[\"alice\",\"bob\"]"));
	response_free(&r);
	/* The joined event, queued on node-2's side, popped on node-1. */
	ck_assert_int_eq(at_get(&d, A, "alice", "pw", "/inbox?wait=0", &r),
	    200);
	ck_assert_str_eq(response_header(&r, "X-Event"), "joined");
	response_free(&r);
	fd = at_hold(&d, A, "alice", 10, 1);
	ck_assert_int_eq(at(&d, B, "POST", "/inbox?room=lobby", "bob", "pw",
	    NULL, "to all", 6, &r), 200);
	response_free(&r);
	ck_assert_int_eq(answer(fd, 3000, &r), 200);
	ck_assert_str_eq(response_header(&r, "X-Room"), "lobby");
	ck_assert_uint_eq(r.body_len, 6);
	response_free(&r);
	stop(&d);
}
END_TEST

/* ---------------------------------------------------------- nginx */

#define PORT_LOW 20000 /* nginx's port: below the ephemeral range */
#define PORT_HIGH 32767

struct nginx {
	pid_t pid;
	unsigned port;
	char dir[256];
	char conf[300];
	char error_log[300];
};

/* The shipped etc/nginx/inboxd-cluster.conf. */
static char *
cluster_conf_text(void)
{
	const char *etc = getenv("ETCDIR");
	char path[512], *text;

	snprintf(path, sizeof(path), "%s/nginx/inboxd-cluster.conf",
	    etc != NULL ? etc : "etc");
	text = read_file(path, NULL);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	return text;
}

/* The value of the first `name VALUE;' line of text, in seconds (s) or
 * bytes (k, m). */
static unsigned long
directive(const char *text, const char *name)
{
	const char *p = text;
	size_t len = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		const char *bol = p;
		char *end;
		unsigned long v;

		while (bol > text && (bol[-1] == ' ' || bol[-1] == '\t'))
			bol--;
		if ((bol == text || bol[-1] == '\n') && p[len] == ' ') {
			v = strtoul(p + len + 1, &end, 10);
			if (*end == 'k')
				v *= 1024;
			else if (*end == 'm')
				v *= 1024 * 1024;
			return v;
		}
		p += len;
	}
	ck_abort_msg("etc/nginx/inboxd-cluster.conf has no %s", name);
	return 0;
}

static void
put(char **out, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(k, 0);
	p = realloc(*out, *len + (size_t)k + 1);
	ck_assert_ptr_nonnull(p);
	*out = p;
	va_start(ap, fmt);
	vsnprintf(*out + *len, (size_t)k + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)k;
}

/*
 * The shipped file for this test: its upstream's server lines name the
 * nodes in turn (what follows the address, such as max_fails, is kept),
 * the first listen line is 127.0.0.1:port (other listen lines and every
 * ssl_ line go), the logs go to the test's directory; every other line
 * is kept as it ships.
 */
static char *
nginx_site(const struct nginx *n, struct inboxd *d)
{
	char *text = cluster_conf_text(), *line, *next, *out = NULL;
	size_t len = 0;
	int servers = 0, listens = 0;

	for (line = text; *line != '\0'; line = next) {
		const char *t = line;
		size_t indent;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		while (*t == ' ' || *t == '\t')
			t++;
		indent = (size_t)(t - line);
		if (strncmp(t, "server ", 7) == 0 && t[7] != '{') {
			const char *rest = t + 7 + strcspn(t + 7, " ;");

			ck_assert_msg(servers < CLUSTER_NODES, "more than %d "
			    "upstream servers in inboxd-cluster.conf",
			    CLUSTER_NODES);
			put(&out, &len, "%.*sserver 127.0.0.1:%u%s\n",
			    (int)indent, line, port_of(d, servers++), rest);
		} else if (strncmp(t, "listen ", 7) == 0) {
			if (listens++ == 0)
				put(&out, &len, "%.*slisten 127.0.0.1:%u;\n",
				    (int)indent, line, n->port);
		} else if (strncmp(t, "ssl_", 4) == 0)
			continue;
		else if (strncmp(t, "access_log ", 11) == 0)
			put(&out, &len, "%.*saccess_log %s/access.log;\n",
			    (int)indent, line, n->dir);
		else if (strncmp(t, "error_log ", 10) == 0)
			put(&out, &len, "%.*serror_log %s info;\n",
			    (int)indent, line, n->error_log);
		else
			put(&out, &len, "%s\n", line);
	}
	free(text);
	ck_assert_msg(servers == CLUSTER_NODES && listens >= 1, "etc/nginx/"
	    "inboxd-cluster.conf: expected %d upstream `server ADDRESS' lines "
	    "and a listen line, found %d and %d", CLUSTER_NODES, servers,
	    listens);
	return out;
}

/* A port below the ephemeral range that nothing listens on now. */
static unsigned
free_port(void)
{
	static unsigned next;
	struct sockaddr_in sin;
	unsigned tries;

	if (next == 0)
		next = PORT_LOW + (unsigned)getpid() % (PORT_HIGH - PORT_LOW);
	for (tries = 0; tries < PORT_HIGH - PORT_LOW; tries++) {
		unsigned port = next;
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		next = next >= PORT_HIGH ? PORT_LOW : next + 1;
		ck_assert_int_ne(fd, -1);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	ck_abort_msg("no free port from %d to %d", PORT_LOW, PORT_HIGH);
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Fork and exec nginx on n->conf: 0 once it accepts, -1 if it exited. */
static int
nginx_spawn(struct nginx *n)
{
	const char *bin = getenv("NGINX");
	char prefix[300], out[300];
	pid_t parent = getpid();
	long deadline;

	if (bin == NULL || *bin == '\0')
		bin = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" :
		    "nginx";
	snprintf(prefix, sizeof(prefix), "%s/", n->dir);
	snprintf(out, sizeof(out), "%s/nginx.out", n->dir);
	ck_assert_int_ne(n->pid = fork(), -1);
	if (n->pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execlp(bin, "nginx", "-p", prefix, "-c", n->conf, "-e",
		    n->error_log, (char *)NULL);
		dprintf(fd, "cannot run %s (the Debian package nginx, or set "
		    "NGINX): %s\n", bin, strerror(errno));
		_exit(127);
	}
	deadline = client_now_ms() + 10000;
	while (client_now_ms() < deadline) {
		int fd;

		if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
			n->pid = 0;
			return -1;
		}
		if ((fd = client_connect(n->port)) != -1) {
			close(fd);
			return 0;
		}
		sleep_ms(10);
	}
	kill(n->pid, SIGKILL);
	waitpid(n->pid, NULL, 0);
	n->pid = 0;
	return -1;
}

/* nginx with the shipped cluster file in front of d's two nodes. */
static void
nginx_start(struct nginx *n, struct inboxd *d)
{
	char out[300], *site, *text;
	int attempt;
	FILE *f;

	memset(n, 0, sizeof(*n));
	strcpy(n->dir, "/tmp/inboxd-nginx-XXXXXX");
	ck_assert_msg(mkdtemp(n->dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(n->conf, sizeof(n->conf), "%s/nginx.conf", n->dir);
	snprintf(n->error_log, sizeof(n->error_log), "%s/error.log", n->dir);
	for (attempt = 0; attempt < 5; attempt++) {
		n->port = free_port();
		site = nginx_site(n, d);
		ck_assert_ptr_nonnull(f = fopen(n->conf, "w"));
		fprintf(f, "daemon off;\nmaster_process off;\n"
		    "worker_processes 1;\npid %s/nginx.pid;\n"
		    "error_log %s info;\nevents {\n\tworker_connections 256;\n"
		    "}\nhttp {\n\taccess_log %s/access.log;\n", n->dir,
		    n->error_log, n->dir);
		fprintf(f, "\tclient_body_temp_path %s/client_body;\n"
		    "\tproxy_temp_path %s/proxy;\n"
		    "\tfastcgi_temp_path %s/fastcgi;\n"
		    "\tuwsgi_temp_path %s/uwsgi;\n\tscgi_temp_path %s/scgi;\n",
		    n->dir, n->dir, n->dir, n->dir, n->dir);
		fprintf(f, "# ---- etc/nginx/inboxd-cluster.conf\n%s# ---- end\n"
		    "}\n", site);
		fclose(f);
		free(site);
		if (nginx_spawn(n) == 0)
			return;
		text = read_file(n->error_log, NULL);
		if (text == NULL || strstr(text, "Address already in use") ==
		    NULL) {
			snprintf(out, sizeof(out), "%s/nginx.out", n->dir);
			ck_abort_msg("nginx did not start (%s):\n%s%s", n->conf,
			    text ? text : "", read_file(out, NULL));
		}
		free(text);
	}
	ck_abort_msg("nginx: no free port after %d attempts", attempt);
}

/* Stop nginx: it must exit 0, and unless errors are expected (a node
 * was killed), log nothing at level error or worse. */
static void
nginx_stop(struct nginx *n, int errors_expected)
{
	long deadline = client_now_ms() + 5000;
	int status = 0;
	pid_t p = 0;
	char *log;

	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		while ((p = waitpid(n->pid, &status, WNOHANG)) == 0 &&
		    client_now_ms() < deadline)
			sleep_ms(10);
		if (p != n->pid) {
			kill(n->pid, SIGKILL);
			waitpid(n->pid, NULL, 0);
		}
		n->pid = 0;
	}
	log = read_file(n->error_log, NULL);
	if (log == NULL)
		log = strdup("");
	ck_assert_msg(p > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "nginx did not exit 0 after SIGTERM:\n%s", log);
	ck_assert_msg(errors_expected || (strstr(log, "[error]") == NULL &&
	    strstr(log, "[crit]") == NULL && strstr(log, "[alert]") == NULL &&
	    strstr(log, "[emerg]") == NULL), "nginx logged errors:\n%s", log);
	free(log);
	nftw(n->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* One request through nginx: the status, or -1. */
static int
via(struct nginx *n, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t len, struct response *r)
{
	return client_request(n->port, method, target, user, password, extra,
	    body, len, r);
}

/* A GET held through nginx, woken by a POST through nginx. */
static void
woken_through(struct nginx *n, const char *user, const char *body)
{
	struct response r;
	long t0;
	int fd;

	fd = client_send(n->port, "GET", "/inbox?wait=5", user, "pw", NULL,
	    NULL, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(client_quiet(fd, 300), "a GET on an empty inbox was "
	    "answered through nginx instead of held");
	t0 = client_now_ms();
	ck_assert_int_eq(via(n, "POST", "/inbox?to=alice", "bob", "pw",
	    "Content-Type: text/plain\r\n", body, strlen(body), NULL), 204);
	ck_assert_msg(answer(fd, 4000, &r) == 200, "held GET through nginx: "
	    "%d\n%s", r.status, r.head);
	ck_assert_uint_eq(r.body_len, strlen(body));
	ck_assert(memcmp(r.body, body, r.body_len) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	ck_assert_str_eq(response_header(&r, "Content-Type"), "text/plain");
	ck_assert_ptr_nonnull(response_header(&r, "X-Message-Id"));
	response_free(&r);
	ck_assert_msg(client_now_ms() - t0 < 1000, "woken through nginx %ld "
	    "ms after the send", client_now_ms() - t0);
}

/* The requests node has answered with 204 so far. */
static long long
answered_204(struct inboxd *d, int node)
{
	long long v = node_metric_from(port_of(d, node), NULL,
	    "inboxd_http_requests_total{code=\"204\"}");

	return v < 0 ? 0 : v;
}

START_TEST(test_shipped_cluster_conf_fits_inboxd_defaults)
{
	char *text = cluster_conf_text();
	struct config c;

	config_defaults(&c);
	/* A held poll is answered before nginx gives up on it. */
	ck_assert_uint_gt(directive(text, "proxy_read_timeout") * 1000,
	    c.max_wait_ms);
	ck_assert_uint_lt(directive(text, "keepalive_timeout") * 1000,
	    c.connection_timeout_ms);
	ck_assert_uint_gt(directive(text, "client_max_body_size"),
	    c.max_message_size);
	ck_assert_uint_ge(directive(text, "client_body_buffer_size"),
	    directive(text, "client_max_body_size"));
	ck_assert_msg(strstr(text, "proxy_buffering off;") != NULL,
	    "answers are not passed on at once (proxy_buffering off)");
	ck_assert_msg(strstr(text, "$proxy_add_x_forwarded_for") != NULL,
	    "no X-Forwarded-For");
	ck_assert_uint_gt(directive(text, "keepalive"), 0);
	config_free(&c);
	free(text);
}
END_TEST

START_TEST(test_nginx_in_front_of_two_nodes_on_one_redis)
{
	struct inboxd d;
	struct nginx n;
	struct response r;
	char *line, client[64];
	int i;

	/* Redis on a Unix socket here (redis-url unix:/PATH). */
	start_cluster(&d, "trusted-proxies 127.0.0.1\n", CLUSTER_REDIS_UNIX);
	nginx_start(&n, &d);
	/* First contacts, a send and a pop, all through nginx. */
	ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", "alice", "pw", NULL,
	    NULL, 0, NULL), 204);
	ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", "bob", "pw", NULL,
	    NULL, 0, NULL), 204);
	ck_assert_int_eq(via(&n, "POST", "/inbox?to=alice", "bob", "pw", NULL,
	    "hello", 5, NULL), 204);
	ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", "alice", "pw", NULL,
	    NULL, 0, &r), 200);
	ck_assert_uint_eq(r.body_len, 5);
	ck_assert(memcmp(r.body, "hello", 5) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	response_free(&r);
	ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", "alice", "wrong",
	    NULL, NULL, 0, &r), 401);
	assert_error(&r, 401, "unauthorized");
	response_free(&r);
	/* Held GETs woken, whichever node each request reached. */
	for (i = 0; i < 4; i++)
		woken_through(&n, "alice", i % 2 ? "odd" : "even");
	/* Both nodes served. */
	ck_assert_msg(answered_204(&d, A) > 0 && answered_204(&d, B) > 0,
	    "nginx sent every request to one node: %lld and %lld 204s",
	    answered_204(&d, A), answered_204(&d, B));
	/* /metrics is not forwarded; /healthz is. */
	ck_assert_int_eq(via(&n, "GET", "/metrics", NULL, NULL, NULL, NULL, 0,
	    &r), 404);
	ck_assert_ptr_null(strstr(r.body, "# TYPE"));
	response_free(&r);
	ck_assert_int_eq(via(&n, "GET", "/healthz", NULL, NULL, NULL, NULL, 0,
	    NULL), 200);
	/* The client's address reaches the node in X-Forwarded-For. */
	ck_assert_int_eq(client_request_from(n.port, OTHER, "GET",
	    "/inbox?wait=0", "forwarded", "pw", NULL, NULL, 0, NULL), 204);
	line = inboxd_log_line(&d, " \"forwarded\"", 3000);
	ck_assert_msg(line != NULL, "no access log line for forwarded");
	ck_assert_int_eq(sscanf(line, "%*s %63s", client), 1);
	free(line);
	ck_assert_str_eq(client, OTHER);
	nginx_stop(&n, 0);
	stop(&d);
}
END_TEST

START_TEST(test_nginx_carries_on_when_a_node_dies)
{
	struct inboxd d;
	struct nginx n;
	struct response r;
	char name[16];
	int i;

	start_cluster(&d, LEASE_CONF, 0);
	nginx_start(&n, &d);
	ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", "alice", "pw", NULL,
	    NULL, 0, NULL), 204);
	ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", "bob", "pw", NULL,
	    NULL, 0, NULL), 204);
	ck_assert_int_eq(inboxd_kill(&d.cluster->node[A], SIGKILL), -1);
	/* Every request still answered, first contacts and sends too. */
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "late%d", i);
		ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", name, "pw",
		    NULL, NULL, 0, NULL), 204);
		ck_assert_int_eq(via(&n, "POST", "/inbox?to=alice", name, "pw",
		    NULL, name, strlen(name), NULL), 204);
	}
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "late%d", i);
		ck_assert_int_eq(via(&n, "GET", "/inbox?wait=0", "alice", "pw",
		    NULL, NULL, 0, &r), 200);
		ck_assert_str_eq(response_header(&r, "X-From"), name);
		response_free(&r);
	}
	woken_through(&n, "alice", "still here");
	nginx_stop(&n, 1);
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *
cluster_suite(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc;

	tc = tcase(s, "node_failure", 60);
	tcase_add_test(tc,
	    test_kill_9_of_a_node_loses_nothing_and_duplicates_nothing);
	tcase_add_test(tc,
	    test_node_restarted_under_its_id_gives_back_what_it_had_in_flight);
	tcase_add_test(tc, test_slow_client_on_a_live_node_causes_no_second_copy);

	tc = tcase(s, "credentials", 30);
	tcase_add_test(tc,
	    test_inbox_created_again_elsewhere_refuses_the_old_password);
	tcase_add_test(tc,
	    test_inbox_created_again_with_the_same_password_is_taken_everywhere);
	tcase_add_test(tc,
	    test_racing_first_contacts_on_two_nodes_exactly_one_wins);
	tcase_add_test(tc, test_failures_spread_over_nodes_count_together);

	tc = tcase(s, "redis_outage", 60);
	tcase_add_test(tc, test_redis_killed_and_restarted_under_traffic);
	tcase_add_test(tc,
	    test_queued_messages_survive_a_redis_restart_with_persistence);

	tc = tcase(s, "round_trips", 30);
	tcase_add_test(tc, test_hot_paths_are_one_fcall_each);

	tc = tcase(s, "across_nodes", 30);
	tcase_add_test(tc,
	    test_held_get_on_one_node_is_woken_by_a_send_through_the_other);
	tcase_add_test(tc,
	    test_get_on_one_node_displaces_a_get_held_on_the_other);
	tcase_add_test(tc,
	    test_send_racing_a_get_on_the_other_node_is_never_missed);
	tcase_add_test(tc, test_pin_and_room_made_on_one_node_work_on_the_other);
	tcase_add_test(tc, test_idle_inbox_is_one_hash_expired_by_its_ttl);

	tc = tcase(s, "nginx", 30);
	tcase_add_test(tc, test_shipped_cluster_conf_fits_inboxd_defaults);
	tcase_add_test(tc, test_nginx_in_front_of_two_nodes_on_one_redis);
	tcase_add_test(tc, test_nginx_carries_on_when_a_node_dies);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(cluster_suite());
}
