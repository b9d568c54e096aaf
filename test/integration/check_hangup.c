/*
 * check_hangup.c - held GETs whose clients hang up are released at once
 * (watch.h): their sockets closed, their addresses' connection counts
 * given back, their inboxes no longer held, and nothing lost.
 *
 * The clients come from four loopback addresses, 250 each, under the
 * default per-ip-connection-limit of 256, so that an address whose closed
 * connections were still counted would be refused.  Half close with a
 * FIN, half with a reset.  In cluster mode (INBOXD_CLUSTER=1) the GETs
 * are spread over both nodes.  Every wait is bounded.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define ADDRS 4
#define PER_ADDR 250
#define HELD (ADDRS * PER_ADDR)
#define RELEASE_MS 1000 /* a hang-up ends its hold within this */

/* Cheap hashes: a thousand first contacts, not a benchmark of Argon2id. */
#define CONF "argon2-time-cost 1\nargon2-memory-kib 8\n"

/* The sockets of the daemon, or of every node. */
static int
daemon_sockets(struct inboxd *d)
{
	int i, n = 0;

	if (d->cluster == NULL)
		return process_sockets(d->pid);
	for (i = 0; i < CLUSTER_NODES; i++)
		n += process_sockets(d->cluster->node[i].pid);
	return n;
}

/* The port of the daemon, or of node k % nodes. */
static unsigned
port_of(struct inboxd *d, int k)
{
	return d->cluster == NULL ? d->port :
	    d->cluster->node[k % CLUSTER_NODES].port;
}

static void
name_of(int k, char *buf, size_t len)
{
	snprintf(buf, len, "h%d-%d", k / PER_ADDR, k % PER_ADDR);
}

static void
address_of(int k, char *buf, size_t len)
{
	snprintf(buf, len, "127.0.0.%d", 1 + k / PER_ADDR);
}

/* Enough descriptors for a thousand clients here and in the daemon. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 4 * HELD) {
		rl.rlim_cur = rl.rlim_max < 4 * HELD ? rl.rlim_max : 4 * HELD;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	ck_assert_msg(rl.rlim_cur >= 3 * HELD, "RLIMIT_NOFILE is %llu",
	    (unsigned long long)rl.rlim_cur);
}

START_TEST(test_hung_up_holds_are_released_at_once)
{
	static int fd[HELD];
	struct inboxd d;
	struct response r;
	char name[32], src[16], *q;
	long t0, took;
	int k, base, n, status;
	size_t len;

	raise_nofile();
	start(&d, CONF);
	for (k = 0; k < HELD; k++) {
		name_of(k, name, sizeof(name));
		address_of(k, src, sizeof(src));
		status = client_request_from(port_of(&d, k), src, "GET",
		    "/inbox?wait=0", name, "pw", NULL, NULL, 0, NULL);
		ck_assert_msg(status == 204, "first contact of %s: %d", name,
		    status);
	}
	wait_metric(&d, "inboxd_waiters", 0, 5000);
	base = daemon_sockets(&d);

	for (k = 0; k < HELD; k++) {
		name_of(k, name, sizeof(name));
		address_of(k, src, sizeof(src));
		fd[k] = client_connect_from(port_of(&d, k), src);
		ck_assert_msg(fd[k] >= 0, "connect %d from %s", k, src);
		q = client_build("GET", "/inbox?wait=60", name, "pw", NULL,
		    NULL, 0, &len);
		ck_assert_ptr_nonnull(q);
		ck_assert_int_eq(client_write(fd[k], q, len), 0);
		free(q);
	}
	wait_metric(&d, "inboxd_waiters", HELD, 10000);
	/* (base may count a few connections of the contacts still closing) */
	ck_assert_int_ge(daemon_sockets(&d), base + HELD - 16);

	/* Half hang up with a FIN, half with a reset. */
	t0 = client_now_ms();
	for (k = 0; k < HELD; k++) {
		if (k % 2)
			client_abort(fd[k]);
		else
			close(fd[k]);
	}
	while ((n = daemon_sockets(&d)) > base &&
	    client_now_ms() - t0 < RELEASE_MS)
		sleep_ms(10);
	took = client_now_ms() - t0;
	ck_assert_msg(n <= base, "%d of %d sockets still open %ld ms after "
	    "their clients hung up", n - base, HELD, took);
	wait_metric(&d, "inboxd_waiters", 0, RELEASE_MS);
	printf("%d held GETs hung up (half FIN, half RST): sockets closed "
	    "within %ld ms\n", HELD, took);
	ck_assert_int_eq(metric(&d, "inboxd_held_hangups_total"), HELD);

	/* Every address is served again at once... */
	for (k = 0; k < HELD; k += PER_ADDR) {
		address_of(k, src, sizeof(src));
		status = client_request_from(port_of(&d, k), src, "GET",
		    "/healthz", NULL, NULL, NULL, NULL, 0, NULL);
		ck_assert_msg(status == 200, "/healthz from %s: %d", src,
		    status);
	}
	/* ...and nothing was lost or doubled: a message to each inbox is
	 * popped once. */
	for (k = 0; k < HELD; k++) {
		name_of(k, name, sizeof(name));
		ck_assert_int_eq(send_to(&d, "sender", "pw", name, NULL, name,
		    strlen(name), NULL), 204);
	}
	for (k = 0; k < HELD; k++) {
		name_of(k, name, sizeof(name));
		ck_assert_int_eq(get(&d, name, "pw", "/inbox?wait=0", &r), 200);
		ck_assert_msg(r.body_len == strlen(name) &&
		    memcmp(r.body, name, r.body_len) == 0, "%s popped %.*s",
		    name, (int)r.body_len, r.body);
		response_free(&r);
		ck_assert_int_eq(get(&d, name, "pw", "/inbox?wait=0", NULL),
		    204);
	}
	stop(&d);
}
END_TEST

/*
 * A message sent as its GET's client hangs up is not lost: handed to the
 * dying request, it goes back to the inbox (SPEC section 3).
 */
START_TEST(test_message_racing_a_hang_up_is_kept)
{
	struct inboxd d;
	struct response r;
	char *q;
	size_t len;
	int fd, i, got;

	start(&d, CONF);
	contact(&d, "racer", "pw");
	for (i = 0; i < 50; i++) {
		fd = client_connect(port_of(&d, i));
		ck_assert_int_ge(fd, 0);
		q = client_build("GET", "/inbox?wait=60", "racer", "pw", NULL,
		    NULL, 0, &len);
		ck_assert_int_eq(client_write(fd, q, len), 0);
		free(q);
		wait_metric(&d, "inboxd_waiters", 1, 5000);
		client_abort(fd);
		ck_assert_int_eq(send_to(&d, "sender", "pw", "racer", NULL,
		    "m", 1, NULL), 204);
		got = get(&d, "racer", "pw", "/inbox?wait=5", &r);
		ck_assert_msg(got == 200, "round %d: the message is gone (%d)",
		    i, got);
		response_free(&r);
		wait_metric(&d, "inboxd_waiters", 0, RELEASE_MS);
	}
	ck_assert_int_eq(get(&d, "racer", "pw", "/inbox?wait=0", NULL), 204);
	stop(&d);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("hangup");
	TCase *t = tcase(s, "hangup", 120);

	tcase_add_test(t, test_hung_up_holds_are_released_at_once);
	tcase_add_test(t, test_message_racing_a_hang_up_is_kept);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(suite());
}
