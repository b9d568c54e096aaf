/*
 * check_peer.c - per-address connection counts and failure windows, with
 * time passed in.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "peer.h"

#define TICK 100

static struct peers *p;
static struct peer_limits lim;

static struct addr
A(const char *s)
{
	struct addr a;

	ck_assert_int_eq(addr_parse(s, strlen(s), &a), 0);
	return a;
}

static void
setup(void)
{
	lim.connections = 3;
	lim.failures = 5;
	lim.window_ms = 60000;
	lim.max_entries = 100;
	p = peers_new(&lim, 0, TICK);
	ck_assert_ptr_nonnull(p);
}

static void
teardown(void)
{
	peers_free(p);
}

START_TEST(test_connections_are_limited_per_address)
{
	struct addr a = A("192.0.2.1"), b = A("192.0.2.2");
	struct peer *e[3];
	int i;

	for (i = 0; i < 3; i++) {
		ck_assert(peers_may_connect(p, &a));
		e[i] = peers_connect(p, &a);
		ck_assert_ptr_nonnull(e[i]);
	}
	ck_assert(!peers_may_connect(p, &a));
	ck_assert(peers_may_connect(p, &b));
	peers_disconnect(p, e[1]);
	ck_assert(peers_may_connect(p, &a));
	peers_disconnect(p, e[0]);
	peers_disconnect(p, e[2]);
}
END_TEST

START_TEST(test_ipv6_hosts_share_their_slash_64)
{
	struct addr a = A("2001:db8:1:2::1"), b = A("2001:db8:1:2:ffff::9"),
		    c = A("2001:db8:1:3::1");
	struct peer *e[3];

	e[0] = peers_connect(p, &a);
	e[1] = peers_connect(p, &b);
	e[2] = peers_connect(p, &a);
	ck_assert(!peers_may_connect(p, &b));
	ck_assert(peers_may_connect(p, &c));
	peers_disconnect(p, e[0]);
	peers_disconnect(p, e[1]);
	peers_disconnect(p, e[2]);
}
END_TEST

START_TEST(test_failures_block_until_the_window_ends)
{
	struct addr a = A("198.51.100.1"), b = A("198.51.100.2");
	uint64_t retry;
	int i;

	for (i = 0; i < 4; i++) {
		peers_fail(p, &a, 1000 + i);
		ck_assert(!peers_blocked(p, &a, 1000 + i, NULL));
	}
	peers_fail(p, &a, 2000);
	ck_assert(peers_blocked(p, &a, 2000, &retry));
	/* The window began at the first failure. */
	ck_assert_uint_eq(retry, 59000);
	ck_assert(!peers_blocked(p, &b, 2000, NULL));
	ck_assert(peers_blocked(p, &a, 60999, NULL));
	ck_assert(!peers_blocked(p, &a, 61000, NULL));
	peers_expire(p, 61000 + TICK);
	/* A fresh window: five failures again. */
	peers_fail(p, &a, 62000);
	ck_assert(!peers_blocked(p, &a, 62000, NULL));
}
END_TEST

START_TEST(test_idle_entries_are_freed)
{
	struct addr a = A("198.51.100.1");
	struct peer_stats st;
	struct peer *e;

	e = peers_connect(p, &a);
	peers_fail(p, &a, 0);
	peers_stats(p, &st);
	ck_assert_uint_eq(st.entries, 1);
	peers_disconnect(p, e);
	peers_stats(p, &st);
	ck_assert_uint_eq(st.entries, 1); /* the window keeps it */
	peers_expire(p, 60000 + TICK);
	peers_stats(p, &st);
	ck_assert_uint_eq(st.entries, 0);
}
END_TEST

START_TEST(test_failure_table_is_capped)
{
	struct peer_stats st;
	char s[32];
	struct addr a;
	int i;

	for (i = 0; i < 150; i++) {
		snprintf(s, sizeof(s), "10.0.%d.%d", i / 250, i % 250);
		a = A(s);
		peers_fail(p, &a, 0);
	}
	peers_stats(p, &st);
	ck_assert_uint_eq(st.entries, 100);
	ck_assert_uint_eq(st.untracked, 50);
	peers_expire(p, 60000 + TICK);
	peers_stats(p, &st);
	ck_assert_uint_eq(st.entries, 0);
}
END_TEST

/* A cluster's count, as a fake: what peek answers, and how often asked. */
static long long shared_count;
static int peeks;

static long long
fake_share(void *arg, const struct addr *key, uint64_t window_ms,
    uint64_t *left_ms)
{
	(void)arg;
	(void)key;
	*left_ms = window_ms;
	return ++shared_count;
}

static long long
fake_peek(void *arg, const struct addr *key, uint64_t *left_ms)
{
	(void)arg;
	(void)key;
	peeks++;
	*left_ms = 30000;
	return shared_count;
}

START_TEST(test_a_block_reached_elsewhere_holds_at_once)
{
	struct addr a = A("192.0.2.7"), b = A("192.0.2.8");
	uint64_t retry = 0;

	shared_count = 0;
	peeks = 0;
	peers_share(p, fake_share, NULL);
	peers_peek(p, fake_peek);
	/* Never failed here: nothing to ask. */
	ck_assert(!peers_blocked(p, &a, 0, NULL));
	ck_assert_int_eq(peeks, 0);
	peers_fail(p, &a, 0); /* the cluster's first */
	ck_assert(!peers_blocked(p, &a, 0, NULL));
	ck_assert_int_eq(peeks, 1);
	/* Four more on other nodes: the limit, before any announcement. */
	shared_count += 4;
	ck_assert(peers_blocked(p, &a, 10, &retry));
	ck_assert_uint_eq(retry, 30000);
	/* Learnt: no more asking while the window runs. */
	ck_assert(peers_blocked(p, &a, 20, NULL));
	ck_assert_int_eq(peeks, 2);
	ck_assert(peers_blocked(p, &a, 30000 + 9, NULL));
	ck_assert(!peers_blocked(p, &a, 30000 + 10 + TICK, NULL));
	ck_assert(!peers_blocked(p, &b, 0, NULL));
}
END_TEST

START_TEST(test_zero_means_unlimited)
{
	struct addr a = A("192.0.2.1");
	int i;

	peers_free(p);
	lim.connections = 0;
	lim.failures = 0;
	p = peers_new(&lim, 0, TICK);
	for (i = 0; i < 1000; i++)
		peers_fail(p, &a, 0);
	ck_assert(!peers_blocked(p, &a, 0, NULL));
	ck_assert(peers_may_connect(p, &a));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("peer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connections_are_limited_per_address);
	tcase_add_test(tc, test_ipv6_hosts_share_their_slash_64);
	tcase_add_test(tc, test_failures_block_until_the_window_ends);
	tcase_add_test(tc, test_idle_entries_are_freed);
	tcase_add_test(tc, test_failure_table_is_capped);
	tcase_add_test(tc, test_zero_means_unlimited);
	tcase_add_test(tc, test_a_block_reached_elsewhere_holds_at_once);
	suite_add_tcase(s, tc);
	return check_run(s);
}
