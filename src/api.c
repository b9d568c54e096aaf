/*
 * api.c - one handler per endpoint: validate, then call auth, store and
 * the waiter machinery, and reply through http.h.
 *
 * Order of checks for /inbox: path (404), method (405), credentials
 * present and well formed (401, 400), the password of a known inbox
 * (401), query (400), declared size (413); then, once the body is in, a
 * first contact's hash and the mailbox itself.  Everything but the hash is
 * decided when the headers arrive, so a refused upload is never read.
 */
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "api.h"
#include "field.h"
#include "json.h"
#include "metrics.h"
#include "util.h"

#define CHUNKED_INITIAL_CAP 1024 /* bytes, grown by doubling */

/* An unknown, used or expired PIN: 404, and a failure of the address. */
static void
unknown_pin(struct request *r)
{
	metrics_inc(auth_failures);
	peers_fail(http_peers(), &r->client_addr, now_ms());
	http_error(r, 404, "not_found", "no such PIN");
}

/* A wrong password: 401, and one failure against the client address. */
static void
unauthorized(struct request *r, const char *message)
{
	metrics_inc(auth_failures);
	peers_fail(http_peers(), &r->client_addr, now_ms());
	http_error(r, 401, "unauthorized", message);
}

/* Check the query of a GET; replies and returns -1 on error. */
static int
begin_get(struct request *r)
{
	const struct config *cfg = http_config();
	const char *wait = http_query(r, "wait", NULL);

	r->wait_ms = cfg->default_wait_ms;
	if (wait != NULL && field_wait(wait, cfg->max_wait_ms, &r->wait_ms)) {
		http_error(r, 400, "bad_request",
		    "wait must be a whole number of seconds");
		return -1;
	}
	return 0;
}

/* Check the query and size of a POST; replies and returns -1 on error. */
static int
begin_post(struct request *r)
{
	const struct config *cfg = http_config();
	const char *to, *type, *length, *why, *pin;
	size_t to_len;
	uint64_t cap = CHUNKED_INITIAL_CAP;

	to = http_query(r, "to", &to_len);
	if ((to == NULL || to_len == 0) &&
	    (pin = http_header(r, "X-PIN")) != NULL) {
		/* Malformed or not, a PIN that names no inbox is unknown. */
		if (field_pin(pin, cfg->pin_digits, &r->pin_code) == -1) {
			unknown_pin(r);
			return -1;
		}
		r->by_pin = true;
	} else if (to == NULL || to_len == 0) {
		http_error(r, 400, "bad_request", "to is missing");
		return -1;
	} else if (strlen(to) != to_len ||
	    (why = auth_check_username(to, to_len)) != NULL) {
		http_error(r, 400, "bad_request",
		    "to is not a valid username");
		return -1;
	} else
		r->to = to;
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
	if ((r->body = message_new(r->user, type, cap)) == NULL) {
		http_error(r, 503, "server_full", "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Check the credentials: a cached MAC settles a known inbox at once; an
 * unknown one is a first contact whose hash waits for the body.
 */
static int
begin_auth(struct request *r)
{
	char *user, *password;
	const char *why;
	size_t len;
	int ret = -1;

	if (http_credentials(r, &user, &password) == -1) {
		http_error(r, 401, "unauthorized",
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
		http_error(r, 503, "server_full", "out of memory");
		goto done;
	}
	auth_mac(user, password, len, r->mac);
	switch (store_login(http_store(), user, r->mac, now_ms())) {
	case STORE_OK:
		r->authed = true;
		break;
	case STORE_NOT_FOUND:
		if ((r->job.password = malloc(len + 1)) == NULL) {
			http_error(r, 503, "server_full", "out of memory");
			goto done;
		}
		memcpy(r->job.password, password, len + 1);
		r->job.len = len;
		break;
	default:
		unauthorized(r, "wrong password");
		goto done;
	}
	ret = 0;
done:
	http_free_credentials(user, password);
	return ret;
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
		{ "/healthz", ROUTE_HEALTH },
		{ "/metrics", ROUTE_METRICS },
	};
	size_t i;

	for (i = 0; i < nitems(routes); i++)
		if (strcmp(r->path, routes[i].path) == 0) {
			r->route = routes[i].route;
			return 0;
		}
	http_error(r, 404, "not_found", "no such path");
	return -1;
}

static void
health(struct request *r)
{
	char *body = json_status("ok");

	http_body(r, 200, "application/json", body, body ? strlen(body) : 0);
}

static void
expose_metrics(struct request *r)
{
	const struct config *cfg = http_config();
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
	store_stats(http_store(), &st);
	peers_stats(http_peers(), &ps);
	text = metrics_render(&st, &ps, &len);
	http_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    len);
}

void
api_begin(struct request *r)
{
	uint64_t retry_ms;
	bool get, post;

	if (route(r) == -1)
		return;
	if (strcmp(r->method, "OPTIONS") == 0 &&
	    (r->route == ROUTE_INBOX || r->route == ROUTE_PIN)) {
		http_preflight(r);
		return;
	}
	get = strcmp(r->method, "GET") == 0;
	post = strcmp(r->method, "POST") == 0;
	switch (r->route) {
	case ROUTE_HEALTH:
	case ROUTE_METRICS:
		if (!get)
			http_error(r, 405, "method_not_allowed",
			    "only GET is allowed here");
		else if (r->route == ROUTE_HEALTH)
			health(r);
		else
			expose_metrics(r);
		return;
	case ROUTE_PIN:
		if (!post) {
			http_error(r, 405, "method_not_allowed",
			    "/pin allows POST and OPTIONS");
			return;
		}
		break;
	default:
		if (!get && !post) {
			http_error(r, 405, "method_not_allowed",
			    "/inbox allows GET, POST and OPTIONS");
			return;
		}
		break;
	}
	/* Before any password is looked at, let alone hashed. */
	if (peers_blocked(http_peers(), &r->client_addr, now_ms(), &retry_ms)) {
		metrics_inc(rate_limited);
		http_too_many(r, retry_ms);
		return;
	}
	r->post = post && r->route == ROUTE_INBOX;
	if (begin_auth(r) == -1)
		return;
	if (r->route == ROUTE_PIN)
		return;
	if (get)
		begin_get(r);
	else
		begin_post(r);
}

int
api_upload(struct request *r, const char *data, size_t len)
{
	const struct config *cfg = http_config();
	size_t need;

	if (r->too_large) {
		/*
		 * Read on, not stored, so the 413 can be sent; a body that
		 * runs on past twice the limit is cut off.
		 */
		r->discarded += len;
		return r->discarded > cfg->max_message_size ? -1 : 0;
	}
	if (r->body == NULL) {
		/* A body nothing asked for: read on and drop, within bounds. */
		r->discarded += len;
		return r->discarded > cfg->max_message_size ? -1 : 0;
	}
	need = r->body->len + len;
	if (need > cfg->max_message_size) {
		/* Only a chunked body gets here: drop it, answer 413. */
		r->too_large = true;
		r->discarded = need - cfg->max_message_size;
		message_free(r->body);
		r->body = NULL;
		return 0;
	}
	if (need > r->body->cap) {
		size_t cap = r->body->cap ? r->body->cap : 1;

		while (cap < need)
			cap *= 2;
		if (cap > cfg->max_message_size)
			cap = cfg->max_message_size;
		if (message_reserve(&r->body, cap) == -1) {
			r->too_large = true;
			message_free(r->body);
			r->body = NULL;
			return 0;
		}
	}
	memcpy(message_body(r->body) + r->body->len, data, len);
	r->body->len = (uint32_t)need;
	return 0;
}

static void
auth_done(struct auth_job *job)
{
	http_resume(container_of(job, struct request, job));
}

static void
act_get(struct request *r)
{
	struct store *s = http_store();

	r->w.owner = r;
	switch (store_receive(s, r->user, &r->w, r->wait_ms, now_ms())) {
	case STORE_OK:
		http_message(r, r->w.msg);
		break;
	case STORE_HELD:
		r->phase = PHASE_HELD;
		break;
	default: /* empty, or expired since login: nothing for the caller */
		http_empty(r, 204);
		break;
	}
}

static void
act_post(struct request *r)
{
	char to[STORE_NAME_MAX + 1];
	enum store_result res = r->by_pin
	    ? store_pin_send(http_store(), r->pin_code, r->body, now_ms(), to)
	    : store_send(http_store(), r->to, r->body, now_ms());

	switch (res) {
	case STORE_OK:
		r->body = NULL;
		if (r->by_pin)
			http_sent_to(r, to);
		else
			http_empty(r, 204);
		break;
	case STORE_NOT_FOUND:
		if (r->by_pin)
			unknown_pin(r);
		else
			http_error(r, 404, "not_found",
			    "the recipient has no inbox");
		break;
	case STORE_INBOX_FULL:
		http_error(r, 503, "inbox_full",
		    "the recipient's inbox is full");
		break;
	default:
		http_error(r, 503, "server_full",
		    "the server's memory for messages is full");
		break;
	}
}

/* POST /pin: a fresh pairing code for the caller's inbox. */
static void
act_pin(struct request *r)
{
	const struct config *cfg = http_config();
	char pin[16], *body;
	uint32_t code;

	switch (store_pin_create(http_store(), r->user, cfg->pin_digits,
	    cfg->pin_timeout_ms, now_ms(), &code)) {
	case STORE_OK:
		snprintf(pin, sizeof(pin), "%0*u", (int)cfg->pin_digits, code);
		body = json_pin(pin, cfg->pin_timeout_ms / 1000);
		http_body(r, 201, "application/json", body,
		    body ? strlen(body) : 0);
		break;
	case STORE_NOT_FOUND: /* expired since login */
		http_error(r, 404, "not_found", "the inbox has expired");
		break;
	default:
		http_error(r, 503, "server_full", "no free PIN");
		break;
	}
}

static void
act(struct request *r)
{
	if (r->route == ROUTE_PIN)
		act_pin(r);
	else if (r->post)
		act_post(r);
	else
		act_get(r);
}

/* The first contact's hash is ready: create the inbox and go on. */
static void
finish_auth(struct request *r)
{
	if (r->job.result == -1) {
		http_error(r, 503, "server_full",
		    "the password could not be hashed");
		return;
	}
	metrics_inc(argon2_hashes);
	switch (store_create(http_store(), r->user, &r->job.hash, r->mac,
	    now_ms())) {
	case STORE_OK:
		r->authed = true;
		act(r);
		break;
	case STORE_WRONG:
		unauthorized(r, "wrong password");
		break;
	default:
		http_error(r, 503, "server_full",
		    "the server holds max-inboxes inboxes");
		break;
	}
}

void
api_finish(struct request *r)
{
	switch (r->phase) {
	case PHASE_BODY:
		if (r->too_large) {
			http_error(r, 413, "payload_too_large",
			    "the message is larger than max-message-size");
			return;
		}
		if (!r->authed) {
			r->phase = PHASE_AUTH;
			r->job.done = auth_done;
			http_suspend(r);
			auth_submit(&r->job);
			return;
		}
		act(r);
		return;
	case PHASE_AUTH:
		finish_auth(r);
		return;
	case PHASE_HELD:
		if (r->w.state == WAITER_MESSAGE)
			http_message(r, r->w.msg);
		else
			http_empty(r, 204);
		return;
	case PHASE_REPLIED:
		return;
	}
}
