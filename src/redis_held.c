/*
 * redis_held.c - the node's held GETs by inbox name, and notes of wake-
 * ups that came before their GET was held.
 */
#include <stdlib.h>
#include <string.h>

#include "redis_impl.h"
#include "util.h"

struct held *
redis_held_of(const struct store_waiter *w)
{
	return (struct held *)(void *)w->inbox;
}

struct inbox *
redis_held_as_inbox(struct held *h)
{
	return (struct inbox *)(void *)h;
}

struct held **
redis_held_slot(struct store *s, const char *name)
{
	struct held **pp = &s->held[redis_call_hash(s,
	    name) & (HELD_BUCKETS - 1)];

	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

void
redis_held_remove(struct store *s, struct held *h)
{
	struct held **pp = redis_held_slot(s, h->name);

	if (h->in_table && *pp == h) {
		*pp = h->hnext;
		h->in_table = false;
	}
}

struct held *
redis_held_new(const char *name)
{
	size_t len = strlen(name);
	struct held *h = calloc(1, sizeof(*h) + len + 1);

	if (h != NULL)
		memcpy(h->name, name, len + 1);
	return h;
}

/*
 * End w's hold for why, under the lock; resumed by redis_held_release.  A hold
 * ending without a message frees its struct held.
 */
void
redis_held_unhold(struct store *s, struct held *h, enum waiter_state why,
    struct store_waiter **release)
{
	struct store_waiter *w = h->w;

	timer_del(&w->timer);
	timer_del(&h->check);
	redis_held_remove(s, h);
	s->nheld--;
	w->state = why;
	if (why != WAITER_MESSAGE) {
		w->inbox = NULL;
		free(h);
	}
	w->next = *release;
	*release = w;
}

void
redis_held_release(struct store *s, struct store_waiter *w)
{
	store_release(s->ops, w);
}

void
redis_held_note(struct store *s, const char *name, bool displace,
    uint64_t token)
{
	struct note *n = &s->notes[s->note_seq % NOTES];

	n->hash = redis_call_hash(s, name);
	n->token = token;
	n->displace = displace;
	n->seq = ++s->note_seq;
}

/*
 * Did a wake-up (displace false) or a displacement of token come for
 * name after note since?  A ring that wrapped says yes.
 */
bool
redis_held_noted(struct store *s, const char *name, uint64_t since,
    bool displace,
    uint64_t token)
{
	uint64_t hash = redis_call_hash(s, name), seq;

	if (s->note_seq - since >= NOTES)
		return !displace;
	for (seq = since + 1; seq <= s->note_seq; seq++) {
		const struct note *n = &s->notes[(seq - 1) % NOTES];

		if (n->hash == hash && n->displace == displace &&
		    (!displace || n->token == token))
			return true;
	}
	return false;
}

/* Credentials. */
