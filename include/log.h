/*
 * log.h - daemon and request logging, as text or JSON lines.
 *
 * Lines are written whole, so lines from different threads never
 * interleave; access log lines are written in batches (log_flush).  Messages go to standard error, to a file (reopened on
 * SIGHUP, for log rotation) or, for a detached daemon without a log file,
 * to syslog(3).  Nothing logged ever contains a password or a message body.
 */
#ifndef INBOXD_LOG_H
#define INBOXD_LOG_H

#include <stdint.h>

#include "config.h"

/* Where log lines go; one of these is chosen at start. */
enum log_target { LOG_TO_STDERR, LOG_TO_FILE, LOG_TO_SYSLOG };

/*
 * Send log lines to target in the given format; path names the file for
 * LOG_TO_FILE.  Returns 0, or -1 with errno set when the file cannot be
 * opened (logging then stays on standard error).
 */
int log_open(enum log_target target, const char *path, enum log_format format);

/*
 * Write out the access log lines gathered since the last flush; called
 * once a tick and before exit.  Request lines wait for it (at most one
 * tick); other messages are written at once.
 */
void log_flush(void);

/* Reopen the log file after rotation.  Returns 0 or -1 (errno set). */
int log_reopen(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log at error level and exit(1); for start-up failures only. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* One completed request, for the access log. */
struct log_request {
	const char *client; /* address, without port */
	const char *method;
	const char *path;
	const char *user; /* NULL before authentication */
	unsigned status;
	uint64_t bytes;       /* response body bytes */
	uint64_t duration_us; /* first call to completion */
};

/* Write the access log line for r. */
void log_request(const struct log_request *r);

#endif
