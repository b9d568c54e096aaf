/*
 * redis_node.c - the node's life: start, heartbeat, recovery, the
 * gauges' walk, stats and stop; and what it knows of the other nodes.
 *
 * The other nodes: each node's heartbeat is a key of its own,
 * inboxd:hb:{NODE}, which lapses lease-timeout after its last beat, and
 * a beat on inboxd:all with its held GETs (the waiters gauge).  No node
 * reads a list of nodes: a script that finds messages in flight on a
 * node it was not told of asks (pop.lua: NODES), and the node answers
 * from what it knows (a node dead once stays dead: a name is one start
 * of a node), from a beat heard lately, or else from the heartbeat key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "redis_impl.h"
#include "util.h"

static const struct store_ops redis_store_ops;

/* End every hold for why (Redis is away, or the daemon stops). */
void
redis_node_end_holds(struct store *s, enum waiter_state why, bool stopping)
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
				redis_inbox_batch_unhold(s, h, false);
			redis_held_unhold(s, h, why, &release);
		}
	}
	pthread_mutex_unlock(&s->lock);
	redis_held_release(s, release);
}

#define KEY_KEY "inboxd:{g}:key"     /* the cluster's MAC key */
#define NODES_KEY "inboxd:{g}:nodes" /* the last node number */

/*
 * Link callback: a Redis server went away, or a cluster's slots changed
 * masters.  Held GETs may not be woken (their waiter records may be
 * gone with an unreplicated write): they are answered, and come again.
 */
static void
redis_node_link_down(void *arg)
{
	struct store *s = arg;

	redis_node_end_holds(s, WAITER_SHUTDOWN, false);
	if (link_cluster(s->link))
		return; /* the subscription is to another server, maybe */
	/* The subscription may be as dead: make it again. */
	pthread_mutex_lock(&s->sub_lock);
	if (s->sub != NULL)
		shutdown(s->sub->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->sub_lock);
}

/* Write the cluster's MAC key, unless a node did. */
static void
seed_key(struct store *s)
{
	const char *argv[4] = { "SET", KEY_KEY, (const char *)s->key, "NX" };
	size_t lens[4] = { 3, sizeof(KEY_KEY) - 1, sizeof(s->key), 2 };
	redisReply *r;

	if ((r = link_command(s->link, 4, argv, lens)) != NULL)
		freeReplyObject(r);
}

/* The key of node's heartbeat into buf. */
static void
beat_key(char *buf, size_t size, const char *node)
{
	snprintf(buf, size, "inboxd:hb:{%s}", node);
}

/*
 * The heartbeat: this node lives for a lease more, holding nheld GETs
 * (heartbeat.lua, which also tells the other nodes); and, in the same
 * round trip, a Redis that lost the MAC key gets it back and the node
 * counter is kept at least at this node's number (keycheck.lua).
 */
static int
heartbeat(struct store *s)
{
	static const char *const keys[2] = { KEY_KEY, NODES_KEY };
	char key[NODE_NAME_MAX + 16];
	uint64_t held;
	struct call c;
	redisReply *r;
	int ret = 0;
	unsigned k;

	pthread_mutex_lock(&s->lock);
	held = s->nheld;
	pthread_mutex_unlock(&s->lock);
	s->beat_held = held;
	beat_key(key, sizeof(key), s->node);
	redis_call_key(s, &c, key);
	redis_call_u64(&c, held);
	redis_call_u64(&c, s->lease_ms);
	link_batch_add(s->batch, LUA_HEARTBEAT, c.nkeys, c.argc, c.argv,
	    c.len);
	redis_call_keys(s, &c, keys, 2);
	redis_call_u64(&c, s->node_number);
	link_batch_add(s->batch, LUA_KEYCHECK, 2, c.argc, c.argv, c.len);
	link_batch_run(s->link, s->batch);
	for (k = 0; k < s->batch->n; k++) {
		r = redis_call_answer(s, NULL, 0, s->batch->call[k].reply);
		s->batch->call[k].reply = NULL;
		if (r == NULL || r->type != REDIS_REPLY_INTEGER)
			ret = -1;
		else if (s->batch->call[k].script == LUA_KEYCHECK &&
		    r->integer == 0) {
			log_warn("redis: the cluster's key was lost (a Redis "
			    "without its data?); writing it again");
			seed_key(s);
		}
		if (r != NULL)
			freeReplyObject(r);
	}
	link_batch_clear(s->batch);
	return ret;
}

void
redis_node_beat(struct store *s, const char *node, uint64_t held)
{
	struct beat *b = NULL;
	unsigned i, oldest = 0;
	uint64_t now = now_ms();

	if (strcmp(node, s->node) == 0 || strlen(node) > NODE_NAME_MAX)
		return;
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nbeats && b == NULL; i++) {
		if (strcmp(s->beats[i].node, node) == 0)
			b = &s->beats[i];
		else if (s->beats[i].heard_ms < s->beats[oldest].heard_ms)
			oldest = i;
	}
	if (b == NULL)
		b = s->nbeats < BEATS_MAX ? &s->beats[s->nbeats++] :
		    &s->beats[oldest];
	snprintf(b->node, sizeof(b->node), "%s", node);
	b->held = held;
	b->heard_ms = now;
	pthread_mutex_unlock(&s->lock);
}

/* Under the lock: is node known dead? */
static bool
do_dead(struct store *s, const char *node)
{
	unsigned i, n = s->ndead < DEAD_MAX ? s->ndead : DEAD_MAX;

	for (i = 0; i < n; i++)
		if (strcmp(s->dead[i], node) == 0)
			return true;
	return false;
}

/* Under the lock: was a beat of node heard within the last window? */
static bool
do_heard(struct store *s, const char *node, uint64_t now)
{
	uint64_t window = s->lease_ms < 2 * BEAT_MS ? s->lease_ms :
	    2 * BEAT_MS;
	unsigned i;

	for (i = 0; i < s->nbeats; i++)
		if (strcmp(s->beats[i].node, node) == 0)
			return s->beats[i].heard_ms + window > now;
	return false;
}

/* 1 when node is alive, 0 when dead (as far as this node can tell). */
static int
node_state(struct store *s, const char *node)
{
	char key[NODE_NAME_MAX + 16];
	const char *argv[2] = { "EXISTS", key };
	size_t lens[2];
	redisReply *r;
	int alive = 1;

	pthread_mutex_lock(&s->lock);
	if (do_dead(s, node))
		alive = 0;
	else if (do_heard(s, node, now_ms()))
		alive = 2;
	pthread_mutex_unlock(&s->lock);
	if (alive != 1)
		return alive == 2;
	beat_key(key, sizeof(key), node);
	lens[0] = 6;
	lens[1] = strlen(key);
	/* A Redis that cannot tell: alive, so that nothing goes twice. */
	if ((r = link_command(s->link, 2, argv, lens)) != NULL &&
	    r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
		alive = 0;
		pthread_mutex_lock(&s->lock);
		if (!do_dead(s, node)) {
			snprintf(s->dead[s->ndead % DEAD_MAX], NODE_NAME_MAX + 1,
			    "%s", node);
			s->ndead++;
		}
		pthread_mutex_unlock(&s->lock);
		log_info("redis: node %s is dead (no heartbeat): its messages "
		    "in flight go back", node);
	}
	if (r != NULL)
		freeReplyObject(r);
	return alive;
}

const char *
redis_node_states(struct store *s, const redisReply *r, size_t first,
    char *buf, size_t size)
{
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	for (i = first; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i]->len > NODE_NAME_MAX)
			continue;
		n = snprintf(buf + off, size - off, "%s\n%d\n",
		    r->element[i]->str, node_state(s, r->element[i]->str));
		if (n < 0 || (size_t)n >= size - off) {
			buf[off] = '\0';
			break;
		}
		off += (size_t)n;
	}
	return buf;
}

/* recover.lua: put back what GET token's lost pop took from name. */
static int
recover(struct store *s, const char *name, uint64_t token)
{
	struct call c;

	redis_call_inbox(s, &c, name, "iqfx");
	redis_call_str(&c, name);
	redis_call_u64(&c, token);
	return redis_call_done(s, LUA_RECOVER, &c);
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
		    redis_inbox_finish(s, rt->name, rt->ids, rt->nids,
		    rt->delivered, rt->ack) == 0) {
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

/* The gauges a walk counts, in the order gauges.lua answers them. */
enum { W_INBOXES, W_MESSAGES, W_BYTES, W_ROOMS, W_MEMBERS, W_INVITATIONS,
	W_PINS, W_MADE, W_ACKS, W_ACK_BYTES };

/*
 * A few steps of the walk over every key (gauges.lua) that gives the
 * gauges: master after master of a cluster, each from cursor 0 back to
 * 0; the last one back makes the sums the node's.  A map that changes
 * masters meanwhile starts the walk again.  Bounded: WALK_STEPS of
 * WALK_COUNT keys a tick, and a walk at most every WALK_PERIOD_MS: a
 * node of a few thousand inboxes walked them all every tick, at half
 * the commands Redis ran for the requests of a send benchmark.
 */
static void
walk(struct store *s, uint64_t now_ms)
{
	uint64_t gen;
	unsigned masters = link_masters(s->link, &gen), i;
	struct call c;
	redisReply *r;
	int step;

	if (masters == 0)
		return;
	if (gen != s->walk_gen && s->walk_cursor[0] != '\0') {
		s->walk_cursor[0] = '\0'; /* the masters changed: again */
		s->next_walk_ms = 0;
	}
	if (s->walk_cursor[0] == '\0') {
		if (now_ms < s->next_walk_ms)
			return;
		s->next_walk_ms = now_ms + WALK_PERIOD_MS;
		s->walk_gen = gen;
		s->walk_master = 0;
		strcpy(s->walk_cursor, "0");
		memset(s->walk_sum, 0, sizeof(s->walk_sum));
	}
	for (step = 0; step < WALK_STEPS; step++) {
		redis_call_init(s, &c);
		redis_call_str(&c, s->walk_cursor);
		redis_call_u64(&c, WALK_COUNT);
		r = redis_call_answer(s, NULL, 0, link_eval_at(s->link,
		    s->walk_master, gen, LUA_GAUGES, c.argc, c.argv, c.len));
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 1 + WALK_GAUGES ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(s->walk_cursor)) {
			if (r != NULL) {
				redis_result(r); /* logs a script error */
				freeReplyObject(r);
			}
			return;
		}
		for (i = 0; i < WALK_GAUGES; i++)
			s->walk_sum[i] += (uint64_t)r->element[1 + i]->integer;
		memcpy(s->walk_cursor, r->element[0]->str,
		    r->element[0]->len + 1);
		freeReplyObject(r);
		if (strcmp(s->walk_cursor, "0") != 0)
			continue;
		if (++s->walk_master < masters)
			continue;
		atomic_store(&s->g_inboxes, s->walk_sum[W_INBOXES]);
		atomic_store(&s->g_messages, s->walk_sum[W_MESSAGES]);
		atomic_store(&s->g_bytes, s->walk_sum[W_BYTES]);
		atomic_store(&s->g_rooms, s->walk_sum[W_ROOMS]);
		atomic_store(&s->g_members, s->walk_sum[W_MEMBERS]);
		atomic_store(&s->g_invitations, s->walk_sum[W_INVITATIONS]);
		atomic_store(&s->g_pins, s->walk_sum[W_PINS]);
		atomic_store(&s->g_made, s->walk_sum[W_MADE]);
		atomic_store(&s->g_acks, s->walk_sum[W_ACKS]);
		atomic_store(&s->g_ack_bytes, s->walk_sum[W_ACK_BYTES]);
		atomic_fetch_add(&s->g_walks, 1);
		s->walk_cursor[0] = '\0';
		return;
	}
}

static void
redis_node_expire(struct store *s, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	struct timer *t;
	struct held *h;
	uint64_t patience;
	bool gone;

	/* The main thread keeps every timer: it waits for no failover. */
	patience = link_patience(0);
	atomic_store(&s->clock_ms, now_ms);
	link_tick(s->link, now_ms);
	pthread_mutex_lock(&s->lock);
	while ((t = timer_next(&s->wheel, now_ms)) != NULL) {
		if (timer_kind(t) == TIMER_SLOT) {
			redis_reap_due(s, t, now_ms);
			continue;
		}
		if (timer_kind(t) == TIMER_CRED) {
			redis_cred_free(s, container_of(t, struct cred, timer));
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
			if (redis_inbox_batch_unhold(s, h, true) == -1) {
				timer_add(&s->wheel, t, now_ms);
				break; /* a full batch: the next tick */
			}
			redis_held_unhold(s, h, WAITER_GONE, &release);
			continue;
		}
		h = redis_held_of(container_of(t, struct store_waiter, timer));
		if (h->popping) {
			h->pending = WAITER_TIMEOUT;
			continue;
		}
		/* A hold for a client gone kept nobody present. */
		gone = !s->ops->alive(h->w);
		if (redis_inbox_batch_unhold(s, h, gone) == -1) {
			timer_add(&s->wheel, t, now_ms);
			break; /* a full batch: the next tick */
		}
		redis_held_unhold(s, h, WAITER_TIMEOUT, &release);
	}
	pthread_mutex_unlock(&s->lock);
	redis_held_release(s, release);
	link_batch_run(s->link, s->batch);
	link_batch_clear(s->batch);
	/*
	 * Every second, and soon after the held GETs changed in number;
	 * then whatever of the rest the shards that answer allow (a call
	 * to a shard failing over fails at once).
	 */
	if ((now_ms >= s->next_beat_ms || s->nheld != s->beat_held) &&
	    heartbeat(s) == 0)
		s->next_beat_ms = now_ms + BEAT_MS;
	redis_reap_run(s);
	retry_deliveries(s);
	walk(s, now_ms);
	link_patience(patience);
}

static void
redis_node_shutdown(struct store *s, uint64_t now_ms)
{
	(void)now_ms;
	redis_node_end_holds(s, WAITER_SHUTDOWN, true);
	link_batch_run(s->link, s->batch);
	link_batch_clear(s->batch);
}

static int
redis_node_check(struct store *s, char *why, size_t len)
{
	(void)s;
	(void)why;
	(void)len;
	return 0;
}

/*
 * The cluster's gauges, from the last walk over every key and, for held
 * GETs, this node's and the other nodes' as their last beats said; and
 * this node's own counters.  Inboxes expired are those made in the
 * cluster (the slots' counts) less those that live.  No round trip.
 */
static void
redis_node_stats(struct store *s, struct store_stats *st)
{
	uint64_t made = atomic_load(&s->g_made), now = now_ms();
	unsigned i;

	memset(st, 0, sizeof(*st));
	st->inboxes = atomic_load(&s->g_inboxes);
	st->inboxes_expired = made > st->inboxes ? made - st->inboxes : 0;
	st->messages = atomic_load(&s->g_messages);
	st->bytes = atomic_load(&s->g_bytes);
	st->memory = st->bytes + atomic_load(&s->g_ack_bytes) +
	    (st->messages + atomic_load(&s->g_acks)) * MSG_COST +
	    st->inboxes * INBOX_COST;
	st->rooms = atomic_load(&s->g_rooms);
	st->members = atomic_load(&s->g_members);
	st->invitations = atomic_load(&s->g_invitations);
	st->pins = atomic_load(&s->g_pins);
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
	st->acked = atomic_load(&s->counter[C_ACKED]);
	pthread_mutex_lock(&s->lock);
	st->waiters = s->nheld;
	for (i = 0; i < s->nbeats; i++)
		if (s->beats[i].heard_ms + s->lease_ms > now &&
		    s->beats[i].held > 0)
			st->waiters += s->beats[i].held;
	pthread_mutex_unlock(&s->lock);
}

static void
redis_node_set_renderer(struct store *s, room_render_fn render)
{
	/* Events are rendered in Lua, as json_room_event would. */
	atomic_store(&s->render, render != NULL);
}

/* Write the limits into copy k of the scripts' common arguments. */
static void
set_common(struct store *s, unsigned k, const struct store_limits *limits)
{
	char (*c)[NODE_NAME_MAX + 1] = s->common[k];
	size_t n = sizeof(c[0]);

	snprintf(c[0], n, "%llu", (unsigned long long)limits->inbox_timeout_ms);
	snprintf(c[1], n, "%llu",
	    (unsigned long long)limits->message_timeout_ms);
	snprintf(c[2], n, "%u", limits->max_messages);
	snprintf(c[3], n, "%llu", (unsigned long long)limits->max_inbox_bytes);
	snprintf(c[4], n, "%llu", (unsigned long long)s->lease_timeout_ms);
	snprintf(c[5], n, "%u", limits->max_inboxes);
	snprintf(c[6], n, "%u", limits->max_rooms);
	snprintf(c[7], n, "%u", limits->max_room_members);
	snprintf(c[8], n, "%u", limits->max_rooms_per_inbox);
	c[9][0] = '\0'; /* render: set per call */
	memcpy(c[10], s->common[!k][10], n); /* the node */
}

/*
 * A reload's limits: the C side's under the lock, the scripts' through
 * the copy of their arguments not in use.
 */
static void
redis_node_set_limits(struct store *s, const struct store_limits *limits)
{
	unsigned k = !atomic_load(&s->common_in_use);

	pthread_mutex_lock(&s->lock);
	s->lim = *limits;
	pthread_mutex_unlock(&s->lock);
	set_common(s, k, limits);
	atomic_store(&s->common_in_use, k);
}

static bool
redis_node_healthy(struct store *s)
{
	return link_up(s->link) && atomic_load(&s->subscribed);
}

static void
redis_node_free(struct store *s)
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
		beat_key(key, sizeof(key), s->node);
		argv[0] = "DEL";
		argv[1] = key;
		lens[0] = 3;
		lens[1] = strlen(key);
		if ((r = link_command(s->link, 2, argv, lens)) != NULL)
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
			redis_cred_free(s, s->creds[i]);
	free(s->creds);
	redis_reap_free(s);
	if (s->batch != NULL)
		link_batch_clear(s->batch);
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
	argv[1] = NODES_KEY;
	lens[0] = 4;
	lens[1] = strlen(argv[1]);
	if ((r = link_command(s->link, 2, argv, lens)) == NULL ||
	    r->type != REDIS_REPLY_INTEGER || r->integer <= 0) {
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
	argv[1] = KEY_KEY;
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
	s->wait_replicas = p->wait_replicas;
	atomic_store(&s->render, false);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->sub_lock, NULL);
	pthread_cond_init(&s->sub_cond, NULL);
	timer_wheel_init(&s->wheel, tick_ms, now_ms);
	atomic_store(&s->clock_ms, now_ms);
	s->ncred_buckets = CRED_BUCKETS;
	if ((s->creds = calloc(CRED_BUCKETS, sizeof(*s->creds))) == NULL ||
	    (s->batch = link_batch_new(BATCH_MAX)) == NULL ||
	    redis_reap_init(s) == -1 ||
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
	s->lease_timeout_ms = p->lease_timeout_ms;
	set_common(s, 0, limits);
	if ((s->link = link_new(p->url, p->password, redis_node_link_down, s,
	    why, len)) == NULL || link_setup(s->link, why, len) == -1)
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
	snprintf(s->common[0][10], sizeof(s->common[0][10]), "%s", s->node);
	memcpy(s->common[1][10], s->common[0][10], sizeof(s->common[0][10]));
	if (heartbeat(s) == -1) {
		snprintf(why, len, "the first heartbeat failed (see above)");
		goto fail;
	}
	s->next_beat_ms = now_ms + BEAT_MS;
	if (pthread_create(&s->sub_thread, NULL, redis_sub_run, s) != 0) {
		snprintf(why, len, "starting the redis_sub_run thread failed");
		goto fail;
	}
	s->sub_started = true;
	/* Held GETs need the subscription: wait for it. */
	for (i = 0; !atomic_load(&s->subscribed) && i < SUBSCRIBE_WAIT_MS / 10;
	    i++)
		redis_sub_sleep(s, 10);
	if (!atomic_load(&s->subscribed)) {
		snprintf(why, len, "could not subscribe to inboxd:node:%s",
		    s->node);
		goto fail;
	}
	log_info("redis: node %s joined", s->node);
	return s;
fail:
	redis_node_free(s);
	return NULL;
}

static const struct store_ops redis_store_ops = {
	.free = redis_node_free,
	.login = redis_inbox_login,
	.create = redis_inbox_create,
	.send = redis_inbox_send,
	.pin_create = redis_inbox_pin_create,
	.pin_send = redis_inbox_pin_send,
	.receive = redis_inbox_receive,
	.done = redis_inbox_done,
	.hangup = redis_inbox_hangup,
	.expire = redis_node_expire,
	.shutdown = redis_node_shutdown,
	.check = redis_node_check,
	.stats = redis_node_stats,
	.set_renderer = redis_node_set_renderer,
	.room_create = redis_room_create,
	.room_join = redis_room_join,
	.room_members = redis_room_members,
	.room_send = redis_room_send,
	.room_invite = redis_room_invite,
	.room_leave = redis_room_leave,
	.room_close = redis_room_close,
	.credential = redis_inbox_credential,
	.admit = redis_inbox_admit,
	.healthy = redis_node_healthy,
	.set_limits = redis_node_set_limits,
};
