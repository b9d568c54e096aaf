/*
 * config.h - inboxd's settings: compiled-in defaults and the
 * `keyword value' file of inboxd.conf(5).
 *
 * Times are whole seconds in the file and milliseconds in the struct;
 * sizes are bytes, written in the file with an optional K, M or G suffix
 * (powers of 1024).  The parser never logs: every error is handed to the
 * caller's callback as "FILE:LINE: message" and parsing goes on, so that
 * one run reports them all (after OpenBSD's parse.y configs).
 */
#ifndef INBOXD_CONFIG_H
#define INBOXD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct jwt_key;

#define CONFIG_MAX_ORIGINS 32
#define CONFIG_MAX_PROXIES 64
#define CONFIG_MAX_BATCH 1024 /* bound of max-batch */

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Where the mailbox lives (SPEC section 8). */
enum store_kind { STORE_KIND_MEMORY, STORE_KIND_REDIS };

struct config {
	char listen[256];          /* ADDRESS:PORT, [V6]:PORT, unix:/PATH */
	unsigned threads;          /* HTTP threads; 0: one per CPU */
	unsigned connection_limit; /* open connections */
	unsigned per_ip_connection_limit; /* 0: unlimited */
	uint64_t connection_timeout_ms;
	uint64_t default_wait_ms;
	uint64_t max_wait_ms;
	unsigned max_batch;        /* messages a GET takes with max= */
	uint64_t inbox_timeout_ms;
	uint64_t message_timeout_ms;
	uint64_t max_message_size; /* bytes */
	unsigned max_messages;     /* per inbox */
	uint64_t max_inbox_bytes;
	unsigned max_inboxes;
	uint64_t max_memory; /* bytes of queued data, all inboxes */
	unsigned auth_failures_per_minute; /* per address; 0: unlimited */
	unsigned n_proxies;
	struct cidr proxies[CONFIG_MAX_PROXIES]; /* trusted-proxies */
	unsigned min_password_length;
	unsigned argon2_time_cost;
	unsigned argon2_memory_kib;
	unsigned argon2_parallelism;
	unsigned argon2_max_concurrent; /* 0: one per CPU */
	unsigned n_origins;             /* 0: any origin (`*') */
	char *origins[CONFIG_MAX_ORIGINS];
	unsigned pin_digits;
	uint64_t pin_timeout_ms;
	uint64_t room_timeout_ms;     /* a room's lifetime without ttl */
	uint64_t room_max_timeout_ms; /* the longest ttl */
	unsigned max_rooms;           /* 0: rooms are off */
	unsigned max_room_members;    /* default and bound of max_members */
	unsigned max_rooms_per_inbox;
	unsigned n_metrics_allow;
	struct cidr metrics_allow[CONFIG_MAX_PROXIES]; /* who may read /metrics */
	char tls_cert[1024]; /* PEM files; both empty: plain HTTP */
	char tls_key[1024];
	enum log_format log_format;
	char log_file[1024]; /* empty: standard error */
	enum store_kind store;
	char redis_url[1024];     /* seeds: see config_redis_seeds */
	char redis_password[1024]; /* empty: no AUTH; never logged */
	char node_id[65];          /* empty: random at start */
	uint64_t lease_timeout_ms; /* a dead node's in-flight messages */
	unsigned redis_wait_replicas; /* WAIT for them after a send; 0: no */
	char stun_uris[1024];   /* space-separated stun: and stuns: URIs */
	char turn_uris[1024];   /* space-separated turn: and turns: URIs */
	char turn_secret[1024]; /* shared with the TURN server; never logged */
	uint64_t turn_ttl_ms;   /* how long /ice's credentials last */
	/* Bearer tokens (SPEC section 9): none without jwt-key. */
	char jwt_key_file[1024];
	struct jwt_key *jwt_key; /* read from jwt_key_file by the parser;
	                            config_free frees it (jwt.h) */
	char jwt_claim[256];     /* the claim naming the inbox */
	char jwt_issuer[1024];   /* empty: iss not checked */
	char jwt_audience[1024]; /* empty: a token with aud is refused */
	bool jwt_required;       /* Basic refused */
	bool rooms_require_jwt;  /* only Bearer callers create rooms */
	uint64_t jwt_leeway_ms;  /* clock skew allowed for exp and nbf */
};

/*
 * Split a redis-url, redis://HOST[:PORT][/DB] (port 6379 and DB 0 by
 * default, DB 0 to 15) or unix:/PATH, into host, port and db, or path
 * (host then empty).  Returns 0, or -1 when url is neither.
 */
int config_redis_url(const char *url, char host[256], unsigned *port,
    unsigned *db, char path[108]);

#define REDIS_SEEDS_MAX 16 /* addresses one redis-url may name */

/* One address of a redis-url: host and port, or a Unix socket's path. */
struct redis_addr {
	char host[256]; /* empty for a Unix socket */
	unsigned port;
	char path[108]; /* empty for TCP */
};

/*
 * Split the value of redis-url into its seed addresses: items separated
 * by spaces, tabs or commas, each redis://HOST[:PORT][/DB] or unix:/PATH,
 * or, after a redis:// item, HOST[:PORT][/DB] alone (so that
 * redis://h1:p1,h2:p2 reads as two seeds).  Every item must name the
 * same DB, stored in *db.  Returns the number of seeds, 1 to max, or -1
 * with why filled (the item at fault quoted).
 */
int config_redis_seeds(const char *value, struct redis_addr *seeds,
    size_t max, unsigned *db, char *why, size_t len);

/* Receives one error message, already prefixed with FILE:LINE. */
typedef void config_error_fn(void *arg, const char *msg);

/*
 * Split a listen address, ADDRESS:PORT or [IPV6-ADDRESS]:PORT with a
 * numeric address and a port from 0 to 65535, into host and port.
 * Returns 0, or -1 when spec is not such an address.
 */
int config_listen_split(const char *spec, char host[64], char port[8]);

/* Fill c with the defaults documented in inboxd.conf(5). */
void config_defaults(struct config *c);

/* Free what config_defaults and the parsers allocated in c. */
void config_free(struct config *c);

/*
 * Parse len bytes of `keyword value' lines named name (for messages) into
 * c, which holds defaults or earlier settings.  Returns the number of
 * errors, each reported through err (which may be NULL).
 */
int config_parse(struct config *c, const char *name, const char *text,
    size_t len, config_error_fn *err, void *arg);

/*
 * Read and parse the file at path as config_parse does.  A file that cannot
 * be read counts as one error.  Returns the number of errors.
 */
int config_load(struct config *c, const char *path, config_error_fn *err,
    void *arg);

/*
 * Set one keyword from a command-line flag; errors are reported with
 * `where' (such as "-l") in place of FILE:LINE.  Returns 0 or -1.
 */
int config_set(struct config *c, const char *where, const char *keyword,
    const char *value, config_error_fn *err, void *arg);

/*
 * Check the settings against each other (default-wait <= max-wait, ...).
 * Returns the number of errors, reported through err.
 */
int config_check(const struct config *c, const char *name,
    config_error_fn *err, void *arg);

#endif
