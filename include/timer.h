/*
 * timer.h - hashed timing wheel with intrusive timers.
 *
 * The wheel keeps no clock and allocates nothing: the caller embeds a
 * struct timer in the object it times and passes the current time in
 * milliseconds (CLOCK_MONOTONIC) to every call, so the wheel is tested
 * without a clock.  Arming and cancelling a timer is O(1); a timer fires
 * never before its deadline and at most one tick after it.  Not thread-safe: the owner
 * serialises access (the store does so under its lock).
 */
#ifndef INBOXD_TIMER_H
#define INBOXD_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define TIMER_SLOTS 4096 /* power of two: 409.6 s of 100 ms ticks per lap */

struct timer {
	struct timer *next;
	struct timer **pprev; /* NULL while the timer is not armed */
	uint64_t at; /* deadline in ms << 8 | the owner's kind: 24 bytes in all */
};

struct timer_wheel {
	uint64_t tick_ms;
	uint64_t next_tick; /* the first tick not yet moved to the due list */
	struct timer *due;  /* expired timers not yet handed out */
	struct timer *slot[TIMER_SLOTS];
};

/* Initialise an empty wheel of tick_ms (> 0) milliseconds per tick at now_ms. */
void timer_wheel_init(struct timer_wheel *w, uint64_t tick_ms, uint64_t now_ms);

/* Initialise a timer as not armed; kind is the owner's tag. */
void timer_init(struct timer *t, uint8_t kind);

/* The deadline t was last armed for, in ms. */
static inline uint64_t
timer_expires(const struct timer *t)
{
	return t->at >> 8;
}

/* The owner's tag given to timer_init. */
static inline uint8_t
timer_kind(const struct timer *t)
{
	return (uint8_t)(t->at & 0xff);
}

/*
 * Arm t to expire at expires_ms (below 2^56), re-arming it if it was
 * armed.  O(1).
 */
void timer_add(struct timer_wheel *w, struct timer *t, uint64_t expires_ms);

/* Disarm t; harmless when it is not armed.  O(1). */
void timer_del(struct timer *t);

/* True while t is armed (queued on the wheel and not yet handed out). */
bool timer_pending(const struct timer *t);

/*
 * Return one timer whose deadline is at or before now_ms, disarmed, or
 * NULL when none is due.  Drain with: while ((t = timer_next(w, now))).
 * Timers may be added or deleted between calls.
 */
struct timer *timer_next(struct timer_wheel *w, uint64_t now_ms);

#endif
