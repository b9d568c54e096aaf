/*
 * log.c - text or JSON log lines to stderr, a file or syslog.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"

#define LINE_BYTES 2048

static enum log_target target = LOG_TO_STDERR;
static enum log_format format = LOG_FORMAT_TEXT;
static int fd = STDERR_FILENO;
static char *file_path;

/*
 * Access log lines are gathered per thread and written in batches, at most
 * one tick late (log_flush), as nginx's `access_log buffer=' does: one
 * write(2) per request would be a third of the system calls of a send.
 */
#define BATCH_BYTES 16384

struct batch {
	pthread_mutex_t lock;
	struct batch *next;
	size_t len;
	char data[BATCH_BYTES];
};

static pthread_mutex_t batches_lock = PTHREAD_MUTEX_INITIALIZER;
static struct batch *batches;
static __thread struct batch *own;

/* Write out b's lines; b->lock held. */
static void
batch_write(struct batch *b)
{
	/* A failed log write has nowhere to be reported. */
	if (b->len > 0 && write(fd, b->data, b->len) < 0)
		b->len = 0;
	b->len = 0;
}

void
log_flush(void)
{
	struct batch *b;

	pthread_mutex_lock(&batches_lock);
	for (b = batches; b != NULL; b = b->next) {
		pthread_mutex_lock(&b->lock);
		batch_write(b);
		pthread_mutex_unlock(&b->lock);
	}
	pthread_mutex_unlock(&batches_lock);
}

/* Append a request line to this thread's batch, or write it if none. */
static void
batch_add(const char *line, size_t len)
{
	if (own == NULL && (own = calloc(1, sizeof(*own))) != NULL) {
		pthread_mutex_init(&own->lock, NULL);
		pthread_mutex_lock(&batches_lock);
		own->next = batches;
		batches = own;
		pthread_mutex_unlock(&batches_lock);
	}
	if (own == NULL) {
		if (write(fd, line, len) < 0)
			return;
		return;
	}
	pthread_mutex_lock(&own->lock);
	if (own->len + len > BATCH_BYTES)
		batch_write(own);
	memcpy(own->data + own->len, line, len);
	own->len += len;
	pthread_mutex_unlock(&own->lock);
}

int
log_open(enum log_target t, const char *path, enum log_format f)
{
	format = f;
	if (t == LOG_TO_SYSLOG)
		openlog("inboxd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	if (t == LOG_TO_FILE) {
		int nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);

		if (nfd == -1)
			return -1;
		free(file_path);
		if ((file_path = strdup(path)) == NULL) {
			close(nfd);
			return -1;
		}
		fd = nfd;
	}
	target = t;
	return 0;
}

int
log_reopen(void)
{
	int nfd;

	if (target != LOG_TO_FILE)
		return 0;
	log_flush();
	nfd = open(file_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (nfd == -1)
		return -1;
	/* dup2 swaps the file under the same descriptor atomically. */
	if (dup2(nfd, fd) == -1) {
		int e = errno;

		close(nfd);
		errno = e;
		return -1;
	}
	close(nfd);
	return 0;
}

/*
 * RFC 3339 UTC with milliseconds.  Each thread keeps the text of the
 * current second, so a busy access log formats a date once a second.
 */
static void
timestamp(char *buf, size_t size)
{
	static __thread time_t cached_sec = -1;
	static __thread char cached[32];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = ts.tv_sec;
	}
	snprintf(buf, size, "%s.%03uZ", cached,
	    (unsigned)(ts.tv_nsec / 1000000) % 1000);
}

/* Write one line; request lines (batched) go out by the next flush. */
static void
emit(int priority, const char *line, bool batched)
{
	size_t len = strlen(line);
	char buf[LINE_BYTES + 1];

	if (target == LOG_TO_SYSLOG) {
		syslog(priority, "%s", line);
		return;
	}
	if (len > LINE_BYTES)
		len = LINE_BYTES;
	memcpy(buf, line, len);
	buf[len++] = '\n';
	if (batched) {
		batch_add(buf, len);
		return;
	}
	/* A failed log write has nowhere to be reported. */
	if (write(fd, buf, len) < 0)
		return;
}

static void
vlog(int priority, const char *level, const char *fmt, va_list ap)
{
	char msg[LINE_BYTES], ts[40], line[LINE_BYTES + 64];
	char *json;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (target == LOG_TO_SYSLOG) {
		emit(priority, msg, false);
		return;
	}
	timestamp(ts, sizeof(ts));
	if (format == LOG_FORMAT_JSON &&
	    (json = json_log_message(ts, level, msg)) != NULL) {
		emit(priority, json, false);
		free(json);
		return;
	}
	snprintf(line, sizeof(line), "%s %s: %s", ts, level, msg);
	emit(priority, line, false);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, "info", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, "warning", fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	log_flush();
	va_start(ap, fmt);
	vlog(LOG_ERR, "error", fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * Copy s into dst as a double-quoted string with `"', `\', control bytes
 * and DEL escaped, so a name chosen by a client cannot forge a log line.
 */
static void
quote(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	if (size < 3) {
		*dst = '\0';
		return;
	}
	dst[n++] = '"';
	for (; *s != '\0' && n + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			n += (size_t)snprintf(dst + n, size - n, "\\x%02x", c);
		else
			dst[n++] = (char)c;
	}
	dst[n++] = '"';
	dst[n] = '\0';
}

void
log_request(const struct log_request *r)
{
	char ts[40], line[LINE_BYTES + 1800], path[600], user[1100];
	double ms = (double)r->duration_us / 1000.0;
	unsigned long long whole = r->duration_us / 1000;
	unsigned frac = (unsigned)(r->duration_us % 1000);
	char *json;

	timestamp(ts, sizeof(ts));
	if (format == LOG_FORMAT_JSON && target != LOG_TO_SYSLOG) {
		struct json_request_log j = { ts, r->client, r->method, r->path,
			r->user, r->status, r->bytes, ms };

		if ((json = json_log_request(&j)) != NULL) {
			emit(LOG_INFO, json, true);
			free(json);
		}
		return;
	}
	quote(path, sizeof(path), r->path);
	if (r->user != NULL)
		quote(user, sizeof(user), r->user);
	else
		strcpy(user, "-");
	if (target == LOG_TO_SYSLOG)
		snprintf(line, sizeof(line), "%s %s %s %u %llu %llu.%03u %s",
		    r->client, r->method, path, r->status,
		    (unsigned long long)r->bytes, whole, frac, user);
	else
		snprintf(line, sizeof(line), "%s %s %s %s %u %llu %llu.%03u %s",
		    ts, r->client, r->method, path, r->status,
		    (unsigned long long)r->bytes, whole, frac, user);
	emit(LOG_INFO, line, true);
}
