/*
 * config.c - defaults and the `keyword value' parser of inboxd.conf(5).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "jwt.h"
#include "store.h"
#include "util.h"

#define LINE_MAX_BYTES 4096
#define LISTEN_UNIX "unix:" /* listen unix:/PATH, a Unix-domain socket */

enum ktype {
	K_UINT, K_SECONDS, K_SIZE, K_LISTEN, K_PATH, K_LOG_FORMAT,
	K_ORIGINS, K_PROXIES, K_METRICS_ALLOW, K_STORE, K_REDIS_URL,
	K_REDIS_PASSWORD, K_NODE_ID, K_URIS, K_SECRET, K_SECRET_FILE,
	K_JWT_KEY, K_STRING, K_BOOL
};

struct keyword {
	const char *name;
	enum ktype type;
	size_t off;
	uint64_t min, max; /* in the file's units: count, seconds, bytes */
	size_t size;       /* K_LISTEN, K_PATH: buffer size */
};

#define U(name, field, min, max) \
	{ name, K_UINT, offsetof(struct config, field), min, max, 0 }
#define S(name, field, min, max) \
	{ name, K_SECONDS, offsetof(struct config, field), min, max, 0 }
#define Z(name, field, min, max) \
	{ name, K_SIZE, offsetof(struct config, field), min, max, 0 }

#define PATH(name, field) \
	{ name, K_PATH, offsetof(struct config, field), 0, 0, \
	    sizeof(((struct config *)0)->field) }

#define STR(name, field) \
	{ name, K_STRING, offsetof(struct config, field), 0, 0, \
	    sizeof(((struct config *)0)->field) }
#define B(name, field) \
	{ name, K_BOOL, offsetof(struct config, field), 0, 0, 0 }

#define DAY 86400
#define GIB (1024ULL * 1024 * 1024)

static const struct keyword keywords[] = {
	{ "listen", K_LISTEN, offsetof(struct config, listen), 0, 0,
	    sizeof(((struct config *)0)->listen) },
	U("threads", threads, 0, 256),
	U("connection-limit", connection_limit, 1, 1000000),
	U("per-ip-connection-limit", per_ip_connection_limit, 0, 1000000),
	S("connection-timeout", connection_timeout_ms, 1, DAY),
	S("default-wait", default_wait_ms, 0, DAY),
	S("max-wait", max_wait_ms, 0, DAY),
	U("max-batch", max_batch, 1, CONFIG_MAX_BATCH),
	S("inbox-timeout", inbox_timeout_ms, 1, 30 * DAY),
	S("message-timeout", message_timeout_ms, 1, 30 * DAY),
	Z("max-message-size", max_message_size, 1, GIB),
	U("max-messages", max_messages, 1, 1000000000),
	Z("max-inbox-bytes", max_inbox_bytes, 1, 2 * GIB),
	U("max-inboxes", max_inboxes, 1, 1000000000),
	Z("max-memory", max_memory, 1, 1024 * GIB),
	U("auth-failures-per-minute", auth_failures_per_minute, 0, 1000000),
	{ "trusted-proxies", K_PROXIES, 0, 0, 0, 0 },
	U("min-password-length", min_password_length, 1, 1024),
	U("argon2-time-cost", argon2_time_cost, 1, 100),
	U("argon2-memory-kib", argon2_memory_kib, 8, 4 * 1024 * 1024),
	U("argon2-parallelism", argon2_parallelism, 1, 64),
	U("argon2-max-concurrent", argon2_max_concurrent, 0, 256),
	{ "cors-origins", K_ORIGINS, 0, 0, 0, 0 },
	U("pin-digits", pin_digits, 4, 9),
	S("pin-timeout", pin_timeout_ms, 1, DAY),
	S("room-timeout", room_timeout_ms, 1, 365 * DAY),
	S("room-max-timeout", room_max_timeout_ms, 1, 365 * DAY),
	U("max-rooms", max_rooms, 0, 1000000000),
	U("max-room-members", max_room_members, 1, ROOM_MEMBERS_MAX),
	U("max-rooms-per-inbox", max_rooms_per_inbox, 0, 65535),
	{ "metrics-allow", K_METRICS_ALLOW, 0, 0, 0, 0 },
	PATH("tls-cert", tls_cert),
	PATH("tls-key", tls_key),
	{ "log-format", K_LOG_FORMAT, 0, 0, 0, 0 },
	PATH("log-file", log_file),
	{ "store", K_STORE, 0, 0, 0, 0 },
	{ "redis-url", K_REDIS_URL, offsetof(struct config, redis_url), 0, 0,
	    sizeof(((struct config *)0)->redis_url) },
	{ "redis-password", K_REDIS_PASSWORD,
	    offsetof(struct config, redis_password), 0, 0,
	    sizeof(((struct config *)0)->redis_password) },
	{ "node-id", K_NODE_ID, offsetof(struct config, node_id), 0, 0,
	    sizeof(((struct config *)0)->node_id) },
	S("lease-timeout", lease_timeout_ms, 1, 3600),
	U("redis-wait-replicas", redis_wait_replicas, 0, 64),
	{ "stun-uris", K_URIS, offsetof(struct config, stun_uris), 0, 0,
	    sizeof(((struct config *)0)->stun_uris) },
	{ "turn-uris", K_URIS, offsetof(struct config, turn_uris), 0, 0,
	    sizeof(((struct config *)0)->turn_uris) },
	{ "turn-secret", K_SECRET, offsetof(struct config, turn_secret), 0, 0,
	    sizeof(((struct config *)0)->turn_secret) },
	{ "turn-secret-file", K_SECRET_FILE,
	    offsetof(struct config, turn_secret), 0, 0,
	    sizeof(((struct config *)0)->turn_secret) },
	S("turn-ttl", turn_ttl_ms, 60, 7 * DAY),
	{ "jwt-key", K_JWT_KEY, offsetof(struct config, jwt_key_file), 0, 0,
	    sizeof(((struct config *)0)->jwt_key_file) },
	STR("jwt-claim", jwt_claim),
	STR("jwt-issuer", jwt_issuer),
	STR("jwt-audience", jwt_audience),
	B("jwt-required", jwt_required),
	B("rooms-require-jwt", rooms_require_jwt),
	S("jwt-leeway", jwt_leeway_ms, 0, 3600),
};

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->listen, "127.0.0.1:8080");
	c->threads = 0;
	c->connection_limit = 10000;
	c->per_ip_connection_limit = 256;
	c->connection_timeout_ms = 30 * 1000;
	c->default_wait_ms = 25 * 1000;
	c->max_wait_ms = 60 * 1000;
	c->max_batch = 32;
	c->turn_ttl_ms = 3600 * 1000;
	c->inbox_timeout_ms = 60 * 1000;
	c->message_timeout_ms = 60 * 1000;
	c->max_message_size = 64 * 1024;
	c->max_messages = 100;
	c->max_inbox_bytes = 1024 * 1024;
	c->max_inboxes = 1000000;
	c->max_memory = 256 * 1024 * 1024;
	c->auth_failures_per_minute = 20;
	c->pin_digits = 6;
	c->pin_timeout_ms = 60 * 1000;
	c->room_timeout_ms = 7200 * 1000;
	c->room_max_timeout_ms = DAY * 1000;
	c->max_rooms = 100000;
	c->max_room_members = 32;
	c->max_rooms_per_inbox = 16;
	cidr_parse("127.0.0.0/8", &c->metrics_allow[0]);
	cidr_parse("::1", &c->metrics_allow[1]);
	c->n_metrics_allow = 2;
	c->n_proxies = 0;
	c->min_password_length = 1;
	c->argon2_time_cost = 2;
	c->argon2_memory_kib = 19456;
	c->argon2_parallelism = 1;
	c->argon2_max_concurrent = 0;
	c->n_origins = 0;
	c->log_format = LOG_FORMAT_TEXT;
	c->log_file[0] = '\0';
	c->store = STORE_KIND_MEMORY;
	strcpy(c->redis_url, "redis://127.0.0.1:6379/0");
	c->lease_timeout_ms = 10 * 1000;
	strcpy(c->jwt_claim, "sub");
	c->jwt_leeway_ms = 30 * 1000;
}

int
config_redis_url(const char *url, char host[256], unsigned *port,
    unsigned *db, char path[108])
{
	const char *p, *colon, *slash;
	uint64_t v;
	char num[16];
	size_t n;

	*db = 0;
	*port = 6379;
	host[0] = path[0] = '\0';
	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/' || strlen(url + 5) >= 108)
			return -1;
		strcpy(path, url + 5);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	p = url + 8;
	slash = strchr(p, '/');
	colon = strchr(p, ':');
	if (colon != NULL && slash != NULL && colon > slash)
		colon = NULL;
	n = colon != NULL ? (size_t)(colon - p) :
	    slash != NULL ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || n >= 256 || memchr(p, '@', n) != NULL)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	if (colon != NULL) {
		n = slash != NULL ? (size_t)(slash - colon - 1) :
		    strlen(colon + 1);
		if (n == 0 || n >= sizeof(num))
			return -1;
		memcpy(num, colon + 1, n);
		num[n] = '\0';
		if (parse_uint(num, 65535, &v) == -1 || v == 0)
			return -1;
		*port = (unsigned)v;
	}
	if (slash != NULL) {
		if (parse_uint(slash + 1, 15, &v) == -1)
			return -1;
		*db = (unsigned)v;
	}
	return 0;
}

int
config_redis_seeds(const char *value, struct redis_addr *seeds, size_t max,
    unsigned *db, char *why, size_t len)
{
	static const char sep[] = " \t,";
	char item[1024], url[1040];
	const char *p = value;
	size_t n, count = 0;
	unsigned d;
	bool tcp = false;

	for (;;) {
		p += strspn(p, sep);
		if (*p == '\0')
			break;
		n = strcspn(p, sep);
		if (n >= sizeof(item)) {
			snprintf(why, len, "an address longer than %zu bytes",
			    sizeof(item) - 1);
			return -1;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		/* HOST:PORT after redis://...: the same scheme. */
		snprintf(url, sizeof(url), "%s%s", tcp && strstr(item, "://") ==
		    NULL && strncmp(item, "unix:", 5) != 0 ? "redis://" : "",
		    item);
		if (count == max) {
			snprintf(why, len, "more than %zu addresses", max);
			return -1;
		}
		if (config_redis_url(url, seeds[count].host,
		    &seeds[count].port, &d, seeds[count].path) == -1) {
			snprintf(why, len, "`%s' is not redis://HOST[:PORT][/DB] "
			    "(DB 0 to 15) or unix:/PATH", item);
			return -1;
		}
		if (count > 0 && d != *db) {
			snprintf(why, len, "`%s' names DB %u, an earlier "
			    "address DB %u", item, d, *db);
			return -1;
		}
		*db = d;
		tcp = strncmp(url, "redis://", 8) == 0;
		count++;
	}
	if (count == 0) {
		snprintf(why, len, "no address");
		return -1;
	}
	return (int)count;
}

static void
free_origins(struct config *c)
{
	unsigned i;

	for (i = 0; i < c->n_origins; i++)
		free(c->origins[i]);
	c->n_origins = 0;
}

void
config_free(struct config *c)
{
	free_origins(c);
	jwt_key_free(c->jwt_key);
	c->jwt_key = NULL;
}

static void
report(config_error_fn *err, void *arg, const char *where, const char *fmt,
    ...)
{
	char msg[512];
	int n;
	va_list ap;

	if (err == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "%s: ", where);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	err(arg, msg);
}

/*
 * stun-uris, turn-uris: URIs separated by blanks, each of the scheme the
 * keyword names, with or without the s of TLS (RFC 7064, RFC 7065).
 */
static int
set_uris(const struct keyword *k, char *field, const char *where,
    const char *value, config_error_fn *err, void *arg)
{
	const char *scheme = k->name[0] == 's' ? "stun" : "turn", *p = value;
	size_t n, len = strlen(scheme);

	if (strlen(value) >= k->size) {
		report(err, arg, where, "%s: longer than %zu bytes", k->name,
		    k->size - 1);
		return -1;
	}
	while (*(p += strspn(p, " \t")) != '\0') {
		n = strcspn(p, " \t");
		if (strncmp(p, scheme, len) != 0 ||
		    (p[len] != ':' && (p[len] != 's' || p[len + 1] != ':')) ||
		    n <= len + 1 + (p[len] == 's')) {
			report(err, arg, where, "%s: `%.*s' is not a %s: or "
			    "%ss: URI", k->name, (int)n, p, scheme, scheme);
			return -1;
		}
		p += n;
	}
	strcpy(field, value);
	return 0;
}

/*
 * turn-secret-file: the secret is the file's first line, without its
 * newline, so that it need not stand in the configuration.
 */
static int
read_secret(const struct keyword *k, char *field, const char *where,
    const char *path, config_error_fn *err, void *arg)
{
	char buf[1025];
	size_t n;
	FILE *f;

	if (path[0] != '/') {
		report(err, arg, where, "%s: `%s' is not an absolute path",
		    k->name, path);
		return -1;
	}
	if ((f = fopen(path, "r")) == NULL) {
		report(err, arg, where, "%s: %s: %s", k->name, path,
		    strerror(errno));
		return -1;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0 || n >= k->size) {
		report(err, arg, where, "%s: %s: the first line must hold 1 "
		    "to %zu bytes", k->name, path, k->size - 1);
		wipe(buf, sizeof(buf));
		return -1;
	}
	memcpy(field, buf, n + 1);
	wipe(buf, sizeof(buf));
	return 0;
}

static int
set_origins(struct config *c, const char *where, const char *value,
    config_error_fn *err, void *arg)
{
	char buf[LINE_MAX_BYTES], *tok, *save = NULL;
	struct config tmp;

	tmp.n_origins = 0;
	if (strlen(value) >= sizeof(buf)) {
		report(err, arg, where, "cors-origins: list too long");
		return -1;
	}
	strcpy(buf, value);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (strcmp(tok, "*") == 0) {
			if (strcmp(value, "*") != 0) {
				report(err, arg, where, "cors-origins: `*' "
				    "cannot be combined with origins");
				goto fail;
			}
			continue;
		}
		if (tmp.n_origins == CONFIG_MAX_ORIGINS) {
			report(err, arg, where,
			    "cors-origins: more than %d origins",
			    CONFIG_MAX_ORIGINS);
			goto fail;
		}
		if (strncmp(tok, "http://", 7) != 0 &&
		    strncmp(tok, "https://", 8) != 0) {
			report(err, arg, where,
			    "cors-origins: `%s' is not `*' or an http(s) origin",
			    tok);
			goto fail;
		}
		if ((tmp.origins[tmp.n_origins] = strdup(tok)) == NULL) {
			report(err, arg, where, "out of memory");
			goto fail;
		}
		tmp.n_origins++;
	}
	free_origins(c);
	memcpy(c->origins, tmp.origins, sizeof(char *) * tmp.n_origins);
	c->n_origins = tmp.n_origins;
	return 0;
fail:
	free_origins(&tmp);
	return -1;
}

/* A list of addresses and ranges (trusted-proxies, metrics-allow). */
static int
set_cidrs(const char *keyword, struct cidr *list, unsigned *count,
    const char *where, const char *value, config_error_fn *err, void *arg)
{
	char buf[LINE_MAX_BYTES], *tok, *save = NULL;
	struct cidr tmp[CONFIG_MAX_PROXIES];
	unsigned n = 0;

	if (strlen(value) >= sizeof(buf)) {
		report(err, arg, where, "%s: list too long", keyword);
		return -1;
	}
	strcpy(buf, value);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (n == CONFIG_MAX_PROXIES) {
			report(err, arg, where, "%s: more than %d ranges",
			    keyword, CONFIG_MAX_PROXIES);
			return -1;
		}
		if (cidr_parse(tok, &tmp[n]) == -1) {
			report(err, arg, where, "%s: `%s' is not an address or "
			    "ADDRESS/PREFIX", keyword, tok);
			return -1;
		}
		n++;
	}
	memcpy(list, tmp, sizeof(tmp[0]) * n);
	*count = n;
	return 0;
}

static const struct keyword *
find_keyword(const char *name)
{
	size_t i;

	for (i = 0; i < nitems(keywords); i++)
		if (strcmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

int
config_listen_split(const char *spec, char host[64], char port[8])
{
	const char *colon = strrchr(spec, ':'), *h = spec;
	size_t hlen;
	uint64_t v;
	unsigned char buf[sizeof(struct in6_addr)];

	if (colon == NULL || strlen(colon + 1) >= 8 ||
	    parse_uint(colon + 1, 65535, &v) == -1)
		return -1;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && colon[-1] == ']') {
		h++;
		hlen -= 2;
		if (hlen >= 64)
			return -1;
		memcpy(host, h, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, buf) != 1)
			return -1;
	} else {
		if (hlen >= 64)
			return -1;
		memcpy(host, h, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET, host, buf) != 1)
			return -1;
	}
	strcpy(port, colon + 1);
	return 0;
}

/*
 * The PATH of listen unix:/PATH: absolute (the daemon changes to / when
 * it detaches) and short enough for sun_path with its NUL (unix(7)).
 */
static int
listen_unix_check(const char *path, const char *where, config_error_fn *err,
    void *arg)
{
	if (path[0] != '/') {
		report(err, arg, where, "listen: unix:%s is not an absolute "
		    "path", path);
		return -1;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		report(err, arg, where, "listen: unix:%s is longer than %zu "
		    "bytes", path,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	return 0;
}

int
config_set(struct config *c, const char *where, const char *keyword,
    const char *value, config_error_fn *err, void *arg)
{
	const struct keyword *k = find_keyword(keyword);
	char *field;
	uint64_t v;

	if (k == NULL) {
		report(err, arg, where, "unknown keyword `%s'", keyword);
		return -1;
	}
	if (*value == '\0') {
		report(err, arg, where, "%s: missing value", keyword);
		return -1;
	}
	field = (char *)c + k->off;
	switch (k->type) {
	case K_UINT:
	case K_SECONDS:
		if (parse_uint(value, k->max, &v) == -1 || v < k->min) {
			report(err, arg, where,
			    "%s: `%s' is not a whole number from %llu to %llu%s",
			    keyword, value, (unsigned long long)k->min,
			    (unsigned long long)k->max,
			    k->type == K_SECONDS ? " (seconds)" : "");
			return -1;
		}
		if (k->type == K_SECONDS)
			*(uint64_t *)(void *)field = v * 1000;
		else
			*(unsigned *)(void *)field = (unsigned)v;
		return 0;
	case K_SIZE:
		if (parse_size(value, k->max, &v) == -1 || v < k->min) {
			report(err, arg, where,
			    "%s: `%s' is not a size from %llu to %llu bytes "
			    "(suffix K, M or G allowed)",
			    keyword, value, (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		*(uint64_t *)(void *)field = v;
		return 0;
	case K_LISTEN:
	case K_PATH:
		if (k->type == K_LISTEN &&
		    strncmp(value, LISTEN_UNIX, strlen(LISTEN_UNIX)) == 0) {
			if (listen_unix_check(value + strlen(LISTEN_UNIX), where,
			    err, arg) == -1)
				return -1;
		} else if (k->type == K_LISTEN) {
			char host[64], port[8];

			if (config_listen_split(value, host, port) == -1) {
				report(err, arg, where, "listen: `%s' is not "
				    "ADDRESS:PORT, [IPV6-ADDRESS]:PORT with a "
				    "numeric address, or unix:/PATH", value);
				return -1;
			}
		} else if (value[0] != '/') {
			report(err, arg, where, "%s: `%s' is not an absolute "
			    "path", keyword, value);
			return -1;
		}
		if (strlen(value) >= k->size) {
			report(err, arg, where, "%s: value longer than %zu bytes",
			    keyword, k->size - 1);
			return -1;
		}
		strcpy(field, value);
		return 0;
	case K_LOG_FORMAT:
		if (strcmp(value, "text") == 0)
			c->log_format = LOG_FORMAT_TEXT;
		else if (strcmp(value, "json") == 0)
			c->log_format = LOG_FORMAT_JSON;
		else {
			report(err, arg, where,
			    "log-format: `%s' is not `text' or `json'", value);
			return -1;
		}
		return 0;
	case K_STORE:
		if (strcmp(value, "memory") == 0)
			c->store = STORE_KIND_MEMORY;
		else if (strcmp(value, "redis") == 0)
			c->store = STORE_KIND_REDIS;
		else {
			report(err, arg, where,
			    "store: `%s' is not `memory' or `redis'", value);
			return -1;
		}
		return 0;
	case K_REDIS_URL: {
		struct redis_addr seeds[REDIS_SEEDS_MAX];
		char why[1200];
		unsigned db;

		if (strlen(value) >= k->size) {
			report(err, arg, where, "redis-url: value longer than "
			    "%zu bytes", k->size - 1);
			return -1;
		}
		if (config_redis_seeds(value, seeds, REDIS_SEEDS_MAX, &db, why,
		    sizeof(why)) == -1) {
			report(err, arg, where, "redis-url: %s", why);
			return -1;
		}
		strcpy(field, value);
		return 0;
	}
	case K_REDIS_PASSWORD:
		if (strlen(value) >= k->size) {
			report(err, arg, where, "redis-password: longer than "
			    "%zu bytes", k->size - 1);
			return -1;
		}
		strcpy(field, value);
		return 0;
	case K_NODE_ID:
		if (strlen(value) >= k->size ||
		    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(value)) {
			report(err, arg, where, "node-id: `%s' is not 1 to %zu "
			    "letters, digits, `-', `_' or `.'", value,
			    k->size - 1);
			return -1;
		}
		strcpy(field, value);
		return 0;
	case K_URIS:
		return set_uris(k, field, where, value, err, arg);
	case K_SECRET:
		if (*value == '\0' || strlen(value) >= k->size) {
			report(err, arg, where, "%s: 1 to %zu bytes", keyword,
			    k->size - 1);
			return -1;
		}
		strcpy(field, value);
		return 0;
	case K_JWT_KEY: {
		struct jwt_key *key;
		char why[1400];

		if (value[0] != '/' || strlen(value) >= k->size) {
			report(err, arg, where, "jwt-key: `%s' is not an absolute "
			    "path of at most %zu bytes", value, k->size - 1);
			return -1;
		}
		if ((key = jwt_key_load(value, why, sizeof(why))) == NULL) {
			report(err, arg, where, "jwt-key: %s", why);
			return -1;
		}
		jwt_key_free(c->jwt_key);
		c->jwt_key = key;
		strcpy(field, value);
		return 0;
	}
	case K_STRING:
		if (strlen(value) >= k->size) {
			report(err, arg, where, "%s: longer than %zu bytes",
			    keyword, k->size - 1);
			return -1;
		}
		strcpy(field, value);
		return 0;
	case K_SECRET_FILE:
		return read_secret(k, field, where, value, err, arg);
	case K_BOOL:
		if (strcmp(value, "yes") == 0)
			*(bool *)(void *)field = true;
		else if (strcmp(value, "no") == 0)
			*(bool *)(void *)field = false;
		else {
			report(err, arg, where, "%s: `%s' is not `yes' or `no'",
			    keyword, value);
			return -1;
		}
		return 0;
	case K_ORIGINS:
		return set_origins(c, where, value, err, arg);
	case K_PROXIES:
		return set_cidrs(keyword, c->proxies, &c->n_proxies, where,
		    value, err, arg);
	case K_METRICS_ALLOW:
		return set_cidrs(keyword, c->metrics_allow, &c->n_metrics_allow,
		    where, value, err, arg);
	}
	return -1;
}

/* Parse one line (NUL-terminated, no newline); returns 0 or -1. */
static int
parse_line(struct config *c, const char *where, char *line,
    config_error_fn *err, void *arg)
{
	char *p, *kw, *value, *end;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	for (p = line; *p == ' ' || *p == '\t' || *p == '\r'; p++)
		;
	if (*p == '\0')
		return 0;
	kw = p;
	while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	value = p;
	end = value + strlen(value);
	while (end > value &&
	    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	for (p = kw; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
			report(err, arg, where, "control character in keyword");
			return -1;
		}
	for (p = value; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			report(err, arg, where, "control character in value");
			return -1;
		}
	return config_set(c, where, kw, value, err, arg);
}

int
config_parse(struct config *c, const char *name, const char *text,
    size_t len, config_error_fn *err, void *arg)
{
	char line[LINE_MAX_BYTES + 1], where[1100];
	size_t pos = 0, lineno = 0;
	int errors = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = (nl != NULL ? (size_t)(nl - text) : len) - pos;

		lineno++;
		snprintf(where, sizeof(where), "%s:%zu", name, lineno);
		if (n > LINE_MAX_BYTES) {
			report(err, arg, where, "line longer than %d bytes",
			    LINE_MAX_BYTES);
			errors++;
		} else if (memchr(text + pos, '\0', n) != NULL) {
			report(err, arg, where, "NUL byte in line");
			errors++;
		} else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			if (parse_line(c, where, line, err, arg) == -1)
				errors++;
		}
		pos += n + 1;
	}
	return errors;
}

int
config_load(struct config *c, const char *path, config_error_fn *err,
    void *arg)
{
	FILE *f;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int errors;

	if ((f = fopen(path, "r")) == NULL) {
		report(err, arg, path, "%s", strerror(errno));
		return 1;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *t;

			cap = cap ? cap * 2 : 8192;
			if (cap > 16 * 1024 * 1024 ||
			    (t = realloc(text, cap)) == NULL) {
				report(err, arg, path, "file too large");
				free(text);
				fclose(f);
				return 1;
			}
			text = t;
		}
		n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		report(err, arg, path, "read error");
		free(text);
		fclose(f);
		return 1;
	}
	fclose(f);
	errors = config_parse(c, path, text, len, err, arg);
	free(text);
	return errors;
}

int
config_check(const struct config *c, const char *name, config_error_fn *err,
    void *arg)
{
	int errors = 0;

	if (c->default_wait_ms > c->max_wait_ms) {
		report(err, arg, name, "default-wait (%llu) exceeds max-wait "
		    "(%llu)", (unsigned long long)c->default_wait_ms / 1000,
		    (unsigned long long)c->max_wait_ms / 1000);
		errors++;
	}
	if (c->max_message_size > c->max_inbox_bytes) {
		report(err, arg, name, "max-message-size exceeds "
		    "max-inbox-bytes: no message could be queued");
		errors++;
	}
	if (c->argon2_memory_kib < 8 * c->argon2_parallelism) {
		report(err, arg, name, "argon2-memory-kib must be at least 8 "
		    "times argon2-parallelism (RFC 9106)");
		errors++;
	}
	if (c->turn_uris[0] != '\0' && c->turn_secret[0] == '\0') {
		report(err, arg, name, "turn-uris needs turn-secret or "
		    "turn-secret-file: TURN servers want credentials");
		errors++;
	}
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
		report(err, arg, name, "tls-cert and tls-key go together");
		errors++;
	}
	if (c->max_inbox_bytes > c->max_memory) {
		report(err, arg, name, "max-inbox-bytes exceeds max-memory");
		errors++;
	}
	if (c->jwt_key == NULL && (c->jwt_required || c->rooms_require_jwt)) {
		report(err, arg, name, "%s needs jwt-key", c->jwt_required ?
		    "jwt-required" : "rooms-require-jwt");
		errors++;
	}
	if (c->room_timeout_ms > c->room_max_timeout_ms) {
		report(err, arg, name, "room-timeout (%llu) exceeds "
		    "room-max-timeout (%llu)",
		    (unsigned long long)c->room_timeout_ms / 1000,
		    (unsigned long long)c->room_max_timeout_ms / 1000);
		errors++;
	}
	return errors;
}
