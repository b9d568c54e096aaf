/*
 * peer.c - per-address connection counts and failure windows.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "timer.h"
#include "util.h"

#define BUCKETS 4096 /* grows by doubling past one entry a bucket */

struct peer {
	struct peer *hnext;
	struct timer timer; /* end of the failure window, while one runs */
	struct addr key;
	uint32_t hash;
	unsigned conns;
	unsigned failures;
};

struct peers {
	pthread_mutex_t lock;
	struct peer_limits lim;  /* but for the two below */
	atomic_uint connections; /* lim's, changed by peers_set_limits */
	atomic_uint failures;
	uint8_t hash_key[16];
	struct peer **bucket;
	size_t nbuckets;
	uint64_t entries;
	uint64_t failing; /* entries with a failure window running */
	uint64_t untracked;
	struct timer_wheel wheel;
	peers_share_fn *share; /* a cluster's count, or NULL */
	void *share_arg;
	peers_peek_fn *peek;   /* a cluster's count, asked; or NULL */
};

/* IPv6 clients share an entry per /64. */
static struct addr
key_of(const struct addr *a)
{
	struct addr k = *a;

	if (!addr_is_v4(a))
		memset(k.b + 8, 0, 8);
	return k;
}

struct peers *
peers_new(const struct peer_limits *lim, uint64_t now_ms, uint64_t tick_ms)
{
	struct peers *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->bucket = calloc(BUCKETS, sizeof(*p->bucket));
	if (p->bucket == NULL || random_bytes(p->hash_key, 16) == -1 ||
	    pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p->bucket);
		free(p);
		return NULL;
	}
	p->nbuckets = BUCKETS;
	p->lim = *lim;
	atomic_init(&p->connections, lim->connections);
	atomic_init(&p->failures, lim->failures);
	timer_wheel_init(&p->wheel, tick_ms, now_ms);
	return p;
}

void
peers_set_limits(struct peers *p, unsigned connections, unsigned failures)
{
	atomic_store(&p->connections, connections);
	atomic_store(&p->failures, failures);
}

void
peers_free(struct peers *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nbuckets; i++) {
		struct peer *e, *next;

		for (e = p->bucket[i]; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(p->bucket);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static struct peer *
do_find(struct peers *p, const struct addr *k, uint32_t h)
{
	struct peer *e;

	for (e = p->bucket[h & (p->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && memcmp(&e->key, k, sizeof(*k)) == 0)
			return e;
	return NULL;
}

static void
do_grow(struct peers *p)
{
	TABLE_GROW(struct peer, p->bucket, p->nbuckets, e, n,
	    e->hash & (n - 1));
}

static struct peer *
do_get(struct peers *p, const struct addr *a)
{
	struct addr k = key_of(a);
	uint32_t h = (uint32_t)siphash24(p->hash_key, &k, sizeof(k));
	struct peer *e = do_find(p, &k, h);

	if (e != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->key = k;
	e->hash = h;
	timer_init(&e->timer, 0);
	if (p->entries >= p->nbuckets)
		do_grow(p);
	e->hnext = p->bucket[h & (p->nbuckets - 1)];
	p->bucket[h & (p->nbuckets - 1)] = e;
	p->entries++;
	return e;
}

/* Free e once nothing keeps it: no connection and no window. */
static void
do_release(struct peers *p, struct peer *e)
{
	struct peer **pp;

	if (e->conns > 0 || timer_pending(&e->timer))
		return;
	pp = &p->bucket[e->hash & (p->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	p->entries--;
	free(e);
}

bool
peers_may_connect(struct peers *p, const struct addr *a)
{
	struct addr k = key_of(a);
	struct peer *e;
	bool ok;

	if (atomic_load(&p->connections) == 0)
		return true;
	pthread_mutex_lock(&p->lock);
	e = do_find(p, &k, (uint32_t)siphash24(p->hash_key, &k, sizeof(k)));
	ok = e == NULL || e->conns < atomic_load(&p->connections);
	pthread_mutex_unlock(&p->lock);
	return ok;
}

struct peer *
peers_connect(struct peers *p, const struct addr *a)
{
	struct peer *e;

	pthread_mutex_lock(&p->lock);
	if ((e = do_get(p, a)) != NULL)
		e->conns++;
	pthread_mutex_unlock(&p->lock);
	return e;
}

void
peers_disconnect(struct peers *p, struct peer *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	e->conns--;
	do_release(p, e);
	pthread_mutex_unlock(&p->lock);
}

bool
peers_blocked(struct peers *p, const struct addr *a, uint64_t now_ms,
    uint64_t *retry_ms)
{
	struct addr k = key_of(a);
	struct peer *e;
	bool blocked = false, ask = false;
	peers_peek_fn *peek;
	uint64_t left = 0;
	long long n;
	void *arg;

	if (atomic_load(&p->failures) == 0)
		return false;
	pthread_mutex_lock(&p->lock);
	e = do_find(p, &k, (uint32_t)siphash24(p->hash_key, &k, sizeof(k)));
	if (e != NULL && timer_pending(&e->timer) &&
	    timer_expires(&e->timer) > now_ms) {
		if (e->failures >= atomic_load(&p->failures)) {
			blocked = true;
			if (retry_ms != NULL)
				*retry_ms = timer_expires(&e->timer) - now_ms;
		} else
			ask = e->failures > 0;
	}
	peek = p->peek;
	arg = p->share_arg;
	pthread_mutex_unlock(&p->lock);
	if (blocked || !ask || peek == NULL ||
	    (n = peek(arg, &k, &left)) < (long long)atomic_load(&p->failures) ||
	    left == 0)
		return blocked;
	/* Reached through other nodes: hold it here from now on. */
	peers_learn(p, &k, n > UINT32_MAX ? UINT32_MAX : (unsigned)n, left,
	    now_ms);
	if (retry_ms != NULL)
		*retry_ms = left;
	return true;
}

void
peers_peek(struct peers *p, peers_peek_fn *peek)
{
	pthread_mutex_lock(&p->lock);
	p->peek = peek;
	pthread_mutex_unlock(&p->lock);
}

void
peers_share(struct peers *p, peers_share_fn *share, void *arg)
{
	pthread_mutex_lock(&p->lock);
	p->share = share;
	p->share_arg = arg;
	pthread_mutex_unlock(&p->lock);
}

void
peers_learn(struct peers *p, const struct addr *key, unsigned failures,
    uint64_t left_ms, uint64_t now_ms)
{
	struct addr k = key_of(key);
	struct peer *e;

	if (atomic_load(&p->failures) == 0 || left_ms == 0)
		return;
	pthread_mutex_lock(&p->lock);
	e = do_find(p, &k, (uint32_t)siphash24(p->hash_key, &k, sizeof(k)));
	if (e == NULL && p->failing >= p->lim.max_entries) {
		p->untracked++;
		goto done;
	}
	if (e == NULL && (e = do_get(p, &k)) == NULL)
		goto done;
	if (!timer_pending(&e->timer)) {
		e->failures = 0;
		p->failing++;
	}
	if (failures >= e->failures) {
		e->failures = failures;
		timer_add(&p->wheel, &e->timer, now_ms + left_ms);
	}
done:
	pthread_mutex_unlock(&p->lock);
}

void
peers_fail(struct peers *p, const struct addr *a, uint64_t now_ms)
{
	struct addr k = key_of(a);
	peers_share_fn *share;
	uint64_t left = 0;
	long long n;
	struct peer *e;

	if (atomic_load(&p->failures) == 0)
		return;
	pthread_mutex_lock(&p->lock);
	share = p->share;
	pthread_mutex_unlock(&p->lock);
	if (share != NULL && (n = share(p->share_arg, &k, p->lim.window_ms,
	    &left)) >= 0) {
		/* The cluster's count, this failure in it. */
		peers_learn(p, &k, n > UINT32_MAX ? UINT32_MAX : (unsigned)n,
		    left, now_ms);
		return;
	}
	pthread_mutex_lock(&p->lock);
	e = do_find(p, &k, (uint32_t)siphash24(p->hash_key, &k, sizeof(k)));
	if (e == NULL && p->failing >= p->lim.max_entries) {
		p->untracked++;
		goto done;
	}
	if (e == NULL && (e = do_get(p, a)) == NULL)
		goto done;
	if (!timer_pending(&e->timer)) {
		e->failures = 0;
		timer_add(&p->wheel, &e->timer, now_ms + p->lim.window_ms);
		p->failing++;
	}
	e->failures++;
done:
	pthread_mutex_unlock(&p->lock);
}

void
peers_expire(struct peers *p, uint64_t now_ms)
{
	struct timer *t;

	pthread_mutex_lock(&p->lock);
	while ((t = timer_next(&p->wheel, now_ms)) != NULL) {
		struct peer *e = container_of(t, struct peer, timer);

		e->failures = 0;
		p->failing--;
		do_release(p, e);
	}
	pthread_mutex_unlock(&p->lock);
}

void
peers_stats(struct peers *p, struct peer_stats *st)
{
	pthread_mutex_lock(&p->lock);
	st->entries = p->entries;
	st->untracked = p->untracked;
	pthread_mutex_unlock(&p->lock);
}
