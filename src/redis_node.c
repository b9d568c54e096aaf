/*
 * redis_node.c - the node's life: start, heartbeat, recovery, reaping,
 * the gauges' walk, stats and stop.
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

/* Link callback: Redis went away.  Held GETs could not be woken. */
static void
redis_node_link_down(void *arg)
{
	struct store *s = arg;

	redis_node_end_holds(s, WAITER_SHUTDOWN, false);
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
	redis_call_init(s, &c, 0);
	redis_call_u64(&c, held);
	redis_call_u64(&c, s->lease_ms);
	redis_call_u64(&c, s->node_number);
	r = redis_call_run(s, LUA_HEARTBEAT, &c);
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

	redis_call_init(s, &c, 0);
	redis_call_str(&c, name);
	redis_call_u64(&c, token);
	r = redis_call_run(s, LUA_RECOVER, &c);
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
		    redis_inbox_finish(s, rt->name, rt->id, rt->delivered) ==
		    0) {
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
		redis_call_init(s, &c, s->node_number << ID_COUNTER_BITS |
		    ID_REAP_SPACE | s->reap_id);
		redis_call_u64(&c, REAP_LIMIT);
		r = redis_call_run(s, LUA_REAP, &c);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 2) {
			if (r != NULL) {
				redis_result(r); /* logs a script error */
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
 * them the node's.  Bounded: WALK_STEPS of WALK_COUNT keys a tick, and
 * a walk at most every WALK_PERIOD_MS: a node of a few thousand inboxes
 * walked them all every tick, at half the commands Redis ran for the
 * requests of a send benchmark.
 */
static void
walk(struct store *s, uint64_t now_ms)
{
	struct call c;
	redisReply *r;
	int step;

	if (s->walk_cursor[0] == '\0') {
		if (now_ms < s->next_walk_ms)
			return;
		s->next_walk_ms = now_ms + WALK_PERIOD_MS;
		strcpy(s->walk_cursor, "0");
	}
	for (step = 0; step < WALK_STEPS; step++) {
		redis_call_init(s, &c, 0);
		redis_call_str(&c, s->walk_cursor);
		redis_call_u64(&c, WALK_COUNT);
		r = redis_call_run(s, LUA_GAUGES, &c);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 4 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(s->walk_cursor)) {
			if (r != NULL) {
				redis_result(r); /* logs a script error */
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
			s->walk_cursor[0] = '\0';
			return;
		}
	}
}

static void
redis_node_expire(struct store *s, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	struct timer *t;
	struct held *h;
	bool gone;

	pthread_mutex_lock(&s->lock);
	while ((t = timer_next(&s->wheel, now_ms)) != NULL) {
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
	/* Every second, and soon after the held GETs changed in number. */
	if (link_up(s->link) && (now_ms >= s->next_beat_ms ||
	    s->nheld != s->beat_held) && heartbeat(s) == 0)
		s->next_beat_ms = now_ms + BEAT_MS;
	if (link_up(s->link)) {
		reap(s);
		retry_deliveries(s);
		walk(s, now_ms);
	}
}

static void
redis_node_shutdown(struct store *s, uint64_t now_ms)
{
	(void)now_ms;
	redis_node_end_holds(s, WAITER_SHUTDOWN, true);
	link_batch_run(s->link, s->batch);
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
 * The cluster's gauges (rooms, members, invitations and PINs from Redis,
 * inboxes, messages and bytes from the last walk, held GETs from the
 * heartbeats) and this node's own counters.  Inboxes expired are those
 * made in the cluster less those that live.
 */
static void
redis_node_stats(struct store *s, struct store_stats *st)
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

	redis_call_init(s, &c, 0);
	r = redis_call_run(s, LUA_STATS, &c);
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
redis_node_set_renderer(struct store *s, room_render_fn render)
{
	/* Events are rendered in Lua, as json_room_event would. */
	atomic_store(&s->render, render != NULL);
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
			redis_cred_free(s, s->creds[i]);
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
	if ((s->link = link_new(p->url, p->password, redis_node_link_down, s,
	    why,
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
};
