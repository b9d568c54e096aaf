/*
 * redis_peer.c - authentication failures per client address, counted in
 * Redis for every node (SPEC section 8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_impl.h"
#include "util.h"

/* An address as fail.lua keys it: 32 hex digits. */
static void
addr_hex(const struct addr *a, char hex[33])
{
	size_t i;

	for (i = 0; i < sizeof(a->b); i++)
		snprintf(hex + 2 * i, 3, "%02x", a->b[i]);
}

int
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

/* The key of an address's failures: inboxd:fail:{HEX}, a slot each. */
static void
fail_key(char *buf, size_t size, const char *hex)
{
	snprintf(buf, size, "inboxd:fail:{%s}", hex);
}

long long
redis_share_failure(void *arg, const struct addr *key, uint64_t window_ms,
    uint64_t *left_ms)
{
	struct store *s = arg;
	char hex[33], k[64];
	long long n = -1;
	struct call c;
	redisReply *r;

	addr_hex(key, hex);
	fail_key(k, sizeof(k), hex);
	redis_call_key(s, &c, k);
	redis_call_str(&c, hex);
	redis_call_u64(&c, window_ms);
	redis_call_u64(&c, s->fail_limit);
	r = redis_call_run(s, LUA_FAIL, &c);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		n = r->element[0]->integer;
		*left_ms = r->element[1]->integer > 0 ?
		    (uint64_t)r->element[1]->integer : 0;
	} else if (r != NULL)
		redis_result(r); /* logs a script error */
	if (r != NULL)
		freeReplyObject(r);
	return n;
}

long long
redis_peek_failures(void *arg, const struct addr *key, uint64_t *left_ms)
{
	struct store *s = arg;
	char hex[33], k[64];
	long long n = -1;
	struct call c;
	redisReply *r;

	addr_hex(key, hex);
	fail_key(k, sizeof(k), hex);
	redis_call_key(s, &c, k);
	redis_call_str(&c, hex);
	r = redis_call_run(s, LUA_FAIL_PEEK, &c);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		n = r->element[0]->integer;
		*left_ms = r->element[1]->integer > 0 ?
		    (uint64_t)r->element[1]->integer : 0;
	} else if (r != NULL)
		redis_result(r); /* logs a script error */
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
