/*
 * api.c - one handler per endpoint: validate, then call auth, store and
 * the waiter machinery, and reply through http.h.
 *
 * Order of checks for /inbox: path (404), method (405), credentials
 * present and well formed (401, 400), the password of a known inbox
 * (401), query (400), declared size (413); then, once the body is in, a
 * first contact's hash and the mailbox itself.  Everything but the hash is
 * decided when the headers arrive, so a refused upload is never read.
 *
 * A Bearer token (SPEC section 9) stands where Basic credentials do: the
 * token is checked in full when the headers arrive (jwt.h), and its
 * caller's inbox is told from a Basic one by credentials alone, so both
 * stores keep them apart unchanged: the Bearer MAC (auth_bearer_mac),
 * which no password's equals, and at creation a hash that no Argon2id
 * output equals (auth_bearer_hash).  A Bearer request never runs Argon2.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stdio.h>

#include "api.h"
#include "field.h"
#include "ice.h"
#include "json.h"
#include "jwt.h"
#include "metrics.h"
#include "util.h"

#define CHUNKED_INITIAL_CAP 1024 /* bytes, grown by doubling */
#define ROOM_BODY_MAX (16 * 1024) /* bytes of a POST /rooms body */
#define ROOM_ID_CHARS 16    /* base64url: 96 bits (SPEC: at least 72) */
#define ROOM_TOKEN_CHARS 22 /* base64url: 132 bits (SPEC: at least 96) */


/*
 * The one mapping of store results to answers (SPEC section 2): status,
 * error code and the message a caller gets unless its route says more,
 * after OpenBSD httpd's http_errors[] and server_abort_http.
 */
static const struct refusal {
	unsigned status;
	const char *code;
	const char *message;
} refusals[] = {
	[STORE_NOT_FOUND] = { 404, "not_found", "no such inbox" },
	[STORE_INBOX_FULL] = { 503, "inbox_full",
	    "the recipient's inbox is full" },
	[STORE_SERVER_FULL] = { 503, "server_full",
	    "the server is full (max-inboxes, max-rooms or max-memory)" },
	[STORE_WRONG] = { 401, "unauthorized", "wrong password" },
	[STORE_NOMEM] = { 503, "server_full", "out of memory" },
	[STORE_FORBIDDEN] = { 403, "forbidden",
	    "not allowed to the caller in this room" },
	[STORE_CONFLICT] = { 409, "conflict", "a room of that name exists" },
	[STORE_ROOM_FULL] = { 409, "room_full",
	    "the room holds max_members members" },
	[STORE_TOO_MANY_ROOMS] = { 409, "too_many_rooms",
	    "the caller is in max-rooms-per-inbox rooms" },
	[STORE_TOO_MANY_INVITATIONS] = { 409, "too_many_invitations",
	    "the room holds max_members pending invitations" },
	[STORE_NO_PEER] = { 404, "not_found", "the peer is not a member" },
	[STORE_UNAVAILABLE] = { 503, "store_unavailable",
	    "the shared store cannot be reached" },
};

/*
 * Answer the store's refusal res, with message in place of the table's
 * when it is not NULL.  A wrong password also counts one failure
 * against the client address.
 */
static void
refuse(struct request *r, enum store_result res, const char *message)
{
	const struct refusal *f = (size_t)res < nitems(refusals) &&
	    refusals[res].code != NULL ? &refusals[res] : &refusals[STORE_NOMEM];

	if (res == STORE_WRONG) {
		metrics_inc(auth_failures);
		peers_fail(r->ctx->peers, &r->client_addr, now_ms());
	}
	http_error(r, f->status, f->code, message != NULL ? message :
	    f->message);
}

/* An unknown, used or expired PIN: 404, and a failure of the address. */
static void
unknown_pin(struct request *r)
{
	metrics_inc(auth_failures);
	peers_fail(r->ctx->peers, &r->client_addr, now_ms());
	refuse(r, STORE_NOT_FOUND, "no such PIN");
}


/*
 * Copy the request's Basic password (RFC 7617) into its hashing job,
 * which wipes it when done (auth.c): the password is kept only while a
 * first contact hashes or verifies it.  Returns 0, or -1 when the header
 * is gone or memory ran out.
 */
static int
take_password(struct request *r)
{
	char *user, *password;
	int ret = -1;

	if (r->a.job.password != NULL)
		return 0;
	if (http_credentials(r, &user, &password) == -1)
		return -1;
	r->a.job.len = strlen(password);
	if ((r->a.job.password = malloc(r->a.job.len + 1)) != NULL) {
		memcpy(r->a.job.password, password, r->a.job.len + 1);
		ret = 0;
	}
	http_free_credentials(user, password);
	return ret;
}

static void auth_done(struct auth_job *job);
static int first_contact(struct auth_job *job);
static enum store_result bearer_contact(struct request *r);
static void finish_auth(struct request *r);

/*
 * The caller's inbox was made again since this node verified its
 * password (by another node, or after the shared store lost its data):
 * verify the password once more, against the hash the store holds now,
 * and act again; only a password that does not match is refused.  For
 * /inbox and /pin, whose handlers act again from scratch.  Returns
 * true when the request is now suspended for it.
 */
static bool
reverify(struct request *r)
{
	if (r->a.reverified ||
	    (r->route != ROUTE_INBOX && r->route != ROUTE_PIN &&
	    r->route != ROUTE_ICE))
		return false;
	r->a.reverified = true;
	if (r->a.bearer) { /* no hash to wait for: at once */
		r->a.authed = false;
		r->a.auth_result = bearer_contact(r);
		r->a.job.result = 0;
		finish_auth(r);
		return true;
	}
	if (take_password(r) == -1)
		return false;
	r->a.authed = false;
	r->phase = PHASE_AUTH;
	r->a.job.done = auth_done;
	r->a.job.work = first_contact;
	http_suspend(r);
	auth_submit(&r->a.job);
	return true;
}

/*
 * What any operation of a shared store may answer (redis.h): Redis out
 * of reach, or the caller's inbox made again under another password.
 * Replies (or verifies again) and returns true for those.
 */
static bool
store_trouble(struct request *r, enum store_result res)
{
	switch (res) {
	case STORE_UNAVAILABLE:
		refuse(r, STORE_UNAVAILABLE, NULL);
		return true;
	case STORE_WRONG:
		if (!reverify(r))
			refuse(r, STORE_WRONG, "wrong password");
		return true;
	default:
		return false;
	}
}

/* Check the query of a GET; replies and returns -1 on error. */
static int
begin_get(struct request *r)
{
	const struct config *cfg = r->ctx->cfg;
	const char *wait = http_query(r, "wait", NULL);
	const char *max = http_query(r, "max", NULL);
	const char *ack = http_query(r, "ack", NULL);
	struct store_get *get = &r->w.get;

	r->a.wait_ms = cfg->default_wait_ms;
	if (wait != NULL && field_wait(wait, cfg->max_wait_ms, &r->a.wait_ms)) {
		http_error(r, 400, "bad_request",
		    "wait must be a whole number of seconds");
		return -1;
	}
	if (max != NULL && field_max(max, UINT_MAX, &get->max) == -1) {
		http_error(r, 400, "bad_request",
		    "max must be a whole number of at least 1");
		return -1;
	}
	/* max=1 is the single-message form (SPEC section 9); a larger
	 * max asks for a batch, even if max-batch is 1. */
	r->a.batch = get->max > 1;
	if (get->max > cfg->max_batch)
		get->max = cfg->max_batch;
	if (ack != NULL && field_ack(ack, &get->ack_id) == -1) {
		http_error(r, 400, "bad_request",
		    "ack must be a message id");
		return -1;
	}
	get->ack = ack != NULL;
	return 0;
}

/* Check the query and size of a POST; replies and returns -1 on error. */
static int
begin_post(struct request *r)
{
	const struct config *cfg = r->ctx->cfg;
	const char *to, *type, *length, *why, *pin, *room;
	size_t to_len, room_len;
	uint64_t cap = CHUNKED_INITIAL_CAP;

	to = http_query(r, "to", &to_len);
	room = http_query(r, "room", &room_len);
	if (room != NULL && room_len > 0) {
		if (to != NULL && to_len > 0) {
			http_error(r, 400, "bad_request",
			    "to and room do not go together");
			return -1;
		}
		if (strlen(room) != room_len) {
			http_error(r, 400, "bad_request",
			    "room holds a NUL byte");
			return -1;
		}
		if ((r->a.room = strdup(room)) == NULL) {
			refuse(r, STORE_NOMEM, NULL);
			return -1;
		}
		r->a.fanout = true;
	} else if ((to == NULL || to_len == 0) &&
	    (pin = http_header(r, "X-PIN")) != NULL) {
		/* Malformed or not, a PIN that names no inbox is unknown. */
		if (field_pin(pin, cfg->pin_digits, &r->a.pin_code) == -1) {
			unknown_pin(r);
			return -1;
		}
		r->a.by_pin = true;
	} else if (to == NULL || to_len == 0) {
		http_error(r, 400, "bad_request", "to is missing");
		return -1;
	} else if (strlen(to) != to_len ||
	    (why = auth_check_username(to, to_len)) != NULL) {
		http_error(r, 400, "bad_request",
		    "to is not a valid username");
		return -1;
	} else
		r->a.to = to;
	length = http_header(r, "Content-Length");
	if (length != NULL) {
		if (parse_uint(length, UINT64_MAX, &cap) == -1 ||
		    cap > cfg->max_message_size) {
			http_error(r, 413, "payload_too_large",
			    "the message is larger than max-message-size");
			return -1;
		}
	} else if (cap > cfg->max_message_size)
		cap = cfg->max_message_size;
	type = http_header(r, "Content-Type");
	if (type != NULL && field_content_type(type) == -1) {
		http_error(r, 400, "bad_request",
		    "Content-Type is longer than 255 bytes or holds a control "
		    "character");
		return -1;
	}
	if ((r->a.body = message_new(r->user, type, cap)) == NULL) {
		refuse(r, STORE_NOMEM, NULL);
		return -1;
	}
	return 0;
}

/* The token of "Authorization: Bearer TOKEN" (RFC 6750 2.1), or NULL. */
static const char *
bearer_token(struct request *r)
{
	const char *v = http_header(r, "Authorization");

	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	for (v += 7; *v == ' '; v++)
		;
	return v;
}

/* A refused token: 401, and a failure of the address (SPEC section 9). */
static void
bad_token(struct request *r, const char *why)
{
	metrics_inc(auth_failures);
	peers_fail(r->ctx->peers, &r->client_addr, now_ms());
	r->invalid_token = true;
	http_error(r, 401, "unauthorized", why);
}

/*
 * Check a Bearer token: the inbox is its jwt-claim, which must be an
 * inbox name (else 401 too: the token is unusable here, RFC 6750 3.1).
 * A known inbox is settled by the Bearer MAC at once; an unknown one is
 * made once the body is in.
 */
static int
begin_bearer(struct request *r, const char *token)
{
	const struct config *cfg = r->ctx->cfg;
	const struct jwt_rules rules = {
		.claim = cfg->jwt_claim,
		.issuer = cfg->jwt_issuer,
		.audience = cfg->jwt_audience,
		.leeway_s = cfg->jwt_leeway_ms / 1000,
	};
	const char *why;
	char *name;

	r->a.bearer = true;
	if (jwt_key_check(cfg->jwt_key, &rules, token,
	    (int64_t)(wall_us() / 1000000), &name, &why) == -1) {
		bad_token(r, why);
		return -1;
	}
	if (auth_check_username(name, strlen(name)) != NULL) {
		free(name);
		bad_token(r, "the token's inbox claim is not 1 to 256 bytes of "
		    "UTF-8 without control characters");
		return -1;
	}
	r->user = name;
	auth_bearer_mac(name, r->a.mac);
	switch (store_login(r->ctx->store, name, r->a.mac, now_ms())) {
	case STORE_OK:
		r->a.authed = true;
		return 0;
	case STORE_NOT_FOUND: /* made once the body is in (api_finish) */
		return 0;
	default:
		refuse(r, STORE_WRONG, "the inbox was made with a password");
		return -1;
	}
}

/*
 * Check the credentials: a cached MAC settles a known inbox at once; an
 * unknown one is a first contact whose hash waits for the body.
 */
static int
begin_auth(struct request *r)
{
	const struct config *cfg = r->ctx->cfg;
	char *user, *password;
	const char *why, *token;
	size_t len;
	int ret = -1;

	if (cfg->jwt_key != NULL && (token = bearer_token(r)) != NULL)
		return begin_bearer(r, token);
	if (cfg->jwt_required) {
		http_error(r, 401, "unauthorized",
		    "a Bearer token is required");
		return -1;
	}
	if (http_credentials(r, &user, &password) == -1) {
		http_error(r, 401, "unauthorized", cfg->jwt_key != NULL ?
		    "Basic credentials or a Bearer token are required" :
		    "Basic credentials are required");
		return -1;
	}
	len = strlen(password);
	if ((why = auth_check_username(user, strlen(user))) != NULL ||
	    (why = auth_check_password(len)) != NULL) {
		http_error(r, 400, "bad_request", why);
		goto done;
	}
	if ((r->user = strdup(user)) == NULL) {
		refuse(r, STORE_NOMEM, NULL);
		goto done;
	}
	auth_mac(user, password, len, r->a.mac);
	switch (store_login(r->ctx->store, user, r->a.mac, now_ms())) {
	case STORE_OK:
		r->a.authed = true;
		break;
	case STORE_NOT_FOUND: /* hashed once the body is in (api_finish) */
		break;
	default:
		refuse(r, STORE_WRONG, "wrong password");
		goto done;
	}
	ret = 0;
done:
	http_free_credentials(user, password);
	return ret;
}

/*
 * Route /rooms/ROOM[/members[/NAME]|/invitations]; ROOM and NAME are
 * copied to r->a.room and r->a.peer.  libmicrohttpd has decoded the path, so
 * NAME, the rest of it, may hold a '/' (%2F); a room name never does.  Returns 0, or -1 for no such path.
 */
static int
route_room(struct request *r, const char *rest)
{
	const char *slash = strchr(rest, '/'), *sub;
	size_t len = slash != NULL ? (size_t)(slash - rest) : strlen(rest);

	if (len == 0)
		return -1;
	if (slash == NULL)
		r->route = ROUTE_ROOM;
	else if (strcmp(sub = slash + 1, "members") == 0)
		r->route = ROUTE_ROOM_MEMBERS;
	else if (strcmp(sub, "invitations") == 0)
		r->route = ROUTE_ROOM_INVITES;
	else if (strncmp(sub, "members/", 8) == 0 && sub[8] != '\0')
		r->route = ROUTE_ROOM_MEMBER; /* a name may hold a '/' */
	else
		return -1;
	if ((r->a.room = strdup(rest)) == NULL)
		return -1;
	r->a.room[len] = '\0';
	if (r->route == ROUTE_ROOM_MEMBER)
		r->a.peer = r->a.room + len + 1 + 8;
	return 0;
}

/* Route the path; 404 for an unknown one.  Returns 0 or -1 (replied). */
static int
route(struct request *r)
{
	static const struct {
		const char *path;
		enum route route;
	} routes[] = {
		{ "/inbox", ROUTE_INBOX },
		{ "/pin", ROUTE_PIN },
		{ "/ice", ROUTE_ICE },
		{ "/healthz", ROUTE_HEALTH },
		{ "/metrics", ROUTE_METRICS },
		{ "/rooms", ROUTE_ROOMS },
	};
	size_t i;

	for (i = 0; i < nitems(routes); i++)
		if (strcmp(r->path, routes[i].path) == 0) {
			r->route = routes[i].route;
			return 0;
		}
	if (strncmp(r->path, "/rooms/", 7) == 0 &&
	    route_room(r, r->path + 7) == 0)
		return 0;
	http_error(r, 404, "not_found", "no such path");
	return -1;
}

static void
health(struct request *r)
{
	char *body;

	if (!store_healthy(r->ctx->store)) {
		refuse(r, STORE_UNAVAILABLE, NULL);
		return;
	}
	body = json_status("ok");

	http_body(r, 200, "application/json", body, body ? strlen(body) : 0);
}

static void
expose_metrics(struct request *r)
{
	const struct config *cfg = r->ctx->cfg;
	struct store_stats st;
	struct peer_stats ps;
	size_t len = 0;
	unsigned i;
	char *text;

	for (i = 0; i < cfg->n_metrics_allow; i++)
		if (cidr_match(&cfg->metrics_allow[i], &r->peer_addr))
			break;
	if (i == cfg->n_metrics_allow) {
		http_error(r, 403, "forbidden",
		    "metrics are served to metrics-allow only");
		return;
	}
	store_stats(r->ctx->store, &st);
	peers_stats(r->ctx->peers, &ps);
	text = metrics_render(&st, &ps, &len);
	http_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    len);
}

/* Check a room request's query and size; replies and returns -1 on error. */
static int
begin_room(struct request *r)
{
	const char *length, *why;
	uint64_t cap = 0;
	size_t len;

	if (r->route == ROUTE_ROOM_INVITES) {
		r->a.peer = http_query(r, "peer", &len);
		if (r->a.peer == NULL || len == 0 || strlen(r->a.peer) != len ||
		    (why = auth_check_username(r->a.peer, len)) != NULL) {
			http_error(r, 400, "bad_request",
			    "peer must name an inbox");
			return -1;
		}
	}
	if (r->route != ROUTE_ROOMS)
		return 0; /* no body: one sent is read and dropped */
	if (r->ctx->cfg->rooms_require_jwt && !r->a.bearer) {
		http_error(r, 403, "forbidden", "rooms are made by callers "
		    "with a Bearer token only (rooms-require-jwt)");
		return -1;
	}
	length = http_header(r, "Content-Length");
	if (length != NULL && (parse_uint(length, UINT64_MAX, &cap) == -1 ||
	    cap > ROOM_BODY_MAX)) {
		http_error(r, 413, "payload_too_large",
		    "a room's settings take at most 16 KiB");
		return -1;
	}
	if ((r->a.body = message_new(r->user, NULL, length != NULL ? cap :
	    CHUNKED_INITIAL_CAP)) == NULL) {
		refuse(r, STORE_NOMEM, NULL);
		return -1;
	}
	return 0;
}

/* Is method allowed on r's route?  (OPTIONS is answered before.) */
static bool
method_allowed(const struct request *r)
{
	const char *m = r->method;

	switch (r->route) {
	case ROUTE_INBOX:
		return strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0;
	case ROUTE_ROOM:
		return strcmp(m, "GET") == 0 || strcmp(m, "DELETE") == 0;
	case ROUTE_ROOM_MEMBER:
		return strcmp(m, "DELETE") == 0;
	case ROUTE_HEALTH:
	case ROUTE_METRICS:
	case ROUTE_ICE:
		return strcmp(m, "GET") == 0;
	default: /* /pin, /rooms, members, invitations */
		return strcmp(m, "POST") == 0;
	}
}

void
api_begin(struct request *r)
{
	uint64_t retry_ms;

	if (route(r) == -1)
		return;
	if (strcmp(r->method, "OPTIONS") == 0 && r->route != ROUTE_HEALTH &&
	    r->route != ROUTE_METRICS) {
		http_preflight(r);
		return;
	}
	if (!method_allowed(r)) {
		http_error(r, 405, "method_not_allowed",
		    "the method is not allowed on this path");
		return;
	}
	if (r->route == ROUTE_HEALTH) {
		health(r);
		return;
	}
	if (r->route == ROUTE_METRICS) {
		expose_metrics(r);
		return;
	}
	/* Before any password is looked at, let alone hashed. */
	if (peers_blocked(r->ctx->peers, &r->client_addr, now_ms(), &retry_ms)) {
		metrics_inc(rate_limited);
		http_too_many(r, retry_ms);
		return;
	}
	r->a.post = strcmp(r->method, "POST") == 0 && r->route == ROUTE_INBOX;
	if (begin_auth(r) == -1)
		return;
	if (r->route == ROUTE_INBOX) {
		if (r->a.post)
			begin_post(r);
		else
			begin_get(r);
	} else if (r->route != ROUTE_PIN && r->route != ROUTE_ICE)
		begin_room(r);
}

int
api_upload(struct request *r, const char *data, size_t len)
{
	const struct config *cfg = r->ctx->cfg;
	uint64_t limit = r->route == ROUTE_ROOMS ? ROOM_BODY_MAX :
	    cfg->max_message_size;
	size_t need;

	if (r->a.too_large) {
		/*
		 * Read on, not stored, so the 413 can be sent; a body that
		 * runs on past twice the limit is cut off.
		 */
		r->a.discarded += len;
		return r->a.discarded > limit ? -1 : 0;
	}
	if (r->a.body == NULL) {
		/* A body nothing asked for: read on and drop, within bounds. */
		r->a.discarded += len;
		return r->a.discarded > limit ? -1 : 0;
	}
	need = r->a.body->len + len;
	if (need > limit) {
		/* Only a chunked body gets here: drop it, answer 413. */
		r->a.too_large = true;
		r->a.discarded = need - limit;
		wipe(message_body(r->a.body), r->a.body->len);
		message_free(r->a.body);
		r->a.body = NULL;
		return 0;
	}
	if (need > r->a.body->cap) {
		size_t cap = r->a.body->cap ? r->a.body->cap : 1;

		while (cap < need)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		if (message_reserve(&r->a.body, cap) == -1) {
			r->a.too_large = true;
			wipe(message_body(r->a.body), r->a.body->len);
			message_free(r->a.body);
			r->a.body = NULL;
			return 0;
		}
	}
	memcpy(message_body(r->a.body) + r->a.body->len, data, len);
	r->a.body->len = (uint32_t)need;
	return 0;
}

static void
auth_done(struct auth_job *job)
{
	http_resume(container_of(job, struct request, a.job));
}

/*
 * Answer a GET with the messages it was handed, which stay in flight
 * until the response completes: one as its raw body (SPEC section 2), or
 * with max= the JSON batch of SPEC section 9.
 */
static void
reply_messages(struct request *r)
{
	char *body;
	size_t len;

	if (!r->a.batch) {
		http_message(r, r->w.msg);
		return;
	}
	if ((body = json_batch(r->w.msg, &len)) == NULL) {
		store_done(r->ctx->store, &r->w, false, now_ms());
		refuse(r, STORE_NOMEM, NULL);
		return;
	}
	http_body(r, 200, "application/json", body, len);
}

static void
act_get(struct request *r)
{
	struct store *s = r->ctx->store;
	enum store_result res;

	r->w.owner = r;
	res = store_receive(s, r->user, &r->w, r->a.wait_ms, now_ms());
	if (store_trouble(r, res))
		return;
	switch (res) {
	case STORE_OK:
		reply_messages(r);
		break;
	case STORE_HELD:
		r->phase = PHASE_HELD;
		break;
	default: /* empty, or expired since login: nothing for the caller */
		http_empty(r, 204);
		break;
	}
}

/* POST /inbox?room=: a copy to every other member. */
static void
act_fanout(struct request *r)
{
	struct roster *copies = NULL;
	enum store_result res;
	char *body;

	res = store_room_send(r->ctx->store, r->a.room, r->a.body, now_ms(),
	    &copies);
	if (store_trouble(r, res))
		return;
	switch (res) {
	case STORE_OK:
		body = json_fanout(copies);
		free(copies);
		http_body(r, 200, "application/json", body,
		    body ? strlen(body) : 0);
		break;
	case STORE_NOT_FOUND:
		refuse(r, res, "no such room");
		break;
	case STORE_FORBIDDEN:
		refuse(r, res, "not a member of the room");
		break;
	default:
		refuse(r, res, NULL);
		break;
	}
}

static void
act_post(struct request *r)
{
	char to[STORE_NAME_MAX + 1];
	enum store_result res = r->a.by_pin
	    ? store_pin_send(r->ctx->store, r->a.pin_code, r->a.body, now_ms(), to)
	    : store_send(r->ctx->store, r->a.to, r->a.body, now_ms());

	if (store_trouble(r, res))
		return;
	switch (res) {
	case STORE_OK:
		r->a.body = NULL;
		if (r->a.by_pin)
			http_sent_to(r, to);
		else
			http_empty(r, 204);
		break;
	case STORE_NOT_FOUND:
		if (r->a.by_pin)
			unknown_pin(r);
		else
			refuse(r, res, "the recipient has no inbox");
		break;
	case STORE_INBOX_FULL:
		refuse(r, STORE_INBOX_FULL, NULL);
		break;
	default:
		refuse(r, STORE_SERVER_FULL,
		    "the server's memory for messages is full");
		break;
	}
}

/* POST /pin: a fresh pairing code for the caller's inbox. */
static void
act_pin(struct request *r)
{
	const struct config *cfg = r->ctx->cfg;
	char pin[16], *body;
	enum store_result res;
	uint32_t code;

	res = store_pin_create(r->ctx->store, r->user, cfg->pin_digits,
	    cfg->pin_timeout_ms, now_ms(), &code);
	if (store_trouble(r, res))
		return;
	switch (res) {
	case STORE_OK:
		snprintf(pin, sizeof(pin), "%0*u", (int)cfg->pin_digits, code);
		body = json_pin(pin, cfg->pin_timeout_ms / 1000);
		http_body(r, 201, "application/json", body,
		    body ? strlen(body) : 0);
		break;
	case STORE_NOT_FOUND: /* expired since login */
		refuse(r, STORE_NOT_FOUND, "the inbox has expired");
		break;
	default:
		refuse(r, STORE_SERVER_FULL, "no free PIN");
		break;
	}
}

/*
 * GET /ice: the ICE servers for the caller, TURN with credentials of the
 * TURN REST scheme (ice.h) when turn-secret is set (SPEC section 9).
 */
static void
act_ice(struct request *r)
{
	const struct config *cfg = r->ctx->cfg;
	char user[ICE_USERNAME_MAX + 1], credential[ICE_CREDENTIAL_LEN + 1] = "";
	uint64_t ttl_s = cfg->turn_ttl_ms / 1000;
	bool turn = cfg->turn_secret[0] != '\0' && cfg->turn_uris[0] != '\0';
	char *body;

	if (turn && ice_credential(cfg->turn_secret, strlen(cfg->turn_secret),
	    r->user, wall_us() / 1000000 + ttl_s, user, credential) == -1) {
		refuse(r, STORE_NOMEM, "the TURN credentials could not be made");
		return;
	}
	body = json_ice(cfg->stun_uris, cfg->turn_uris, turn ? user : NULL,
	    credential, ttl_s);
	wipe(credential, sizeof(credential));
	if (body == NULL) {
		refuse(r, STORE_NOMEM, NULL);
		return;
	}
	if (turn)
		metrics_inc(ice_credentials);
	http_body(r, 200, "application/json", body, strlen(body));
}

/* Answer a room with its members (create, join, GET). */
static void
reply_room(struct request *r, unsigned status, const char *room,
    const char *token, struct roster *members)
{
	char *body = json_room(room, token, members);

	free(members);
	http_body(r, status, "application/json", body, body ? strlen(body) : 0);
}

/* Answer the store's refusal of a room request. */
static void
room_refused(struct request *r, enum store_result res)
{
	switch (res) {
	case STORE_NOT_FOUND:
		refuse(r, res, "no such room");
		break;
	case STORE_FORBIDDEN:
		refuse(r, res, r->route == ROUTE_ROOM_MEMBERS ?
		    "the room takes its secret or an invitation" : NULL);
		break;
	case STORE_WRONG: /* a room secret: forbidden, and a failure */
		metrics_inc(auth_failures);
		peers_fail(r->ctx->peers, &r->client_addr, now_ms());
		refuse(r, STORE_FORBIDDEN, "wrong room secret");
		break;
	case STORE_NO_PEER:
		refuse(r, res, r->route == ROUTE_ROOM_INVITES ?
		    "the peer has no inbox" : NULL);
		break;
	default:
		refuse(r, res, NULL);
		break;
	}
}

/* Create the room r->a.create describes, its password hashed into h. */
static void
create_room(struct request *r, const struct cred_hash *h)
{
	const struct config *cfg = r->ctx->cfg;
	struct json_room_request *rq = r->a.create;
	char id[ROOM_ID_CHARS + 1], token[ROOM_TOKEN_CHARS + 1];
	uint8_t mac[CRED_MAC_BYTES];
	struct room_params p = { 0 };
	struct roster *members = NULL;
	enum store_result res;
	bool with_token = rq->password == NULL && !rq->invite_only;
	int tries = rq->name != NULL ? 1 : 4;

	p.hash = h;
	p.invite_only = rq->invite_only;
	p.max_members = rq->max_members > ROOM_MEMBERS_MAX ? 0 :
	    (unsigned)rq->max_members;
	p.ttl_ms = rq->ttl == 0 ? cfg->room_timeout_ms :
	    rq->ttl > cfg->room_max_timeout_ms / 1000 ?
	    cfg->room_max_timeout_ms : rq->ttl * 1000;
	do {
		if ((rq->name == NULL && random_token(id, ROOM_ID_CHARS) == -1) ||
		    (with_token && random_token(token, ROOM_TOKEN_CHARS) == -1)) {
			refuse(r, STORE_NOMEM, "no randomness");
			return;
		}
		p.name = rq->name != NULL ? rq->name : id;
		if (with_token)
			auth_mac(p.name, token, ROOM_TOKEN_CHARS, mac);
		else if (rq->password != NULL)
			auth_mac(p.name, rq->password, rq->password_len, mac);
		p.mac = rq->invite_only ? NULL : mac;
		res = store_room_create(r->ctx->store, r->user, &p, now_ms(),
		    &members);
	} while (res == STORE_CONFLICT && --tries > 0);
	wipe(mac, sizeof(mac));
	if (res == STORE_OK)
		reply_room(r, 201, p.name, with_token ? token : NULL, members);
	else if (res == STORE_NOT_FOUND)
		refuse(r, STORE_NOT_FOUND, "the inbox has expired");
	else if (!store_trouble(r, res))
		room_refused(r, res);
	wipe(token, sizeof(token));
}

/* POST /rooms: parse the body; a password is hashed before creation. */
static void
act_create(struct request *r)
{
	const char *why;
	size_t len = r->a.body != NULL ? r->a.body->len : 0;

	if ((r->a.create = calloc(1, sizeof(*r->a.create))) == NULL) {
		refuse(r, STORE_NOMEM, NULL);
		return;
	}
	why = json_room_request(r->a.body != NULL ? message_body(r->a.body) : "",
	    len, r->a.create);
	if (r->a.body != NULL) {
		wipe(message_body(r->a.body), len);
		message_free(r->a.body);
		r->a.body = NULL;
	}
	if (why == NULL && r->a.create->name != NULL &&
	    ((why = auth_check_username(r->a.create->name,
	    strlen(r->a.create->name))) != NULL ||
	    strchr(r->a.create->name, '/') != NULL))
		why = "name must be 1 to 256 bytes of UTF-8 without control "
		    "characters or /";
	if (why == NULL && r->a.create->password != NULL &&
	    auth_check_password(r->a.create->password_len) != NULL)
		why = "password must be min-password-length to 1024 bytes";
	if (why != NULL) {
		http_error(r, 400, "bad_request", why);
		return;
	}
	if (r->a.create->password == NULL) {
		create_room(r, NULL);
		return;
	}
	if (r->a.job.password != NULL) { /* a first contact's, not hashed */
		wipe(r->a.job.password, r->a.job.len);
		free(r->a.job.password);
	}
	if ((r->a.job.password = malloc(r->a.create->password_len + 1)) == NULL) {
		refuse(r, STORE_NOMEM, NULL);
		return;
	}
	memcpy(r->a.job.password, r->a.create->password,
	    r->a.create->password_len + 1);
	r->a.job.len = r->a.create->password_len;
	r->a.job.done = auth_done;
	r->a.job.work = NULL;
	r->phase = PHASE_ROOM_HASH;
	http_suspend(r);
	auth_submit(&r->a.job);
}

/* POST /rooms/ROOM/members: join with X-Room-Token or an invitation. */
static void
act_join(struct request *r)
{
	const char *token = http_header(r, "X-Room-Token");
	uint8_t mac[CRED_MAC_BYTES];
	struct roster *members = NULL;
	enum store_result res;

	if (token != NULL)
		auth_mac(r->a.room, token, strlen(token), mac);
	res = store_room_join(r->ctx->store, r->a.room, r->user,
	    token != NULL ? mac : NULL, now_ms(), &members);
	wipe(mac, sizeof(mac));
	if (res == STORE_OK)
		reply_room(r, 200, r->a.room, NULL, members);
	else
		room_refused(r, res);
}

static void
act_room(struct request *r)
{
	struct store *s = r->ctx->store;
	struct roster *members = NULL;
	enum store_result res;
	bool get = strcmp(r->method, "GET") == 0;

	switch (r->route) {
	case ROUTE_ROOMS:
		act_create(r);
		return;
	case ROUTE_ROOM_MEMBERS:
		act_join(r);
		return;
	case ROUTE_ROOM:
		res = get ? store_room_members(s, r->a.room, r->user, now_ms(),
		    &members) : store_room_close(s, r->a.room, r->user, now_ms());
		break;
	case ROUTE_ROOM_MEMBER:
		res = store_room_leave(s, r->a.room, r->user, r->a.peer, now_ms());
		break;
	default: /* ROUTE_ROOM_INVITES */
		res = store_room_invite(s, r->a.room, r->user, r->a.peer, now_ms());
		break;
	}
	if (store_trouble(r, res))
		return;
	if (res != STORE_OK)
		room_refused(r, res);
	else if (get)
		reply_room(r, 200, r->a.room, NULL, members);
	else
		http_empty(r, 204);
}

static void
act(struct request *r)
{
	if (r->route == ROUTE_PIN)
		act_pin(r);
	else if (r->route == ROUTE_ICE)
		act_ice(r);
	else if (r->route != ROUTE_INBOX)
		act_room(r);
	else if (r->a.fanout)
		act_fanout(r);
	else if (r->a.post)
		act_post(r);
	else
		act_get(r);
}

/*
 * From a hashing worker: the first contact's Argon2id (RFC 9106).  An
 * inbox the store holds is verified against its hash; else the password
 * is hashed and the inbox made, unless another request made it meanwhile.
 * One Argon2id either way, but for that race.
 */
static enum store_result
verify_or_create(struct store *s, const char *name, const char *password,
    size_t len, const uint8_t mac[CRED_MAC_BYTES])
{
	struct cred_hash h;
	enum store_result res;

	res = store_credential(s, name, &h);
	if (res == STORE_NOT_FOUND) {
		if (auth_hash(password, len, &h) == -1)
			return STORE_NOMEM;
		res = store_create(s, name, &h, mac, now_ms());
		if (res == STORE_CONFLICT)
			res = store_credential(s, name, &h);
		else {
			wipe(&h, sizeof(h));
			return res;
		}
	}
	/* A Bearer caller's inbox: no password opens it, nor is hashed. */
	if (res == STORE_OK)
		res = !auth_is_bearer_hash(&h) &&
		    auth_verify(password, len, &h) == 0 ?
		    store_admit(s, name, &h, mac, now_ms()) : STORE_WRONG;
	wipe(&h, sizeof(h));
	return res == STORE_NOT_FOUND ? STORE_UNAVAILABLE : res;
}

/*
 * A Bearer caller's first contact with this node: make its inbox with
 * the Bearer hash, or admit it to one the store holds with that hash;
 * an inbox made with a password is STORE_WRONG.  The token was the
 * proof: no Argon2, so it runs at once, on the request's thread.
 */
static enum store_result
bearer_contact(struct request *r)
{
	struct store *s = r->ctx->store;
	struct cred_hash h;
	enum store_result res;

	res = store_credential(s, r->user, &h);
	if (res == STORE_NOT_FOUND) {
		if (auth_bearer_hash(&h) == -1)
			return STORE_NOMEM;
		res = store_create(s, r->user, &h, r->a.mac, now_ms());
		if (res != STORE_CONFLICT)
			return res;
		res = store_credential(s, r->user, &h);
	}
	if (res == STORE_OK)
		res = auth_is_bearer_hash(&h) ? store_admit(s, r->user, &h,
		    r->a.mac, now_ms()) : STORE_WRONG;
	wipe(&h, sizeof(h));
	return res == STORE_NOT_FOUND ? STORE_UNAVAILABLE : res;
}

static int
first_contact(struct auth_job *job)
{
	struct request *r = container_of(job, struct request, a.job);

	metrics_inc(argon2_hashes);
	r->a.auth_result = verify_or_create(r->ctx->store, r->user,
	    job->password, job->len, r->a.mac);
	return 0;
}

/* The first contact's job is done: go on, or say why not. */
static void
finish_auth(struct request *r)
{
	switch (r->a.job.result == -1 ? STORE_NOMEM : r->a.auth_result) {
	case STORE_OK:
		r->a.authed = true;
		act(r);
		break;
	case STORE_WRONG:
		refuse(r, STORE_WRONG, r->a.bearer ?
		    "the inbox was made with a password" : "wrong password");
		break;
	case STORE_SERVER_FULL:
		refuse(r, STORE_SERVER_FULL,
		    "the server holds max-inboxes inboxes");
		break;
	case STORE_UNAVAILABLE:
		refuse(r, STORE_UNAVAILABLE, NULL);
		break;
	default:
		refuse(r, STORE_NOMEM,
		    "the password could not be hashed");
		break;
	}
}

void
api_free(struct request *r)
{
	struct api_state *a = &r->a;

	if (a->body != NULL) {
		if (r->route == ROUTE_ROOMS) /* it may hold a password */
			wipe(message_body(a->body), a->body->len);
		message_free(a->body);
	}
	if (a->create != NULL) {
		json_room_request_free(a->create);
		free(a->create);
	}
	free(a->room);
	if (a->job.password != NULL) {
		wipe(a->job.password, a->job.len);
		free(a->job.password);
	}
}

void
api_finish(struct request *r)
{
	switch (r->phase) {
	case PHASE_BODY:
		if (r->a.too_large) {
			http_error(r, 413, "payload_too_large",
			    "the message is larger than max-message-size");
			return;
		}
		if (!r->a.authed && r->a.bearer) {
			r->a.auth_result = bearer_contact(r);
			r->a.job.result = 0;
			finish_auth(r);
			return;
		}
		if (!r->a.authed) {
			if (take_password(r) == -1) {
				refuse(r, STORE_NOMEM, NULL);
				return;
			}
			r->phase = PHASE_AUTH;
			r->a.job.done = auth_done;
			r->a.job.work = first_contact;
			http_suspend(r);
			auth_submit(&r->a.job);
			return;
		}
		act(r);
		return;
	case PHASE_AUTH:
		finish_auth(r);
		return;
	case PHASE_ROOM_HASH:
		if (r->a.job.result == -1) {
			refuse(r, STORE_NOMEM,
		    "the password could not be hashed");
			return;
		}
		metrics_inc(argon2_hashes);
		create_room(r, &r->a.job.hash);
		return;
	case PHASE_HELD:
		if (r->w.state == WAITER_MESSAGE)
			reply_messages(r);
		else
			http_empty(r, 204);
		return;
	case PHASE_REPLIED:
		return;
	}
}
