/*
 * check_redis_slot.c - Redis Cluster routing: hash slots and hash tags,
 * the tag of each slot, the slot map of a CLUSTER SLOTS reply, MOVED and
 * ASK redirections, and INFO's cluster_enabled.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "check_run.h"
#include "redis_slot.h"

#define S(k) redis_slot_of((k), strlen(k))

/* The reply hiredis reads from the RESP bytes resp (a whole reply);
 * free it with freeReplyObject. */
static redisReply *
reply_of(const char *resp)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	ck_assert_ptr_nonnull(rd);
	ck_assert_int_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
	ck_assert_msg(reply != NULL, "an incomplete reply: %s", resp);
	redisReaderFree(rd);
	return reply;
}

START_TEST(test_crc16_and_slots_match_the_values_redis_documents)
{
	/* The check value of CRC16-XMODEM, in the Redis Cluster spec. */
	ck_assert_uint_eq(redis_slot_crc16("123456789", 9), 0x31c3);
	ck_assert_uint_eq(S("123456789"), 0x31c3 % REDIS_SLOTS);
	ck_assert_uint_eq(redis_slot_crc16("", 0), 0);
	/* CLUSTER KEYSLOT's examples, and a well-known one. */
	ck_assert_uint_eq(S("somekey"), 11058);
	ck_assert_uint_eq(S("foo{hash_tag}"), 2515);
	ck_assert_uint_eq(S("foo"), 12182);
	ck_assert_uint_eq(S(""), 0);
	/* The length counts, not a NUL. */
	ck_assert_uint_eq(redis_slot_of("a\0b", 3), 8383);
	ck_assert_uint_eq(redis_slot_of("a\0b", 1), S("a"));
}
END_TEST

START_TEST(test_hash_tags_follow_redis_rule)
{
	unsigned user = S("user1000");

	ck_assert_uint_eq(user, 3443);
	ck_assert_uint_eq(S("{user1000}.following"), user);
	ck_assert_uint_eq(S("{user1000}.followers"), user);
	ck_assert_uint_eq(S("x{user1000}"), user);
	/* An empty first tag: the whole key is hashed. */
	ck_assert_uint_eq(S("foo{}{bar}"), 8363);
	ck_assert_uint_eq(redis_slot_crc16("foo{}{bar}", 10) % REDIS_SLOTS,
	    8363);
	/* The first `}' after the first `{'. */
	ck_assert_uint_eq(S("foo{{bar}}zap"), S("{bar"));
	ck_assert_uint_eq(S("foo{{bar}}zap"), 4015);
	ck_assert_uint_eq(S("foo{bar}{zap}"), S("bar"));
	/* No closing brace, a lone one, a `}' before the `{'. */
	ck_assert_uint_eq(S("foo{bar"),
	    redis_slot_crc16("foo{bar", 7) % REDIS_SLOTS);
	ck_assert_uint_eq(S("{"), redis_slot_crc16("{", 1) % REDIS_SLOTS);
	ck_assert_uint_eq(S("{}"), redis_slot_crc16("{}", 2) % REDIS_SLOTS);
	ck_assert_uint_eq(S("}bar{"), redis_slot_crc16("}bar{", 5) %
	    REDIS_SLOTS);
	ck_assert_uint_eq(S("a}b{c}"), S("c"));
	/* A brace past the length given is not seen. */
	ck_assert_uint_eq(redis_slot_of("ab{c}", 3),
	    redis_slot_crc16("ab{", 3) % REDIS_SLOTS);
	ck_assert_uint_eq(redis_slot_of("ab{c}", 4),
	    redis_slot_crc16("ab{c", 4) % REDIS_SLOTS);
}
END_TEST

START_TEST(test_every_slot_has_a_short_tag_of_its_own)
{
	char key[64];
	unsigned slot;

	for (slot = 0; slot < REDIS_SLOTS; slot++) {
		const char *tag = redis_slot_tag(slot);

		ck_assert_msg(tag != NULL, "slot %u has no tag", slot);
		ck_assert_uint_gt(strlen(tag), 0);
		ck_assert_uint_lt(strlen(tag), REDIS_SLOT_TAG_SIZE);
		ck_assert_uint_eq(S(tag), slot);
		snprintf(key, sizeof(key), "inboxd:{%s}:x", tag);
		ck_assert_msg(S(key) == slot, "%s is in slot %u, not %u", key,
		    S(key), slot);
		/* Tags are plain: nothing a key or a log would mind. */
		ck_assert_uint_eq(strspn(tag,
		    "0123456789abcdefghijklmnopqrstuvwxyz"), strlen(tag));
	}
	/* The first count of each slot: "0" is the first of all. */
	ck_assert_str_eq(redis_slot_tag(S("0")), "0");
	ck_assert_ptr_null(redis_slot_tag(REDIS_SLOTS));
	ck_assert_ptr_null(redis_slot_tag(-1u));
	/* The table is built once: the same strings each time. */
	ck_assert_ptr_eq(redis_slot_tag(7), redis_slot_tag(7));
}
END_TEST

static void *
tag_thread(void *arg)
{
	const char **out = arg;
	unsigned slot;

	redis_slot_tags_init();
	for (slot = 0; slot < REDIS_SLOTS; slot++)
		out[slot] = redis_slot_tag(slot);
	return NULL;
}

START_TEST(test_tags_built_by_racing_threads_are_one_table)
{
	enum { N = 4 };
	static const char *seen[N][REDIS_SLOTS];
	pthread_t t[N];
	unsigned slot;
	int i;

	/* Forked afresh (CK_FORK), the table is unbuilt here. */
	for (i = 0; i < N; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, tag_thread,
		    seen[i]), 0);
	for (i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (slot = 0; slot < REDIS_SLOTS; slot++) {
		ck_assert_ptr_nonnull(seen[0][slot]);
		for (i = 1; i < N; i++)
			ck_assert_ptr_eq(seen[i][slot], seen[0][slot]);
		ck_assert_uint_eq(S(seen[0][slot]), slot);
	}
}
END_TEST

/* One node of a CLUSTER SLOTS entry as Redis 7 writes it in RESP2: host,
 * port, id and an empty map of metadata. */
#define NODE(host, port, id) "*4\r\n" host "\r\n:" port "\r\n$40\r\n" id \
	"\r\n*0\r\n"
#define ID_A "a1f6c5c1b2e5d8d8a6c5d9f5d4d2b1a3c4e5f6a7"
#define ID_B "b2e7d6d2c3f6e9e9b7d6e0a6e5e3c2b4d5f6a7b8"
#define ID_C "c3f8e7e3d4a7f0f0c8e7f1b7f6f4d3c5e6a7b8c9"
#define ID_R "d4a9f8f4e5b8a1a1d9f8a2c8a7a5e4d6f7b8c9d0"

START_TEST(test_cluster_slots_map_each_slot_to_its_master)
{
	/*
	 * Three masters, each with one replica listed after it; A serves
	 * two ranges (a slot moved to it once), C is reached by name.
	 */
	const char *resp =
	    "*4\r\n"
	    "*4\r\n:0\r\n:5460\r\n"
	    NODE("$9\r\n127.0.0.1", "7000", ID_A)
	    NODE("$9\r\n127.0.0.1", "7003", ID_R)
	    "*4\r\n:5461\r\n:10921\r\n"
	    NODE("$9\r\n127.0.0.1", "7001", ID_B)
	    NODE("$9\r\n127.0.0.1", "7004", ID_R)
	    "*4\r\n:10922\r\n:10922\r\n"
	    NODE("$9\r\n127.0.0.1", "7000", ID_A)
	    NODE("$9\r\n127.0.0.1", "7003", ID_R)
	    "*4\r\n:10923\r\n:16383\r\n"
	    NODE("$16\r\nshard-3.internal", "7002", ID_C)
	    NODE("$8\r\n10.0.0.9", "7005", ID_R);
	redisReply *r = reply_of(resp);
	struct redis_slot_map m;
	const struct redis_slot_node *n;
	char why[256] = "";

	ck_assert_msg(redis_slot_map_parse(&m, r, "seed.example", why,
	    sizeof(why)) == 0, "%s", why);
	freeReplyObject(r);
	ck_assert_uint_eq(m.nnodes, 3);
	ck_assert_uint_eq(m.covered, REDIS_SLOTS);
	n = redis_slot_map_node(&m, 0);
	ck_assert_str_eq(n->host, "127.0.0.1");
	ck_assert_uint_eq(n->port, 7000);
	ck_assert_ptr_eq(redis_slot_map_node(&m, 5460), n);
	ck_assert_ptr_eq(redis_slot_map_node(&m, 10922), n);
	n = redis_slot_map_node(&m, 5461);
	ck_assert_uint_eq(n->port, 7001);
	ck_assert_ptr_eq(redis_slot_map_node(&m, 10921), n);
	n = redis_slot_map_node(&m, 16383);
	ck_assert_str_eq(n->host, "shard-3.internal");
	ck_assert_uint_eq(n->port, 7002);
	ck_assert_ptr_eq(redis_slot_map_node(&m, 10923), n);
	/* Replicas are not masters. */
	ck_assert_uint_eq(m.master[S("{user1000}.following")], 0);
	ck_assert_ptr_null(redis_slot_map_node(&m, REDIS_SLOTS));
	redis_slot_map_free(&m);
	ck_assert_uint_eq(m.nnodes, 0);
	ck_assert_ptr_null(redis_slot_map_node(&m, 0));
	redis_slot_map_free(&m); /* twice is harmless */
}
END_TEST

START_TEST(test_cluster_slots_unknown_host_is_the_one_asked)
{
	/*
	 * An empty host (an old Redis, or cluster-preferred-endpoint-type
	 * unknown-endpoint), a null one, and `?' (hostname wanted, none
	 * set); a bare node array of two (Redis before 4); slots
	 * 100-16383 unassigned.
	 */
	const char *resp =
	    "*3\r\n"
	    "*3\r\n:0\r\n:9\r\n*2\r\n$0\r\n\r\n:6379\r\n"
	    "*3\r\n:10\r\n:19\r\n*3\r\n$-1\r\n:6380\r\n$1\r\nx\r\n"
	    "*3\r\n:20\r\n:99\r\n*2\r\n$1\r\n?\r\n:6379\r\n";
	redisReply *r = reply_of(resp);
	struct redis_slot_map m;
	char why[256] = "";

	ck_assert_msg(redis_slot_map_parse(&m, r, "10.1.2.3", why,
	    sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(m.nnodes, 2); /* "" and "?" on 6379: one node */
	ck_assert_uint_eq(m.covered, 100);
	ck_assert_str_eq(redis_slot_map_node(&m, 0)->host, "10.1.2.3");
	ck_assert_uint_eq(redis_slot_map_node(&m, 0)->port, 6379);
	ck_assert_str_eq(redis_slot_map_node(&m, 15)->host, "10.1.2.3");
	ck_assert_uint_eq(redis_slot_map_node(&m, 15)->port, 6380);
	ck_assert_ptr_eq(redis_slot_map_node(&m, 50),
	    redis_slot_map_node(&m, 0));
	ck_assert_ptr_null(redis_slot_map_node(&m, 100));
	ck_assert_uint_eq(m.master[16383], REDIS_SLOT_NONE);
	redis_slot_map_free(&m);
	/* Without a fallback, an unknown host cannot be used. */
	ck_assert_int_eq(redis_slot_map_parse(&m, r, NULL, why,
	    sizeof(why)), -1);
	ck_assert_ptr_null(strstr(why, "(null)"));
	ck_assert_ptr_nonnull(strstr(why, "host"));
	freeReplyObject(r);
	/* A cluster with no slot assigned yet: an empty map. */
	r = reply_of("*0\r\n");
	ck_assert_int_eq(redis_slot_map_parse(&m, r, NULL, why,
	    sizeof(why)), 0);
	ck_assert_uint_eq(m.covered, 0);
	ck_assert_uint_eq(m.nnodes, 0);
	redis_slot_map_free(&m);
	freeReplyObject(r);
}
END_TEST

START_TEST(test_malformed_cluster_slots_are_refused)
{
	static const char *const bad[] = {
		/* Not CLUSTER SLOTS at all. */
		"-ERR This instance has cluster support disabled\r\n",
		"+OK\r\n",
		":1\r\n",
		"$-1\r\n",
		/* An entry that is not a range and its master. */
		"*1\r\n:0\r\n",
		"*1\r\n*2\r\n:0\r\n:1\r\n",
		"*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n",
		/* Slots out of order or past 16383. */
		"*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:1\r\n",
		"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",
		"*1\r\n*3\r\n:-1\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n",
		/* A port missing, zero, too big, or a string. */
		"*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:65536\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n$4\r\n6379\r\n",
		/* A host that is a number. */
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n:1\r\n:6379\r\n",
		/* A slot served twice (one literal in two lines). */
		("*2\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\na\r\n:1\r\n"
		"*3\r\n:10\r\n:20\r\n*2\r\n$1\r\nb\r\n:1\r\n"),
	};
	struct redis_slot_map m;
	char why[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		redisReply *r = reply_of(bad[i]);

		why[0] = '\0';
		ck_assert_msg(redis_slot_map_parse(&m, r, "fallback", why,
		    sizeof(why)) == -1, "case %zu was accepted", i);
		ck_assert_msg(why[0] != '\0', "case %zu: no reason", i);
		ck_assert_ptr_null(m.node);
		ck_assert_uint_eq(m.nnodes, 0);
		redis_slot_map_free(&m);
		freeReplyObject(r);
	}
	ck_assert_int_eq(redis_slot_map_parse(&m, NULL, "f", why,
	    sizeof(why)), -1);
	/* An error reply says what Redis said. */
	{
		redisReply *r = reply_of("-ERR This instance has cluster "
		    "support disabled\r\n");

		ck_assert_int_eq(redis_slot_map_parse(&m, r, "f", why,
		    sizeof(why)), -1);
		ck_assert_ptr_nonnull(strstr(why, "cluster support disabled"));
		freeReplyObject(r);
	}
	/* A host with a NUL in it. */
	{
		static const char nul[] = "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n"
		    "$3\r\na\0b\r\n:6379\r\n";
		redisReader *rd = redisReaderCreate();
		void *reply = NULL;

		ck_assert_int_eq(redisReaderFeed(rd, nul, sizeof(nul) - 1),
		    REDIS_OK);
		ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
		ck_assert_ptr_nonnull(reply);
		redisReaderFree(rd);
		ck_assert_int_eq(redis_slot_map_parse(&m, reply, "f", why,
		    sizeof(why)), -1);
		freeReplyObject(reply);
	}
	/* A host too long for a node. */
	{
		char resp[600], host[REDIS_SLOT_HOST_SIZE + 1];
		redisReply *r;

		memset(host, 'h', sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		snprintf(resp, sizeof(resp), "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n"
		    "$%zu\r\n%s\r\n:6379\r\n", strlen(host), host);
		r = reply_of(resp);
		ck_assert_int_eq(redis_slot_map_parse(&m, r, "f", why,
		    sizeof(why)), -1);
		freeReplyObject(r);
		/* One shorter fits. */
		host[sizeof(host) - 2] = '\0';
		snprintf(resp, sizeof(resp), "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n"
		    "$%zu\r\n%s\r\n:6379\r\n", strlen(host), host);
		r = reply_of(resp);
		ck_assert_int_eq(redis_slot_map_parse(&m, r, "f", why,
		    sizeof(why)), 0);
		ck_assert_str_eq(redis_slot_map_node(&m, 1)->host, host);
		redis_slot_map_free(&m);
		freeReplyObject(r);
	}
}
END_TEST

/* redis_slot_parse_error of the NUL-terminated s. */
static enum redis_slot_error
E(const char *s, struct redis_slot_redirect *to)
{
	return redis_slot_parse_error(s, strlen(s), "seed", to);
}

START_TEST(test_moved_and_ask_say_where_to_go)
{
	struct redis_slot_redirect to;

	ck_assert_int_eq(E("MOVED 3999 127.0.0.1:6381", &to),
	    REDIS_SLOT_MOVED);
	ck_assert_uint_eq(to.slot, 3999);
	ck_assert_str_eq(to.host, "127.0.0.1");
	ck_assert_uint_eq(to.port, 6381);
	ck_assert_int_eq(E("ASK 3999 127.0.0.1:6381", &to), REDIS_SLOT_ASK);
	ck_assert_uint_eq(to.slot, 3999);
	ck_assert_str_eq(to.host, "127.0.0.1");
	ck_assert_uint_eq(to.port, 6381);
	ck_assert_int_eq(E("MOVED 0 redis-2.example.net:1", &to),
	    REDIS_SLOT_MOVED);
	ck_assert_uint_eq(to.slot, 0);
	ck_assert_str_eq(to.host, "redis-2.example.net");
	ck_assert_uint_eq(to.port, 1);
	ck_assert_int_eq(E("MOVED 16383 h:65535", &to), REDIS_SLOT_MOVED);
	ck_assert_uint_eq(to.slot, 16383);
	ck_assert_uint_eq(to.port, 65535);
	/* IPv6, bare as Redis writes it, or in brackets. */
	ck_assert_int_eq(E("MOVED 12 ::1:7000", &to), REDIS_SLOT_MOVED);
	ck_assert_str_eq(to.host, "::1");
	ck_assert_uint_eq(to.port, 7000);
	ck_assert_int_eq(E("ASK 12 [2001:db8::5]:7001", &to), REDIS_SLOT_ASK);
	ck_assert_str_eq(to.host, "2001:db8::5");
	ck_assert_uint_eq(to.port, 7001);
	/* An unknown endpoint: the host that answered. */
	ck_assert_int_eq(E("MOVED 5 :7002", &to), REDIS_SLOT_MOVED);
	ck_assert_str_eq(to.host, "seed");
	ck_assert_uint_eq(to.port, 7002);
	ck_assert_int_eq(E("ASK 5 ?:7003", &to), REDIS_SLOT_ASK);
	ck_assert_str_eq(to.host, "seed");
	ck_assert_uint_eq(to.port, 7003);
	/* Only len bytes are read. */
	ck_assert_int_eq(redis_slot_parse_error("MOVED 1 h:12345", 13,
	    "seed", &to), REDIS_SLOT_MOVED);
	ck_assert_uint_eq(to.port, 123);
}
END_TEST

START_TEST(test_busy_cluster_errors_mean_retry)
{
	struct redis_slot_redirect to;

	ck_assert_int_eq(E("TRYAGAIN Multiple keys request during rehashing "
	    "of slot", &to), REDIS_SLOT_RETRY);
	ck_assert_int_eq(E("CLUSTERDOWN The cluster is down", &to),
	    REDIS_SLOT_RETRY);
	ck_assert_int_eq(E("CLUSTERDOWN Hash slot not served", &to),
	    REDIS_SLOT_RETRY);
	ck_assert_int_eq(E("LOADING Redis is loading the dataset in memory",
	    &to), REDIS_SLOT_RETRY);
	ck_assert_int_eq(E("MASTERDOWN Link with MASTER is down and "
	    "replica-serve-stale-data is set to 'no'.", &to),
	    REDIS_SLOT_RETRY);
	ck_assert_int_eq(E("TRYAGAIN", &to), REDIS_SLOT_RETRY);
	/* Words that only begin the same, and other errors. */
	ck_assert_int_eq(E("TRYAGAINX", &to), REDIS_SLOT_ERROR);
	ck_assert_int_eq(E("LOADINGS", &to), REDIS_SLOT_ERROR);
	ck_assert_int_eq(E("ERR unknown command 'FCALL'", &to),
	    REDIS_SLOT_ERROR);
	ck_assert_int_eq(E("CROSSSLOT Keys in request don't hash to the same "
	    "slot", &to), REDIS_SLOT_ERROR);
	ck_assert_int_eq(E("NOSCRIPT No matching script", &to),
	    REDIS_SLOT_ERROR);
	ck_assert_int_eq(E("", &to), REDIS_SLOT_ERROR);
	ck_assert_int_eq(redis_slot_parse_error(NULL, 0, "seed", &to),
	    REDIS_SLOT_ERROR);
}
END_TEST

START_TEST(test_malformed_redirections_are_plain_errors)
{
	static const char *const bad[] = {
		"MOVED", "MOVED ", "MOVED 3999", "MOVED 3999 ",
		"MOVED 3999 127.0.0.1", "MOVED 3999 127.0.0.1:",
		"MOVED 3999 127.0.0.1:0", "MOVED 3999 127.0.0.1:65536",
		"MOVED 3999 127.0.0.1:6381x", "MOVED 3999 127.0.0.1:-1",
		"MOVED 3999 127.0.0.1:+6381", "MOVED 3999 127.0.0.1:1234567",
		"MOVED 16384 127.0.0.1:6381", "MOVED -1 127.0.0.1:6381",
		"MOVED x 127.0.0.1:6381", "MOVED 3999x 127.0.0.1:6381",
		"MOVED  3999 127.0.0.1:6381", "MOVED 3999  127.0.0.1:6381",
		"MOVED 3999 127.0.0.1:6381 ", "MOVED 3999 a b:6381",
		"MOVED 99999999999999999999 127.0.0.1:6381",
		"MOVEDX 3999 127.0.0.1:6381", "moved 3999 127.0.0.1:6381",
		"ASK", "ASK 1", "ASK 1 h", "ASK 1 h:", "ASKING 1 h:2",
		"ASK 1 []:2",
	};
	struct redis_slot_redirect to, before;
	char host[REDIS_SLOT_HOST_SIZE + 32];
	size_t i;

	memset(&to, 0x5a, sizeof(to));
	before = to;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(E(bad[i], &to) == REDIS_SLOT_ERROR,
		    "\"%s\" was taken for a redirection", bad[i]);
		ck_assert_msg(memcmp(&to, &before, sizeof(to)) == 0,
		    "\"%s\" changed the redirection", bad[i]);
	}
	/* A NUL inside, and a host too long. */
	ck_assert_int_eq(redis_slot_parse_error("MOVED 1 a\0b:2", 13, "seed",
	    &to), REDIS_SLOT_ERROR);
	memset(host, 'h', sizeof(host));
	memcpy(host, "MOVED 1 ", 8);
	strcpy(host + 8 + REDIS_SLOT_HOST_SIZE, ":80");
	ck_assert_int_eq(E(host, &to), REDIS_SLOT_ERROR);
	/* With no fallback, an unknown endpoint cannot be followed. */
	ck_assert_int_eq(redis_slot_parse_error("MOVED 5 :7002", 13, NULL,
	    &to), REDIS_SLOT_ERROR);
	ck_assert_int_eq(redis_slot_parse_error("MOVED 5 :7002", 13, "",
	    &to), REDIS_SLOT_ERROR);
}
END_TEST

START_TEST(test_info_says_whether_cluster_mode_is_on)
{
	static const char on[] = "# Cluster\r\ncluster_enabled:1\r\n";
	static const char off[] = "# Server\r\nredis_version:7.0.15\r\n"
	    "\r\n# Cluster\r\ncluster_enabled:0\r\n";
	static const char info[] = "cluster_state:ok\r\n"
	    "cluster_slots_assigned:16384\r\ncluster_known_nodes:6\r\n"
	    "cluster_size:3";
	char v[32];

	ck_assert_int_eq(redis_slot_cluster_enabled(on, strlen(on)), 1);
	ck_assert_int_eq(redis_slot_cluster_enabled(off, strlen(off)), 0);
	ck_assert_int_eq(redis_slot_cluster_enabled("cluster_enabled:1", 17),
	    1);
	ck_assert_int_eq(redis_slot_cluster_enabled("cluster_enabled:1\n",
	    18), 1);
	/* Cut before the value, a longer field name, no such line. */
	ck_assert_int_eq(redis_slot_cluster_enabled("cluster_enabled:1", 16),
	    -1);
	ck_assert_int_eq(redis_slot_cluster_enabled(
	    "xcluster_enabled:1\r\n", 20), -1);
	ck_assert_int_eq(redis_slot_cluster_enabled(
	    "cluster_enabledx:1\r\n", 20), -1);
	ck_assert_int_eq(redis_slot_cluster_enabled("cluster_enabled:2\r\n",
	    19), -1);
	ck_assert_int_eq(redis_slot_cluster_enabled("", 0), -1);
	/* CLUSTER INFO's fields. */
	ck_assert_int_eq(redis_slot_info_field(info, strlen(info),
	    "cluster_state", v, sizeof(v)), 2);
	ck_assert_str_eq(v, "ok");
	ck_assert_int_eq(redis_slot_info_field(info, strlen(info),
	    "cluster_size", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "3");
	ck_assert_int_eq(redis_slot_info_field(info, strlen(info),
	    "cluster_slots", v, sizeof(v)), -1);
	/* A value that does not fit. */
	ck_assert_int_eq(redis_slot_info_field(info, strlen(info),
	    "cluster_slots_assigned", v, 5), -1);
	ck_assert_int_eq(redis_slot_info_field(info, strlen(info),
	    "cluster_slots_assigned", v, 6), 5);
	ck_assert_str_eq(v, "16384");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("redis_slot");
	TCase *tc = tcase_create("redis_slot");

	tcase_add_test(tc,
	    test_crc16_and_slots_match_the_values_redis_documents);
	tcase_add_test(tc, test_hash_tags_follow_redis_rule);
	tcase_add_test(tc, test_every_slot_has_a_short_tag_of_its_own);
	tcase_add_test(tc, test_tags_built_by_racing_threads_are_one_table);
	tcase_add_test(tc, test_cluster_slots_map_each_slot_to_its_master);
	tcase_add_test(tc, test_cluster_slots_unknown_host_is_the_one_asked);
	tcase_add_test(tc, test_malformed_cluster_slots_are_refused);
	tcase_add_test(tc, test_moved_and_ask_say_where_to_go);
	tcase_add_test(tc, test_busy_cluster_errors_mean_retry);
	tcase_add_test(tc, test_malformed_redirections_are_plain_errors);
	tcase_add_test(tc, test_info_says_whether_cluster_mode_is_on);
	suite_add_tcase(s, tc);
	return check_run(s);
}
