/*
 * fuzz_store_redis.c - libFuzzer target for the Redis store (SPEC section
 * 8, include/redis.h), on a redis-server of its own, against the model
 * of fuzz_store (model.c).
 *
 * LLVMFuzzerInitialize starts redis-server (REDIS_SERVER names another
 * binary) on a unix socket in $TMPDIR or /tmp, with no persistence; it
 * gets SIGTERM when this process ends, however it ends, and removes its
 * socket then.  Each input starts from an empty Redis (FLUSHALL; the
 * Functions library stays loaded) with a new store joined to it, so that
 * its counters start at zero and no node of an earlier input is alive.
 *
 * The program is fuzz_store's (test/fuzz/README), and so is the model,
 * with what the Redis store does differently:
 * - Redis keeps time by its own clock (the scripts call TIME).  Its
 *   timeouts are long here, so that nothing may expire within an input;
 *   the clock passed in drives the node's own timers only: held GETs time
 *   out on its wheel, look at their client past inbox-timeout, and the
 *   credentials it cached go stale and are forgotten.
 * - A request authenticates first, as api.c does: store_login against
 *   the node's cache, and on a miss store_credential, the password
 *   checked against the hash (a stand-in for Argon2id) and store_admit,
 *   or store_create for a new inbox.
 * - A send to a held GET wakes it over pub/sub: the subscriber thread
 *   pops for it and releases it; the model waits for every release due.
 * - A popped message is a copy, with an id of the script's and its
 *   enqueue time on Redis' clock, between the clock read before and after
 *   the send.
 * - The gauges of inboxes, messages and bytes come from a walk over the
 *   keys during store_expire: after each walk they must be the model's.
 * At the end every inbox is emptied by pops: every message sent must
 * then have been delivered exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "model.h"
#include "redis.h"
#include "store.h"

#define TICK_MS 100
#define START_MS 1000050ULL
/* Redis' timeouts: far beyond the run of any input. */
#define INBOX_TIMEOUT_MS 120000
#define MESSAGE_TIMEOUT_MS 100000
#define LEASE_MS 600000
#define WALK_MS 1000   /* a new walk over the gauges is due by then */
#define START_WAIT_S 10 /* for redis-server to answer */

#define names model_names

static struct {
	pid_t pid;
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char url[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int redis_log, node_log; /* memfds: redis-server's, the node's */
	redisContext *ctl;
} srv = { .redis_log = -1, .node_log = -1 };

static void
server_stop(void)
{
	if (srv.ctl != NULL) {
		redisFree(srv.ctl);
		srv.ctl = NULL;
	}
	if (srv.pid > 0) {
		kill(srv.pid, SIGTERM); /* it removes its socket */
		waitpid(srv.pid, NULL, 0);
		srv.pid = 0;
	}
}

/* Copy what the memfd fd holds to standard error. */
static void
print_log(int fd, const char *what)
{
	char buf[4096];
	ssize_t n;
	off_t off = 0;

	if (fd == -1)
		return;
	fprintf(stderr, "-- %s:\n", what);
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		fwrite(buf, 1, (size_t)n, stderr);
		off += n;
	}
}

/* model_fail: say what the node and Redis logged, and stop Redis. */
static void
failed(void)
{
	print_log(srv.node_log, "the node's log of this input");
	print_log(srv.redis_log, "redis-server's log");
	server_stop();
}

static void __attribute__((noreturn))
start_failed(const char *fmt, const char *arg)
{
	fprintf(stderr, "fuzz_store_redis: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	print_log(srv.redis_log, "redis-server's log");
	server_stop();
	exit(1);
}

static void
server_start(void)
{
	const char *tmp = getenv("TMPDIR"), *bin = getenv("REDIS_SERVER");
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	pid_t parent = getpid();
	redisReply *r;
	int i, null;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (bin == NULL || *bin == '\0')
		bin = "redis-server";
	if ((size_t)snprintf(srv.sock, sizeof(srv.sock),
	    "%s/fuzz_store_redis.%ld.sock", tmp, (long)parent) >=
	    sizeof(srv.sock))
		start_failed("TMPDIR too long for a unix socket: %s", tmp);
	snprintf(srv.url, sizeof(srv.url), "unix:%s", srv.sock);
	if ((srv.redis_log = memfd_create("redis.log", MFD_CLOEXEC)) == -1 ||
	    (srv.node_log = memfd_create("inboxd.log", MFD_CLOEXEC)) == -1)
		start_failed("memfd_create: %s", strerror(errno));
	if ((srv.pid = fork()) == -1)
		start_failed("fork: %s", strerror(errno));
	if (srv.pid == 0) {
		/* Go when the fuzzer goes, even by a crash or a kill. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		if ((null = open("/dev/null", O_RDONLY)) != -1)
			dup2(null, 0);
		dup2(srv.redis_log, 1);
		dup2(srv.redis_log, 2);
		execlp(bin, bin, "--port", "0", "--unixsocket", srv.sock,
		    "--unixsocketperm", "700", "--save", "", "--appendonly",
		    "no", "--dir", tmp, "--logfile", "", "--loglevel",
		    "warning", (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	atexit(server_stop);
	for (i = 0; i < START_WAIT_S * 50; i++) {
		nanosleep(&ts, NULL);
		if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid) {
			srv.pid = 0;
			start_failed("%s exited (install the Debian package "
			    "redis-server, or set REDIS_SERVER)", bin);
		}
		if ((srv.ctl = redisConnectUnix(srv.sock)) == NULL)
			continue;
		if (srv.ctl->err == 0 &&
		    (r = redisCommand(srv.ctl, "PING")) != NULL) {
			freeReplyObject(r);
			return;
		}
		redisFree(srv.ctl);
		srv.ctl = NULL;
	}
	start_failed("%s did not answer on its socket", bin);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[64];

	(void)argc;
	(void)argv;
	server_start();
	/* The node's log: kept per input, printed if it fails. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", srv.node_log);
	if (log_open(LOG_TO_FILE, path, LOG_FORMAT_TEXT) == -1)
		start_failed("log_open: %s", strerror(errno));
	return 0;
}

/* Redis' clock: what TIME answers a script, in ms. */
static uint64_t
redis_clock(struct model *c)
{
	struct timespec ts;

	(void)c;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The hash name k's inbox keeps of password pw: a salt whose first 8
 * bytes are the inbox's generation, and a tag only pw matches.  The
 * store never looks inside: a stand-in for Argon2id.
 */
static void
hash_of(int k, int pw, struct cred_hash *h)
{
	memset(h, 0, sizeof(*h));
	h->salt[0] = 0xa5;
	h->salt[1] = (uint8_t)k;
	h->salt[2] = (uint8_t)pw;
	h->tag[0] = (uint8_t)(k + 1);
	h->tag[1] = (uint8_t)(pw + 1);
}

static void
created(struct model *c, int k, int pw)
{
	c->box[k].present = true;
	c->box[k].pw = pw;
	c->box[k].last_act_ms = c->now;
	c->box[k].freed = false;
}

/*
 * Inbox k's hash is h, as store_credential gave it: it must be its
 * creator's; password pw is checked against it and admitted, as api.c's
 * verify_or_create does.  Returns STORE_OK or STORE_WRONG.
 */
static enum store_result
verify(struct model *c, int k, int pw, const struct cred_hash *h,
    const char *what)
{
	struct cred_hash want;
	uint8_t mac[CRED_MAC_BYTES];
	enum store_result r;

	REQUIRE(c->box[k].present, "%s: %s has a hash but was never "
	    "created", what, names[k]);
	hash_of(k, c->box[k].pw, &want);
	REQUIRE(memcmp(h, &want, sizeof(want)) == 0, "%s: the hash of %s is "
	    "not its creator's", what, names[k]);
	hash_of(k, pw, &want);
	if (memcmp(h->tag, want.tag, sizeof(want.tag)) != 0)
		return STORE_WRONG;
	model_mac(k, pw, mac);
	r = store_admit(c->s, names[k], h, mac, c->now);
	REQUIRE(r == STORE_OK, "%s: admit %s: result %d", what, names[k], r);
	return STORE_OK;
}

/*
 * A request of name k with password pw, as api.c authenticates it: the
 * node's cache, or a first contact that verifies against Redis' hash or
 * creates the inbox.  Returns STORE_OK or STORE_WRONG.
 */
static enum store_result
authenticate(struct model *c, int k, int pw, const char *what)
{
	uint8_t mac[CRED_MAC_BYTES];
	struct before b = model_look(c, k);
	struct cred_hash h;
	enum store_result r;

	model_mac(k, pw, mac);
	r = store_login(c->s, names[k], mac, c->now);
	if (r == STORE_OK) {
		model_found(c, k, &b, what);
		REQUIRE(c->box[k].pw == pw, "%s: a wrong password let in",
		    what);
		return STORE_OK;
	}
	REQUIRE(r == STORE_NOT_FOUND, "%s: login: result %d", what, r);
	r = store_credential(c->s, names[k], &h);
	if (r == STORE_OK) {
		model_found(c, k, &b, what);
		return verify(c, k, pw, &h, what);
	}
	REQUIRE(r == STORE_NOT_FOUND, "%s: credential: result %d", what, r);
	model_not_found(c, k, &b, what);
	hash_of(k, pw, &h);
	/* One node, and no other request: nobody makes it meanwhile. */
	r = store_create(c->s, names[k], &h, mac, c->now);
	REQUIRE(r == STORE_OK, "%s: create %s: result %d", what, names[k], r);
	created(c, k, pw);
	return STORE_OK;
}

/* Inbox k's owner makes a request: with its password, it gets in. */
static void
contact(struct model *c, int k)
{
	int pw = c->box[k].present ? c->box[k].pw : 0;

	REQUIRE(authenticate(c, k, pw, "contact") == STORE_OK,
	    "contact: %s refused its own password", names[k]);
}

static void
op_login(struct model *c, uint8_t a)
{
	int k = a & 7, pw = (a >> 3) & 1;

	if (authenticate(c, k, pw, "login") == STORE_WRONG)
		REQUIRE(c->box[k].pw != pw,
		    "login: the right password refused");
}

/*
 * store_create straight away, as api.c calls it when the inbox was not
 * there a moment before: a conflict is verified against Redis' hash.
 */
static void
op_create(struct model *c, uint8_t a)
{
	int k = a & 7, pw = (a >> 3) & 1;
	uint8_t mac[CRED_MAC_BYTES];
	struct before b = model_look(c, k);
	struct cred_hash h;
	enum store_result r;

	hash_of(k, pw, &h);
	model_mac(k, pw, mac);
	r = store_create(c->s, names[k], &h, mac, c->now);
	switch (r) {
	case STORE_OK:
		if (!b.present) {
			created(c, k, pw);
			break;
		}
		model_found(c, k, &b, "create");
		REQUIRE(c->box[k].pw == pw, "create: a wrong password let in");
		break;
	case STORE_CONFLICT:
		model_found(c, k, &b, "create");
		r = store_credential(c->s, names[k], &h);
		REQUIRE(r == STORE_OK, "create: credential of a conflict: "
		    "result %d", r);
		if (verify(c, k, pw, &h, "create") == STORE_WRONG)
			REQUIRE(c->box[k].pw != pw,
			    "create: the right password refused");
		break;
	default:
		REQUIRE(0, "create: result %d", r);
	}
}

/* Nothing expires within an input: it runs for seconds at most. */
static void
check(struct model *c, const struct store_stats *st)
{
	(void)c;
	REQUIRE(st->expired == 0, "%llu messages expired; none can within "
	    "message-timeout %d s", (unsigned long long)st->expired,
	    MESSAGE_TIMEOUT_MS / 1000);
}

/*
 * After a store_expire that finished a walk, the gauges are the model's.
 * (PINs are a gauge too: counted at once on one Redis, by the walk where
 * they are spread over a cluster's slots.)
 */
static void
expired(struct model *c, const struct store_stats *before)
{
	struct store_stats st;
	uint64_t boxes = 0, n = 0, bytes = 0, pins = 0, q, qb;
	int k;

	store_stats(c->s, &st);
	if (st.gauge_walks == before->gauge_walks)
		return;
	for (k = 0; k < NNAMES; k++)
		if (c->box[k].present) {
			boxes++;
			pins += c->box[k].pin;
			model_oldest(c, k, &q, &qb);
			n += q;
			bytes += qb;
		}
	REQUIRE(st.inboxes == boxes && st.messages == n && st.bytes == bytes &&
	    st.pins == pins && st.inboxes_expired == 0, "walked: %llu "
	    "inboxes, %llu messages of %llu bytes, %llu PINs, %llu inboxes "
	    "expired; model %llu, %llu, %llu, %llu, 0",
	    (unsigned long long)st.inboxes, (unsigned long long)st.messages,
	    (unsigned long long)st.bytes, (unsigned long long)st.pins,
	    (unsigned long long)st.inboxes_expired,
	    (unsigned long long)boxes, (unsigned long long)n,
	    (unsigned long long)bytes, (unsigned long long)pins);
}

static const struct model_driver redis_driver = {
	.name = "fuzz_store_redis",
	.async = true,
	.copies = true,
	.wake_batch = true,
	.lim = {
		.inbox_timeout_ms = INBOX_TIMEOUT_MS,
		.message_timeout_ms = MESSAGE_TIMEOUT_MS,
		.max_messages = 4,
		.max_inbox_bytes = 512,
		.max_memory = (uint64_t)1 << 40, /* judged by lagging gauges */
	},
	.tick_ms = TICK_MS,
	/* 60 to 187.5 s, so that Redis' record of the hold outlives the
	 * input; some past inbox-timeout. */
	.wait_base_ms = 60000,
	.wait_step_ms = 500,
	.pin_base_ms = 60000,
	.pin_step_ms = 500,
	.clock = redis_clock,
	.create = op_create,
	.login = op_login,
	.contact = contact,
	.check = check,
	.expired = expired,
	.failed = failed,
};

/*
 * After model_finish: pop every inbox empty, each pop delivered; what
 * awaits an acknowledgement is acknowledged by an ack= GET naming the
 * last of it (which may take more: those then await the next); one more
 * pop of each must find nothing.  Every message sent is then delivered
 * or acknowledged, once (but for those an acknowledgement put back,
 * delivered again); and the next walk finds no message left.
 */
static void
drain(struct model *c)
{
	struct store_get get = { 4, true, 0 };
	uint64_t id, n, bytes, an, ab, last;
	int k, i;

	for (k = 0; k < NNAMES; k++) {
		if (!c->box[k].present)
			continue;
		for (;;) {
			last = model_awaiting(c, k, &an, &ab);
			if (last != 0) {
				get.ack_id = c->rec[last].id;
				model_receive_get(c, (uint8_t)(k | 1 << 6), 0,
				    &get);
			} else if (model_oldest(c, k, &n, &bytes) != 0)
				model_receive(c, (uint8_t)(k | 1 << 6), 0);
			else
				break;
			if ((i = model_pick_slot(c, 0, S_FLIGHT)) >= 0)
				model_done(c, i, true);
			else
				REQUIRE(last != 0, "drain: no pop from %s",
				    names[k]);
			model_check_all(c);
		}
		model_receive(c, (uint8_t)(k | 1 << 6), 0);
	}
	for (id = 1; id <= c->sent; id++)
		REQUIRE(c->rec[id].state == M_DELIVERED, "message %llu to %s "
		    "not delivered at the end (state %d)",
		    (unsigned long long)id, names[c->rec[id].to],
		    c->rec[id].state);
	REQUIRE(c->delivered == c->sent + c->ack_requeued, "%llu delivered "
	    "of %llu sent, %llu put back by an ack",
	    (unsigned long long)c->delivered, (unsigned long long)c->sent,
	    (unsigned long long)c->ack_requeued);
	c->now += WALK_MS;
	model_expire(c);
	model_check_all(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redis_params p = { .url = srv.url, .lease_timeout_ms =
	    LEASE_MS };
	struct model *c = malloc(sizeof(*c));
	char why[256];
	redisReply *r;

	REQUIRE(c != NULL && model_init(c, &redis_driver, size, START_MS) ==
	    0, "out of memory");
	r = redisCommand(srv.ctl, "FLUSHALL");
	REQUIRE(r != NULL && r->type == REDIS_REPLY_STATUS, "FLUSHALL: %s",
	    r == NULL ? srv.ctl->errstr : r->type == REDIS_REPLY_ERROR ?
	    r->str : "unexpected reply");
	freeReplyObject(r);
	REQUIRE(ftruncate(srv.node_log, 0) == 0, "ftruncate: %s",
	    strerror(errno));
	why[0] = '\0';
	c->s = redis_store_new(&redis_driver.lim, &model_ops, &p, c->now,
	    TICK_MS, why, sizeof(why));
	REQUIRE(c->s != NULL, "redis_store_new: %s", why);
	model_check_all(c);
	model_run(c, data, size);
	model_finish(c);
	drain(c);
	store_free(c->s);
	model_free(c);
	free(c);
	return 0;
}
