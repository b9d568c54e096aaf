/*
 * redis_link.c - one pipelined connection to Redis shared by every
 * thread, with backoff.
 *
 * Calls of concurrent requests go out on the one connection as they come
 * (a thread writes its command under the link's mutex and takes a
 * ticket), and replies come back in the same order.  Whichever waiting
 * thread finds nobody reading becomes the reader: it reads what Redis
 * sent, hands each reply to its ticket and wakes the waiters, until its
 * own reply is there; then another waiter takes over.  So Redis reads
 * several calls with one read and answers them with one write, and no
 * call waits for another's round trip.
 *
 * A failed call (connection refused, reset, or no answer within
 * LINK_TIMEOUT_MS) closes the connection, fails every call in flight on
 * it, and starts a backoff window during which every command fails at
 * once, so a dead Redis costs each request a fast 503 rather than a
 * timeout.  The window starts at LINK_BACKOFF_MIN_MS and doubles with
 * each failed attempt up to LINK_BACKOFF_MAX_MS; the first command that
 * works ends it.  Each connection made is an epoch: a ticket of an
 * earlier one has no reply coming.
 */
#include <poll.h>
#include <sys/socket.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "config.h"
#include "log.h"
#include "redis_link.h"
#include "util.h"

/* Hex digits of the library's version: its body's SHA-1, shortened. */
#define VERSION_HEX 16
#define FNAME_MAX 48
/* A command's timeout grows by LINK_TIMEOUT_MS for each so many bytes it
 * sends: a 16 MiB message must not look like a dead Redis. */
#define LINK_TIMEOUT_BYTES (4 * 1024 * 1024)

/* Tickets in flight at most: a thread has one, a batch LINK_BATCH_MAX. */
#define RING 1024
#define READ_CHUNK 65536

/* A call in flight: its reply once read, and the bytes it sent. */
struct slot {
	redisReply *r;
	size_t bytes;
	bool done;
};

struct redis_link {
	char host[256];
	unsigned port, db;
	char path[108];
	char password[1024];
	link_down_fn *down;
	void *down_arg;
	pthread_mutex_t lock; /* the backoff's transitions */
	_Atomic uint64_t down_until; /* ms; commands fail before it */
	uint64_t backoff_ms;         /* 0 while Redis answers */
	char *lib;                   /* the Functions library */
	size_t lib_len;
	char version[VERSION_HEX + 1]; /* its body's SHA-1, shortened */
	/* FCALL names: the script's and the library's version. */
	char fname[LUA_NSCRIPTS][FNAME_MAX];
	/* The shared connection, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	redisContext *c;    /* NULL: not connected */
	redisReader *reader;
	uint64_t epoch;     /* connections made */
	uint64_t sent, got; /* tickets written, replies read */
	size_t pending;     /* bytes of the calls without a reply */
	bool reading;       /* a thread reads replies */
	struct slot ring[RING];
};

/* Concatenate the lines of a generated script onto buf at *len. */
static char *
append_lines(char *buf, size_t *len, const char *const *lines)
{
	size_t n;
	char *b;

	for (; *lines != NULL; lines++) {
		n = strlen(*lines);
		if ((b = realloc(buf, *len + n + 1)) == NULL) {
			free(buf);
			return NULL;
		}
		buf = b;
		memcpy(buf + *len, *lines, n + 1);
		*len += n;
	}
	return buf;
}

/*
 * One Redis Functions library of every script: common.lua once, at its
 * top level (run when the library is loaded, not at each call), then
 * each script as a function NAME_VERSION whose first step is begin().
 * VERSION is the SHA-1 of the body: nodes of another build sharing the
 * Redis load their own library beside this one instead of replacing it.
 */
static int
prepare_scripts(struct redis_link *l)
{
	static const char shebang[] = "#!lua name=inboxd_";
	uint8_t digest[20];
	char line[320], *body = NULL, *lib;
	size_t len = 0, n;
	int i, j;

	if ((body = append_lines(body, &len, lua_common)) == NULL)
		return -1;
	for (i = 0; i < LUA_NSCRIPTS; i++) {
		const char *const open[] = { line, NULL };
		const char *const close[] = { "end\n", line, NULL };

		if (i == LUA_COMMON)
			continue;
		snprintf(line, sizeof(line),
		    "local function f_%s(KEYS, ARGV)\n", lua_names[i]);
		if ((body = append_lines(body, &len, open)) == NULL ||
		    (body = append_lines(body, &len, lua_sources[i])) == NULL)
			return -1;
		snprintf(line, sizeof(line), "redis.register_function("
		    "'%s_' .. VERSION, function(KEYS, ARGV)\n"
		    "\tbegin(ARGV)\n\tlocal r = f_%s(KEYS, ARGV)\n"
		    "\treturn {counts(), r == nil and false or r}\nend)\n",
		    lua_names[i], lua_names[i]);
		if ((body = append_lines(body, &len, close)) == NULL)
			return -1;
	}
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, body, len, digest) < 0) {
		free(body);
		return -1;
	}
	for (j = 0; j < VERSION_HEX / 2; j++)
		snprintf(l->version + 2 * j, 3, "%02x", digest[j]);
	n = sizeof(shebang) - 1 + VERSION_HEX + sizeof("\nlocal VERSION = ''\n")
	    - 1 + VERSION_HEX;
	if ((lib = malloc(n + len + 1)) == NULL) {
		free(body);
		return -1;
	}
	snprintf(lib, n + 1, "%s%s\nlocal VERSION = '%s'\n", shebang,
	    l->version, l->version);
	memcpy(lib + n, body, len + 1);
	free(body);
	l->lib = lib;
	l->lib_len = n + len;
	for (i = 0; i < LUA_NSCRIPTS; i++)
		snprintf(l->fname[i], sizeof(l->fname[i]), "%s_%s",
		    lua_names[i], l->version);
	return 0;
}

struct redis_link *
link_new(const char *url, const char *password, link_down_fn *down,
    void *arg, char *why, size_t len)
{
	struct redis_link *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	if (config_redis_url(url, l->host, &l->port, &l->db, l->path) == -1) {
		snprintf(why, len, "redis-url %s: not redis://HOST[:PORT][/DB] "
		    "or unix:/PATH", url);
		free(l);
		return NULL;
	}
	if (password != NULL && strlen(password) >= sizeof(l->password)) {
		snprintf(why, len, "redis-password: too long");
		free(l);
		return NULL;
	}
	if (password != NULL)
		strcpy(l->password, password);
	l->down = down;
	l->down_arg = arg;
	if (pthread_mutex_init(&l->lock, NULL) != 0 ||
	    pthread_mutex_init(&l->mu, NULL) != 0 ||
	    pthread_cond_init(&l->cond, NULL) != 0 ||
	    prepare_scripts(l) == -1) {
		snprintf(why, len, "out of memory");
		link_free(l);
		return NULL;
	}
	return l;
}

static void pipe_close(struct redis_link *l);

void
link_free(struct redis_link *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	pipe_close(l);
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l->lib);
	wipe(l->password, sizeof(l->password));
	free(l);
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
link_connect(struct redis_link *l, bool timeouts, char *why, size_t len)
{
	struct timeval tv = { LINK_CONNECT_MS / 1000,
	    (LINK_CONNECT_MS % 1000) * 1000 };
	redisContext *c;
	char db[16];
	const char *argv[2];
	size_t lens[2];

	if (l->path[0] != '\0')
		c = redisConnectUnixWithTimeout(l->path, tv);
	else
		c = redisConnectWithTimeout(l->host, (int)l->port, tv);
	if (c == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	if (c->err) {
		if (l->path[0] != '\0')
			snprintf(why, len, "connecting to unix:%s: %s", l->path,
			    c->errstr);
		else
			snprintf(why, len, "connecting to %s port %u: %s",
			    l->host, l->port, c->errstr);
		redisFree(c);
		return NULL;
	}
	tv.tv_sec = LINK_TIMEOUT_MS / 1000;
	tv.tv_usec = (LINK_TIMEOUT_MS % 1000) * 1000;
	if ((timeouts && redisSetTimeout(c, tv) != REDIS_OK) ||
	    (l->path[0] == '\0' && redisEnableKeepAlive(c) != REDIS_OK)) {
		snprintf(why, len, "setting up the connection: %s", c->errstr);
		redisFree(c);
		return NULL;
	}
	if (l->password[0] != '\0') {
		argv[0] = "AUTH";
		argv[1] = l->password;
		lens[0] = 4;
		lens[1] = strlen(l->password);
		if (setup_command(c, 2, argv, lens, why, len, "AUTH") == -1) {
			redisFree(c);
			return NULL;
		}
	}
	if (l->db != 0) {
		snprintf(db, sizeof(db), "%u", l->db);
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
link_up(struct redis_link *l)
{
	return now_ms() >= atomic_load(&l->down_until);
}

void
link_failed(struct redis_link *l, const char *what)
{
	uint64_t now = now_ms();
	bool first;

	pthread_mutex_lock(&l->lock);
	if (now < atomic_load(&l->down_until)) {
		/* Another thread saw it in this window already. */
		pthread_mutex_unlock(&l->lock);
		return;
	}
	first = l->backoff_ms == 0;
	l->backoff_ms = first ? LINK_BACKOFF_MIN_MS :
	    l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS :
	    l->backoff_ms * 2;
	atomic_store(&l->down_until, now + l->backoff_ms);
	if (first)
		log_warn("redis: %s; retrying with backoff up to %d ms", what,
		    LINK_BACKOFF_MAX_MS);
	pthread_mutex_unlock(&l->lock);
	if (first && l->down != NULL)
		l->down(l->down_arg);
}

/* A command worked: the backoff, if any, is over. */
static void
link_worked(struct redis_link *l)
{
	if (l->backoff_ms == 0) /* the common case, read without the lock */
		return;
	pthread_mutex_lock(&l->lock);
	if (l->backoff_ms != 0)
		log_info("redis: reachable again");
	l->backoff_ms = 0;
	pthread_mutex_unlock(&l->lock);
}

/* Under mu: close the connection, failing every call in flight on it. */
static void
pipe_close(struct redis_link *l)
{
	uint64_t t;

	for (t = l->got; t < l->sent; t++)
		l->ring[t % RING].done = false;
	for (t = 0; t < RING; t++) {
		if (l->ring[t].r != NULL)
			freeReplyObject(l->ring[t].r);
		l->ring[t].r = NULL;
		l->ring[t].done = false;
	}
	if (l->reader != NULL)
		redisReaderFree(l->reader);
	l->reader = NULL;
	if (l->c != NULL)
		redisFree(l->c);
	l->c = NULL;
	l->sent = l->got = 0;
	l->pending = 0;
	l->epoch++;
	pthread_cond_broadcast(&l->cond);
}

/* Under mu: the connection broke (what says how); back off. */
static void
pipe_broke(struct redis_link *l, const char *what)
{
	char why[160];

	snprintf(why, sizeof(why), "%s", what);
	pipe_close(l);
	pthread_mutex_unlock(&l->mu);
	link_failed(l, why);
	pthread_mutex_lock(&l->mu);
}

/* Does Redis not know the function (a restart, FUNCTION FLUSH)? */
static bool
is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "ERR Function not found", 22) == 0;
}

/* FUNCTION LOAD the library on c (blocking); loaded already is fine. */
static int
load_library(struct redis_link *l, redisContext *c)
{
	const char *argv[3] = { "FUNCTION", "LOAD", l->lib };
	size_t lens[3] = { 8, 4, l->lib_len };
	redisReply *r = redisCommandArgv(c, 3, argv, lens);

	if (r == NULL)
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
pipe_open(struct redis_link *l)
{
	char why[256];
	redisContext *c;

	if (l->c != NULL)
		return 0;
	if (!link_up(l))
		return -1;
	if ((c = link_connect(l, true, why, sizeof(why))) == NULL) {
		pthread_mutex_unlock(&l->mu);
		link_failed(l, why);
		pthread_mutex_lock(&l->mu);
		return -1;
	}
	if (load_library(l, c) == -1 || (l->reader = redisReaderCreate())
	    == NULL) {
		snprintf(why, sizeof(why), "loading the functions: %s",
		    c->err ? c->errstr : "refused");
		redisFree(c);
		pthread_mutex_unlock(&l->mu);
		link_failed(l, why);
		pthread_mutex_lock(&l->mu);
		return -1;
	}
	l->c = c;
	l->epoch++;
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

/*
 * Under mu: write n commands (formatted RESP, lens bytes each) and take
 * their tickets from *first.  Returns the epoch, or 0 when Redis cannot
 * be reached.
 */
static uint64_t
pipe_submit(struct redis_link *l, unsigned n, char *const *cmd,
    const size_t *lens, uint64_t *first)
{
	unsigned i;

	if (pipe_open(l) == -1)
		return 0;
	while (l->sent - l->got + n > RING)
		pthread_cond_wait(&l->cond, &l->mu);
	if (l->c == NULL)
		return 0; /* it broke meanwhile */
	*first = l->sent;
	for (i = 0; i < n; i++) {
		if (write_all(l->c->fd, cmd[i], lens[i]) == -1) {
			pipe_broke(l, errno == EAGAIN || errno == EWOULDBLOCK ?
			    "writing: timed out" : strerror(errno));
			return 0;
		}
		l->ring[l->sent % RING].bytes = lens[i];
		l->ring[l->sent % RING].done = false;
		l->pending += lens[i];
		l->sent++;
	}
	return l->epoch;
}

/* Under mu, as the reader: read what Redis sent; -1 when it broke. */
static int
pipe_read(struct redis_link *l)
{
	static _Thread_local char buf[READ_CHUNK];
	int timeout = LINK_TIMEOUT_MS *
	    (int)(1 + l->pending / LINK_TIMEOUT_BYTES);
	int fd = l->c->fd, k;
	uint64_t epoch = l->epoch;
	struct pollfd p = { fd, POLLIN, 0 };
	void *r;
	ssize_t n;

	l->reading = true;
	pthread_mutex_unlock(&l->mu);
	do
		k = poll(&p, 1, timeout);
	while (k < 0 && errno == EINTR);
	n = k == 1 ? recv(fd, buf, sizeof(buf), 0) : -1;
	pthread_mutex_lock(&l->mu);
	l->reading = false;
	pthread_cond_broadcast(&l->cond);
	if (l->epoch != epoch)
		return -1; /* closed meanwhile */
	if (n <= 0) {
		pipe_broke(l, k == 0 ? "no answer in time" : n == 0 ?
		    "connection closed" : strerror(errno));
		return -1;
	}
	if (redisReaderFeed(l->reader, buf, (size_t)n) != REDIS_OK) {
		pipe_broke(l, "a reply that does not parse");
		return -1;
	}
	while (l->got < l->sent) {
		if (redisReaderGetReply(l->reader, &r) != REDIS_OK) {
			pipe_broke(l, "a reply that does not parse");
			return -1;
		}
		if (r == NULL)
			break;
		l->ring[l->got % RING].r = r;
		l->ring[l->got % RING].done = true;
		l->pending -= l->ring[l->got % RING].bytes;
		l->got++;
	}
	return 0;
}

/*
 * Under mu: the reply of ticket t of epoch, read by this thread or
 * another; NULL when the connection broke before it came.
 */
static redisReply *
pipe_wait(struct redis_link *l, uint64_t epoch, uint64_t t)
{
	struct slot *sl = &l->ring[t % RING];
	redisReply *r;

	for (;;) {
		if (l->epoch != epoch)
			return NULL;
		if (sl->done) {
			r = sl->r;
			sl->r = NULL;
			sl->done = false;
			pthread_cond_broadcast(&l->cond); /* a free slot */
			return r;
		}
		if (!l->reading) {
			if (pipe_read(l) == -1 && l->epoch != epoch)
				return NULL;
		} else
			pthread_cond_wait(&l->cond, &l->mu);
	}
}

/* One command, formatted, out and back. */
static redisReply *
pipe_call(struct redis_link *l, char *cmd, size_t len)
{
	redisReply *r = NULL;
	uint64_t epoch, t;

	pthread_mutex_lock(&l->mu);
	if ((epoch = pipe_submit(l, 1, &cmd, &len, &t)) != 0)
		r = pipe_wait(l, epoch, t);
	pthread_mutex_unlock(&l->mu);
	if (r != NULL)
		link_worked(l);
	return r;
}

redisReply *
link_command(struct redis_link *l, int argc, const char **argv,
    const size_t *argvlen)
{
	redisReply *r;
	char *cmd;
	long long len;

	if ((len = redisFormatCommandArgv(&cmd, argc, argv, argvlen)) < 0)
		return NULL;
	r = pipe_call(l, cmd, (size_t)len);
	redisFreeCommand(cmd);
	return r;
}

/* Load the library on the shared connection, after "not found". */
static int
reload_library(struct redis_link *l)
{
	const char *argv[3] = { "FUNCTION", "LOAD", l->lib };
	size_t lens[3] = { 8, 4, l->lib_len };
	redisReply *r = link_command(l, 3, argv, lens);
	int ret = -1;

	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ERROR || strstr(r->str, "already exists")
	    != NULL)
		ret = 0;
	else
		log_warn("redis: FUNCTION LOAD: %s", r->str);
	freeReplyObject(r);
	return ret;
}

#define EVAL_ARGS_MAX 32

redisReply *
link_eval(struct redis_link *l, enum lua_script script, int nkeys,
    int argc, const char **argv, const size_t *argvlen)
{
	const char *av[EVAL_ARGS_MAX + 3];
	size_t lens[EVAL_ARGS_MAX + 3];
	char nk[12];
	redisReply *r;
	int i, tries;

	if (argc > EVAL_ARGS_MAX || nkeys < 0 || nkeys > argc)
		return NULL;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = "FCALL";
	lens[0] = 5;
	av[1] = l->fname[script];
	lens[1] = strlen(av[1]);
	av[2] = nk;
	lens[2] = strlen(nk);
	for (i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		lens[i + 3] = argvlen[i];
	}
	for (tries = 0; tries < 2; tries++) {
		if ((r = link_command(l, argc + 3, av, lens)) == NULL)
			return NULL;
		if (!is_noscript(r))
			return r;
		freeReplyObject(r);
		if (reload_library(l) == -1)
			return NULL;
	}
	return NULL;
}

int
link_batch_add(struct link_batch *b, int argc, const char **argv,
    const size_t *argvlen)
{
	struct link_call *c;
	int i;

	if (b->n == LINK_BATCH_MAX || argc > LINK_BATCH_ARGS)
		return -1;
	c = &b->call[b->n];
	for (i = 0; i < argc; i++) {
		if ((c->argv[i] = malloc(argvlen[i] + 1)) == NULL) {
			while (i-- > 0)
				free(c->argv[i]);
			return -1;
		}
		memcpy(c->argv[i], argv[i], argvlen[i]);
		c->argv[i][argvlen[i]] = '\0';
		c->len[i] = argvlen[i];
	}
	c->argc = argc;
	b->n++;
	return 0;
}

static void
batch_clear(struct link_batch *b)
{
	unsigned i;
	int j;

	for (i = 0; i < b->n; i++)
		for (j = 0; j < b->call[i].argc; j++)
			free(b->call[i].argv[j]);
	b->n = 0;
}

unsigned
link_batch_run(struct redis_link *l, struct link_batch *b)
{
	const char *av[LINK_BATCH_ARGS + 3];
	size_t lens[LINK_BATCH_ARGS + 3], len[LINK_BATCH_MAX];
	char *cmd[LINK_BATCH_MAX];
	redisReply *r;
	uint64_t epoch, t;
	unsigned i, n = 0, ok = 0;
	bool noscript = false, logged = false;
	long long k;
	int j;

	if (b->n == 0)
		return 0;
	av[0] = "FCALL";
	lens[0] = 5;
	av[1] = l->fname[b->script];
	lens[1] = strlen(av[1]);
	av[2] = "0";
	lens[2] = 1;
	for (i = 0; i < b->n; i++) {
		for (j = 0; j < b->call[i].argc; j++) {
			av[j + 3] = b->call[i].argv[j];
			lens[j + 3] = b->call[i].len[j];
		}
		if ((k = redisFormatCommandArgv(&cmd[n], b->call[i].argc + 3,
		    av, lens)) < 0)
			break;
		len[n++] = (size_t)k;
	}
	pthread_mutex_lock(&l->mu);
	if ((epoch = pipe_submit(l, n, cmd, len, &t)) != 0) {
		for (i = 0; i < n; i++) {
			if ((r = pipe_wait(l, epoch, t + i)) == NULL)
				break;
			if (is_noscript(r))
				noscript = true;
			else if (r->type != REDIS_REPLY_ERROR)
				ok++;
			else if (!logged) {
				log_warn("redis: %s", r->str); /* the first */
				logged = true;
			}
			freeReplyObject(r);
		}
	}
	pthread_mutex_unlock(&l->mu);
	for (i = 0; i < n; i++)
		redisFreeCommand(cmd[i]);
	if (ok > 0)
		link_worked(l);
	if (noscript && reload_library(l) == 0) {
		/* Once more, now that Redis knows it. */
		for (i = 0, ok = 0; i < b->n; i++) {
			for (j = 0; j < b->call[i].argc; j++) {
				av[j + 3] = b->call[i].argv[j];
				lens[j + 3] = b->call[i].len[j];
			}
			r = link_eval(l, b->script, 0, b->call[i].argc,
			    av + 3, lens + 3);
			ok += r != NULL && r->type != REDIS_REPLY_ERROR;
			if (r != NULL)
				freeReplyObject(r);
		}
	}
	batch_clear(b);
	return ok;
}
