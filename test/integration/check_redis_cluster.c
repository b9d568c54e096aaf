/*
 * check_redis_cluster.c - the test Redis Cluster (harness.h) and the slot
 * routing of redis_slot.h against it: three masters with a replica each
 * on loopback; slots and tags as the servers compute them; keys written
 * to every shard by a small client that follows the slot map, MOVED and
 * ASK; a master killed, its replica promoted, and every key still read.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis.h>

#include "check_run.h"
#include "harness.h"
#include "redis_slot.h"

/* Keys written per shard, each in a slot of its own. */
#define PER_SHARD 20

/* ------------------------------------------------ a cluster client */

/*
 * The least of a cluster client: a connection per node it has talked to,
 * the slot map, and counts of the redirections it followed.
 */
struct cc {
	struct redis_cluster *rc;
	struct redis_slot_map map;
	int mapped;
	struct {
		char host[REDIS_SLOT_HOST_SIZE];
		unsigned port;
		redisContext *ctx;
	} conn[16];
	int nconn;
	int moved, asked, retried, refreshed, lost;
};

/* A connection to host:port, made on first use: it, or NULL. */
static redisContext *
cc_conn(struct cc *c, const char *host, unsigned port)
{
	struct timeval tv = { 2, 0 };
	redisContext *ctx;
	int i;

	for (i = 0; i < c->nconn; i++)
		if (c->conn[i].port == port &&
		    strcmp(c->conn[i].host, host) == 0)
			return c->conn[i].ctx;
	ck_assert_int_lt(c->nconn, 16);
	ctx = redisConnectWithTimeout(host, (int)port, tv);
	if (ctx == NULL || ctx->err) {
		if (ctx != NULL)
			redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, tv);
	snprintf(c->conn[c->nconn].host, sizeof(c->conn[0].host), "%s", host);
	c->conn[c->nconn].port = port;
	c->conn[c->nconn++].ctx = ctx;
	return ctx;
}

/* Forget the connection to host:port (it broke). */
static void
cc_drop(struct cc *c, const char *host, unsigned port)
{
	int i;

	for (i = 0; i < c->nconn; i++) {
		if (c->conn[i].port != port ||
		    strcmp(c->conn[i].host, host) != 0)
			continue;
		redisFree(c->conn[i].ctx);
		c->conn[i] = c->conn[--c->nconn];
		return;
	}
}

/* Read the slot map again from the first running seed that gives one. */
static void
cc_refresh(struct cc *c)
{
	char why[256];
	int i;

	for (i = 0; i < RCLUSTER_NODES; i++) {
		redisContext *ctx;
		redisReply *r;
		struct redis_slot_map m;

		if (c->rc->node[i].pid <= 0 ||
		    (ctx = cc_conn(c, "127.0.0.1", c->rc->node[i].port)) ==
		    NULL)
			continue;
		if ((r = redisCommand(ctx, "CLUSTER SLOTS")) == NULL) {
			cc_drop(c, "127.0.0.1", c->rc->node[i].port);
			continue;
		}
		/* Loopback only: an unknown host is the seed's. */
		if (redis_slot_map_parse(&m, r, "127.0.0.1", why,
		    sizeof(why)) == 0) {
			if (c->mapped)
				redis_slot_map_free(&c->map);
			c->map = m;
			c->mapped = 1;
			c->refreshed++;
			freeReplyObject(r);
			return;
		}
		freeReplyObject(r);
	}
}

/*
 * Run the command argv (argc words) whose key is argv[1] where its slot
 * is served, following MOVED and ASK, waiting out TRYAGAIN and the like
 * and a master gone, for at most 10 s.  Returns the reply (an error
 * reply only when Redis refused the command itself).
 */
static redisReply *
cc_command(struct cc *c, int argc, const char **argv)
{
	unsigned slot = redis_slot_of(argv[1], strlen(argv[1]));
	long deadline = client_now_ms() + 10000;
	struct redis_slot_redirect to;
	char host[REDIS_SLOT_HOST_SIZE];
	unsigned port = 0;
	int ask = 0;

	host[0] = '\0';
	while (client_now_ms() < deadline) {
		const struct redis_slot_node *n;
		redisContext *ctx;
		redisReply *r;
		int i;

		if (host[0] == '\0') {
			/* No map yet, or a slot it lacks: any running node,
			 * whose MOVED says where. */
			n = c->mapped ? redis_slot_map_node(&c->map, slot) :
			    NULL;
			if (n != NULL) {
				snprintf(host, sizeof(host), "%s", n->host);
				port = n->port;
			} else {
				for (i = 0; c->rc->node[i].pid <= 0; i++)
					;
				snprintf(host, sizeof(host), "127.0.0.1");
				port = c->rc->node[i].port;
			}
		}
		if ((ctx = cc_conn(c, host, port)) == NULL) {
			/* A master gone: the map says who serves now. */
			c->lost++;
			host[0] = '\0';
			sleep_ms(100);
			cc_refresh(c);
			continue;
		}
		if (ask) {
			r = redisCommand(ctx, "ASKING");
			if (r != NULL)
				freeReplyObject(r);
			ask = 0;
		}
		r = redisCommandArgv(ctx, argc, argv, NULL);
		if (r == NULL) {
			cc_drop(c, host, port);
			c->lost++;
			host[0] = '\0';
			sleep_ms(100);
			cc_refresh(c);
			continue;
		}
		if (r->type != REDIS_REPLY_ERROR)
			return r;
		switch (redis_slot_parse_error(r->str, r->len, host, &to)) {
		case REDIS_SLOT_MOVED:
			ck_assert_uint_eq(to.slot, slot);
			c->moved++;
			snprintf(host, sizeof(host), "%s", to.host);
			port = to.port;
			cc_refresh(c);
			break;
		case REDIS_SLOT_ASK:
			ck_assert_uint_eq(to.slot, slot);
			c->asked++;
			snprintf(host, sizeof(host), "%s", to.host);
			port = to.port;
			ask = 1;
			break;
		case REDIS_SLOT_RETRY:
			c->retried++;
			host[0] = '\0';
			sleep_ms(100);
			break;
		case REDIS_SLOT_ERROR:
			return r;
		}
		freeReplyObject(r);
	}
	ck_abort_msg("%s %s: no answer in 10 s", argv[0], argv[1]);
	return NULL;
}

static void
cc_free(struct cc *c)
{
	while (c->nconn > 0)
		cc_drop(c, c->conn[0].host, c->conn[0].port);
	if (c->mapped)
		redis_slot_map_free(&c->map);
}

/* SET key value through c: it must answer OK. */
static void
cc_set(struct cc *c, const char *key, const char *value)
{
	const char *argv[] = { "SET", key, value };
	redisReply *r = cc_command(c, 3, argv);

	ck_assert_msg(r->type == REDIS_REPLY_STATUS &&
	    strcmp(r->str, "OK") == 0, "SET %s: %s", key,
	    r->str ? r->str : "?");
	freeReplyObject(r);
}

/* GET key through c: it must be value (NULL: no such key). */
static void
cc_get_is(struct cc *c, const char *key, const char *value)
{
	const char *argv[] = { "GET", key };
	redisReply *r = cc_command(c, 2, argv);

	if (value == NULL)
		ck_assert_msg(r->type == REDIS_REPLY_NIL, "GET %s: type %d",
		    key, r->type);
	else
		ck_assert_msg(r->type == REDIS_REPLY_STRING &&
		    strcmp(r->str, value) == 0, "GET %s: %s, not %s", key,
		    r->type == REDIS_REPLY_STRING ? r->str : "not a string",
		    value);
	freeReplyObject(r);
}

/* -------------------------------------------------------- the test */

/* The key of slot s: inboxd:{TAG}:x. */
static const char *
key_of(unsigned s, char *buf, size_t size)
{
	snprintf(buf, size, "inboxd:{%s}:x", redis_slot_tag(s));
	return buf;
}

/* Every slot's tag and assorted keys are where the servers put them. */
static void
check_slots_against(struct redis_cluster *rc)
{
	static const char *const keys[] = { "foo", "123456789",
		"{user1000}.following", "{user1000}.followers", "foo{}{bar}",
		"foo{{bar}}zap", "foo{bar}{zap}", "{", "}", "{}", "a{b}c",
		"inbox:alice", "inboxd:{alice}:q", "\xc3\xa9t\xc3\xa9" };
	struct timeval tv = { 5, 0 };
	redisContext *ctx = redisConnectWithTimeout("127.0.0.1",
	    (int)rc->node[0].port, tv);
	char key[64];
	unsigned s;
	size_t i;
	void *reply;

	ck_assert(ctx != NULL && ctx->err == 0);
	redisSetTimeout(ctx, tv);
	/* All 16384 tags in one pipeline, then the other keys. */
	for (s = 0; s < REDIS_SLOTS; s++)
		redisAppendCommand(ctx, "CLUSTER KEYSLOT %s",
		    key_of(s, key, sizeof(key)));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		redisAppendCommand(ctx, "CLUSTER KEYSLOT %s", keys[i]);
	for (s = 0; s < REDIS_SLOTS; s++) {
		redisReply *r;

		ck_assert_int_eq(redisGetReply(ctx, &reply), REDIS_OK);
		r = reply;
		ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
		ck_assert_msg(r->integer == (long long)s, "Redis puts %s in "
		    "slot %lld, not %u", key_of(s, key, sizeof(key)),
		    r->integer, s);
		freeReplyObject(r);
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		redisReply *r;

		ck_assert_int_eq(redisGetReply(ctx, &reply), REDIS_OK);
		r = reply;
		ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
		ck_assert_msg(r->integer == (long long)redis_slot_of(keys[i],
		    strlen(keys[i])), "Redis puts %s in slot %lld, not %u",
		    keys[i], r->integer, redis_slot_of(keys[i],
		    strlen(keys[i])));
		freeReplyObject(r);
	}
	/* INFO says cluster mode; a key sent to the wrong master gets a
	 * MOVED that names the right one. */
	{
		redisReply *r = redisCommand(ctx, "INFO cluster");
		struct redis_slot_redirect to;
		int owner;

		ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
		ck_assert_int_eq(redis_slot_cluster_enabled(r->str, r->len), 1);
		freeReplyObject(r);
		for (s = 0; s < REDIS_SLOTS; s += 97)
			if ((owner = redis_cluster_master_of(rc, s)) != 0)
				break;
		ck_assert_int_ne(owner, 0);
		r = redisCommand(ctx, "GET %s", key_of(s, key, sizeof(key)));
		ck_assert_int_eq(r->type, REDIS_REPLY_ERROR);
		ck_assert_int_eq(redis_slot_parse_error(r->str, r->len,
		    "127.0.0.1", &to), REDIS_SLOT_MOVED);
		ck_assert_uint_eq(to.slot, s);
		ck_assert_str_eq(to.host, "127.0.0.1");
		ck_assert_uint_eq(to.port, rc->node[owner].port);
		freeReplyObject(r);
	}
	redisFree(ctx);
}

/* The slot map of CLUSTER SLOTS matches the nodes' own view. */
static void
check_map(struct redis_cluster *rc, const struct redis_slot_map *m)
{
	unsigned s;

	ck_assert_uint_eq(m->covered, REDIS_SLOTS);
	ck_assert_uint_eq(m->nnodes, RCLUSTER_MASTERS);
	for (s = 0; s < REDIS_SLOTS; s += 211) {
		int owner = redis_cluster_master_of(rc, s);

		ck_assert_int_ge(owner, 0);
		ck_assert_uint_eq(redis_slot_map_node(m, s)->port,
		    rc->node[owner].port);
	}
}

/* The slot map of CLUSTER SLOTS on node i into *m. */
static void
map_from(struct redis_cluster *rc, int i, struct redis_slot_map *m)
{
	struct timeval tv = { 5, 0 };
	redisContext *ctx = redisConnectWithTimeout("127.0.0.1",
	    (int)rc->node[i].port, tv);
	redisReply *r;
	char why[256];

	ck_assert(ctx != NULL && ctx->err == 0);
	redisSetTimeout(ctx, tv);
	r = redisCommand(ctx, "CLUSTER SLOTS");
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(redis_slot_map_parse(m, r, "127.0.0.1", why,
	    sizeof(why)) == 0, "%s", why);
	freeReplyObject(r);
	redisFree(ctx);
}

/* The index in rc->node[] of the node on port, or -1. */
static int
node_on(const struct redis_cluster *rc, unsigned port)
{
	int i;

	for (i = 0; i < RCLUSTER_NODES; i++)
		if (rc->node[i].port == port)
			return i;
	return -1;
}

/* Node i's reply to a command of arguments ending with NULL must be +OK. */
#define CMD_OK(rc, i, ...) do {						\
	char *ok_ = redis_cmd(&(rc)->node[(i)], __VA_ARGS__, (char *)NULL); \
									\
	ck_assert_msg(ok_ != NULL && strcmp(ok_, "+OK") == 0, "%s",	\
	    ok_ ? ok_ : "no answer");					\
	free(ok_);							\
} while (0)

/*
 * A slot half moved from its master to another: a key the source lacks
 * is asked of the target (ASK), and written there.  The slot is made
 * stable again, with the key gone, before returning.
 */
static void
check_ask(struct cc *c, struct redis_cluster *rc, unsigned slot)
{
	int from = redis_cluster_master_of(rc, slot), to = -1;
	char *id_from, *id_to, *v, key[64], s[16];
	const char *del[2];
	redisReply *r;
	unsigned t;

	ck_assert_int_ge(from, 0);
	for (t = 0; t < REDIS_SLOTS && to == -1; t += 97)
		if ((to = redis_cluster_master_of(rc, t)) == from)
			to = -1;
	ck_assert_int_ge(to, 0);
	id_from = redis_cmd(&rc->node[from], "CLUSTER", "MYID", (char *)NULL);
	id_to = redis_cmd(&rc->node[to], "CLUSTER", "MYID", (char *)NULL);
	ck_assert(id_from != NULL && id_to != NULL);
	snprintf(s, sizeof(s), "%u", slot);
	CMD_OK(rc, to, "CLUSTER", "SETSLOT", s, "IMPORTING", id_from);
	CMD_OK(rc, from, "CLUSTER", "SETSLOT", s, "MIGRATING", id_to);
	/* A key of the slot not written yet: its tag, another suffix. */
	snprintf(key, sizeof(key), "inboxd:{%s}:ask", redis_slot_tag(slot));
	ck_assert_uint_eq(redis_slot_of(key, strlen(key)), slot);
	c->asked = 0;
	cc_get_is(c, key, NULL);
	ck_assert_int_eq(c->asked, 1);
	cc_set(c, key, "asked");
	ck_assert_int_eq(c->asked, 2);
	cc_get_is(c, key, "asked");
	ck_assert_int_eq(c->asked, 3);
	/* It is on the target only (the source has the slot's :x key). */
	v = redis_cmd(&rc->node[from], "CLUSTER", "COUNTKEYSINSLOT", s,
	    (char *)NULL);
	ck_assert_str_eq(v, ":1");
	free(v);
	v = redis_cmd(&rc->node[to], "CLUSTER", "COUNTKEYSINSLOT", s,
	    (char *)NULL);
	ck_assert_str_eq(v, ":1");
	free(v);
	del[0] = "DEL";
	del[1] = key;
	r = cc_command(c, 2, del);
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	CMD_OK(rc, from, "CLUSTER", "SETSLOT", s, "STABLE");
	CMD_OK(rc, to, "CLUSTER", "SETSLOT", s, "STABLE");
	/* Stable again: the source serves it, without redirection. */
	c->asked = c->moved = 0;
	cc_get_is(c, key, NULL);
	ck_assert_int_eq(c->asked + c->moved, 0);
	free(id_from);
	free(id_to);
}

START_TEST(test_cluster_routes_keys_and_survives_a_master_failing)
{
	struct redis_cluster rc;
	struct redis_slot_map m;
	struct cc c;
	char why[512], key[64], value[32], port[16], dir[256];
	unsigned slots[RCLUSTER_MASTERS][PER_SHARD];
	int shard, i, k, nk[RCLUSTER_MASTERS] = { 0 }, promoted, failed_shard;
	long t0 = client_now_ms(), t_up, t_kill, t_promoted;
	unsigned s, victim;

	ck_assert_msg(redis_cluster_start(&rc, why, sizeof(why)) == 0,
	    "the Redis Cluster did not start: %s", why);
	t_up = client_now_ms();
	printf("redis cluster: 3 masters and 3 replicas ok in %ld ms; "
	    "seeds %s\n", t_up - t0, rc.seeds);
	fflush(stdout);
	ck_assert_int_eq((int)strlen(rc.seeds) > 0, 1);
	ck_assert_ptr_nonnull(strstr(rc.seeds, "redis://127.0.0.1:"));
	for (i = 0; i < RCLUSTER_NODES; i++) {
		char *info = redis_cmd(&rc.node[i], "CLUSTER", "INFO",
		    (char *)NULL), v[16];

		ck_assert_ptr_nonnull(info);
		ck_assert_int_eq(redis_slot_info_field(info, strlen(info),
		    "cluster_state", v, sizeof(v)), 2);
		ck_assert_str_eq(v, "ok");
		ck_assert_int_eq(redis_slot_info_field(info, strlen(info),
		    "cluster_size", v, sizeof(v)), 1);
		ck_assert_str_eq(v, "3");
		free(info);
		snprintf(port, sizeof(port), "127.0.0.1:%u", rc.node[i].port);
		ck_assert_ptr_nonnull(strstr(rc.seeds, port));
	}

	check_slots_against(&rc);

	/* Keys in every shard: PER_SHARD slots of each master, spread. */
	map_from(&rc, 0, &m);
	check_map(&rc, &m);
	for (s = 0; s < REDIS_SLOTS; s += 37) {
		shard = m.master[s];
		ck_assert_int_lt(shard, RCLUSTER_MASTERS);
		if (nk[shard] < PER_SHARD)
			slots[shard][nk[shard]++] = s;
	}
	redis_slot_map_free(&m);
	memset(&c, 0, sizeof(c));
	c.rc = &rc;
	for (shard = 0; shard < RCLUSTER_MASTERS; shard++)
		ck_assert_int_eq(nk[shard], PER_SHARD);
	/* No map at first: the first write is sent anywhere and MOVED. */
	for (shard = 0; shard < RCLUSTER_MASTERS; shard++)
		for (k = 0; k < PER_SHARD; k++) {
			snprintf(value, sizeof(value), "v%u", slots[shard][k]);
			cc_set(&c, key_of(slots[shard][k], key, sizeof(key)),
			    value);
		}
	ck_assert_int_ge(c.moved, 1);
	ck_assert_int_ge(c.refreshed, 1);
	check_map(&rc, &c.map);
	ck_assert_int_eq(node_on(&rc, redis_slot_map_node(&c.map,
	    slots[0][0])->port), redis_cluster_master_of(&rc, slots[0][0]));
	for (shard = 0; shard < RCLUSTER_MASTERS; shard++)
		for (k = 0; k < PER_SHARD; k++) {
			snprintf(value, sizeof(value), "v%u", slots[shard][k]);
			cc_get_is(&c, key_of(slots[shard][k], key,
			    sizeof(key)), value);
		}

	check_ask(&c, &rc, slots[1][3]);

	/* Every write on a replica before its master goes. */
	for (shard = 0; shard < RCLUSTER_MASTERS; shard++) {
		int m = redis_cluster_master_of(&rc, slots[shard][0]);
		char *n = redis_cmd(&rc.node[m], "WAIT", "1", "2000",
		    (char *)NULL);

		ck_assert_msg(n != NULL && strcmp(n, ":1") == 0,
		    "WAIT on the master of shard %d: %s", shard, n);
		free(n);
	}

	/* Kill the master of one shard: its replica takes over. */
	failed_shard = 2;
	victim = slots[failed_shard][0];
	i = redis_cluster_master_of(&rc, victim);
	t_kill = client_now_ms();
	promoted = redis_cluster_fail_master(&rc, victim, 15000, why,
	    sizeof(why));
	t_promoted = client_now_ms();
	ck_assert_msg(promoted >= 0, "no replica took over: %s", why);
	ck_assert_int_ne(promoted, i);
	ck_assert_int_eq(rc.node[i].pid, 0);
	printf("redis cluster: port %u killed, port %u promoted and the "
	    "cluster ok in %ld ms\n", rc.node[i].port, rc.node[promoted].port,
	    t_promoted - t_kill);
	fflush(stdout);
	for (k = 0; k < PER_SHARD; k++) {
		char *v;

		/* Straight from the promoted replica... */
		ck_assert_int_eq(redis_cluster_master_of(&rc,
		    slots[failed_shard][k]), promoted);
		v = redis_cmd(&rc.node[promoted], "GET",
		    key_of(slots[failed_shard][k], key, sizeof(key)),
		    (char *)NULL);
		snprintf(value, sizeof(value), "v%u", slots[failed_shard][k]);
		ck_assert_msg(v != NULL && strcmp(v, value) == 0,
		    "%s on the promoted replica: %s", key, v ? v : "nothing");
		free(v);
	}
	/* ...and through the client, whose map still names the dead one. */
	c.lost = 0;
	for (shard = 0; shard < RCLUSTER_MASTERS; shard++)
		for (k = 0; k < PER_SHARD; k++) {
			snprintf(value, sizeof(value), "v%u", slots[shard][k]);
			cc_get_is(&c, key_of(slots[shard][k], key,
			    sizeof(key)), value);
		}
	ck_assert_int_ge(c.lost, 1);
	ck_assert_uint_eq(redis_slot_map_node(&c.map, victim)->port,
	    rc.node[promoted].port);
	/* And written to, through the new master. */
	cc_set(&c, key_of(victim, key, sizeof(key)), "after");
	cc_get_is(&c, key, "after");

	cc_free(&c);
	snprintf(dir, sizeof(dir), "%s", rc.dir);
	redis_cluster_stop(&rc);
	ck_assert_int_eq(access(dir, F_OK), -1);
	printf("redis cluster: whole test %ld ms\n", client_now_ms() - t0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("redis_cluster");
	TCase *tc = tcase(s, "redis_cluster", 60);

	tcase_add_test(tc,
	    test_cluster_routes_keys_and_survives_a_master_failing);
	return check_run(s);
}
