/*
 * check_redis_cluster.c - the test Redis Cluster (harness.h) and the slot
 * routing of redis_slot.h against it: three masters with a replica each
 * on loopback; slots and tags as the servers compute them; keys written
 * to every shard by a small client that follows the slot map, MOVED and
 * ASK; a master killed, its replica promoted, and every key still read.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* ------------------------------------------- inboxd on the cluster */

#define FLEET_CONF FAST "lease-timeout 3\nmax-messages 10000\n" \
	"max-inbox-bytes 16M\n"
#define RECEIVERS 4   /* receiving inboxes on each master */
#define SEND_TIMED 500 /* sends timed for the cost of a send */
#define LAG_MS 300     /* a replica stopped before its master is killed */
#define BODY_MAX 48

/* A Redis Cluster of its own and two inboxd nodes on it. */
struct fleet {
	struct redis_cluster rc;
	struct inboxd d;
	char names[RCLUSTER_MASTERS * RECEIVERS][16]; /* receivers */
	int shard[RCLUSTER_MASTERS * RECEIVERS];      /* their masters */
	int n;
};

/* The slot of inbox name's keys. */
static unsigned
slot_of_inbox(const char *name)
{
	char key[64];

	snprintf(key, sizeof(key), "inboxd:{%s}:i", name);
	return redis_slot_of(key, strlen(key));
}

/*
 * Start the cluster and the nodes with conf, and pick RECEIVERS inbox
 * names on each master (r0, r1, ... as they fall), each contacted.
 */
static void
fleet_start(struct fleet *f, const char *conf)
{
	char why[600], text[1024], name[16];
	const char *err = "";
	int count[RCLUSTER_NODES] = { 0 }, i, m;

	memset(f, 0, sizeof(*f));
	ck_assert_msg(redis_cluster_start(&f->rc, why, sizeof(why)) == 0,
	    "the Redis Cluster did not start: %s", why);
	snprintf(text, sizeof(text), "%s%s", FLEET_CONF, conf);
	ck_assert_msg(cluster_start_on(&f->d, text, f->rc.seeds, &err) == 0,
	    "the nodes did not start: %s", err);
	for (i = 0; f->n < RCLUSTER_MASTERS * RECEIVERS; i++) {
		ck_assert_int_lt(i, 1000);
		snprintf(name, sizeof(name), "r%d", i);
		m = redis_cluster_master_of(&f->rc, slot_of_inbox(name));
		ck_assert_int_ge(m, 0);
		if (count[m] == RECEIVERS)
			continue;
		count[m]++;
		snprintf(f->names[f->n], sizeof(f->names[0]), "%s", name);
		f->shard[f->n++] = m;
		ck_assert_int_eq(client_request(f->d.cluster->node[f->n % 2].port,
		    "GET", "/inbox?wait=0", name, "pw", NULL, NULL, 0, NULL),
		    204);
	}
	ck_assert_int_eq(client_request(f->d.cluster->node[0].port, "GET",
	    "/inbox?wait=0", "tx", "pw", NULL, NULL, 0, NULL), 204);
}

static void
fleet_stop(struct fleet *f)
{
	stop(&f->d);
	redis_cluster_stop(&f->rc);
}

/* Every message sent under traffic: its body, and what became of it. */
struct traffic {
	struct fleet *f;
	pthread_mutex_t lock;
	atomic_int stop_sending, stop_receiving;
	struct tmsg {
		char body[BODY_MAX];
		int to;     /* index in f->names */
		int acked;  /* a send of it answered 204 */
		int tries;  /* sends of it */
		int got;    /* pops of it */
		long acked_ms;
	} *m;
	int n, max;
	long kill_ms, promoted_ms;
	int sends, retries, refused; /* attempts, again after one failed,
	                                answers other than 204 */
	int pops, unexpected;
	long after_acked; /* sends to the failed shard acked after it */
	int victim;       /* the master killed */
};

/* Find the message whose body is (len bytes) b: its index, or -1. */
static int
traffic_find(struct traffic *t, const char *b, size_t len)
{
	unsigned k;
	int to;

	if (len == 0 || len >= BODY_MAX ||
	    sscanf(b, "m%u to%d", &k, &to) != 2 || (int)k >= t->n ||
	    strncmp(t->m[k].body, b, len) != 0 || t->m[k].body[len] != '\0')
		return -1;
	return (int)k;
}

/*
 * The sender: message after message, round-robin over the receivers,
 * through the two nodes in turn; one that fails (503 while a shard fails
 * over, or no answer) is sent again, for up to 10 s: the client's part
 * of at-least-once.
 */
static void *
sender(void *arg)
{
	struct traffic *t = arg;
	struct response r;
	char body[BODY_MAX];
	int k = 0, node = 0, st, to;
	long give_up;

	while (!atomic_load(&t->stop_sending) && k < t->max) {
		to = k % t->f->n;
		snprintf(body, sizeof(body), "m%d to%d", k, to);
		pthread_mutex_lock(&t->lock);
		snprintf(t->m[k].body, sizeof(t->m[k].body), "%s", body);
		t->m[k].to = to;
		t->n = k + 1;
		pthread_mutex_unlock(&t->lock);
		give_up = client_now_ms() + 10000;
		for (;;) {
			char target[64];

			snprintf(target, sizeof(target), "/inbox?to=%s",
			    t->f->names[to]);
			st = client_request(t->f->d.cluster->node[node].port,
			    "POST", target, "tx", "pw", NULL, body,
			    strlen(body), &r);
			node = 1 - node;
			pthread_mutex_lock(&t->lock);
			t->sends++;
			t->m[k].tries++;
			if (st == 204) {
				t->m[k].acked = 1;
				t->m[k].acked_ms = client_now_ms();
				if (t->promoted_ms > 0 &&
				    t->f->shard[to] == t->victim)
					t->after_acked++;
			} else
				t->refused++;
			pthread_mutex_unlock(&t->lock);
			if (st != -1)
				response_free(&r);
			if (st == 204 || client_now_ms() > give_up)
				break;
			t->retries++;
			sleep_ms(20);
		}
		k++;
	}
	return NULL;
}

/* The receiver: every receiving inbox popped in turn, through the two
 * nodes, each pop checked against what was sent. */
static void *
receiver(void *arg)
{
	struct traffic *t = arg;
	struct response r;
	int i = 0, node = 0, st, k, idle = 0;

	for (;;) {
		st = client_request(t->f->d.cluster->node[node].port, "GET",
		    "/inbox?wait=0", t->f->names[i], "pw", NULL, NULL, 0, &r);
		node = 1 - node;
		if (st == 200) {
			pthread_mutex_lock(&t->lock);
			t->pops++;
			if ((k = traffic_find(t, r.body, r.body_len)) >= 0)
				t->m[k].got++;
			else
				t->unexpected++;
			pthread_mutex_unlock(&t->lock);
			idle = 0;
		} else
			i = (i + 1) % t->f->n, idle++;
		if (st != -1)
			response_free(&r);
		/* Done: told to stop, and every inbox empty twice over. */
		if (atomic_load(&t->stop_receiving) && idle > 2 * t->f->n)
			break;
	}
	return NULL;
}

/* SEND_TIMED sends from one thread of rate(): through node k % 2. */
struct rate_job {
	struct fleet *f;
	int k, n;
};

static void *
rate_sends(void *arg)
{
	struct rate_job *j = arg;
	char target[64];
	int i;

	for (i = 0; i < j->n; i++) {
		snprintf(target, sizeof(target), "/inbox?to=%s",
		    j->f->names[(j->k + i) % j->f->n]);
		ck_assert_int_eq(client_request(
		    j->f->d.cluster->node[(j->k + i) % 2].port, "POST", target,
		    "tx", "pw", NULL, "w", 1, NULL), 204);
	}
	return NULL;
}

/* Sends a second from `threads' clients at once, SEND_TIMED in all
 * (after as many to warm up); the inboxes emptied after. */
static double
rate(struct fleet *f, int threads)
{
	struct rate_job j[16];
	pthread_t t[16];
	long t0 = 0;
	int i, round;

	for (round = 0; round < 2; round++) {
		if (round == 1)
			t0 = client_now_ms();
		for (i = 0; i < threads; i++) {
			j[i].f = f;
			j[i].k = i;
			j[i].n = SEND_TIMED / threads;
			ck_assert_int_eq(pthread_create(&t[i], NULL, rate_sends,
			    &j[i]), 0);
		}
		for (i = 0; i < threads; i++)
			pthread_join(t[i], NULL);
	}
	t0 = client_now_ms() - t0;
	for (i = 0; i < f->n; i++)
		while (client_request(f->d.cluster->node[0].port, "GET",
		    "/inbox?wait=0", f->names[i], "pw", NULL, NULL, 0, NULL) ==
		    200)
			;
	return t0 > 0 ? 1000.0 * SEND_TIMED / (double)t0 : 0;
}

/* Wait up to 15 s until the master node[m] has a replica in sync. */
static void
wait_replica(struct fleet *f, int m)
{
	long deadline = client_now_ms() + 15000;
	char *v;
	int ok;

	for (;;) {
		v = redis_cmd(&f->rc.node[m], "INFO", "replication",
		    (char *)NULL);
		ok = v != NULL && strstr(v, "connected_slaves:1") != NULL &&
		    strstr(v, "state=online") != NULL;
		free(v);
		if (ok)
			return;
		ck_assert_msg(client_now_ms() < deadline, "the new master on "
		    "port %u has no replica in sync after 15 s",
		    f->rc.node[m].port);
		sleep_ms(50);
	}
}

/*
 * Traffic through both nodes to inboxes on every master; a master killed
 * with SIGKILL halfway and its replica promoted (cluster-node-timeout
 * RCLUSTER_NODE_TIMEOUT); the nodes follow without a restart.  The
 * replica is stopped (SIGSTOP) and cut off for LAG_MS before the kill,
 * so that the master has writes its replica never gets: the replication
 * lag a busy master or a slow link has, longer.  Prints the lost and
 * duplicated messages; returns the lost.
 */
static int
failover_under_traffic(int wait_replicas, double rates[2])
{
	static struct traffic t;
	struct fleet f;
	pthread_t ts, tr;
	char conf[64], why[600], target[64];
	int i, lost = 0, dup = 0, dup_retried = 0, acked = 0, victim_slot, st;
	int killed, promoted, lagging;

	snprintf(conf, sizeof(conf), "redis-wait-replicas %d\n",
	    wait_replicas);
	fleet_start(&f, conf);
	/* What WAIT costs: a send from one client, and from eight at once
	 * (their WAITs share the node's connection to a master). */
	rates[0] = rate(&f, 1);
	rates[1] = rate(&f, 8);

	memset(&t, 0, sizeof(t));
	t.f = &f;
	t.max = 20000;
	t.m = calloc((size_t)t.max, sizeof(*t.m));
	ck_assert_ptr_nonnull(t.m);
	pthread_mutex_init(&t.lock, NULL);
	t.victim = -1;
	ck_assert_int_eq(pthread_create(&ts, NULL, sender, &t), 0);
	ck_assert_int_eq(pthread_create(&tr, NULL, receiver, &t), 0);
	sleep_ms(1500);
	/* The master of the first receiver of shard 2. */
	for (i = 0; f.shard[i] != f.shard[f.n - 1]; i++)
		;
	victim_slot = (int)slot_of_inbox(f.names[i]);
	pthread_mutex_lock(&t.lock);
	t.victim = f.shard[i];
	t.kill_ms = client_now_ms();
	pthread_mutex_unlock(&t.lock);
	killed = redis_cluster_master_of(&f.rc, (unsigned)victim_slot);
	lagging = redis_cluster_replica_of(&f.rc, killed);
	ck_assert_int_ge(lagging, 0);
	kill(f.rc.node[lagging].pid, SIGSTOP);
	/* Its link cut too: what the master writes from now on, it never
	 * passes on (what was in flight reaches the replica still). */
	free(redis_cmd(&f.rc.node[killed], "CLIENT", "KILL", "TYPE", "replica",
	    (char *)NULL));
	sleep_ms(LAG_MS);
	/* The master goes; its replica, back, takes over. */
	redis_kill(&f.rc.node[killed], SIGKILL);
	kill(f.rc.node[lagging].pid, SIGCONT);
	ck_assert_msg(redis_cluster_wait_ok(&f.rc, 20000, why, sizeof(why)) ==
	    0, "no replica took over: %s", why);
	promoted = redis_cluster_master_of(&f.rc, (unsigned)victim_slot);
	ck_assert_msg(promoted >= 0 && promoted != killed, "slot %d has no "
	    "new master", victim_slot);
	pthread_mutex_lock(&t.lock);
	t.promoted_ms = client_now_ms();
	/* The receivers of that shard are the promoted replica's now. */
	for (i = 0; i < f.n; i++)
		if (f.shard[i] == t.victim)
			f.shard[i] = -1;
	t.victim = -1;
	pthread_mutex_unlock(&t.lock);
	/* The old master back, as the new one's replica (until then, a
	 * send there with redis-wait-replicas 1 cannot be acknowledged);
	 * then two seconds more of traffic. */
	ck_assert_msg(redis_cluster_restart_node(&f.rc, killed, why,
	    sizeof(why)) == 0, "%s", why);
	wait_replica(&f, promoted);
	sleep_ms(2000);
	atomic_store(&t.stop_sending, 1);
	pthread_join(ts, NULL);
	atomic_store(&t.stop_receiving, 1);
	pthread_join(tr, NULL);
	for (i = 0; i < t.n; i++) {
		acked += t.m[i].acked;
		if (t.m[i].acked && t.m[i].got == 0)
			lost++;
		if (t.m[i].got > 1) {
			dup += t.m[i].got - 1;
			if (t.m[i].tries > 1)
				dup_retried += t.m[i].got - 1;
		}
	}
	printf("master failover under traffic (its replica %d ms behind), "
	    "redis-wait-replicas %d: %d "
	    "messages sent (%d sends, %d answered other than 204, so sent "
	    "again), %d acknowledged, %d popped; lost %d, duplicated %d (%d "
	    "of them messages the sender sent again after a 503), unexpected "
	    "%d; failover %ld ms; sends a second: %.0f from one client, %.0f "
	    "from eight\n", LAG_MS, wait_replicas, t.n, t.sends, t.refused, acked,
	    t.pops, lost, dup, dup_retried, t.unexpected,
	    t.promoted_ms - t.kill_ms, rates[0], rates[1]);
	fflush(stdout);
	ck_assert_int_eq(t.unexpected, 0);
	/* The nodes followed: sends to every receiver work on the new map,
	 * and were acknowledged after the promotion. */
	for (i = 0; i < f.n; i++) {
		snprintf(target, sizeof(target), "/inbox?to=%s", f.names[i]);
		st = client_request(f.d.cluster->node[i % 2].port, "POST",
		    target, "tx", "pw", NULL, "after", 5, NULL);
		ck_assert_int_eq(st, 204);
	}
	for (i = 0; i < t.n && t.m[i].acked_ms <= t.promoted_ms; i++)
		;
	ck_assert_msg(i < t.n, "no send was acknowledged after the promotion");
	free(t.m);
	pthread_mutex_destroy(&t.lock);
	fleet_stop(&f);
	return lost;
}

START_TEST(test_master_killed_under_traffic_the_nodes_follow)
{
	double plain[2], waited[2];
	int lost0, lost1;

	lost0 = failover_under_traffic(0, plain);
	lost1 = failover_under_traffic(1, waited);
	printf("redis-wait-replicas 1 costs: sends a second from one client "
	    "%.0f against %.0f without (%.2fx), from eight %.0f against %.0f "
	    "(%.2fx); lost %d without it, %d with it\n", waited[0], plain[0],
	    plain[0] > 0 ? waited[0] / plain[0] : 0, waited[1], plain[1],
	    plain[1] > 0 ? waited[1] / plain[1] : 0, lost0, lost1);
	/* A send answered only once a replica had it survives its master. */
	ck_assert_int_eq(lost1, 0);
}
END_TEST

/* ---------------------------------------------- an inboxd node killed */

#define BIG_LEN ((size_t)8 * MIB)
#define BIGS 3       /* receivers whose head is in flight at the kill */
#define QUEUED 5     /* small messages queued for each receiver */

/* A body of BIG_LEN bytes that says which it is (k) in every byte. */
static unsigned char *
big_body(int k)
{
	unsigned char *body = malloc(BIG_LEN);
	size_t i;

	ck_assert_ptr_nonnull(body);
	for (i = 0; i < BIG_LEN; i++)
		body[i] = (unsigned char)(((i * 2654435761u) >> 13) + (size_t)k);
	return body;
}

/*
 * A pop of user's inbox through port whose response is never read past
 * its head (a 4 KiB receive window): the message stays in flight on that
 * node.  Returns the connection.
 */
static int
stalled_pop(unsigned port, const char *user)
{
	struct response r;
	size_t len;
	char *text;
	int fd = client_connect_rcvbuf(port, 4096);

	ck_assert_int_ne(fd, -1);
	text = client_build("GET", "/inbox?wait=0", user, "pw", NULL, NULL, 0,
	    &len);
	ck_assert_int_eq(client_write(fd, text, len), 0);
	free(text);
	ck_assert_int_eq(client_read_head(fd, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	response_free(&r);
	return fd;
}

START_TEST(test_node_killed_loses_and_duplicates_nothing)
{
	struct fleet f;
	unsigned char *big[BIGS];
	int got[RCLUSTER_MASTERS * RECEIVERS][QUEUED + 1], stalled[BIGS];
	int held[RCLUSTER_MASTERS * RECEIVERS], i, k, lost = 0, dup = 0;
	int bigs_back[BIGS] = { 0 }, pending;
	unsigned a, b;
	char target[64], body[32];
	struct response r;
	long t_kill, deadline, back = -1;

	fleet_start(&f, "max-message-size 8M\nmax-inbox-bytes 32M\n"
	    "max-memory 256M\n");
	a = f.d.cluster->node[0].port;
	b = f.d.cluster->node[1].port;
	memset(got, 0, sizeof(got));
	/* A big message in flight on node-1 for BIGS receivers, one on
	 * each master; QUEUED small ones queued for every receiver. */
	for (i = 0; i < BIGS; i++) {
		int to = i * RECEIVERS;

		big[i] = big_body(i);
		snprintf(target, sizeof(target), "/inbox?to=%s", f.names[to]);
		ck_assert_int_eq(client_request(b, "POST", target, "tx", "pw",
		    NULL, big[i], BIG_LEN, NULL), 204);
		stalled[i] = stalled_pop(a, f.names[to]);
	}
	for (i = 0; i < f.n; i++)
		for (k = 0; k < QUEUED; k++) {
			snprintf(target, sizeof(target), "/inbox?to=%s",
			    f.names[i]);
			snprintf(body, sizeof(body), "%d:%d", i, k);
			ck_assert_int_eq(client_request(k % 2 ? a : b, "POST",
			    target, "tx", "pw", NULL, body, strlen(body), NULL),
			    204);
		}
	/* GETs held on node-1 for inboxes of a receiver of their own. */
	for (i = 0; i < f.n; i++) {
		char name[16];

		snprintf(name, sizeof(name), "h%d", i);
		ck_assert_int_eq(client_request(b, "GET", "/inbox?wait=0", name,
		    "pw", NULL, NULL, 0, NULL), 204);
		held[i] = client_send(a, "GET", "/inbox?wait=30", name, "pw",
		    NULL, NULL, 0);
		ck_assert_int_ne(held[i], -1);
	}
	wait_metric(&f.d, "inboxd_waiters", f.n, 5000);

	ck_assert_int_eq(inboxd_kill(&f.d.cluster->node[0], SIGKILL), -1);
	t_kill = client_now_ms();
	for (i = 0; i < BIGS; i++)
		close(stalled[i]);
	for (i = 0; i < f.n; i++)
		close(held[i]);
	/* Traffic on through node-2: the last small message of each. */
	for (i = 0; i < f.n; i++) {
		snprintf(target, sizeof(target), "/inbox?to=%s", f.names[i]);
		snprintf(body, sizeof(body), "%d:%d", i, QUEUED);
		ck_assert_int_eq(client_request(b, "POST", target, "tx", "pw",
		    NULL, body, strlen(body), NULL), 204);
	}
	/* Drain through node-2 until everything is back: the big ones once
	 * node-1's lease ran out. */
	deadline = t_kill + 3000 + 5000;
	do {
		for (i = 0; i < f.n; i++) {
			while (client_request(b, "GET", "/inbox?wait=0",
			    f.names[i], "pw", NULL, NULL, 0, &r) == 200) {
				int x, y;

				if (r.body_len == BIG_LEN) {
					for (k = 0; k < BIGS; k++)
						if (memcmp(r.body, big[k],
						    BIG_LEN) == 0)
							bigs_back[k]++;
				} else if (sscanf(r.body, "%d:%d", &x, &y) == 2 &&
				    x == i && y >= 0 && y <= QUEUED)
					got[x][y]++;
				response_free(&r);
			}
			response_free(&r);
		}
		for (i = 0, pending = 0; i < BIGS; i++)
			pending += bigs_back[i] == 0;
		for (i = 0; i < f.n; i++)
			for (k = 0; k <= QUEUED; k++)
				pending += got[i][k] == 0;
		if (pending == 0 && back == -1)
			back = client_now_ms() - t_kill;
		if (pending > 0)
			sleep_ms(50);
	} while (pending > 0 && client_now_ms() < deadline);
	for (i = 0; i < BIGS; i++) {
		lost += bigs_back[i] == 0;
		dup += bigs_back[i] > 1 ? bigs_back[i] - 1 : 0;
	}
	for (i = 0; i < f.n; i++)
		for (k = 0; k <= QUEUED; k++) {
			lost += got[i][k] == 0;
			dup += got[i][k] > 1 ? got[i][k] - 1 : 0;
		}
	printf("kill -9 of an inboxd node on the Redis Cluster, %d messages "
	    "in flight on it and %d GETs held: lost %d, duplicated %d, every "
	    "message back %ld ms after the kill (lease-timeout 3 s)\n", BIGS,
	    f.n, lost, dup, back);
	ck_assert_int_eq(lost, 0);
	ck_assert_int_eq(dup, 0);
	for (i = 0; i < BIGS; i++)
		free(big[i]);
	fleet_stop(&f);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("redis_cluster");
	TCase *tc = tcase(s, "redis_cluster", 60);

	tcase_add_test(tc,
	    test_cluster_routes_keys_and_survives_a_master_failing);
	tc = tcase(s, "inboxd_faults", 150);
	tcase_add_test(tc, test_master_killed_under_traffic_the_nodes_follow);
	tcase_add_test(tc, test_node_killed_loses_and_duplicates_nothing);
	return check_run(s);
}
