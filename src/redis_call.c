/*
 * redis_call.c - script calls (FCALL of the inboxd library) and their
 * replies.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redis_impl.h"
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

/*
 * Start a call of a script that makes messages with ids from first; with
 * name, one of the scripts of that inbox, whose KEYS are its :i, :q and
 * :f (src/lua/common.lua), so that the call goes to its slot.
 */
void
redis_call_init_keys(struct store *s, struct call *c, const char *name,
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

void
redis_call_init(struct store *s, struct call *c, uint64_t first)
{
	redis_call_init_keys(s, c, NULL, 0, first);
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
redisReply *
redis_call_run(struct store *s, enum lua_script script, struct call *c)
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
uint64_t
redis_call_ids(struct store *s, unsigned n)
{
	uint64_t k = atomic_fetch_add(&s->next_id, n);

	return s->node_number << ID_COUNTER_BITS | (k % ID_REAP_SPACE);
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
 * "SEQ ID ENQ EVENT LEN\nFROM\nTYPE\nROOM\nBODY", len bytes.  NULL when
 * malformed or memory ran out.  enqueued_ms is on Redis' clock.
 */
struct message *
redis_message(const char *e, size_t len)
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
int
redis_inbox_key(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "inboxd:{%s}:i", name);

	return n < 0 || (size_t)n >= size ? -1 : n;
}
