/*
 * http.c - the libmicrohttpd daemon: listening, request lifecycle,
 * replies with their headers, and the access log.
 *
 * libmicrohttpd runs in epoll mode with an internal thread pool; each
 * request gets a struct request on its first call, which lives until the
 * completion callback.  A message popped by a GET is freed only when that
 * callback reports the response completed; any other end puts it back at
 * the head of its inbox (store_done).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define LISTEN_BACKLOG 4096
#define THREADS_PER_CPU 4
#define EXPOSE_HEADERS \
	"X-From, X-To, X-Message-Id, Retry-After, X-Room, X-Event"
#define PEM_MAX (64 * 1024) /* bytes of a certificate chain or key */
/*
 * libmicrohttpd's per-connection pool holds the request head and the
 * response head, and is zeroed for every request: sized for the largest
 * head the protocol allows (a 1024-byte password is 1.4 KB of base64,
 * a 256-byte name percent-encoded 768 bytes) and a browser's headers.
 */
#ifndef CONNECTION_MEMORY
#define CONNECTION_MEMORY (8 * 1024)
#endif
#define PREFLIGHT_MAX_AGE "86400" /* seconds browsers may cache it */
#define LISTEN_UNIX "unix:" /* listen unix:/PATH */
/*
 * Mode of the socket file of listen unix:/PATH: the daemon's user and
 * group may connect, nobody else.  The group is that of the directory
 * when it is set-group-ID, so a directory owned by inboxd:www-data with
 * mode 2750 lets nginx (www-data) in.  Whoever may connect is trusted
 * as a proxy: see client_address.
 */
#define UNIX_SOCKET_MODE 0660

/*
 * An open connection.  While a request is coming in on it (from the
 * accept, or from the end of the previous request, to the end of its
 * body), it is on the deadline list, in deadline order since every
 * deadline is connection-timeout after the event that set it: a request
 * must be in whole by then, however it trickles (slowloris), or its
 * socket is shut down (http_tick).  libmicrohttpd's own timeout is an
 * idle one, which a byte every few seconds keeps off.
 */
struct conn {
	struct conn *prev, *next; /* the deadline list, under conn_lock */
	bool listed;
	int fd;
	uint64_t deadline_ms;
	void *peer; /* peers_connect's, or NULL */
};

static void conn_arm(struct conn *k);
static void conn_disarm(struct conn *k);
static struct conn *conn_of(struct MHD_Connection *c);

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conn_head, *conn_tail; /* by deadline */
static atomic_uint open_conns; /* against connection-limit */

static _Atomic(const struct config *) cfg; /* swapped by a reload */
static struct store *store;
static struct api_context api_ctx; /* what requests get as r->ctx */
static struct peers *peers;
static char *tls_cert, *tls_key; /* PEM text, kept while serving */
/*
 * The 204 of every successful send and empty poll, built once: with CORS
 * for any origin it is the same for every request (libmicrohttpd counts
 * its references).  NULL with a list of origins, where it varies.
 */
static struct MHD_Response *shared_204;
static int listen_fd = -1;
static bool listen_v6;
static unsigned listen_port;
/* listen unix:/PATH: the socket file, removed again at exit if it is
 * still the one made here (same device and inode). */
static bool listen_unix;
static char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static dev_t unix_dev;
static ino_t unix_ino;
/*
 * What a Unix-socket peer is walked with: trusted-proxies, and the
 * unspecified address `::', which stands for the peer itself (a local
 * process has no IP address).
 */
static struct cidr unix_trusted[CONFIG_MAX_PROXIES + 1];
static unsigned n_unix_trusted;
static atomic_bool stopping;
static atomic_uint active; /* requests between first call and completion */

bool
http_stopping(void)
{
	return atomic_load(&stopping);
}

const char *
http_header(struct request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
http_query(struct request *r, const char *name, size_t *len)
{
	const char *v = NULL;
	size_t n = 0;

	if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name,
	    strlen(name), &v, &n) != MHD_YES)
		return NULL;
	if (v == NULL) /* `?to' without `=' */
		v = "";
	if (len != NULL)
		*len = n;
	return v;
}

int
http_credentials(struct request *r, char **user, char **password)
{
	*password = NULL;
	*user = MHD_basic_auth_get_username_password(r->conn, password);
	if (*user == NULL || *password == NULL) {
		http_free_credentials(*user, *password);
		return -1;
	}
	return 0;
}

void
http_free_credentials(char *user, char *password)
{
	if (password != NULL) {
		wipe(password, strlen(password));
		MHD_free(password);
	}
	if (user != NULL)
		MHD_free(user);
}

void
http_suspend(struct request *r)
{
	MHD_suspend_connection(r->conn);
}

void
http_resume(struct request *r)
{
	MHD_resume_connection(r->conn);
}

/* The methods a route allows, for Allow. */
static const char *
route_allow(enum route route)
{
	switch (route) {
	case ROUTE_INBOX:
		return "GET, POST, OPTIONS";
	case ROUTE_PIN:
	case ROUTE_ROOMS:
	case ROUTE_ROOM_MEMBERS:
	case ROUTE_ROOM_INVITES:
		return "POST, OPTIONS";
	case ROUTE_ROOM:
		return "GET, DELETE, OPTIONS";
	case ROUTE_ROOM_MEMBER:
		return "DELETE, OPTIONS";
	case ROUTE_ICE:
		return "GET, OPTIONS";
	default:
		return "GET";
	}
}

/* Add the CORS headers every response carries (Fetch standard). */
static void
add_cors(struct request *r, struct MHD_Response *resp)
{
	const char *origin;
	unsigned i;

	if (cfg->n_origins == 0)
		MHD_add_response_header(resp, "Access-Control-Allow-Origin",
		    "*");
	else {
		MHD_add_response_header(resp, "Vary", "Origin");
		origin = http_header(r, "Origin");
		for (i = 0; origin != NULL && i < cfg->n_origins; i++)
			if (strcmp(origin, cfg->origins[i]) == 0) {
				MHD_add_response_header(resp,
				    "Access-Control-Allow-Origin", origin);
				break;
			}
	}
	MHD_add_response_header(resp, "Access-Control-Expose-Headers",
	    EXPOSE_HEADERS);
}

static void
queue(struct request *r, unsigned status, struct MHD_Response *resp,
    size_t bytes)
{
	if (resp == NULL) {
		/* Out of memory: closing the connection is all that is left. */
		r->phase = PHASE_REPLIED;
		r->status = 0;
		return;
	}
	add_cors(r, resp);
	if (atomic_load(&stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	r->phase = PHASE_REPLIED;
	r->status = status;
	r->bytes = bytes;
	/*
	 * libmicrohttpd 0.9.75 closes the connection after a reply queued
	 * from the first call; without a body to refuse, wait for the final
	 * call and keep the connection alive.
	 */
	if (r->first_call && !r->has_body) {
		r->pending = resp;
		return;
	}
	if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
		r->status = 0;
	MHD_destroy_response(resp);
}

void
http_error(struct request *r, unsigned status, const char *code,
    const char *message)
{
	struct MHD_Response *resp;
	char *body = json_error(code, message);

	if (body == NULL) {
		queue(r, status, NULL, 0);
		return;
	}
	resp = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		queue(r, status, NULL, 0);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	switch (status) {
	case 401:
		if (!cfg->jwt_required)
			MHD_add_response_header(resp,
			    MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			    "Basic realm=\"inboxd\", charset=\"UTF-8\"");
		/* RFC 6750 section 3: a challenge per scheme accepted. */
		if (cfg->jwt_key != NULL)
			MHD_add_response_header(resp,
			    MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->invalid_token ?
			    "Bearer realm=\"inboxd\", error=\"invalid_token\"" :
			    "Bearer realm=\"inboxd\"");
		break;
	case 405:
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    route_allow(r->route));
		break;
	case 503:
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
		    strcmp(code, "inbox_full") == 0 ? "1" : "5");
		break;
	default:
		break;
	}
	queue(r, status, resp, strlen(body));
}

void
http_too_many(struct request *r, uint64_t retry_ms)
{
	struct MHD_Response *resp;
	char *body = json_error("too_many_requests",
	    "too many failed attempts from this address");
	char secs[24];

	snprintf(secs, sizeof(secs), "%llu",
	    (unsigned long long)(retry_ms + 999) / 1000);
	resp = body == NULL ? NULL : MHD_create_response_from_buffer(
	    strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		queue(r, 429, NULL, 0);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	queue(r, 429, resp, strlen(body));
}

void
http_empty(struct request *r, unsigned status)
{
	if (status == 204 && shared_204 != NULL && !atomic_load(&stopping)) {
		r->phase = PHASE_REPLIED;
		r->status = 204;
		r->bytes = 0;
		if (r->first_call && !r->has_body) {
			r->pending = shared_204;
			r->pending_shared = true;
		} else if (MHD_queue_response(r->conn, 204, shared_204) !=
		    MHD_YES)
			r->status = 0;
		return;
	}
	queue(r, status, MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT), 0);
}

void
http_sent_to(struct request *r, const char *to)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp != NULL)
		MHD_add_response_header(resp, "X-To", to);
	queue(r, 204, resp, 0);
}

void
http_body(struct request *r, unsigned status, const char *type, char *body,
    size_t len)
{
	struct MHD_Response *resp = NULL;

	if (body != NULL && (resp = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_MUST_FREE)) == NULL)
		free(body);
	if (resp != NULL) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
		MHD_add_response_header(resp, "X-Content-Type-Options",
		    "nosniff");
	}
	queue(r, status, resp, len);
}

void
http_message(struct request *r, struct message *m)
{
	struct MHD_Response *resp;
	const char *type = message_type(m);
	char id[24];

	resp = MHD_create_response_from_buffer(m->len, message_body(m),
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		queue(r, 200, NULL, 0);
		return;
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)m->id);
	MHD_add_response_header(resp, "X-From", message_from(m));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    type != NULL ? type : "application/octet-stream");
	MHD_add_response_header(resp, "X-Message-Id", id);
	if (message_room(m) != NULL)
		MHD_add_response_header(resp, "X-Room", message_room(m));
	if (message_event(m) != NULL)
		MHD_add_response_header(resp, "X-Event", message_event(m));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	queue(r, 200, resp, m->len);
}

void
http_preflight(struct request *r)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp != NULL) {
		MHD_add_response_header(resp, "Access-Control-Allow-Methods",
		    "GET, POST, DELETE, OPTIONS");
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
		    "Authorization, Content-Type, X-PIN, X-Room-Token");
		MHD_add_response_header(resp, "Access-Control-Max-Age",
		    PREFLIGHT_MAX_AGE);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    route_allow(r->route));
	}
	queue(r, 204, resp, 0);
}

/*
 * The client of c: its socket peer, or behind a trusted proxy the
 * address that proxy vouches for in X-Forwarded-For.
 *
 * A peer on the Unix socket (listen unix:/PATH) has no address of its
 * own; only processes the socket file's mode lets in can connect, which
 * is the local proxy the socket is made for, so such a peer is always a
 * trusted proxy: the client is the rightmost address of X-Forwarded-For
 * that is not in trusted-proxies, and "-" (the unspecified address, for
 * the failure counts) when the header gives none.
 */
static void
client_address(struct MHD_Connection *c, struct request *r)
{
	const union MHD_ConnectionInfo *ci;
	struct addr peer;

	if (listen_unix) {
		memset(&r->peer_addr, 0, sizeof(r->peer_addr));
		r->client_addr = addr_client(unix_trusted, n_unix_trusted,
		    &r->peer_addr, MHD_lookup_connection_value(c,
		    MHD_HEADER_KIND, "X-Forwarded-For"));
		if (memcmp(&r->client_addr, &r->peer_addr,
		    sizeof(r->peer_addr)) == 0)
			strcpy(r->client, "-");
		else
			addr_format(&r->client_addr, r->client);
		return;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || addr_from_sockaddr(ci->client_addr, &peer) == -1) {
		memset(&r->client_addr, 0, sizeof(r->client_addr));
		strcpy(r->client, "-");
		return;
	}
	r->peer_addr = peer;
	r->client_addr = addr_client(cfg->proxies, cfg->n_proxies, &peer,
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Forwarded-For"));
	addr_format(&r->client_addr, r->client);
}

/*
 * libmicrohttpd's URI log callback, called with the request-target as
 * it came, before any decoding: the request starts here, so that a %00
 * that decoding would turn into a NUL ending the path early is seen.
 * The struct request returned is the handler's *ctx; NULL (memory ran
 * out) leaves it to the handler to try again.
 */
static void *
request_start(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct request *r = calloc(1, sizeof(*r));
	const char *q;

	(void)cls;
	if (r == NULL)
		return NULL;
	r->conn = c;
	q = strchr(uri, '?');
	r->raw_nul = memmem(uri, q != NULL ? (size_t)(q - uri) : strlen(uri),
	    "%00", 3) != NULL;
	return r;
}

/* The handler's first call: the head is in. */
static struct request *
request_begin(struct request *r, struct MHD_Connection *c, const char *url,
    const char *method)
{
	const char *length;

	if (r == NULL && (r = request_start(NULL, "", c)) == NULL)
		return NULL;
	r->path = url;
	r->method = method;
	r->phase = PHASE_BODY;
	r->start_us = now_us();
	length = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	r->has_body = (length != NULL && strcmp(length, "0") != 0) ||
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
	client_address(c, r);
	r->ctx = &api_ctx;
	r->link = conn_of(c);
	atomic_fetch_add(&active, 1);
	return r;
}

/*
 * What one pass over a request's head found (check_head).  Query
 * arguments are kept by name to find repeats: a request has few.
 */
#define HEAD_ARGS_MAX 32
struct head_scan {
	unsigned content_length, transfer_encoding, authorization, host;
	const char *content_length_value, *transfer_encoding_value;
	unsigned nargs;
	const char *arg[HEAD_ARGS_MAX];
	size_t arg_len[HEAD_ARGS_MAX];
	bool repeated, nul, too_many;
};

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct head_scan *h = cls;

	(void)kind;
	(void)key_size;
	if (value != NULL && strlen(value) != value_size)
		h->nul = true;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		h->content_length++;
		h->content_length_value = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		h->transfer_encoding++;
		h->transfer_encoding_value = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		h->authorization++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		h->host++;
	return MHD_YES;
}

static enum MHD_Result
scan_argument(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct head_scan *h = cls;
	unsigned i;

	(void)kind;
	if (strlen(key) != key_size ||
	    (value != NULL && strlen(value) != value_size))
		h->nul = true;
	for (i = 0; i < h->nargs; i++)
		if (h->arg_len[i] == key_size &&
		    memcmp(h->arg[i], key, key_size) == 0)
			h->repeated = true;
	if (h->nargs == HEAD_ARGS_MAX) {
		h->too_many = true;
		return MHD_NO;
	}
	h->arg[h->nargs] = key;
	h->arg_len[h->nargs++] = key_size;
	return MHD_YES;
}

/*
 * Refuse what RFC 9112 leaves no room for and libmicrohttpd 0.9.75 lets
 * through, before the API sees the request: a Content-Length repeated
 * (section 6.3: even with equal values, a list is invalid), a
 * Transfer-Encoding other than chunked (section 6.1: 501), HTTP/1.1
 * without Host (section 3.2), a repeated Authorization (RFC 9110 section
 * 5.3: not a list), a repeated query argument or one with a NUL byte
 * (percent-encoded: which would the API act on?), and a path with %00,
 * which libmicrohttpd decodes into a NUL that ends the path early.
 * Replies and returns -1, or returns 0.
 */
static int
check_head(struct request *r, const char *version)
{
	struct head_scan h;

	memset(&h, 0, sizeof(h));
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, scan_header,
	    &h);
	MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND,
	    scan_argument, &h);
	if (h.transfer_encoding > 1 || (h.transfer_encoding == 1 &&
	    strcasecmp(h.transfer_encoding_value, "chunked") != 0)) {
		http_error(r, 501, "not_implemented",
		    "Transfer-Encoding must be chunked or absent");
		return -1;
	}
	if (h.content_length > 1 || (h.content_length == 1 &&
	    h.transfer_encoding == 1)) {
		http_error(r, 400, "bad_request", h.content_length > 1 ?
		    "Content-Length must be given once" :
		    "Content-Length and Transfer-Encoding exclude each other");
		return -1;
	}
	if (h.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0) {
		http_error(r, 400, "bad_request", "Host is required");
		return -1;
	}
	if (h.host > 1 || h.authorization > 1) {
		http_error(r, 400, "bad_request", h.host > 1 ?
		    "Host must be given once" :
		    "Authorization must be given once");
		return -1;
	}
	if (h.nul || r->raw_nul) {
		http_error(r, 400, "bad_request",
		    "the request holds a NUL byte");
		return -1;
	}
	if (h.repeated || h.too_many) {
		http_error(r, 400, "bad_request", h.too_many ?
		    "too many query arguments" :
		    "a query argument is repeated");
		return -1;
	}
	return 0;
}

/*
 * A GET now held: watch its socket, so that its client's hang-up ends
 * the hold at once (watch.h) instead of when its wait runs out.  A hold
 * that ended meanwhile is unwatched again when the request resumes.
 */
static void
watch_held(struct request *r)
{
	const union MHD_ConnectionInfo *ci;

	/* In whole, held or answered: connection-timeout is done with it. */
	if (r->phase != PHASE_BODY)
		conn_disarm(r->link);
	if (r->phase != PHASE_HELD || r->watch.on)
		return;
	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || watch_add(&r->watch, ci->connect_fd, r) == -1)
		log_warn("http: a held GET's socket is not watched: %s",
		    strerror(errno));
}

/* From the watch thread: the client of held request arg hung up. */
static void
hung_up(void *arg)
{
	struct request *r = arg;

	metrics_inc(hangups);
	store_hangup(store, &r->w, now_ms());
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **ctx)
{
	struct request *r = *ctx;

	(void)cls;
	if (r == NULL || r->method == NULL) {
		if ((r = request_begin(r, c, url, method)) == NULL)
			return MHD_NO;
		*ctx = r;
		r->first_call = true;
		if (check_head(r, version) == 0)
			api_begin(r);
		r->first_call = false;
		watch_held(r);
		return MHD_YES;
	}
	/* Resumed, or more of it came: a held GET is held no more. */
	watch_del(&r->watch);
	if (r->phase == PHASE_HELD && r->w.state == WAITER_GONE) {
		/* Its client hung up: nothing to answer, close at once. */
		r->phase = PHASE_REPLIED;
		return MHD_NO;
	}
	if (*upload_size != 0) {
		if (api_upload(r, upload, *upload_size) == -1)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->pending != NULL) {
		if (MHD_queue_response(c, r->status, r->pending) != MHD_YES)
			r->status = 0;
		if (!r->pending_shared)
			MHD_destroy_response(r->pending);
		r->pending = NULL;
	} else
		api_finish(r);
	watch_held(r);
	/* A reply that could not be queued leaves only closing. */
	if (r->phase == PHASE_REPLIED && r->status == 0)
		return MHD_NO;
	return MHD_YES;
}

static void
completed(void *cls, struct MHD_Connection *c, void **ctx,
    enum MHD_RequestTerminationCode toe)
{
	struct request *r = *ctx;
	struct log_request l;

	(void)cls;
	(void)c;
	if (r == NULL)
		return;
	*ctx = NULL;
	if (r->method == NULL) { /* refused by libmicrohttpd, which logged */
		free(r);
		return;
	}
	watch_del(&r->watch);
	/* The next request on the connection has connection-timeout. */
	conn_arm(r->link);
	if (r->w.msg != NULL)
		store_done(store, &r->w,
		    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, now_ms());
	if (r->status != 0)
		metrics_request(r->status);
	l.client = r->client;
	l.method = r->method;
	l.path = r->path;
	l.user = r->user;
	l.status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? r->status : 0;
	l.bytes = r->bytes;
	l.duration_us = now_us() - r->start_us;
	log_request(&l);
	api_free(r);
	if (r->pending != NULL && !r->pending_shared)
		MHD_destroy_response(r->pending);
	free(r->user);
	free(r);
	atomic_fetch_sub(&active, 1);
}

/* Under conn_lock: take k off the deadline list. */
static void
conn_unlist(struct conn *k)
{
	if (!k->listed)
		return;
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		conn_head = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	else
		conn_tail = k->prev;
	k->prev = k->next = NULL;
	k->listed = false;
}

/* A request begins on k: it must be in whole by connection-timeout. */
static void
conn_arm(struct conn *k)
{
	if (k == NULL)
		return;
	pthread_mutex_lock(&conn_lock);
	conn_unlist(k);
	k->deadline_ms = now_ms() + cfg->connection_timeout_ms;
	k->prev = conn_tail;
	if (conn_tail != NULL)
		conn_tail->next = k;
	else
		conn_head = k;
	conn_tail = k;
	k->listed = true;
	pthread_mutex_unlock(&conn_lock);
}

/* The request on k is in (or held, or answered): no deadline now. */
static void
conn_disarm(struct conn *k)
{
	if (k == NULL)
		return;
	pthread_mutex_lock(&conn_lock);
	conn_unlist(k);
	pthread_mutex_unlock(&conn_lock);
}

static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

void
http_tick(uint64_t now)
{
	struct conn *k;

	pthread_mutex_lock(&conn_lock);
	while ((k = conn_head) != NULL && k->deadline_ms <= now) {
		conn_unlist(k);
		/* libmicrohttpd sees the socket fail and closes it. */
		(void)shutdown(k->fd, SHUT_RDWR);
		metrics_inc(request_timeouts);
	}
	pthread_mutex_unlock(&conn_lock);
}

static bool
trusted_proxy(const struct addr *a)
{
	unsigned i;

	for (i = 0; i < cfg->n_proxies; i++)
		if (cidr_match(&cfg->proxies[i], a))
			return true;
	return false;
}

/* Before accepting: refuse an address at per-ip-connection-limit. */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct addr a;

	(void)cls;
	(void)len;
	if (atomic_load(&stopping))
		return MHD_NO;
	/* Refused at once, not left in the listen backlog to time out. */
	if (atomic_load(&open_conns) >= cfg->connection_limit) {
		metrics_inc(connections_refused);
		return MHD_NO;
	}
	if (addr_from_sockaddr(sa, &a) == -1 || trusted_proxy(&a))
		return MHD_YES;
	return peers_may_connect(peers, &a) ? MHD_YES : MHD_NO;
}

/* Count each open connection of an untrusted address. */
static void
connection_event(void *cls, struct MHD_Connection *c, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct conn *k = *socket_ctx;
	struct addr a;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		/* Before libmicrohttpd closes the socket: http_tick never
		 * shuts down a descriptor reused meanwhile. */
		if (k != NULL) {
			conn_disarm(k);
			peers_disconnect(peers, k->peer);
			free(k);
		}
		*socket_ctx = NULL;
		atomic_fetch_sub(&open_conns, 1);
		return;
	}
	atomic_fetch_add(&open_conns, 1);
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return; /* not counted per address, nor timed: rare enough */
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	k->fd = ci != NULL ? ci->connect_fd : -1;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && addr_from_sockaddr(ci->client_addr, &a) == 0 &&
	    !trusted_proxy(&a))
		k->peer = peers_connect(peers, &a);
	*socket_ctx = k;
	if (k->fd != -1)
		conn_arm(k);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warn("libmicrohttpd: %s", msg);
}

/*
 * Make way for a Unix socket at sun's path: nothing there, or a socket
 * left by a server that is gone (connecting is refused), which is
 * removed.  A live socket or another kind of file is left alone.
 * Returns 0, or -1 after logging why.
 */
static int
unix_clear(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, e;

	if (lstat(sun->sun_path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("listen unix:%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_warn("listen unix:%s: exists and is not a socket",
		    sun->sun_path);
		return -1;
	}
	/* Non-blocking: a live server with a full backlog is EAGAIN. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		log_warn("listen unix:%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	e = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? 0
	    : errno;
	close(fd);
	if (e != ECONNREFUSED) {
		log_warn("listen unix:%s: %s", sun->sun_path, e == 0 ||
		    e == EAGAIN ? "another server is listening on it"
		    : strerror(e));
		return -1;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		log_warn("listen unix:%s: removing the stale socket: %s",
		    sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Bind and listen on the Unix-domain socket path with mode
 * UNIX_SOCKET_MODE.  The mode comes from the umask at bind(2), so the
 * file never exists with another one; http_listen runs before any thread
 * is started, so no other file is created meanwhile.  Returns the
 * socket, or -1 after logging why.
 */
static int
open_unix_listener(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t mask;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warn("listen unix:%s: path too long", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (unix_clear(&sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("listen unix:%s: %s", path, strerror(errno));
		return -1;
	}
	mask = umask(~(mode_t)UNIX_SOCKET_MODE & 0777);
	e = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ? errno : 0;
	umask(mask);
	if (e != 0) {
		log_warn("listen unix:%s: %s", path, strerror(e));
		close(fd);
		return -1;
	}
	if (lstat(path, &st) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("listen unix:%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	strcpy(unix_path, path);
	unix_dev = st.st_dev;
	unix_ino = st.st_ino;
	listen_unix = true;
	listen_port = 0;
	return fd;
}

/* Remove the socket file of listen unix:/PATH if it is still ours. */
static void
unix_remove(void)
{
	struct stat st;

	if (unix_path[0] == '\0')
		return;
	if (lstat(unix_path, &st) == 0 && st.st_dev == unix_dev &&
	    st.st_ino == unix_ino && unlink(unix_path) == -1)
		log_warn("removing %s: %s", unix_path, strerror(errno));
	unix_path[0] = '\0';
}

/*
 * Bind and listen on ADDRESS:PORT, [ADDRESS]:PORT or unix:/PATH.  Returns
 * the socket, or -1 after logging why; *v6 tells the address family.
 */
static int
open_listener(const char *spec, bool *v6)
{
	char host[64], port[8];
	struct addrinfo hints, *ai;
	int fd, e, one = 1;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	*v6 = false;
	if (strncmp(spec, LISTEN_UNIX, strlen(LISTEN_UNIX)) == 0)
		return open_unix_listener(spec + strlen(LISTEN_UNIX));
	if (config_listen_split(spec, host, port) == -1) {
		log_warn("listen %s: expected ADDRESS:PORT or unix:/PATH",
		    spec);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((e = getaddrinfo(host, port, &hints, &ai)) != 0) {
		log_warn("listen %s: %s", spec, gai_strerror(e));
		return -1;
	}
	*v6 = ai->ai_family == AF_INET6;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (*v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
	    sizeof(one))) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) ||
	    listen(fd, LISTEN_BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		log_warn("listen %s: %s", spec, strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	listen_port = ntohs(ss.ss_family == AF_INET6
	    ? ((struct sockaddr_in6 *)&ss)->sin6_port
	    : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Read a whole PEM file into a NUL-terminated string, or NULL. */
static char *
read_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL) {
		log_warn("%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(PEM_MAX + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, PEM_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > PEM_MAX) {
		log_warn("%s: empty or larger than %d bytes", path, PEM_MAX);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int
http_listen(const struct config *c)
{
	if (c->tls_cert[0] != '\0') {
		if ((tls_cert = read_pem(c->tls_cert)) == NULL ||
		    (tls_key = read_pem(c->tls_key)) == NULL)
			return -1;
	}
	listen_fd = open_listener(c->listen, &listen_v6);
	return listen_fd == -1 ? -1 : 0;
}

struct MHD_Daemon *
http_start(const struct config *c, struct store *s, struct peers *p)
{
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned threads = c->threads;
	long ncpu;

	cfg = c;
	store = s;
	peers = p;
	atomic_init(&api_ctx.cfg, c);
	api_ctx.store = s;
	api_ctx.peers = p;
	if (listen_unix) {
		/* `::', standing for the peer, then trusted-proxies. */
		memset(&unix_trusted[0], 0, sizeof(unix_trusted[0]));
		unix_trusted[0].prefix = 128;
		memcpy(&unix_trusted[1], c->proxies,
		    sizeof(c->proxies[0]) * c->n_proxies);
		n_unix_trusted = c->n_proxies + 1;
	}
	if (c->n_origins == 0 && (shared_204 = MHD_create_response_from_buffer(
	    0, NULL, MHD_RESPMEM_PERSISTENT)) != NULL) {
		MHD_add_response_header(shared_204,
		    "Access-Control-Allow-Origin", "*");
		MHD_add_response_header(shared_204,
		    "Access-Control-Expose-Headers", EXPOSE_HEADERS);
	}
	if (listen_v6)
		flags |= MHD_USE_IPv6;
	if (tls_cert != NULL)
		flags |= MHD_USE_TLS;
	/*
	 * libmicrohttpd 0.9.75 walks every suspended connection of a
	 * thread at each wake-up; several threads a CPU keep those lists
	 * short (wake p99 at 10000 held polls: 500 us with 2 threads, 370
	 * with 8, on 2 CPUs) at no cost in throughput.
	 */
	if (threads == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		threads = THREADS_PER_CPU * (ncpu > 0 ? (unsigned)ncpu : 1);
	}
	if (watch_start(hung_up) == -1) {
		log_warn("http: cannot watch held connections: %s",
		    strerror(errno));
		return NULL;
	}
	d = MHD_start_daemon(flags, 0, accept_policy, NULL, handle, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, listen_fd,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    /* connection-limit is kept by accept_policy, which refuses at
	     * once; libmicrohttpd's limit, split over its threads, would
	     * leave connections in the backlog first. */
	    MHD_OPTION_CONNECTION_LIMIT, 2 * c->connection_limit + 64,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)(c->connection_timeout_ms / 1000),
	    MHD_OPTION_URI_LOG_CALLBACK, request_start, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, connection_event, NULL,
	    /* Without TLS the list ends here. */
	    tls_cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	    tls_cert, MHD_OPTION_HTTPS_MEM_KEY, tls_key,
	    MHD_OPTION_END);
	if (d == NULL) {
		log_warn("libmicrohttpd failed to start on %s", c->listen);
		watch_stop();
		close(listen_fd);
		listen_fd = -1;
		unix_remove();
	}
	return d;
}

void
http_reconfigure(const struct config *c)
{
	atomic_store(&cfg, c);
	atomic_store(&api_ctx.cfg, c);
}

unsigned
http_port(struct MHD_Daemon *d)
{
	(void)d;
	return listen_port;
}

void
http_quiesce(struct MHD_Daemon *d)
{
	/*
	 * Not MHD_quiesce_daemon: in 0.9.75 its thread-pool path races a
	 * worker that drops the listening socket from its epoll set on its
	 * own, and panics.  The accept policy refuses every connection from
	 * now on instead; MHD_stop_daemon closes the socket.
	 */
	(void)d;
	atomic_store(&stopping, true);
}

void
http_stop(struct MHD_Daemon *d, uint64_t grace_ms)
{
	uint64_t deadline = now_ms() + grace_ms;
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	while (atomic_load(&active) > 0 && now_ms() < deadline)
		nanosleep(&ts, NULL);
	MHD_stop_daemon(d);
	watch_stop();
	unix_remove();
	if (shared_204 != NULL)
		MHD_destroy_response(shared_204);
	shared_204 = NULL;
	if (tls_key != NULL)
		wipe(tls_key, strlen(tls_key));
	free(tls_key);
	free(tls_cert);
	tls_key = tls_cert = NULL;
}
