/*
 * model.c - the program and the model that the store targets share
 * (model.h, test/fuzz/README).
 *
 * An operation runs in four steps: note what the model expects, call the
 * store, settle (judge every release the call caused, waiting for those
 * due when the store releases from another thread), then judge the
 * answer.  A release is judged in the context of the call that caused
 * it (c->call), so releases judged after the call returned are judged
 * as the in-memory store's, which come before it returns.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

/* Longest wait for a release that is due, for a store that releases
 * from another thread: a lost wake-up then fails the input. */
#define SETTLE_MS 5000

const char *const model_names[NNAMES] = { "alice", "bob", "carol",
	"zo\xc3\xab", "dave@example.org", "e/f+g=", "7",
	"\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6" };

const char *const model_types[4] = { NULL, "", "application/sdp",
	"text/plain; charset=utf-8" };

#define names model_names

/* Argument bytes of each operation. */
static const unsigned nargs[NOPS] = {
	[OP_CREATE] = 1, [OP_LOGIN] = 1, [OP_SEND] = 3, [OP_RECEIVE] = 1,
	[OP_RECEIVE_WAIT] = 2, [OP_DONE] = 1, [OP_ADVANCE] = 2,
	[OP_SHUTDOWN] = 0, [OP_HANGUP] = 1, [OP_JUMP] = 1, [OP_EDGE] = 2,
	[OP_PIN_CREATE] = 2, [OP_PIN_SEND] = 3, [OP_RECEIVE_GET] = 3,
};

static const struct model_driver *current; /* for model_fail */
static int trace = -1; /* FUZZ_TRACE set: each operation on stderr */

void
model_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", current != NULL ? current->name : "fuzz");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (current != NULL && current->failed != NULL)
		current->failed();
	abort();
}

static uint8_t
pattern(uint64_t id, size_t i)
{
	return (uint8_t)(id * 131 + i * 7 + (i >> 8));
}

static uint64_t
deadline(const struct model *c, const struct rec *r)
{
	return r->enq_lo + c->drv->lim.message_timeout_ms;
}

/* The store's clock, for enqueue times. */
static uint64_t
store_clock(struct model *c)
{
	return c->drv->clock != NULL ? c->drv->clock(c) : c->now;
}

/* Move the low watermark past messages that are finished for good. */
static uint64_t
first_live(struct model *c)
{
	while (c->low <= c->sent && (c->rec[c->low].state == M_DELIVERED ||
	    c->rec[c->low].state == M_EXPIRED))
		c->low++;
	return c->low;
}

static void
reset_waiter(struct slot *sl)
{
	memset(&sl->w, 0, sizeof(sl->w));
	sl->w.owner = sl;
	sl->state = S_FREE;
	sl->box = -1;
	sl->nids = 0;
	sl->epoch = 0;
}

/* Slot index of the GET held on inbox k, or -1. */
static int
holder(const struct model *c, int k)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_HELD && c->slot[i].box == k)
			return i;
	return -1;
}

static int
in_flight(const struct model *c, int k)
{
	int i, n = 0;

	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_FLIGHT && c->slot[i].box == k)
			n++;
	return n;
}

int
model_pick_slot(const struct model *c, int from, enum slot_state want)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		if (c->slot[(from + i) % NSLOTS].state == want)
			return (from + i) % NSLOTS;
	return -1;
}

/*
 * The store may have deleted inbox k by now (SPEC section 3): a GET held
 * for a client that has hung up keeps nobody present.  Never, for a
 * store on a clock of its own.
 */
static bool
deletable(const struct model *c, int k)
{
	int h = holder(c, k);

	return c->drv->timed && (h == -1 || !c->slot[h].alive) &&
	    in_flight(c, k) == 0 && c->expired_at >=
	    c->box[k].last_act_ms + c->drv->lim.inbox_timeout_ms;
}

/*
 * ... and must have: at most one tick after its deadline.  (A hung-up
 * holder is noticed when the inbox's timer next fires, which may be a
 * timeout later: no promise then.)  A hold that ended without refreshing
 * the inbox, after the last store_expire, kept it until then: the
 * promise starts with the next store_expire.
 */
static bool
must_be_gone(const struct model *c, int k)
{
	return deletable(c, k) && holder(c, k) == -1 &&
	    !c->box[k].freed && c->expired_at >= c->box[k].last_act_ms +
	    c->drv->lim.inbox_timeout_ms + c->drv->tick_ms;
}

struct before
model_look(const struct model *c, int k)
{
	struct before b = { c->box[k].present, false, false };

	if (b.present) {
		b.deletable = deletable(c, k);
		b.gone = must_be_gone(c, k);
	}
	return b;
}

void
model_found(struct model *c, int k, const struct before *b,
    const char *what)
{
	REQUIRE(b->present, "%s: inbox %s exists but was never created or "
	    "was found deleted", what, names[k]);
	REQUIRE(!b->gone, "%s: inbox %s idle since %llu still exists at "
	    "expiry %llu (timeout %llu, tick %llu)", what, names[k],
	    (unsigned long long)c->box[k].last_act_ms,
	    (unsigned long long)c->expired_at,
	    (unsigned long long)c->drv->lim.inbox_timeout_ms,
	    (unsigned long long)c->drv->tick_ms);
}

void
model_not_found(struct model *c, int k, const struct before *b,
    const char *what)
{
	size_t id;

	if (!b->present)
		return;
	REQUIRE(b->deletable, "%s: inbox %s vanished: last active %llu, "
	    "last expiry %llu, %s, %d in flight", what, names[k],
	    (unsigned long long)c->box[k].last_act_ms,
	    (unsigned long long)c->expired_at,
	    holder(c, k) >= 0 ? "held" : "not held", in_flight(c, k));
	for (id = first_live(c); id <= c->sent; id++)
		if (c->rec[id].to == k && (c->rec[id].state == M_QUEUED ||
		    c->rec[id].state == M_AWAIT)) {
			c->rec[id].state = M_EXPIRED;
			c->expired++;
		}
	c->box[k].present = false;
	c->box[k].pin = false; /* a PIN goes with its inbox */
	c->deletions++;
}

/* Inbox k's PIN must still be live: neither it nor its inbox can be gone. */
static bool
pin_must_live(const struct model *c, int k)
{
	return c->box[k].present && c->box[k].pin && !deletable(c, k) &&
	    (!c->drv->timed || c->expired_at < c->box[k].pin_deadline_ms);
}

/* ... or may be: at most one tick past its deadline, its inbox too. */
static bool
pin_may_live(const struct model *c, int k)
{
	return c->box[k].present && c->box[k].pin && !must_be_gone(c, k) &&
	    (!c->drv->timed || c->expired_at < c->box[k].pin_deadline_ms +
	    c->drv->tick_ms);
}

/*
 * Drop what the store drops when it touches inbox k at now: queued
 * messages and those awaiting an acknowledgement past message-timeout.
 */
static void
drop_stale(struct model *c, int k)
{
	size_t id;

	if (!c->drv->timed)
		return;
	for (id = first_live(c); id <= c->sent; id++)
		if (c->rec[id].to == k && (c->rec[id].state == M_QUEUED ||
		    c->rec[id].state == M_AWAIT) &&
		    deadline(c, &c->rec[id]) <= c->now) {
			c->rec[id].state = M_EXPIRED;
			c->expired++;
		}
}

uint64_t
model_oldest(struct model *c, int k, uint64_t *n, uint64_t *bytes)
{
	uint64_t first = 0;
	size_t id;

	*n = *bytes = 0;
	for (id = first_live(c); id <= c->sent + c->pending; id++)
		if (c->rec[id].to == k && c->rec[id].state == M_QUEUED) {
			if (first == 0)
				first = id;
			(*n)++;
			*bytes += c->rec[id].len;
		}
	return first;
}

uint64_t
model_awaiting(struct model *c, int k, uint64_t *n, uint64_t *bytes)
{
	uint64_t last = 0, seq = 0;
	size_t id;

	*n = *bytes = 0;
	for (id = first_live(c); id <= c->sent; id++)
		if (c->rec[id].to == k && c->rec[id].state == M_AWAIT) {
			if (c->rec[id].seq > seq) {
				seq = c->rec[id].seq;
				last = id;
			}
			(*n)++;
			*bytes += c->rec[id].len;
		}
	return last;
}

/*
 * Message number n came with id, an id of the store's own (SPEC section
 * 9): learnt the first time, the same each time it comes back, below
 * 2^53, and in the order of the sends.
 */
static void
check_id(struct model *c, uint64_t n, uint64_t id)
{
	struct rec *r = &c->rec[n];
	uint64_t j;

	if (r->id != 0) {
		REQUIRE(id == r->id, "message %llu came back as id %llu, "
		    "was %llu", (unsigned long long)n,
		    (unsigned long long)id, (unsigned long long)r->id);
		return;
	}
	REQUIRE(id != 0 && id < (uint64_t)1 << 53, "message %llu has id %llu",
	    (unsigned long long)n, (unsigned long long)id);
	for (j = 1; j <= c->sent + c->pending; j++)
		REQUIRE(j == n || c->rec[j].id == 0 || (j < n ?
		    c->rec[j].id < id : c->rec[j].id > id),
		    "message %llu has id %llu, message %llu %llu",
		    (unsigned long long)n, (unsigned long long)id,
		    (unsigned long long)j, (unsigned long long)c->rec[j].id);
	r->id = id;
	if (id > c->last_id)
		c->last_id = id;
}

/* A message handed out must be message number id as it was sent. */
static void
check_message(struct model *c, struct message *m, uint64_t id)
{
	const struct rec *r = &c->rec[id];
	const char *type = model_types[r->type];
	const uint8_t *body;
	uint32_t i;

	check_id(c, id, m->id);
	REQUIRE(m->enqueued_ms >= r->enq_lo && m->enqueued_ms <= r->enq_hi,
	    "message %llu enqueued at %llu, sent between %llu and %llu",
	    (unsigned long long)id, (unsigned long long)m->enqueued_ms,
	    (unsigned long long)r->enq_lo, (unsigned long long)r->enq_hi);
	REQUIRE(strcmp(message_from(m), names[r->from]) == 0,
	    "message %llu: sender %s, sent by %s", (unsigned long long)id,
	    message_from(m), names[r->from]);
	if (type == NULL || *type == '\0')
		REQUIRE(message_type(m) == NULL, "message %llu: a type from "
		    "nowhere", (unsigned long long)id);
	else
		REQUIRE(message_type(m) != NULL &&
		    strcmp(message_type(m), type) == 0, "message %llu: "
		    "Content-Type", (unsigned long long)id);
	REQUIRE(message_room(m) == NULL && m->event == EVENT_NONE,
	    "message %llu: a direct message from a room",
	    (unsigned long long)id);
	REQUIRE(m->len == r->len, "message %llu: length %u, sent %u",
	    (unsigned long long)id, m->len, r->len);
	REQUIRE(c->drv->copies || message_cost(m) == r->cost,
	    "message %llu: cost changed", (unsigned long long)id);
	body = (const uint8_t *)message_body(m);
	for (i = 0; i < m->len; i++)
		REQUIRE(body[i] == pattern(id, i), "message %llu: body byte %u",
		    (unsigned long long)id, i);
}

/* SPEC section 2: a message older than message-timeout is never delivered. */
static void
check_live(const struct model *c, uint64_t id)
{
	const struct rec *r = &c->rec[id];

	REQUIRE(!c->drv->timed || c->now < deadline(c, r), "message %llu "
	    "sent at %llu handed out at %llu, past message-timeout",
	    (unsigned long long)id, (unsigned long long)r->enq_lo,
	    (unsigned long long)c->now);
}

static bool
model_alive(struct store_waiter *w)
{
	struct slot *sl = w->owner;
	struct model *c = sl->c;
	bool alive;

	pthread_mutex_lock(&c->mu);
	REQUIRE(sl->state == S_HELD, "alive() of a waiter not held");
	/* Redis' subscriber asks whenever a wake-up comes. */
	REQUIRE(c->drv->async || c->call == CALL_EXPIRE ||
	    ((c->call == CALL_SEND || c->call == CALL_DONE) &&
	    sl->box == c->call_box),
	    "alive() outside a delivery to its inbox or expiry");
	alive = sl->alive;
	pthread_mutex_unlock(&c->mu);
	return alive;
}

static void
model_hold(struct store_waiter *w)
{
	struct slot *sl = w->owner;
	struct model *c = sl->c;

	pthread_mutex_lock(&c->mu);
	REQUIRE(c->call == CALL_RECEIVE && sl->idx == c->call_slot,
	    "hold() of slot %d outside its receive", sl->idx);
	REQUIRE(!c->shutdown, "a hold after shutdown");
	REQUIRE(sl->state == S_FREE && sl->holds == sl->releases,
	    "hold() of a waiter already held or in flight");
	REQUIRE(w->state == WAITER_HELD, "hold() with state %d", w->state);
	sl->holds++;
	sl->state = S_HELD;
	sl->box = c->call_box;
	pthread_mutex_unlock(&c->mu);
}

/* A release is noted here, from whichever thread, and judged by settle. */
static void
model_release(struct store_waiter *w)
{
	struct slot *sl = w->owner;
	struct model *c = sl->c;

	pthread_mutex_lock(&c->mu);
	REQUIRE(sl->releases < sl->holds, "slot %d released twice or never "
	    "held", sl->idx);
	sl->releases++;
	c->ring[c->nring++] = sl->idx;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

const struct store_waiter_ops model_ops = { model_alive, model_hold,
	model_release };

/* A receive's max= as the stores read it: 0 and 1 are one. */
static unsigned
get_max(const struct store_get *get)
{
	return get->max > 1 ? get->max : 1;
}

/*
 * Slot sl took the chain w->msg from inbox k, having asked for up to
 * want: the oldest min(want, queued) live messages of the model's queue,
 * oldest first, each as it was sent.  They are in flight now.
 */
static void
take_chain(struct model *c, struct slot *sl, int k, unsigned want,
    const char *what)
{
	uint64_t ids[MAX_CHAIN];
	unsigned n = 0, j = 0;
	struct message *m;
	size_t id;

	for (id = first_live(c); id <= c->sent + c->pending && n < want &&
	    n < MAX_CHAIN; id++)
		if (c->rec[id].to == k && c->rec[id].state == M_QUEUED)
			ids[n++] = id;
	REQUIRE(n > 0, "%s: slot %d took message %llu; %s has none queued",
	    what, sl->idx, sl->w.msg != NULL ?
	    (unsigned long long)sl->w.msg->id : 0ULL, names[k]);
	for (m = sl->w.msg; m != NULL; m = m->next, j++) {
		REQUIRE(j < n, "%s: slot %d took more than %u messages (max "
		    "%u) from %s", what, sl->idx, n, want, names[k]);
		check_message(c, m, ids[j]);
		check_live(c, ids[j]);
	}
	REQUIRE(j == n, "%s: slot %d took %u messages of %u (max %u) from %s",
	    what, sl->idx, j, n, want, names[k]);
	for (j = 0; j < n; j++) {
		c->rec[ids[j]].state = M_FLIGHT;
		sl->ids[j] = ids[j];
	}
	sl->nids = n;
	sl->state = S_FLIGHT;
	sl->box = k;
}

/* Judge the release of slot sl by the call under way (c->mu held). */
static void
judge_release(struct model *c, struct slot *sl)
{
	struct store_waiter *w = &sl->w;
	int k = sl->box;
	unsigned j;
	bool ours;

	REQUIRE(sl->state == S_HELD, "slot %d released twice or never held",
	    sl->idx);
	/* A hold ended refreshes its inbox, unless its client is gone. */
	if (w->state != WAITER_GONE &&
	    (w->state != WAITER_TIMEOUT || sl->alive))
		c->box[k].last_act_ms = c->now;
	else
		c->box[k].freed = true;
	switch (w->state) {
	case WAITER_MESSAGE:
		REQUIRE((c->call == CALL_SEND || c->call == CALL_DONE) &&
		    k == c->call_box, "a message handed outside a delivery");
		REQUIRE(sl->alive, "a message handed to a waiter gone");
		REQUIRE(w->msg != NULL && w->inbox != NULL,
		    "handed message without its inbox");
		for (j = 0, ours = false; j < c->ndeliv; j++)
			ours |= w->msg == c->deliv[j];
		REQUIRE(c->drv->copies || ours,
		    "handed a message other than those delivered");
		REQUIRE(c->handed == -1, "one message handed twice");
		/* A held GET waits beside an empty queue: the message is
		 * one delivered now, and the oldest; one alone, or (a
		 * wake-up's pop) up to its max= of the oldest. */
		take_chain(c, sl, k, c->drv->wake_batch ? get_max(&w->get) : 1,
		    "handed");
		c->handed = sl->idx;
		return;
	case WAITER_TIMEOUT:
		REQUIRE(c->call == CALL_EXPIRE, "a timeout outside expiry");
		REQUIRE(c->now >= sl->since_ms + sl->wait_ms,
		    "hold of %llu ms since %llu timed out early at %llu",
		    (unsigned long long)sl->wait_ms,
		    (unsigned long long)sl->since_ms,
		    (unsigned long long)c->now);
		break;
	case WAITER_DISPLACED:
		REQUIRE(c->call == CALL_RECEIVE && k == c->call_box &&
		    sl->idx != c->call_slot, "displaced, not by a receive on "
		    "its inbox");
		break;
	case WAITER_SHUTDOWN:
		REQUIRE(c->call == CALL_SHUTDOWN, "shutdown release outside "
		    "store_shutdown");
		break;
	case WAITER_GONE:
		REQUIRE(c->call == CALL_EXPIRE || ((c->call == CALL_SEND ||
		    c->call == CALL_DONE) && k == c->call_box),
		    "gone outside a delivery or expiry");
		REQUIRE(!sl->alive, "a live waiter released as gone");
		break;
	default:
		REQUIRE(0, "released with state %d", w->state);
	}
	REQUIRE(w->msg == NULL, "a message with a release of state %d",
	    w->state);
	reset_waiter(sl);
}

/*
 * Judge the releases the call made, having waited (for a store that
 * releases from another thread, SETTLE_MS at most) until each slot of
 * the mask `due' has been released.
 */
static void
settle(struct model *c, unsigned due)
{
	struct timespec until;
	unsigned seen = 0, i;
	int k;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SETTLE_MS / 1000;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		for (i = 0; i < c->nring; i++) {
			seen |= 1u << c->ring[i];
			judge_release(c, &c->slot[c->ring[i]]);
		}
		c->nring = 0;
		if ((due & ~seen) == 0 || !c->drv->async)
			break;
		if (pthread_cond_timedwait(&c->cond, &c->mu, &until) ==
		    ETIMEDOUT && c->nring == 0)
			break;
	}
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < NSLOTS; i++) {
		if (!(due & ~seen & 1u << i))
			continue;
		k = c->slot[i].box;
		REQUIRE(0, "slot %u, held on %s since %llu for %llu ms, was "
		    "not released%s", i, k >= 0 ? names[k] : "-",
		    (unsigned long long)c->slot[i].since_ms,
		    (unsigned long long)c->slot[i].wait_ms,
		    c->drv->async ? " within 5 s" : "");
	}
}

/* A call is under way, to inbox k with message m. */
static void
begin_call(struct model *c, enum call call, int k, const struct message *m)
{
	c->call = call;
	c->call_box = k;
	for (c->ndeliv = 0; m != NULL && c->ndeliv < MAX_CHAIN; m = m->next)
		c->deliv[c->ndeliv++] = m;
	c->handed = -1;
}

static void
end_call(struct model *c)
{
	c->call = CALL_NONE;
	c->pending = false;
}

static unsigned
bit(int i)
{
	return i >= 0 ? 1u << i : 0;
}

void
model_mac(int k, int pw, uint8_t mac[CRED_MAC_BYTES])
{
	memset(mac, 0, CRED_MAC_BYTES);
	mac[0] = (uint8_t)(k + 1);
	mac[1] = (uint8_t)(pw + 1);
}

static void
contact(struct model *c, int k)
{
	if (c->drv->contact != NULL)
		c->drv->contact(c, k);
}

void
model_check_all(struct model *c)
{
	const struct store_limits *lim = &c->drv->lim;
	struct store_stats st;
	uint64_t msg_lo = 0, msg_hi = 0, bytes_lo = 0, bytes_hi = 0;
	uint64_t box_lo = 0, box_hi = 0, held = 0, flight = 0;
	uint64_t pin_lo = 0, pin_hi = 0, aw_lo = 0, aw_hi = 0;
	int64_t awaiting;
	char why[512];
	size_t id;
	int i, k;

	why[0] = '\0';
	REQUIRE(store_check(c->s, why, sizeof(why)) == 0, "store_check: %s",
	    why);
	store_stats(c->s, &st);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < NSLOTS; i++) {
		const struct slot *sl = &c->slot[i];

		held += sl->state == S_HELD;
		flight += sl->state == S_FLIGHT ? sl->nids : 0;
		REQUIRE(sl->holds == sl->releases + (sl->state == S_HELD),
		    "slot %d: %u holds, %u releases", i, sl->holds,
		    sl->releases);
	}
	pthread_mutex_unlock(&c->mu);
	REQUIRE(st.sent == c->sent, "sent %llu, model %llu",
	    (unsigned long long)st.sent, (unsigned long long)c->sent);
	REQUIRE(st.delivered == c->delivered, "delivered %llu, model %llu",
	    (unsigned long long)st.delivered,
	    (unsigned long long)c->delivered);
	REQUIRE(st.requeued == c->requeued, "requeued %llu, model %llu",
	    (unsigned long long)st.requeued, (unsigned long long)c->requeued);
	REQUIRE(st.acked == c->acked, "acked %llu, model %llu",
	    (unsigned long long)st.acked, (unsigned long long)c->acked);
	REQUIRE(st.waiters == held, "%llu waiters, %llu held",
	    (unsigned long long)st.waiters, (unsigned long long)held);
	REQUIRE(st.expired >= c->expired, "expired %llu, model at least %llu",
	    (unsigned long long)st.expired, (unsigned long long)c->expired);
	if (c->drv->check != NULL)
		c->drv->check(c, &st);
	if (!c->drv->gauges)
		return;
	/* PINs: one at most an inbox, expiring like everything else. */
	for (k = 0; k < NNAMES; k++) {
		pin_lo += pin_must_live(c, k);
		pin_hi += pin_may_live(c, k);
	}
	REQUIRE(pin_lo <= st.pins && st.pins <= pin_hi,
	    "%llu PINs, model %llu to %llu at %llu (expired at %llu)",
	    (unsigned long long)st.pins, (unsigned long long)pin_lo,
	    (unsigned long long)pin_hi, (unsigned long long)c->now,
	    (unsigned long long)c->expired_at);
	REQUIRE(st.inboxes_expired >= c->deletions, "inboxes expired");
	REQUIRE(st.inboxes <= lim->max_inboxes, "over max-inboxes");
	REQUIRE(st.pins <= st.inboxes, "%llu PINs for %llu inboxes",
	    (unsigned long long)st.pins, (unsigned long long)st.inboxes);

	/* Lazy expiry leaves a window of one tick: bound, don't pin. */
	for (k = 0; k < NNAMES; k++) {
		bool may_go, gone;

		if (!c->box[k].present)
			continue;
		may_go = deletable(c, k);
		gone = must_be_gone(c, k);
		box_lo += !may_go;
		box_hi += !gone;
		for (id = first_live(c); id <= c->sent; id++) {
			const struct rec *r = &c->rec[id];

			if (r->to != k || r->state != M_QUEUED)
				continue;
			if (!may_go && deadline(c, r) > c->now) {
				msg_lo++;
				bytes_lo += r->len;
			}
			if (!gone && deadline(c, r) + c->drv->tick_ms >
			    c->expired_at) {
				msg_hi++;
				bytes_hi += r->len;
			}
		}
		/* Awaiting an acknowledgement: they expire alike. */
		for (id = first_live(c); id <= c->sent; id++) {
			const struct rec *r = &c->rec[id];

			if (r->to != k || r->state != M_AWAIT)
				continue;
			/* One that began to await since the last
			 * store_expire goes at the next at the earliest. */
			aw_lo += !may_go && deadline(c, r) > c->now;
			aw_hi += !gone && (r->await_n == c->nexpire ||
			    deadline(c, r) + c->drv->tick_ms > c->expired_at);
		}
	}
	/*
	 * Every message sent is queued, in flight, awaiting an ack, expired,
	 * acknowledged, or deleted by a delivery without ack= (the
	 * deliveries less those that went to await an ack): what is left
	 * is the number awaiting, within the model's bounds.
	 */
	awaiting = (int64_t)st.sent - (int64_t)(st.delivered -
	    c->delivered_ack) - (int64_t)st.acked - (int64_t)st.expired -
	    (int64_t)st.messages - (int64_t)flight;
	REQUIRE(awaiting >= (int64_t)aw_lo && awaiting <= (int64_t)aw_hi,
	    "sent %llu, delivered %llu (%llu to ack= GETs), acked %llu, "
	    "expired %llu, queued %llu, in flight %llu: %lld awaiting an ack, "
	    "model %llu to %llu", (unsigned long long)st.sent,
	    (unsigned long long)st.delivered,
	    (unsigned long long)c->delivered_ack,
	    (unsigned long long)st.acked, (unsigned long long)st.expired,
	    (unsigned long long)st.messages, (unsigned long long)flight,
	    (long long)awaiting, (unsigned long long)aw_lo,
	    (unsigned long long)aw_hi);
	REQUIRE(box_lo <= st.inboxes && st.inboxes <= box_hi,
	    "%llu inboxes, model %llu to %llu", (unsigned long long)st.inboxes,
	    (unsigned long long)box_lo, (unsigned long long)box_hi);
	REQUIRE(msg_lo <= st.messages && st.messages <= msg_hi,
	    "%llu queued, model %llu to %llu at %llu (expired at %llu)",
	    (unsigned long long)st.messages, (unsigned long long)msg_lo,
	    (unsigned long long)msg_hi, (unsigned long long)c->now,
	    (unsigned long long)c->expired_at);
	REQUIRE(bytes_lo <= st.bytes && st.bytes <= bytes_hi,
	    "%llu bytes queued, model %llu to %llu",
	    (unsigned long long)st.bytes, (unsigned long long)bytes_lo,
	    (unsigned long long)bytes_hi);
}

/*
 * The message of send number sent + 1 from name `from' with type `type',
 * body bytes from b0 and first capacity from b1, recorded for inbox `to'
 * (-1 when none is expected to take it).
 */
static struct message *
make_message(struct model *c, int from, int to, int type, uint8_t b0,
    uint8_t b1)
{
	uint32_t len = ((uint32_t)b0 * MAX_BODY + 127) / 255, i;
	uint64_t id = c->sent + 1;
	struct rec *r = &c->rec[id];
	struct message *m;
	uint8_t *body;

	/* Like a chunked body: a first guess, grown when it falls short. */
	m = message_new(names[from], model_types[type], (b1 & 0x7f) < len ?
	    (b1 & 0x7f) : len);
	REQUIRE(m != NULL, "message_new");
	if (len > m->cap || (b1 & 0x80))
		REQUIRE(message_reserve(&m, len) == 0, "message_reserve");
	REQUIRE(m->cap >= len, "message_reserve left %u bytes", m->cap);
	body = (uint8_t *)message_body(m);
	for (i = 0; i < len; i++)
		body[i] = pattern(id, i);
	m->len = len;
	memset(r, 0, sizeof(*r));
	r->to = to;
	r->from = from;
	r->type = type;
	r->len = len;
	r->cost = message_cost(m);
	r->enq_lo = r->enq_hi = store_clock(c);
	r->state = M_QUEUED;
	return m;
}

/*
 * store_send or store_pin_send answered res: the message was enqueued by
 * now, if at all, and a GET held for it is released.
 */
static void
after_send(struct model *c, enum store_result res, int was_held)
{
	c->rec[c->sent + 1].enq_hi = store_clock(c);
	settle(c, res == STORE_OK ? bit(was_held) : 0);
	end_call(c);
}

/*
 * Judge the answer res of a send of m (the model's next number) that
 * found inbox `to', known as b before the call, held by was_held:
 * store_send, or store_pin_send of to's PIN.  Frees m unless the store
 * took it.
 */
static void
judge_send(struct model *c, int to, struct message *m, enum store_result res,
    const struct before *b, int was_held, const struct store_stats *st1,
    const char *what)
{
	const struct store_limits *lim = &c->drv->lim;
	uint64_t id = c->sent + 1, n, bytes;
	const struct rec *r = &c->rec[id];
	uint64_t an, ab;

	model_found(c, to, b, what);
	drop_stale(c, to);
	model_oldest(c, to, &n, &bytes);
	/* What awaits an acknowledgement counts against the quotas. */
	model_awaiting(c, to, &an, &ab);
	n += an;
	bytes += ab;
	switch (res) {
	case STORE_INBOX_FULL:
		REQUIRE(n >= lim->max_messages ||
		    bytes + r->len > lim->max_inbox_bytes,
		    "%s: inbox_full with %llu messages of %llu bytes", what,
		    (unsigned long long)n, (unsigned long long)bytes);
		REQUIRE(c->handed == -1, "a refused message was handed out");
		REQUIRE(st1->sent == c->sent, "a refused send counted");
		message_free(m);
		return;
	case STORE_SERVER_FULL:
		REQUIRE(c->drv->gauges, "%s: server_full", what);
		REQUIRE(n < lim->max_messages &&
		    bytes + r->len <= lim->max_inbox_bytes,
		    "%s: server_full where inbox_full was due", what);
		REQUIRE(st1->memory + r->cost > lim->max_memory,
		    "%s: server_full with %llu + %zu bytes", what,
		    (unsigned long long)st1->memory, r->cost);
		REQUIRE(c->handed == -1, "a refused message was handed out");
		REQUIRE(st1->sent == c->sent, "a refused send counted");
		message_free(m);
		return;
	case STORE_OK:
		break;
	default:
		REQUIRE(0, "%s: result %d", what, res);
	}
	REQUIRE(n < lim->max_messages && bytes + r->len <= lim->max_inbox_bytes,
	    "queued past max-messages or max-inbox-bytes");
	/* The store owns m now; the Redis store has freed it.  The memory
	 * store's id is the next of its own (SPEC section 9: never reused,
	 * not from 1 again after a restart). */
	if (!c->drv->copies) {
		REQUIRE(m->id > c->last_id || m->id == r->id, "send set id "
		    "%llu after %llu", (unsigned long long)m->id,
		    (unsigned long long)c->last_id);
		check_id(c, id, m->id);
		REQUIRE(m->enqueued_ms == c->now, "send enqueued at %llu",
		    (unsigned long long)m->enqueued_ms);
	}
	c->sent++;
	REQUIRE(was_held == -1 || c->slot[was_held].state != S_HELD,
	    "a send left the held GET of %s waiting", names[to]);
	if (c->handed >= 0) {
		REQUIRE(c->handed == was_held, "handed to another waiter");
		REQUIRE(!c->drv->gauges ||
		    st1->memory + r->cost <= lim->max_memory,
		    "accepted past max-memory");
	} else
		REQUIRE(!c->drv->gauges || st1->memory <= lim->max_memory,
		    "queued past max-memory");
	/* rec[id] already says M_FLIGHT when a waiter took it. */
}

static void
op_send(struct model *c, uint8_t a, uint8_t b0, uint8_t b1)
{
	int from = a & 7, to = (a >> 3) & 7, type = a >> 6, was_held;
	struct store_stats st0, st1;
	struct message *m;
	enum store_result res;
	struct before b;

	contact(c, from);
	b = model_look(c, to);
	was_held = holder(c, to);
	m = make_message(c, from, to, type, b0, b1);
	store_stats(c->s, &st0);
	begin_call(c, CALL_SEND, to, m);
	c->pending = true;
	res = store_send(c->s, names[to], m, c->now);
	if (trace)
		fprintf(stderr, "  send %s to %s: %d\n", names[from], names[to],
		    res);
	after_send(c, res, was_held);
	store_stats(c->s, &st1);
	if (res == STORE_NOT_FOUND) {
		model_not_found(c, to, &b, "send");
		REQUIRE(c->handed == -1, "a refused message was handed out");
		REQUIRE(st1.sent == st0.sent, "a refused send counted");
		message_free(m);
		return;
	}
	judge_send(c, to, m, res, &b, was_held, &st1, "send");
}

/* 10^digits */
static uint32_t
pin_space(unsigned digits)
{
	uint32_t n = 1;

	while (digits-- > 0)
		n *= 10;
	return n;
}

static void
op_pin_create(struct model *c, uint8_t a, uint8_t b0)
{
	int k = a & 7, j, may = 0;
	unsigned digits = 1 + (unsigned)(a >> 3) % 9;
	uint64_t timeout = c->drv->pin_base_ms + (uint64_t)b0 *
	    c->drv->pin_step_ms;
	struct before b;
	bool must[NNAMES];
	enum store_result r;
	uint32_t code = UINT32_MAX;

	contact(c, k);
	b = model_look(c, k);
	for (j = 0; j < NNAMES; j++) {
		must[j] = pin_must_live(c, j);
		may += pin_may_live(c, j);
	}
	r = store_pin_create(c->s, names[k], digits, timeout, c->now, &code);
	switch (r) {
	case STORE_NOT_FOUND:
		model_not_found(c, k, &b, "pin create");
		return;
	case STORE_SERVER_FULL:
		/*
		 * 32 draws all on live codes: only where live codes fill much
		 * of the space (one digit; with two, 6 live of 100 would
		 * collide 32 times once in 10^39).
		 */
		model_found(c, k, &b, "pin create");
		REQUIRE(digits == 1 && may > 0, "pin create: server_full with "
		    "%u digits and at most %d live PINs", digits, may);
		return;
	case STORE_OK:
		break;
	default:
		REQUIRE(0, "pin create: result %d", r);
	}
	model_found(c, k, &b, "pin create");
	REQUIRE(code < pin_space(digits), "PIN %u has more than %u digits",
	    code, digits);
	/* Unique among live PINs, the inbox's own earlier one included. */
	for (j = 0; j < NNAMES; j++) {
		if (!c->box[j].pin || c->box[j].code != code)
			continue;
		REQUIRE(!must[j], "PIN %u given to %s while live for %s", code,
		    names[k], names[j]);
		c->box[j].pin = false; /* it was gone after all */
	}
	c->box[k].pin = true;
	c->box[k].had_pin = true;
	c->box[k].code = code;
	c->box[k].pin_deadline_ms = c->now + timeout;
	c->box[k].last_act_ms = c->now;
}

/*
 * Send by the latest PIN of the inbox picked (live or not), or by a code
 * from the body byte when that inbox never had one: the model knows which
 * inbox, if any, may still answer to that code.
 */
static void
op_pin_send(struct model *c, uint8_t a, uint8_t b0, uint8_t b1)
{
	int from = a & 7, sel = (a >> 3) & 7, type = a >> 6, k = -1, j;
	uint32_t code = c->box[sel].had_pin ? c->box[sel].code : b0;
	struct store_stats st0, st1;
	struct before b = { false, false, false };
	struct message *m;
	enum store_result res;
	char to[STORE_NAME_MAX + 1];
	bool must = false;
	int was_held = -1;

	contact(c, from);
	for (j = 0; j < NNAMES; j++) {
		if (!c->box[j].pin || c->box[j].code != code)
			continue;
		if (!pin_may_live(c, j)) {
			c->box[j].pin = false; /* gone for sure */
			continue;
		}
		REQUIRE(k == -1, "PIN %u may be live for %s and %s", code,
		    names[k], names[j]);
		k = j;
	}
	if (k >= 0) {
		b = model_look(c, k);
		must = pin_must_live(c, k);
		was_held = holder(c, k);
	}
	m = make_message(c, from, k, type, b0, b1);
	store_stats(c->s, &st0);
	begin_call(c, CALL_SEND, k, m);
	c->pending = true;
	strcpy(to, "-");
	res = store_pin_send(c->s, code, m, c->now, to);
	after_send(c, res, was_held);
	store_stats(c->s, &st1);
	if (res == STORE_NOT_FOUND) {
		REQUIRE(!must, "PIN %u of %s not found before its deadline "
		    "%llu: now %llu, last expiry %llu", code, names[k],
		    (unsigned long long)c->box[k].pin_deadline_ms,
		    (unsigned long long)c->now,
		    (unsigned long long)c->expired_at);
		REQUIRE(c->handed == -1, "a refused message was handed out");
		REQUIRE(st1.sent == st0.sent && (!c->drv->gauges ||
		    st1.pins == st0.pins),
		    "a send by an unknown PIN changed the store");
		REQUIRE(strcmp(to, "-") == 0, "an unknown PIN named %s", to);
		if (k >= 0)
			c->box[k].pin = false;
		message_free(m);
		return;
	}
	REQUIRE(k >= 0, "PIN %u answered %d, but names no live inbox", code,
	    res);
	if (res == STORE_OK) {
		REQUIRE(strcmp(to, names[k]) == 0, "PIN of %s named %s",
		    names[k], to);
		REQUIRE(!c->drv->gauges || st1.pins + 1 == st0.pins,
		    "a used PIN is still live");
		c->box[k].pin = false; /* one use */
	} else {
		REQUIRE(strcmp(to, "-") == 0, "a refused send named %s", to);
		REQUIRE(!c->drv->gauges || st1.pins == st0.pins,
		    "a refused send used the PIN");
	}
	judge_send(c, k, m, res, &b, was_held, &st1, "pin send");
}

/*
 * The place in inbox k's order of deliveries ended of the message
 * awaiting an acknowledgement with the store's id ack_id, or 0: none
 * (ack_id 0, or no such message awaiting).
 */
static uint64_t
ack_seq(struct model *c, int k, uint64_t ack_id)
{
	size_t id;

	if (ack_id == 0)
		return 0;
	for (id = first_live(c); id <= c->sent; id++)
		if (c->rec[id].to == k && c->rec[id].state == M_AWAIT &&
		    c->rec[id].id == ack_id)
			/* One past message-timeout is dropped first. */
			return !c->drv->timed || deadline(c, &c->rec[id]) >
			    c->now ? c->rec[id].seq : 0;
	return 0;
}

/*
 * How many of inbox k's messages awaiting an acknowledgement an ack= GET
 * acknowledging ack_id now puts back: those whose delivery ended after
 * that of ack_id (all, if it names none), still live.
 */
static unsigned
ack_back(struct model *c, int k, uint64_t ack_id)
{
	uint64_t seq = ack_seq(c, k, ack_id);
	unsigned n = 0;
	size_t id;

	for (id = first_live(c); id <= c->sent; id++)
		if (c->rec[id].to == k && c->rec[id].state == M_AWAIT &&
		    c->rec[id].seq > seq && (!c->drv->timed ||
		    deadline(c, &c->rec[id]) > c->now))
			n++;
	return n;
}

/*
 * The acknowledgement of SPEC section 9, on inbox k (stale messages
 * already dropped): the message of id ack_id and those whose delivery
 * ended before it are deleted, the others go back to the queue, which
 * is in id order (the model's: by send number).
 */
static void
apply_ack(struct model *c, int k, uint64_t ack_id)
{
	uint64_t seq = ack_seq(c, k, ack_id);
	size_t id;

	for (id = first_live(c); id <= c->sent; id++) {
		struct rec *r = &c->rec[id];

		if (r->to != k || r->state != M_AWAIT)
			continue;
		if (r->seq <= seq) {
			r->state = M_DELIVERED;
			c->acked++;
		} else {
			r->state = M_QUEUED;
			c->requeued++;
			c->ack_requeued++;
		}
		r->seq = 0;
	}
}

void
model_receive(struct model *c, uint8_t a, uint64_t wait_ms)
{
	const struct store_get get = { 0, false, 0 };

	model_receive_get(c, a, wait_ms, &get);
}

void
model_receive_get(struct model *c, uint8_t a, uint64_t wait_ms,
    const struct store_get *get)
{
	int k = a & 7, i = model_pick_slot(c, (a >> 3) & 7, S_FREE);
	struct before b;
	int was_held;
	struct slot *sl;
	enum store_result r;
	uint64_t head, n, bytes;
	unsigned due = 0;

	if (i < 0)
		return;
	contact(c, k);
	b = model_look(c, k);
	was_held = holder(c, k);
	sl = &c->slot[i];
	pthread_mutex_lock(&c->mu);
	sl->alive = (a >> 6) & 1;
	pthread_mutex_unlock(&c->mu);
	sl->since_ms = c->now;
	sl->wait_ms = wait_ms;
	sl->w.get = *get;
	/* A GET held beside what an ack= GET puts back gives way to it. */
	if (get->ack && ack_back(c, k, get->ack_id) > 0)
		due = bit(was_held);
	begin_call(c, CALL_RECEIVE, k, NULL);
	c->call_slot = i;
	r = store_receive(c->s, names[k], &sl->w, wait_ms, c->now);
	if (trace)
		fprintf(stderr, "  receive %s slot %d max %u ack %d id %llu: "
		    "%d\n", names[k], i, get->max, get->ack,
		    (unsigned long long)get->ack_id, r);
	settle(c, r == STORE_HELD ? bit(was_held) : r == STORE_OK ? due : 0);
	end_call(c);
	if (r == STORE_NOT_FOUND) {
		model_not_found(c, k, &b, "receive");
		REQUIRE(sl->state == S_FREE, "held on a missing inbox");
		return;
	}
	model_found(c, k, &b, "receive");
	c->box[k].last_act_ms = c->now;
	drop_stale(c, k);
	if (get->ack) {
		c->box[k].acks++;
		apply_ack(c, k, get->ack_id);
	}
	sl->epoch = c->box[k].acks; /* what it is handed, now or held */
	head = model_oldest(c, k, &n, &bytes);
	switch (r) {
	case STORE_OK:
		/* FIFO: the oldest live messages, requeued ones included,
		 * as many as max= asks and are queued. */
		REQUIRE(head != 0, "popped from an inbox the model has empty");
		REQUIRE(sl->w.msg != NULL && sl->w.inbox != NULL,
		    "popped without message");
		REQUIRE(was_held == -1 || c->slot[was_held].state != S_HELD,
		    "a held GET beside a message");
		take_chain(c, sl, k, get_max(get), "receive");
		break;
	case STORE_EMPTY:
		REQUIRE(head == 0, "empty while %llu is queued",
		    (unsigned long long)head);
		REQUIRE(wait_ms == 0 || c->shutdown, "not held for %llu ms",
		    (unsigned long long)wait_ms);
		REQUIRE(sl->state == S_FREE, "held yet answered empty");
		REQUIRE(was_held == -1 || c->slot[was_held].state == S_HELD,
		    "a receive that held nothing displaced the GET held on %s",
		    names[k]);
		break;
	case STORE_HELD:
		REQUIRE(head == 0, "held while %llu is queued",
		    (unsigned long long)head);
		REQUIRE(wait_ms > 0 && !c->shutdown, "held without cause");
		REQUIRE(sl->state == S_HELD && sl->holds == sl->releases + 1,
		    "held without hold()");
		REQUIRE(was_held == -1 || c->slot[was_held].state == S_FREE,
		    "the earlier GET of %s was not displaced", names[k]);
		REQUIRE(holder(c, k) == i, "two GETs held on one inbox");
		break;
	default:
		REQUIRE(0, "receive: result %d", r);
	}
}

void
model_done(struct model *c, int i, bool delivered)
{
	struct slot *sl = &c->slot[i];
	int k = sl->box, was_held = holder(c, k);
	struct store_get get = sl->w.get;
	uint32_t epoch = sl->epoch;
	uint64_t ids[MAX_CHAIN];
	unsigned n = sl->nids, j;
	bool requeue = false, stay;
	struct message *m;

	REQUIRE(c->box[k].present, "an inbox with a message in flight went");
	REQUIRE(sl->w.msg != NULL, "slot %d lost its message", i);
	for (m = sl->w.msg, j = 0; m != NULL; m = m->next, j++) {
		REQUIRE(j < n, "slot %d: a chain longer than the %u taken", i,
		    n);
		check_message(c, m, sl->ids[j]);
	}
	REQUIRE(j == n, "slot %d: %u messages of the %u taken", i, j, n);
	memcpy(ids, sl->ids, sizeof(ids));
	begin_call(c, CALL_DONE, k, sl->w.msg);
	if (trace)
		fprintf(stderr, "  done slot %d (%s, %u messages from %llu): "
		    "%s\n", i, names[k], n, (unsigned long long)ids[0],
		    delivered ? "delivered" : "failed");
	store_done(c->s, &sl->w, delivered, c->now);
	REQUIRE(sl->w.msg == NULL && sl->w.inbox == NULL &&
	    sl->w.state == WAITER_IDLE, "store_done left the waiter busy");
	reset_waiter(sl);
	c->box[k].last_act_ms = c->now;
	/*
	 * Delivered to an ack= GET that a newer ack= GET of the inbox came
	 * after (its client gave up on it): it goes back all the same.
	 */
	stay = delivered && !(get.ack && epoch != c->box[k].acks);
	for (j = 0; j < n; j++) {
		struct rec *r = &c->rec[ids[j]];

		if (stay) {
			c->delivered++;
			if (get.ack) {
				/* Awaiting its acknowledgement, in the order
				 * the deliveries ended. */
				r->state = M_AWAIT;
				r->seq = ++c->box[k].ho;
				r->await_n = c->nexpire;
				c->delivered_ack++;
			} else
				r->state = M_DELIVERED;
		} else if (c->drv->timed && deadline(c, r) <= c->now) {
			r->state = M_EXPIRED;
			c->expired++;
		} else {
			/* Back at the head, or handed to the held GET. */
			r->state = M_QUEUED;
			c->requeued++;
			requeue = true;
		}
	}
	settle(c, requeue ? bit(was_held) : 0);
	end_call(c);
	REQUIRE(requeue || c->handed == -1, "a %s message handed again",
	    stay ? "delivered" : "stale");
}

/* store_done without a message in flight is a no-op (store.h). */
static void
op_done_idle(struct model *c, int i, bool delivered)
{
	struct store_stats st0, st1;

	store_stats(c->s, &st0);
	begin_call(c, CALL_DONE, -1, NULL);
	store_done(c->s, &c->slot[i].w, delivered, c->now);
	settle(c, 0);
	end_call(c);
	store_stats(c->s, &st1);
	REQUIRE(memcmp(&st0, &st1, sizeof(st0)) == 0,
	    "store_done without a message changed the store");
}

void
model_expire(struct model *c)
{
	struct store_stats st;
	unsigned due = 0;
	int i;

	if (c->drv->expired != NULL)
		store_stats(c->s, &st);
	/* Holds a tick past their wait must end now. */
	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_HELD && c->now >=
		    c->slot[i].since_ms + c->slot[i].wait_ms + c->drv->tick_ms)
			due |= bit(i);
	begin_call(c, CALL_EXPIRE, -1, NULL);
	store_expire(c->s, c->now);
	settle(c, due);
	end_call(c);
	c->expired_at = c->now;
	c->nexpire++;
	/* What a hold freed, even in this call, that store_expire has seen. */
	for (i = 0; i < NNAMES; i++)
		c->box[i].freed = false;
	if (c->drv->expired != NULL)
		c->drv->expired(c, &st);
}

/*
 * Move the clock to just before, at or just after a deadline the model
 * knows of, where off-by-one errors live, which random steps would
 * seldom hit: a message's message-timeout, an inbox's inbox-timeout, a
 * hold's wait, or the next tick.  Then maybe run the timers.  (A store
 * on a clock of its own has no message or inbox deadline here.)
 */
static void
op_edge(struct model *c, uint8_t a, uint8_t b)
{
	const int64_t tick = (int64_t)c->drv->tick_ms;
	const int64_t off[8] = { -1, 0, 1, 2, tick - 1, tick, tick + 1,
		-tick };
	int kind = a & 3, idx = (a >> 2) & 7;
	uint64_t target = 0, id, live = 0;

	switch (kind) {
	case 0: /* the idx-th message queued, in flight or awaiting an ack */
		if (!c->drv->timed)
			break;
		for (id = first_live(c); id <= c->sent; id++)
			if (c->rec[id].state == M_QUEUED ||
			    c->rec[id].state == M_FLIGHT ||
			    c->rec[id].state == M_AWAIT)
				live++;
		if (live == 0)
			break;
		idx %= (int)live;
		for (id = first_live(c); id <= c->sent; id++)
			if ((c->rec[id].state == M_QUEUED ||
			    c->rec[id].state == M_FLIGHT ||
			    c->rec[id].state == M_AWAIT) && idx-- == 0) {
				target = deadline(c, &c->rec[id]);
				break;
			}
		break;
	case 1: /* inbox idx's inbox-timeout, or with a & 0x20 its PIN's */
		if (!c->box[idx].present || !c->drv->timed)
			break;
		if (!(a & 0x20))
			target = c->box[idx].last_act_ms +
			    c->drv->lim.inbox_timeout_ms;
		else if (c->box[idx].pin)
			target = c->box[idx].pin_deadline_ms;
		break;
	case 2:
		if (c->slot[idx].state == S_HELD)
			target = c->slot[idx].since_ms + c->slot[idx].wait_ms;
		break;
	default:
		target = (c->now / c->drv->tick_ms + 1) * c->drv->tick_ms;
		break;
	}
	if (target != 0 && (int64_t)target + off[b & 7] > (int64_t)c->now)
		c->now = (uint64_t)((int64_t)target + off[b & 7]);
	if (b & 8)
		model_expire(c);
}

/*
 * A receive with the options of SPEC section 9, from three bytes: a as
 * for op 4 (name, slot, alive) with a & 0x80 for a wait of b (else 0);
 * c: max= from c & 7, ack= when c & 8, and the id it acknowledges by
 * (c >> 4) & 3: one awaiting on the inbox (the (c >> 6)-th in the order
 * their deliveries ended), the id of any message seen (the (c >> 6)-th
 * seen, most likely delivered long ago), 0, or garbage.
 */
static void
op_receive_get(struct model *c, uint8_t a, uint8_t b, uint8_t o)
{
	static const unsigned maxes[8] = { 1, 2, 3, 4, 0, 2, 3, 8 };
	struct store_get get = { maxes[o & 7], (o & 8) != 0, 0 };
	unsigned sel = o >> 6, n = 0, t;
	uint64_t after, best = 0;
	int k = a & 7;
	size_t id;

	switch ((o >> 4) & 3) {
	case 0: /* awaiting on k: the sel-th in the order deliveries ended */
		for (id = first_live(c); id <= c->sent; id++)
			if (c->rec[id].to == k && c->rec[id].state == M_AWAIT)
				n++;
		if (n == 0)
			break;
		for (t = 0, after = 0; t <= sel % n; t++) {
			uint64_t bseq = UINT64_MAX;

			for (id = first_live(c); id <= c->sent; id++)
				if (c->rec[id].to == k &&
				    c->rec[id].state == M_AWAIT &&
				    c->rec[id].seq > after &&
				    c->rec[id].seq < bseq) {
					bseq = c->rec[id].seq;
					best = id;
				}
			after = bseq;
		}
		get.ack_id = c->rec[best].id;
		break;
	case 1: /* a message seen, of any inbox, in any state */
		for (id = 1; id <= c->sent; id++)
			n += c->rec[id].id != 0;
		if (n == 0)
			break;
		sel %= n;
		for (id = 1; id <= c->sent; id++)
			if (c->rec[id].id != 0 && sel-- == 0) {
				get.ack_id = c->rec[id].id;
				break;
			}
		break;
	case 2:
		break;
	default: /* ids no message has (yet) */
		get.ack_id = sel == 0 ? UINT64_MAX : sel == 1 ?
		    (uint64_t)1 << 53 : sel == 2 ? c->last_id + 1 :
		    c->last_id + 1000;
		break;
	}
	model_receive_get(c, a, a & 0x80 ? c->drv->wait_base_ms +
	    (uint64_t)b * c->drv->wait_step_ms : 0, &get);
}

static void
op_shutdown(struct model *c)
{
	unsigned due = 0;
	int i;

	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_HELD)
			due |= bit(i);
	begin_call(c, CALL_SHUTDOWN, -1, NULL);
	store_shutdown(c->s, c->now);
	settle(c, due);
	end_call(c);
	c->shutdown = true;
	REQUIRE(model_pick_slot(c, 0, S_HELD) == -1, "held after shutdown");
}

void
model_run(struct model *c, const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size;
	uint8_t op, a, b0, b1;
	int i;

	if (trace == -1)
		trace = getenv("FUZZ_TRACE") != NULL;
	while (data < end) {
		op = *data++ % NOPS;
		if ((size_t)(end - data) < nargs[op])
			return; /* short of its arguments: not run */
		a = nargs[op] > 0 ? data[0] : 0;
		b0 = nargs[op] > 1 ? data[1] : 0;
		b1 = nargs[op] > 2 ? data[2] : 0;
		data += nargs[op];
		if (trace)
			fprintf(stderr, "op %u %u %u %u at %llu\n", op, a, b0, b1,
			    (unsigned long long)c->now);
		switch (op) {
		case OP_CREATE:
			c->drv->create(c, a);
			break;
		case OP_LOGIN:
			c->drv->login(c, a);
			break;
		case OP_SEND:
			op_send(c, a, b0, b1);
			break;
		case OP_RECEIVE:
			model_receive(c, a, 0);
			break;
		case OP_RECEIVE_WAIT:
			model_receive(c, a, c->drv->wait_base_ms +
			    (uint64_t)b0 * c->drv->wait_step_ms);
			break;
		case OP_DONE:
			if ((i = model_pick_slot(c, a & 7, S_FLIGHT)) >= 0)
				model_done(c, i, (a >> 3) & 1);
			else if ((i = model_pick_slot(c, a & 7, S_FREE)) >= 0)
				op_done_idle(c, i, (a >> 3) & 1);
			break;
		case OP_ADVANCE:
			c->now += (uint64_t)a | (uint64_t)b0 << 8;
			model_expire(c);
			break;
		case OP_SHUTDOWN:
			op_shutdown(c);
			break;
		case OP_HANGUP:
			pthread_mutex_lock(&c->mu);
			c->slot[a & 7].alive = !c->slot[a & 7].alive;
			pthread_mutex_unlock(&c->mu);
			break;
		case OP_JUMP:
			/* Up to 1020 s: past a lap of the wheel (409.6 s). */
			c->now += (uint64_t)a * 4000;
			model_expire(c);
			break;
		case OP_EDGE:
			op_edge(c, a, b0);
			break;
		case OP_PIN_CREATE:
			op_pin_create(c, a, b0);
			break;
		case OP_PIN_SEND:
			op_pin_send(c, a, b0, b1);
			break;
		case OP_RECEIVE_GET:
			op_receive_get(c, a, b0, b1);
			break;
		}
		model_check_all(c);
	}
}

void
model_finish(struct model *c)
{
	int i;

	if (!c->shutdown)
		op_shutdown(c);
	model_check_all(c);
	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_FLIGHT) {
			model_done(c, i, i % 2 == 0);
			model_check_all(c);
		}
	for (i = 0; i < NSLOTS; i++)
		REQUIRE(c->slot[i].state == S_FREE &&
		    c->slot[i].holds == c->slot[i].releases,
		    "slot %d: %u holds, %u releases", i, c->slot[i].holds,
		    c->slot[i].releases);
}

int
model_init(struct model *c, const struct model_driver *drv, size_t size,
    uint64_t now_ms)
{
	int i;

	memset(c, 0, sizeof(*c));
	current = drv;
	c->drv = drv;
	/* A send takes four bytes: size / 4 + 1 records and a spare. */
	c->nrec = size / 4 + 2;
	if ((c->rec = calloc(c->nrec, sizeof(*c->rec))) == NULL)
		return -1;
	c->now = c->expired_at = now_ms;
	c->low = 1;
	c->call = CALL_NONE;
	c->handed = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	for (i = 0; i < NSLOTS; i++) {
		c->slot[i].c = c;
		c->slot[i].idx = i;
		reset_waiter(&c->slot[i]);
	}
	return 0;
}

void
model_free(struct model *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
	free(c->rec);
}
