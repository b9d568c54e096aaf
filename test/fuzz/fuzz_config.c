/*
 * fuzz_config.c - libFuzzer target for the inboxd.conf(5) parser.
 *
 * The input is a configuration file.  It is parsed over the defaults and
 * checked, and then the parsed settings must still be within the ranges
 * that inboxd.conf(5) documents: whatever the file says, a setting is
 * either refused or inside its range.  A NUL-terminated prefix of the
 * input also goes to config_listen_split, whose answer must put the
 * address back together, and to config_set as a listen value, which must
 * take it exactly when it splits or is a usable unix:/PATH.  See
 * test/fuzz/README.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "util.h"

#define NAME "fuzz.conf"
#define LISTEN_UNIX "unix:" /* listen unix:/PATH */
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* Stop the run with a message: libFuzzer saves the input as a crash. */
#define REQUIRE(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_config: " __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

struct errors {
	int count;
};

/* Every message must name the file, and a line for the parser's own. */
static void
count_error(void *arg, const char *msg)
{
	struct errors *e = arg;

	REQUIRE(strncmp(msg, NAME ":", sizeof(NAME)) == 0,
	    "error without FILE: prefix: %s", msg);
	REQUIRE(strlen(msg) < 512, "error message longer than its buffer");
	e->count++;
}

static void
require_string(const char *s, size_t size, const char *what)
{
	REQUIRE(memchr(s, '\0', size) != NULL, "%s is not NUL-terminated",
	    what);
}

/*
 * Whether spec is a listen unix:/PATH that the daemon can bind: an
 * absolute path that fits sun_path with its NUL (unix(7)).
 */
static bool
listen_unix_ok(const char *spec)
{
	const char *path = spec + strlen(LISTEN_UNIX);

	return path[0] == '/' && strlen(path) < SUN_PATH_SIZE;
}

/*
 * A listen value is either an address that splits or unix:/PATH, never
 * both: http.c takes anything that starts with unix: for a path.
 */
static void
check_listen(const char *spec)
{
	char host[64], port[8];

	if (strncmp(spec, LISTEN_UNIX, strlen(LISTEN_UNIX)) == 0) {
		REQUIRE(listen_unix_ok(spec), "listen `%s' was accepted but "
		    "is not an absolute path shorter than %zu bytes", spec,
		    SUN_PATH_SIZE);
		REQUIRE(config_listen_split(spec, host, port) == -1,
		    "listen `%s' splits as an address too", spec);
	} else
		REQUIRE(config_listen_split(spec, host, port) == 0,
		    "listen `%s' was accepted but does not split", spec);
}

/* The settings must lie in the ranges of config.c's keyword table. */
static void
check_ranges(const struct config *c)
{
	unsigned i;

	require_string(c->listen, sizeof(c->listen), "listen");
	check_listen(c->listen);
	REQUIRE(c->threads <= 256, "threads %u", c->threads);
	REQUIRE(c->connection_limit >= 1 && c->connection_limit <= 1000000,
	    "connection-limit %u", c->connection_limit);
	REQUIRE(c->per_ip_connection_limit <= 1000000,
	    "per-ip-connection-limit %u", c->per_ip_connection_limit);
	REQUIRE(c->connection_timeout_ms >= 1000 &&
	    c->connection_timeout_ms % 1000 == 0 &&
	    c->connection_timeout_ms <= 86400000ULL, "connection-timeout");
	REQUIRE(c->default_wait_ms % 1000 == 0 &&
	    c->default_wait_ms <= 86400000ULL, "default-wait");
	REQUIRE(c->max_wait_ms % 1000 == 0 && c->max_wait_ms <= 86400000ULL,
	    "max-wait");
	REQUIRE(c->inbox_timeout_ms >= 1000 &&
	    c->inbox_timeout_ms % 1000 == 0 &&
	    c->inbox_timeout_ms <= 30 * 86400000ULL, "inbox-timeout");
	REQUIRE(c->message_timeout_ms >= 1000 &&
	    c->message_timeout_ms % 1000 == 0 &&
	    c->message_timeout_ms <= 30 * 86400000ULL, "message-timeout");
	REQUIRE(c->max_message_size >= 1 &&
	    c->max_message_size <= 1024ULL * 1024 * 1024, "max-message-size");
	REQUIRE(c->max_messages >= 1 && c->max_messages <= 1000000000,
	    "max-messages");
	REQUIRE(c->max_inbox_bytes >= 1 &&
	    c->max_inbox_bytes <= 1024ULL * 1024 * 1024 * 1024,
	    "max-inbox-bytes");
	REQUIRE(c->max_inboxes >= 1 && c->max_inboxes <= 1000000000,
	    "max-inboxes");
	REQUIRE(c->max_memory >= 1 &&
	    c->max_memory <= 1024ULL * 1024 * 1024 * 1024, "max-memory");
	REQUIRE(c->auth_failures_per_minute <= 1000000,
	    "auth-failures-per-minute");
	REQUIRE(c->min_password_length >= 1 && c->min_password_length <= 1024,
	    "min-password-length");
	REQUIRE(c->argon2_time_cost >= 1 && c->argon2_time_cost <= 100,
	    "argon2-time-cost");
	REQUIRE(c->argon2_memory_kib >= 8 &&
	    c->argon2_memory_kib <= 4 * 1024 * 1024, "argon2-memory-kib");
	REQUIRE(c->argon2_parallelism >= 1 && c->argon2_parallelism <= 64,
	    "argon2-parallelism");
	REQUIRE(c->argon2_max_concurrent <= 256, "argon2-max-concurrent");
	REQUIRE(c->log_format == LOG_FORMAT_TEXT ||
	    c->log_format == LOG_FORMAT_JSON, "log-format");

	REQUIRE(c->n_proxies <= CONFIG_MAX_PROXIES, "%u proxies", c->n_proxies);
	for (i = 0; i < c->n_proxies; i++) {
		const struct cidr *p = &c->proxies[i];

		REQUIRE(p->prefix <= 128, "proxy prefix %u", p->prefix);
		REQUIRE(!addr_is_v4(&p->net) || p->prefix >= 96,
		    "IPv4 proxy with mapped prefix %u", p->prefix);
		REQUIRE(cidr_match(p, &p->net),
		    "a range misses its own address");
	}
	REQUIRE(c->n_origins <= CONFIG_MAX_ORIGINS, "%u origins", c->n_origins);
	for (i = 0; i < c->n_origins; i++) {
		const char *o = c->origins[i];

		REQUIRE(o != NULL, "origin %u is NULL", i);
		REQUIRE(strncmp(o, "http://", 7) == 0 ||
		    strncmp(o, "https://", 8) == 0, "origin `%s'", o);
		REQUIRE(strpbrk(o, " \t") == NULL,
		    "origin `%s' holds a blank", o);
	}
	require_string(c->tls_cert, sizeof(c->tls_cert), "tls-cert");
	require_string(c->tls_key, sizeof(c->tls_key), "tls-key");
	require_string(c->log_file, sizeof(c->log_file), "log-file");
	REQUIRE(c->tls_cert[0] == '\0' || c->tls_cert[0] == '/', "tls-cert");
	REQUIRE(c->tls_key[0] == '\0' || c->tls_key[0] == '/', "tls-key");
	REQUIRE(c->log_file[0] == '\0' || c->log_file[0] == '/', "log-file");
}

/*
 * The input up to its first NUL as a listen value: config_set (what -l
 * does) takes it exactly when it is a usable unix:/PATH or splits, and
 * keeps it as given; a split address must put the spec back together
 * exactly.
 */
static void
check_listen_split(const uint8_t *data, size_t size)
{
	char spec[300], host[64], port[8], again[300];
	unsigned char buf[sizeof(struct in6_addr)];
	struct config c;
	uint64_t v;
	size_t n = size < sizeof(spec) - 1 ? size : sizeof(spec) - 1;
	const uint8_t *nul = memchr(data, '\0', n);
	bool is_unix, split, want, set;

	if (nul != NULL)
		n = (size_t)(nul - data);
	memcpy(spec, data, n);
	spec[n] = '\0';
	/* Poison the outputs: a success must have written both. */
	memset(host, 'H', sizeof(host));
	memset(port, 'P', sizeof(port));
	split = config_listen_split(spec, host, port) == 0;
	is_unix = strncmp(spec, LISTEN_UNIX, strlen(LISTEN_UNIX)) == 0;
	REQUIRE(!is_unix || !split, "`%s' splits as an address", spec);
	want = is_unix ? listen_unix_ok(spec) : split;

	config_defaults(&c);
	set = config_set(&c, "-l", "listen", spec, NULL, NULL) == 0;
	REQUIRE(set == want, "listen `%s' %s by config_set", spec,
	    set ? "taken" : "refused");
	REQUIRE(!set || strcmp(c.listen, spec) == 0,
	    "listen `%s' kept as `%s'", spec, c.listen);
	if (set)
		check_listen(c.listen);
	config_free(&c);
	if (!split)
		return;
	require_string(host, sizeof(host), "host");
	require_string(port, sizeof(port), "port");
	REQUIRE(parse_uint(port, 65535, &v) == 0, "port `%s'", port);
	if (spec[0] == '[') {
		REQUIRE(inet_pton(AF_INET6, host, buf) == 1, "host `%s'", host);
		snprintf(again, sizeof(again), "[%s]:%s", host, port);
	} else {
		REQUIRE(inet_pton(AF_INET, host, buf) == 1, "host `%s'", host);
		snprintf(again, sizeof(again), "%s:%s", host, port);
	}
	REQUIRE(strcmp(again, spec) == 0, "`%s' split into `%s' and `%s'",
	    spec, host, port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two configs parsed from the same text must be equal. */
static void
check_same(const struct config *a, const struct config *b)
{
	struct config x, y;
	unsigned i;

	memcpy(&x, a, sizeof(x)); /* padding too: both began memset */
	memcpy(&y, b, sizeof(y));

	REQUIRE(a->n_origins == b->n_origins, "origins differ");
	for (i = 0; i < a->n_origins; i++)
		REQUIRE(strcmp(a->origins[i], b->origins[i]) == 0,
		    "origin %u differs", i);
	memset(x.origins, 0, sizeof(x.origins));
	memset(y.origins, 0, sizeof(y.origins));
	REQUIRE(memcmp(&x, &y, sizeof(x)) == 0,
	    "a second parse of the same text gave other settings");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, again;
	struct errors e = { 0 };
	int n, parse_errors;

	config_defaults(&c);
	parse_errors = config_parse(&c, NAME, (const char *)data, size,
	    count_error, &e);
	REQUIRE(parse_errors == e.count,
	    "config_parse counted %d errors, reported %d", parse_errors,
	    e.count);
	REQUIRE(parse_errors >= 0, "negative error count");
	check_ranges(&c);
	e.count = 0;
	n = config_check(&c, NAME, count_error, &e);
	REQUIRE(n == e.count, "config_check counted %d errors, reported %d",
	    n, e.count);
	if (n == 0) {
		/* What config_check promises for a config it passes. */
		REQUIRE(c.default_wait_ms <= c.max_wait_ms, "default-wait");
		REQUIRE(c.max_message_size <= c.max_inbox_bytes,
		    "max-message-size");
		REQUIRE(c.max_inbox_bytes <= c.max_memory, "max-inbox-bytes");
		REQUIRE((c.tls_cert[0] == '\0') == (c.tls_key[0] == '\0'),
		    "tls pair");
	}

	/* Without a callback the errors are counted all the same. */
	config_defaults(&again);
	REQUIRE(config_parse(&again, NAME, (const char *)data, size, NULL,
	    NULL) == parse_errors, "error count depends on the callback");
	check_same(&c, &again);
	config_free(&again);
	config_free(&c);
	REQUIRE(c.n_origins == 0, "config_free left origins behind");

	check_listen_split(data, size);
	return 0;
}
