/*
 * redis_sub.c - the subscriber thread: wake-ups and displacements on the
 * node's channel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "redis_impl.h"
#include "util.h"

/*
 * The subscriber heard "wake NAME": pop for the GET held on name, and
 * resume it with what is there now (up to its max=); with nothing there
 * (another GET took it), it stays held.
 */
static void
redis_sub_wake(struct store *s, const char *name)
{
	struct store_waiter *release = NULL;
	enum waiter_state end = WAITER_IDLE;
	struct store_get get;
	uint64_t token;
	struct held *h;
	struct message *m;
	redisReply *r;
	bool unhold = false, aged = false, back = false;

	pthread_mutex_lock(&s->lock);
	if ((h = *redis_held_slot(s, name)) == NULL) {
		redis_held_note(s, name, false, 0);
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
		redis_held_unhold(s, h, WAITER_GONE, &release);
		pthread_mutex_unlock(&s->lock);
		redis_held_release(s, release);
		redis_inbox_unhold(s, name, token, true);
		return;
	}
	h->popping = true;
	get = h->w->get;
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		r = redis_inbox_pop(s, name, "", token, 0, "wake", &get);
		pthread_mutex_lock(&s->lock);
		if (redis_is_word(redis_first_word(r), "OK")) {
			if ((m = redis_inbox_popped(r)) != NULL) {
				h->w->msg = m;
				end = WAITER_MESSAGE;
			} else {
				back = true; /* once the lock is dropped */
				end = WAITER_SHUTDOWN;
			}
		} else if (redis_is_word(redis_first_word(r), "EMPTY")) {
			if (h->rewake) {
				h->rewake = false;
				pthread_mutex_unlock(&s->lock);
				freeReplyObject(r);
				continue;
			}
			end = h->pending;
			unhold = end == WAITER_TIMEOUT || end == WAITER_GONE;
			aged = end == WAITER_GONE ||
			    (unhold && !s->ops->alive(h->w));
		} else if (r == NULL || r->type == REDIS_REPLY_ERROR)
			end = WAITER_SHUTDOWN; /* Redis is away */
		else
			end = WAITER_DISPLACED; /* STALE or GONE */
		break;
	}
	h->popping = false;
	if (end != WAITER_IDLE)
		redis_held_unhold(s, h, end, &release);
	pthread_mutex_unlock(&s->lock);
	if (back)
		redis_inbox_put_back(s, name, r);
	if (r == NULL)
		redis_inbox_pop_lost(s, name, token);
	else
		freeReplyObject(r);
	redis_held_release(s, release);
	if (unhold)
		redis_inbox_unhold(s, name, token, aged);
}

/* The subscriber heard "displace TOKEN NAME". */
static void
redis_sub_displace(struct store *s, uint64_t token, const char *name)
{
	struct store_waiter *release = NULL;
	struct held *h;

	pthread_mutex_lock(&s->lock);
	if ((h = *redis_held_slot(s, name)) == NULL)
		redis_held_note(s, name, true, token);
	else if (h->token == token) {
		if (h->popping)
			h->pending = WAITER_DISPLACED;
		else
			redis_held_unhold(s, h, WAITER_DISPLACED, &release);
	}
	pthread_mutex_unlock(&s->lock);
	redis_held_release(s, release);
}

/* "fail ADDR FAILURES LEFT" on inboxd:all: an address reached the limit. */
static void
redis_sub_fail(struct store *s, const char *text)
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
 * NAME", or of the cluster's, "fail ADDR FAILURES LEFT" and "beat NODE
 * HELD".
 */
static void
redis_sub_message(struct store *s, const char *text, size_t len)
{
	char node[NODE_NAME_MAX + 1];
	unsigned long long token;
	const char *sp;
	char *end;

	if (len > 5 && strncmp(text, "wake ", 5) == 0)
		redis_sub_wake(s, text + 5);
	else if (len > 9 && strncmp(text, "displace ", 9) == 0) {
		token = strtoull(text + 9, &end, 10);
		if (*end == ' ')
			redis_sub_displace(s, token, end + 1);
	} else if (len > 5 && strncmp(text, "fail ", 5) == 0)
		redis_sub_fail(s, text + 5);
	else if (len > 5 && strncmp(text, "beat ", 5) == 0 &&
	    (sp = strchr(text + 5, ' ')) != NULL &&
	    (size_t)(sp - text - 5) <= NODE_NAME_MAX) {
		memcpy(node, text + 5, (size_t)(sp - text - 5));
		node[sp - text - 5] = '\0';
		redis_node_beat(s, node, strtoull(sp + 1, NULL, 10));
	}
}

/* Wait ms, or less when the store stops. */
void
redis_sub_sleep(struct store *s, uint64_t ms)
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
void *
redis_sub_run(void *arg)
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
			    redis_is_word(r->element[0], "message") &&
			    r->element[2]->type == REDIS_REPLY_STRING)
				redis_sub_message(s, r->element[2]->str,
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
		redis_node_end_holds(s, WAITER_SHUTDOWN, false);
again:
		link_failed(s->link, why);
		backoff = backoff == 0 ? PIPE_BACKOFF_MIN_MS :
		    backoff * 2 > PIPE_BACKOFF_MAX_MS ? PIPE_BACKOFF_MAX_MS :
		    backoff * 2;
		redis_sub_sleep(s, backoff);
	}
	return NULL;
}
