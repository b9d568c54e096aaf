/*
 * redis_inbox.c - inbox operations over the scripts: first contact,
 * send, receive and delivery, PINs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_impl.h"
#include "util.h"

/*
 * Would cost more bytes take the cluster past max-memory?  Judged by the
 * gauges of the last walk over every inbox (gauges.lua), with the
 * overheads the in-memory store counts: approximate (SPEC section 8).
 */
static bool
redis_inbox_over_memory(struct store *s, uint64_t cost)
{
	uint64_t used = atomic_load(&s->g_bytes) +
	    atomic_load(&s->g_ack_bytes) + (atomic_load(&s->g_messages) +
	    atomic_load(&s->g_acks)) * MSG_COST +
	    atomic_load(&s->g_inboxes) * INBOX_COST;

	return used + cost > s->lim.max_memory;
}

enum store_result
redis_inbox_login(struct store *s, const char *name,
    const uint8_t mac[CRED_MAC_BYTES],
    uint64_t now_ms)
{
	enum store_result r = STORE_NOT_FOUND;
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *redis_cred_slot(s, name)) != NULL && now_ms < c->trusted_ms &&
	    ct_memcmp(c->mac, mac, CRED_MAC_BYTES) == 0)
		r = STORE_OK;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/*
 * create.lua: make name's inbox with h.  STORE_OK; STORE_CONFLICT with the
 * existing inbox's hash in *other; STORE_SERVER_FULL; STORE_UNAVAILABLE.
 */
static enum store_result
create_inbox(struct store *s, const char *name, const struct cred_hash *h,
    struct cred_hash *other)
{
	enum store_result res;
	struct call c;
	redisReply *r;

	if (s->lim.max_inboxes > 0 &&
	    atomic_load(&s->g_inboxes) >= s->lim.max_inboxes)
		return STORE_SERVER_FULL;
	if (redis_inbox_over_memory(s, INBOX_COST))
		return STORE_SERVER_FULL;
	redis_call_inbox(s, &c, name, "iqfrc");
	redis_call_str(&c, name);
	redis_call_bytes(&c, h->salt, sizeof(h->salt));
	redis_call_bytes(&c, h->tag, sizeof(h->tag));
	r = redis_call_run(s, LUA_CREATE, &c);
	if (redis_is_word(redis_first_word(r), "EXISTS")) {
		res = STORE_UNAVAILABLE;
		if (r->elements == 3 &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    r->element[1]->len == sizeof(other->salt) &&
		    r->element[2]->type == REDIS_REPLY_STRING &&
		    r->element[2]->len == sizeof(other->tag)) {
			memcpy(other->salt, r->element[1]->str,
			    sizeof(other->salt));
			memcpy(other->tag, r->element[2]->str,
			    sizeof(other->tag));
			res = STORE_CONFLICT;
		}
	} else
		res = redis_result(r);
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

enum store_result
redis_inbox_create(struct store *s, const char *name,
    const struct cred_hash *hash,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	char gen[GEN_CHARS + 1], other_gen[GEN_CHARS + 1];
	struct cred_hash other;
	enum store_result r;
	struct cred *c;

	r = create_inbox(s, name, hash, &other);
	redis_cred_gen_of(hash, gen);
	if (r == STORE_OK)
		redis_cred_put(s, name, gen, mac, now_ms);
	else if (r == STORE_CONFLICT) {
		/* Not a MAC verified here: the caller verifies (store.h). */
		r = STORE_CONFLICT;
		redis_cred_gen_of(&other, other_gen);
		pthread_mutex_lock(&s->lock);
		if ((c = *redis_cred_slot(s, name)) != NULL &&
		    strcmp(c->gen, other_gen) == 0 &&
		    ct_memcmp(c->mac, mac, CRED_MAC_BYTES) == 0)
			r = STORE_OK;
		pthread_mutex_unlock(&s->lock);
	}
	wipe(&other, sizeof(other));
	return r;
}

/* HGET of the hash's field k (common.lua): one round trip. */
enum store_result
redis_inbox_credential(struct store *s, const char *name,
    struct cred_hash *h)
{
	char key[KEY_MAX];
	const char *argv[3] = { "HGET", key, "k" };
	size_t lens[3] = { 4, 0, 1 };
	enum store_result res;
	redisReply *r;
	int n;

	if ((n = redis_inbox_key(key, sizeof(key), name)) == -1)
		return STORE_NOMEM;
	lens[1] = (size_t)n;
	if ((r = link_command(s->link, 3, argv, lens)) == NULL)
		return STORE_UNAVAILABLE;
	if (r->type == REDIS_REPLY_NIL)
		res = STORE_NOT_FOUND;
	else if (r->type == REDIS_REPLY_STRING &&
	    r->len == sizeof(h->salt) + sizeof(h->tag)) {
		memcpy(h->salt, r->str, sizeof(h->salt));
		memcpy(h->tag, r->str + sizeof(h->salt), sizeof(h->tag));
		res = STORE_OK;
	} else {
		res = redis_result(r);
		if (res == STORE_OK)
			res = STORE_UNAVAILABLE;
	}
	freeReplyObject(r);
	return res;
}

/*
 * The generation is the hash's: a script of a later inbox of the name
 * refuses it (STORE_WRONG) with no round trip here.
 */
enum store_result
redis_inbox_admit(struct store *s, const char *name,
    const struct cred_hash *h, const uint8_t mac[CRED_MAC_BYTES],
    uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];

	redis_cred_gen_of(h, gen);
	redis_cred_put(s, name, gen, mac, now_ms);
	return STORE_OK;
}

enum store_result
redis_inbox_refresh(struct store *s, const char *name, const char *gen,
    uint64_t now, bool force)
{
	enum store_result res;
	struct call c;
	redisReply *r;

	if (!force && !redis_cred_refresh_due(s, name, now))
		return STORE_OK;
	redis_call_inbox(s, &c, name, "iqfx");
	redis_call_str(&c, name);
	redis_call_str(&c, gen);
	redis_call_u64(&c, REFRESH_MS);
	r = redis_call_run(s, LUA_REFRESH, &c);
	if (redis_cred_is_stale(r))
		res = redis_cred_stale(s, name, r, STORE_NOT_FOUND);
	else {
		res = redis_result(r);
		if (res == STORE_OK)
			redis_cred_refreshed(s, name, now);
	}
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

enum store_result
redis_inbox_send(struct store *s, const char *to, struct message *m,
    uint64_t now_ms)
{
	const char *from = message_from(m), *type = message_type(m);
	char gen[GEN_CHARS + 1];
	enum store_result res;
	struct call c;
	redisReply *r;
	bool durable;

	/* The sender first, the recipient's queue last: a node that dies
	 * between them has queued nothing, and the client, unanswered,
	 * sends again (inboxd(8)). */
	if (redis_cred_gen(s, from, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	if ((res = redis_inbox_refresh(s, from, gen, now_ms, false)) != STORE_OK)
		return res == STORE_NOT_FOUND ? STORE_UNAVAILABLE : res;
	if (redis_inbox_over_memory(s, message_cost(m)))
		return STORE_SERVER_FULL;
	redis_call_inbox(s, &c, to, "iqx");
	redis_call_str(&c, to);
	redis_call_str(&c, from);
	redis_call_str(&c, type != NULL ? type : "");
	redis_call_bytes(&c, message_body(m), m->len);
	r = redis_call_run_wait(s, LUA_SEND, &c, &durable);
	res = redis_result(r);
	if (r != NULL)
		freeReplyObject(r);
	if (res == STORE_OK && !durable)
		res = STORE_UNAVAILABLE; /* queued, but maybe not for long */
	if (res == STORE_OK)
		message_free(m); /* its id is the script's (common.lua: Ids) */
	return res;
}

/*
 * pop.lua for name: mode "get" (with the caller's generation gen, a hold
 * of wait_ms, the acknowledgement of get->ack) or "wake" (on behalf of
 * this node's held GET), taking up to get->max messages.  Messages in
 * flight on other nodes make it ask which of those are dead, and call
 * again with the answer.
 */
redisReply *
redis_inbox_pop(struct store *s, const char *name, const char *gen,
    uint64_t token, uint64_t wait_ms, const char *mode,
    const struct store_get *get)
{
	char states[2048] = "", ack[24] = "";
	struct call c;
	redisReply *r;
	int tries;

	if (get->ack && strcmp(mode, "get") == 0)
		snprintf(ack, sizeof(ack), "%llu",
		    (unsigned long long)get->ack_id);
	for (tries = 0;; tries++) {
		redis_call_inbox(s, &c, name, "iqfx");
		redis_call_str(&c, name);
		redis_call_str(&c, gen);
		redis_call_u64(&c, token);
		redis_call_u64(&c, wait_ms);
		redis_call_str(&c, mode);
		redis_call_str(&c, states);
		redis_call_u64(&c, get->max > 1 ? get->max : 1);
		redis_call_str(&c, ack);
		r = redis_call_run(s, LUA_POP, &c);
		if (tries == 2 || !redis_is_word(redis_first_word(r), "NODES"))
			return r;
		redis_node_states(s, r, 1, states, sizeof(states));
		freeReplyObject(r);
	}
}

/* done.lua's KEYS, common arguments, NAME DELIVERED ACK and ids. */
_Static_assert(4 + COMMON_ARGS + 3 + DONE_IDS <= ARGS_MAX,
    "DONE_IDS ids do not fit a call");

/*
 * done.lua: the n messages ids of inbox name were delivered (to an ack=
 * GET: ack), or go back; DONE_IDS a call.
 */
int
redis_inbox_finish(struct store *s, const char *name, const uint64_t *ids,
    unsigned n, bool delivered, bool ack)
{
	char num[DONE_IDS][24];
	unsigned i, k;
	struct call c;
	int ret = 0;

	for (i = 0; i < n; i += k) {
		redis_call_inbox(s, &c, name, "iqfx");
		redis_call_str(&c, name);
		redis_call_str(&c, delivered ? "1" : "0");
		redis_call_str(&c, ack ? "1" : "0");
		for (k = 0; k < DONE_IDS && i + k < n; k++) {
			snprintf(num[k], sizeof(num[k]), "%llu",
			    (unsigned long long)ids[i + k]);
			redis_call_str(&c, num[k]);
		}
		if (redis_call_done(s, LUA_DONE, &c) == -1)
			ret = -1;
	}
	return ret;
}

static void
redis_inbox_add_retry(struct store *s, struct retry *rt)
{
	pthread_mutex_lock(&s->lock);
	rt->next = s->retries;
	s->retries = rt;
	pthread_mutex_unlock(&s->lock);
}

/*
 * A pop of GET token on name got no answer: it may have taken a message,
 * which must go back (recover.lua) once Redis answers again.
 */
void
redis_inbox_pop_lost(struct store *s, const char *name, uint64_t token)
{
	struct retry *rt = calloc(1, sizeof(*rt));

	if (rt == NULL)
		return; /* then the message waits for this node's end */
	rt->recover = true;
	rt->token = token;
	snprintf(rt->name, sizeof(rt->name), "%s", name);
	redis_inbox_add_retry(s, rt);
}

/*
 * unhold.lua: this node's GET token no longer waits on name; gone: its
 * client had hung up, so it kept nobody present.
 */
void
redis_inbox_unhold(struct store *s, const char *name, uint64_t token,
    bool gone)
{
	struct call c;

	redis_call_inbox(s, &c, name, "iqfx");
	redis_call_str(&c, name);
	redis_call_u64(&c, token);
	redis_call_str(&c, gone ? "1" : "0");
	(void)redis_call_done(s, LUA_UNHOLD, &c);
}

/* Queue unhold.lua for h on the main thread's batch (under the lock). */
int
redis_inbox_batch_unhold(struct store *s, const struct held *h, bool gone)
{
	struct call c;

	redis_call_inbox(s, &c, h->name, "iqfx");
	redis_call_str(&c, h->name);
	redis_call_u64(&c, h->token);
	redis_call_str(&c, gone ? "1" : "0");
	return link_batch_add(s->batch, LUA_UNHOLD, c.nkeys, c.argc, c.argv,
	    c.len);
}

/*
 * The messages pop.lua answered, oldest first, linked through next; NULL
 * if one is malformed or memory ran out.
 */
struct message *
redis_inbox_popped(const redisReply *r)
{
	struct message *head = NULL, **tail = &head, *m;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	for (i = 1; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    (m = redis_message(r->element[i]->str,
		    r->element[i]->len)) == NULL) {
			while ((m = head) != NULL) {
				head = m->next;
				message_free(m);
			}
			return NULL;
		}
		m->next = NULL;
		*tail = m;
		tail = &m->next;
	}
	return head;
}

/* A pop whose messages could not be built: they go back at once. */
void
redis_inbox_put_back(struct store *s, const char *name, const redisReply *r)
{
	uint64_t ids[DONE_IDS];
	unsigned long long id;
	unsigned n = 0;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 1; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    sscanf(r->element[i]->str, "%llu", &id) != 1)
			continue;
		ids[n++] = id;
		if (n == DONE_IDS) {
			redis_inbox_finish(s, name, ids, n, false, false);
			n = 0;
		}
	}
	if (n > 0)
		redis_inbox_finish(s, name, ids, n, false, false);
}

enum store_result
redis_inbox_receive(struct store *s, const char *name, struct store_waiter *w,
    uint64_t wait_ms, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	char gen[GEN_CHARS + 1];
	enum store_result res;
	struct held *h, *old;
	struct message *m;
	uint64_t since;
	redisReply *r;

	if (redis_cred_gen(s, name, gen, now_ms, wait_ms) == -1)
		return STORE_UNAVAILABLE;
	if (wait_ms > 0 && !atomic_load(&s->subscribed))
		return STORE_UNAVAILABLE; /* a wake-up could not reach it */
	if ((h = redis_held_new(name)) == NULL)
		return STORE_NOMEM;
	pthread_mutex_lock(&s->lock);
	if (s->shutting_down)
		wait_ms = 0;
	h->token = ++s->next_token;
	since = s->note_seq;
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		r = redis_inbox_pop(s, name, gen, h->token, wait_ms, "get",
		    &w->get);
		if (redis_is_word(redis_first_word(r), "OK")) {
			if ((m = redis_inbox_popped(r)) == NULL) {
				redis_inbox_put_back(s, name, r);
				res = STORE_NOMEM;
				break;
			}
			w->inbox = redis_held_as_inbox(h);
			w->msg = m;
			w->state = WAITER_IDLE;
			h = NULL;
			res = STORE_OK;
			break;
		}
		if (redis_cred_is_stale(r)) {
			res = redis_cred_stale(s, name, r, STORE_NOT_FOUND);
			break;
		}
		if (r == NULL)
			redis_inbox_pop_lost(s, name, h->token);
		if (!redis_is_word(redis_first_word(r), "HELD")) {
			res = redis_result(r); /* EMPTY, or Redis is away */
			if (res == STORE_OK || res == STORE_HELD)
				res = STORE_UNAVAILABLE;
			break;
		}
		freeReplyObject(r);
		r = NULL;
		pthread_mutex_lock(&s->lock);
		if (redis_held_noted(s, name, since, false, 0)) {
			/* A message came before the hold was in the table. */
			since = s->note_seq;
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		if (redis_held_noted(s, name, since, true, h->token) ||
		    s->shutting_down || !atomic_load(&s->subscribed)) {
			pthread_mutex_unlock(&s->lock);
			redis_inbox_unhold(s, name, h->token, false);
			res = STORE_EMPTY;
			break;
		}
		if ((old = *redis_held_slot(s, name)) != NULL) {
			/* Redis now names this GET: the older one gives way. */
			redis_held_remove(s, old);
			if (old->popping)
				old->pending = WAITER_DISPLACED;
			else
				redis_held_unhold(s, old, WAITER_DISPLACED,
				    &release);
		}
		h->w = w;
		h->in_table = true;
		h->hnext = NULL;
		*redis_held_slot(s, name) = h;
		w->inbox = redis_held_as_inbox(h);
		w->msg = NULL;
		w->state = WAITER_HELD;
		timer_init(&w->timer, TIMER_WAITER);
		timer_add(&s->wheel, &w->timer, now_ms + wait_ms);
		timer_init(&h->check, TIMER_PRESENCE);
		if (wait_ms > s->lim.inbox_timeout_ms)
			timer_add(&s->wheel, &h->check,
			    now_ms + s->lim.inbox_timeout_ms);
		s->nheld++;
		s->ops->hold(w);
		pthread_mutex_unlock(&s->lock);
		h = NULL;
		res = STORE_HELD;
		break;
	}
	if (r != NULL)
		freeReplyObject(r);
	free(h);
	redis_held_release(s, release);
	return res;
}

void
redis_inbox_done(struct store *s, struct store_waiter *w, bool delivered,
    uint64_t now_ms)
{
	struct held *h = redis_held_of(w);
	struct message *m = w->msg, *next;
	uint64_t some[DONE_IDS], *ids = some, *many;
	struct retry *rt;
	unsigned n = 0, cap = DONE_IDS;

	(void)now_ms;
	if (m == NULL)
		return;
	w->msg = NULL;
	w->inbox = NULL;
	w->state = WAITER_IDLE;
	for (next = m; next != NULL; next = next->next)
		n++;
	/* Without memory for more, the rest wait for this node's end. */
	if (n > DONE_IDS && (many = malloc(n * sizeof(*many))) != NULL) {
		ids = many;
		cap = n;
	}
	for (n = 0; m != NULL; m = next) {
		next = m->next;
		if (n < cap)
			ids[n++] = m->id;
		message_free(m);
	}
	if (redis_inbox_finish(s, h->name, ids, n, delivered,
	    w->get.ack) == -1 &&
	    (rt = calloc(1, sizeof(*rt) + n * sizeof(rt->ids[0]))) != NULL) {
		/* Told when Redis is back; till then they stay in flight. */
		rt->delivered = delivered;
		rt->ack = w->get.ack;
		rt->nids = n;
		memcpy(rt->ids, ids, n * sizeof(ids[0]));
		snprintf(rt->name, sizeof(rt->name), "%s", h->name);
		redis_inbox_add_retry(s, rt);
	}
	if (ids != some)
		free(ids);
	free(h);
}

void
redis_inbox_hangup(struct store *s, struct store_waiter *w, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	char name[STORE_NAME_MAX + 1];
	struct held *h;
	uint64_t token = 0;
	bool unhold = false;

	(void)now_ms;
	pthread_mutex_lock(&s->lock);
	if (w->state == WAITER_HELD && (h = redis_held_of(w)) != NULL) {
		if (h->popping)
			h->pending = WAITER_GONE; /* redis_sub_wake ends it */
		else if (strlen(h->name) < sizeof(name)) {
			strcpy(name, h->name);
			token = h->token;
			unhold = true;
			redis_held_unhold(s, h, WAITER_GONE, &release);
		}
	}
	pthread_mutex_unlock(&s->lock);
	redis_held_release(s, release);
	if (unhold)
		redis_inbox_unhold(s, name, token, true);
}

/* pin_drop.lua: forget PIN code if it still names inbox name. */
static void
pin_drop(struct store *s, const char *code, const char *name)
{
	char key[64];
	struct call c;

	snprintf(key, sizeof(key), "inboxd:pin:{%s}", code);
	redis_call_key(s, &c, key);
	redis_call_str(&c, name);
	(void)redis_call_done(s, LUA_PIN_DROP, &c);
}

/*
 * A PIN is two keys in two slots: the code's claim, inboxd:pin:{CODE}
 * naming the inbox (SET NX PX, so codes stay unique among live ones),
 * then the inbox's p, which alone makes the code live (pin_set.lua).  A
 * node that dies between them leaves a claim that leads nowhere and
 * lapses by its TTL; the inbox's earlier code is dead from the moment p
 * changes, and its claim is dropped after.
 */
enum store_result
redis_inbox_pin_create(struct store *s, const char *name, unsigned digits,
    uint64_t timeout_ms, uint64_t now_ms, uint32_t *code)
{
	char gen[GEN_CHARS + 1], codes[16], key[64], px[24];
	const char *argv[6] = { "SET", key, name, "NX", "PX", px };
	size_t lens[6];
	enum store_result res;
	int64_t v;
	struct call c;
	redisReply *r;
	int i;

	if (redis_cred_gen(s, name, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	snprintf(px, sizeof(px), "%llu", (unsigned long long)timeout_ms);
	for (i = 0;; i++) {
		if (i == PIN_DRAWS)
			return STORE_SERVER_FULL; /* no free code turned up */
		if ((v = random_code(digits)) == -1)
			return STORE_NOMEM;
		snprintf(codes, sizeof(codes), "%lld", (long long)v);
		snprintf(key, sizeof(key), "inboxd:pin:{%s}", codes);
		lens[0] = 3;
		lens[1] = strlen(key);
		lens[2] = strlen(name);
		lens[3] = 2;
		lens[4] = 2;
		lens[5] = strlen(px);
		if ((r = link_command(s->link, 6, argv, lens)) == NULL)
			return STORE_UNAVAILABLE;
		res = r->type == REDIS_REPLY_STATUS ? STORE_OK :
		    r->type == REDIS_REPLY_NIL ? STORE_CONFLICT :
		    redis_result(r);
		freeReplyObject(r);
		if (res == STORE_OK)
			break;
		if (res != STORE_CONFLICT)
			return res;
	}
	redis_call_inbox(s, &c, name, "iqfx");
	redis_call_str(&c, name);
	redis_call_str(&c, gen);
	redis_call_str(&c, codes);
	redis_call_u64(&c, timeout_ms);
	r = redis_call_run(s, LUA_PIN_SET, &c);
	res = redis_cred_is_stale(r) ? redis_cred_stale(s, name, r,
	    STORE_NOT_FOUND) : redis_result(r);
	if (res == STORE_OK && (r->type != REDIS_REPLY_ARRAY ||
	    r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING))
		res = STORE_UNAVAILABLE;
	if (res == STORE_OK) {
		*code = (uint32_t)v;
		if (r->element[1]->len > 0)
			pin_drop(s, r->element[1]->str, name);
	} else if (r != NULL)
		pin_drop(s, codes, name); /* the claim leads nowhere */
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

/*
 * The sender's inbox first (refresh.lua), then the code's claim, then
 * the recipient's inbox, where the message is queued only while the code
 * is its live PIN, which that consumes (pin_deliver.lua); the claim is
 * dropped last.  A node that dies before the queueing has queued
 * nothing; after it, leaves a claim that leads nowhere (inboxd(8)).
 */
enum store_result
redis_inbox_pin_send(struct store *s, uint32_t code, struct message *m,
    uint64_t now_ms, char to[STORE_NAME_MAX + 1])
{
	const char *from = message_from(m), *type = message_type(m);
	char gen[GEN_CHARS + 1], codes[16], key[64], name[STORE_NAME_MAX + 1];
	const char *argv[2] = { "GET", key };
	size_t lens[2];
	enum store_result res;
	struct call c;
	redisReply *r;
	bool durable;

	if (redis_cred_gen(s, from, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	if ((res = redis_inbox_refresh(s, from, gen, now_ms, false)) != STORE_OK)
		return res == STORE_NOT_FOUND ? STORE_UNAVAILABLE : res;
	snprintf(codes, sizeof(codes), "%lu", (unsigned long)code);
	snprintf(key, sizeof(key), "inboxd:pin:{%s}", codes);
	lens[0] = 3;
	lens[1] = strlen(key);
	if ((r = link_command(s->link, 2, argv, lens)) == NULL)
		return STORE_UNAVAILABLE;
	if (r->type != REDIS_REPLY_STRING || r->len > STORE_NAME_MAX) {
		res = r->type == REDIS_REPLY_NIL ? STORE_NOT_FOUND :
		    redis_result(r);
		freeReplyObject(r);
		return res == STORE_OK ? STORE_UNAVAILABLE : res;
	}
	memcpy(name, r->str, r->len); /* `to' is set on STORE_OK only */
	name[r->len] = '\0';
	freeReplyObject(r);
	if (redis_inbox_over_memory(s, message_cost(m)))
		return STORE_SERVER_FULL;
	redis_call_inbox(s, &c, name, "iqx");
	redis_call_str(&c, name);
	redis_call_str(&c, codes);
	redis_call_str(&c, from);
	redis_call_str(&c, type != NULL ? type : "");
	redis_call_bytes(&c, message_body(m), m->len);
	r = redis_call_run_wait(s, LUA_PIN_DELIVER, &c, &durable);
	res = redis_result(r);
	if (r != NULL)
		freeReplyObject(r);
	if (res == STORE_OK) {
		pin_drop(s, codes, name);
		strcpy(to, name);
		if (!durable)
			return STORE_UNAVAILABLE;
		message_free(m);
	}
	return res;
}
