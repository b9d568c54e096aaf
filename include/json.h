/*
 * json.h - the only cJSON user: response bodies, room requests and
 * events, and JSON log lines.
 *
 * Every function returning char * returns a NUL-terminated string
 * allocated with malloc(3) that the caller frees, or NULL when memory ran
 * out.  JSON is RFC 8259.
 */
#ifndef INBOXD_JSON_H
#define INBOXD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * The error body of SPEC section 2: {"error":code,"message":message}.
 * code is one of the snake_case words of the protocol.
 */
char *json_error(const char *code, const char *message);

/* The answer to POST /pin: {"pin":pin,"expires_in":seconds}. */
char *json_pin(const char *pin, uint64_t expires_in);

/* The answer to /healthz: {"status":status}. */
char *json_status(const char *status);

/*
 * The answer to GET /ice (SPEC section 9): {"iceServers":[{"urls":
 * [stun...]},{"urls":[turn...],"username":user,"credential":credential}],
 * "ttl":ttl_s}, ready for new RTCPeerConnection({iceServers}) (W3C
 * WebRTC, RTCIceServer).  stun and turn are blank-separated URI lists; an
 * empty one gives no entry, and turn is left out without a user.
 */
char *json_ice(const char *stun, const char *turn, const char *user,
    const char *credential, uint64_t ttl_s);

/*
 * The answer to GET /inbox?max=N (SPEC section 9): {"messages":[{"id",
 * "from","type","body"},...]} for the chain m (linked through next),
 * oldest first; type is null when the sender gave none (and read as
 * ISO-8859-1 when it is not UTF-8, RFC 9110 section 5.5); a room message
 * adds "room" and "event" (null for a fan-out copy); a body that is not
 * UTF-8 text, or holds a NUL byte, comes as "body_base64" (RFC 4648
 * section 4) instead of "body".  *len gets the length in bytes.
 */
char *json_batch(const struct message *m, size_t *len);

/* The body of POST /rooms (SPEC section 7); absent keys stay 0/NULL. */
struct json_room_request {
	char *name;     /* malloc'd, or NULL */
	char *password; /* malloc'd, or NULL; wiped by json_room_request_free */
	size_t password_len;
	uint64_t ttl;         /* seconds, 0: absent */
	uint64_t max_members; /* 0: absent */
	bool invite_only;
};

/*
 * Parse len bytes of a POST /rooms body (empty: all defaults) into *rq:
 * an object with only the keys name and password (strings), ttl and
 * max_members (whole numbers from 1) and invite_only (true or false).
 * Returns NULL, or a message for a 400 response (*rq then holds
 * nothing).  cJSON's copy of the password is wiped.
 */
const char *json_room_request(const char *body, size_t len,
    struct json_room_request *rq);

/* Wipe and free what json_room_request filled in. */
void json_room_request_free(struct json_room_request *rq);

/*
 * A room as answered to create, join and GET:
 * {"room","token","expires_in","members"}; token only when not NULL,
 * expires_in in whole seconds rounded up from members->expires_in_ms.
 */
char *json_room(const char *room, const char *token,
    const struct roster *members);

/*
 * The answer to a fan-out: {"delivered":[names],"failed":{name:code}},
 * code "inbox_full" or "server_full".
 */
char *json_fanout(const struct roster *copies);

/*
 * The body of a room event: {"event","room","peer","reason","members"},
 * reason null when news->reason is NULL.  *len gets its length.  Fits
 * room_render_fn (store.h).
 */
char *json_room_event(const struct room_news *news, size_t *len);

/*
 * Does the JSON text (RFC 8259) name want: a string equal to it, or an
 * array holding such a string (a JWT's aud, RFC 7519 section 4.1.3)?
 * Returns 1 when it does, 0 when not, -1 when text is neither a string
 * nor an array of strings.
 */
int json_names(const char *text, const char *want);

/* A log line {"time","level","message"} without a trailing newline. */
char *json_log_message(const char *time, const char *level,
    const char *message);

/* One request's facts, for a JSON access log line. */
struct json_request_log {
	const char *time;   /* RFC 3339, UTC */
	const char *client; /* client address */
	const char *method;
	const char *path;
	const char *user; /* NULL when not authenticated */
	unsigned status;
	uint64_t bytes;       /* response body bytes */
	double duration_ms;   /* from the request's first byte to completion */
};

/* A request log line without a trailing newline. */
char *json_log_request(const struct json_request_log *r);

#endif
