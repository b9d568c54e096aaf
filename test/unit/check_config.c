/*
 * check_config.c - defaults, the `keyword value' parser and its errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "check_run.h"
#include "config.h"
#include "jwt.h"
#include "jwt_keys.h"

static struct config c;
static char errors[4096];
static int nerrors;

static void
collect(void *arg, const char *msg)
{
	(void)arg;
	nerrors++;
	strncat(errors, msg, sizeof(errors) - strlen(errors) - 2);
	strcat(errors, "\n");
}

static void
setup(void)
{
	config_defaults(&c);
	errors[0] = '\0';
	nerrors = 0;
}

static void
teardown(void)
{
	config_free(&c);
}

static int
parse(const char *text)
{
	return config_parse(&c, "test.conf", text, strlen(text), collect, NULL);
}

START_TEST(test_defaults_match_the_spec)
{
	ck_assert_str_eq(c.listen, "127.0.0.1:8080");
	ck_assert_uint_eq(c.connection_limit, 10000);
	ck_assert_uint_eq(c.default_wait_ms, 25000);
	ck_assert_uint_eq(c.max_wait_ms, 60000);
	ck_assert_uint_eq(c.inbox_timeout_ms, 60000);
	ck_assert_uint_eq(c.message_timeout_ms, 60000);
	ck_assert_uint_eq(c.max_message_size, 64 * 1024);
	ck_assert_uint_eq(c.max_messages, 100);
	ck_assert_uint_eq(c.max_inbox_bytes, 1024 * 1024);
	ck_assert_uint_eq(c.max_inboxes, 1000000);
	ck_assert_uint_eq(c.max_memory, 256 * 1024 * 1024);
	ck_assert_uint_eq(c.min_password_length, 1);
	ck_assert_uint_eq(c.per_ip_connection_limit, 256);
	ck_assert_uint_eq(c.auth_failures_per_minute, 20);
	ck_assert_uint_eq(c.n_proxies, 0);
	ck_assert_str_eq(c.tls_cert, "");
	ck_assert_uint_eq(c.argon2_time_cost, 2);
	ck_assert_uint_eq(c.argon2_memory_kib, 19456);
	ck_assert_uint_eq(c.argon2_parallelism, 1);
	ck_assert_uint_eq(c.n_origins, 0);
	ck_assert_int_eq(c.log_format, LOG_FORMAT_TEXT);
	ck_assert_uint_eq(c.room_timeout_ms, 7200 * 1000);
	ck_assert_uint_eq(c.room_max_timeout_ms, 86400 * 1000);
	ck_assert_uint_eq(c.max_rooms, 100000);
	ck_assert_uint_eq(c.max_room_members, 32);
	ck_assert_uint_eq(c.max_rooms_per_inbox, 16);
	ck_assert_int_eq(c.store, STORE_KIND_MEMORY);
	ck_assert_str_eq(c.redis_url, "redis://127.0.0.1:6379/0");
	ck_assert_str_eq(c.node_id, "");
	ck_assert_uint_eq(c.lease_timeout_ms, 10000);
	ck_assert_int_eq(config_check(&c, "defaults", collect, NULL), 0);
}
END_TEST

START_TEST(test_shipped_config_equals_the_defaults)
{
	struct config d;
	char path[512];
	const char *dir = getenv("ETCDIR");

	snprintf(path, sizeof(path), "%s/inboxd.conf", dir ? dir : "etc");
	config_defaults(&d);
	ck_assert_int_eq(config_load(&c, path, collect, NULL), 0);
	ck_assert_msg(nerrors == 0, "%s", errors);
	ck_assert_int_eq(memcmp(&c, &d, sizeof(c)), 0);
	config_free(&d);
}
END_TEST

START_TEST(test_values_sizes_and_times_parse)
{
	ck_assert_int_eq(parse("max-message-size 2K\n"
			       "max-memory 1G\n"
			       "max-inbox-bytes 3M\n"
			       "inbox-timeout 5\n"
			       "  max-messages\t7   # trailing comment\n"
			       "\n# a comment line\n"
			       "log-format json\r\n"
			       "listen [::1]:9000\n"
			       "cors-origins https://a.example http://b.example:8000\n"),
	    0);
	ck_assert_uint_eq(c.max_message_size, 2048);
	ck_assert_uint_eq(c.max_memory, 1024ULL * 1024 * 1024);
	ck_assert_uint_eq(c.max_inbox_bytes, 3 * 1024 * 1024);
	ck_assert_uint_eq(c.inbox_timeout_ms, 5000);
	ck_assert_uint_eq(c.max_messages, 7);
	ck_assert_int_eq(c.log_format, LOG_FORMAT_JSON);
	ck_assert_str_eq(c.listen, "[::1]:9000");
	ck_assert_uint_eq(c.n_origins, 2);
	ck_assert_str_eq(c.origins[1], "http://b.example:8000");
}
END_TEST

START_TEST(test_every_error_is_reported_with_file_and_line)
{
	ck_assert_int_eq(parse("max-messages 10\n"
			       "no-such-keyword 1\n"
			       "max-message-size 12Q\n"
			       "inbox-timeout\n"
			       "max-messages -1\n"
			       "max-messages 1x\n"
			       "max-messages 99999999999999999999999\n"
			       "log-format xml\n"
			       "cors-origins ftp://x\n"
			       "connection-limit 0\n"),
	    9);
	ck_assert_int_eq(nerrors, 9);
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:2: unknown keyword"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:3: max-message-size"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:4: inbox-timeout: missing"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:5:"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:6:"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:7:"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:8: log-format"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:9: cors-origins"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:10: connection-limit"));
	/* A good line before the errors still took effect. */
	ck_assert_uint_eq(c.max_messages, 10);
}
END_TEST

START_TEST(test_nul_byte_and_control_characters_are_errors)
{
	static const char text[] = "max-messages 5\0\nlisten a\x01:1\n";

	ck_assert_int_eq(config_parse(&c, "t", text, sizeof(text) - 1, collect,
	    NULL), 2);
	ck_assert_ptr_nonnull(strstr(errors, "t:1: NUL byte"));
	ck_assert_ptr_nonnull(strstr(errors, "t:2: control character"));
}
END_TEST

START_TEST(test_over_long_value_is_refused)
{
	char text[2000];

	strcpy(text, "log-file /");
	memset(text + 10, 'a', 1500);
	strcpy(text + 1510, "\n");
	ck_assert_int_eq(parse(text), 1);
	ck_assert_str_eq(c.log_file, "");
}
END_TEST

START_TEST(test_inconsistent_settings_are_refused)
{
	ck_assert_int_eq(parse("default-wait 90\nmax-wait 60\n"
			       "argon2-parallelism 4\nargon2-memory-kib 16\n"),
	    0);
	ck_assert_int_eq(config_check(&c, "x.conf", collect, NULL), 2);
	ck_assert_ptr_nonnull(strstr(errors, "x.conf: default-wait"));
	ck_assert_ptr_nonnull(strstr(errors, "x.conf: argon2-memory-kib"));
}
END_TEST

START_TEST(test_listen_must_be_a_numeric_address_and_port)
{
	char host[64], port[8];

	ck_assert_int_eq(config_listen_split("127.0.0.1:8080", host, port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_str_eq(port, "8080");
	ck_assert_int_eq(config_listen_split("[::1]:0", host, port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(config_listen_split("0.0.0.0:65535", host, port), 0);
	ck_assert_int_eq(config_listen_split("::1:80", host, port), -1);
	ck_assert_int_eq(config_listen_split("localhost:80", host, port), -1);
	ck_assert_int_eq(config_listen_split("127.0.0.1", host, port), -1);
	ck_assert_int_eq(config_listen_split("127.0.0.1:65536", host, port),
	    -1);
	ck_assert_int_eq(config_listen_split("127.0.0.1:", host, port), -1);
	ck_assert_int_eq(config_listen_split("[127.0.0.1]:80", host, port), -1);
	ck_assert_int_eq(parse("listen nonsense\n"), 1);
	ck_assert_str_eq(c.listen, "127.0.0.1:8080");
}
END_TEST

START_TEST(test_listen_takes_an_absolute_unix_socket_path)
{
	char fits[5 + 107 + 1], over[5 + 108 + 1];

	ck_assert_int_eq(parse("listen unix:/run/inboxd/inboxd.sock\n"), 0);
	ck_assert_str_eq(c.listen, "unix:/run/inboxd/inboxd.sock");
	ck_assert_int_eq(parse("listen unix:inboxd.sock\n"), 1);
	ck_assert_ptr_nonnull(strstr(errors, "not an absolute path"));
	ck_assert_int_eq(parse("listen unix:\n"), 1);
	ck_assert_str_eq(c.listen, "unix:/run/inboxd/inboxd.sock");
	/* sun_path holds 107 bytes and the NUL (unix(7)). */
	memcpy(fits, "unix:/", 6);
	memset(fits + 6, 'a', 106);
	fits[sizeof(fits) - 1] = '\0';
	memcpy(over, "unix:/", 6);
	memset(over + 6, 'a', 107);
	over[sizeof(over) - 1] = '\0';
	ck_assert_int_eq(config_set(&c, "-l", "listen", fits, collect, NULL),
	    0);
	ck_assert_int_eq(config_set(&c, "-l", "listen", over, collect, NULL),
	    -1);
	ck_assert_ptr_nonnull(strstr(errors, "longer than 107 bytes"));
	ck_assert_str_eq(c.listen, fits);
}
END_TEST

START_TEST(test_star_and_origins_do_not_mix)
{
	ck_assert_int_eq(parse("cors-origins * https://a.example\n"), 1);
	ck_assert_uint_eq(c.n_origins, 0);
	ck_assert_int_eq(parse("cors-origins *\n"), 0);
}
END_TEST

START_TEST(test_trusted_proxies_take_addresses_and_ranges)
{
	struct addr a;

	ck_assert_int_eq(parse("trusted-proxies 127.0.0.1 10.0.0.0/8 ::1 "
			       "fd00::/8\n"), 0);
	ck_assert_uint_eq(c.n_proxies, 4);
	ck_assert_int_eq(addr_parse("10.9.8.7", 8, &a), 0);
	ck_assert(cidr_match(&c.proxies[1], &a));
	ck_assert_int_eq(parse("trusted-proxies 127.0.0.1 nginx\n"), 1);
	ck_assert_ptr_nonnull(strstr(errors, "`nginx'"));
	/* The failed line changed nothing. */
	ck_assert_uint_eq(c.n_proxies, 4);
}
END_TEST

START_TEST(test_tls_cert_and_key_go_together)
{
	ck_assert_int_eq(parse("tls-cert /etc/inboxd/cert.pem\n"), 0);
	ck_assert_int_eq(config_check(&c, "t.conf", collect, NULL), 1);
	ck_assert_ptr_nonnull(strstr(errors, "tls-cert and tls-key"));
	ck_assert_int_eq(parse("tls-key /etc/inboxd/key.pem\n"), 0);
	ck_assert_int_eq(config_check(&c, "t.conf", collect, NULL), 0);
}
END_TEST

START_TEST(test_log_file_must_be_absolute)
{
	ck_assert_int_eq(parse("log-file inboxd.log\n"), 1);
	ck_assert_int_eq(parse("log-file /var/log/inboxd.log\n"), 0);
	ck_assert_str_eq(c.log_file, "/var/log/inboxd.log");
}
END_TEST

START_TEST(test_flag_override_names_the_flag)
{
	ck_assert_int_eq(config_set(&c, "-l", "listen", "127.0.0.1:0", collect,
	    NULL), 0);
	ck_assert_str_eq(c.listen, "127.0.0.1:0");
	ck_assert_int_eq(config_set(&c, "-l", "listen", "", collect, NULL), -1);
	ck_assert_ptr_nonnull(strstr(errors, "-l: listen: missing value"));
}
END_TEST

START_TEST(test_room_limits_and_their_bounds)
{
	ck_assert_int_eq(parse("room-timeout 60\nmax-room-members 1024\n"
	    "max-rooms 0\nmax-rooms-per-inbox 0\n"), 0);
	ck_assert_uint_eq(c.room_timeout_ms, 60000);
	ck_assert_uint_eq(c.max_room_members, 1024);
	ck_assert_int_eq(parse("max-room-members 1025\nmax-room-members 0\n"
	    "room-timeout 0\n"), 3);
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:1: "));
	ck_assert_int_eq(parse("room-timeout 90000\n"), 0);
	ck_assert_int_eq(config_check(&c, "t.conf", collect, NULL), 1);
	ck_assert_ptr_nonnull(strstr(errors, "room-timeout (90000) exceeds "
	    "room-max-timeout (86400)"));
}
END_TEST

START_TEST(test_redis_url_forms)
{
	char host[256], path[108];
	unsigned port, db;

	ck_assert_int_eq(config_redis_url("redis://10.0.0.5", host, &port,
	    &db, path), 0);
	ck_assert_str_eq(host, "10.0.0.5");
	ck_assert_uint_eq(port, 6379);
	ck_assert_uint_eq(db, 0);
	ck_assert_int_eq(config_redis_url("redis://cache.local:7000/3", host,
	    &port, &db, path), 0);
	ck_assert_str_eq(host, "cache.local");
	ck_assert_uint_eq(port, 7000);
	ck_assert_uint_eq(db, 3);
	ck_assert_int_eq(config_redis_url("unix:/run/redis/redis.sock", host,
	    &port, &db, path), 0);
	ck_assert_str_eq(path, "/run/redis/redis.sock");
	ck_assert_str_eq(host, "");
	ck_assert_int_eq(parse("store redis\nredis-url unix:/tmp/r.sock\n"
	    "node-id node-1.a_b\nredis-password x y\nlease-timeout 2\n"), 0);
	ck_assert_int_eq(c.store, STORE_KIND_REDIS);
	ck_assert_str_eq(c.node_id, "node-1.a_b");
	ck_assert_str_eq(c.redis_password, "x y");
	ck_assert_uint_eq(c.lease_timeout_ms, 2000);
	ck_assert_int_eq(parse("store disk\nredis-url http://h\n"
	    "redis-url redis://h:0\nredis-url redis://h/16\n"
	    "redis-url redis://:1\nredis-url redis://u@h\n"
	    "redis-url unix:rel\nnode-id a/b\nlease-timeout 0\n"), 9);
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:9: "));
}
END_TEST

START_TEST(test_redis_url_takes_several_seeds)
{
	struct redis_addr a[REDIS_SEEDS_MAX];
	char why[256];
	unsigned db = 9;

	/* Spaces, as SPEC section 8 writes them. */
	ck_assert_int_eq(config_redis_seeds("redis://10.0.0.1:7000 "
	    "redis://10.0.0.2:7001\tunix:/run/r.sock", a, REDIS_SEEDS_MAX,
	    &db, why, sizeof(why)), 3);
	ck_assert_str_eq(a[0].host, "10.0.0.1");
	ck_assert_uint_eq(a[0].port, 7000);
	ck_assert_str_eq(a[1].host, "10.0.0.2");
	ck_assert_uint_eq(a[1].port, 7001);
	ck_assert_str_eq(a[2].path, "/run/r.sock");
	ck_assert_uint_eq(db, 0);
	/* Commas, and hosts after the first scheme take it too. */
	ck_assert_int_eq(config_redis_seeds("redis://h1:7000,h2:7001, h3",
	    a, REDIS_SEEDS_MAX, &db, why, sizeof(why)), 3);
	ck_assert_str_eq(a[1].host, "h2");
	ck_assert_uint_eq(a[1].port, 7001);
	ck_assert_str_eq(a[2].host, "h3");
	ck_assert_uint_eq(a[2].port, 6379);
	ck_assert_int_eq(config_redis_seeds("redis://h/2 redis://g/2", a,
	    REDIS_SEEDS_MAX, &db, why, sizeof(why)), 2);
	ck_assert_uint_eq(db, 2);
	/* Every seed of one store names the same DB. */
	ck_assert_int_eq(config_redis_seeds("redis://h/1 redis://g/2", a,
	    REDIS_SEEDS_MAX, &db, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "`redis://g/2' names DB 2"));
	ck_assert_int_eq(config_redis_seeds("redis://h h:0", a,
	    REDIS_SEEDS_MAX, &db, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "`h:0' is not"));
	ck_assert_int_eq(config_redis_seeds(" , ", a, REDIS_SEEDS_MAX, &db,
	    why, sizeof(why)), -1);
	ck_assert_int_eq(config_redis_seeds("unix:/a h:1", a,
	    REDIS_SEEDS_MAX, &db, why, sizeof(why)), -1);
	ck_assert_int_eq(config_redis_seeds("redis://a redis://b redis://c",
	    a, 2, &db, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "more than 2 addresses"));
	/* In a file: each error at its line, and the good ones kept. */
	ck_assert_int_eq(parse("redis-url redis://a:1 redis://b:2\n"
	    "redis-url redis://a:1 redis://b:0\n"
	    "redis-url redis://a/1,b/3\n"
	    "redis-wait-replicas 2\nredis-wait-replicas 65\n"), 3);
	ck_assert_str_eq(c.redis_url, "redis://a:1 redis://b:2");
	ck_assert_uint_eq(c.redis_wait_replicas, 2);
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:2: redis-url: "
	    "`redis://b:0' is not"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:3: redis-url: "
	    "`b/3' names DB 3"));
	ck_assert_ptr_nonnull(strstr(errors, "test.conf:5: "
	    "redis-wait-replicas"));
}
END_TEST

START_TEST(test_missing_file_is_one_error)
{
	ck_assert_int_eq(config_load(&c, "/nonexistent/inboxd.conf", collect,
	    NULL), 1);
	ck_assert_ptr_nonnull(strstr(errors, "/nonexistent/inboxd.conf: "));
}
END_TEST

/* Write text to a fresh file of a fresh directory; its path (static). */
static const char *
key_file(const char *name, const char *text)
{
	static char paths[4][300];
	static unsigned slot;
	char *p = paths[slot++ % 4], dir[256];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/check_config.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(p, 300, "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return p;
}

/* Remove what key_file made. */
static void
key_file_remove(const char *path)
{
	char dir[300];

	snprintf(dir, sizeof(dir), "%s", path);
	unlink(path);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

START_TEST(test_jwt_keywords_and_their_defaults)
{
	const char *rsa = key_file("rsa.pub", TEST_RSA_PUB);
	const char *ec = key_file("ec.pub", TEST_EC_PUB);
	char text[1024];

	ck_assert_ptr_null(c.jwt_key);
	ck_assert_str_eq(c.jwt_key_file, "");
	ck_assert_str_eq(c.jwt_claim, "sub");
	ck_assert_str_eq(c.jwt_issuer, "");
	ck_assert_str_eq(c.jwt_audience, "");
	ck_assert(!c.jwt_required);
	ck_assert(!c.rooms_require_jwt);
	ck_assert_uint_eq(c.jwt_leeway_ms, 30000);
	snprintf(text, sizeof(text), "jwt-key %s\njwt-claim email\n"
	    "jwt-issuer https://idp.example/pool\njwt-audience app 1\n"
	    "jwt-required yes\nrooms-require-jwt yes\njwt-leeway 0\n", rsa);
	ck_assert_int_eq(parse(text), 0);
	ck_assert_msg(nerrors == 0, "%s", errors);
	ck_assert_ptr_nonnull(c.jwt_key);
	ck_assert_str_eq(jwt_key_alg(c.jwt_key), "RS256");
	ck_assert_str_eq(c.jwt_key_file, rsa);
	ck_assert_str_eq(c.jwt_claim, "email");
	ck_assert_str_eq(c.jwt_issuer, "https://idp.example/pool");
	ck_assert_str_eq(c.jwt_audience, "app 1");
	ck_assert(c.jwt_required);
	ck_assert(c.rooms_require_jwt);
	ck_assert_uint_eq(c.jwt_leeway_ms, 0);
	ck_assert_int_eq(config_check(&c, "test.conf", collect, NULL), 0);
	/* A later jwt-key replaces the earlier (which is freed). */
	snprintf(text, sizeof(text), "jwt-key %s\njwt-required no\n"
	    "jwt-leeway 3600\n", ec);
	ck_assert_int_eq(parse(text), 0);
	ck_assert_str_eq(jwt_key_alg(c.jwt_key), "ES256");
	ck_assert(!c.jwt_required);
	ck_assert_uint_eq(c.jwt_leeway_ms, 3600 * 1000);
	key_file_remove(rsa);
	key_file_remove(ec);
}
END_TEST

START_TEST(test_jwt_errors_name_file_and_line)
{
	const char *short_secret = key_file("hs",
	    "0123456789012345678901234567890\n"); /* 31 bytes */
	const char *priv = key_file("rsa.pem", TEST_RSA_PEM);
	char text[2048], claim[300];

	memset(claim, 'c', 256);
	claim[256] = '\0';
	snprintf(text, sizeof(text),
	    "jwt-required maybe\n"
	    "rooms-require-jwt 1\n"
	    "jwt-leeway 3601\n"
	    "jwt-key relative/key.pem\n"
	    "jwt-key /nonexistent/key.pem\n"
	    "jwt-key %s\n"
	    "jwt-key %s\n"
	    "jwt-claim %s\n"
	    "jwt-leeway -1\n", short_secret, priv, claim);
	ck_assert_int_eq(parse(text), 9);
	ck_assert_msg(strstr(errors, "test.conf:1: jwt-required: `maybe' is "
	    "not `yes' or `no'\n") != NULL, "%s", errors);
	ck_assert_msg(strstr(errors, "test.conf:2: rooms-require-jwt: `1' is "
	    "not `yes' or `no'\n") != NULL, "%s", errors);
	ck_assert_msg(strstr(errors, "test.conf:3: jwt-leeway: `3601' is not "
	    "a whole number from 0 to 3600 (seconds)\n") != NULL, "%s",
	    errors);
	ck_assert_msg(strstr(errors, "test.conf:4: jwt-key: `relative/key.pem'"
	    " is not an absolute path") != NULL, "%s", errors);
	ck_assert_msg(strstr(errors, "test.conf:5: jwt-key: /nonexistent/"
	    "key.pem: No such file or directory\n") != NULL, "%s", errors);
	ck_assert_msg(strstr(errors, "test.conf:6: jwt-key: ") != NULL &&
	    strstr(errors, "an HS256 secret of 31 bytes; it takes 32 or more")
	    != NULL, "%s", errors);
	ck_assert_msg(strstr(errors, "test.conf:7: jwt-key: ") != NULL &&
	    strstr(errors, "it holds a private key") != NULL, "%s", errors);
	ck_assert_msg(strstr(errors, "test.conf:8: jwt-claim: longer than 255 "
	    "bytes\n") != NULL, "%s", errors);
	ck_assert_msg(strstr(errors, "test.conf:9: jwt-leeway: ") != NULL,
	    "%s", errors);
	/* Nothing was taken from the lines in error. */
	ck_assert_ptr_null(c.jwt_key);
	ck_assert(!c.jwt_required);
	ck_assert_uint_eq(c.jwt_leeway_ms, 30000);
	ck_assert_str_eq(c.jwt_claim, "sub");
	key_file_remove(short_secret);
	key_file_remove(priv);
}
END_TEST

START_TEST(test_jwt_required_and_rooms_require_jwt_need_a_key)
{
	ck_assert_int_eq(parse("jwt-required yes\n"), 0);
	ck_assert_int_eq(config_check(&c, "test.conf", collect, NULL), 1);
	ck_assert_msg(strstr(errors, "test.conf: jwt-required needs jwt-key")
	    != NULL, "%s", errors);
	config_free(&c);
	setup();
	ck_assert_int_eq(parse("rooms-require-jwt yes\n"), 0);
	ck_assert_int_eq(config_check(&c, "test.conf", collect, NULL), 1);
	ck_assert_msg(strstr(errors, "test.conf: rooms-require-jwt needs "
	    "jwt-key") != NULL, "%s", errors);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults_match_the_spec);
	tcase_add_test(tc, test_shipped_config_equals_the_defaults);
	tcase_add_test(tc, test_values_sizes_and_times_parse);
	tcase_add_test(tc, test_every_error_is_reported_with_file_and_line);
	tcase_add_test(tc, test_nul_byte_and_control_characters_are_errors);
	tcase_add_test(tc, test_over_long_value_is_refused);
	tcase_add_test(tc, test_inconsistent_settings_are_refused);
	tcase_add_test(tc, test_listen_must_be_a_numeric_address_and_port);
	tcase_add_test(tc, test_listen_takes_an_absolute_unix_socket_path);
	tcase_add_test(tc, test_star_and_origins_do_not_mix);
	tcase_add_test(tc, test_log_file_must_be_absolute);
	tcase_add_test(tc, test_trusted_proxies_take_addresses_and_ranges);
	tcase_add_test(tc, test_tls_cert_and_key_go_together);
	tcase_add_test(tc, test_flag_override_names_the_flag);
	tcase_add_test(tc, test_missing_file_is_one_error);
	tcase_add_test(tc, test_room_limits_and_their_bounds);
	tcase_add_test(tc, test_redis_url_forms);
	tcase_add_test(tc, test_redis_url_takes_several_seeds);
	tcase_add_test(tc, test_jwt_keywords_and_their_defaults);
	tcase_add_test(tc, test_jwt_errors_name_file_and_line);
	tcase_add_test(tc, test_jwt_required_and_rooms_require_jwt_need_a_key);
	suite_add_tcase(s, tc);
	return check_run(s);
}
