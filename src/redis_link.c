/*
 * redis_link.c - connections to Redis, one per thread, with backoff.
 *
 * A failed command (connection refused, reset, or no answer within
 * LINK_TIMEOUT_MS) closes the thread's connection and starts a backoff
 * window during which every command fails at once, so a dead Redis costs
 * each request a fast 503 rather than a timeout.  The window starts at
 * LINK_BACKOFF_MIN_MS and doubles with each failed attempt up to
 * LINK_BACKOFF_MAX_MS; the first command that works ends it.  Each
 * failure also moves an epoch forward: a thread whose connection is
 * older makes a new one before its next command, since Redis may have
 * restarted under it.
 */
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

#define SHA1_HEX 41
/* A command's timeout grows by LINK_TIMEOUT_MS for each so many bytes it
 * sends: a 16 MiB message must not look like a dead Redis. */
#define LINK_TIMEOUT_BYTES (4 * 1024 * 1024)

/* A thread's connection. */
struct conn {
	redisContext *c;
	unsigned epoch; /* the link's epoch when it was made */
};

struct redis_link {
	char host[256];
	unsigned port, db;
	char path[108];
	char password[1024];
	link_down_fn *down;
	void *down_arg;
	pthread_key_t key; /* struct conn of the calling thread */
	pthread_mutex_t lock; /* the backoff's transitions */
	atomic_uint epoch;
	atomic_uint loaded; /* epoch + 1 of the last load of every script */
	_Atomic uint64_t down_until; /* ms; commands fail before it */
	uint64_t backoff_ms;         /* 0 while Redis answers */
	char *text[LUA_NSCRIPTS];    /* common.lua and the script */
	size_t text_len[LUA_NSCRIPTS];
	char sha[LUA_NSCRIPTS][SHA1_HEX];
};

static void
conn_free(void *p)
{
	struct conn *k = p;

	if (k->c != NULL)
		redisFree(k->c);
	free(k);
}

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

static int
prepare_scripts(struct redis_link *l)
{
	uint8_t digest[20];
	int i, j;

	for (i = 0; i < LUA_NSCRIPTS; i++) {
		size_t len = 0;
		char *t = NULL;

		if (i == LUA_COMMON)
			continue;
		if ((t = append_lines(t, &len, lua_common)) == NULL ||
		    (t = append_lines(t, &len, lua_sources[i])) == NULL)
			return -1;
		if (gnutls_hash_fast(GNUTLS_DIG_SHA1, t, len, digest) < 0) {
			free(t);
			return -1;
		}
		for (j = 0; j < 20; j++)
			snprintf(l->sha[i] + 2 * j, 3, "%02x", digest[j]);
		l->text[i] = t;
		l->text_len[i] = len;
	}
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
	if (pthread_key_create(&l->key, conn_free) != 0 ||
	    pthread_mutex_init(&l->lock, NULL) != 0 ||
	    prepare_scripts(l) == -1) {
		snprintf(why, len, "out of memory");
		link_free(l);
		return NULL;
	}
	return l;
}

void
link_free(struct redis_link *l)
{
	struct conn *k;
	int i;

	if (l == NULL)
		return;
	/* Other threads' connections went with their threads. */
	if ((k = pthread_getspecific(l->key)) != NULL) {
		conn_free(k);
		pthread_setspecific(l->key, NULL);
	}
	pthread_key_delete(l->key);
	pthread_mutex_destroy(&l->lock);
	for (i = 0; i < LUA_NSCRIPTS; i++)
		free(l->text[i]);
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
	atomic_fetch_add(&l->epoch, 1);
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

/* The thread's connection broke: drop it and back off. */
static void
conn_broke(struct redis_link *l, struct conn *k)
{
	char why[160];

	snprintf(why, sizeof(why), "%s",
	    k->c->errstr[0] != '\0' ? k->c->errstr : "connection lost");
	redisFree(k->c);
	k->c = NULL;
	link_failed(l, why);
}

/*
 * Send argc arguments on k and read the reply, with a timeout grown for
 * a large command.  NULL when the connection broke (it is then closed).
 */
static redisReply *
conn_command(struct redis_link *l, struct conn *k, int argc,
    const char **argv, const size_t *argvlen)
{
	struct timeval tv;
	redisReply *r;
	size_t bytes = 0;
	uint64_t ms;
	int i;

	for (i = 0; i < argc; i++)
		bytes += argvlen[i];
	if (bytes >= LINK_TIMEOUT_BYTES) {
		ms = LINK_TIMEOUT_MS * (1 + bytes / LINK_TIMEOUT_BYTES);
		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		redisSetTimeout(k->c, tv);
	}
	r = redisCommandArgv(k->c, argc, argv, argvlen);
	if (r == NULL) {
		conn_broke(l, k);
		return NULL;
	}
	if (bytes >= LINK_TIMEOUT_BYTES) {
		tv.tv_sec = LINK_TIMEOUT_MS / 1000;
		tv.tv_usec = (LINK_TIMEOUT_MS % 1000) * 1000;
		redisSetTimeout(k->c, tv);
	}
	return r;
}

static int load_script(struct redis_link *l, struct conn *k,
    enum lua_script script);

/*
 * Load every script on k, once an epoch: scripts live in Redis, not in a
 * connection, so EVALSHA then finds them, and NOSCRIPT (a body sent
 * twice) is left for a Redis that restarted unseen.
 */
static void
load_scripts(struct redis_link *l, struct conn *k, unsigned epoch)
{
	int i;

	if (atomic_load(&l->loaded) == epoch + 1)
		return;
	for (i = 0; i < LUA_NSCRIPTS; i++)
		if (i != LUA_COMMON && load_script(l, k, (enum lua_script)i)
		    == -1)
			return;
	atomic_store(&l->loaded, epoch + 1);
}

/* The calling thread's connection, made if need be; NULL when down. */
static struct conn *
thread_conn(struct redis_link *l)
{
	struct conn *k = pthread_getspecific(l->key);
	unsigned epoch = atomic_load(&l->epoch);
	char why[256];

	if (!link_up(l))
		return NULL;
	if (k == NULL) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return NULL;
		if (pthread_setspecific(l->key, k) != 0) {
			free(k);
			return NULL;
		}
	}
	if (k->c != NULL && k->epoch != epoch) {
		redisFree(k->c);
		k->c = NULL;
	}
	if (k->c == NULL) {
		if ((k->c = link_connect(l, true, why, sizeof(why))) == NULL) {
			link_failed(l, why);
			return NULL;
		}
		k->epoch = epoch;
		load_scripts(l, k, epoch);
		if (k->c == NULL)
			return NULL; /* it broke meanwhile */
	}
	return k;
}

redisReply *
link_command(struct redis_link *l, int argc, const char **argv,
    const size_t *argvlen)
{
	struct conn *k = thread_conn(l);
	redisReply *r;

	if (k == NULL)
		return NULL;
	if ((r = conn_command(l, k, argc, argv, argvlen)) == NULL)
		return NULL;
	link_worked(l);
	return r;
}

static bool
is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* SCRIPT LOAD script on k's connection. */
static int
load_script(struct redis_link *l, struct conn *k, enum lua_script script)
{
	const char *argv[3] = { "SCRIPT", "LOAD", l->text[script] };
	size_t lens[3] = { 6, 4, l->text_len[script] };
	redisReply *r = conn_command(l, k, 3, argv, lens);

	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING ||
	    strcmp(r->str, l->sha[script]) != 0) {
		log_warn("redis: SCRIPT LOAD of script %d: %s", (int)script,
		    r->type == REDIS_REPLY_ERROR ? r->str : "another SHA-1");
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

#define EVAL_ARGS_MAX 32

redisReply *
link_eval(struct redis_link *l, enum lua_script script, int argc,
    const char **argv, const size_t *argvlen)
{
	const char *av[EVAL_ARGS_MAX + 3];
	size_t lens[EVAL_ARGS_MAX + 3];
	struct conn *k;
	redisReply *r;
	int i, tries;

	if (argc > EVAL_ARGS_MAX)
		return NULL;
	av[0] = "EVALSHA";
	lens[0] = 7;
	av[1] = l->sha[script];
	lens[1] = SHA1_HEX - 1;
	av[2] = "0";
	lens[2] = 1;
	for (i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		lens[i + 3] = argvlen[i];
	}
	for (tries = 0; tries < 2; tries++) {
		if ((k = thread_conn(l)) == NULL)
			return NULL;
		if ((r = conn_command(l, k, argc + 3, av, lens)) == NULL)
			return NULL;
		link_worked(l);
		if (!is_noscript(r))
			return r;
		freeReplyObject(r);
		if (load_script(l, k, script) == -1)
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
	size_t lens[LINK_BATCH_ARGS + 3];
	struct conn *k;
	redisReply *r;
	unsigned i, ok = 0, sent = 0;
	bool noscript = false, logged = false;
	int j;

	if (b->n == 0)
		return 0;
	if ((k = thread_conn(l)) == NULL)
		goto done;
	av[0] = "EVALSHA";
	lens[0] = 7;
	av[1] = l->sha[b->script];
	lens[1] = SHA1_HEX - 1;
	av[2] = "0";
	lens[2] = 1;
	for (i = 0; i < b->n; i++) {
		for (j = 0; j < b->call[i].argc; j++) {
			av[j + 3] = b->call[i].argv[j];
			lens[j + 3] = b->call[i].len[j];
		}
		if (redisAppendCommandArgv(k->c, b->call[i].argc + 3, av,
		    lens) != REDIS_OK)
			break;
		sent++;
	}
	for (i = 0; i < sent; i++) {
		if (redisGetReply(k->c, (void **)&r) != REDIS_OK) {
			conn_broke(l, k);
			goto done;
		}
		if (is_noscript(r))
			noscript = true;
		else if (r->type != REDIS_REPLY_ERROR)
			ok++;
		else if (!logged) {
			log_warn("redis: %s", r->str); /* the batch's first */
			logged = true;
		}
		freeReplyObject(r);
	}
	link_worked(l);
	if (noscript && load_script(l, k, b->script) == 0) {
		/* Once more, now that Redis knows it. */
		for (i = 0, ok = 0; i < b->n; i++) {
			for (j = 0; j < b->call[i].argc; j++) {
				av[j + 3] = b->call[i].argv[j];
				lens[j + 3] = b->call[i].len[j];
			}
			r = link_eval(l, b->script, b->call[i].argc, av + 3,
			    lens + 3);
			ok += r != NULL && r->type != REDIS_REPLY_ERROR;
			if (r != NULL)
				freeReplyObject(r);
		}
	}
done:
	batch_clear(b);
	return ok;
}
