/*
 * http.h - the HTTP daemon (libmicrohttpd) and what request handlers
 * need from it: the request, its headers and query, and replies.
 *
 * http.c and waiter.c are the only libmicrohttpd users; the handlers of
 * api.c see a struct request and the functions below.  The request's
 * API state (struct api_state) is the API's alone, and the settings,
 * store and peer table reach it as r->ctx, an explicit context, not as
 * globals.  Status codes and header names are those of RFC 9110; CORS
 * headers follow the Fetch standard and are added to every reply.
 */
#ifndef INBOXD_HTTP_H
#define INBOXD_HTTP_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "auth.h"
#include "config.h"
#include "json.h"
#include "peer.h"
#include "store.h"
#include "watch.h"

struct MHD_Connection;
struct conn;
struct MHD_Daemon;

enum route {
	ROUTE_NONE, ROUTE_INBOX, ROUTE_PIN, ROUTE_HEALTH, ROUTE_METRICS,
	ROUTE_ICE,          /* /ice */
	ROUTE_ROOMS,        /* /rooms */
	ROUTE_ROOM,         /* /rooms/ROOM */
	ROUTE_ROOM_MEMBERS, /* /rooms/ROOM/members */
	ROUTE_ROOM_MEMBER,  /* /rooms/ROOM/members/NAME */
	ROUTE_ROOM_INVITES, /* /rooms/ROOM/invitations */
};

/* Where a request stands; the handlers move it forward. */
enum phase {
	PHASE_BODY,    /* headers checked, body (if any) arriving */
	PHASE_AUTH,    /* suspended while its first contact is hashed */
	PHASE_HELD,    /* suspended as a held GET */
	PHASE_ROOM_HASH, /* suspended while a room password is hashed */
	PHASE_REPLIED, /* a response is queued */
};

/*
 * What the API keeps of a request (api.c): set and freed by it alone
 * (api_free), embedded in struct request so that a request is one
 * allocation.
 */
struct api_state {
	bool authed;        /* credentials checked, inbox exists; else a
	                       first contact waits for its hash */
	bool post;          /* POST, else GET */
	uint8_t mac[CRED_MAC_BYTES];
	struct auth_job job;
	enum store_result auth_result; /* of a first contact's job */
	bool reverified;    /* the password was verified again */
	bool bearer;        /* the caller came with a Bearer token */
	struct message *body;    /* POST: the message being received */
	bool too_large;          /* POST: body passed max-message-size */
	uint64_t discarded;      /* POST: bytes read past the limit, dropped */
	const char *to;          /* POST: the recipient, percent-decoded */
	bool by_pin;             /* POST: to the inbox pin_code names */
	uint32_t pin_code;
	uint64_t wait_ms;        /* GET: how long to hold */
	bool batch;              /* GET: max= above 1, a JSON batch */
	char *room;              /* /rooms/ROOM...: ROOM, malloc'd; and
	                            POST /inbox?room= (points into the query) */
	const char *peer;        /* /rooms/ROOM/members/NAME: NAME, in room's
	                            allocation; invitations: ?peer= */
	bool fanout;             /* POST /inbox?room= */
	struct json_room_request *create; /* POST /rooms: the parsed body */
};

/* What the API works with, given by http_start: no globals. */
struct api_context {
	_Atomic(const struct config *) cfg; /* swapped by http_reconfigure */
	struct store *store;
	struct peers *peers;
};

/* One HTTP request, from its headers to its completion. */
struct request {
	struct MHD_Connection *conn;
	const struct api_context *ctx;
	const char *method; /* owned by libmicrohttpd, valid until done */
	const char *path;
	bool raw_nul;       /* the request-target's path holds %00 */
	enum route route;   /* set by the API, read for Allow */
	enum phase phase;   /* moved forward by the API */
	char *user;         /* authenticated username, malloc'd (logged) */
	bool invalid_token; /* set by the API: the Bearer token was refused
	                       (error="invalid_token", RFC 6750 3.1) */
	struct store_waiter w;    /* GET: the receive, held or not */
	struct watch_entry watch; /* GET: its socket, while held */
	struct conn *link;  /* its connection (http.c), or NULL */
	struct api_state a; /* the API's (api.c) */
	uint64_t start_us;
	bool first_call;    /* in api_begin */
	bool has_body;      /* a body follows the headers */
	struct MHD_Response *pending; /* reply held for the final call */
	bool pending_shared;          /* pending is not ours to destroy */
	unsigned status; /* queued status, for the log */
	uint64_t bytes;  /* queued body bytes, for the log */
	struct addr peer_addr;   /* the socket peer */
	struct addr client_addr; /* the client, behind trusted proxies */
	char client[ADDR_STRLEN];
};

/*
 * Bind and listen on cfg->listen and read the TLS files, before the daemon
 * detaches, so that a failure is reported where it can be seen.  Returns
 * 0 or -1 after logging why.
 */
int http_listen(const struct config *cfg);

/*
 * Start serving on the socket of http_listen with cfg's limits; requests
 * go to api.c, messages to store, per-address counts to peers.  Returns
 * the daemon, or NULL after logging why.
 */
struct MHD_Daemon *http_start(const struct config *cfg, struct store *store,
    struct peers *peers);

/* The TCP port the daemon listens on (for a listen port of 0); 0 on a
 * Unix socket. */
unsigned http_port(struct MHD_Daemon *d);

/*
 * Stop accepting connections (each new one is closed at once); requests
 * on open connections are answered without being held and with
 * Connection: close.
 */
void http_quiesce(struct MHD_Daemon *d);

/*
 * Wait up to grace_ms for the requests in progress to complete, then stop
 * the daemon.  Held GETs must have been released (store_shutdown) and
 * hashing jobs finished (auth_stop) before.
 */
void http_stop(struct MHD_Daemon *d, uint64_t grace_ms);

/*
 * Once a tick, from the main thread: shut down the connections whose
 * request is not in whole connection-timeout after it began (after the
 * accept, or the previous request's end), however it trickles.
 */
void http_tick(uint64_t now_ms);

/*
 * A reload: requests read their settings from c from now on (c must
 * outlive every request that may still hold the settings before it:
 * main.c keeps a replaced configuration a minute).  What libmicrohttpd
 * was started with (listen, threads, connection-limit, TLS) stays.
 */
void http_reconfigure(const struct config *c);

/* True once http_quiesce was called. */
bool http_stopping(void);

/* The request header name (case-insensitive), or NULL. */
const char *http_header(struct request *r, const char *name);

/*
 * The percent-decoded query argument name, or NULL; *len gets its length
 * in bytes (a decoded value may hold a NUL byte).
 */
const char *http_query(struct request *r, const char *name, size_t *len);

/*
 * The Basic credentials of the request (RFC 7617) through libmicrohttpd's
 * parser.  Returns 0 with *user and *password set, to be freed with
 * http_free_credentials, or -1 when the header is missing or malformed.
 */
int http_credentials(struct request *r, char **user, char **password);

/* Wipe and free what http_credentials returned. */
void http_free_credentials(char *user, char *password);

/* Reply 429 too_many_requests with Retry-After: retry_ms, rounded up. */
void http_too_many(struct request *r, uint64_t retry_ms);

/*
 * Reply with status and an error body {"error":code,"message":message}
 * (SPEC section 2), adding WWW-Authenticate to 401 (Basic, and Bearer
 * when jwt-key is set; Bearer alone with jwt-required), Allow (the methods
 * of r's route) to 405 and Retry-After to 503.
 */
void http_error(struct request *r, unsigned status, const char *code,
    const char *message);

/* Reply with status and no body (204). */
void http_empty(struct request *r, unsigned status);

/* Reply 204 to a send by PIN, naming the recipient in X-To. */
void http_sent_to(struct request *r, const char *to);

/*
 * Reply with status and body (malloc'd, len bytes; freed by the reply,
 * also on failure) of Content-Type type.
 */
void http_body(struct request *r, unsigned status, const char *type,
    char *body, size_t len);

/* Reply 200 with message m, which stays in flight until completion. */
void http_message(struct request *r, struct message *m);

/* Reply 204 to a CORS preflight (OPTIONS). */
void http_preflight(struct request *r);

/* Suspend r until http_resume; only from its handler. */
void http_suspend(struct request *r);

/* Resume a suspended request; from any thread. */
void http_resume(struct request *r);

/* How the store reaches held requests (waiter.c). */
extern const struct store_waiter_ops waiter_ops;

#endif
