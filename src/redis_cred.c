/*
 * redis_cred.c - the node's cache of verified credentials, by inbox name
 * and generation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_impl.h"
#include "util.h"

struct cred **
redis_cred_slot(struct store *s, const char *name)
{
	struct cred **pp = &s->creds[redis_call_hash(s, name) &
	    (s->ncred_buckets - 1)];

	while (*pp != NULL && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

void
redis_cred_free(struct store *s, struct cred *c)
{
	struct cred **pp = redis_cred_slot(s, c->name);

	if (*pp == c)
		*pp = c->hnext;
	timer_del(&c->timer);
	s->ncreds--;
	wipe(c->mac, sizeof(c->mac));
	free(c);
}

static void
redis_cred_grow(struct store *s)
{
	TABLE_GROW(struct cred, s->creds, s->ncred_buckets, c, n,
	    redis_call_hash(s, c->name) & (n - 1));
}

/* Trust c until extra_ms past half an inbox-timeout from now. */
static void
redis_cred_trust(struct store *s, struct cred *c, uint64_t now,
    uint64_t extra_ms)
{
	uint64_t half = s->lim.inbox_timeout_ms / 2;

	if (now + half + extra_ms > c->trusted_ms) {
		c->trusted_ms = now + half + extra_ms;
		timer_add(&s->wheel, &c->timer, c->trusted_ms + half);
	}
}

/* Remember that name's inbox of generation gen has password mac. */
void
redis_cred_put(struct store *s, const char *name, const char *gen,
    const uint8_t mac[CRED_MAC_BYTES], uint64_t now)
{
	size_t len = strlen(name);
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *redis_cred_slot(s, name)) == NULL) {
		if ((c = calloc(1, sizeof(*c) + len + 1)) == NULL)
			goto done; /* the next request verifies again */
		memcpy(c->name, name, len + 1);
		timer_init(&c->timer, TIMER_CRED);
		if (s->ncreds >= s->ncred_buckets)
			redis_cred_grow(s);
		c->hnext = s->creds[redis_call_hash(s, name) &
		    (s->ncred_buckets - 1)];
		s->creds[redis_call_hash(s, name) & (s->ncred_buckets - 1)] = c;
		s->ncreds++;
	}
	memcpy(c->gen, gen, GEN_CHARS + 1);
	memcpy(c->mac, mac, CRED_MAC_BYTES);
	c->trusted_ms = 0;
	c->refreshed_ms = 0;
	redis_cred_trust(s, c, now, 0);
done:
	pthread_mutex_unlock(&s->lock);
}

/*
 * The generation of name's verified inbox into gen, trusting it for an
 * operation that keeps the inbox alive extra_ms more.  Returns 0, or -1
 * when the node knows no credential of name (forgotten since login).
 */
int
redis_cred_gen(struct store *s, const char *name, char gen[GEN_CHARS + 1],
    uint64_t now, uint64_t extra_ms)
{
	struct cred *c;
	int ret = -1;

	pthread_mutex_lock(&s->lock);
	if ((c = *redis_cred_slot(s, name)) != NULL) {
		memcpy(gen, c->gen, GEN_CHARS + 1);
		redis_cred_trust(s, c, now, extra_ms);
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Is a refresh.lua of name due: none from here for REFRESH_MS? */
bool
redis_cred_refresh_due(struct store *s, const char *name, uint64_t now)
{
	struct cred *c;
	bool due = true;

	pthread_mutex_lock(&s->lock);
	if ((c = *redis_cred_slot(s, name)) != NULL && c->refreshed_ms != 0 &&
	    now < c->refreshed_ms + REFRESH_MS)
		due = false;
	pthread_mutex_unlock(&s->lock);
	return due;
}

void
redis_cred_refreshed(struct store *s, const char *name, uint64_t now)
{
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *redis_cred_slot(s, name)) != NULL)
		c->refreshed_ms = now;
	pthread_mutex_unlock(&s->lock);
}

/* Redis says name's inbox is gone or another: forget its credential. */
static void
redis_cred_drop(struct store *s, const char *name)
{
	struct cred *c;

	pthread_mutex_lock(&s->lock);
	if ((c = *redis_cred_slot(s, name)) != NULL)
		redis_cred_free(s, c);
	pthread_mutex_unlock(&s->lock);
}

/* An op on the caller's own inbox answered GONE or WRONG. */
enum store_result
redis_cred_stale(struct store *s, const char *name, const redisReply *r,
    enum store_result gone)
{
	redis_cred_drop(s, name);
	return redis_is_word(redis_first_word(r), "WRONG") ? STORE_WRONG : gone;
}

bool
redis_cred_is_stale(const redisReply *r)
{
	const redisReply *w = redis_first_word(r);

	return redis_is_word(w, "GONE") || redis_is_word(w, "WRONG");
}

/*
 * The generation of an inbox hashed as h: the first GEN_CHARS / 2 bytes of
 * its salt, drawn at random for each inbox made, in hex.
 */
void
redis_cred_gen_of(const struct cred_hash *h, char gen[GEN_CHARS + 1])
{
	size_t i;

	for (i = 0; i < GEN_CHARS / 2; i++)
		snprintf(gen + 2 * i, 3, "%02x", h->salt[i]);
}
