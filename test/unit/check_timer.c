/*
 * check_timer.c - the hashed timing wheel, with time passed in.
 */
#include <check.h>
#include <stdlib.h>

#include "check_run.h"
#include "timer.h"
#include "util.h"

#define TICK 100

static struct timer_wheel w;

static void
setup(void)
{
	timer_wheel_init(&w, TICK, 0);
}

/* Drain everything due at now into out[]; returns how many fired. */
static int
drain(uint64_t now, struct timer **out, int max)
{
	struct timer *t;
	int n = 0;

	while ((t = timer_next(&w, now)) != NULL) {
		ck_assert_msg(n < max, "more timers fired than armed");
		ck_assert(!timer_pending(t));
		out[n++] = t;
	}
	return n;
}

START_TEST(test_timer_fires_not_before_deadline)
{
	struct timer t, *fired[4];

	timer_init(&t, 0);
	timer_add(&w, &t, 1050);
	ck_assert(timer_pending(&t));
	ck_assert_int_eq(drain(1000, fired, 4), 0);
	ck_assert_int_eq(drain(1049, fired, 4), 0);
	ck_assert(timer_pending(&t));
}
END_TEST

START_TEST(test_timer_fires_within_one_tick_after_deadline)
{
	struct timer t, *fired[4];

	timer_init(&t, 0);
	timer_add(&w, &t, 1050);
	ck_assert_int_eq(drain(1050 + TICK, fired, 4), 1);
	ck_assert_ptr_eq(fired[0], &t);
	ck_assert_int_eq(drain(5000, fired, 4), 0);
}
END_TEST

START_TEST(test_deleted_timer_never_fires)
{
	struct timer a, b, *fired[4];

	timer_init(&a, 0);
	timer_init(&b, 0);
	timer_add(&w, &a, 500);
	timer_add(&w, &b, 500);
	timer_del(&a);
	timer_del(&a); /* harmless twice */
	ck_assert(!timer_pending(&a));
	ck_assert_int_eq(drain(1000, fired, 4), 1);
	ck_assert_ptr_eq(fired[0], &b);
}
END_TEST

START_TEST(test_rearming_moves_the_deadline)
{
	struct timer t, *fired[4];

	timer_init(&t, 0);
	timer_add(&w, &t, 500);
	timer_add(&w, &t, 3000);
	ck_assert_int_eq(drain(2000, fired, 4), 0);
	ck_assert_int_eq(drain(3100, fired, 4), 1);
}
END_TEST

START_TEST(test_timer_beyond_one_lap_waits_its_lap)
{
	struct timer t, *fired[4];
	uint64_t lap = (uint64_t)TIMER_SLOTS * TICK;
	uint64_t now;

	timer_init(&t, 0);
	timer_add(&w, &t, 3 * lap + 250);
	/* Walk time forward tick by tick: it shares a slot each lap. */
	for (now = 0; now < 3 * lap + 250; now += TICK)
		ck_assert_int_eq(drain(now, fired, 4), 0);
	ck_assert_int_eq(drain(3 * lap + 250 + TICK, fired, 4), 1);
}
END_TEST

START_TEST(test_long_pause_fires_everything_due_once)
{
	struct timer t[50], *fired[64];
	uint64_t lap = (uint64_t)TIMER_SLOTS * TICK;
	int i;

	for (i = 0; i < 50; i++) {
		timer_init(&t[i], 0);
		timer_add(&w, &t[i], (uint64_t)i * 997 % (2 * lap));
	}
	ck_assert_int_eq(drain(5 * lap, fired, 64), 50);
	ck_assert_int_eq(drain(6 * lap, fired, 64), 0);
}
END_TEST

START_TEST(test_timer_armed_in_the_past_fires_at_once)
{
	struct timer t, *fired[4];

	ck_assert_int_eq(drain(10000, fired, 4), 0);
	timer_init(&t, 7);
	timer_add(&w, &t, 20);
	ck_assert_int_eq(drain(10000, fired, 4), 1);
	ck_assert_int_eq(timer_kind(fired[0]), 7);
}
END_TEST

START_TEST(test_timers_can_be_added_while_draining)
{
	struct timer a, b, *t;
	int n = 0;

	timer_init(&a, 0);
	timer_init(&b, 0);
	timer_add(&w, &a, 100);
	while ((t = timer_next(&w, 1000)) != NULL) {
		n++;
		if (t == &a)
			timer_add(&w, &b, 900); /* due too: same drain */
	}
	ck_assert_int_eq(n, 2);
	ck_assert(!timer_pending(&b));
}
END_TEST

START_TEST(test_many_timers_all_fire_in_deadline_order_of_ticks)
{
	enum { N = 10000 };
	struct timer *t = calloc(N, sizeof(*t)), *x;
	uint64_t now, last_tick = 0;
	int i, fired = 0;

	ck_assert_ptr_nonnull(t);
	for (i = 0; i < N; i++) {
		timer_init(&t[i], 0);
		timer_add(&w, &t[i], (uint64_t)(i * 7919) % 120000);
	}
	for (now = 0; now <= 121000; now += TICK)
		while ((x = timer_next(&w, now)) != NULL) {
			ck_assert_uint_le(timer_expires(x), now);
			ck_assert_uint_ge(timer_expires(x) / TICK, last_tick);
			ck_assert_uint_gt(timer_expires(x) + 2 * TICK, now);
			last_tick = timer_expires(x) / TICK;
			fired++;
		}
	ck_assert_int_eq(fired, N);
	free(t);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("wheel");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_timer_fires_not_before_deadline);
	tcase_add_test(tc, test_timer_fires_within_one_tick_after_deadline);
	tcase_add_test(tc, test_deleted_timer_never_fires);
	tcase_add_test(tc, test_rearming_moves_the_deadline);
	tcase_add_test(tc, test_timer_beyond_one_lap_waits_its_lap);
	tcase_add_test(tc, test_long_pause_fires_everything_due_once);
	tcase_add_test(tc, test_timer_armed_in_the_past_fires_at_once);
	tcase_add_test(tc, test_timers_can_be_added_while_draining);
	tcase_add_test(tc, test_many_timers_all_fire_in_deadline_order_of_ticks);
	suite_add_tcase(s, tc);
	return check_run(s);
}
