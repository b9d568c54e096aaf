/*
 * json.h - the only cJSON user: error bodies and JSON log lines.
 *
 * Every function returns a NUL-terminated string allocated with malloc(3)
 * that the caller frees, or NULL when memory ran out.
 */
#ifndef INBOXD_JSON_H
#define INBOXD_JSON_H

#include <stdint.h>

/*
 * The error body of SPEC section 2: {"error":code,"message":message}.
 * code is one of the snake_case words of the protocol.
 */
char *json_error(const char *code, const char *message);

/* The answer to POST /pin: {"pin":pin,"expires_in":seconds}. */
char *json_pin(const char *pin, uint64_t expires_in);

/* The answer to /healthz: {"status":status}. */
char *json_status(const char *status);

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
