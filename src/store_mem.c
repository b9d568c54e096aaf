/*
 * store_mem.c - the in-memory store: inboxes, queues, held receivers,
 * PINs and expiry under one mutex (rooms: store_mem_room.c).
 *
 * Functions named do_*() expect the caller to hold s->lock (after
 * memcached).  Waiters released under the lock are collected on a list
 * and resumed by store_release() once the lock is dropped, so the HTTP
 * layer never runs under the store's lock except for the cheap alive and
 * hold callbacks.
 *
 * Expiry keeps one timer per inbox, armed at the earlier of its idle
 * deadline and its oldest message's deadline.  A request only moves
 * last_seen_ms forward; the timer, when it fires, re-arms itself at the
 * true deadline.  So polling costs no wheel operation, and the messages
 * of an inbox, oldest first, need no timers of their own.  A hold that
 * ends without a refresh (its client gone) re-arms it: while the hold
 * lasted, the timer was pushed on past the deadline.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_mem.h"
#include "util.h"

/* The oldest message of the ring reached through *last, or NULL. */
static struct message *
ring_head(struct message *last)
{
	return last != NULL ? last->next : NULL;
}

/* Unlink and return the oldest message of a ring that is not empty. */
static struct message *
ring_pop(struct message **last)
{
	struct message *m = (*last)->next;

	if (m == *last)
		*last = NULL;
	else
		(*last)->next = m->next;
	m->next = NULL;
	return m;
}

/* Add m to a ring as its youngest. */
static void
ring_append(struct message **last, struct message *m)
{
	if (*last == NULL)
		m->next = m;
	else {
		m->next = (*last)->next;
		(*last)->next = m;
	}
	*last = m;
}

/* The oldest queued message, or NULL. */
static struct message *
q_head(const struct inbox *in)
{
	return ring_head(in->last);
}

/* Unlink and return the oldest queued message (the queue is not empty). */
static struct message *
q_pop(struct inbox *in)
{
	return ring_pop(&in->last);
}

/* Queue m as the youngest. */
static void
q_append(struct inbox *in, struct message *m)
{
	ring_append(&in->last, m);
}

/*
 * Put m back before every younger message: ids grow with sending time, so
 * two failed deliveries return in their order.
 */
static void
q_insert_by_id(struct inbox *in, struct message *m)
{
	struct message *prev = in->last, *cur;

	if (prev == NULL || prev->id < m->id) {
		q_append(in, m);
		return;
	}
	for (cur = prev->next; cur->id < m->id; cur = cur->next)
		prev = cur;
	m->next = cur;
	prev->next = m;
}

static size_t
inbox_cost(const struct inbox *in)
{
	return sizeof(*in) + in->name_len + 1 + STORE_MALLOC_OVERHEAD;
}

static const struct store_ops memory_store_ops;

struct store *
store_new(const struct store_limits *limits,
    const struct store_waiter_ops *ops, uint64_t now_ms, uint64_t tick_ms)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->bucket = calloc(INITIAL_BUCKETS, sizeof(*s->bucket));
	s->pins = calloc(PIN_BUCKETS, sizeof(*s->pins));
	if (s->bucket == NULL || s->pins == NULL || mem_room_init(s) == -1 ||
	    random_bytes(s->hash_key, 16) == -1 ||
	    pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s->bucket);
		free(s->pins);
		mem_room_fini(s);
		free(s);
		return NULL;
	}
	s->base.ops = &memory_store_ops;
	s->npin_buckets = PIN_BUCKETS;
	s->nbuckets = INITIAL_BUCKETS;
	s->lim = *limits;
	s->ops = ops;
	s->next_id = wall_us();
	timer_wheel_init(&s->wheel, tick_ms, now_ms);
	return s;
}

static void
free_queue(struct inbox *in)
{
	while (in->last != NULL)
		message_free(q_pop(in));
	while (in->unacked != NULL)
		message_free(ring_pop(&in->unacked));
}

static void
mem_free(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	mem_room_fini(s);
	for (i = 0; i < s->nbuckets; i++) {
		struct inbox *in, *next;

		for (in = s->bucket[i]; in != NULL; in = next) {
			next = in->hnext;
			free_queue(in);
			free(in->pin);
			wipe(in, inbox_cost(in) - STORE_MALLOC_OVERHEAD);
			free(in);
		}
	}
	free(s->bucket);
	free(s->pins);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static size_t
bucket_of(const struct store *s, const char *name, size_t len,
    size_t nbuckets)
{
	return (size_t)siphash24(s->hash_key, name, len) & (nbuckets - 1);
}

struct inbox *
mem_find(struct store *s, const char *name)
{
	size_t len = strlen(name);
	struct inbox *in;

	for (in = s->bucket[bucket_of(s, name, len, s->nbuckets)]; in != NULL;
	    in = in->hnext)
		if (in->name_len == len && memcmp(in->name, name, len) == 0)
			return in;
	return NULL;
}

/* Double the table when it is full; on failure the old one stays. */
static void
do_grow(struct store *s)
{
	TABLE_GROW(struct inbox, s->bucket, s->nbuckets, in, n,
	    bucket_of(s, in->name, in->name_len, n));
}

static void
do_unlink(struct store *s, struct inbox *in)
{
	struct inbox **pp =
	    &s->bucket[bucket_of(s, in->name, in->name_len, s->nbuckets)];

	while (*pp != in)
		pp = &(*pp)->hnext;
	*pp = in->hnext;
}

static uint64_t
msg_deadline(const struct store *s, const struct message *m)
{
	return m->enqueued_ms + s->lim.message_timeout_ms;
}

/* Forget an unacknowledged message taken off in->unacked. */
static void
do_unacked_free(struct store *s, struct inbox *in, struct message *m)
{
	in->nunacked--;
	in->unacked_bytes -= m->len;
	s->st.memory -= message_cost(m);
	message_free(m);
}

/*
 * Drop the messages that outlived message-timeout: queued ones oldest
 * first, and any awaiting an acknowledgement (a short list, handed out
 * nearly but not quite in id order, so looked at whole).
 */
static void
do_drop_stale(struct store *s, struct inbox *in, uint64_t now)
{
	struct message *m, *keep = NULL;
	uint32_t n;

	while ((m = q_head(in)) != NULL && msg_deadline(s, m) <= now) {
		q_pop(in);
		in->nmsg--;
		in->bytes -= m->len;
		s->st.messages--;
		s->st.bytes -= m->len;
		s->st.memory -= message_cost(m);
		s->st.expired++;
		message_free(m);
	}
	for (n = in->nunacked; n > 0; n--) {
		m = ring_pop(&in->unacked);
		if (msg_deadline(s, m) > now)
			ring_append(&keep, m);
		else {
			s->st.expired++;
			do_unacked_free(s, in, m);
		}
	}
	in->unacked = keep;
}

/*
 * The acknowledgement of an ack= GET (SPEC section 9): delete the
 * unacknowledged messages up to and including ack_id, in the order they
 * were handed out, and put the later ones back at the head of the queue
 * with their ids.  An id not awaiting acknowledgement deletes nothing.
 */
static void
do_ack(struct store *s, struct inbox *in, uint64_t ack_id)
{
	struct message *m = ring_head(in->unacked);
	bool del = false;
	uint32_t n;

	for (n = in->nunacked; n > 0 && !del; n--, m = m->next)
		del = ack_id != 0 && m->id == ack_id;
	while (in->unacked != NULL) {
		m = ring_pop(&in->unacked);
		if (del) {
			del = m->id != ack_id;
			s->st.acked++;
			do_unacked_free(s, in, m);
			continue;
		}
		in->nunacked--;
		in->unacked_bytes -= m->len;
		q_insert_by_id(in, m);
		in->nmsg++;
		in->bytes += m->len;
		s->st.messages++;
		s->st.bytes += m->len;
		s->st.requeued++;
	}
}

/*
 * Arm the inbox timer at its next deadline as seen from now.  A deadline
 * already passed fires at the next store_expire, unless a GET is held or
 * a message is out: then nothing is due yet, and the timer looks again a
 * timeout later.
 */
static void
do_arm_inbox(struct store *s, struct inbox *in, uint64_t now)
{
	uint64_t at = in->last_seen_ms + s->lim.inbox_timeout_ms;

	if (at <= now && (in->waiter != NULL || in->inflight > 0))
		at = now + s->lim.inbox_timeout_ms;
	if (q_head(in) != NULL && msg_deadline(s, q_head(in)) < at)
		at = msg_deadline(s, q_head(in));
	if (in->unacked != NULL) {
		struct message *m = in->unacked;

		do {
			m = m->next;
			if (msg_deadline(s, m) < at)
				at = msg_deadline(s, m);
		} while (m != in->unacked);
	}
	timer_add(&s->wheel, &in->timer, at);
}

/* The inbox timer fires by deadline at the latest. */
static void
do_arm_before(struct store *s, struct inbox *in, uint64_t deadline)
{
	if (!timer_pending(&in->timer) ||
	    deadline < timer_expires(&in->timer))
		timer_add(&s->wheel, &in->timer, deadline);
}

static struct pin **
pin_slot(struct store *s, uint32_t code)
{
	struct pin **pp = &s->pins[code & (s->npin_buckets - 1)];

	while (*pp != NULL && (*pp)->code != code)
		pp = &(*pp)->hnext;
	return pp;
}

/* Forget PIN p: unlink it from the table, its timer and its inbox. */
static void
do_drop_pin(struct store *s, struct pin *p)
{
	*pin_slot(s, p->code) = p->hnext;
	timer_del(&p->timer);
	p->inbox->pin = NULL;
	s->st.pins--;
	free(p);
}

static void
do_grow_pins(struct store *s)
{
	TABLE_GROW(struct pin, s->pins, s->npin_buckets, p, n,
	    p->code & (n - 1));
}

/* Delete an inbox with what is still queued in it; it leaves its rooms. */
static void
do_delete_inbox(struct store *s, struct inbox *in,
    struct store_waiter **release, uint64_t now)
{
	struct message *m;

	mem_room_forget(s, in, release, now);
	while (in->last != NULL) {
		m = q_pop(in);
		s->st.messages--;
		s->st.bytes -= m->len;
		s->st.memory -= message_cost(m);
		s->st.expired++;
		message_free(m);
	}
	while (in->unacked != NULL) {
		s->st.expired++;
		do_unacked_free(s, in, ring_pop(&in->unacked));
	}
	if (in->pin != NULL)
		do_drop_pin(s, in->pin);
	do_unlink(s, in);
	timer_del(&in->timer);
	s->st.inboxes--;
	s->st.memory -= inbox_cost(in);
	wipe(&in->cred, sizeof(in->cred));
	wipe(in->mac, sizeof(in->mac));
	free(in);
}

static void do_unhold(struct store *s, struct store_waiter *w,
    enum waiter_state why, struct store_waiter **release, uint64_t now);

static void
do_inbox_timer(struct store *s, struct inbox *in,
    struct store_waiter **release, uint64_t now)
{
	do_drop_stale(s, in, now);
	/* A GET held for a client that has hung up keeps nobody present. */
	if (in->waiter != NULL && !s->ops->alive(in->waiter))
		do_unhold(s, in->waiter, WAITER_GONE, release, now);
	if (in->waiter == NULL && in->inflight == 0 &&
	    in->last_seen_ms + s->lim.inbox_timeout_ms <= now) {
		s->st.inboxes_expired++;
		do_delete_inbox(s, in, release, now);
		return;
	}
	do_arm_inbox(s, in, now);
}

static void
do_unhold(struct store *s, struct store_waiter *w, enum waiter_state why,
    struct store_waiter **release, uint64_t now)
{
	struct inbox *in = w->inbox;

	timer_del(&w->timer);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		s->held = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	s->st.waiters--;
	in->waiter = NULL;
	/*
	 * A hold counts as a request of the owner until it ends, unless its
	 * client is gone: then the inbox ages from the GET's start, and
	 * presence in rooms follows within inbox-timeout.  While the hold
	 * lasted, the inbox timer may have been pushed a timeout past a
	 * firing; re-arm it, or the inbox would outlive that deadline by up
	 * to the length of the hold.
	 */
	if (why != WAITER_GONE && (why != WAITER_TIMEOUT || s->ops->alive(w)))
		in->last_seen_ms = now;
	else
		do_arm_inbox(s, in, now);
	if (why != WAITER_MESSAGE)
		w->inbox = NULL;
	w->state = why;
	w->next = *release;
	*release = w;
}

/*
 * Give m to the inbox's held GET if its client is still there, else queue
 * it: at the tail when sent, in id order near the head when requeued.
 */
static void
do_deliver(struct store *s, struct inbox *in, struct message *m, bool head,
    struct store_waiter **release, uint64_t now)
{
	struct store_waiter *w = in->waiter;

	if (w != NULL) {
		if (s->ops->alive(w)) {
			m->next = NULL;
			w->msg = m;
			in->inflight++;
			do_unhold(s, w, WAITER_MESSAGE, release, now);
			return;
		}
		do_unhold(s, w, WAITER_GONE, release, now);
	}
	if (head)
		q_insert_by_id(in, m);
	else
		q_append(in, m);
	in->nmsg++;
	in->bytes += m->len;
	s->st.messages++;
	s->st.bytes += m->len;
	s->st.memory += message_cost(m);
	/* The first message may expire before the inbox would. */
	if (q_head(in) == m)
		do_arm_before(s, in, msg_deadline(s, m));
}

static enum store_result
mem_login(struct store *s, const char *name,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	enum store_result r = STORE_NOT_FOUND;
	struct inbox *in;

	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, name)) != NULL) {
		if (ct_memcmp(in->mac, mac, CRED_MAC_BYTES) == 0) {
			in->last_seen_ms = now_ms;
			r = STORE_OK;
		} else
			r = STORE_WRONG;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static enum store_result
mem_create(struct store *s, const char *name, const struct cred_hash *hash,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	size_t len = strlen(name);
	struct inbox *in;
	enum store_result r = STORE_OK;

	if (len > UINT16_MAX)
		return STORE_NOMEM;
	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, name)) != NULL) {
		/* A concurrent first contact won: this is a login. */
		if (ct_memcmp(in->mac, mac, CRED_MAC_BYTES) == 0)
			in->last_seen_ms = now_ms;
		else
			r = STORE_WRONG;
		goto done;
	}
	if (s->st.inboxes >= s->lim.max_inboxes ||
	    s->st.memory + sizeof(*in) + len + 1 + STORE_MALLOC_OVERHEAD >
	    s->lim.max_memory) {
		r = STORE_SERVER_FULL;
		goto done;
	}
	if ((in = calloc(1, sizeof(*in) + len + 1)) == NULL) {
		r = STORE_NOMEM;
		goto done;
	}
	in->name_len = (uint16_t)len;
	memcpy(in->name, name, len + 1);
	in->cred = *hash;
	memcpy(in->mac, mac, CRED_MAC_BYTES);
	in->last_seen_ms = now_ms;
	timer_init(&in->timer, TIMER_INBOX);
	timer_add(&s->wheel, &in->timer, now_ms + s->lim.inbox_timeout_ms);
	if (s->st.inboxes >= s->nbuckets)
		do_grow(s);
	in->hnext = s->bucket[bucket_of(s, name, len, s->nbuckets)];
	s->bucket[bucket_of(s, name, len, s->nbuckets)] = in;
	s->st.inboxes++;
	s->st.memory += inbox_cost(in);
done:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Queue m in `in' after its quota checks: store_send and store_pin_send. */
enum store_result
mem_enqueue(struct store *s, struct inbox *in, struct message *m, uint64_t now_ms,
    struct store_waiter **release)
{
	do_drop_stale(s, in, now_ms);
	if (in->nmsg + in->nunacked >= s->lim.max_messages ||
	    (uint64_t)in->bytes + in->unacked_bytes + m->len >
	    s->lim.max_inbox_bytes)
		return STORE_INBOX_FULL;
	if (s->st.memory + message_cost(m) > s->lim.max_memory)
		return STORE_SERVER_FULL;
	m->id = s->next_id++;
	m->enqueued_ms = now_ms;
	s->st.sent++;
	do_deliver(s, in, m, false, release, now_ms);
	return STORE_OK;
}

static enum store_result
mem_send(struct store *s, const char *to, struct message *m,
    uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	enum store_result r = STORE_NOT_FOUND;
	struct inbox *in;

	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, to)) != NULL)
		r = mem_enqueue(s, in, m, now_ms, &release);
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return r;
}

static enum store_result
mem_receive(struct store *s, const char *name, struct store_waiter *w,
    uint64_t wait_ms, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	enum store_result r;
	struct inbox *in;
	struct message *m;

	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, name)) == NULL) {
		r = STORE_NOT_FOUND;
		goto done;
	}
	in->last_seen_ms = now_ms;
	do_drop_stale(s, in, now_ms);
	if (w->get.ack) {
		in->acks++;
		do_ack(s, in, w->get.ack_id);
		/*
		 * A GET held meanwhile (one without ack= leaves what is in
		 * flight alone) may not wait beside what came back: it gives
		 * way to this newer one, as SPEC section 2 says.
		 */
		if (in->waiter != NULL && in->last != NULL)
			do_unhold(s, in->waiter, WAITER_DISPLACED, &release,
			    now_ms);
	}
	w->epoch = in->acks; /* what it is handed, now or held */
	if (in->last != NULL) {
		struct message **tail = &w->msg;
		unsigned k = 0;

		do {
			m = q_pop(in);
			in->nmsg--;
			in->bytes -= m->len;
			in->inflight++;
			s->st.messages--;
			s->st.bytes -= m->len;
			s->st.memory -= message_cost(m);
			*tail = m;
			tail = &m->next;
		} while (++k < w->get.max && in->last != NULL);
		w->inbox = in;
		w->state = WAITER_IDLE;
		r = STORE_OK;
		goto done;
	}
	if (wait_ms == 0 || s->shutting_down) {
		r = STORE_EMPTY;
		goto done;
	}
	if (in->waiter != NULL)
		do_unhold(s, in->waiter, WAITER_DISPLACED, &release, now_ms);
	w->inbox = in;
	w->msg = NULL;
	w->state = WAITER_HELD;
	timer_init(&w->timer, TIMER_WAITER);
	timer_add(&s->wheel, &w->timer, now_ms + wait_ms);
	w->prev = NULL;
	w->next = s->held;
	if (s->held != NULL)
		s->held->prev = w;
	s->held = w;
	s->st.waiters++;
	in->waiter = w;
	s->ops->hold(w);
	r = STORE_HELD;
done:
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return r;
}

static void
mem_done(struct store *s, struct store_waiter *w, bool delivered,
    uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	struct inbox *in = w->inbox;
	struct message *m = w->msg, *next;

	if (m == NULL)
		return;
	w->msg = NULL;
	w->inbox = NULL;
	w->state = WAITER_IDLE;
	pthread_mutex_lock(&s->lock);
	in->last_seen_ms = now_ms;
	/*
	 * An ack= GET came while this response was being written: its
	 * client had given up on it, or it would not have asked again, so
	 * what it carried must not wait to be acknowledged after what the
	 * newer GET took (an ack of that would delete it unread).  It goes
	 * back; if it did arrive after all, it comes again with its id.
	 */
	if (delivered && w->get.ack && w->epoch != in->acks)
		delivered = false;
	for (; m != NULL; m = next) {
		next = m->next;
		in->inflight--;
		if (delivered) {
			s->st.delivered++;
			if (!w->get.ack) {
				message_free(m);
				continue;
			}
			ring_append(&in->unacked, m);
			in->nunacked++;
			in->unacked_bytes += m->len;
			s->st.memory += message_cost(m);
			do_arm_before(s, in, msg_deadline(s, m));
		} else if (msg_deadline(s, m) <= now_ms) {
			s->st.expired++;
			message_free(m);
		} else {
			s->st.requeued++;
			do_deliver(s, in, m, true, &release, now_ms);
		}
	}
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
}

static void
mem_hangup(struct store *s, struct store_waiter *w, uint64_t now_ms)
{
	struct store_waiter *release = NULL;

	pthread_mutex_lock(&s->lock);
	if (w->state == WAITER_HELD && w->inbox != NULL &&
	    w->inbox->waiter == w)
		do_unhold(s, w, WAITER_GONE, &release, now_ms);
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
}

static enum store_result
mem_pin_create(struct store *s, const char *name, unsigned digits,
    uint64_t timeout_ms, uint64_t now_ms, uint32_t *code)
{
	enum store_result r = STORE_SERVER_FULL;
	struct inbox *in;
	struct pin *p;
	int64_t c = -1;
	int i;

	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, name)) == NULL) {
		r = STORE_NOT_FOUND;
		goto done;
	}
	for (i = 0; i < PIN_DRAWS; i++)
		if ((c = random_code(digits)) == -1 ||
		    *pin_slot(s, (uint32_t)c) == NULL)
			break;
	if (c == -1 || i == PIN_DRAWS)
		goto done; /* nearly every code is live */
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = STORE_NOMEM;
		goto done;
	}
	if (in->pin != NULL)
		do_drop_pin(s, in->pin);
	if (s->st.pins >= s->npin_buckets)
		do_grow_pins(s);
	p->code = (uint32_t)c;
	p->inbox = in;
	timer_init(&p->timer, TIMER_PIN);
	timer_add(&s->wheel, &p->timer, now_ms + timeout_ms);
	p->hnext = s->pins[p->code & (s->npin_buckets - 1)];
	s->pins[p->code & (s->npin_buckets - 1)] = p;
	in->pin = p;
	in->last_seen_ms = now_ms;
	s->st.pins++;
	*code = p->code;
	r = STORE_OK;
done:
	pthread_mutex_unlock(&s->lock);
	return r;
}

static enum store_result
mem_pin_send(struct store *s, uint32_t code, struct message *m,
    uint64_t now_ms, char to[STORE_NAME_MAX + 1])
{
	struct store_waiter *release = NULL;
	enum store_result r;
	struct inbox *in;
	struct pin *p;

	pthread_mutex_lock(&s->lock);
	if ((p = *pin_slot(s, code)) == NULL) {
		r = STORE_NOT_FOUND;
		goto done;
	}
	in = p->inbox;
	if ((r = mem_enqueue(s, in, m, now_ms, &release)) != STORE_OK)
		goto done; /* the PIN stays, for another try */
	memcpy(to, in->name, in->name_len + 1);
	do_drop_pin(s, p);
done:
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return r;
}

static void
mem_expire(struct store *s, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	struct timer *t;

	pthread_mutex_lock(&s->lock);
	while ((t = timer_next(&s->wheel, now_ms)) != NULL) {
		if (timer_kind(t) == TIMER_INBOX)
			do_inbox_timer(s, container_of(t, struct inbox, timer),
			    &release, now_ms);
		else if (timer_kind(t) == TIMER_ROOM)
			mem_room_timer(s, t, &release, now_ms);
		else if (timer_kind(t) == TIMER_PIN)
			do_drop_pin(s, container_of(t, struct pin, timer));
		else
			do_unhold(s, container_of(t, struct store_waiter, timer),
			    WAITER_TIMEOUT, &release, now_ms);
	}
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
}

static void
mem_shutdown(struct store *s, uint64_t now)
{
	struct store_waiter *release = NULL;

	pthread_mutex_lock(&s->lock);
	s->shutting_down = true;
	while (s->held != NULL)
		do_unhold(s, s->held, WAITER_SHUTDOWN, &release, now);
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
}

#define BREACH(...) do { snprintf(why, len, __VA_ARGS__); goto done; } while (0)

static int
mem_check(struct store *s, char *why, size_t len)
{
	uint64_t inboxes = 0, messages = 0, bytes = 0, memory = 0, waiters = 0;
	struct store_waiter *w;
	int ret = -1;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nbuckets; i++) {
		struct inbox *in;

		for (in = s->bucket[i]; in != NULL; in = in->hnext) {
			struct message *m, *last = NULL;
			uint64_t n = 0, b = 0;

			inboxes++;
			memory += inbox_cost(in);
			if (bucket_of(s, in->name, in->name_len, s->nbuckets) != i)
				BREACH("inbox %s in the wrong bucket", in->name);
			if (!timer_pending(&in->timer))
				BREACH("inbox %s has no timer", in->name);
			for (m = q_head(in); m != NULL;
			    m = m == in->last ? NULL : m->next) {
				if (last != NULL && last->id >= m->id)
					BREACH("inbox %s out of order", in->name);
				if (++n > in->nmsg)
					BREACH("inbox %s: a broken ring", in->name);
				b += m->len;
				memory += message_cost(m);
				last = m;
			}
			if (n != in->nmsg || b != in->bytes)
				BREACH("inbox %s: %u messages, %llu bytes counted, "
				    "%llu and %llu queued", in->name, in->nmsg,
				    (unsigned long long)in->bytes,
				    (unsigned long long)n, (unsigned long long)b);
			messages += n;
			bytes += b;
			for (m = ring_head(in->unacked), n = 0, b = 0; m != NULL;
			    m = m == in->unacked ? NULL : m->next) {
				if (++n > in->nunacked)
					BREACH("inbox %s: a broken ring of "
					    "unacknowledged messages", in->name);
				b += m->len;
				memory += message_cost(m);
			}
			if (n != in->nunacked || b != in->unacked_bytes)
				BREACH("inbox %s: %u unacknowledged counted, "
				    "%llu found", in->name, in->nunacked,
				    (unsigned long long)n);
			if (in->waiter != NULL && (in->last != NULL ||
			    in->waiter->inbox != in ||
			    in->waiter->state != WAITER_HELD))
				BREACH("inbox %s: held GET beside messages",
				    in->name);
		}
	}
	for (w = s->held; w != NULL; w = w->next) {
		if (w->inbox == NULL || w->inbox->waiter != w)
			BREACH("a held GET its inbox does not know");
		waiters++;
	}
	memory += mem_room_memory(s);
	if (inboxes != s->st.inboxes || messages != s->st.messages ||
	    bytes != s->st.bytes || memory != s->st.memory ||
	    waiters != s->st.waiters)
		BREACH("totals: %llu/%llu inboxes, %llu/%llu messages, "
		    "%llu/%llu bytes, %llu/%llu memory, %llu/%llu waiters",
		    (unsigned long long)inboxes,
		    (unsigned long long)s->st.inboxes,
		    (unsigned long long)messages,
		    (unsigned long long)s->st.messages,
		    (unsigned long long)bytes, (unsigned long long)s->st.bytes,
		    (unsigned long long)memory, (unsigned long long)s->st.memory,
		    (unsigned long long)waiters,
		    (unsigned long long)s->st.waiters);
	if (inboxes > s->lim.max_inboxes)
		BREACH("over max-inboxes");
	for (i = 0, waiters = 0; i < s->npin_buckets; i++) {
		struct pin *p;

		for (p = s->pins[i]; p != NULL; p = p->hnext) {
			if (p->inbox->pin != p || !timer_pending(&p->timer) ||
			    (p->code & (s->npin_buckets - 1)) != i)
				BREACH("PIN %u astray", p->code);
			waiters++;
		}
	}
	if (waiters != s->st.pins)
		BREACH("%llu PINs counted, %llu live",
		    (unsigned long long)s->st.pins,
		    (unsigned long long)waiters);
	ret = mem_room_check(s, why, len);
done:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void
mem_set_renderer(struct store *s, room_render_fn render)
{
	pthread_mutex_lock(&s->lock);
	s->render = render;
	pthread_mutex_unlock(&s->lock);
}

static void
mem_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->st;
	pthread_mutex_unlock(&s->lock);
}

static enum store_result
mem_credential(struct store *s, const char *name, struct cred_hash *hash)
{
	enum store_result r = STORE_NOT_FOUND;
	struct inbox *in;

	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, name)) != NULL) {
		*hash = in->cred;
		r = STORE_OK;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The MAC of every inbox is kept with it: a verified one must match. */
static enum store_result
mem_admit(struct store *s, const char *name, const struct cred_hash *hash,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	enum store_result r = STORE_NOT_FOUND;
	struct inbox *in;

	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, name)) != NULL) {
		r = STORE_WRONG;
		if (ct_memcmp(in->cred.salt, hash->salt,
		    sizeof(hash->salt)) == 0 &&
		    ct_memcmp(in->mac, mac, CRED_MAC_BYTES) == 0) {
			in->last_seen_ms = now_ms;
			r = STORE_OK;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Memory is always there. */
static bool
mem_healthy(struct store *s)
{
	(void)s;
	return true;
}

static void
mem_set_limits(struct store *s, const struct store_limits *lim)
{
	pthread_mutex_lock(&s->lock);
	s->lim = *lim;
	pthread_mutex_unlock(&s->lock);
}

static const struct store_ops memory_store_ops = {
	.free = mem_free,
	.login = mem_login,
	.create = mem_create,
	.send = mem_send,
	.pin_create = mem_pin_create,
	.pin_send = mem_pin_send,
	.receive = mem_receive,
	.done = mem_done,
	.hangup = mem_hangup,
	.expire = mem_expire,
	.shutdown = mem_shutdown,
	.check = mem_check,
	.stats = mem_stats,
	.set_renderer = mem_set_renderer,
	.room_create = mem_room_create,
	.room_join = mem_room_join,
	.room_members = mem_room_members,
	.room_send = mem_room_send,
	.room_invite = mem_room_invite,
	.room_leave = mem_room_leave,
	.room_close = mem_room_close,
	.credential = mem_credential,
	.admit = mem_admit,
	.healthy = mem_healthy,
	.set_limits = mem_set_limits,
};
