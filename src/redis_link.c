/*
 * redis_link.c - the way to a single Redis or a Redis Cluster: seeds,
 * finding out which, the slot map, a pipelined connection per master,
 * redirections and retries (see redis_link.h), and the library.
 *
 * Locks: setup_mu guards finding out the mode and the table of pipes
 * (one per address ever used, freed with the link); map_lock (a rwlock)
 * the slot -> pipe table, read by every call, written when the map is
 * read again, which refresh_mu makes one at a time.  No lock is held
 * across a call but refresh_mu, over the CLUSTER SLOTS that reads a map.
 */
#include <gnutls/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "redis_link.h"
#include "redis_pipe.h"
#include "redis_slot.h"
#include "util.h"

/* Hex digits of the library's version: its body's SHA-1, shortened. */
#define VERSION_HEX 16
#define FNAME_MAX 48
#define PIPES_MAX 64         /* addresses a link ever talks to */
#define REDIRECTS_MAX 8      /* MOVED and ASK a call follows */
#define RETRY_MIN_MS 25      /* first pause before a retry, doubling */
#define RETRY_MAX_MS 400
#define REFRESH_MIN_MS 50    /* maps read at most this often on errors */
#define NO_PIPE 0xffff

enum link_mode { MODE_UNKNOWN, MODE_SINGLE, MODE_CLUSTER };

struct redis_link {
	struct redis_addr seeds[REDIS_SEEDS_MAX];
	size_t nseeds;
	struct pipe_conf conf;
	link_down_fn *down;
	void *down_arg;
	char version[VERSION_HEX + 1]; /* the library body's SHA-1, short */
	char fname[LUA_NSCRIPTS][FNAME_MAX]; /* FCALL names */
	/* Under setup_mu: */
	pthread_mutex_t setup_mu;
	_Atomic int mode;
	uint64_t setup_until; /* no new attempt before (ms): backoff */
	uint64_t setup_backoff;
	struct redis_pipe *pipes[PIPES_MAX];
	size_t npipes;
	unsigned next_connect; /* link_connect's rotation */
	/* The slot map, under map_lock. */
	pthread_rwlock_t map_lock;
	uint16_t slot_pipe[REDIS_SLOTS]; /* index in pipes[], or NO_PIPE */
	uint16_t master[PIPES_MAX];      /* the masters, indexes in pipes[] */
	unsigned nmasters;
	uint64_t gen;                    /* changes with the masters */
	/* Reading the map again, under refresh_mu. */
	pthread_mutex_t refresh_mu;
	_Atomic uint64_t refreshed_ms;
	atomic_bool stale; /* read it again at the next chance */
};

static _Thread_local uint64_t patience = LINK_RETRY_MS;
static _Thread_local bool patience_set;

uint64_t
link_patience(uint64_t ms)
{
	uint64_t old = patience_set ? patience : LINK_RETRY_MS;

	patience = ms;
	patience_set = true;
	return old;
}

static uint64_t
my_patience(void)
{
	return patience_set ? patience : LINK_RETRY_MS;
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

/*
 * Does a script walk the keys of one server, reaching keys of many slots
 * (its first line says `-- flags: allow-cross-slot-keys')?
 */
static bool
cross_slot(int i)
{
	return strstr(lua_sources[i][0], "allow-cross-slot-keys") != NULL;
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
	char line[400], *body = NULL, *lib;
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
		snprintf(line, sizeof(line), "redis.register_function{"
		    "function_name = '%s_' .. VERSION, flags = {%s}, "
		    "callback = function(KEYS, ARGV)\n"
		    "\tbegin(ARGV)\n\tlocal r = f_%s(KEYS, ARGV)\n"
		    "\treturn {counts(), r == nil and false or r}\nend}\n",
		    lua_names[i], cross_slot(i) ? "'allow-cross-slot-keys'" :
		    "", lua_names[i]);
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
	l->conf.lib = lib;
	l->conf.lib_len = n + len;
	for (i = 0; i < LUA_NSCRIPTS; i++)
		snprintf(l->fname[i], sizeof(l->fname[i]), "%s_%s",
		    lua_names[i], l->version);
	return 0;
}

static void
on_pipe_down(void *arg, struct redis_pipe *p, const char *what)
{
	struct redis_link *l = arg;
	const struct redis_addr *a = pipe_addr(p);

	if (a->path[0] != '\0')
		log_warn("redis: unix:%s: %s; retrying with backoff up to %d ms",
		    a->path, what, PIPE_BACKOFF_MAX_MS);
	else
		log_warn("redis: %s port %u: %s; retrying with backoff up to "
		    "%d ms", a->host, a->port, what, PIPE_BACKOFF_MAX_MS);
	atomic_store(&l->stale, true);
	if (l->down != NULL)
		l->down(l->down_arg);
}

struct redis_link *
link_new(const char *urls, const char *password, link_down_fn *down,
    void *arg, char *why, size_t len)
{
	struct redis_link *l = calloc(1, sizeof(*l));
	char err[1200];
	int n;

	if (l == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	if ((n = config_redis_seeds(urls, l->seeds, REDIS_SEEDS_MAX,
	    &l->conf.db, err, sizeof(err))) == -1) {
		snprintf(why, len, "redis-url: %s", err);
		free(l);
		return NULL;
	}
	l->nseeds = (size_t)n;
	if (password != NULL && strlen(password) >= sizeof(l->conf.password)) {
		snprintf(why, len, "redis-password: too long");
		free(l);
		return NULL;
	}
	if (password != NULL)
		strcpy(l->conf.password, password);
	l->down = down;
	l->down_arg = arg;
	memset(l->slot_pipe, 0xff, sizeof(l->slot_pipe));
	if (pthread_mutex_init(&l->setup_mu, NULL) != 0 ||
	    pthread_mutex_init(&l->refresh_mu, NULL) != 0 ||
	    pthread_rwlock_init(&l->map_lock, NULL) != 0 ||
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
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->npipes; i++)
		pipe_free(l->pipes[i]);
	pthread_mutex_destroy(&l->setup_mu);
	pthread_mutex_destroy(&l->refresh_mu);
	pthread_rwlock_destroy(&l->map_lock);
	free((char *)l->conf.lib);
	wipe(l->conf.password, sizeof(l->conf.password));
	free(l);
}

static bool
same_addr(const struct redis_addr *a, const struct redis_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0 &&
	    strcmp(a->path, b->path) == 0;
}

/* Under setup_mu: the index of a's pipe, made if new; -1 when full. */
static int
do_pipe_for(struct redis_link *l, const struct redis_addr *a)
{
	size_t i;

	for (i = 0; i < l->npipes; i++)
		if (same_addr(pipe_addr(l->pipes[i]), a))
			return (int)i;
	if (l->npipes == PIPES_MAX ||
	    (l->pipes[l->npipes] = pipe_new(a, &l->conf, on_pipe_down, l)) ==
	    NULL)
		return -1;
	return (int)l->npipes++;
}

static struct redis_pipe *
pipe_for(struct redis_link *l, const char *host, unsigned port)
{
	struct redis_addr a;
	int i;

	memset(&a, 0, sizeof(a));
	snprintf(a.host, sizeof(a.host), "%s", host);
	a.port = port;
	pthread_mutex_lock(&l->setup_mu);
	i = do_pipe_for(l, &a);
	pthread_mutex_unlock(&l->setup_mu);
	return i == -1 ? NULL : l->pipes[i];
}

/* A single command on the blocking connection c: its reply or NULL. */
static redisReply *
blocking(redisContext *c, const char *a, const char *b)
{
	return b != NULL ? redisCommand(c, "%s %s", a, b) :
	    redisCommand(c, "%s", a);
}

/*
 * Make the map in reply (CLUSTER SLOTS, from the server at `from') the
 * link's: a pipe for each master, the slot table, a new generation when
 * the masters changed.  Returns 0, or -1 with why filled.  Calls the
 * down callback when slots changed masters after the first map.
 */
static int
install_map(struct redis_link *l, const redisReply *reply,
    const char *from, char *why, size_t len)
{
	struct redis_slot_map m;
	uint16_t *table = NULL, master[PIPES_MAX];
	unsigned nmasters = 0, s;
	bool changed = false, first;
	size_t i;
	int k;

	if (redis_slot_map_parse(&m, reply, from, why, len) == -1)
		return -1;
	if ((table = malloc(sizeof(l->slot_pipe))) == NULL) {
		redis_slot_map_free(&m);
		snprintf(why, len, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&l->setup_mu);
	for (i = 0; i < m.nnodes; i++) {
		struct redis_addr a;

		memset(&a, 0, sizeof(a));
		snprintf(a.host, sizeof(a.host), "%s", m.node[i].host);
		a.port = m.node[i].port;
		if ((k = do_pipe_for(l, &a)) == -1 || nmasters == PIPES_MAX) {
			pthread_mutex_unlock(&l->setup_mu);
			redis_slot_map_free(&m);
			free(table);
			snprintf(why, len, "more than %d masters", PIPES_MAX);
			return -1;
		}
		master[nmasters++] = (uint16_t)k;
	}
	pthread_mutex_unlock(&l->setup_mu);
	for (s = 0; s < REDIS_SLOTS; s++)
		table[s] = m.master[s] == REDIS_SLOT_NONE ? NO_PIPE :
		    master[m.master[s]];
	pthread_rwlock_wrlock(&l->map_lock);
	first = l->nmasters == 0;
	for (s = 0; s < REDIS_SLOTS && !changed; s++)
		changed = table[s] != l->slot_pipe[s];
	if (changed || l->nmasters != nmasters ||
	    memcmp(master, l->master, nmasters * sizeof(master[0])) != 0) {
		memcpy(l->slot_pipe, table, sizeof(l->slot_pipe));
		memcpy(l->master, master, nmasters * sizeof(master[0]));
		l->nmasters = nmasters;
		l->gen++;
	}
	pthread_rwlock_unlock(&l->map_lock);
	if (m.covered < REDIS_SLOTS)
		log_warn("redis: the cluster serves %zu slots of %d",
		    m.covered, REDIS_SLOTS);
	if (changed && !first) {
		log_info("redis: the cluster's slots changed masters; %u "
		    "masters now", nmasters);
		if (l->down != NULL)
			l->down(l->down_arg);
	}
	redis_slot_map_free(&m);
	free(table);
	return 0;
}

/* CLUSTER SLOTS on a blocking connection to a: 0, or -1 with why. */
static int
map_from(struct redis_link *l, const struct redis_addr *a, char *why,
    size_t len)
{
	redisContext *c;
	redisReply *r;
	int ret = -1;

	if ((c = pipe_connect(a, &l->conf, true, why, len)) == NULL)
		return -1;
	if ((r = blocking(c, "CLUSTER", "SLOTS")) == NULL)
		snprintf(why, len, "CLUSTER SLOTS: %s", c->errstr);
	else if (r->type == REDIS_REPLY_ERROR)
		snprintf(why, len, "CLUSTER SLOTS: %s", r->str);
	else
		ret = install_map(l, r, a->host, why, len);
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return ret;
}

/* CLUSTER SLOTS through pipe p: 0, or -1. */
static int
map_through(struct redis_link *l, struct redis_pipe *p)
{
	static const char cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
	char *cmds[1] = { (char *)cmd }, why[256];
	size_t lens[1] = { sizeof(cmd) - 1 };
	redisReply *r;
	int ret = -1;

	if (!pipe_up(p))
		return -1;
	if (pipe_call(p, 1, cmds, lens, &r) == PIPE_OK &&
	    r->type == REDIS_REPLY_ARRAY)
		ret = install_map(l, r, pipe_addr(p)->host, why, sizeof(why));
	if (r != NULL)
		freeReplyObject(r);
	return ret;
}

/*
 * Read the cluster's map again: through the masters' pipes, else from a
 * seed.  Not again within REFRESH_MIN_MS unless force.
 */
static void
refresh(struct redis_link *l, bool force)
{
	struct redis_pipe *masters[PIPES_MAX];
	unsigned n, i;
	uint64_t now = now_ms();
	char why[256];
	size_t k;

	if (atomic_load(&l->mode) != MODE_CLUSTER)
		return;
	pthread_mutex_lock(&l->refresh_mu);
	if (!force && now < atomic_load(&l->refreshed_ms) + REFRESH_MIN_MS) {
		pthread_mutex_unlock(&l->refresh_mu);
		return;
	}
	atomic_store(&l->stale, false);
	pthread_rwlock_rdlock(&l->map_lock);
	n = l->nmasters;
	for (i = 0; i < n; i++)
		masters[i] = l->pipes[l->master[i]];
	pthread_rwlock_unlock(&l->map_lock);
	for (i = 0; i < n; i++)
		if (map_through(l, masters[(i + (unsigned)now) % n]) == 0)
			goto done;
	for (k = 0; k < l->nseeds; k++)
		if (map_from(l, &l->seeds[k], why, sizeof(why)) == 0)
			goto done;
	/* Nobody answered: try again at the next chance. */
	atomic_store(&l->stale, true);
done:
	atomic_store(&l->refreshed_ms, now_ms());
	pthread_mutex_unlock(&l->refresh_mu);
}

int
link_setup(struct redis_link *l, char *why, size_t len)
{
	redisContext *c;
	redisReply *r;
	int ret = -1, enabled, k;
	size_t i;

	if (atomic_load(&l->mode) != MODE_UNKNOWN)
		return 0;
	pthread_mutex_lock(&l->setup_mu);
	if (atomic_load(&l->mode) != MODE_UNKNOWN) {
		pthread_mutex_unlock(&l->setup_mu);
		return 0;
	}
	if (now_ms() < l->setup_until) {
		snprintf(why, len, "no seed answered; backing off");
		pthread_mutex_unlock(&l->setup_mu);
		return -1;
	}
	snprintf(why, len, "no seed address");
	for (i = 0; i < l->nseeds && ret == -1; i++) {
		if ((c = pipe_connect(&l->seeds[i], &l->conf, true, why, len)) ==
		    NULL)
			continue;
		enabled = -2; /* no answer */
		if ((r = blocking(c, "INFO", "cluster")) == NULL)
			snprintf(why, len, "INFO: %s", c->errstr);
		else if (r->type == REDIS_REPLY_ERROR)
			snprintf(why, len, "INFO: %s", r->str);
		else if (r->type == REDIS_REPLY_STRING)
			enabled = redis_slot_cluster_enabled(r->str, r->len);
		else
			enabled = -1;
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		if (enabled == 1 && l->conf.db != 0) {
			snprintf(why, len, "a Redis Cluster has DB 0 only, and "
			    "redis-url names DB %u", l->conf.db);
			break;
		}
		if (enabled == 0 || enabled == -1) {
			/* A single Redis (an INFO without the line, too). */
			if ((k = do_pipe_for(l, &l->seeds[i])) == -1) {
				snprintf(why, len, "out of memory");
				break;
			}
			pthread_rwlock_wrlock(&l->map_lock);
			memset(l->slot_pipe, 0, sizeof(l->slot_pipe));
			l->master[0] = (uint16_t)k;
			l->nmasters = 1;
			l->gen++;
			pthread_rwlock_unlock(&l->map_lock);
			atomic_store(&l->mode, MODE_SINGLE);
			ret = 0;
		} else if (enabled == 1) {
			atomic_store(&l->mode, MODE_CLUSTER);
			pthread_mutex_unlock(&l->setup_mu);
			ret = map_from(l, &l->seeds[i], why, len);
			pthread_mutex_lock(&l->setup_mu);
			if (ret == -1)
				atomic_store(&l->mode, MODE_UNKNOWN);
			else
				atomic_store(&l->refreshed_ms, now_ms());
		}
	}
	if (ret == -1) {
		l->setup_backoff = l->setup_backoff == 0 ? PIPE_BACKOFF_MIN_MS :
		    l->setup_backoff * 2 > PIPE_BACKOFF_MAX_MS ?
		    PIPE_BACKOFF_MAX_MS : l->setup_backoff * 2;
		l->setup_until = now_ms() + l->setup_backoff;
	} else
		l->setup_backoff = 0;
	pthread_mutex_unlock(&l->setup_mu);
	if (ret == 0 && atomic_load(&l->mode) == MODE_CLUSTER)
		log_info("redis: a Redis Cluster of %u masters", l->nmasters);
	return ret;
}

bool
link_cluster(struct redis_link *l)
{
	return atomic_load(&l->mode) == MODE_CLUSTER;
}

redisContext *
link_connect(struct redis_link *l, bool timeouts, char *why, size_t len)
{
	struct redis_addr a[PIPES_MAX];
	redisContext *c;
	unsigned n = 0, i, start;

	if (link_setup(l, why, len) == -1)
		return NULL;
	pthread_rwlock_rdlock(&l->map_lock);
	for (i = 0; i < l->nmasters; i++)
		a[n++] = *pipe_addr(l->pipes[l->master[i]]);
	pthread_rwlock_unlock(&l->map_lock);
	pthread_mutex_lock(&l->setup_mu);
	start = l->next_connect++;
	pthread_mutex_unlock(&l->setup_mu);
	for (i = 0; i < n; i++)
		if ((c = pipe_connect(&a[(start + i) % n], &l->conf, timeouts,
		    why, len)) != NULL)
			return c;
	if (n == 0)
		snprintf(why, len, "no master known");
	return NULL;
}

bool
link_up(struct redis_link *l)
{
	bool up;
	unsigned i, s;

	if (atomic_load(&l->mode) == MODE_UNKNOWN)
		return false;
	pthread_rwlock_rdlock(&l->map_lock);
	up = l->nmasters > 0;
	for (i = 0; up && i < l->nmasters; i++)
		up = pipe_up(l->pipes[l->master[i]]);
	for (s = 0; up && s < REDIS_SLOTS; s++)
		up = l->slot_pipe[s] != NO_PIPE;
	pthread_rwlock_unlock(&l->map_lock);
	return up;
}

void
link_failed(struct redis_link *l, const char *what)
{
	if (atomic_load(&l->mode) == MODE_SINGLE)
		pipe_failed(l->pipes[l->master[0]], what);
	else
		atomic_store(&l->stale, true);
}

void
link_tick(struct redis_link *l, uint64_t now)
{
	if (atomic_load(&l->mode) != MODE_CLUSTER)
		return;
	if (atomic_load(&l->stale) ||
	    now >= atomic_load(&l->refreshed_ms) + LINK_MAP_MS)
		refresh(l, false);
}

/* The pipe of slot's master, or NULL (none known). */
static struct redis_pipe *
slot_pipe(struct redis_link *l, unsigned slot)
{
	struct redis_pipe *p = NULL;
	uint16_t k;

	pthread_rwlock_rdlock(&l->map_lock);
	if ((k = l->slot_pipe[slot % REDIS_SLOTS]) != NO_PIPE)
		p = l->pipes[k];
	pthread_rwlock_unlock(&l->map_lock);
	return p;
}

static void
pause_ms(uint64_t ms)
{
	poll(NULL, 0, (int)ms);
}

/* Does Redis not know the function (a restart, FUNCTION FLUSH)? */
static bool
is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "ERR Function not found", 22) == 0;
}

/*
 * The heart of every call: cmd (formatted) to slot's master, or to pipe
 * `at' when slot is -1, followed on the same connection by `post' (when
 * not NULL; its reply into *post_reply).  MOVED reads the map again and
 * goes where it says; ASK sends ASKING and the command there; TRYAGAIN,
 * CLUSTERDOWN and the like, and a master that cannot be reached (nothing
 * sent), are tried again with growing pauses for the thread's patience.
 * A connection that broke after the command went out is not: the
 * command may have run, and the caller knows whether it may repeat it.
 */
static redisReply *
do_call(struct redis_link *l, int slot, struct redis_pipe *at, char *cmd,
    size_t len, char *post, size_t post_len, redisReply **post_reply)
{
	static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
	struct redis_pipe *p, *ask = NULL, *moved = NULL;
	struct redis_slot_redirect to;
	uint64_t deadline, pause = RETRY_MIN_MS;
	char *cmds[3], why[256];
	size_t lens[3];
	redisReply *rep[3];
	enum pipe_status st;
	unsigned n, k, redirects = 0;
	bool loaded = false;

	if (post_reply != NULL)
		*post_reply = NULL;
	if (link_setup(l, why, sizeof(why)) == -1)
		return NULL;
	deadline = now_ms() + my_patience();
	for (;;) {
		p = ask != NULL ? ask : moved != NULL ? moved : at != NULL ? at :
		    slot_pipe(l, slot < 0 ? 0 : (unsigned)slot);
		n = 0;
		if (ask != NULL) {
			cmds[n] = (char *)asking;
			lens[n++] = sizeof(asking) - 1;
		}
		k = n;
		cmds[n] = cmd;
		lens[n++] = len;
		if (post != NULL) {
			cmds[n] = post;
			lens[n++] = post_len;
		}
		st = p == NULL ? PIPE_NOT_SENT : pipe_call(p, n, cmds, lens, rep);
		ask = moved = NULL;
		if (st != PIPE_OK) {
			for (n = p == NULL ? 0 : n; n-- > 0;)
				if (rep[n] != NULL)
					freeReplyObject(rep[n]);
			if (!link_cluster(l) || st == PIPE_LOST ||
			    now_ms() + pause > deadline) {
				if (link_cluster(l))
					atomic_store(&l->stale, true);
				return NULL;
			}
			pause_ms(pause);
			pause = pause * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : pause * 2;
			refresh(l, false);
			continue;
		}
		if (k > 0)
			freeReplyObject(rep[0]); /* ASKING's OK */
		if (rep[k]->type == REDIS_REPLY_ERROR) {
			enum redis_slot_error e = redis_slot_parse_error(
			    rep[k]->str, rep[k]->len, pipe_addr(p)->host, &to);

			if (e == REDIS_SLOT_MOVED || e == REDIS_SLOT_ASK) {
				if (++redirects > REDIRECTS_MAX)
					goto answer;
				if (e == REDIS_SLOT_MOVED)
					refresh(l, true);
				if ((p = pipe_for(l, to.host, to.port)) == NULL)
					goto answer;
				if (e == REDIS_SLOT_ASK)
					ask = p;
				else if (slot_pipe(l, to.slot) != p || at != NULL)
					moved = p;
				goto again;
			}
			if (e == REDIS_SLOT_RETRY && link_cluster(l) &&
			    now_ms() + pause <= deadline) {
				pause_ms(pause);
				pause = pause * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
				    pause * 2;
				refresh(l, false);
				goto again;
			}
			if (is_noscript(rep[k]) && !loaded) {
				loaded = true;
				if (pipe_load(p) == 0)
					goto again;
			}
		}
answer:
		if (post != NULL && post_reply != NULL)
			*post_reply = rep[k + 1];
		else if (post != NULL && rep[k + 1] != NULL)
			freeReplyObject(rep[k + 1]);
		return rep[k];
again:
		freeReplyObject(rep[k]);
		if (post != NULL && rep[k + 1] != NULL)
			freeReplyObject(rep[k + 1]);
	}
}

redisReply *
link_command(struct redis_link *l, int argc, const char **argv,
    const size_t *argvlen)
{
	redisReply *r;
	char *cmd;
	long long len;
	int slot = argc > 1 ? (int)redis_slot_of(argv[1], argvlen[1]) : 0;

	if ((len = redisFormatCommandArgv(&cmd, argc, argv, argvlen)) < 0)
		return NULL;
	r = do_call(l, slot, NULL, cmd, (size_t)len, NULL, 0, NULL);
	redisFreeCommand(cmd);
	return r;
}

/* Format FCALL of script: 0, or -1 (too many arguments, no memory). */
static long long
format_fcall(struct redis_link *l, char **cmd, enum lua_script script,
    int nkeys, int argc, const char **argv, const size_t *argvlen)
{
	const char *av[LINK_EVAL_ARGS + 3];
	size_t lens[LINK_EVAL_ARGS + 3];
	char nk[12];
	int i;

	if (argc > LINK_EVAL_ARGS || nkeys < 0 || nkeys > argc)
		return -1;
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
	return redisFormatCommandArgv(cmd, argc + 3, av, lens);
}

redisReply *
link_eval(struct redis_link *l, enum lua_script script, int nkeys,
    int argc, const char **argv, const size_t *argvlen)
{
	return link_eval_wait(l, script, nkeys, argc, argv, argvlen, 0, 0,
	    NULL);
}

redisReply *
link_eval_wait(struct redis_link *l, enum lua_script script, int nkeys,
    int argc, const char **argv, const size_t *argvlen, unsigned replicas,
    uint64_t timeout_ms, long long *acked)
{
	redisReply *r, *w = NULL;
	char *cmd, *wait = NULL, n[16], t[24];
	long long len, wlen = 0;
	int slot = nkeys > 0 ? (int)redis_slot_of(argv[0], argvlen[0]) : 0;

	if (acked != NULL)
		*acked = -1;
	if ((len = format_fcall(l, &cmd, script, nkeys, argc, argv, argvlen)) <
	    0)
		return NULL;
	if (replicas > 0) {
		snprintf(n, sizeof(n), "%u", replicas);
		snprintf(t, sizeof(t), "%llu", (unsigned long long)timeout_ms);
		if ((wlen = redisFormatCommand(&wait, "WAIT %s %s", n, t)) < 0) {
			redisFreeCommand(cmd);
			return NULL;
		}
	}
	r = do_call(l, slot, NULL, cmd, (size_t)len, wait, (size_t)wlen,
	    wait != NULL ? &w : NULL);
	if (w != NULL) {
		if (w->type == REDIS_REPLY_INTEGER && acked != NULL)
			*acked = w->integer;
		freeReplyObject(w);
	}
	redisFreeCommand(cmd);
	if (wait != NULL)
		redisFreeCommand(wait);
	return r;
}

unsigned
link_masters(struct redis_link *l, uint64_t *gen)
{
	unsigned n;
	char why[256];

	if (link_setup(l, why, sizeof(why)) == -1) {
		*gen = 0;
		return 0;
	}
	pthread_rwlock_rdlock(&l->map_lock);
	n = l->nmasters;
	*gen = l->gen;
	pthread_rwlock_unlock(&l->map_lock);
	return n;
}

redisReply *
link_eval_at(struct redis_link *l, unsigned master, uint64_t gen,
    enum lua_script script, int argc, const char **argv,
    const size_t *argvlen)
{
	struct redis_pipe *p = NULL;
	redisReply *r;
	char *cmd;
	long long len;

	pthread_rwlock_rdlock(&l->map_lock);
	if (gen == l->gen && master < l->nmasters)
		p = l->pipes[l->master[master]];
	pthread_rwlock_unlock(&l->map_lock);
	if (p == NULL)
		return NULL;
	if ((len = format_fcall(l, &cmd, script, 0, argc, argv, argvlen)) < 0)
		return NULL;
	r = do_call(l, -1, p, cmd, (size_t)len, NULL, 0, NULL);
	redisFreeCommand(cmd);
	return r;
}

struct link_batch *
link_batch_new(unsigned max)
{
	struct link_batch *b = calloc(1, sizeof(*b) +
	    (size_t)max * sizeof(b->call[0]));

	if (b != NULL)
		b->max = max;
	return b;
}

int
link_batch_add(struct link_batch *b, enum lua_script script, int nkeys,
    int argc, const char **argv, const size_t *argvlen)
{
	struct link_call *c;
	int i;

	if (b->n == b->max || argc > LINK_BATCH_ARGS || nkeys > argc)
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
	c->script = script;
	c->nkeys = nkeys;
	c->argc = argc;
	c->reply = NULL;
	b->n++;
	return 0;
}

void
link_batch_clear(struct link_batch *b)
{
	unsigned i;
	int j;

	for (i = 0; i < b->n; i++) {
		for (j = 0; j < b->call[i].argc; j++)
			free(b->call[i].argv[j]);
		if (b->call[i].reply != NULL)
			freeReplyObject(b->call[i].reply);
		b->call[i].reply = NULL;
	}
	b->n = 0;
}

/* Should a call of a batch be made again on its own (do_call)? */
static bool
redo(const redisReply *r)
{
	struct redis_slot_redirect to;

	return r->type == REDIS_REPLY_ERROR && (is_noscript(r) ||
	    redis_slot_parse_error(r->str, r->len, "", &to) !=
	    REDIS_SLOT_ERROR);
}

enum { CALL_PENDING, CALL_DONE, CALL_SOLO };

/* The pipes of a round of a batch, each with the calls it took. */
struct round {
	struct redis_pipe *p;
	uint64_t epoch, first;
	enum pipe_status st;
	unsigned n;
	char *cmd[PIPE_RING / 4];
	size_t len[PIPE_RING / 4];
	unsigned call[PIPE_RING / 4];
};

/*
 * One round: up to PIPE_RING / 4 pending calls for each of up to
 * `max' pipes, written pipe by pipe, then every reply read, so that
 * every master works on its share at once.  Returns the calls sent.
 */
static unsigned
batch_round(struct redis_link *l, struct link_batch *b, char **cmd,
    size_t *len, unsigned char *state, struct round *g, unsigned max)
{
	unsigned ng = 0, i, j, k, sent = 0;

	for (i = 0; i < b->n; i++) {
		struct link_call *c = &b->call[i];
		struct redis_pipe *p;

		if (state[i] != CALL_PENDING)
			continue;
		p = slot_pipe(l, c->nkeys > 0 ?
		    redis_slot_of(c->argv[0], c->len[0]) : 0);
		if (p == NULL) {
			state[i] = CALL_SOLO;
			continue;
		}
		for (j = 0; j < ng && g[j].p != p; j++)
			;
		if (j == ng) {
			if (ng == max)
				continue;
			g[ng].p = p;
			g[ng++].n = 0;
		}
		if (g[j].n == PIPE_RING / 4)
			continue;
		g[j].cmd[g[j].n] = cmd[i];
		g[j].len[g[j].n] = len[i];
		g[j].call[g[j].n++] = i;
	}
	for (j = 0; j < ng; j++)
		g[j].st = pipe_send(g[j].p, g[j].n, g[j].cmd, g[j].len,
		    &g[j].epoch, &g[j].first);
	for (j = 0; j < ng; j++)
		for (k = 0; k < g[j].n; k++) {
			i = g[j].call[k];
			sent++;
			if (g[j].st == PIPE_NOT_SENT) {
				state[i] = CALL_SOLO;
				continue;
			}
			if (g[j].st == PIPE_OK)
				b->call[i].reply = pipe_recv(g[j].p,
				    g[j].epoch, g[j].first + k);
			state[i] = b->call[i].reply != NULL &&
			    redo(b->call[i].reply) ? CALL_SOLO : CALL_DONE;
		}
	return sent;
}

#define ROUND_PIPES 8

unsigned
link_batch_run(struct redis_link *l, struct link_batch *b)
{
	const char *av[LINK_BATCH_ARGS];
	char **cmd = NULL, why[256];
	size_t *len = NULL;
	unsigned char *state = NULL;
	struct round *g = NULL;
	unsigned i, ok = 0;
	long long k;
	int j;

	if (b->n == 0 || link_setup(l, why, sizeof(why)) == -1)
		return 0;
	if ((cmd = calloc(b->n, sizeof(*cmd))) == NULL ||
	    (len = calloc(b->n, sizeof(*len))) == NULL ||
	    (state = calloc(b->n, 1)) == NULL ||
	    (g = malloc(ROUND_PIPES * sizeof(*g))) == NULL) {
		free(cmd);
		free(len);
		free(state);
		cmd = NULL; /* each on its own, below */
		len = NULL;
		state = NULL;
	}
	for (i = 0; cmd != NULL && i < b->n; i++) {
		for (j = 0; j < b->call[i].argc; j++)
			av[j] = b->call[i].argv[j];
		if ((k = format_fcall(l, &cmd[i], b->call[i].script,
		    b->call[i].nkeys, b->call[i].argc, av, b->call[i].len)) < 0) {
			cmd[i] = NULL;
			state[i] = CALL_DONE; /* cannot be made */
		} else
			len[i] = (size_t)k;
	}
	if (cmd != NULL)
		while (batch_round(l, b, cmd, len, state, g, ROUND_PIPES) > 0)
			;
	for (i = 0; i < b->n; i++) {
		struct link_call *c = &b->call[i];

		if (cmd == NULL || state[i] == CALL_SOLO) {
			if (c->reply != NULL)
				freeReplyObject(c->reply);
			for (j = 0; j < c->argc; j++)
				av[j] = c->argv[j];
			c->reply = link_eval(l, c->script, c->nkeys, c->argc,
			    av, c->len);
		}
		ok += c->reply != NULL && c->reply->type != REDIS_REPLY_ERROR;
		if (cmd != NULL && cmd[i] != NULL)
			redisFreeCommand(cmd[i]);
	}
	free(cmd);
	free(len);
	free(state);
	free(g);
	return ok;
}
