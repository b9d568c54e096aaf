/*
 * redis_pipe.c - one pipelined connection to one Redis server, with
 * backoff (see redis_pipe.h).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"
#include "redis_pipe.h"
#include "util.h"

/* A call's timeout grows by PIPE_TIMEOUT_MS for each so many bytes in
 * flight: a 16 MiB message must not look like a dead Redis. */
#define PIPE_TIMEOUT_BYTES (4 * 1024 * 1024)
#define READ_CHUNK 65536

/* A call in flight: its reply once read, and the bytes it sent. */
struct ticket {
	redisReply *r;
	size_t bytes;
	bool done;
};

struct redis_pipe {
	struct redis_addr addr;
	const struct pipe_conf *conf;
	pipe_down_fn *down;
	void *down_arg;
	pthread_mutex_t lock;        /* the backoff's transitions */
	_Atomic uint64_t down_until; /* ms; calls fail before it */
	uint64_t backoff_ms;         /* 0 while the server answers */
	/* The connection, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	redisContext *c;    /* NULL: not connected */
	redisReader *reader;
	uint64_t epoch;     /* connections made */
	uint64_t sent, got; /* tickets written, replies read */
	size_t pending;     /* bytes of the calls without a reply */
	bool reading;       /* a thread reads replies */
	struct ticket ring[PIPE_RING];
};

struct redis_pipe *
pipe_new(const struct redis_addr *a, const struct pipe_conf *conf,
    pipe_down_fn *down, void *arg)
{
	struct redis_pipe *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->addr = *a;
	p->conf = conf;
	p->down = down;
	p->down_arg = arg;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return NULL;
	}
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	if (pthread_cond_init(&p->cond, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

static void pipe_close(struct redis_pipe *p);

void
pipe_free(struct redis_pipe *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	pipe_close(p);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

const struct redis_addr *
pipe_addr(const struct redis_pipe *p)
{
	return &p->addr;
}

/* Send one command on c and check its status reply. */
static int
setup_command(redisContext *c, int argc, const char **argv,
    const size_t *lens, char *why, size_t len, const char *what)
{
	redisReply *r = redisCommandArgv(c, argc, argv, lens);

	if (r == NULL) {
		snprintf(why, len, "%s: %s", what, c->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		/* Never the password: Redis' words only. */
		snprintf(why, len, "%s: %s", what, r->str);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

redisContext *
pipe_connect(const struct redis_addr *a, const struct pipe_conf *conf,
    bool timeouts, char *why, size_t len)
{
	struct timeval tv = { PIPE_CONNECT_MS / 1000,
	    (PIPE_CONNECT_MS % 1000) * 1000 };
	redisContext *c;
	char db[16];
	const char *argv[2];
	size_t lens[2];

	if (a->path[0] != '\0')
		c = redisConnectUnixWithTimeout(a->path, tv);
	else
		c = redisConnectWithTimeout(a->host, (int)a->port, tv);
	if (c == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	if (c->err) {
		if (a->path[0] != '\0')
			snprintf(why, len, "connecting to unix:%s: %s", a->path,
			    c->errstr);
		else
			snprintf(why, len, "connecting to %s port %u: %s",
			    a->host, a->port, c->errstr);
		redisFree(c);
		return NULL;
	}
	tv.tv_sec = PIPE_TIMEOUT_MS / 1000;
	tv.tv_usec = (PIPE_TIMEOUT_MS % 1000) * 1000;
	if ((timeouts && redisSetTimeout(c, tv) != REDIS_OK) ||
	    (a->path[0] == '\0' && redisEnableKeepAlive(c) != REDIS_OK)) {
		snprintf(why, len, "setting up the connection: %s", c->errstr);
		redisFree(c);
		return NULL;
	}
	if (conf->password[0] != '\0') {
		argv[0] = "AUTH";
		argv[1] = conf->password;
		lens[0] = 4;
		lens[1] = strlen(conf->password);
		if (setup_command(c, 2, argv, lens, why, len, "AUTH") == -1) {
			redisFree(c);
			return NULL;
		}
	}
	if (conf->db != 0) {
		snprintf(db, sizeof(db), "%u", conf->db);
		argv[0] = "SELECT";
		argv[1] = db;
		lens[0] = 6;
		lens[1] = strlen(db);
		if (setup_command(c, 2, argv, lens, why, len, "SELECT") == -1) {
			redisFree(c);
			return NULL;
		}
	}
	return c;
}

bool
pipe_up(struct redis_pipe *p)
{
	return now_ms() >= atomic_load(&p->down_until);
}

void
pipe_failed(struct redis_pipe *p, const char *what)
{
	uint64_t now = now_ms();
	bool first;

	pthread_mutex_lock(&p->lock);
	if (now < atomic_load(&p->down_until)) {
		/* Another thread saw it in this window already. */
		pthread_mutex_unlock(&p->lock);
		return;
	}
	first = p->backoff_ms == 0;
	p->backoff_ms = first ? PIPE_BACKOFF_MIN_MS :
	    p->backoff_ms * 2 > PIPE_BACKOFF_MAX_MS ? PIPE_BACKOFF_MAX_MS :
	    p->backoff_ms * 2;
	atomic_store(&p->down_until, now + p->backoff_ms);
	pthread_mutex_unlock(&p->lock);
	if (first && p->down != NULL)
		p->down(p->down_arg, p, what);
}

/* A call worked: the backoff, if any, is over. */
static void
pipe_worked(struct redis_pipe *p)
{
	if (p->backoff_ms == 0) /* the common case, read without the lock */
		return;
	pthread_mutex_lock(&p->lock);
	if (p->backoff_ms != 0) {
		if (p->addr.path[0] != '\0')
			log_info("redis: unix:%s reachable again", p->addr.path);
		else
			log_info("redis: %s port %u reachable again",
			    p->addr.host, p->addr.port);
	}
	p->backoff_ms = 0;
	pthread_mutex_unlock(&p->lock);
}

/* Under mu: close the connection, failing every call in flight on it. */
static void
pipe_close(struct redis_pipe *p)
{
	uint64_t t;

	for (t = 0; t < PIPE_RING; t++) {
		if (p->ring[t].r != NULL)
			freeReplyObject(p->ring[t].r);
		p->ring[t].r = NULL;
		p->ring[t].done = false;
	}
	if (p->reader != NULL)
		redisReaderFree(p->reader);
	p->reader = NULL;
	if (p->c != NULL)
		redisFree(p->c);
	p->c = NULL;
	p->sent = p->got = 0;
	p->pending = 0;
	p->epoch++;
	pthread_cond_broadcast(&p->cond);
}

/* Under mu: the connection broke (what says how); back off. */
static void
pipe_broke(struct redis_pipe *p, const char *what)
{
	char why[160];

	snprintf(why, sizeof(why), "%s", what);
	pipe_close(p);
	pthread_mutex_unlock(&p->mu);
	pipe_failed(p, why);
	pthread_mutex_lock(&p->mu);
}

/* FUNCTION LOAD the library on c (blocking); loaded already is fine. */
static int
load_library(const struct pipe_conf *conf, redisContext *c)
{
	const char *argv[3] = { "FUNCTION", "LOAD", conf->lib };
	size_t lens[3] = { 8, 4, conf->lib_len };
	redisReply *r;

	if (conf->lib == NULL)
		return 0;
	if ((r = redisCommandArgv(c, 3, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "already exists")
	    == NULL) {
		log_warn("redis: FUNCTION LOAD: %s", r->str);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/* Under mu: connect, with the library loaded, unless connected. */
static int
pipe_open(struct redis_pipe *p)
{
	char why[256];
	redisContext *c;

	if (p->c != NULL)
		return 0;
	if (!pipe_up(p))
		return -1;
	if ((c = pipe_connect(&p->addr, p->conf, true, why, sizeof(why))) ==
	    NULL) {
		pthread_mutex_unlock(&p->mu);
		pipe_failed(p, why);
		pthread_mutex_lock(&p->mu);
		return -1;
	}
	if (load_library(p->conf, c) == -1 || (p->reader = redisReaderCreate())
	    == NULL) {
		snprintf(why, sizeof(why), "loading the functions: %s",
		    c->err ? c->errstr : "refused");
		redisFree(c);
		pthread_mutex_unlock(&p->mu);
		pipe_failed(p, why);
		pthread_mutex_lock(&p->mu);
		return -1;
	}
	p->c = c;
	p->epoch++;
	return 0;
}

/* Write all of buf on fd, blocking (the socket's send timeout holds). */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Under mu: pipe_send's work. */
static enum pipe_status
do_send(struct redis_pipe *p, unsigned n, char *const *cmds,
    const size_t *lens, uint64_t *epoch, uint64_t *first)
{
	unsigned i;

	if (n == 0 || n > PIPE_RING / 4 || pipe_open(p) == -1)
		return PIPE_NOT_SENT;
	while (p->c != NULL && p->sent - p->got + n > PIPE_RING)
		pthread_cond_wait(&p->cond, &p->mu);
	if (p->c == NULL)
		return PIPE_NOT_SENT; /* it broke meanwhile */
	*first = p->sent;
	*epoch = p->epoch;
	for (i = 0; i < n; i++) {
		if (write_all(p->c->fd, cmds[i], lens[i]) == -1) {
			pipe_broke(p, errno == EAGAIN || errno == EWOULDBLOCK ?
			    "writing: timed out" : strerror(errno));
			return PIPE_LOST;
		}
		p->ring[p->sent % PIPE_RING].bytes = lens[i];
		p->ring[p->sent % PIPE_RING].done = false;
		p->pending += lens[i];
		p->sent++;
	}
	return PIPE_OK;
}

enum pipe_status
pipe_send(struct redis_pipe *p, unsigned n, char *const *cmds,
    const size_t *lens, uint64_t *epoch, uint64_t *first)
{
	enum pipe_status st;

	pthread_mutex_lock(&p->mu);
	st = do_send(p, n, cmds, lens, epoch, first);
	pthread_mutex_unlock(&p->mu);
	return st;
}

/* Under mu, as the reader: read what the server sent; -1 when it broke. */
static int
pipe_read(struct redis_pipe *p)
{
	static _Thread_local char buf[READ_CHUNK];
	int timeout = PIPE_TIMEOUT_MS *
	    (int)(1 + p->pending / PIPE_TIMEOUT_BYTES);
	int fd = p->c->fd, k;
	uint64_t epoch = p->epoch;
	struct pollfd pf = { fd, POLLIN, 0 };
	void *r;
	ssize_t n;

	p->reading = true;
	pthread_mutex_unlock(&p->mu);
	do
		k = poll(&pf, 1, timeout);
	while (k < 0 && errno == EINTR);
	n = k == 1 ? recv(fd, buf, sizeof(buf), 0) : -1;
	pthread_mutex_lock(&p->mu);
	p->reading = false;
	pthread_cond_broadcast(&p->cond);
	if (p->epoch != epoch)
		return -1; /* closed meanwhile */
	if (n <= 0) {
		pipe_broke(p, k == 0 ? "no answer in time" : n == 0 ?
		    "connection closed" : strerror(errno));
		return -1;
	}
	if (redisReaderFeed(p->reader, buf, (size_t)n) != REDIS_OK) {
		pipe_broke(p, "a reply that does not parse");
		return -1;
	}
	while (p->got < p->sent) {
		if (redisReaderGetReply(p->reader, &r) != REDIS_OK) {
			pipe_broke(p, "a reply that does not parse");
			return -1;
		}
		if (r == NULL)
			break;
		p->ring[p->got % PIPE_RING].r = r;
		p->ring[p->got % PIPE_RING].done = true;
		p->pending -= p->ring[p->got % PIPE_RING].bytes;
		p->got++;
	}
	return 0;
}

/* Under mu: pipe_recv's work. */
static redisReply *
do_recv(struct redis_pipe *p, uint64_t epoch, uint64_t t)
{
	struct ticket *tk = &p->ring[t % PIPE_RING];
	redisReply *r;

	for (;;) {
		if (p->epoch != epoch)
			return NULL;
		if (tk->done) {
			r = tk->r;
			tk->r = NULL;
			tk->done = false;
			pthread_cond_broadcast(&p->cond); /* a free ticket */
			return r;
		}
		if (!p->reading) {
			if (pipe_read(p) == -1 && p->epoch != epoch)
				return NULL;
		} else
			pthread_cond_wait(&p->cond, &p->mu);
	}
}

redisReply *
pipe_recv(struct redis_pipe *p, uint64_t epoch, uint64_t t)
{
	redisReply *r;

	pthread_mutex_lock(&p->mu);
	r = do_recv(p, epoch, t);
	pthread_mutex_unlock(&p->mu);
	if (r != NULL)
		pipe_worked(p);
	return r;
}

enum pipe_status
pipe_call(struct redis_pipe *p, unsigned n, char *const *cmds,
    const size_t *lens, redisReply **replies)
{
	enum pipe_status st;
	uint64_t epoch, t;
	unsigned i;

	for (i = 0; i < n; i++)
		replies[i] = NULL;
	pthread_mutex_lock(&p->mu);
	st = do_send(p, n, cmds, lens, &epoch, &t);
	for (i = 0; st == PIPE_OK && i < n; i++)
		if ((replies[i] = do_recv(p, epoch, t + i)) == NULL)
			st = PIPE_LOST;
	pthread_mutex_unlock(&p->mu);
	if (n > 0 && replies[0] != NULL)
		pipe_worked(p);
	return st;
}

int
pipe_load(struct redis_pipe *p)
{
	const char *argv[3] = { "FUNCTION", "LOAD", p->conf->lib };
	size_t lens[3] = { 8, 4, p->conf->lib_len };
	redisReply *r;
	char *cmd;
	long long len;
	size_t n;
	int ret = -1;

	if (p->conf->lib == NULL)
		return -1;
	if ((len = redisFormatCommandArgv(&cmd, 3, argv, lens)) < 0)
		return -1;
	n = (size_t)len;
	if (pipe_call(p, 1, &cmd, &n, &r) == PIPE_OK) {
		if (r->type != REDIS_REPLY_ERROR ||
		    strstr(r->str, "already exists") != NULL)
			ret = 0;
		else
			log_warn("redis: FUNCTION LOAD: %s", r->str);
	}
	if (r != NULL)
		freeReplyObject(r);
	redisFreeCommand(cmd);
	return ret;
}
