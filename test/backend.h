/*
 * backend.h - the two stores the store suites (check_store, check_room)
 * run on: the in-memory store (store_new) and the Redis store
 * (redis_store_new) on a private redis-server that the suite starts for
 * itself on a loopback port, in a temporary directory, with nothing
 * saved to disk (client.h: redis_start).  No daemon is involved.
 *
 * A suite adds the same cases to NAME/memory and NAME/redis, and the
 * fixture of each says which store the case gets.  What the two stores
 * do differently and a case has to allow for (include/redis.h): the
 * Redis store's gauges of inboxes, messages and bytes come from a walk
 * made a few steps a tick (backend_settle), a held GET is woken on the
 * subscriber's thread (release callbacks come from there: wait for them
 * with a bound), and what Redis keeps (inbox, message, PIN and room
 * timeouts) runs on Redis' own clock, not on the now_ms passed in:
 * those cases run on the real clock (backend_clock_ms).
 */
#ifndef INBOXD_TEST_BACKEND_H
#define INBOXD_TEST_BACKEND_H

#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

enum backend { BACKEND_MEMORY, BACKEND_REDIS };

/* The store of the running case, as its fixture set it. */
extern enum backend backend;

/* True when the running case is on the Redis store. */
static inline bool
on_redis(void)
{
	return backend == BACKEND_REDIS;
}

/*
 * A new, empty store of the running case's backend whose timers tick
 * every tick_ms from 0: store_new, or, after everything in the private
 * Redis was deleted (FLUSHALL), redis_store_new.  Fails the case if it
 * cannot be made.  Freed with store_free.
 */
struct store *backend_store_new(const struct store_limits *lim,
    const struct store_waiter_ops *ops, uint64_t tick_ms);

/*
 * Redis only: another node on the running case's Redis, with its data as
 * it is (no FLUSHALL), its wheel starting at backend_clock_ms(); for what
 * one node leaves to another.  Freed with store_free.
 */
struct store *backend_store_join(const struct store_limits *lim,
    const struct store_waiter_ops *ops, uint64_t tick_ms);

/*
 * Milliseconds of CLOCK_MONOTONIC since the last backend_store_new: the
 * now_ms of cases that run on the real clock, so that the store's own
 * wheel (which starts at 0) and Redis' clock agree.
 */
uint64_t backend_clock_ms(void);

/* Sleep ms milliseconds of real time (for polling loops). */
void backend_pause_ms(unsigned ms);

/*
 * On the Redis store, run store_expire at the real clock (or at now_ms
 * if that is later) until a walk over every inbox begun since the call
 * has ended, so that the gauges count what was done before it; fails the
 * case if that takes longer than a few seconds.  Nothing on the
 * in-memory store, whose gauges are exact.
 */
void backend_settle(struct store *s, uint64_t now_ms);

/* Stands in for a held request's connection (atomic: the Redis store
 * calls alive and release from its subscriber thread too). */
struct fake {
	atomic_bool alive;
	atomic_int holds;
	atomic_int releases;
};

/* The waiter callbacks of struct fake: w->owner points at one. */
extern const struct store_waiter_ops backend_fake_ops;

/*
 * Wait until f has been released n times, and fail the case if that
 * takes more than a few seconds or it is released more often: the
 * in-memory store releases before it returns, the Redis store may do it
 * from its subscriber thread a moment later.
 */
void backend_released(struct fake *f, int n);

/*
 * A hash for a new inbox, never verified here: the store keeps it, and
 * the Redis store takes the first bytes of its salt as the inbox's
 * generation, so each one made is new.
 */
struct cred_hash backend_hash(void);

/*
 * Redis loses everything it held (FLUSHALL), as a redis-server started
 * again without persistence would, while the node keeps the credentials
 * it verified: what becomes of an inbox gone since its owner's request
 * was verified.  (The Redis store acts only for inboxes it verified,
 * since every request authenticates first.)  Nothing on the in-memory
 * store.
 */
void backend_lose_data(void);

/*
 * Time, for the cases on expiry.  On the in-memory store it is the
 * test's own: backend_now() is a virtual clock that only the calls below
 * move, running the store's timers a tick at a time, so deadlines are
 * checked to the tick.  On the Redis store, inboxes, messages, PINs and
 * rooms time out on Redis' clock, so these cases run on the real clock
 * there (backend_clock_ms), with short timeouts, and check with margins:
 * what must still be there is looked at half way (backend_before) and
 * then checked to have been seen in time (backend_in_time); what must
 * happen is polled for until a bound (BACKEND_UNTIL, backend_by).
 */
uint64_t backend_now(void);

/* One step of time: a tick on the in-memory store, a few ms of real
 * time on Redis; then store_expire at the new time. */
void backend_step(struct store *s);

/* Time passes until t, the store's timers running on the way. */
void backend_pass_to(struct store *s, uint64_t t);

/* Time passes until t, and no timer runs meanwhile. */
void backend_wait_to(uint64_t t);

/* Time passes until t with no timer run, then they run once, at t: as
 * for a store whose ticks came late. */
void backend_jump_to(struct store *s, uint64_t t);

/* When to look at what must still be there at `at', having been
 * made at `from': at - 1 on the in-memory store, half way on Redis. */
uint64_t backend_before(uint64_t from, uint64_t at);

/* Fail the case unless it is still before `at' (minus a few ms on
 * Redis, whose clock and this one round differently): what was just
 * seen was seen early enough to count. */
void backend_in_time(uint64_t at);

/* The time by which what is due at `at' must have happened: a tick
 * later on the in-memory store; on Redis BACKEND_LATE_MS later (a send
 * refreshes its sender with REFRESH_MS of slack, src/redis.c, and
 * expiry is seen by the next reap or walk). */
#define BACKEND_LATE_MS 2000
uint64_t backend_by(uint64_t at);

/* A few ms on Redis, 0 on the in-memory store: what to add to a time
 * that must have passed on Redis' clock too. */
uint64_t backend_eps(void);

/* cond holds, and was seen in time: before `at' (backend_in_time). */
#define BACKEND_STILL(cond, at)                                           \
	do {                                                              \
		bool still_ = (cond);                                     \
		backend_in_time(at);                                      \
		ck_assert_msg(still_, "no longer so before %llu ms: %s",  \
		    (unsigned long long)(at), #cond);                     \
	} while (0)

/*
 * Step time until cond holds; fail the case if it does not by `by'
 * (backend_now() time).  On the in-memory store, cond is checked at
 * every tick.
 */
#define BACKEND_UNTIL(s, cond, by)                                        \
	do {                                                              \
		uint64_t until_by_ = (by);                                \
		while (!(cond)) {                                         \
			ck_assert_msg(backend_now() < until_by_,          \
			    "not by %llu ms (now %llu ms): %s",           \
			    (unsigned long long)until_by_,                \
			    (unsigned long long)backend_now(), #cond);    \
			backend_step(s);                                  \
		}                                                         \
	} while (0)

/*
 * Run the suites NAME/memory and NAME/redis, each made by add (which
 * adds the cases of the backend given, with fixtures that set
 * `backend'), with a private redis-server for the second, unless
 * CK_RUN_SUITE names the other one.  Returns the exit status: failure if
 * a case failed or if redis-server could not be started.
 */
int backend_run(const char *name, void (*add)(Suite *su, enum backend be));

#endif
