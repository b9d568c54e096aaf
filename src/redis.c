/*
 * redis.c - the Redis store: store_ops over Lua scripts, held GETs woken
 * over pub/sub, and a node-local credential cache.
 *
 * What the node keeps, under one mutex:
 * - Its held GETs, in a table by inbox name.  A pop that finds the inbox
 *   empty records this node (and the GET's token and deadline) as the
 *   inbox's waiter in the same script, so a send can never slip between
 *   "empty" and "waiting".  A send then PUBLISHes "wake NAME" on the
 *   waiter's node channel; the subscriber thread pops on the held GET's
 *   behalf (pop.lua, mode wake) and resumes it with the message, or keeps
 *   it held if another GET took the message first.  A GET on another
 *   node displaces it with "displace TOKEN NAME".  Deadlines run on the
 *   node's own timer wheel (store_expire, every tick).
 * - Notes of the wake-ups and displacements that came for a name with no
 *   held GET yet: the pop that recorded the waiter may not have reached
 *   the table when its wake-up arrived.  Before holding, a GET looks at
 *   the notes made since its pop began, and pops again if one names it.
 * - The credentials it verified: name -> the inbox's generation and the
 *   MAC of the password (auth.h), so polling costs no Argon2 and no round
 *   trip.  An entry is trusted by store_login for half an inbox-timeout
 *   after the last operation on the inbox through this node (so an inbox
 *   that may have expired since is verified against Redis again), and
 *   forgotten half an inbox-timeout later.  Every script takes the
 *   cached generation, so a password verified for an earlier inbox of
 *   the same name is refused (STORE_WRONG).
 *
 * Lock order: the store's mutex is never held across a Redis command.
 * Waiters are released after it is dropped, as in store.c.
 *
 * A held GET's struct store_waiter points at its struct held through the
 * `inbox' member: the in-memory store's struct inbox is not defined here,
 * so the pointer is only stored and converted back (held_of).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "redis.h"
#include "redis_link.h"
#include "util.h"

#define NODE_MAX 64        /* bytes of a node id (config.h: node_id) */
/* The node's name in Redis: its id, '.', and the number of this start. */
#define NODE_NAME_MAX (NODE_MAX + 1 + 20)
#define GEN_CHARS 16       /* a generation: its salt's first 64 bits, hex */
#define HELD_BUCKETS 16384 /* held GETs by name: ~19,000 at most a node */
#define CRED_BUCKETS 1024  /* grows by doubling past one entry a bucket */
#define NOTES 256          /* recent wake-ups for names not yet held */
#define PIN_DRAWS 32       /* candidate codes a pin_create tries */
#define REAP_LIMIT 64      /* inboxes and rooms a reap script handles */
#define REAP_ROUNDS 8      /* reap scripts a tick at most */
#define BEAT_MS 1000       /* heartbeat period */
#define SUBSCRIBE_WAIT_MS 3000 /* for the first subscription at start */
#define ID_COUNTER_BITS 40 /* X-Message-Id: node number << 40 | counter */
#define ID_REAP_SPACE ((uint64_t)1 << 39) /* ids of events made by reaps */
#define ARGS_MAX 27        /* arguments of a script call, keys too */
#define CALL_KEYS 3        /* KEYS of an inbox's script: :i :q :f */
#define REFRESH_MS 1000    /* a node refreshes an inbox at most so often */
#define MSG_COST 32        /* bytes a queued message costs beyond its body */
#define INBOX_COST 256     /* bytes an inbox costs, against max-memory */
#define WALK_COUNT 500     /* keys a step of the gauges' walk scans */
#define WALK_STEPS 4       /* steps of the walk a tick */
#define COMMON_ARGS 12     /* ARGV[1..12], see src/lua/common.lua */
#define ELEMENT_HEAD_MAX 1024 /* a message's header: 3 names and numbers */

enum { TIMER_WAITER = 1, TIMER_CRED = 2, TIMER_PRESENCE = 3 };

/* A GET of this node: held, or delivering what it popped. */
struct held {
	struct held *hnext;
	struct timer check; /* a hold past inbox-timeout: client still there? */
	struct store_waiter *w;
	uint64_t token;  /* which GET, in the inbox's waiter record */
	bool in_table;
	bool popping;    /* a wake-up's pop runs without the lock */
	bool rewake;     /* another wake-up came meanwhile */
	enum waiter_state pending; /* an end that came while popping */
	char name[];
};

/* A verified credential. */
struct cred {
	struct cred *hnext;
	struct timer timer;  /* when it is forgotten */
	uint64_t trusted_ms; /* store_login trusts it until then */
	uint64_t refreshed_ms; /* the inbox's last refresh.lua from here */
	char gen[GEN_CHARS + 1];
	uint8_t mac[CRED_MAC_BYTES];
	char name[];
};

/* A wake-up or displacement that found no held GET. */
struct note {
	uint64_t hash; /* of the name */
	uint64_t token;
	uint64_t seq;
	bool displace;
};

/*
 * What Redis must still hear of: the end of a delivery, or a pop whose
 * answer was lost (what it took goes back).
 */
struct retry {
	struct retry *next;
	bool recover;   /* a lost pop of GET token, else a delivery's end */
	bool delivered;
	uint64_t token;
	char id[24];
	char name[];
};

/* The counters functions report (src/lua/common.lua: stat). */
enum {
	C_SENT, C_DELIVERED, C_REQUEUED, C_EXPIRED, C_ROOMS_CREATED,
	C_ROOMS_EXPIRED, C_COPIES_DELIVERED, C_COPIES_FAILED, C_EVENTS,
	C_EVENTS_DROPPED, NCOUNTERS
};

static const char *const counter_names[NCOUNTERS] = {
	[C_SENT] = "sent",
	[C_DELIVERED] = "delivered",
	[C_REQUEUED] = "requeued",
	[C_EXPIRED] = "expired",
	[C_ROOMS_CREATED] = "rooms_created",
	[C_ROOMS_EXPIRED] = "rooms_expired",
	[C_COPIES_DELIVERED] = "copies_delivered",
	[C_COPIES_FAILED] = "copies_failed",
	[C_EVENTS] = "events",
	[C_EVENTS_DROPPED] = "events_dropped",
};

static const char *const result_words[] = {
	[STORE_OK] = "OK",
	[STORE_EMPTY] = "EMPTY",
	[STORE_HELD] = "HELD",
	[STORE_NOT_FOUND] = "NOT_FOUND",
	[STORE_INBOX_FULL] = "INBOX_FULL",
	[STORE_SERVER_FULL] = "SERVER_FULL",
	[STORE_WRONG] = "WRONG",
	[STORE_FORBIDDEN] = "FORBIDDEN",
	[STORE_CONFLICT] = "CONFLICT",
	[STORE_ROOM_FULL] = "ROOM_FULL",
	[STORE_TOO_MANY_ROOMS] = "TOO_MANY_ROOMS",
	[STORE_TOO_MANY_INVITATIONS] = "TOO_MANY_INVITATIONS",
	[STORE_NO_PEER] = "NO_PEER",
};

struct store {
	struct store_base base; /* redis_store_ops */
	pthread_mutex_t lock;
	struct store_limits lim;
	const struct store_waiter_ops *ops;
	struct redis_link *link;
	char node[NODE_NAME_MAX + 1];
	uint64_t node_number;
	atomic_uint_fast64_t next_id; /* below ID_REAP_SPACE */
	uint64_t reap_id;             /* the main thread's */
	uint64_t lease_ms;
	uint8_t key[CRED_MAC_BYTES]; /* the cluster's MAC key */
	uint8_t hash_key[16];
	/* Under lock: */
	struct held *held[HELD_BUCKETS];
	uint64_t nheld; /* held GETs not yet released */
	struct cred **creds;
	size_t ncred_buckets, ncreds;
	struct timer_wheel wheel;
	uint64_t next_token;
	struct note notes[NOTES];
	uint64_t note_seq;
	bool shutting_down;
	struct retry *retries;
	struct store_stats last; /* the last stats read, for when Redis is away */
	/* The node's own counters, as the functions report them. */
	_Atomic uint64_t counter[NCOUNTERS];
	/* The gauges of the last walk over every inbox (gauges.lua). */
	_Atomic uint64_t g_inboxes, g_messages, g_bytes, g_walks;
	/* The main thread's: */
	char walk_cursor[24]; /* of the walk under way */
	uint64_t walk_inboxes, walk_messages, walk_bytes;
	uint64_t next_beat_ms;
	uint64_t beat_held; /* nheld as the last heartbeat said */
	struct link_batch *batch;
	/* ARGV[1..12] of every script but the last (the first id). */
	char common[COMMON_ARGS - 1][NODE_NAME_MAX + 1];
	atomic_bool render;
	unsigned fail_limit;      /* auth-failures-per-minute, or 0 */
	redis_learn_fn *learn;    /* told of an address over it */
	void *learn_arg;
	/* The subscriber. */
	pthread_t sub_thread;
	bool sub_started;
	pthread_mutex_t sub_lock;
	pthread_cond_t sub_cond;
	redisContext *sub; /* under sub_lock, so that free can cut it */
	atomic_bool subscribed;
	atomic_bool stopping;
};

/* The arguments of one script call: its KEYS first, then its ARGV. */
struct call {
	int argc, nkeys;
	const char *argv[ARGS_MAX];
	size_t len[ARGS_MAX];
	char num[8][24]; /* room for numbers written out */
	unsigned nnum;
	char key[CALL_KEYS][STORE_NAME_MAX + 16];
};

static const struct store_ops redis_store_ops;

static struct held *
held_of(const struct store_waiter *w)
{
	return (struct held *)(void *)w->inbox;
}

static struct inbox *
as_inbox(struct held *h)
{
	return (struct inbox *)(void *)h;
}

static uint64_t
name_hash(const struct store *s, const char *name)
{
	return siphash24(s->hash_key, name, strlen(name));
}

/*
 * Start a call of a script that makes messages with ids from first; with
 * name, one of the scripts of that inbox, whose KEYS are its :i, :q and
 * :f (src/lua/common.lua), so that the call goes to its slot.
 */
static void
call_init_keys(struct store *s, struct call *c, const char *name,
    int nkeys, uint64_t first)
{
	static const char suffix[CALL_KEYS] = { 'i', 'q', 'f' };
	int i, n;

	c->nnum = 0;
	c->nkeys = 0;
	for (i = 0; name != NULL && i < nkeys && i < CALL_KEYS; i++) {
		n = snprintf(c->key[i], sizeof(c->key[i]), "inboxd:{%s}:%c",
		    name, suffix[i]);
		c->argv[i] = c->key[i];
		c->len[i] = n > 0 && (size_t)n < sizeof(c->key[i]) ?
		    (size_t)n : 0;
		c->nkeys++;
	}
	for (i = 0; i < COMMON_ARGS - 1; i++) {
		c->argv[c->nkeys + i] = s->common[i];
		c->len[c->nkeys + i] = strlen(s->common[i]);
	}
	/* ARGV[10]: whether events are rendered, which may change. */
	c->argv[c->nkeys + 9] = atomic_load(&s->render) ? "1" : "0";
	c->len[c->nkeys + 9] = 1;
	snprintf(c->num[c->nnum], sizeof(c->num[0]), "%llu",
	    (unsigned long long)first);
	c->argv[c->nkeys + COMMON_ARGS - 1] = c->num[c->nnum++];
	c->len[c->nkeys + COMMON_ARGS - 1] =
	    strlen(c->argv[c->nkeys + COMMON_ARGS - 1]);
	c->argc = c->nkeys + COMMON_ARGS;
}

static void
call_init(struct store *s, struct call *c, uint64_t first)
{
	call_init_keys(s, c, NULL, 0, first);
}

static void
call_bytes(struct call *c, const void *p, size_t len)
{
	c->argv[c->argc] = p;
	c->len[c->argc++] = len;
}

static void
call_str(struct call *c, const char *str)
{
	call_bytes(c, str, strlen(str));
}

static void
call_u64(struct call *c, uint64_t v)
{
	char *b = c->num[c->nnum++];

	snprintf(b, sizeof(c->num[0]), "%llu", (unsigned long long)v);
	call_str(c, b);
}

/* Add the counters a function answered ({name, n, ...}) to the node's. */
static void
count_reply(struct store *s, const redisReply *a)
{
	size_t i, k;

	if (a == NULL || a->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i + 1 < a->elements; i += 2) {
		if (a->element[i]->type != REDIS_REPLY_STRING ||
		    a->element[i + 1]->type != REDIS_REPLY_INTEGER ||
		    a->element[i + 1]->integer < 0)
			continue;
		for (k = 0; k < nitems(counter_names); k++)
			if (strcmp(a->element[i]->str, counter_names[k]) == 0)
				atomic_fetch_add(&s->counter[k],
				    (uint64_t)a->element[i + 1]->integer);
	}
}

/*
 * Call script; its answer, with the counters it sent along added to the
 * node's, or an error reply, or NULL when Redis cannot be reached.
 */
static redisReply *
call_run(struct store *s, enum lua_script script, struct call *c)
{
	redisReply *r = link_eval(s->link, script, c->nkeys, c->argc,
	    c->argv, c->len), *answer;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return r;
	if (r->elements != 2) {
		freeReplyObject(r);
		return NULL;
	}
	count_reply(s, r->element[0]);
	answer = r->element[1];
	r->element[1] = NULL; /* freeReplyObject passes NULL elements by */
	freeReplyObject(r);
	return answer;
}

/* n X-Message-Ids for a script of an HTTP thread; the first. */
static uint64_t
take_ids(struct store *s, unsigned n)
{
	uint64_t k = atomic_fetch_add(&s->next_id, n);

	return s->node_number << ID_COUNTER_BITS | (k % ID_REAP_SPACE);
}

/* Is r (a reply or an element) the word w? */
static bool
is_word(const redisReply *r, const char *w)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_STATUS) && strcmp(r->str, w) == 0;
}

/* The first word of a script's answer: a string, or an array's first. */
static const redisReply *
first_word(const redisReply *r)
{
	if (r == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ARRAY)
		return r->elements > 0 ? r->element[0] : NULL;
	return r;
}

/* A script's answer word as a result; STORE_UNAVAILABLE for errors. */
static enum store_result
word_result(const redisReply *r)
{
	const redisReply *w = first_word(r);
	size_t i;

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		/* Redis' own maxmemory is a full server too. */
		if (strncmp(r->str, "OOM", 3) == 0)
			return STORE_SERVER_FULL;
		log_warn("redis: %s", r->str);
		return STORE_UNAVAILABLE;
	}
	for (i = 0; w != NULL && i < nitems(result_words); i++)
		if (result_words[i] != NULL && is_word(w, result_words[i]))
			return (enum store_result)i;
	return STORE_UNAVAILABLE;
}

/* Held GETs by name. */

static struct held **
held_slot(struct store *s, const char *name)
{
	struct held **pp = &s->held[name_hash(s, name) & (HELD_BUCKETS - 1)];

	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void
held_remove(struct store *s, struct held *h)
{
	struct held **pp = held_slot(s, h->name);

	if (h->in_table && *pp == h) {
		*pp = h->hnext;
		h->in_table = false;
	}
}

static struct held *
held_new(const char *name)
{
	size_t len = strlen(name);
	struct held *h = calloc(1, sizeof(*h) + len + 1);

	if (h != NULL)
		memcpy(h->name, name, len + 1);
	return h;
}

/*
 * End w's hold for why, under the lock; resumed by release_all.  A hold
 * ending without a message frees its struct held.
 */
static void
do_unhold(struct store *s, struct held *h, enum waiter_state why,
    struct store_waiter **release)
{
	struct store_waiter *w = h->w;

	timer_del(&w->timer);
	timer_del(&h->check);
	held_remove(s, h);
	s->nheld--;
	w->state = why;
	if (why != WAITER_MESSAGE) {
		w->inbox = NULL;
		free(h);
	}
	w->next = *release;
	*release = w;
}

static void
release_all(struct store *s, struct store_waiter *w)
{
	struct store_waiter *next;

	for (; w != NULL; w = next) {
		next = w->next;
		w->next = w->prev = NULL;
		s->ops->release(w);
	}
}

static void
do_note(struct store *s, const char *name, bool displace, uint64_t token)
{
	struct note *n = &s->notes[s->note_seq % NOTES];

	n->hash = name_hash(s, name);
	n->token = token;
	n->displace = displace;
	n->seq = ++s->note_seq;
}

/*
 * Did a wake-up (displace false) or a displacement of token come for
 * name after note since?  A ring that wrapped says yes.
 */
static bool
do_noted(struct store *s, const char *name, uint64_t since, bool displace,
    uint64_t token)
{
	uint64_t hash = name_hash(s, name), seq;

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

static struct cred **
cred_slot(struct store *s, const char *name)
{
	struct cred **pp = &s->creds[name_hash(s, name) &
	    (s->ncred_buckets - 1)];

	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void
do_cred_free(struct store *s, struct cred *c)
{
	struct cred **pp = cred_slot(s, c->name);

	if (*pp == c)
		*pp = c->hnext;
	timer_del(&c->timer);
	s->ncreds--;
	wipe(c->mac, sizeof(c->mac));
	free(c);
}

static void
do_cred_grow(struct store *s)
{
	size_t n = s->ncred_buckets * 2, i;
	struct cred **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (i = 0; i < s->ncred_buckets; i++) {
		struct cred *c, *next;

		for (c = s->creds[i]; c != NULL; c = next) {
			size_t k = name_hash(s, c->name) & (n - 1);

			next = c->hnext;
			c->hnext = b[k];
			b[k] = c;
		}
	}
	free(s->creds);
	s->creds = b;
	s->ncred_buckets = n;
}

/* Trust c until extra_ms past half an inbox-timeout from now. */
static void
do_cred_trust(struct store *s, struct cred *c, uint64_t now,
    uint64_t extra_ms)
{
	uint64_t half = s->lim.inbox_timeout_ms / 2;

	if (now + half + extra_ms > c->trusted_ms) {
		c->trusted_ms = now + half + extra_ms;
		timer_add(&s->wheel, &c->timer, c->trusted_ms + half);
	}
}

/* Remember that name's inbox of generation gen has password mac. */
static void
cred_put(struct store *s, const char *name, const char *gen,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now)
{
	size_t len = strlen(name);
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *cred_slot(s, name)) == NULL) {
		if ((c = calloc(1, sizeof(*c) + len + 1)) == NULL)
			goto done; /* the next request verifies again */
		memcpy(c->name, name, len + 1);
		timer_init(&c->timer, TIMER_CRED);
		if (s->ncreds >= s->ncred_buckets)
			do_cred_grow(s);
		c->hnext = s->creds[name_hash(s, name) &
		    (s->ncred_buckets - 1)];
		s->creds[name_hash(s, name) & (s->ncred_buckets - 1)] = c;
		s->ncreds++;
	}
	memcpy(c->gen, gen, GEN_CHARS + 1);
	memcpy(c->mac, mac, CRED_MAC_BYTES);
	c->trusted_ms = 0;
	c->refreshed_ms = 0;
	do_cred_trust(s, c, now, 0);
done:
	pthread_mutex_unlock(&s->lock);
}

/*
 * The generation of name's verified inbox into gen, trusting it for an
 * operation that keeps the inbox alive extra_ms more.  Returns 0, or -1
 * when the node knows no credential of name (forgotten since login).
 */
static int
cred_gen(struct store *s, const char *name, char gen[GEN_CHARS + 1],
    uint64_t now, uint64_t extra_ms)
{
	struct cred *c;
	int ret = -1;

	pthread_mutex_lock(&s->lock);
	if ((c = *cred_slot(s, name)) != NULL) {
		memcpy(gen, c->gen, GEN_CHARS + 1);
		do_cred_trust(s, c, now, extra_ms);
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Is a refresh.lua of name due: none from here for REFRESH_MS? */
static bool
cred_refresh_due(struct store *s, const char *name, uint64_t now)
{
	struct cred *c;
	bool due = true;

	pthread_mutex_lock(&s->lock);
	if ((c = *cred_slot(s, name)) != NULL && c->refreshed_ms != 0 &&
	    now < c->refreshed_ms + REFRESH_MS)
		due = false;
	pthread_mutex_unlock(&s->lock);
	return due;
}

static void
cred_refreshed(struct store *s, const char *name, uint64_t now)
{
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *cred_slot(s, name)) != NULL)
		c->refreshed_ms = now;
	pthread_mutex_unlock(&s->lock);
}

/*
 * Would cost more bytes take the cluster past max-memory?  Judged by the
 * gauges of the last walk over every inbox (gauges.lua), with the
 * overheads the in-memory store counts: approximate (SPEC section 8).
 */
static bool
over_memory(struct store *s, uint64_t cost)
{
	uint64_t used = atomic_load(&s->g_bytes) +
	    atomic_load(&s->g_messages) * MSG_COST +
	    atomic_load(&s->g_inboxes) * INBOX_COST;

	return used + cost > s->lim.max_memory;
}

/* Redis says name's inbox is gone or another: forget its credential. */
static void
cred_drop(struct store *s, const char *name)
{
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *cred_slot(s, name)) != NULL)
		do_cred_free(s, c);
	pthread_mutex_unlock(&s->lock);
}

/* An op on the caller's own inbox answered GONE or WRONG. */
static enum store_result
stale_cred(struct store *s, const char *name, const redisReply *r,
    enum store_result gone)
{
	cred_drop(s, name);
	return is_word(first_word(r), "WRONG") ? STORE_WRONG : gone;
}

static bool
is_stale(const redisReply *r)
{
	const redisReply *w = first_word(r);

	return is_word(w, "GONE") || is_word(w, "WRONG");
}

/*
 * A message from its form in Redis (src/lua/common.lua):
 * "SEQ ID ENQ EVENT LEN\nFROM\nTYPE\nROOM\nBODY", len bytes.  NULL when
 * malformed or memory ran out.  enqueued_ms is on Redis' clock.
 */
static struct message *
message_parse(const char *e, size_t len)
{
	char head[ELEMENT_HEAD_MAX], *field[4], *p, *nl;
	unsigned long long seq, id, enq, ev, blen;
	struct message *m;
	size_t hlen;
	int i;

	if (sscanf(e, "%llu %llu %llu %llu %llu", &seq, &id, &enq, &ev,
	    &blen) != 5 || ev > EVENT_INVITED || blen >= len)
		return NULL;
	hlen = len - blen; /* the header and its four newlines */
	if (hlen > sizeof(head))
		return NULL;
	memcpy(head, e, hlen);
	for (p = head, i = 0; i < 4; i++) {
		if ((nl = memchr(p, '\n', (size_t)(head + hlen - p))) == NULL)
			return NULL;
		*nl = '\0';
		field[i] = p;
		p = nl + 1;
	}
	if (p != head + hlen)
		return NULL;
	m = message_new_room(field[1], field[2][0] != '\0' ? field[2] : NULL,
	    field[3][0] != '\0' ? field[3] : NULL, (enum room_event)ev, blen);
	if (m == NULL)
		return NULL;
	memcpy(message_body(m), e + hlen, blen);
	m->len = (uint32_t)blen;
	m->id = id;
	m->enqueued_ms = enq;
	return m;
}

/* The key of inbox name's hash: inboxd:{NAME}:i. */
static int
inbox_key(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "inboxd:{%s}:i", name);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

static enum store_result
r_login(struct store *s, const char *name, const uint8_t mac[CRED_MAC_BYTES],
    uint64_t now_ms)
{
	enum store_result r = STORE_NOT_FOUND;
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *cred_slot(s, name)) != NULL && now_ms < c->trusted_ms &&
	    ct_memcmp(c->mac, mac, CRED_MAC_BYTES) == 0)
		r = STORE_OK;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/*
 * The generation of an inbox hashed as h: the first GEN_CHARS / 2 bytes of
 * its salt, drawn at random for each inbox made, in hex.
 */
static void
gen_of(const struct cred_hash *h, char gen[GEN_CHARS + 1])
{
	size_t i;

	for (i = 0; i < GEN_CHARS / 2; i++)
		snprintf(gen + 2 * i, 3, "%02x", h->salt[i]);
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
	if (over_memory(s, INBOX_COST))
		return STORE_SERVER_FULL;
	call_init_keys(s, &c, name, CALL_KEYS, 0);
	call_str(&c, name);
	call_bytes(&c, h->salt, sizeof(h->salt));
	call_bytes(&c, h->tag, sizeof(h->tag));
	r = call_run(s, LUA_CREATE, &c);
	if (is_word(first_word(r), "EXISTS")) {
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
		res = word_result(r);
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

static enum store_result
r_create(struct store *s, const char *name, const struct cred_hash *hash,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	char gen[GEN_CHARS + 1], other_gen[GEN_CHARS + 1];
	struct cred_hash other;
	enum store_result r;
	struct cred *c;

	r = create_inbox(s, name, hash, &other);
	gen_of(hash, gen);
	if (r == STORE_OK)
		cred_put(s, name, gen, mac, now_ms);
	else if (r == STORE_CONFLICT) {
		/* Without the password, only a MAC verified here will do. */
		r = STORE_WRONG;
		gen_of(&other, other_gen);
		pthread_mutex_lock(&s->lock);
		if ((c = *cred_slot(s, name)) != NULL &&
		    strcmp(c->gen, other_gen) == 0 &&
		    ct_memcmp(c->mac, mac, CRED_MAC_BYTES) == 0)
			r = STORE_OK;
		pthread_mutex_unlock(&s->lock);
	}
	wipe(&other, sizeof(other));
	return r;
}

/*
 * From a hashing worker: verify password against the hash of name's
 * inbox in Redis, or make the inbox.  Two round trips at most, and one
 * Argon2id either way.
 */
static enum store_result
r_authenticate(struct store *s, const char *name, const char *password,
    size_t len, const uint8_t mac[CRED_MAC_BYTES], uint64_t now_ms)
{
	char key[STORE_NAME_MAX + 16], gen[GEN_CHARS + 1];
	const char *argv[3] = { "HGET", key, "k" };
	size_t lens[3] = { 4, 0, 1 };
	struct cred_hash h, other;
	enum store_result res;
	redisReply *r;
	const uint8_t *k;
	int n;

	if ((n = inbox_key(key, sizeof(key), name)) == -1)
		return STORE_NOMEM;
	lens[1] = (size_t)n;
	if ((r = link_command(s->link, 3, argv, lens)) == NULL)
		return STORE_UNAVAILABLE;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL) {
		res = word_result(r);
		freeReplyObject(r);
		return res == STORE_OK ? STORE_UNAVAILABLE : res;
	}
	if (r->type == REDIS_REPLY_STRING) {
		/* It exists: verify its credential (common.lua: field k). */
		res = STORE_UNAVAILABLE;
		if (r->len == sizeof(h.salt) + sizeof(h.tag)) {
			k = (const uint8_t *)r->str;
			memcpy(h.salt, k, sizeof(h.salt));
			memcpy(h.tag, k + sizeof(h.salt), sizeof(h.tag));
			gen_of(&h, gen);
			res = auth_verify(password, len, &h) == 0 ? STORE_OK :
			    STORE_WRONG;
		}
		freeReplyObject(r);
		if (res == STORE_OK)
			cred_put(s, name, gen, mac, now_ms);
		wipe(&h, sizeof(h));
		return res;
	}
	freeReplyObject(r);
	/* First contact: hash, then create unless another node did. */
	if (auth_hash(password, len, &h) == -1)
		return STORE_NOMEM;
	res = create_inbox(s, name, &h, &other);
	gen_of(&h, gen);
	if (res == STORE_CONFLICT) {
		/* Another node made it meanwhile: a login after all. */
		gen_of(&other, gen);
		res = auth_verify(password, len, &other) == 0 ? STORE_OK :
		    STORE_WRONG;
		wipe(&other, sizeof(other));
	}
	if (res == STORE_OK)
		cred_put(s, name, gen, mac, now_ms);
	wipe(&h, sizeof(h));
	return res;
}

/*
 * refresh.lua: a request of name other than a receive keeps its inbox
 * alive.  The node skips it for REFRESH_MS after its last one (each
 * refresh gives the inbox REFRESH_MS of slack), so a client sending in a
 * burst costs one call a send.  STORE_OK, STORE_WRONG, STORE_NOT_FOUND
 * (gone) or STORE_UNAVAILABLE.
 */
static enum store_result
refresh(struct store *s, const char *name, const char *gen, uint64_t now)
{
	enum store_result res;
	struct call c;
	redisReply *r;

	if (!cred_refresh_due(s, name, now))
		return STORE_OK;
	call_init_keys(s, &c, name, CALL_KEYS, 0);
	call_str(&c, name);
	call_str(&c, gen);
	call_u64(&c, REFRESH_MS);
	r = call_run(s, LUA_REFRESH, &c);
	if (is_stale(r))
		res = stale_cred(s, name, r, STORE_NOT_FOUND);
	else {
		res = word_result(r);
		if (res == STORE_OK)
			cred_refreshed(s, name, now);
	}
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

static enum store_result
r_send(struct store *s, const char *to, struct message *m, uint64_t now_ms)
{
	const char *from = message_from(m), *type = message_type(m);
	char gen[GEN_CHARS + 1];
	enum store_result res;
	uint64_t id;
	struct call c;
	redisReply *r;

	if (cred_gen(s, from, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	if ((res = refresh(s, from, gen, now_ms)) != STORE_OK)
		return res == STORE_NOT_FOUND ? STORE_UNAVAILABLE : res;
	if (over_memory(s, message_cost(m)))
		return STORE_SERVER_FULL;
	id = take_ids(s, 1);
	call_init_keys(s, &c, to, 2, id); /* its :i and :q */
	call_str(&c, to);
	call_str(&c, from);
	call_str(&c, type != NULL ? type : "");
	call_bytes(&c, message_body(m), m->len);
	r = call_run(s, LUA_SEND, &c);
	res = word_result(r);
	if (r != NULL)
		freeReplyObject(r);
	if (res == STORE_OK) {
		m->id = id;
		m->enqueued_ms = now_ms;
		message_free(m);
	}
	return res;
}

/*
 * pop.lua for name: mode "get" (with the caller's generation gen, a hold
 * of wait_ms) or "wake" (on behalf of this node's held GET).
 */
static redisReply *
pop(struct store *s, const char *name, const char *gen, uint64_t token,
    uint64_t wait_ms, const char *mode)
{
	struct call c;

	call_init_keys(s, &c, name, CALL_KEYS, 0);
	call_str(&c, name);
	call_str(&c, gen);
	call_u64(&c, token);
	call_u64(&c, wait_ms);
	call_str(&c, mode);
	return call_run(s, LUA_POP, &c);
}

/* done.lua: message id of inbox name was delivered, or goes back. */
static int
finish_delivery(struct store *s, const char *name, const char *id,
    bool delivered)
{
	struct call c;
	redisReply *r;
	int ret;

	call_init_keys(s, &c, name, CALL_KEYS, 0);
	call_str(&c, name);
	call_str(&c, id);
	call_str(&c, delivered ? "1" : "0");
	r = call_run(s, LUA_DONE, &c);
	ret = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
	if (r != NULL)
		freeReplyObject(r);
	return ret;
}

static void
add_retry(struct store *s, struct retry *rt)
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
static void
pop_lost(struct store *s, const char *name, uint64_t token)
{
	struct retry *rt = calloc(1, sizeof(*rt) + strlen(name) + 1);

	if (rt == NULL)
		return; /* then the message waits for this node's end */
	rt->recover = true;
	rt->token = token;
	strcpy(rt->name, name);
	add_retry(s, rt);
}

/*
 * unhold.lua: this node's GET token no longer waits on name; gone: its
 * client had hung up, so it kept nobody present.
 */
static void
unhold_in_redis(struct store *s, const char *name, uint64_t token,
    bool gone)
{
	struct call c;
	redisReply *r;

	call_init(s, &c, 0);
	call_str(&c, name);
	call_u64(&c, token);
	call_str(&c, gone ? "1" : "0");
	if ((r = call_run(s, LUA_UNHOLD, &c)) != NULL)
		freeReplyObject(r);
}

/* Queue unhold.lua for h on the main thread's batch (under the lock). */
static int
do_batch_unhold(struct store *s, const struct held *h, bool gone)
{
	struct call c;

	call_init(s, &c, 0);
	call_str(&c, h->name);
	call_u64(&c, h->token);
	call_str(&c, gone ? "1" : "0");
	s->batch->script = LUA_UNHOLD;
	return link_batch_add(s->batch, c.argc, c.argv, c.len);
}

/* A popped message, as pop.lua answered it; NULL if malformed. */
static struct message *
popped(const redisReply *r)
{
	if (r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING)
		return NULL;
	return message_parse(r->element[1]->str, r->element[1]->len);
}

/* A pop whose message could not be built: it goes back at once. */
static void
put_back(struct store *s, const char *name, const redisReply *r)
{
	unsigned long long seq, id;
	char ids[24];

	if (r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING &&
	    sscanf(r->element[1]->str, "%llu %llu", &seq, &id) == 2) {
		snprintf(ids, sizeof(ids), "%llu", id);
		finish_delivery(s, name, ids, false);
	}
}

static enum store_result
r_receive(struct store *s, const char *name, struct store_waiter *w,
    uint64_t wait_ms, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	char gen[GEN_CHARS + 1];
	enum store_result res;
	struct held *h, *old;
	struct message *m;
	uint64_t since;
	redisReply *r;

	if (cred_gen(s, name, gen, now_ms, wait_ms) == -1)
		return STORE_UNAVAILABLE;
	if (wait_ms > 0 && !atomic_load(&s->subscribed))
		return STORE_UNAVAILABLE; /* a wake-up could not reach it */
	if ((h = held_new(name)) == NULL)
		return STORE_NOMEM;
	pthread_mutex_lock(&s->lock);
	if (s->shutting_down)
		wait_ms = 0;
	h->token = ++s->next_token;
	since = s->note_seq;
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		r = pop(s, name, gen, h->token, wait_ms, "get");
		if (is_word(first_word(r), "OK")) {
			if ((m = popped(r)) == NULL) {
				put_back(s, name, r);
				res = STORE_NOMEM;
				break;
			}
			w->inbox = as_inbox(h);
			w->msg = m;
			w->state = WAITER_IDLE;
			h = NULL;
			res = STORE_OK;
			break;
		}
		if (is_stale(r)) {
			res = stale_cred(s, name, r, STORE_NOT_FOUND);
			break;
		}
		if (r == NULL)
			pop_lost(s, name, h->token);
		if (!is_word(first_word(r), "HELD")) {
			res = word_result(r); /* EMPTY, or Redis is away */
			if (res == STORE_OK || res == STORE_HELD)
				res = STORE_UNAVAILABLE;
			break;
		}
		freeReplyObject(r);
		r = NULL;
		pthread_mutex_lock(&s->lock);
		if (do_noted(s, name, since, false, 0)) {
			/* A message came before the hold was in the table. */
			since = s->note_seq;
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		if (do_noted(s, name, since, true, h->token) ||
		    s->shutting_down || !atomic_load(&s->subscribed)) {
			pthread_mutex_unlock(&s->lock);
			unhold_in_redis(s, name, h->token, false);
			res = STORE_EMPTY;
			break;
		}
		if ((old = *held_slot(s, name)) != NULL) {
			/* Redis now names this GET: the older one gives way. */
			held_remove(s, old);
			if (old->popping)
				old->pending = WAITER_DISPLACED;
			else
				do_unhold(s, old, WAITER_DISPLACED, &release);
		}
		h->w = w;
		h->in_table = true;
		h->hnext = NULL;
		*held_slot(s, name) = h;
		w->inbox = as_inbox(h);
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
	release_all(s, release);
	return res;
}

/*
 * The subscriber heard "wake NAME": pop for the GET held on name, and
 * resume it with the message; with nothing there (another GET took it),
 * it stays held.
 */
static void
on_wake(struct store *s, const char *name)
{
	struct store_waiter *release = NULL;
	enum waiter_state end = WAITER_IDLE;
	uint64_t token;
	struct held *h;
	struct message *m;
	redisReply *r;
	bool unhold = false, aged = false, back = false;

	pthread_mutex_lock(&s->lock);
	if ((h = *held_slot(s, name)) == NULL) {
		do_note(s, name, false, 0);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (h->popping) {
		h->rewake = true;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	token = h->token;
	if (!s->ops->alive(h->w)) {
		do_unhold(s, h, WAITER_GONE, &release);
		pthread_mutex_unlock(&s->lock);
		release_all(s, release);
		unhold_in_redis(s, name, token, true);
		return;
	}
	h->popping = true;
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		r = pop(s, name, "", token, 0, "wake");
		pthread_mutex_lock(&s->lock);
		if (is_word(first_word(r), "OK")) {
			if ((m = popped(r)) != NULL) {
				h->w->msg = m;
				end = WAITER_MESSAGE;
			} else {
				back = true; /* once the lock is dropped */
				end = WAITER_SHUTDOWN;
			}
		} else if (is_word(first_word(r), "EMPTY")) {
			if (h->rewake) {
				h->rewake = false;
				pthread_mutex_unlock(&s->lock);
				freeReplyObject(r);
				continue;
			}
			end = h->pending;
			unhold = end == WAITER_TIMEOUT;
			aged = unhold && !s->ops->alive(h->w);
		} else if (r == NULL || r->type == REDIS_REPLY_ERROR)
			end = WAITER_SHUTDOWN; /* Redis is away */
		else
			end = WAITER_DISPLACED; /* STALE or GONE */
		break;
	}
	h->popping = false;
	if (end != WAITER_IDLE)
		do_unhold(s, h, end, &release);
	pthread_mutex_unlock(&s->lock);
	if (back)
		put_back(s, name, r);
	if (r == NULL)
		pop_lost(s, name, token);
	else
		freeReplyObject(r);
	release_all(s, release);
	if (unhold)
		unhold_in_redis(s, name, token, aged);
}

/* The subscriber heard "displace TOKEN NAME". */
static void
on_displace(struct store *s, uint64_t token, const char *name)
{
	struct store_waiter *release = NULL;
	struct held *h;

	pthread_mutex_lock(&s->lock);
	if ((h = *held_slot(s, name)) == NULL)
		do_note(s, name, true, token);
	else if (h->token == token) {
		if (h->popping)
			h->pending = WAITER_DISPLACED;
		else
			do_unhold(s, h, WAITER_DISPLACED, &release);
	}
	pthread_mutex_unlock(&s->lock);
	release_all(s, release);
}

/* End every hold for why (Redis is away, or the daemon stops). */
static void
end_holds(struct store *s, enum waiter_state why, bool stopping)
{
	struct store_waiter *release = NULL;
	size_t i;

	pthread_mutex_lock(&s->lock);
	if (stopping)
		s->shutting_down = true;
	for (i = 0; i < HELD_BUCKETS; i++) {
		struct held *h, *next;

		for (h = s->held[i]; h != NULL; h = next) {
			next = h->hnext;
			if (h->popping) {
				h->pending = why;
				continue;
			}
			if (stopping) /* tell Redis, as far as a batch goes */
				do_batch_unhold(s, h, false);
			do_unhold(s, h, why, &release);
		}
	}
	pthread_mutex_unlock(&s->lock);
	release_all(s, release);
}

/* Link callback: Redis went away.  Held GETs could not be woken. */
static void
on_link_down(void *arg)
{
	struct store *s = arg;

	end_holds(s, WAITER_SHUTDOWN, false);
	/* The subscription may be as dead: make it again. */
	pthread_mutex_lock(&s->sub_lock);
	if (s->sub != NULL)
		shutdown(s->sub->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->sub_lock);
}

static void
r_done(struct store *s, struct store_waiter *w, bool delivered,
    uint64_t now_ms)
{
	struct held *h = held_of(w);
	struct message *m = w->msg;
	struct retry *rt;
	char id[24];

	(void)now_ms;
	if (m == NULL)
		return;
	w->msg = NULL;
	w->inbox = NULL;
	w->state = WAITER_IDLE;
	snprintf(id, sizeof(id), "%llu", (unsigned long long)m->id);
	message_free(m);
	if (finish_delivery(s, h->name, id, delivered) == -1 &&
	    (rt = calloc(1, sizeof(*rt) + strlen(h->name) + 1)) != NULL) {
		/* Told when Redis is back; till then it stays in flight. */
		rt->delivered = delivered;
		memcpy(rt->id, id, sizeof(id));
		strcpy(rt->name, h->name);
		add_retry(s, rt);
	}
	free(h);
}

static enum store_result
r_pin_create(struct store *s, const char *name, unsigned digits,
    uint64_t timeout_ms, uint64_t now_ms, uint32_t *code)
{
	char gen[GEN_CHARS + 1], codes[PIN_DRAWS * 11 + 1];
	enum store_result res;
	size_t off = 0;
	int64_t v;
	struct call c;
	redisReply *r;
	int i;

	if (cred_gen(s, name, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	for (i = 0; i < PIN_DRAWS; i++) {
		if ((v = random_code(digits)) == -1)
			return STORE_NOMEM;
		off += (size_t)snprintf(codes + off, sizeof(codes) - off,
		    "%s%lld", i ? " " : "", (long long)v);
	}
	call_init(s, &c, 0);
	call_str(&c, name);
	call_str(&c, gen);
	call_u64(&c, timeout_ms);
	call_str(&c, codes);
	r = call_run(s, LUA_PIN_CREATE, &c);
	res = is_stale(r) ? stale_cred(s, name, r, STORE_NOT_FOUND) :
	    word_result(r);
	if (res == STORE_OK) {
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[1]->type == REDIS_REPLY_STRING)
			*code = (uint32_t)strtoul(r->element[1]->str, NULL, 10);
		else
			res = STORE_UNAVAILABLE;
	}
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

static enum store_result
r_pin_send(struct store *s, uint32_t code, struct message *m,
    uint64_t now_ms, char to[STORE_NAME_MAX + 1])
{
	const char *from = message_from(m), *type = message_type(m);
	char gen[GEN_CHARS + 1];
	enum store_result res;
	uint64_t id;
	struct call c;
	redisReply *r;

	if (cred_gen(s, from, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	id = take_ids(s, 1);
	call_init(s, &c, id);
	call_u64(&c, code);
	call_str(&c, from);
	call_str(&c, gen);
	call_str(&c, type != NULL ? type : "");
	call_bytes(&c, message_body(m), m->len);
	r = call_run(s, LUA_PIN_SEND, &c);
	res = is_stale(r) ? stale_cred(s, from, r, STORE_UNAVAILABLE) :
	    word_result(r);
	if (res == STORE_OK) {
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[1]->type == REDIS_REPLY_STRING &&
		    r->element[1]->len <= STORE_NAME_MAX) {
			memcpy(to, r->element[1]->str, r->element[1]->len + 1);
			m->id = id;
			m->enqueued_ms = now_ms;
			message_free(m);
		} else
			res = STORE_UNAVAILABLE; /* unreadable, but queued */
	}
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

/* Write the cluster's MAC key, unless a node did. */
static void
seed_key(struct store *s)
{
	const char *argv[4] = { "SET", "inboxd:key", (const char *)s->key,
	    "NX" };
	size_t lens[4] = { 3, 10, sizeof(s->key), 2 };
	redisReply *r;

	if ((r = link_command(s->link, 4, argv, lens)) != NULL)
		freeReplyObject(r);
}

/*
 * The heartbeat: this node lives for a lease more, holding nheld GETs.
 * A Redis that lost the MAC key gets it back.
 */
static int
heartbeat(struct store *s)
{
	uint64_t held;
	struct call c;
	redisReply *r;
	int ret;

	pthread_mutex_lock(&s->lock);
	held = s->nheld;
	pthread_mutex_unlock(&s->lock);
	s->beat_held = held;
	call_init(s, &c, 0);
	call_u64(&c, held);
	call_u64(&c, s->lease_ms);
	call_u64(&c, s->node_number);
	r = call_run(s, LUA_HEARTBEAT, &c);
	ret = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
	if (ret == 0 && r->integer == 0) {
		log_warn("redis: the cluster's key was lost (a Redis without "
		    "its data?); writing it again");
		seed_key(s);
	}
	if (r != NULL)
		freeReplyObject(r);
	return ret;
}

/* recover.lua: put back what GET token's lost pop took from name. */
static int
recover(struct store *s, const char *name, uint64_t token)
{
	struct call c;
	redisReply *r;
	int ret;

	call_init(s, &c, 0);
	call_str(&c, name);
	call_u64(&c, token);
	r = call_run(s, LUA_RECOVER, &c);
	ret = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
	if (r != NULL)
		freeReplyObject(r);
	return ret;
}

/* Tell Redis what it missed while away. */
static void
retry_deliveries(struct store *s)
{
	struct retry *rt, *failed = NULL, *next;

	pthread_mutex_lock(&s->lock);
	rt = s->retries;
	s->retries = NULL;
	pthread_mutex_unlock(&s->lock);
	for (; rt != NULL; rt = next) {
		next = rt->next;
		if (rt->recover ? recover(s, rt->name, rt->token) == 0 :
		    finish_delivery(s, rt->name, rt->id, rt->delivered) == 0) {
			free(rt);
			continue;
		}
		rt->next = failed;
		failed = rt;
	}
	if (failed == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	for (rt = failed; rt->next != NULL; rt = rt->next)
		;
	rt->next = s->retries;
	s->retries = failed;
	pthread_mutex_unlock(&s->lock);
}

/* reap.lua until it finds less than its limit to do. */
static void
reap(struct store *s)
{
	struct call c;
	redisReply *r;
	long long n;
	int round;

	for (round = 0; round < REAP_ROUNDS; round++) {
		call_init(s, &c, s->node_number << ID_COUNTER_BITS |
		    ID_REAP_SPACE | s->reap_id);
		call_u64(&c, REAP_LIMIT);
		r = call_run(s, LUA_REAP, &c);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 2) {
			if (r != NULL) {
				word_result(r); /* logs a script error */
				freeReplyObject(r);
			}
			return;
		}
		n = r->element[0]->integer;
		s->reap_id = (s->reap_id + (uint64_t)r->element[1]->integer) %
		    ID_REAP_SPACE;
		freeReplyObject(r);
		if (n < REAP_LIMIT)
			return;
	}
}

/*
 * A few steps of the walk over every inbox (gauges.lua) that gives the
 * gauges of inboxes, messages and bytes; a walk back at cursor 0 makes
 * them the node's.  Bounded: WALK_STEPS of WALK_COUNT keys a tick.
 */
static void
walk(struct store *s)
{
	struct call c;
	redisReply *r;
	int step;

	if (s->walk_cursor[0] == '\0')
		strcpy(s->walk_cursor, "0");
	for (step = 0; step < WALK_STEPS; step++) {
		call_init(s, &c, 0);
		call_str(&c, s->walk_cursor);
		call_u64(&c, WALK_COUNT);
		r = call_run(s, LUA_GAUGES, &c);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 4 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(s->walk_cursor)) {
			if (r != NULL) {
				word_result(r); /* logs a script error */
				freeReplyObject(r);
			}
			return;
		}
		s->walk_inboxes += (uint64_t)r->element[1]->integer;
		s->walk_messages += (uint64_t)r->element[2]->integer;
		s->walk_bytes += (uint64_t)r->element[3]->integer;
		memcpy(s->walk_cursor, r->element[0]->str,
		    r->element[0]->len + 1);
		freeReplyObject(r);
		if (strcmp(s->walk_cursor, "0") == 0) {
			atomic_store(&s->g_inboxes, s->walk_inboxes);
			atomic_store(&s->g_messages, s->walk_messages);
			atomic_store(&s->g_bytes, s->walk_bytes);
			atomic_fetch_add(&s->g_walks, 1);
			s->walk_inboxes = s->walk_messages = s->walk_bytes = 0;
			return;
		}
	}
}

static void
r_expire(struct store *s, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	struct timer *t;
	struct held *h;
	bool gone;

	pthread_mutex_lock(&s->lock);
	while ((t = timer_next(&s->wheel, now_ms)) != NULL) {
		if (timer_kind(t) == TIMER_CRED) {
			do_cred_free(s, container_of(t, struct cred, timer));
			continue;
		}
		if (timer_kind(t) == TIMER_PRESENCE) {
			/* Held past inbox-timeout: is anybody there? */
			h = container_of(t, struct held, check);
			if (h->popping || s->ops->alive(h->w)) {
				timer_add(&s->wheel, t,
				    now_ms + s->lim.inbox_timeout_ms);
				continue;
			}
			if (do_batch_unhold(s, h, true) == -1) {
				timer_add(&s->wheel, t, now_ms);
				break; /* a full batch: the next tick */
			}
			do_unhold(s, h, WAITER_GONE, &release);
			continue;
		}
		h = held_of(container_of(t, struct store_waiter, timer));
		if (h->popping) {
			h->pending = WAITER_TIMEOUT;
			continue;
		}
		/* A hold for a client gone kept nobody present. */
		gone = !s->ops->alive(h->w);
		if (do_batch_unhold(s, h, gone) == -1) {
			timer_add(&s->wheel, t, now_ms);
			break; /* a full batch: the next tick */
		}
		do_unhold(s, h, WAITER_TIMEOUT, &release);
	}
	pthread_mutex_unlock(&s->lock);
	release_all(s, release);
	link_batch_run(s->link, s->batch);
	/* Every second, and soon after the held GETs changed in number. */
	if (link_up(s->link) && (now_ms >= s->next_beat_ms ||
	    s->nheld != s->beat_held) && heartbeat(s) == 0)
		s->next_beat_ms = now_ms + BEAT_MS;
	if (link_up(s->link)) {
		reap(s);
		retry_deliveries(s);
		walk(s);
	}
}

static void
r_shutdown(struct store *s, uint64_t now_ms)
{
	(void)now_ms;
	end_holds(s, WAITER_SHUTDOWN, true);
	link_batch_run(s->link, s->batch);
}

static int
r_check(struct store *s, char *why, size_t len)
{
	(void)s;
	(void)why;
	(void)len;
	return 0;
}

/*
 * The cluster's gauges (rooms, members, invitations and PINs from Redis,
 * inboxes, messages and bytes from the last walk, held GETs from the
 * heartbeats) and this node's own counters.  Inboxes expired are those
 * made in the cluster less those that live.
 */
static void
r_stats(struct store *s, struct store_stats *st)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
#define F(x) { #x, offsetof(struct store_stats, x) }
		F(waiters), F(pins), F(rooms), F(members), F(invitations),
#undef F
	};
	struct store_stats got = { 0 };
	uint64_t created = 0;
	struct call c;
	redisReply *r;
	size_t i, k;

	call_init(s, &c, 0);
	r = call_run(s, LUA_STATS, &c);
	pthread_mutex_lock(&s->lock);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i + 1 < r->elements; i += 2) {
			long long v;

			if (r->element[i]->type != REDIS_REPLY_STRING ||
			    r->element[i + 1]->type != REDIS_REPLY_STRING)
				continue;
			v = strtoll(r->element[i + 1]->str, NULL, 10);
			if (v < 0)
				v = 0;
			if (strcmp(r->element[i]->str, "created") == 0)
				created = (uint64_t)v;
			for (k = 0; k < nitems(fields); k++)
				if (strcmp(r->element[i]->str, fields[k].name)
				    == 0)
					*(uint64_t *)(void *)((char *)&got +
					    fields[k].off) = (uint64_t)v;
		}
		got.inboxes = atomic_load(&s->g_inboxes);
		got.inboxes_expired = created > got.inboxes ?
		    created - got.inboxes : 0;
		s->last = got;
	}
	*st = s->last;
	st->messages = atomic_load(&s->g_messages);
	st->bytes = atomic_load(&s->g_bytes);
	st->memory = st->bytes + st->messages * MSG_COST +
	    st->inboxes * INBOX_COST;
	st->gauge_walks = atomic_load(&s->g_walks);
	st->sent = atomic_load(&s->counter[C_SENT]);
	st->delivered = atomic_load(&s->counter[C_DELIVERED]);
	st->requeued = atomic_load(&s->counter[C_REQUEUED]);
	st->expired = atomic_load(&s->counter[C_EXPIRED]);
	st->rooms_created = atomic_load(&s->counter[C_ROOMS_CREATED]);
	st->rooms_expired = atomic_load(&s->counter[C_ROOMS_EXPIRED]);
	st->copies_delivered = atomic_load(&s->counter[C_COPIES_DELIVERED]);
	st->copies_failed = atomic_load(&s->counter[C_COPIES_FAILED]);
	st->events = atomic_load(&s->counter[C_EVENTS]);
	st->events_dropped = atomic_load(&s->counter[C_EVENTS_DROPPED]);
	st->waiters += s->nheld;
	pthread_mutex_unlock(&s->lock);
	if (r != NULL)
		freeReplyObject(r);
}

static void
r_set_renderer(struct store *s, room_render_fn render)
{
	/* Events are rendered in Lua, as json_room_event would. */
	atomic_store(&s->render, render != NULL);
}

static bool
r_healthy(struct store *s)
{
	return link_up(s->link) && atomic_load(&s->subscribed);
}

/*
 * A roster from a script's answer {'OK', ms left, name, [result,] ...}:
 * names alone (paired false) or each with its result (paired true).
 */
static struct roster *
roster_from(const redisReply *r, bool paired)
{
	size_t step = paired ? 2 : 1, i, bytes = 0, n;
	struct roster *ro;
	char *names;

	if (r->elements < 2 || (r->elements - 2) % step != 0)
		return NULL;
	n = (r->elements - 2) / step;
	for (i = 2; i < r->elements; i += step)
		bytes += r->element[i]->len + 1;
	if ((ro = malloc(sizeof(*ro) + n * sizeof(ro->e[0]) + bytes)) == NULL)
		return NULL;
	names = (char *)&ro->e[n];
	ro->n = 0;
	ro->expires_in_ms = (uint64_t)strtoull(r->element[1]->str, NULL, 10);
	for (i = 2; i < r->elements; i += step) {
		memcpy(names, r->element[i]->str, r->element[i]->len + 1);
		ro->e[ro->n].name = names;
		ro->e[ro->n].result = paired ?
		    word_result(r->element[i + 1]) : STORE_OK;
		names += r->element[i]->len + 1;
		ro->n++;
	}
	return ro;
}

/*
 * Run a room script for user and read its answer: a roster into *ro when
 * ro is not NULL and it says OK.  A caller whose inbox is gone gets
 * STORE_NOT_FOUND (as from the in-memory store); another generation
 * `wrong'.
 */
static enum store_result
room_call(struct store *s, enum lua_script script, struct call *c,
    const char *user, struct roster **ro, bool paired,
    enum store_result wrong)
{
	enum store_result res;
	redisReply *r = call_run(s, script, c);

	if (is_stale(r)) {
		res = stale_cred(s, user, r, STORE_NOT_FOUND);
		if (res == STORE_WRONG)
			res = wrong;
	} else if (is_word(first_word(r), "WRONG_SECRET"))
		res = STORE_WRONG;
	else
		res = word_result(r);
	if (res == STORE_OK && ro != NULL &&
	    (r->type != REDIS_REPLY_ARRAY || (*ro = roster_from(r, paired)) ==
	    NULL))
		res = STORE_NOMEM;
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

/* The ids a room script may need: an event or a copy for each member. */
static uint64_t
room_ids(struct store *s)
{
	return take_ids(s, s->lim.max_room_members + 1);
}

static enum store_result
r_room_create(struct store *s, const char *creator,
    const struct room_params *p, uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (cred_gen(s, creator, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	call_init(s, &c, 0);
	call_str(&c, creator);
	call_str(&c, gen);
	call_str(&c, p->name);
	call_bytes(&c, p->mac != NULL ? (const char *)p->mac : "",
	    p->mac != NULL ? CRED_MAC_BYTES : 0);
	call_u64(&c, p->max_members);
	call_u64(&c, p->ttl_ms);
	return room_call(s, LUA_ROOM_CREATE, &c, creator, members, false,
	    STORE_WRONG);
}

static enum store_result
r_room_join(struct store *s, const char *room, const char *user,
    const uint8_t *mac, uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	call_init(s, &c, room_ids(s));
	call_str(&c, room);
	call_str(&c, user);
	call_str(&c, gen);
	call_bytes(&c, mac != NULL ? (const char *)mac : "",
	    mac != NULL ? CRED_MAC_BYTES : 0);
	/* STORE_WRONG is a wrong room secret here: another generation of
	 * the caller's inbox asks it to come again (a new first contact). */
	return room_call(s, LUA_ROOM_JOIN, &c, user, members, false,
	    STORE_UNAVAILABLE);
}

static enum store_result
r_room_members(struct store *s, const char *room, const char *user,
    uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	call_init(s, &c, 0);
	call_str(&c, room);
	call_str(&c, user);
	call_str(&c, gen);
	return room_call(s, LUA_ROOM_MEMBERS, &c, user, members, false,
	    STORE_WRONG);
}

static enum store_result
r_room_send(struct store *s, const char *room, const struct message *m,
    uint64_t now_ms, struct roster **copies)
{
	const char *from = message_from(m), *type = message_type(m);
	char gen[GEN_CHARS + 1];
	struct call c;

	if (cred_gen(s, from, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	call_init(s, &c, room_ids(s));
	call_str(&c, room);
	call_str(&c, from);
	call_str(&c, gen);
	call_str(&c, type != NULL ? type : "");
	call_bytes(&c, message_body((struct message *)m), m->len);
	return room_call(s, LUA_ROOM_SEND, &c, from, copies, true,
	    STORE_WRONG);
}

static enum store_result
r_room_invite(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	call_init(s, &c, take_ids(s, 1));
	call_str(&c, room);
	call_str(&c, user);
	call_str(&c, gen);
	call_str(&c, peer);
	return room_call(s, LUA_ROOM_INVITE, &c, user, NULL, false,
	    STORE_WRONG);
}

static enum store_result
r_room_leave(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	call_init(s, &c, room_ids(s));
	call_str(&c, room);
	call_str(&c, user);
	call_str(&c, gen);
	call_str(&c, peer);
	return room_call(s, LUA_ROOM_LEAVE, &c, user, NULL, false,
	    STORE_WRONG);
}

static enum store_result
r_room_close(struct store *s, const char *room, const char *user,
    uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	call_init(s, &c, room_ids(s));
	call_str(&c, room);
	call_str(&c, user);
	call_str(&c, gen);
	return room_call(s, LUA_ROOM_CLOSE, &c, user, NULL, false,
	    STORE_WRONG);
}

/* An address as fail.lua keys it: 32 hex digits. */
static void
addr_hex(const struct addr *a, char hex[33])
{
	size_t i;

	for (i = 0; i < sizeof(a->b); i++)
		snprintf(hex + 2 * i, 3, "%02x", a->b[i]);
}

static int
hex_addr(const char *hex, struct addr *a)
{
	unsigned v;
	size_t i;

	for (i = 0; i < sizeof(a->b); i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		a->b[i] = (uint8_t)v;
	}
	return 0;
}

long long
redis_share_failure(void *arg, const struct addr *key, uint64_t window_ms,
    uint64_t *left_ms)
{
	struct store *s = arg;
	char hex[33];
	long long n = -1;
	struct call c;
	redisReply *r;

	addr_hex(key, hex);
	call_init(s, &c, 0);
	call_str(&c, hex);
	call_u64(&c, window_ms);
	call_u64(&c, s->fail_limit);
	r = call_run(s, LUA_FAIL, &c);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		n = r->element[0]->integer;
		*left_ms = r->element[1]->integer > 0 ?
		    (uint64_t)r->element[1]->integer : 0;
	} else if (r != NULL)
		word_result(r); /* logs a script error */
	if (r != NULL)
		freeReplyObject(r);
	return n;
}

long long
redis_peek_failures(void *arg, const struct addr *key, uint64_t *left_ms)
{
	struct store *s = arg;
	char hex[33];
	long long n = -1;
	struct call c;
	redisReply *r;

	addr_hex(key, hex);
	call_init(s, &c, 0);
	call_str(&c, hex);
	r = call_run(s, LUA_FAIL_PEEK, &c);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		n = r->element[0]->integer;
		*left_ms = r->element[1]->integer > 0 ?
		    (uint64_t)r->element[1]->integer : 0;
	} else if (r != NULL)
		word_result(r); /* logs a script error */
	if (r != NULL)
		freeReplyObject(r);
	return n;
}

void
redis_store_on_block(struct store *s, unsigned limit, redis_learn_fn *learn,
    void *arg)
{
	pthread_mutex_lock(&s->lock);
	s->fail_limit = limit;
	s->learn = learn;
	s->learn_arg = arg;
	pthread_mutex_unlock(&s->lock);
}

/* "fail ADDR FAILURES LEFT" on inboxd:all: an address reached the limit. */
static void
on_fail(struct store *s, const char *text)
{
	unsigned long long n, left;
	redis_learn_fn *learn;
	struct addr a;
	void *arg;

	if (strlen(text) < 33 || text[32] != ' ' || hex_addr(text, &a) == -1 ||
	    sscanf(text + 33, "%llu %llu", &n, &left) != 2)
		return;
	pthread_mutex_lock(&s->lock);
	learn = s->learn;
	arg = s->learn_arg;
	pthread_mutex_unlock(&s->lock);
	if (learn != NULL)
		learn(arg, &a, n > UINT32_MAX ? UINT32_MAX : (unsigned)n, left);
}

/*
 * One message of the node's channel, "wake NAME" or "displace TOKEN
 * NAME", or of the cluster's, "fail ADDR FAILURES LEFT".
 */
static void
on_message(struct store *s, const char *text, size_t len)
{
	unsigned long long token;
	char *end;

	if (len > 5 && strncmp(text, "wake ", 5) == 0)
		on_wake(s, text + 5);
	else if (len > 9 && strncmp(text, "displace ", 9) == 0) {
		token = strtoull(text + 9, &end, 10);
		if (*end == ' ')
			on_displace(s, token, end + 1);
	} else if (len > 5 && strncmp(text, "fail ", 5) == 0)
		on_fail(s, text + 5);
}

/* Wait ms, or less when the store stops. */
static void
sub_sleep(struct store *s, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->sub_lock);
	if (!atomic_load(&s->stopping))
		pthread_cond_timedwait(&s->sub_cond, &s->sub_lock, &ts);
	pthread_mutex_unlock(&s->sub_lock);
}

/*
 * The subscriber thread: SUBSCRIBE inboxd:node:NODE on a connection of
 * its own (without a read timeout: it waits for messages), and act on
 * each.  When the connection breaks, held GETs are answered (a wake-up
 * may have been lost) and it subscribes again with backoff.
 */
static void *
subscriber(void *arg)
{
	struct store *s = arg;
	uint64_t backoff = 0;
	char channel[NODE_NAME_MAX + 16], why[256];
	const char *argv[3] = { "SUBSCRIBE", channel, "inboxd:all" };
	size_t lens[3] = { 9, 0, 10 };
	redisContext *c;
	redisReply *r;

	snprintf(channel, sizeof(channel), "inboxd:node:%s", s->node);
	lens[1] = strlen(channel);
	while (!atomic_load(&s->stopping)) {
		if ((c = link_connect(s->link, false, why, sizeof(why))) ==
		    NULL)
			goto again;
		/* Two confirmations; the loop below skips the second. */
		if ((r = redisCommandArgv(c, 3, argv, lens)) == NULL ||
		    r->type != REDIS_REPLY_ARRAY) {
			snprintf(why, sizeof(why), "SUBSCRIBE: %s",
			    r == NULL ? c->errstr : r->type ==
			    REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			if (r != NULL)
				freeReplyObject(r);
			redisFree(c);
			goto again;
		}
		freeReplyObject(r);
		pthread_mutex_lock(&s->sub_lock);
		if (atomic_load(&s->stopping)) {
			pthread_mutex_unlock(&s->sub_lock);
			redisFree(c);
			break;
		}
		s->sub = c;
		atomic_store(&s->subscribed, true);
		pthread_cond_broadcast(&s->sub_cond);
		pthread_mutex_unlock(&s->sub_lock);
		backoff = 0;
		while (redisGetReply(c, (void **)&r) == REDIS_OK) {
			if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
			    is_word(r->element[0], "message") &&
			    r->element[2]->type == REDIS_REPLY_STRING)
				on_message(s, r->element[2]->str,
				    r->element[2]->len);
			freeReplyObject(r);
		}
		snprintf(why, sizeof(why), "the subscription broke: %s",
		    c->errstr[0] != '\0' ? c->errstr : "connection lost");
		pthread_mutex_lock(&s->sub_lock);
		atomic_store(&s->subscribed, false);
		s->sub = NULL;
		pthread_mutex_unlock(&s->sub_lock);
		redisFree(c);
		if (atomic_load(&s->stopping))
			break;
		end_holds(s, WAITER_SHUTDOWN, false);
again:
		link_failed(s->link, why);
		backoff = backoff == 0 ? LINK_BACKOFF_MIN_MS :
		    backoff * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS :
		    backoff * 2;
		sub_sleep(s, backoff);
	}
	return NULL;
}

static void
r_free(struct store *s)
{
	struct retry *rt, *next;
	const char *argv[3];
	size_t lens[3];
	char key[NODE_NAME_MAX + 16];
	redisReply *r;
	size_t i;

	if (s == NULL)
		return;
	if (s->sub_started) {
		atomic_store(&s->stopping, true);
		pthread_mutex_lock(&s->sub_lock);
		if (s->sub != NULL)
			shutdown(s->sub->fd, SHUT_RDWR);
		pthread_cond_broadcast(&s->sub_cond);
		pthread_mutex_unlock(&s->sub_lock);
		pthread_join(s->sub_thread, NULL);
	}
	if (s->link != NULL && s->node_number != 0) {
		if (s->retries != NULL)
			retry_deliveries(s);
		/* Leave at once: nothing of this node is in flight now. */
		snprintf(key, sizeof(key), "inboxd:hb:%s", s->node);
		argv[0] = "DEL";
		argv[1] = key;
		lens[0] = 3;
		lens[1] = strlen(key);
		if ((r = link_command(s->link, 2, argv, lens)) != NULL)
			freeReplyObject(r);
		argv[0] = "SREM";
		argv[1] = "inboxd:live";
		argv[2] = s->node;
		lens[0] = 4;
		lens[1] = strlen(argv[1]);
		lens[2] = strlen(s->node);
		if ((r = link_command(s->link, 3, argv, lens)) != NULL)
			freeReplyObject(r);
	}
	for (rt = s->retries; rt != NULL; rt = next) {
		next = rt->next;
		free(rt);
	}
	for (i = 0; i < HELD_BUCKETS; i++) {
		struct held *h, *hn;

		for (h = s->held[i]; h != NULL; h = hn) {
			hn = h->hnext;
			free(h);
		}
	}
	for (i = 0; s->creds != NULL && i < s->ncred_buckets; i++)
		while (s->creds[i] != NULL)
			do_cred_free(s, s->creds[i]);
	free(s->creds);
	free(s->batch);
	link_free(s->link);
	wipe(s->key, sizeof(s->key));
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->sub_lock);
	pthread_cond_destroy(&s->sub_cond);
	free(s);
}

int
redis_probe(const struct redis_params *p, char *why, size_t len)
{
	struct redis_link *l;
	redisContext *c;
	redisReply *r;
	int ret = -1;

	if ((l = link_new(p->url, p->password, NULL, NULL, why, len)) == NULL)
		return -1;
	if ((c = link_connect(l, true, why, len)) != NULL) {
		if ((r = redisCommand(c, "PING")) == NULL)
			snprintf(why, len, "PING: %s", c->errstr);
		else if (r->type == REDIS_REPLY_ERROR)
			snprintf(why, len, "PING: %s", r->str);
		else
			ret = 0;
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
	}
	link_free(l);
	return ret;
}

/* Take the node number and the cluster's MAC key. */
static int
join_cluster(struct store *s, char *why, size_t len)
{
	const char *argv[5];
	size_t lens[5];
	redisReply *r;

	argv[0] = "INCR";
	argv[1] = "inboxd:nodes";
	lens[0] = 4;
	lens[1] = strlen(argv[1]);
	if ((r = link_command(s->link, 2, argv, lens)) == NULL ||
	    r->type != REDIS_REPLY_INTEGER || r->integer <= 0 ||
	    r->integer >= (long long)1 << (64 - ID_COUNTER_BITS)) {
		snprintf(why, len, "taking a node number: %s", r == NULL ?
		    "Redis did not answer" : r->type == REDIS_REPLY_ERROR ?
		    r->str : "unexpected reply");
		if (r != NULL)
			freeReplyObject(r);
		return -1;
	}
	s->node_number = (uint64_t)r->integer;
	freeReplyObject(r);
	/* The first node makes the key; every node then reads it. */
	if (random_bytes(s->key, sizeof(s->key)) == -1) {
		snprintf(why, len, "no randomness");
		return -1;
	}
	seed_key(s);
	argv[0] = "GET";
	argv[1] = "inboxd:key";
	lens[0] = 3;
	lens[1] = strlen(argv[1]);
	if ((r = link_command(s->link, 2, argv, lens)) == NULL ||
	    r->type != REDIS_REPLY_STRING || r->len != CRED_MAC_BYTES) {
		snprintf(why, len, "reading the cluster's key: %s", r == NULL ?
		    "Redis did not answer" : "not a key");
		if (r != NULL)
			freeReplyObject(r);
		return -1;
	}
	memcpy(s->key, r->str, sizeof(s->key));
	auth_set_key(s->key);
	wipe(r->str, r->len);
	freeReplyObject(r);
	return 0;
}

struct store *
redis_store_new(const struct store_limits *limits,
    const struct store_waiter_ops *ops, const struct redis_params *p,
    uint64_t now_ms, uint64_t tick_ms, char *why, size_t len)
{
	struct store *s = calloc(1, sizeof(*s));
	uint8_t b[8];
	size_t i;

	if (s == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	s->base.ops = &redis_store_ops;
	s->lim = *limits;
	s->ops = ops;
	s->lease_ms = p->lease_timeout_ms;
	atomic_store(&s->render, false);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->sub_lock, NULL);
	pthread_cond_init(&s->sub_cond, NULL);
	timer_wheel_init(&s->wheel, tick_ms, now_ms);
	s->ncred_buckets = CRED_BUCKETS;
	if ((s->creds = calloc(CRED_BUCKETS, sizeof(*s->creds))) == NULL ||
	    (s->batch = calloc(1, sizeof(*s->batch))) == NULL ||
	    random_bytes(s->hash_key, sizeof(s->hash_key)) == -1) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	if (p->node_id != NULL && p->node_id[0] != '\0')
		snprintf(s->node, sizeof(s->node), "%s", p->node_id);
	else {
		if (random_bytes(b, sizeof(b)) == -1) {
			snprintf(why, len, "no randomness");
			goto fail;
		}
		for (i = 0; i < sizeof(b); i++)
			snprintf(s->node + 2 * i, 3, "%02x", b[i]);
	}
	snprintf(s->common[0], sizeof(s->common[0]), "%llu",
	    (unsigned long long)limits->inbox_timeout_ms);
	snprintf(s->common[1], sizeof(s->common[0]), "%llu",
	    (unsigned long long)limits->message_timeout_ms);
	snprintf(s->common[2], sizeof(s->common[0]), "%u",
	    limits->max_messages);
	snprintf(s->common[3], sizeof(s->common[0]), "%llu",
	    (unsigned long long)limits->max_inbox_bytes);
	snprintf(s->common[4], sizeof(s->common[0]), "%llu",
	    (unsigned long long)limits->max_memory);
	snprintf(s->common[5], sizeof(s->common[0]), "%u",
	    limits->max_inboxes);
	snprintf(s->common[6], sizeof(s->common[0]), "%u", limits->max_rooms);
	snprintf(s->common[7], sizeof(s->common[0]), "%u",
	    limits->max_room_members);
	snprintf(s->common[8], sizeof(s->common[0]), "%u",
	    limits->max_rooms_per_inbox);
	s->common[9][0] = '\0'; /* render: set per call */
	if ((s->link = link_new(p->url, p->password, on_link_down, s, why,
	    len)) == NULL)
		goto fail;
	if (join_cluster(s, why, len) == -1)
		goto fail;
	/*
	 * Leases, in-flight marks and the channel name this start of the
	 * node, not its id: a node restarted under the same node-id before
	 * lease-timeout must not renew the lease of the messages its
	 * previous run had in flight, or they would never be put back.
	 */
	i = strlen(s->node);
	snprintf(s->node + i, sizeof(s->node) - i, ".%llu",
	    (unsigned long long)s->node_number);
	snprintf(s->common[10], sizeof(s->common[0]), "%s", s->node);
	if (heartbeat(s) == -1) {
		snprintf(why, len, "the first heartbeat failed (see above)");
		goto fail;
	}
	s->next_beat_ms = now_ms + BEAT_MS;
	if (pthread_create(&s->sub_thread, NULL, subscriber, s) != 0) {
		snprintf(why, len, "starting the subscriber thread failed");
		goto fail;
	}
	s->sub_started = true;
	/* Held GETs need the subscription: wait for it. */
	for (i = 0; !atomic_load(&s->subscribed) && i < SUBSCRIBE_WAIT_MS / 10;
	    i++)
		sub_sleep(s, 10);
	if (!atomic_load(&s->subscribed)) {
		snprintf(why, len, "could not subscribe to inboxd:node:%s",
		    s->node);
		goto fail;
	}
	log_info("redis: node %s joined", s->node);
	return s;
fail:
	r_free(s);
	return NULL;
}

static const struct store_ops redis_store_ops = {
	.free = r_free,
	.login = r_login,
	.create = r_create,
	.send = r_send,
	.pin_create = r_pin_create,
	.pin_send = r_pin_send,
	.receive = r_receive,
	.done = r_done,
	.expire = r_expire,
	.shutdown = r_shutdown,
	.check = r_check,
	.stats = r_stats,
	.set_renderer = r_set_renderer,
	.room_create = r_room_create,
	.room_join = r_room_join,
	.room_members = r_room_members,
	.room_send = r_room_send,
	.room_invite = r_room_invite,
	.room_leave = r_room_leave,
	.room_close = r_room_close,
	.authenticate = r_authenticate,
	.healthy = r_healthy,
};
