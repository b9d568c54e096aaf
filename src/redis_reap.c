/*
 * redis_reap.c - the reap of each slot's expiry index (reap.lua): when
 * a deadline this node set there comes, and in a slow sweep over every
 * slot for what other nodes set (a node that died took its timers with
 * it), shared by the nodes: each looks at SWEEP_SLOTS slots a tick
 * divided by the nodes it hears beating, so that the cluster goes over
 * every slot in about half a minute however many nodes there are.  No
 * index spans the cluster: an inbox or room is indexed in its own slot,
 * and a node reaps the slots it knows to be due.
 *
 * Each slot has a timer on the node's wheel, armed by the due_in a
 * script reports (redis_call.c) for the earliest deadline it set in the
 * slot; reap.lua reports the slot's next one in turn.  What a reap hands back
 * (an inbox to take out of its rooms, a room's outbox to deliver) is
 * done here, on the main thread, before the next tick.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_impl.h"
#include "redis_slot.h"
#include "util.h"


int
redis_reap_init(struct store *s)
{
	uint8_t b[2];
	unsigned i;

	if ((s->slot_timer = calloc(REDIS_SLOTS, sizeof(*s->slot_timer))) ==
	    NULL || (s->due_slots = calloc(REAP_SLOTS,
	    sizeof(*s->due_slots))) == NULL)
		return -1;
	for (i = 0; i < REDIS_SLOTS; i++)
		timer_init(&s->slot_timer[i], TIMER_SLOT);
	/* Nodes start their sweeps at different slots. */
	if (random_bytes(b, sizeof(b)) == -1)
		return -1;
	s->sweep_next = ((unsigned)b[0] << 8 | b[1]) % REDIS_SLOTS;
	return 0;
}

void
redis_reap_free(struct store *s)
{
	free(s->slot_timer);
	free(s->due_slots);
}

void
redis_reap_arm(struct store *s, unsigned slot, uint64_t due_ms)
{
	struct timer *t;
	uint64_t at = atomic_load(&s->clock_ms) + due_ms;

	if (slot >= REDIS_SLOTS || s->slot_timer == NULL)
		return;
	t = &s->slot_timer[slot];
	pthread_mutex_lock(&s->lock);
	if (!timer_pending(t) || timer_expires(t) > at) {
		timer_del(t);
		timer_add(&s->wheel, t, at);
	}
	pthread_mutex_unlock(&s->lock);
}

void
redis_reap_due(struct store *s, struct timer *t, uint64_t now_ms)
{
	if (s->ndue < REAP_SLOTS)
		s->due_slots[s->ndue++] = (unsigned)(t - s->slot_timer);
	else /* the next tick's */
		timer_add(&s->wheel, t, now_ms + s->wheel.tick_ms);
}

/* reap.lua on slot with the node states known (NODES). */
static int
queue_reap(struct store *s, struct link_batch *b, unsigned slot,
    const char *states)
{
	char key[32];
	struct call c;

	snprintf(key, sizeof(key), "inboxd:{%s}:x", redis_slot_tag(slot));
	redis_call_key(s, &c, key);
	redis_call_u64(&c, REAP_LIMIT);
	redis_call_str(&c, states);
	return link_batch_add(b, LUA_REAP, c.nkeys, c.argc, c.argv, c.len);
}

/* inbox_bury.lua: inbox name, out of its rooms, goes. */
static void
bury(struct store *s, const redisReply *w)
{
	const char *name = w->element[1]->str;
	struct call c;
	size_t i;

	redis_call_inbox(s, &c, name, "iqfrx");
	redis_call_str(&c, name);
	for (i = 2; i < w->elements && c.argc < ARGS_MAX; i++)
		redis_call_bytes(&c, w->element[i]->str, w->element[i]->len);
	(void)redis_call_done(s, LUA_INBOX_BURY, &c);
}

/*
 * What a reap handed back: {'i', NAME, room...}, an inbox that leaves
 * each room and then goes, or {'r', ROOM, outbox...}, a room's events
 * still to deliver.  Left undone, it is due again in RETRY.
 */
static void
do_work(struct store *s, const redisReply *w)
{
	size_t i;
	int failed = 0;

	if (w->type != REDIS_REPLY_ARRAY || w->elements < 2 ||
	    w->element[0]->type != REDIS_REPLY_STRING ||
	    w->element[1]->type != REDIS_REPLY_STRING)
		return;
	if (redis_is_word(w->element[0], "r")) {
		redis_room_deliver(s, w->element[1]->str, w, 2);
		return;
	}
	for (i = 2; i < w->elements; i++)
		if (w->element[i]->type != REDIS_REPLY_STRING ||
		    redis_room_forget(s, w->element[i]->str,
		    w->element[1]->str) == -1)
			failed = 1;
	if (!failed)
		bury(s, w);
}

/*
 * Run the reaps queued on b (slots[i] the slot of call i), hand what
 * they return to do_work, and gather into again[] the slots whose reap
 * asked about nodes, with their states.  Returns how many.
 */
static unsigned
run_batch(struct store *s, struct link_batch *b, char *states,
    size_t size)
{
	unsigned k, again = 0;
	size_t i;

	link_batch_run(s->link, b);
	states[0] = '\0';
	for (k = 0; k < b->n; k++) {
		redisReply *r = redis_call_answer(s, b->call[k].argv[0],
		    b->call[k].len[0], b->call[k].reply);

		b->call[k].reply = NULL;
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 3 ||
		    r->element[1]->type != REDIS_REPLY_ARRAY ||
		    r->element[2]->type != REDIS_REPLY_ARRAY) {
			if (r != NULL) {
				redis_result(r); /* logs a script error */
				freeReplyObject(r);
			}
			b->call[k].script = LUA_NSCRIPTS; /* not again */
			continue;
		}
		for (i = 0; i < r->element[2]->elements; i++)
			do_work(s, r->element[2]->element[i]);
		if (r->element[1]->elements > 0 && states[0] == '\0') {
			redis_node_states(s, r->element[1], 0, states, size);
			again++;
		} else
			b->call[k].script = LUA_NSCRIPTS;
		freeReplyObject(r);
	}
	return again;
}

void
redis_reap_run(struct store *s)
{
	unsigned slots[REAP_SLOTS + SWEEP_SLOTS], n = 0, i, k, sweep, nodes = 1;
	uint64_t now = now_ms();
	struct link_batch *b;
	char states[2048];

	pthread_mutex_lock(&s->lock);
	memcpy(slots, s->due_slots, s->ndue * sizeof(slots[0]));
	n = s->ndue;
	s->ndue = 0;
	for (i = 0; i < s->nbeats; i++)
		nodes += s->beats[i].heard_ms + s->lease_ms > now;
	pthread_mutex_unlock(&s->lock);
	sweep = (SWEEP_SLOTS + nodes - 1) / nodes;
	for (i = 0; i < sweep; i++) {
		slots[n++] = s->sweep_next;
		s->sweep_next = (s->sweep_next + 1) % REDIS_SLOTS;
	}
	if ((b = link_batch_new(n)) == NULL)
		return;
	for (i = 0; i < n; i++)
		queue_reap(s, b, slots[i], "");
	if (run_batch(s, b, states, sizeof(states)) > 0) {
		/* Once more, for the slots that asked about nodes. */
		struct link_batch *again = link_batch_new(n);

		for (k = 0; again != NULL && k < b->n; k++)
			if (b->call[k].script == LUA_REAP)
				queue_reap(s, again, slots[k], states);
		if (again != NULL) {
			run_batch(s, again, states, sizeof(states));
			link_batch_clear(again);
			free(again);
		}
	}
	link_batch_clear(b);
	free(b);
}
