/*
 * redis_call.c - script calls (FCALL of the inboxd library) and their
 * replies.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redis_impl.h"
#include "redis_slot.h"
#include "util.h"

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
	[C_ACKED] = "acked",
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

uint64_t
redis_call_hash(const struct store *s, const char *name)
{
	return siphash24(s->hash_key, name, strlen(name));
}

size_t
redis_call_tag(const char *name, char *buf, size_t size)
{
	size_t n = strlen(name), i;

	if (strchr(name, '}') == NULL && name[0] != '~') {
		if (n + 1 > size)
			return 0;
		memcpy(buf, name, n + 1);
		return n;
	}
	if (2 * n + 2 > size)
		return 0;
	buf[0] = '~';
	for (i = 0; i < n; i++)
		snprintf(buf + 1 + 2 * i, 3, "%02x", (unsigned char)name[i]);
	return 2 * n + 1;
}

/* Start c with no KEYS: its ARGV[1..11]. */
static void
call_common(struct store *s, struct call *c)
{
	char (*common)[NODE_NAME_MAX + 1] =
	    s->common[atomic_load(&s->common_in_use)];
	int i;

	for (i = 0; i < COMMON_ARGS; i++) {
		c->argv[c->nkeys + i] = common[i];
		c->len[c->nkeys + i] = strlen(common[i]);
	}
	/* ARGV[10]: whether events are rendered, which may change. */
	c->argv[c->nkeys + 9] = atomic_load(&s->render) ? "1" : "0";
	c->len[c->nkeys + 9] = 1;
	c->argc = c->nkeys + COMMON_ARGS;
}

/* Add the key fmt makes of a and b to c's KEYS, before any ARGV. */
static void
call_key(struct call *c, const char *fmt, const char *a, const char *b)
{
	int n = snprintf(c->key[c->nkeys], sizeof(c->key[0]), fmt, a, b);

	c->argv[c->nkeys] = c->key[c->nkeys];
	c->len[c->nkeys] = n > 0 && (size_t)n < sizeof(c->key[0]) ?
	    (size_t)n : 0;
	c->nkeys++;
}

size_t
redis_call_slot_key(const char *key, size_t len, char suffix, char *buf,
    size_t size)
{
	int n = snprintf(buf, size, "inboxd:{%s}:%c",
	    redis_slot_tag(redis_slot_of(key, len)), suffix);

	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

void
redis_call_inbox(struct store *s, struct call *c, const char *name,
    const char *keys)
{
	char tag[KEY_MAX], slot[2] = { 0, 0 };
	const char *k;

	c->nnum = 0;
	c->nkeys = 0;
	if (redis_call_tag(name, tag, sizeof(tag)) == 0)
		tag[0] = '\0';
	for (k = keys; *k != '\0' && c->nkeys < CALL_KEYS; k++) {
		if (*k == 'x' || *k == 'c') {
			/* The slot's own keys, beside the inbox's :i. */
			c->len[c->nkeys] = redis_call_slot_key(c->key[0],
			    c->len[0], *k, c->key[c->nkeys], sizeof(c->key[0]));
			c->argv[c->nkeys] = c->key[c->nkeys];
			c->nkeys++;
			continue;
		}
		slot[0] = *k;
		call_key(c, "inboxd:{%s}:%s", tag, slot);
	}
	call_common(s, c);
}

void
redis_call_room(struct store *s, struct call *c, const char *room)
{
	static const char *const suffix[] = { "", ":m", ":v", ":o" };
	char tag[KEY_MAX];
	size_t i;

	c->nnum = 0;
	c->nkeys = 0;
	if (redis_call_tag(room, tag, sizeof(tag)) == 0)
		tag[0] = '\0';
	for (i = 0; i < nitems(suffix); i++)
		call_key(c, "inboxd:r:{%s}%s", tag, suffix[i]);
	c->len[c->nkeys] = redis_call_slot_key(c->key[0], c->len[0], 'x',
	    c->key[c->nkeys], sizeof(c->key[0]));
	c->argv[c->nkeys] = c->key[c->nkeys];
	c->nkeys++;
	call_common(s, c);
}

void
redis_call_key(struct store *s, struct call *c, const char *key)
{
	redis_call_keys(s, c, &key, 1);
}

void
redis_call_keys(struct store *s, struct call *c, const char *const *keys,
    int n)
{
	int i;

	c->nnum = 0;
	c->nkeys = 0;
	for (i = 0; i < n && i < CALL_KEYS; i++)
		call_key(c, "%s%s", keys[i], "");
	call_common(s, c);
}

void
redis_call_init(struct store *s, struct call *c)
{
	c->nnum = 0;
	c->nkeys = 0;
	call_common(s, c);
}

void
redis_call_bytes(struct call *c, const void *p, size_t len)
{
	c->argv[c->argc] = p;
	c->len[c->argc++] = len;
}

void
redis_call_str(struct call *c, const char *str)
{
	redis_call_bytes(c, str, strlen(str));
}

void
redis_call_u64(struct call *c, uint64_t v)
{
	char *b = c->num[c->nnum++];

	snprintf(b, sizeof(c->num[0]), "%llu", (unsigned long long)v);
	redis_call_str(c, b);
}

/*
 * Add the counters a function answered ({name, n, ...}) to the node's;
 * due_in (a deadline the call set in the slot of key) arms the node's
 * reap of that slot.
 */
static void
count_reply(struct store *s, const char *key, size_t len,
    const redisReply *a)
{
	size_t i, k;

	if (a == NULL || a->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i + 1 < a->elements; i += 2) {
		if (a->element[i]->type != REDIS_REPLY_STRING ||
		    a->element[i + 1]->type != REDIS_REPLY_INTEGER ||
		    a->element[i + 1]->integer < 0)
			continue;
		if (key != NULL && strcmp(a->element[i]->str, "due_in") == 0) {
			redis_reap_arm(s, redis_slot_of(key, len),
			    (uint64_t)a->element[i + 1]->integer);
			continue;
		}
		for (k = 0; k < nitems(counter_names); k++)
			if (strcmp(a->element[i]->str, counter_names[k]) == 0)
				atomic_fetch_add(&s->counter[k],
				    (uint64_t)a->element[i + 1]->integer);
	}
}

redisReply *
redis_call_answer(struct store *s, const char *key, size_t len,
    redisReply *r)
{
	redisReply *answer;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return r;
	if (r->elements != 2) {
		freeReplyObject(r);
		return NULL;
	}
	count_reply(s, key, len, r->element[0]);
	answer = r->element[1];
	r->element[1] = NULL; /* freeReplyObject passes NULL elements by */
	freeReplyObject(r);
	return answer;
}

redisReply *
redis_call_run(struct store *s, enum lua_script script, struct call *c)
{
	return redis_call_answer(s, c->nkeys > 0 ? c->argv[0] : NULL,
	    c->nkeys > 0 ? c->len[0] : 0, link_eval(s->link, script, c->nkeys,
	    c->argc, c->argv, c->len));
}

int
redis_call_done(struct store *s, enum lua_script script, struct call *c)
{
	redisReply *r = redis_call_run(s, script, c);
	int ret = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;

	if (r != NULL)
		freeReplyObject(r);
	return ret;
}

redisReply *
redis_call_run_wait(struct store *s, enum lua_script script, struct call *c,
    bool *durable)
{
	long long acked = -1;
	redisReply *r;

	*durable = true;
	if (s->wait_replicas == 0)
		return redis_call_run(s, script, c);
	r = link_eval_wait(s->link, script, c->nkeys, c->argc, c->argv,
	    c->len, s->wait_replicas, WAIT_TIMEOUT_MS, &acked);
	if (r != NULL && r->type != REDIS_REPLY_ERROR &&
	    acked < (long long)s->wait_replicas) {
		*durable = false;
		log_warn("redis: WAIT %u: %lld replicas in %d ms",
		    s->wait_replicas, acked, WAIT_TIMEOUT_MS);
	}
	return redis_call_answer(s, c->nkeys > 0 ? c->argv[0] : NULL,
	    c->nkeys > 0 ? c->len[0] : 0, r);
}

/* Is r (a reply or an element) the word w? */
bool
redis_is_word(const redisReply *r, const char *w)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_STATUS) && strcmp(r->str, w) == 0;
}

/* The first word of a script's answer: a string, or an array's first. */
const redisReply *
redis_first_word(const redisReply *r)
{
	if (r == NULL)
		return NULL;
	if (r->type == REDIS_REPLY_ARRAY)
		return r->elements > 0 ? r->element[0] : NULL;
	return r;
}

/* A script's answer word as a result; STORE_UNAVAILABLE for errors. */
enum store_result
redis_result(const redisReply *r)
{
	const redisReply *w = redis_first_word(r);
	size_t i;

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		/* Redis' own maxmemory is a full server too. */
		if (strncmp(r->str, "OOM", 3) == 0)
			return STORE_SERVER_FULL;
		log_warn("redis: %s", r->str);
		return STORE_UNAVAILABLE;
	}
	for (i = 0; w != NULL && i < nitems(result_words); i++)
		if (result_words[i] != NULL && redis_is_word(w,
		    result_words[i]))
			return (enum store_result)i;
	return STORE_UNAVAILABLE;
}

/* Held GETs by name. */

/*
 * A message from its form in Redis (src/lua/common.lua):
 * "ID ENQ EVENT LEN\nFROM\nTYPE\nROOM\nBODY", len bytes.  NULL when
 * malformed or memory ran out.  enqueued_ms is on Redis' clock.
 */
struct message *
redis_message(const char *e, size_t len)
{
	char head[ELEMENT_HEAD_MAX], *field[4], *p, *nl;
	unsigned long long id, enq, ev, blen;
	struct message *m;
	size_t hlen;
	int i;

	if (sscanf(e, "%llu %llu %llu %llu", &id, &enq, &ev, &blen) != 4 ||
	    ev > EVENT_INVITED || blen >= len)
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

int
redis_inbox_key(char *buf, size_t size, const char *name)
{
	char tag[KEY_MAX];
	int n;

	if (redis_call_tag(name, tag, sizeof(tag)) == 0)
		return -1;
	n = snprintf(buf, size, "inboxd:{%s}:i", tag);
	return n < 0 || (size_t)n >= size ? -1 : n;
}
