/*
 * backend.c - the stores the store suites run on (see backend.h).
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "client.h"
#include "log.h"
#include "redis.h"

/*
 * A node's heartbeat lease: longer than any case runs, since a case on
 * fixed times never moves the store's clock past the first beat.
 */
#define LEASE_MS (300 * 1000)
#define SETTLE_MS 5000 /* two walks over a few thousand inboxes at most */
#define SMALL_KEYS 500 /* keys in Redis that one tick's walk covers */

#define STEP_MS 5     /* real time a step on Redis */
#define WAKE_MS 5000  /* a release from another thread comes by then */
#define EPS_MS 5      /* Redis' clock and this one, each in whole ms */

enum backend backend;

static struct redis redis;   /* the private redis-server, pid 0: none */
static char store_log[320];  /* where the Redis stores log */
static uint64_t born_ms;     /* when the running case's store was made */
static uint64_t tick_ms;     /* its tick */
static uint64_t vclock;      /* the in-memory store's time */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
backend_clock_ms(void)
{
	return mono_ms() - born_ms;
}

void
backend_pause_ms(unsigned ms)
{
	poll(NULL, 0, (int)ms);
}

static bool
fake_alive(struct store_waiter *w)
{
	return atomic_load(&((struct fake *)w->owner)->alive);
}

static void
fake_hold(struct store_waiter *w)
{
	atomic_fetch_add(&((struct fake *)w->owner)->holds, 1);
}

static void
fake_release(struct store_waiter *w)
{
	atomic_fetch_add(&((struct fake *)w->owner)->releases, 1);
}

const struct store_waiter_ops backend_fake_ops = { fake_alive, fake_hold,
	fake_release };

void
backend_released(struct fake *f, int n)
{
	uint64_t deadline = mono_ms() + WAKE_MS;

	while (atomic_load(&f->releases) < n) {
		ck_assert_msg(mono_ms() < deadline, "released %d times in "
		    "%d ms, not %d", atomic_load(&f->releases), WAKE_MS, n);
		backend_pause_ms(1);
	}
	ck_assert_int_eq(atomic_load(&f->releases), n);
}

struct cred_hash
backend_hash(void)
{
	static uint64_t made;
	struct cred_hash h;

	memset(&h, 0, sizeof(h));
	made++;
	memcpy(h.salt, &made, sizeof(made));
	return h;
}

/* Delete everything the private Redis holds. */
static void
flush(void)
{
	char *reply = redis_cmd(&redis, "FLUSHALL", (char *)NULL);

	ck_assert_msg(reply != NULL && strcmp(reply, "+OK") == 0,
	    "FLUSHALL: %s", reply != NULL ? reply : "no answer");
	free(reply);
}

void
backend_lose_data(void)
{
	if (on_redis())
		flush();
}

uint64_t
backend_now(void)
{
	return on_redis() ? backend_clock_ms() : vclock;
}

void
backend_step(struct store *s)
{
	if (!on_redis()) {
		vclock += tick_ms;
		store_expire(s, vclock);
		return;
	}
	backend_pause_ms(STEP_MS);
	store_expire(s, backend_clock_ms());
}

void
backend_pass_to(struct store *s, uint64_t t)
{
	uint64_t now;

	if (!on_redis()) {
		while (vclock + tick_ms <= t)
			backend_step(s);
		if (vclock < t) {
			vclock = t;
			store_expire(s, t);
		}
		return;
	}
	while ((now = backend_clock_ms()) < t) {
		backend_pause_ms(t - now < STEP_MS ? (unsigned)(t - now) :
		    STEP_MS);
		store_expire(s, backend_clock_ms());
	}
}

void
backend_jump_to(struct store *s, uint64_t t)
{
	backend_wait_to(t);
	store_expire(s, t);
}

void
backend_wait_to(uint64_t t)
{
	uint64_t now;

	if (!on_redis()) {
		if (vclock < t)
			vclock = t;
		return;
	}
	while ((now = backend_clock_ms()) < t)
		backend_pause_ms((unsigned)(t - now));
}

uint64_t
backend_before(uint64_t from, uint64_t at)
{
	return on_redis() ? from + (at - from) / 2 : at - 1;
}

void
backend_in_time(uint64_t at)
{
	ck_assert_msg(backend_now() + backend_eps() < at, "too late to tell: "
	    "%llu ms, and it was due at %llu ms (a machine too busy?)",
	    (unsigned long long)backend_now(), (unsigned long long)at);
}

uint64_t
backend_by(uint64_t at)
{
	return at + (on_redis() ? BACKEND_LATE_MS : tick_ms);
}

uint64_t
backend_eps(void)
{
	return on_redis() ? EPS_MS : 0;
}

struct store *
backend_store_new(const struct store_limits *lim,
    const struct store_waiter_ops *ops, uint64_t tick)
{
	struct redis_params p = { 0 };
	struct store *s;
	char why[256] = "";

	tick_ms = tick;
	vclock = 0;
	if (!on_redis()) {
		born_ms = mono_ms();
		s = store_new(lim, ops, 0, tick);
		ck_assert_ptr_nonnull(s);
		return s;
	}
	ck_assert_msg(redis.pid > 0, "no redis-server for the Redis store "
	    "(install the Debian package redis-server, or set "
	    "REDIS_SERVER); see %s", redis.log);
	/* Each case starts from an empty Redis, as the memory store does. */
	flush();
	p.url = redis.url;
	p.lease_timeout_ms = LEASE_MS;
	born_ms = mono_ms();
	s = redis_store_new(lim, ops, &p, 0, tick, why, sizeof(why));
	ck_assert_msg(s != NULL, "redis_store_new on %s: %s", redis.url, why);
	return s;
}

struct store *
backend_store_join(const struct store_limits *lim,
    const struct store_waiter_ops *ops, uint64_t tick)
{
	struct redis_params p = { 0 };
	struct store *s;
	char why[256] = "";

	ck_assert(on_redis());
	p.url = redis.url;
	p.lease_timeout_ms = LEASE_MS;
	s = redis_store_new(lim, ops, &p, backend_clock_ms(), tick, why,
	    sizeof(why));
	ck_assert_msg(s != NULL, "redis_store_new on %s: %s", redis.url, why);
	return s;
}

void
backend_settle(struct store *s, uint64_t now_ms)
{
	uint64_t deadline = mono_ms() + SETTLE_MS, first, now;
	struct store_stats st;
	char *reply;
	int walks = 2;

	if (!on_redis())
		return;
	/*
	 * A walk under way may have passed what changed: then it takes the
	 * next one.  A walk covers WALK_STEPS * WALK_COUNT keys a tick
	 * (2000, src/redis_impl.h), so in a Redis of a few hundred keys it
	 * begins and ends within one store_expire, and the first to end is
	 * one begun since.
	 */
	if ((reply = redis_cmd(&redis, "DBSIZE", (char *)NULL)) != NULL &&
	    reply[0] == ':' && strtoull(reply + 1, NULL, 10) <= SMALL_KEYS)
		walks = 1;
	free(reply);
	store_stats(s, &st);
	/* A walk starts at most every WALK_PERIOD_MS of the node's clock,
	 * which must move: the real one, or now_ms if that is later. */
	for (first = st.gauge_walks; st.gauge_walks < first + walks;) {
		ck_assert_msg(mono_ms() < deadline, "the Redis store made %llu "
		    "walks over its inboxes in %d ms, not %d",
		    (unsigned long long)(st.gauge_walks - first), SETTLE_MS,
		    walks);
		now = backend_clock_ms();
		store_expire(s, now > now_ms ? now : now_ms);
		store_stats(s, &st);
		if (st.gauge_walks < first + walks)
			backend_pause_ms(STEP_MS);
	}
}

/* Copy the Redis stores' log to standard error. */
static void
show_store_log(void)
{
	char *text;

	if (store_log[0] == '\0' || (text = read_file(store_log, NULL)) == NULL)
		return;
	fprintf(stderr, "-- what the Redis stores logged (%s):\n%s", store_log,
	    text);
	free(text);
}

int
backend_run(const char *name, void (*add)(Suite *su, enum backend be))
{
	char memory_name[64], redis_name[64];
	const char *only = getenv("CK_RUN_SUITE");
	Suite *memory, *shared;
	SRunner *sr;
	int failed;

	/* A Redis that went away must fail a call, not end the suite. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(memory_name, sizeof(memory_name), "%s/memory", name);
	snprintf(redis_name, sizeof(redis_name), "%s/redis", name);
	memory = suite_create(memory_name);
	add(memory, BACKEND_MEMORY);
	shared = suite_create(redis_name);
	add(shared, BACKEND_REDIS);
	if (only == NULL || *only == '\0' || strcmp(only, redis_name) == 0) {
		/* Its cases fail, saying why, if it does not start. */
		if (redis_start(&redis, 0, 0) == -1)
			fprintf(stderr, "%s: redis-server did not start; see %s\n",
			    redis_name, redis.log);
		else {
			snprintf(store_log, sizeof(store_log), "%s/store.log",
			    redis.dir);
			if (log_open(LOG_TO_FILE, store_log, LOG_FORMAT_TEXT) ==
			    -1)
				store_log[0] = '\0';
		}
	}
	sr = srunner_create(memory);
	srunner_add_suite(sr, shared);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		show_store_log();
	redis_cleanup(&redis);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
