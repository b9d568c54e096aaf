/*
 * main.c - options, configuration, signals, start and orderly stop.
 *
 * Signals are blocked in every thread and taken synchronously by the main
 * thread, which also drives the store's timer wheel once per tick: no
 * handler ever runs in the middle of a request.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "redis.h"
#include "store.h"
#include "util.h"

#ifndef INBOXD_VERSION
#define INBOXD_VERSION "0.1.0"
#endif
#ifndef INBOXD_CONF
#define INBOXD_CONF "/etc/inboxd.conf"
#endif

#define TICK_MS 100          /* timer wheel resolution */
#define FAILURE_WINDOW_MS 60000
#define PEER_MAX_ENTRIES 65536 /* addresses with failures tracked at once */
#define SHUTDOWN_GRACE_MS 10000
#define RETIRE_MS 60000 /* a replaced configuration is freed after it */

/* The settings a reload cannot change: read when the process starts. */
#define FIELD(f, kw) { kw, offsetof(struct config, f), \
	sizeof(((struct config *)0)->f) }
static const struct {
	const char *keyword;
	size_t offset, size;
} fixed[] = {
	FIELD(listen, "listen"), FIELD(threads, "threads"),
	FIELD(connection_limit, "connection-limit"),
	FIELD(tls_cert, "tls-cert"), FIELD(tls_key, "tls-key"),
	FIELD(store, "store"), FIELD(redis_url, "redis-url"),
	FIELD(redis_password, "redis-password"), FIELD(node_id, "node-id"),
	FIELD(lease_timeout_ms, "lease-timeout"),
	FIELD(redis_wait_replicas, "redis-wait-replicas"),
	FIELD(argon2_time_cost, "argon2-time-cost"),
	FIELD(argon2_memory_kib, "argon2-memory-kib"),
	FIELD(argon2_parallelism, "argon2-parallelism"),
	FIELD(argon2_max_concurrent, "argon2-max-concurrent"),
	FIELD(log_file, "log-file"), FIELD(log_format, "log-format"),
};

/* A configuration a reload replaced, freed RETIRE_MS later. */
struct retired {
	struct config *cfg;
	uint64_t at_ms;
	struct retired *next;
};

/* The Redis store heard that an address is over its failures. */
static void
learn_block(void *arg, const struct addr *key, unsigned failures,
    uint64_t left_ms)
{
	peers_learn(arg, key, failures, left_ms, now_ms());
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: inboxd [-dhnV] [-f file] [-l address:port]\n");
}

static void
print_error(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static void
log_error(void *arg, const char *msg)
{
	(void)arg;
	log_warn("reload: %s", msg);
}

/* The store's limits from the configuration. */
static void
store_limits_of(const struct config *c, struct store_limits *lim)
{
	lim->inbox_timeout_ms = c->inbox_timeout_ms;
	lim->message_timeout_ms = c->message_timeout_ms;
	lim->max_messages = c->max_messages;
	lim->max_inbox_bytes = c->max_inbox_bytes;
	lim->max_inboxes = c->max_inboxes;
	lim->max_memory = c->max_memory;
	lim->max_rooms = c->max_rooms;
	lim->max_room_members = c->max_room_members;
	lim->max_rooms_per_inbox = c->max_rooms_per_inbox;
}

/*
 * SIGHUP: read file again (and -l's listen over it).  A file with errors
 * is refused whole, each error logged with its FILE:LINE; else what
 * changed takes effect at once, but the keywords of fixed[], which keep
 * their running values and are named in the log.  The replaced settings
 * go on *retired, for requests that may still read them.  Returns the
 * settings in force.
 */
static struct config *
reload(struct config *cur, const char *file, const char *listen,
    struct store *store, struct peers *peers, struct retired **retired)
{
	struct store_limits lim;
	struct config *next;
	struct retired *rt;
	int errors = 0;
	size_t i;

	if (file == NULL) {
		log_info("reload: no configuration file, nothing to read");
		return cur;
	}
	if ((next = malloc(sizeof(*next))) == NULL ||
	    (rt = malloc(sizeof(*rt))) == NULL) {
		free(next);
		log_warn("reload: out of memory; the running settings stay");
		return cur;
	}
	config_defaults(next);
	errors += config_load(next, file, log_error, NULL);
	if (listen != NULL &&
	    config_set(next, "-l", "listen", listen, log_error, NULL) == -1)
		errors++;
	errors += config_check(next, file, log_error, NULL);
	if (errors > 0) {
		log_warn("reload: %d error%s in %s; the running settings stay",
		    errors, errors == 1 ? "" : "s", file);
		config_free(next);
		free(next);
		free(rt);
		return cur;
	}
	for (i = 0; i < nitems(fixed); i++) {
		char *a = (char *)cur + fixed[i].offset;
		char *b = (char *)next + fixed[i].offset;

		if (memcmp(a, b, fixed[i].size) != 0) {
			log_warn("reload: %s changed, which takes a restart: "
			    "kept as it was", fixed[i].keyword);
			memcpy(b, a, fixed[i].size);
		}
	}
	store_limits_of(next, &lim);
	store_set_limits(store, &lim);
	peers_set_limits(peers, next->per_ip_connection_limit,
	    next->auth_failures_per_minute);
	auth_set_min_password_length(next->min_password_length);
	http_reconfigure(next);
	rt->cfg = cur;
	rt->at_ms = now_ms();
	rt->next = *retired;
	*retired = rt;
	log_info("reload: %s read, its settings in force", file);
	return next;
}

/* Free the replaced configurations older than RETIRE_MS (or all). */
static void
free_retired(struct retired **retired, bool all)
{
	struct retired **pp = retired, *rt;

	while ((rt = *pp) != NULL) {
		if (all || rt->at_ms + RETIRE_MS <= now_ms()) {
			*pp = rt->next;
			config_free(rt->cfg);
			free(rt->cfg);
			free(rt);
		} else
			pp = &rt->next;
	}
}

/* Raise the open-file limit to its hard limit: one descriptor a peer. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE: %s", strerror(errno));
	}
}

/* Detach from the terminal as a classic daemon. */
static void
detach(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid != 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid: %s", strerror(errno));
	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid != 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

int
main(int argc, char *argv[])
{
	struct config *cfg;
	struct retired *retired = NULL;
	char *path = NULL;
	const char *file = NULL, *listen = NULL;
	int ch, foreground = 0, test_only = 0, errors = 0;
	struct auth_params ap;
	struct store_limits lim;
	struct redis_params rp;
	struct store *store;
	char why[256];
	struct peer_limits pl;
	struct peers *peers;
	struct MHD_Daemon *d;
	sigset_t sigs;
	long ncpu;

	while ((ch = getopt(argc, argv, "df:hl:nV")) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'l':
			listen = optarg;
			break;
		case 'n':
			test_only = 1;
			break;
		case 'V':
			printf("inboxd %s\n", INBOXD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	if ((cfg = malloc(sizeof(*cfg))) == NULL)
		fatal("out of memory");
	config_defaults(cfg);
	if (file != NULL)
		errors += config_load(cfg, file, print_error, NULL);
	else if (access(INBOXD_CONF, F_OK) == 0)
		errors += config_load(cfg, file = INBOXD_CONF, print_error,
		    NULL);
	if (listen != NULL &&
	    config_set(cfg, "-l", "listen", listen, print_error, NULL) == -1)
		errors++;
	errors += config_check(cfg, file != NULL ? file : "inboxd",
	    print_error, NULL);
	if (errors > 0 || test_only) {
		config_free(cfg);
		free(cfg);
		if (errors == 0) {
			printf("configuration OK\n");
			return 0;
		}
		fprintf(stderr, "%d error%s in the configuration\n", errors,
		    errors == 1 ? "" : "s");
		return 1;
	}

	/* Read again by a reload, after detach has gone to /. */
	if (file != NULL && (path = realpath(file, NULL)) == NULL)
		fatal("%s: %s", file, strerror(errno));
	/* What can fail is tried while errors still reach the terminal. */
	if (cfg->log_file[0] != '\0' &&
	    log_open(LOG_TO_FILE, cfg->log_file, cfg->log_format) == -1)
		fatal("log-file %s: %s", cfg->log_file, strerror(errno));
	if (cfg->log_file[0] == '\0')
		log_open(LOG_TO_STDERR, NULL, cfg->log_format);
	if (http_listen(cfg) == -1)
		fatal("cannot listen on %s", cfg->listen);
	rp.url = cfg->redis_url;
	rp.password = cfg->redis_password;
	rp.wait_replicas = cfg->redis_wait_replicas;
	rp.node_id = cfg->node_id;
	rp.lease_timeout_ms = cfg->lease_timeout_ms;
	/* A node does not start without its Redis (systemd restarts it). */
	if (cfg->store == STORE_KIND_REDIS &&
	    redis_probe(&rp, why, sizeof(why)) == -1)
		fatal("store redis: %s", why);
	if (!foreground) {
		detach();
		if (cfg->log_file[0] == '\0')
			log_open(LOG_TO_SYSLOG, NULL, cfg->log_format);
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	/* Threads started from here on inherit the blocked set. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	raise_nofile();

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ap.time_cost = cfg->argon2_time_cost;
	ap.memory_kib = cfg->argon2_memory_kib;
	ap.parallelism = cfg->argon2_parallelism;
	ap.max_concurrent = cfg->argon2_max_concurrent ? cfg->argon2_max_concurrent
	    : (ncpu > 0 ? (unsigned)ncpu : 1);
	ap.min_password_length = cfg->min_password_length;
	if (auth_init(&ap) == -1)
		fatal("starting the hashing threads: %s", strerror(errno));

	store_limits_of(cfg, &lim);
	if (cfg->store == STORE_KIND_REDIS) {
		if ((store = redis_store_new(&lim, &waiter_ops, &rp, now_ms(),
		    TICK_MS, why, sizeof(why))) == NULL)
			fatal("store redis: %s", why);
	} else if ((store = store_new(&lim, &waiter_ops, now_ms(),
	    TICK_MS)) == NULL)
		fatal("creating the store: out of memory");
	store_set_renderer(store, json_room_event);

	pl.connections = cfg->per_ip_connection_limit;
	pl.failures = cfg->auth_failures_per_minute;
	pl.window_ms = FAILURE_WINDOW_MS;
	pl.max_entries = PEER_MAX_ENTRIES;
	if ((peers = peers_new(&pl, now_ms(), TICK_MS)) == NULL)
		fatal("creating the address table: out of memory");
	if (cfg->store == STORE_KIND_REDIS) {
		/* Guesses spread over the nodes count as on one. */
		peers_share(peers, redis_share_failure, store);
		peers_peek(peers, redis_peek_failures);
		redis_store_on_block(store, pl.failures, learn_block, peers);
	}

	if ((d = http_start(cfg, store, peers)) == NULL)
		fatal("cannot serve on %s", cfg->listen);
	log_info("inboxd %s listening on %s port %u", INBOXD_VERSION,
	    cfg->listen, http_port(d));

	for (;;) {
		struct timespec tick = { 0, TICK_MS * 1000 * 1000 };
		int sig = sigtimedwait(&sigs, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: stopping", sig);
			break;
		}
		if (sig == SIGHUP) {
			if (log_reopen() == -1)
				log_warn("reopening the log: %s",
				    strerror(errno));
			cfg = reload(cfg, path, listen, store, peers, &retired);
		}
		free_retired(&retired, false);
		store_expire(store, now_ms());
		peers_expire(peers, now_ms());
		http_tick(now_ms());
		log_flush();
	}

	http_quiesce(d);
	store_shutdown(store, now_ms());
	auth_stop();
	http_stop(d, SHUTDOWN_GRACE_MS);
	log_flush();
	store_free(store);
	peers_free(peers);
	free_retired(&retired, true);
	config_free(cfg);
	free(cfg);
	free(path);
	log_info("stopped after %llu Argon2id hashes",
	    (unsigned long long)atomic_load(&metrics.argon2_hashes));
	return 0;
}
