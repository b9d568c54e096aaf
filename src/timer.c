/*
 * timer.c - hashed timing wheel (Varghese and Lauck, "Hashed and
 * Hierarchical Timing Wheels", 1987, scheme 6).
 *
 * A timer hangs in slot (expires / tick) mod TIMER_SLOTS.  Deadlines more
 * than one lap away share a slot with nearer ones and are skipped until
 * their own lap comes round, which keeps arming O(1) at the price of a
 * few extra visits for long timers (rooms, hours away).
 */
#include <stddef.h>

#include "timer.h"

static void
link_front(struct timer **head, struct timer *t)
{
	t->next = *head;
	if (t->next != NULL)
		t->next->pprev = &t->next;
	*head = t;
	t->pprev = head;
}

void
timer_wheel_init(struct timer_wheel *w, uint64_t tick_ms, uint64_t now_ms)
{
	size_t i;

	w->tick_ms = tick_ms;
	w->next_tick = now_ms / tick_ms;
	w->due = NULL;
	for (i = 0; i < TIMER_SLOTS; i++)
		w->slot[i] = NULL;
}

void
timer_init(struct timer *t, uint8_t kind)
{
	t->next = NULL;
	t->pprev = NULL;
	t->at = kind;
}

void
timer_del(struct timer *t)
{
	if (t->pprev == NULL)
		return;
	*t->pprev = t->next;
	if (t->next != NULL)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

bool
timer_pending(const struct timer *t)
{
	return t->pprev != NULL;
}

void
timer_add(struct timer_wheel *w, struct timer *t, uint64_t expires_ms)
{
	uint64_t tick = expires_ms / w->tick_ms;

	timer_del(t);
	t->at = expires_ms << 8 | timer_kind(t);
	if (tick < w->next_tick)
		link_front(&w->due, t);
	else
		link_front(&w->slot[tick & (TIMER_SLOTS - 1)], t);
}

/* Move the timers of slot `tick' whose deadline falls in that tick to due. */
static void
collect(struct timer_wheel *w, uint64_t tick)
{
	struct timer *t = w->slot[tick & (TIMER_SLOTS - 1)], *next;

	for (; t != NULL; t = next) {
		next = t->next;
		if (timer_expires(t) / w->tick_ms <= tick) {
			timer_del(t);
			link_front(&w->due, t);
		}
	}
}

struct timer *
timer_next(struct timer_wheel *w, uint64_t now_ms)
{
	uint64_t now_tick = now_ms / w->tick_ms;
	struct timer *t;

	/*
	 * A tick is collected once it has wholly passed, so a timer never
	 * fires early and at most one tick late.  After a pause longer than
	 * a lap, one lap visits every slot once.
	 */
	if (now_tick > w->next_tick + TIMER_SLOTS) {
		uint64_t tick;

		for (tick = now_tick - TIMER_SLOTS; tick < now_tick; tick++)
			collect(w, tick);
		w->next_tick = now_tick;
	}
	while (w->due == NULL && w->next_tick < now_tick)
		collect(w, w->next_tick++);
	t = w->due;
	if (t != NULL)
		timer_del(t);
	return t;
}
