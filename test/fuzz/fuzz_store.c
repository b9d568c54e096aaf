/*
 * fuzz_store.c - libFuzzer target for the store and its timer wheel.
 *
 * The input is a program: one operation a byte (its value modulo 10),
 * each followed by its argument bytes (test/fuzz/README has the table).
 * Eight names, eight waiter slots that stand in for requests, and a clock
 * that only moves forward drive create, login, send, receive (popping or
 * held), done, time passing with store_expire, shutdown, and pairing codes
 * (PINs: create, send by PIN), under small limits so that full inboxes, a
 * full server, PIN collisions and expiry come up at once.
 *
 * Beside the target keeps a model: every message sent with its state, the
 * inboxes as far as the operations have shown them, and the waiters.
 * After every operation store_check must pass and the store's counters
 * must agree with the model; along the way each answer must be the one
 * SPEC sections 2 to 4 call for: the oldest live message first, nothing
 * handed out past its deadline, every hold released exactly once and for
 * a reason that fits the call, inboxes, holds and PINs expiring neither
 * early nor more than one tick late, a PIN naming its own inbox only,
 * once, and going with it.  A breach aborts with a message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define NNAMES 8
#define NSLOTS 8
#define NOPS 13

#define TICK_MS 100
#define START_MS 1000050ULL /* not on a tick: deadlines fall mid-tick */
#define INBOX_TIMEOUT_MS 5000
#define MESSAGE_TIMEOUT_MS 3000
#define MAX_MESSAGES 4
#define MAX_INBOX_BYTES 512
#define MAX_INBOXES 6
#define MAX_MEMORY 4096
#define MAX_BODY 300
#define PIN_WAIT_STEP 50 /* PIN timeouts: 1 + b * 50 ms, up to 12.751 s */

#define REQUIRE(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_store: " __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

static const char *const names[NNAMES] = { "alice", "bob", "carol",
	"zo\xc3\xab", "dave@example.org", "e/f+g=", "7",
	"\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6" };

static const char *const types[4] = { NULL, "", "application/sdp",
	"text/plain; charset=utf-8" };

enum op {
	OP_CREATE, OP_LOGIN, OP_SEND, OP_RECEIVE, OP_RECEIVE_WAIT, OP_DONE,
	OP_ADVANCE, OP_SHUTDOWN, OP_HANGUP, OP_JUMP, OP_EDGE, OP_PIN_CREATE,
	OP_PIN_SEND
};

enum call { CALL_NONE, CALL_SEND, CALL_RECEIVE, CALL_DONE, CALL_EXPIRE,
	CALL_SHUTDOWN };

enum msg_state { M_QUEUED, M_FLIGHT, M_DELIVERED, M_EXPIRED };

/* What the model knows of one message, by id. */
struct rec {
	int to, from, type;
	uint32_t len;
	size_t cost;
	uint64_t enqueued_ms;
	enum msg_state state;
};

/*
 * One inbox name: present once created, until a call finds it gone.  Its
 * PIN is "pin" from store_pin_create until it is known to be gone: used,
 * replaced, found missing, expired for sure, or gone with its inbox.
 */
struct box {
	bool present;
	int pw;               /* which of the two passwords created it */
	uint64_t last_act_ms; /* the store's last_seen_ms, mirrored */
	bool freed;           /* a hold ended unrefreshed since store_expire */
	bool pin;             /* a PIN that may be live */
	uint32_t code;        /* its code */
	uint64_t pin_deadline_ms;
	bool had_pin;         /* code is set: the latest PIN, live or not */
};

enum slot_state { S_FREE, S_HELD, S_FLIGHT };

struct ctx;

/* A request standing in for the HTTP layer's, owner of its waiter. */
struct slot {
	struct store_waiter w;
	struct ctx *ctx;
	int idx;
	enum slot_state state;
	int box;   /* inbox while held or in flight */
	bool alive; /* what alive() answers */
	uint64_t since_ms, wait_ms;
	unsigned holds, releases;
	uint64_t id; /* message in flight */
};

struct ctx {
	struct store *s;
	uint64_t now, expired_at; /* the clock; the last store_expire */
	bool shutdown;
	struct slot slot[NSLOTS];
	struct box box[NNAMES];
	struct rec *rec; /* by id; rec[sent + 1] is the send under way */
	size_t nrec;
	uint64_t sent, delivered, requeued, deletions;
	uint64_t expired; /* messages the model knows expired */
	uint64_t low; /* every id below is delivered or expired for good */
	size_t inbox_base; /* inbox cost less its name, learnt at a create */
	/* The call under way, for the callbacks to judge. */
	enum call call;
	int call_box, call_slot, handed;
	const struct message *delivering;
};

struct reader {
	const uint8_t *p;
	size_t n;
};

static bool
next_byte(struct reader *r, uint8_t *b)
{
	if (r->n == 0)
		return false;
	*b = *r->p++;
	r->n--;
	return true;
}

static uint8_t
pattern(uint64_t id, size_t i)
{
	return (uint8_t)(id * 131 + i * 7 + (i >> 8));
}

static uint64_t
deadline(const struct rec *r)
{
	return r->enqueued_ms + MESSAGE_TIMEOUT_MS;
}

/* Move the low watermark past messages that are finished for good. */
static uint64_t
first_live(struct ctx *c)
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
	sl->id = 0;
}

static int
holder(const struct ctx *c, int k)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_HELD && c->slot[i].box == k)
			return i;
	return -1;
}

static int
in_flight(const struct ctx *c, int k)
{
	int i, n = 0;

	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_FLIGHT && c->slot[i].box == k)
			n++;
	return n;
}

/*
 * The store may have deleted inbox k by now (SPEC section 3): a GET held
 * for a client that has hung up keeps nobody present.
 */
static bool
deletable(const struct ctx *c, int k)
{
	int h = holder(c, k);

	return (h == -1 || !c->slot[h].alive) && in_flight(c, k) == 0 &&
	    c->expired_at >= c->box[k].last_act_ms + INBOX_TIMEOUT_MS;
}

/*
 * ... and must have: at most one tick after its deadline.  (A hung-up
 * holder is noticed when the inbox's timer next fires, which may be a
 * timeout later: no promise then.)  A hold that ended without refreshing
 * the inbox, after the last store_expire, kept it until then: the
 * promise starts with the next store_expire.
 */
static bool
must_be_gone(const struct ctx *c, int k)
{
	return deletable(c, k) && holder(c, k) == -1 && !c->box[k].freed &&
	    c->expired_at >= c->box[k].last_act_ms + INBOX_TIMEOUT_MS + TICK_MS;
}

/* What was known of inbox k before a call that may find it gone. */
struct before {
	bool present, deletable, gone;
};

static struct before
look(const struct ctx *c, int k)
{
	struct before b = { c->box[k].present, false, false };

	if (b.present) {
		b.deletable = deletable(c, k);
		b.gone = must_be_gone(c, k);
	}
	return b;
}

/* A call found inbox k: it must exist and not have outlived its time. */
static void
found(struct ctx *c, int k, const struct before *b, const char *what)
{
	REQUIRE(b->present, "%s: inbox %s exists but was never created or "
	    "was found deleted", what, names[k]);
	REQUIRE(!b->gone, "%s: inbox %s idle since %llu still exists at "
	    "expiry %llu (timeout %d, tick %d)", what, names[k],
	    (unsigned long long)c->box[k].last_act_ms,
	    (unsigned long long)c->expired_at, INBOX_TIMEOUT_MS, TICK_MS);
}

/* A call did not find inbox k: if it existed, it expired, with its queue. */
static void
not_found(struct ctx *c, int k, const struct before *b, const char *what)
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
		if (c->rec[id].to == k && c->rec[id].state == M_QUEUED) {
			c->rec[id].state = M_EXPIRED;
			c->expired++;
		}
	c->box[k].present = false;
	c->box[k].pin = false; /* a PIN goes with its inbox */
	c->deletions++;
}

/* Inbox k's PIN must still be live: neither it nor its inbox can be gone. */
static bool
pin_must_live(const struct ctx *c, int k)
{
	return c->box[k].present && c->box[k].pin && !deletable(c, k) &&
	    c->expired_at < c->box[k].pin_deadline_ms;
}

/* ... or may be: at most one tick past its deadline, its inbox too. */
static bool
pin_may_live(const struct ctx *c, int k)
{
	return c->box[k].present && c->box[k].pin && !must_be_gone(c, k) &&
	    c->expired_at < c->box[k].pin_deadline_ms + TICK_MS;
}

/* Drop what the store drops when it touches inbox k at now. */
static void
drop_stale(struct ctx *c, int k)
{
	size_t id;

	for (id = first_live(c); id <= c->sent; id++)
		if (c->rec[id].to == k && c->rec[id].state == M_QUEUED &&
		    deadline(&c->rec[id]) <= c->now) {
			c->rec[id].state = M_EXPIRED;
			c->expired++;
		}
}

/* The oldest queued message of inbox k, or 0. */
static uint64_t
oldest(struct ctx *c, int k, uint64_t *n, uint64_t *bytes)
{
	uint64_t first = 0;
	size_t id;

	*n = *bytes = 0;
	for (id = first_live(c); id <= c->sent; id++)
		if (c->rec[id].to == k && c->rec[id].state == M_QUEUED) {
			if (first == 0)
				first = id;
			(*n)++;
			*bytes += c->rec[id].len;
		}
	return first;
}

/* A message in flight must be the one recorded. */
static void
check_message(const struct ctx *c, struct message *m, uint64_t id)
{
	const struct rec *r = &c->rec[id];
	const char *type = types[r->type];
	const uint8_t *body;
	uint32_t i;

	REQUIRE(m->id == id, "message %llu handed as %llu",
	    (unsigned long long)id, (unsigned long long)m->id);
	REQUIRE(m->enqueued_ms == r->enqueued_ms, "enqueue time changed");
	REQUIRE(strcmp(message_from(m), names[r->from]) == 0, "sender");
	if (type == NULL || *type == '\0')
		REQUIRE(message_type(m) == NULL, "a type from nowhere");
	else
		REQUIRE(message_type(m) != NULL &&
		    strcmp(message_type(m), type) == 0, "Content-Type");
	REQUIRE(m->len == r->len, "length %u, sent %u", m->len, r->len);
	REQUIRE(message_cost(m) == r->cost, "cost changed");
	body = (const uint8_t *)message_body(m);
	for (i = 0; i < m->len; i++)
		REQUIRE(body[i] == pattern(id, i), "message %llu: body byte %u",
		    (unsigned long long)id, i);
}

/* SPEC section 2: a message older than message-timeout is never delivered. */
static void
check_live(const struct ctx *c, uint64_t id)
{
	const struct rec *r = &c->rec[id];

	REQUIRE(c->now < deadline(r), "message %llu sent at %llu handed out "
	    "at %llu, past message-timeout", (unsigned long long)id,
	    (unsigned long long)r->enqueued_ms, (unsigned long long)c->now);
}

static bool
fake_alive(struct store_waiter *w)
{
	struct slot *sl = w->owner;
	struct ctx *c = sl->ctx;

	REQUIRE(sl->state == S_HELD, "alive() of a waiter not held");
	REQUIRE(c->call == CALL_EXPIRE || ((c->call == CALL_SEND ||
	    c->call == CALL_DONE) && sl->box == c->call_box),
	    "alive() outside a delivery to its inbox or expiry");
	return sl->alive;
}

static void
fake_hold(struct store_waiter *w)
{
	struct slot *sl = w->owner;
	struct ctx *c = sl->ctx;

	REQUIRE(c->call == CALL_RECEIVE && sl->idx == c->call_slot,
	    "hold() of slot %d outside its receive", sl->idx);
	REQUIRE(!c->shutdown, "a hold after shutdown");
	REQUIRE(sl->state == S_FREE && sl->holds == sl->releases,
	    "hold() of a waiter already held or in flight");
	REQUIRE(w->state == WAITER_HELD, "hold() with state %d", w->state);
	sl->holds++;
	sl->state = S_HELD;
	sl->box = c->call_box;
}

static void
fake_release(struct store_waiter *w)
{
	struct slot *sl = w->owner;
	struct ctx *c = sl->ctx;
	int k = sl->box;

	REQUIRE(sl->state == S_HELD && sl->releases + 1 == sl->holds,
	    "slot %d released twice or never held", sl->idx);
	sl->releases++;
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
		REQUIRE(w->msg != NULL && w->msg == c->delivering,
		    "handed a message other than the one delivered");
		REQUIRE(w->inbox != NULL, "handed message without its inbox");
		REQUIRE(c->handed == -1, "one message handed twice");
		if (c->call == CALL_SEND)
			REQUIRE(w->msg->id == c->sent + 1, "id %llu, not %llu",
			    (unsigned long long)w->msg->id,
			    (unsigned long long)c->sent + 1);
		check_message(c, w->msg, w->msg->id);
		check_live(c, w->msg->id);
		c->handed = sl->idx;
		c->rec[w->msg->id].state = M_FLIGHT;
		sl->state = S_FLIGHT;
		sl->id = w->msg->id;
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

static const struct store_waiter_ops fake_ops = { fake_alive, fake_hold,
	fake_release };

static const struct cred_hash no_hash;

static void
mac_of(int k, int pw, uint8_t mac[CRED_MAC_BYTES])
{
	memset(mac, 0, CRED_MAC_BYTES);
	mac[0] = (uint8_t)(k + 1);
	mac[1] = (uint8_t)(pw + 1);
}

/* After every step: the store's own check and the model's counts. */
static void
check_all(struct ctx *c)
{
	struct store_stats st;
	uint64_t msg_lo = 0, msg_hi = 0, bytes_lo = 0, bytes_hi = 0;
	uint64_t box_lo = 0, box_hi = 0, held = 0, flight = 0, expired = 0;
	uint64_t pin_lo = 0, pin_hi = 0;
	char why[512];
	size_t id;
	int i, k;

	why[0] = '\0';
	REQUIRE(store_check(c->s, why, sizeof(why)) == 0, "store_check: %s",
	    why);
	store_stats(c->s, &st);
	for (i = 0; i < NSLOTS; i++) {
		const struct slot *sl = &c->slot[i];

		held += sl->state == S_HELD;
		flight += sl->state == S_FLIGHT;
		REQUIRE(sl->holds == sl->releases + (sl->state == S_HELD),
		    "slot %d: %u holds, %u releases", i, sl->holds,
		    sl->releases);
	}
	REQUIRE(st.sent == c->sent, "sent %llu, model %llu",
	    (unsigned long long)st.sent, (unsigned long long)c->sent);
	REQUIRE(st.delivered == c->delivered, "delivered %llu, model %llu",
	    (unsigned long long)st.delivered,
	    (unsigned long long)c->delivered);
	REQUIRE(st.requeued == c->requeued, "requeued %llu, model %llu",
	    (unsigned long long)st.requeued, (unsigned long long)c->requeued);
	REQUIRE(st.waiters == held, "%llu waiters, %llu held",
	    (unsigned long long)st.waiters, (unsigned long long)held);
	REQUIRE(st.sent == st.delivered + st.expired + st.messages + flight,
	    "sent %llu != delivered %llu + expired %llu + queued %llu + in "
	    "flight %llu", (unsigned long long)st.sent,
	    (unsigned long long)st.delivered, (unsigned long long)st.expired,
	    (unsigned long long)st.messages, (unsigned long long)flight);
	REQUIRE(st.inboxes_expired >= c->deletions, "inboxes expired");
	REQUIRE(st.inboxes <= MAX_INBOXES, "over max-inboxes");

	expired = c->expired;
	REQUIRE(st.expired >= expired, "expired %llu, model at least %llu",
	    (unsigned long long)st.expired, (unsigned long long)expired);

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
			if (!may_go && deadline(r) > c->now) {
				msg_lo++;
				bytes_lo += r->len;
			}
			if (!gone && deadline(r) + TICK_MS > c->expired_at) {
				msg_hi++;
				bytes_hi += r->len;
			}
		}
	}
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
	REQUIRE(st.pins <= st.inboxes, "%llu PINs for %llu inboxes",
	    (unsigned long long)st.pins, (unsigned long long)st.inboxes);
}

static void
op_create(struct ctx *c, uint8_t a)
{
	int k = a & 7, pw = (a >> 3) & 1;
	uint8_t mac[CRED_MAC_BYTES];
	struct store_stats st0, st1;
	struct before b = look(c, k);
	size_t len = strlen(names[k]), cost;
	enum store_result r;

	mac_of(k, pw, mac);
	store_stats(c->s, &st0);
	r = store_create(c->s, names[k], &no_hash, mac, c->now);
	store_stats(c->s, &st1);
	if (st1.inboxes == st0.inboxes + 1) {
		/* Created: if the model had it, it expired meanwhile. */
		REQUIRE(r == STORE_OK, "created with result %d", r);
		not_found(c, k, &b, "create");
		cost = (size_t)(st1.memory - st0.memory);
		if (c->inbox_base == 0)
			c->inbox_base = cost - len;
		REQUIRE(cost == c->inbox_base + len, "inbox cost %zu", cost);
		REQUIRE(st0.inboxes < MAX_INBOXES &&
		    st0.memory + cost <= MAX_MEMORY, "created past a limit");
		c->box[k].present = true;
		c->box[k].pw = pw;
		c->box[k].last_act_ms = c->now;
		c->box[k].freed = false;
		return;
	}
	REQUIRE(st1.inboxes == st0.inboxes && st1.memory == st0.memory,
	    "create changed the store without creating");
	switch (r) {
	case STORE_OK:
		found(c, k, &b, "create");
		REQUIRE(c->box[k].pw == pw, "create: a wrong password let in");
		c->box[k].last_act_ms = c->now;
		break;
	case STORE_WRONG:
		found(c, k, &b, "create");
		REQUIRE(c->box[k].pw != pw,
		    "create: the right password refused");
		break;
	case STORE_SERVER_FULL:
		not_found(c, k, &b, "create");
		REQUIRE(st0.inboxes >= MAX_INBOXES || c->inbox_base == 0 ||
		    st0.memory + c->inbox_base + len > MAX_MEMORY,
		    "server_full with %llu inboxes and %llu bytes",
		    (unsigned long long)st0.inboxes,
		    (unsigned long long)st0.memory);
		break;
	default:
		REQUIRE(0, "create: result %d", r);
	}
}

static void
op_login(struct ctx *c, uint8_t a)
{
	int k = a & 7, pw = (a >> 3) & 1;
	uint8_t mac[CRED_MAC_BYTES];
	struct before b = look(c, k);
	enum store_result r;

	mac_of(k, pw, mac);
	r = store_login(c->s, names[k], mac, c->now);
	switch (r) {
	case STORE_NOT_FOUND:
		not_found(c, k, &b, "login");
		break;
	case STORE_OK:
		found(c, k, &b, "login");
		REQUIRE(c->box[k].pw == pw, "login: a wrong password let in");
		c->box[k].last_act_ms = c->now;
		break;
	case STORE_WRONG:
		found(c, k, &b, "login");
		REQUIRE(c->box[k].pw != pw,
		    "login: the right password refused");
		break;
	default:
		REQUIRE(0, "login: result %d", r);
	}
}

/*
 * The message of send number sent + 1 from name `from' with type `type',
 * body bytes from b0 and first capacity from b1, recorded for inbox `to'
 * (-1 when none is expected to take it).
 */
static struct message *
make_message(struct ctx *c, int from, int to, int type, uint8_t b0,
    uint8_t b1)
{
	uint32_t len = ((uint32_t)b0 * MAX_BODY + 127) / 255, i;
	uint64_t id = c->sent + 1;
	struct rec *r = &c->rec[id];
	struct message *m;
	uint8_t *body;

	/* Like a chunked body: a first guess, grown when it falls short. */
	m = message_new(names[from], types[type], (b1 & 0x7f) < len ?
	    (b1 & 0x7f) : len);
	REQUIRE(m != NULL, "message_new");
	if (len > m->cap || (b1 & 0x80))
		REQUIRE(message_reserve(&m, len) == 0, "message_reserve");
	REQUIRE(m->cap >= len, "message_reserve left %u bytes", m->cap);
	body = (uint8_t *)message_body(m);
	for (i = 0; i < len; i++)
		body[i] = pattern(id, i);
	m->len = len;
	r->to = to;
	r->from = from;
	r->type = type;
	r->len = len;
	r->cost = message_cost(m);
	r->enqueued_ms = c->now;
	r->state = M_QUEUED;
	return m;
}

/*
 * Judge the answer res of a send of m (the model's next id) that found
 * inbox `to', known as b before the call, held by was_held: store_send,
 * or store_pin_send of to's PIN.  Frees m unless the store took it.
 */
static void
judge_send(struct ctx *c, int to, struct message *m, enum store_result res,
    const struct before *b, int was_held, const struct store_stats *st1,
    const char *what)
{
	uint64_t id = c->sent + 1, n, bytes;
	const struct rec *r = &c->rec[id];

	found(c, to, b, what);
	drop_stale(c, to);
	oldest(c, to, &n, &bytes);
	switch (res) {
	case STORE_INBOX_FULL:
		REQUIRE(n >= MAX_MESSAGES || bytes + r->len > MAX_INBOX_BYTES,
		    "%s: inbox_full with %llu messages of %llu bytes", what,
		    (unsigned long long)n, (unsigned long long)bytes);
		REQUIRE(c->handed == -1, "a refused message was handed out");
		REQUIRE(st1->sent == c->sent, "a refused send counted");
		message_free(m);
		return;
	case STORE_SERVER_FULL:
		REQUIRE(n < MAX_MESSAGES && bytes + r->len <= MAX_INBOX_BYTES,
		    "%s: server_full where inbox_full was due", what);
		REQUIRE(st1->memory + r->cost > MAX_MEMORY,
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
	REQUIRE(n < MAX_MESSAGES && bytes + r->len <= MAX_INBOX_BYTES,
	    "queued past max-messages or max-inbox-bytes");
	REQUIRE(m->id == id && m->enqueued_ms == c->now,
	    "send set id %llu at %llu", (unsigned long long)m->id,
	    (unsigned long long)m->enqueued_ms);
	c->sent++;
	REQUIRE(was_held == -1 || c->slot[was_held].state != S_HELD,
	    "a send left the held GET of %s waiting", names[to]);
	if (c->handed >= 0) {
		REQUIRE(c->handed == was_held, "handed to another waiter");
		REQUIRE(st1->memory + r->cost <= MAX_MEMORY,
		    "accepted past max-memory");
	} else
		REQUIRE(st1->memory <= MAX_MEMORY, "queued past max-memory");
	/* rec[id] already says M_FLIGHT when a waiter took it. */
}

static void
op_send(struct ctx *c, uint8_t a, uint8_t b0, uint8_t b1)
{
	int from = a & 7, to = (a >> 3) & 7, type = a >> 6;
	struct before b = look(c, to);
	struct store_stats st0, st1;
	int was_held = holder(c, to);
	struct message *m = make_message(c, from, to, type, b0, b1);
	enum store_result res;

	store_stats(c->s, &st0);
	c->call = CALL_SEND;
	c->call_box = to;
	c->delivering = m;
	c->handed = -1;
	res = store_send(c->s, names[to], m, c->now);
	c->call = CALL_NONE;
	store_stats(c->s, &st1);
	if (res == STORE_NOT_FOUND) {
		not_found(c, to, &b, "send");
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
op_pin_create(struct ctx *c, uint8_t a, uint8_t b0)
{
	int k = a & 7, j, may = 0;
	unsigned digits = 1 + (unsigned)(a >> 3) % 9;
	uint64_t timeout = 1 + (uint64_t)b0 * PIN_WAIT_STEP;
	struct before b = look(c, k);
	bool must[NNAMES];
	enum store_result r;
	uint32_t code = UINT32_MAX;

	for (j = 0; j < NNAMES; j++) {
		must[j] = pin_must_live(c, j);
		may += pin_may_live(c, j);
	}
	r = store_pin_create(c->s, names[k], digits, timeout, c->now, &code);
	switch (r) {
	case STORE_NOT_FOUND:
		not_found(c, k, &b, "pin create");
		return;
	case STORE_SERVER_FULL:
		/*
		 * 32 draws all on live codes: only where live codes fill much
		 * of the space (one digit; with two, 6 live of 100 would
		 * collide 32 times once in 10^39).
		 */
		found(c, k, &b, "pin create");
		REQUIRE(digits == 1 && may > 0, "pin create: server_full with "
		    "%u digits and at most %d live PINs", digits, may);
		return;
	case STORE_OK:
		break;
	default:
		REQUIRE(0, "pin create: result %d", r);
	}
	found(c, k, &b, "pin create");
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
op_pin_send(struct ctx *c, uint8_t a, uint8_t b0, uint8_t b1)
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
		b = look(c, k);
		must = pin_must_live(c, k);
		was_held = holder(c, k);
	}
	m = make_message(c, from, k, type, b0, b1);
	store_stats(c->s, &st0);
	c->call = CALL_SEND;
	c->call_box = k;
	c->delivering = m;
	c->handed = -1;
	strcpy(to, "-");
	res = store_pin_send(c->s, code, m, c->now, to);
	c->call = CALL_NONE;
	store_stats(c->s, &st1);
	if (res == STORE_NOT_FOUND) {
		REQUIRE(!must, "PIN %u of %s not found before its deadline "
		    "%llu: now %llu, last expiry %llu", code, names[k],
		    (unsigned long long)c->box[k].pin_deadline_ms,
		    (unsigned long long)c->now,
		    (unsigned long long)c->expired_at);
		REQUIRE(st1.sent == st0.sent && st1.pins == st0.pins,
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
		REQUIRE(st1.pins + 1 == st0.pins, "a used PIN is still live");
		c->box[k].pin = false; /* one use */
	} else {
		REQUIRE(strcmp(to, "-") == 0, "a refused send named %s", to);
		REQUIRE(st1.pins == st0.pins, "a refused send used the PIN");
	}
	judge_send(c, k, m, res, &b, was_held, &st1, "pin send");
}

static int
pick_slot(const struct ctx *c, int from, enum slot_state want)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		if (c->slot[(from + i) % NSLOTS].state == want)
			return (from + i) % NSLOTS;
	return -1;
}

static void
op_receive(struct ctx *c, uint8_t a, uint64_t wait_ms)
{
	int k = a & 7, i = pick_slot(c, (a >> 3) & 7, S_FREE);
	struct before b = look(c, k);
	int was_held = holder(c, k);
	struct slot *sl;
	enum store_result r;
	uint64_t head, n, bytes;

	if (i < 0)
		return;
	sl = &c->slot[i];
	sl->alive = (a >> 6) & 1;
	sl->since_ms = c->now;
	sl->wait_ms = wait_ms;
	c->call = CALL_RECEIVE;
	c->call_box = k;
	c->call_slot = i;
	r = store_receive(c->s, names[k], &sl->w, wait_ms, c->now);
	c->call = CALL_NONE;
	if (r == STORE_NOT_FOUND) {
		not_found(c, k, &b, "receive");
		REQUIRE(sl->state == S_FREE, "held on a missing inbox");
		return;
	}
	found(c, k, &b, "receive");
	c->box[k].last_act_ms = c->now;
	drop_stale(c, k);
	head = oldest(c, k, &n, &bytes);
	switch (r) {
	case STORE_OK:
		/* FIFO: the oldest live message, requeued ones included. */
		REQUIRE(head != 0, "popped from an inbox the model has empty");
		REQUIRE(sl->w.msg != NULL && sl->w.inbox != NULL,
		    "popped without message");
		REQUIRE(sl->w.msg->id == head, "popped %llu before %llu",
		    (unsigned long long)sl->w.msg->id,
		    (unsigned long long)head);
		check_message(c, sl->w.msg, head);
		check_live(c, head);
		REQUIRE(was_held == -1, "a held GET beside a message");
		c->rec[head].state = M_FLIGHT;
		sl->state = S_FLIGHT;
		sl->box = k;
		sl->id = head;
		break;
	case STORE_EMPTY:
		REQUIRE(head == 0, "empty while %llu is queued",
		    (unsigned long long)head);
		REQUIRE(wait_ms == 0 || c->shutdown, "not held for %llu ms",
		    (unsigned long long)wait_ms);
		REQUIRE(sl->state == S_FREE, "held yet answered empty");
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

static void
op_done(struct ctx *c, int i, bool delivered)
{
	struct slot *sl = &c->slot[i];
	int k = sl->box;
	uint64_t id = sl->id;
	struct rec *r = &c->rec[id];

	REQUIRE(c->box[k].present, "an inbox with a message in flight went");
	REQUIRE(sl->w.msg != NULL && sl->w.msg->id == id,
	    "slot %d lost its message", i);
	check_message(c, sl->w.msg, id);
	c->call = CALL_DONE;
	c->call_box = k;
	c->delivering = sl->w.msg;
	c->handed = -1;
	store_done(c->s, &sl->w, delivered, c->now);
	c->call = CALL_NONE;
	REQUIRE(sl->w.msg == NULL && sl->w.inbox == NULL &&
	    sl->w.state == WAITER_IDLE, "store_done left the waiter busy");
	reset_waiter(sl);
	c->box[k].last_act_ms = c->now;
	if (delivered) {
		REQUIRE(c->handed == -1, "a delivered message handed again");
		r->state = M_DELIVERED;
		c->delivered++;
	} else if (deadline(r) <= c->now) {
		REQUIRE(c->handed == -1, "a stale message handed again");
		r->state = M_EXPIRED;
		c->expired++;
	} else {
		c->requeued++;
		if (c->handed == -1)
			r->state = M_QUEUED;
	}
}

/* store_done without a message in flight is a no-op (store.h). */
static void
op_done_idle(struct ctx *c, int i, bool delivered)
{
	struct store_stats st0, st1;

	store_stats(c->s, &st0);
	c->call = CALL_DONE;
	c->call_box = -1;
	store_done(c->s, &c->slot[i].w, delivered, c->now);
	c->call = CALL_NONE;
	store_stats(c->s, &st1);
	REQUIRE(memcmp(&st0, &st1, sizeof(st0)) == 0,
	    "store_done without a message changed the store");
}

static void
op_expire(struct ctx *c)
{
	int i;

	c->call = CALL_EXPIRE;
	store_expire(c->s, c->now);
	c->call = CALL_NONE;
	c->expired_at = c->now;
	/* What a hold freed, even in this call, that store_expire has seen. */
	for (i = 0; i < NNAMES; i++)
		c->box[i].freed = false;
	for (i = 0; i < NSLOTS; i++) {
		const struct slot *sl = &c->slot[i];

		REQUIRE(sl->state != S_HELD ||
		    c->now < sl->since_ms + sl->wait_ms + TICK_MS,
		    "hold of %llu ms since %llu still held at %llu",
		    (unsigned long long)sl->wait_ms,
		    (unsigned long long)sl->since_ms,
		    (unsigned long long)c->now);
	}
}

/*
 * Move the clock to just before, at or just after a deadline the model
 * knows of, where off-by-one errors live, which random steps would
 * seldom hit: a message's message-timeout, an inbox's inbox-timeout, a
 * hold's wait, or the next tick.  Then maybe run the timers.
 */
static void
op_edge(struct ctx *c, uint8_t a, uint8_t b)
{
	static const int64_t off[8] = { -1, 0, 1, 2, TICK_MS - 1, TICK_MS,
		TICK_MS + 1, -TICK_MS };
	int kind = a & 3, idx = (a >> 2) & 7;
	uint64_t target = 0, id, live = 0;

	switch (kind) {
	case 0: /* the idx-th message still queued or in flight */
		for (id = first_live(c); id <= c->sent; id++)
			if (c->rec[id].state == M_QUEUED ||
			    c->rec[id].state == M_FLIGHT)
				live++;
		if (live == 0)
			break;
		idx %= (int)live;
		for (id = first_live(c); id <= c->sent; id++)
			if ((c->rec[id].state == M_QUEUED ||
			    c->rec[id].state == M_FLIGHT) && idx-- == 0) {
				target = deadline(&c->rec[id]);
				break;
			}
		break;
	case 1: /* inbox idx's inbox-timeout, or with a & 0x20 its PIN's */
		if (!c->box[idx].present)
			break;
		if (!(a & 0x20))
			target = c->box[idx].last_act_ms + INBOX_TIMEOUT_MS;
		else if (c->box[idx].pin)
			target = c->box[idx].pin_deadline_ms;
		break;
	case 2:
		if (c->slot[idx].state == S_HELD)
			target = c->slot[idx].since_ms + c->slot[idx].wait_ms;
		break;
	default:
		target = (c->now / TICK_MS + 1) * TICK_MS;
		break;
	}
	if (target != 0 && (int64_t)target + off[b & 7] > (int64_t)c->now)
		c->now = (uint64_t)((int64_t)target + off[b & 7]);
	if (b & 8)
		op_expire(c);
}

static void
op_shutdown(struct ctx *c)
{
	c->call = CALL_SHUTDOWN;
	store_shutdown(c->s, c->now);
	c->call = CALL_NONE;
	c->shutdown = true;
	REQUIRE(pick_slot(c, 0, S_HELD) == -1, "held after shutdown");
}

static void
run(struct ctx *c, struct reader *in)
{
	uint8_t op, a, b0, b1;
	int i;

	while (next_byte(in, &op)) {
		switch (op % NOPS) {
		case OP_CREATE:
			if (!next_byte(in, &a))
				return;
			op_create(c, a);
			break;
		case OP_LOGIN:
			if (!next_byte(in, &a))
				return;
			op_login(c, a);
			break;
		case OP_SEND:
			if (!next_byte(in, &a) || !next_byte(in, &b0) ||
			    !next_byte(in, &b1))
				return;
			op_send(c, a, b0, b1);
			break;
		case OP_RECEIVE:
			if (!next_byte(in, &a))
				return;
			op_receive(c, a, 0);
			break;
		case OP_RECEIVE_WAIT:
			if (!next_byte(in, &a) || !next_byte(in, &b0))
				return;
			op_receive(c, a, 1 + (uint64_t)b0 * 50);
			break;
		case OP_DONE:
			if (!next_byte(in, &a))
				return;
			if ((i = pick_slot(c, a & 7, S_FLIGHT)) >= 0)
				op_done(c, i, (a >> 3) & 1);
			else if ((i = pick_slot(c, a & 7, S_FREE)) >= 0)
				op_done_idle(c, i, (a >> 3) & 1);
			break;
		case OP_ADVANCE:
			if (!next_byte(in, &b0) || !next_byte(in, &b1))
				return;
			c->now += (uint64_t)b0 | (uint64_t)b1 << 8;
			op_expire(c);
			break;
		case OP_SHUTDOWN:
			op_shutdown(c);
			break;
		case OP_HANGUP:
			if (!next_byte(in, &a))
				return;
			c->slot[a & 7].alive = !c->slot[a & 7].alive;
			break;
		case OP_JUMP:
			/* Up to 1020 s: past a lap of the wheel (409.6 s). */
			if (!next_byte(in, &a))
				return;
			c->now += (uint64_t)a * 4000;
			op_expire(c);
			break;
		case OP_EDGE:
			if (!next_byte(in, &a) || !next_byte(in, &b0))
				return;
			op_edge(c, a, b0);
			break;
		case OP_PIN_CREATE:
			if (!next_byte(in, &a) || !next_byte(in, &b0))
				return;
			op_pin_create(c, a, b0);
			break;
		case OP_PIN_SEND:
			if (!next_byte(in, &a) || !next_byte(in, &b0) ||
			    !next_byte(in, &b1))
				return;
			op_pin_send(c, a, b0, b1);
			break;
		}
		check_all(c);
	}
}

/*
 * Release and finish everything; then, for inputs of even length, every
 * inbox must expire, while odd ones leave the store_free what is left.
 */
static void
finish(struct ctx *c, bool drain)
{
	struct store_stats st;
	int i;

	if (!c->shutdown)
		op_shutdown(c);
	check_all(c);
	for (i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == S_FLIGHT) {
			op_done(c, i, i % 2 == 0);
			check_all(c);
		}
	for (i = 0; i < NSLOTS; i++)
		REQUIRE(c->slot[i].state == S_FREE &&
		    c->slot[i].holds == c->slot[i].releases,
		    "slot %d: %u holds, %u releases", i, c->slot[i].holds,
		    c->slot[i].releases);
	if (!drain)
		return;
	c->now += INBOX_TIMEOUT_MS + MESSAGE_TIMEOUT_MS + 2 * TICK_MS;
	op_expire(c);
	check_all(c);
	store_stats(c->s, &st);
	REQUIRE(st.inboxes == 0 && st.messages == 0 && st.bytes == 0 &&
	    st.memory == 0 && st.waiters == 0 && st.pins == 0,
	    "left after every timeout: %llu inboxes, %llu messages, %llu "
	    "bytes of memory, %llu PINs", (unsigned long long)st.inboxes,
	    (unsigned long long)st.messages, (unsigned long long)st.memory,
	    (unsigned long long)st.pins);
	REQUIRE(st.sent == st.delivered + st.expired,
	    "sent %llu != delivered %llu + expired %llu",
	    (unsigned long long)st.sent, (unsigned long long)st.delivered,
	    (unsigned long long)st.expired);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct store_limits lim = {
		.inbox_timeout_ms = INBOX_TIMEOUT_MS,
		.message_timeout_ms = MESSAGE_TIMEOUT_MS,
		.max_messages = MAX_MESSAGES,
		.max_inbox_bytes = MAX_INBOX_BYTES,
		.max_inboxes = MAX_INBOXES,
		.max_memory = MAX_MEMORY,
	};
	struct reader in = { data, size };
	struct ctx *c = calloc(1, sizeof(*c));
	int i;

	REQUIRE(c != NULL, "out of memory");
	/* A send takes four bytes: size / 4 + 1 records and a spare. */
	c->nrec = size / 4 + 2;
	c->rec = calloc(c->nrec, sizeof(*c->rec));
	REQUIRE(c->rec != NULL, "out of memory");
	c->now = c->expired_at = START_MS;
	c->low = 1;
	c->call = CALL_NONE;
	c->handed = -1;
	for (i = 0; i < NSLOTS; i++) {
		c->slot[i].ctx = c;
		c->slot[i].idx = i;
		reset_waiter(&c->slot[i]);
	}
	c->s = store_new(&lim, &fake_ops, c->now, TICK_MS);
	REQUIRE(c->s != NULL, "store_new");
	check_all(c);
	run(c, &in);
	finish(c, size % 2 == 0);
	store_free(c->s);
	free(c->rec);
	free(c);
	return 0;
}
