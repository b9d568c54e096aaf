/*
 * harness.c - Check-aware helpers shared by the integration suites (see
 * harness.h).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "redis_slot.h"

void
sleep_ms(long ms)
{
	poll(NULL, 0, (int)ms);
}

int
cluster_mode(void)
{
	const char *v = getenv("INBOXD_CLUSTER");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

int
redis_cluster_mode(void)
{
	const char *v = getenv("INBOXD_CLUSTER");

	return v != NULL && strcmp(v, "redis-cluster") == 0;
}

/*
 * The Redis Cluster of INBOXD_CLUSTER=redis-cluster: one for the whole
 * suite, started by the first test case's fixture in the process that
 * runs the tests (Check's forked tests inherit it), stopped when that
 * process exits.  Each test starts on it emptied (FLUSHALL).
 */
static struct redis_cluster shared;
static pid_t shared_owner;
static int shared_up;
static char shared_why[600];

/* The names the suites use most: each on a master of its own. */
static const char *const spread_names[] = { "alice", "bob", "carol" };

static void
shared_stop(void)
{
	if (shared_up && getpid() == shared_owner) {
		redis_cluster_stop(&shared);
		shared_up = 0;
	}
}

/* The slot of inbox name's keys, inboxd:{NAME}:i. */
static unsigned
inbox_slot(const char *name)
{
	char key[300];

	snprintf(key, sizeof(key), "inboxd:{%s}:i", name);
	return redis_slot_of(key, strlen(key));
}

static void
shared_setup(void)
{
	int master[RCLUSTER_MASTERS], used[RCLUSTER_NODES] = { 0 }, i, j = 0, k;
	char why[512] = "no master left";

	if (!redis_cluster_mode() || shared_up || shared_why[0] != '\0')
		return;
	if (redis_cluster_start(&shared, shared_why, sizeof(shared_why)) ==
	    -1)
		return;
	shared_owner = getpid();
	shared_up = 1;
	atexit(shared_stop);
	/* alice, bob and carol on three masters: a slot moved if need be
	 * (the cluster is empty, so no key moves with it). */
	for (i = 0; i < RCLUSTER_MASTERS; i++) {
		master[i] = redis_cluster_master_of(&shared,
		    inbox_slot(spread_names[i]));
		if (master[i] >= 0 && !used[master[i]]) {
			used[master[i]] = 1;
			continue;
		}
		/* A master none of the names has yet. */
		for (k = 0; k < RCLUSTER_MASTERS; k++) {
			j = redis_cluster_master_of(&shared,
			    (unsigned)((2 * k + 1) * REDIS_SLOTS /
			    (2 * RCLUSTER_MASTERS)));
			if (j >= 0 && !used[j])
				break;
		}
		if (k == RCLUSTER_MASTERS || redis_cluster_move_slot(&shared,
		    inbox_slot(spread_names[i]), j, why, sizeof(why)) == -1) {
			snprintf(shared_why, sizeof(shared_why), "could not put "
			    "%s on a master of its own: %s", spread_names[i],
			    why);
			shared_stop();
			return;
		}
		master[i] = j;
		used[j] = 1;
	}
	printf("redis cluster: alice on port %u, bob on port %u, carol on "
	    "port %u\n", shared.node[master[0]].port,
	    shared.node[master[1]].port, shared.node[master[2]].port);
	fflush(stdout);
}

/* Empty every master of the shared cluster and start the nodes on it. */
static void
start_on_shared(struct inboxd *d, const char *text)
{
	const char *why = "";
	char *v;
	int i;

	ck_assert_msg(shared_up, "the Redis Cluster did not start: %s",
	    shared_why);
	for (i = 0; i < RCLUSTER_NODES; i++) {
		/* A replica refuses: its master's FLUSHALL reaches it. */
		if (shared.node[i].pid > 0 && (v = redis_cmd(&shared.node[i],
		    "FLUSHALL", (char *)NULL)) != NULL)
			free(v);
	}
	ck_assert_msg(cluster_start_on(d, text, shared.seeds, &why) == 0,
	    "the nodes did not start on the Redis Cluster: %s", why);
}

int
cluster_skip(const char *test, const char *why)
{
	size_t n = strlen(test);

	if (!cluster_mode())
		return 0;
	/* START_TEST(name) makes a function name_fn. */
	if (n > 3 && strcmp(test + n - 3, "_fn") == 0)
		n -= 3;
	printf("%.*s: skipped in cluster mode: %s\n", (int)n, test, why);
	fflush(stdout);
	return 1;
}

void
start_cluster(struct inboxd *d, const char *conf, int flags)
{
	char text[4096];
	const char *why = "";

	snprintf(text, sizeof(text), "%s%s", FAST, conf);
	ck_assert_msg(cluster_start(d, text, flags, &why) == 0,
	    "the cluster did not start: %s", why);
}

void
start(struct inboxd *d, const char *conf)
{
	char text[4096];

	if (redis_cluster_mode()) {
		snprintf(text, sizeof(text), "%s%s", FAST, conf);
		start_on_shared(d, text);
		return;
	}
	if (cluster_mode()) {
		start_cluster(d, conf, 0);
		return;
	}
	snprintf(text, sizeof(text), "%s%s", FAST, conf);
	ck_assert_msg(inboxd_start(d, text) == 0,
	    "inboxd did not start; see %s", d->log);
}

void
start_on(struct inboxd *d, const char *conf, const char *listen)
{
	char text[4096];

	snprintf(text, sizeof(text), "%s%s", FAST, conf);
	ck_assert_msg(inboxd_start_on(d, text, listen) == 0,
	    "inboxd did not start on %s; see %s", listen, d->log);
}

void
stop(struct inboxd *d)
{
	ck_assert_msg(inboxd_stop(d) == 0,
	    "inboxd did not exit with status 0; see %s", d->log);
	inboxd_cleanup(d);
}

int
req(struct inboxd *d, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t len, struct response *r)
{
	return client_request(cluster_next_port(d), method, target, user,
	    password, extra, body, len, r);
}

int
get(struct inboxd *d, const char *user, const char *password,
    const char *target, struct response *r)
{
	return req(d, "GET", target, user, password, NULL, NULL, 0, r);
}

int
send_to(struct inboxd *d, const char *from, const char *password,
    const char *to, const char *type, const void *body, size_t len,
    struct response *r)
{
	char target[1024], extra[512] = "";

	snprintf(target, sizeof(target), "/inbox?to=%s", to);
	if (type != NULL)
		snprintf(extra, sizeof(extra), "Content-Type: %s\r\n", type);
	return req(d, "POST", target, from, password, extra, body, len, r);
}

void
contact(struct inboxd *d, const char *user, const char *password)
{
	ck_assert_int_eq(get(d, user, password, "/inbox?wait=0", NULL), 204);
}

void
assert_error(const struct response *r, int status, const char *code)
{
	const char *type;
	cJSON *j, *e;

	ck_assert_msg(r->status == status, "status %d, expected %d:\n%s%s",
	    r->status, status, r->head, r->body ? r->body : "");
	type = response_header(r, "Content-Type");
	ck_assert_msg(type != NULL &&
	    strncasecmp(type, "application/json", 16) == 0,
	    "error Content-Type is %s", type ? type : "(none)");
	j = cJSON_ParseWithLength(r->body, r->body_len);
	ck_assert_msg(j != NULL, "error body is not JSON: %s", r->body);
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	ck_assert_msg(cJSON_IsString(e) && strcmp(e->valuestring, code) == 0,
	    "error code is not %s: %s", code, r->body);
	cJSON_Delete(j);
}

/* The value of series in a Prometheus text body, or -1. */
static long long
series_value(const char *body, const char *series)
{
	size_t n = strlen(series);
	const char *line;

	for (line = body; line != NULL && *line != '\0';
	    line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (line[0] != '#' && strncmp(line, series, n) == 0 &&
		    line[n] == ' ')
			return strtoll(line + n + 1, NULL, 10);
	}
	return -1;
}

long long
node_metric_from(unsigned port, const char *src, const char *series)
{
	struct response r;
	long long v;
	int status;

	status = client_request_from(port, src, "GET", "/metrics", NULL,
	    NULL, NULL, NULL, 0, &r);
	ck_assert_msg(status == 200, "GET /metrics of port %u from %s: "
	    "status %d", port, src ? src : "127.0.0.1", status);
	v = series_value(r.body, series);
	response_free(&r);
	return v;
}

/*
 * The series a node counts for itself, in cluster mode too: every
 * counter (requests, failures, hashes, and the store's: each node
 * exports its own, include/redis.h) and the client addresses.  Every
 * other series comes from the store, and the Redis store gives the
 * cluster's figures, the same on every node, but for the other nodes'
 * held GETs, which a node learns from their heartbeats (a second late at
 * most).  Inboxes expired are the cluster's too: those made less those
 * that live.
 */
static int
node_local(const char *series)
{
	const char *brace = strchr(series, '{');
	size_t n = brace != NULL ? (size_t)(brace - series) : strlen(series);

	if (strncmp(series, "inboxd_inboxes_expired_total", n) == 0 &&
	    n == strlen("inboxd_inboxes_expired_total"))
		return 0;
	return (n > 6 && strncmp(series + n - 6, "_total", 6) == 0) ||
	    strcmp(series, "inboxd_tracked_addresses") == 0;
}

/*
 * Does the series come from a node's walk over every key in Redis
 * (include/redis.h), so that it may lag what was just done?
 */
static int
walk_gauge(const char *series)
{
	static const char *const walked[] = { "inboxd_inboxes",
		"inboxd_messages_queued", "inboxd_queued_bytes",
		"inboxd_memory_bytes", "inboxd_inboxes_expired_total",
		"inboxd_pins", "inboxd_rooms", "inboxd_room_members",
		"inboxd_room_invitations" };
	size_t i;

	for (i = 0; i < sizeof(walked) / sizeof(walked[0]); i++)
		if (strcmp(series, walked[i]) == 0)
			return 1;
	return 0;
}

/* How long a node may take for two walks over every inbox. */
#define WALK_MS 5000

/* Wait until every live node has made two walks since now. */
static void
wait_walks(struct inboxd *d, const char *src)
{
	long long seen[CLUSTER_NODES];
	long deadline = client_now_ms() + WALK_MS;
	int i;

	for (i = 0; i < CLUSTER_NODES; i++)
		seen[i] = d->cluster->node[i].pid > 0 ?
		    node_metric_from(d->cluster->node[i].port, src,
		    "inboxd_gauge_walks_total") : -1;
	for (i = 0; i < CLUSTER_NODES; i++) {
		while (seen[i] != -1 && node_metric_from(
		    d->cluster->node[i].port, src, "inboxd_gauge_walks_total") <
		    seen[i] + 2) {
			ck_assert_msg(client_now_ms() < deadline, "node %d made "
			    "no walk over the inboxes in %d ms", i, WALK_MS);
			sleep_ms(20);
		}
	}
}

/* How long the nodes may disagree on a series of the cluster's. */
#define AGREE_MS 3000

long long
metric_from(struct inboxd *d, const char *src, const char *series)
{
	long long v[CLUSTER_NODES], sum = -1;
	long deadline = client_now_ms() + AGREE_MS;
	int i, agree;

	if (d->cluster == NULL)
		return node_metric_from(d->port, src, series);
	if (node_local(series)) {
		/* The nodes' own counts add up. */
		for (i = 0; i < CLUSTER_NODES; i++) {
			if (d->cluster->node[i].pid <= 0)
				continue; /* a node the test killed */
			v[0] = node_metric_from(d->cluster->node[i].port, src,
			    series);
			if (v[0] != -1)
				sum = sum == -1 ? v[0] : sum + v[0];
		}
		return sum;
	}
	/* The cluster's: once every live node says the same. */
	if (walk_gauge(series))
		wait_walks(d, src);
	for (;;) {
		int first = -1;

		for (i = 0, agree = 1; i < CLUSTER_NODES; i++) {
			if (d->cluster->node[i].pid <= 0)
				continue;
			v[i] = node_metric_from(d->cluster->node[i].port, src,
			    series);
			if (first == -1)
				first = i;
			agree &= v[i] == v[first];
		}
		ck_assert_msg(first != -1, "no node runs");
		sum = v[first];
		if (agree || client_now_ms() >= deadline)
			break;
		sleep_ms(20);
	}
	ck_assert_msg(agree, "the nodes disagree on %s for %d ms: %lld and "
	    "%lld", series, AGREE_MS, v[0], v[1]);
	return sum;
}

long long
metric(struct inboxd *d, const char *series)
{
	return metric_from(d, NULL, series);
}

void
wait_metric(struct inboxd *d, const char *series, long long value,
    int timeout_ms)
{
	long deadline = client_now_ms() + timeout_ms;
	long long v;

	while ((v = metric(d, series)) != value &&
	    client_now_ms() < deadline)
		sleep_ms(5);
	ck_assert_msg(v == value, "%s is %lld after %d ms, expected %lld",
	    series, v, timeout_ms, value);
}

TCase *
tcase(Suite *s, const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	if (redis_cluster_mode())
		tcase_add_unchecked_fixture(tc, shared_setup, NULL);
	suite_add_tcase(s, tc);
	return tc;
}

void
sleep_until(long at)
{
	long left;

	while ((left = at - client_now_ms()) > 0)
		sleep_ms(left);
}

int
has_token(const char *list, const char *token)
{
	size_t n = strlen(token);
	const char *p = list;

	if (list == NULL)
		return 0;
	while (*p != '\0') {
		const char *end;
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == n && strncasecmp(p, token, n) == 0)
			return 1;
		p = end;
	}
	return 0;
}

void
assert_cors(const struct response *r)
{
	const char *v;

	v = response_header(r, "Access-Control-Allow-Origin");
	ck_assert_msg(v != NULL && strcmp(v, "*") == 0,
	    "Access-Control-Allow-Origin is not `*' in:\n%s", r->head);
	v = response_header(r, "Access-Control-Expose-Headers");
	ck_assert_msg(v != NULL, "no Access-Control-Expose-Headers in:\n%s",
	    r->head);
	ck_assert_msg(has_token(v, "X-To"), "X-To is not exposed: %s", v);
	ck_assert(has_token(v, "X-From"));
	ck_assert(has_token(v, "X-Message-Id"));
	ck_assert(has_token(v, "Retry-After"));
}

void
assert_error_full(const struct response *r, int status, const char *code)
{
	cJSON *j, *m;

	assert_error(r, status, code);
	j = cJSON_ParseWithLength(r->body, r->body_len);
	m = cJSON_GetObjectItemCaseSensitive(j, "message");
	ck_assert_msg(cJSON_IsString(m) && m->valuestring[0] != '\0',
	    "error body has no message: %s", r->body);
	cJSON_Delete(j);
	assert_cors(r);
}

long
retry_after(const struct response *r)
{
	const char *v = response_header(r, "Retry-After");
	char *end;
	long n;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	n = strtol(v, &end, 10);
	return *end == '\0' ? n : -1;
}

/* ---------------------------------------------------- Redis Cluster */

/* How long redis_cluster_start may take in all. */
#define RCLUSTER_START_MS 30000

/* A port for node i, nothing listens on now and no other node has: 0
 * when the kernel gives none. */
static unsigned
rcluster_port(const struct redis_cluster *c, int i)
{
	int tries, j, taken;

	for (tries = 0; tries < 100; tries++) {
		unsigned p = free_loopback_port();

		if (p == 0)
			return 0;
		for (j = 0, taken = 0; j < RCLUSTER_NODES; j++)
			taken |= (j != i && c->node[j].port == p) ||
			    c->bus[j] == p || c->node[i].port == p;
		if (!taken)
			return p;
	}
	return 0;
}

/* Fork and exec redis-server for node i in cluster mode: 0, or -1. */
static int
rcluster_spawn(struct redis_cluster *c, int i)
{
	struct redis *r = &c->node[i];
	const char *bin = getenv("REDIS_SERVER");
	char port[16], bus[16], timeout[16], out[300];
	const char *argv[48];
	pid_t parent = getpid();
	int n = 0;

	if (bin == NULL || *bin == '\0')
		bin = "redis-server";
	snprintf(port, sizeof(port), "%u", r->port);
	snprintf(bus, sizeof(bus), "%u", c->bus[i]);
	snprintf(timeout, sizeof(timeout), "%d", RCLUSTER_NODE_TIMEOUT);
	argv[n++] = "redis-server";
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--cluster-enabled";
	argv[n++] = "yes";
	argv[n++] = "--cluster-config-file";
	argv[n++] = "nodes.conf";
	argv[n++] = "--cluster-port";
	argv[n++] = bus;
	argv[n++] = "--cluster-node-timeout";
	argv[n++] = timeout;
	/* However stale its copy, a replica takes over: tests kill masters
	 * soon after writing. */
	argv[n++] = "--cluster-replica-validity-factor";
	argv[n++] = "0";
	/* A replica's first copy at once, not after the 5 s Redis waits by
	 * default for more replicas to share it. */
	argv[n++] = "--repl-diskless-sync";
	argv[n++] = "yes";
	argv[n++] = "--repl-diskless-sync-delay";
	argv[n++] = "0";
	argv[n++] = "--dir";
	argv[n++] = r->dir;
	argv[n++] = "--logfile";
	argv[n++] = r->log;
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/redis.out", r->dir);
	if ((r->pid = fork()) == -1) {
		r->pid = 0;
		return -1;
	}
	if (r->pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execvp(bin, (char *const *)argv);
		dprintf(fd, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	return 0;
}

/* Wait until node i answers PING, by deadline: 0, or -1 when it exited
 * (a port taken meanwhile) or hung (then it is killed). */
static int
rcluster_ready(struct redis_cluster *c, int i, long deadline)
{
	struct redis *r = &c->node[i];

	while (client_now_ms() < deadline) {
		char *pong;
		int status, ok;

		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			r->pid = 0;
			return -1;
		}
		if ((pong = redis_cmd(r, "PING", (char *)NULL)) != NULL) {
			ok = strcmp(pong, "+PONG") == 0;
			free(pong);
			if (ok)
				return 0;
		}
		sleep_ms(10);
	}
	redis_kill(r, SIGKILL);
	return -1;
}

/* Start node i on fresh ports, again on others if they were taken
 * meanwhile: 0, or -1 with why filled. */
static int
rcluster_node_start(struct redis_cluster *c, int i, long deadline,
    char *why, size_t len)
{
	struct redis *r = &c->node[i];
	int attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		r->port = c->bus[i] = 0;
		if ((r->port = rcluster_port(c, i)) == 0 ||
		    (c->bus[i] = rcluster_port(c, i)) == 0) {
			snprintf(why, len, "no free loopback port");
			return -1;
		}
		snprintf(r->dir, sizeof(r->dir), "%s/%u", c->dir, r->port);
		snprintf(r->log, sizeof(r->log), "%s/redis.log", r->dir);
		snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%u",
		    r->port);
		if (mkdir(r->dir, 0700) == -1 || rcluster_spawn(c, i) == -1) {
			snprintf(why, len, "cannot start redis-server in %s: "
			    "%s", r->dir, strerror(errno));
			return -1;
		}
		if (rcluster_ready(c, i, deadline) == 0)
			return 0;
		if (client_now_ms() >= deadline)
			break;
		redis_cleanup(r); /* a port was taken: its log goes too */
	}
	snprintf(why, len, "redis-server in cluster mode did not start "
	    "(install the Debian package redis-server, or set REDIS_SERVER); "
	    "see %s and %s/redis.out", r->log, r->dir);
	return -1;
}

/* Run $REDIS_CLI --cluster create over every node, its output to
 * c->cli_log, by deadline: 0, or -1 with why filled. */
static int
rcluster_create(struct redis_cluster *c, long deadline, char *why,
    size_t len)
{
	const char *bin = getenv("REDIS_CLI");
	char addr[RCLUSTER_NODES][32];
	const char *argv[RCLUSTER_NODES + 8];
	pid_t pid, parent = getpid();
	int n = 0, i, status;

	if (bin == NULL || *bin == '\0')
		bin = "redis-cli";
	argv[n++] = "redis-cli";
	argv[n++] = "--cluster";
	argv[n++] = "create";
	for (i = 0; i < RCLUSTER_NODES; i++) {
		snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%u",
		    c->node[i].port);
		argv[n++] = addr[i];
	}
	argv[n++] = "--cluster-replicas";
	argv[n++] = "1";
	argv[n++] = "--cluster-yes";
	argv[n] = NULL;
	if ((pid = fork()) == -1) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open(c->cli_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(null, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execvp(bin, (char *const *)argv);
		dprintf(fd, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (client_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, len, "redis-cli --cluster create did not "
			    "finish in time; see %s", c->cli_log);
			return -1;
		}
		sleep_ms(20);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, len, "redis-cli --cluster create failed "
		    "(install the Debian package redis-tools, or set "
		    "REDIS_CLI); see %s", c->cli_log);
		return -1;
	}
	return 0;
}

/* One line of CLUSTER NODES. */
struct rcluster_entry {
	char id[41];
	char master_id[41]; /* "-" for a master */
	unsigned port;
	int myself, master, failing;
	int nranges;
	unsigned lo[16], hi[16]; /* the slots it serves */
};

/* Parse the text of CLUSTER NODES into e[] (at most max entries): their
 * number, or -1 when a line does not parse. */
static int
rcluster_parse_nodes(char *text, struct rcluster_entry *e, int max)
{
	char *line, *save_line = NULL;
	int n = 0;

	for (line = strtok_r(text, "\r\n", &save_line); line != NULL;
	    line = strtok_r(NULL, "\r\n", &save_line)) {
		char *tok[8 + 32], *save = NULL, *p, *flag, *save_flag = NULL;
		int k = 0, j;

		if (n == max)
			return -1;
		memset(&e[n], 0, sizeof(e[n]));
		for (p = strtok_r(line, " ", &save); p != NULL && k < 40;
		    p = strtok_r(NULL, " ", &save))
			tok[k++] = p;
		if (k < 8 || strlen(tok[0]) != 40 || strlen(tok[3]) > 40)
			return -1;
		strcpy(e[n].id, tok[0]);
		strcpy(e[n].master_id, tok[3]);
		/* ip:port@cport[,hostname] */
		if ((p = strchr(tok[1], '@')) != NULL)
			*p = '\0';
		if ((p = strrchr(tok[1], ':')) == NULL)
			return -1;
		e[n].port = (unsigned)strtoul(p + 1, NULL, 10);
		for (flag = strtok_r(tok[2], ",", &save_flag); flag != NULL;
		    flag = strtok_r(NULL, ",", &save_flag)) {
			if (strcmp(flag, "myself") == 0)
				e[n].myself = 1;
			else if (strcmp(flag, "master") == 0)
				e[n].master = 1;
			else if (strcmp(flag, "fail") == 0 ||
			    strcmp(flag, "fail?") == 0 ||
			    strcmp(flag, "handshake") == 0 ||
			    strcmp(flag, "noaddr") == 0)
				e[n].failing = 1;
		}
		for (j = 8; j < k && e[n].nranges < 16; j++) {
			char *dash;

			if (tok[j][0] == '[')
				continue; /* a slot migrating or importing */
			e[n].lo[e[n].nranges] = (unsigned)strtoul(tok[j], &dash,
			    10);
			e[n].hi[e[n].nranges] = *dash == '-' ?
			    (unsigned)strtoul(dash + 1, NULL, 10) :
			    e[n].lo[e[n].nranges];
			e[n].nranges++;
		}
		n++;
	}
	return n;
}

/* CLUSTER NODES as node i sees it, into e[RCLUSTER_NODES + 2]: the number
 * of entries, or -1 with why filled. */
static int
rcluster_nodes(struct redis_cluster *c, int i, struct rcluster_entry *e,
    char *why, size_t len)
{
	char *text = redis_cmd(&c->node[i], "CLUSTER", "NODES", (char *)NULL);
	int n;

	if (text == NULL || text[0] == '-') {
		snprintf(why, len, "CLUSTER NODES on port %u: %s",
		    c->node[i].port, text ? text : "no answer");
		free(text);
		return -1;
	}
	n = rcluster_parse_nodes(text, e, RCLUSTER_NODES + 2);
	free(text);
	if (n == -1)
		snprintf(why, len, "CLUSTER NODES on port %u does not parse",
		    c->node[i].port);
	return n;
}

/* The index in node[] of the node on port, or -1. */
static int
rcluster_index(const struct redis_cluster *c, unsigned port)
{
	int i;

	for (i = 0; i < RCLUSTER_NODES; i++)
		if (c->node[i].port == port)
			return i;
	return -1;
}

/* The field of node i's CLUSTER INFO (or INFO section when section is not
 * NULL) into out: 0, or -1 with why filled. */
static int
rcluster_info(struct redis_cluster *c, int i, const char *section,
    const char *field, char *out, size_t size, char *why, size_t len)
{
	char *text = section != NULL ?
	    redis_cmd(&c->node[i], "INFO", section, (char *)NULL) :
	    redis_cmd(&c->node[i], "CLUSTER", "INFO", (char *)NULL);
	int ret = 0;

	if (text == NULL || redis_slot_info_field(text, strlen(text), field,
	    out, size) == -1) {
		snprintf(why, len, "%s on port %u has no %s",
		    section ? "INFO" : "CLUSTER INFO", c->node[i].port, field);
		ret = -1;
	}
	free(text);
	return ret;
}

/*
 * Whether the cluster is whole as every running node sees it: 0, or -1
 * with why filled.  The state is ok; every slot is served by a running
 * master flagged neither failing nor in handshake.  When fresh is true
 * (just created), also: every node knows all the others, none failing,
 * each master has one replica, and every replica's link is up.
 */
static int
rcluster_check(struct redis_cluster *c, int fresh, char *why, size_t len)
{
	struct rcluster_entry e[RCLUSTER_NODES + 2];
	char v[64];
	int i, j, k, n;

	for (i = 0; i < RCLUSTER_NODES; i++) {
		unsigned port = c->node[i].port;
		long covered = 0;
		int masters = 0;

		if (c->node[i].pid <= 0)
			continue;
		if (rcluster_info(c, i, NULL, "cluster_state", v, sizeof(v),
		    why, len) == -1)
			return -1;
		if (strcmp(v, "ok") != 0) {
			snprintf(why, len, "port %u says cluster_state:%s",
			    port, v);
			return -1;
		}
		if ((n = rcluster_nodes(c, i, e, why, len)) == -1)
			return -1;
		for (j = 0; j < n; j++) {
			int idx = rcluster_index(c, e[j].port);

			if (fresh && e[j].failing) {
				snprintf(why, len, "port %u sees port %u "
				    "failing or in handshake", port,
				    e[j].port);
				return -1;
			}
			if (!e[j].master || e[j].nranges == 0)
				continue;
			if (e[j].failing || idx == -1 ||
			    c->node[idx].pid <= 0) {
				snprintf(why, len, "port %u sees slots served "
				    "by port %u, %s", port, e[j].port,
				    idx == -1 ? "not a node of ours" :
				    c->node[idx].pid <= 0 ? "killed" :
				    "failing");
				return -1;
			}
			masters++;
			for (k = 0; k < e[j].nranges; k++)
				covered += (long)e[j].hi[k] - e[j].lo[k] + 1;
		}
		if (covered != REDIS_SLOTS) {
			snprintf(why, len, "port %u sees %ld slots served",
			    port, covered);
			return -1;
		}
		if (!fresh)
			continue;
		if (n != RCLUSTER_NODES || masters != RCLUSTER_MASTERS) {
			snprintf(why, len, "port %u knows %d nodes, %d of "
			    "them masters", port, n, masters);
			return -1;
		}
		for (j = 0; j < n; j++) {
			int replicas = 0;

			if (!e[j].master)
				continue;
			for (k = 0; k < n; k++)
				replicas += !e[k].master &&
				    strcmp(e[k].master_id, e[j].id) == 0;
			if (replicas != 1) {
				snprintf(why, len, "port %u sees %d replicas "
				    "of port %u", port, replicas, e[j].port);
				return -1;
			}
		}
		for (j = 0; j < n; j++) {
			if (!e[j].myself || e[j].master)
				continue;
			if (rcluster_info(c, i, "replication",
			    "master_link_status", v, sizeof(v), why,
			    len) == -1)
				return -1;
			if (strcmp(v, "up") != 0) {
				snprintf(why, len, "replica on port %u: "
				    "master_link_status:%s", port, v);
				return -1;
			}
		}
	}
	return 0;
}

/* rcluster_check until it passes or the deadline: 0, or -1 with why
 * filled by the last check. */
static int
rcluster_wait(struct redis_cluster *c, int fresh, long deadline, char *why,
    size_t len)
{
	for (;;) {
		if (rcluster_check(c, fresh, why, len) == 0)
			return 0;
		if (client_now_ms() >= deadline)
			return -1;
		sleep_ms(20);
	}
}

int
redis_cluster_start(struct redis_cluster *c, char *why, size_t len)
{
	long deadline = client_now_ms() + RCLUSTER_START_MS;
	char reason[512];
	size_t used = 0;
	int i;

	memset(c, 0, sizeof(*c));
	strcpy(c->dir, "/tmp/inboxd-rcluster-XXXXXX");
	if (mkdtemp(c->dir) == NULL) {
		snprintf(why, len, "mkdtemp: %s", strerror(errno));
		c->dir[0] = '\0';
		return -1;
	}
	snprintf(c->cli_log, sizeof(c->cli_log), "%s/redis-cli.log", c->dir);
	for (i = 0; i < RCLUSTER_NODES; i++)
		if (rcluster_node_start(c, i, deadline, why, len) == -1)
			goto fail;
	if (rcluster_create(c, deadline, why, len) == -1)
		goto fail;
	if (rcluster_wait(c, 1, deadline, reason, sizeof(reason)) == -1) {
		snprintf(why, len, "the cluster was not ready in %d s: %s",
		    RCLUSTER_START_MS / 1000, reason);
		goto fail;
	}
	for (i = 0; i < RCLUSTER_NODES; i++)
		used += (size_t)snprintf(c->seeds + used,
		    sizeof(c->seeds) - used, "%s%s", i > 0 ? " " : "",
		    c->node[i].url);
	return 0;
fail:
	/* Keep the logs why names. */
	for (i = 0; i < RCLUSTER_NODES; i++)
		if (c->node[i].pid > 0)
			redis_kill(&c->node[i], SIGKILL);
	return -1;
}

void
redis_cluster_stop(struct redis_cluster *c)
{
	int i;

	for (i = 0; i < RCLUSTER_NODES; i++)
		if (c->node[i].dir[0] != '\0' || c->node[i].pid > 0)
			redis_cleanup(&c->node[i]);
	if (c->dir[0] == '\0')
		return;
	unlink(c->cli_log);
	rmdir(c->dir);
	c->dir[0] = '\0';
}

int
redis_cluster_wait_ok(struct redis_cluster *c, int timeout_ms, char *why,
    size_t len)
{
	return rcluster_wait(c, 0, client_now_ms() + timeout_ms, why, len);
}

int
redis_cluster_master_of(struct redis_cluster *c, unsigned slot)
{
	struct rcluster_entry e[RCLUSTER_NODES + 2];
	char why[256];
	int i, j, k, n;

	for (i = 0; i < RCLUSTER_NODES; i++) {
		if (c->node[i].pid <= 0)
			continue;
		if ((n = rcluster_nodes(c, i, e, why, sizeof(why))) == -1)
			return -1;
		for (j = 0; j < n; j++)
			for (k = 0; e[j].master && k < e[j].nranges; k++)
				if (slot >= e[j].lo[k] && slot <= e[j].hi[k])
					return rcluster_index(c, e[j].port);
		return -1;
	}
	return -1;
}

/* The node id of node i (CLUSTER MYID) into id: 0, or -1. */
static int
rcluster_myid(struct redis_cluster *c, int i, char id[41])
{
	char *v = redis_cmd(&c->node[i], "CLUSTER", "MYID", (char *)NULL);
	int ok = v != NULL && strlen(v) == 40;

	if (ok)
		strcpy(id, v);
	free(v);
	return ok ? 0 : -1;
}

/* Does every running node see master `to' serving slot? */
static int
rcluster_all_see(struct redis_cluster *c, unsigned slot, int to)
{
	struct rcluster_entry e[RCLUSTER_NODES + 2];
	char why[256];
	int i, j, k, n, seen;

	for (i = 0; i < RCLUSTER_NODES; i++) {
		if (c->node[i].pid <= 0)
			continue;
		if ((n = rcluster_nodes(c, i, e, why, sizeof(why))) == -1)
			return 0;
		for (j = 0, seen = 0; j < n && !seen; j++)
			for (k = 0; e[j].master && k < e[j].nranges; k++)
				if (slot >= e[j].lo[k] && slot <= e[j].hi[k])
					seen = rcluster_index(c, e[j].port) == to;
		if (!seen)
			return 0;
	}
	return 1;
}

int
redis_cluster_move_slot(struct redis_cluster *c, unsigned slot, int to,
    char *why, size_t len)
{
	static const char *const steps[][2] = {
		{ "to", "IMPORTING" }, { "from", "MIGRATING" },
		{ "to", "NODE" }, { "from", "NODE" },
	};
	char id_from[41], id_to[41], s[16], *v;
	int from = redis_cluster_master_of(c, slot), k;
	long deadline = client_now_ms() + 10000;

	if (from == to)
		return 0;
	if (from < 0 || to < 0 || to >= RCLUSTER_NODES ||
	    c->node[to].pid <= 0 || rcluster_myid(c, from, id_from) == -1 ||
	    rcluster_myid(c, to, id_to) == -1) {
		snprintf(why, len, "slot %u: no master, or node %d is none",
		    slot, to);
		return -1;
	}
	snprintf(s, sizeof(s), "%u", slot);
	for (k = 0; k < 4; k++) {
		int on = steps[k][0][0] == 't' ? to : from;
		const char *arg = k == 0 ? id_from : id_to;

		v = redis_cmd(&c->node[on], "CLUSTER", "SETSLOT", s,
		    steps[k][1], arg, (char *)NULL);
		if (v == NULL || v[0] == '-') {
			snprintf(why, len, "CLUSTER SETSLOT %s %s on port %u: %s",
			    s, steps[k][1], c->node[on].port, v ? v : "no answer");
			free(v);
			return -1;
		}
		free(v);
	}
	while (!rcluster_all_see(c, slot, to)) {
		if (client_now_ms() >= deadline) {
			snprintf(why, len, "slot %u: not every node sees port %u "
			    "serve it after 10 s", slot, c->node[to].port);
			return -1;
		}
		sleep_ms(20);
	}
	return redis_cluster_wait_ok(c, 10000, why, len);
}

int
redis_cluster_replica_of(struct redis_cluster *c, int master)
{
	struct rcluster_entry e[RCLUSTER_NODES + 2];
	char why[256], id[41];
	int i, j, n;

	if (master < 0 || master >= RCLUSTER_NODES ||
	    rcluster_myid(c, master, id) == -1)
		return -1;
	for (i = 0; i < RCLUSTER_NODES; i++) {
		if (c->node[i].pid <= 0)
			continue;
		if ((n = rcluster_nodes(c, i, e, why, sizeof(why))) == -1)
			return -1;
		for (j = 0; j < n; j++)
			if (strcmp(e[j].master_id, id) == 0 && !e[j].failing)
				return rcluster_index(c, e[j].port);
		return -1;
	}
	return -1;
}

int
redis_cluster_restart_node(struct redis_cluster *c, int i, char *why,
    size_t len)
{
	if (c->node[i].pid > 0 || rcluster_spawn(c, i) == -1 ||
	    rcluster_ready(c, i, client_now_ms() + 10000) == -1) {
		snprintf(why, len, "redis-server on port %u did not start "
		    "again; see %s", c->node[i].port, c->node[i].log);
		return -1;
	}
	return 0;
}

int
redis_cluster_fail_master(struct redis_cluster *c, unsigned slot,
    int timeout_ms, char *why, size_t len)
{
	int old = redis_cluster_master_of(c, slot), now;

	if (old == -1) {
		snprintf(why, len, "no running node serves slot %u", slot);
		return -1;
	}
	redis_kill(&c->node[old], SIGKILL);
	if (redis_cluster_wait_ok(c, timeout_ms, why, len) == -1)
		return -1;
	if ((now = redis_cluster_master_of(c, slot)) == -1 || now == old) {
		snprintf(why, len, "slot %u has no new master", slot);
		return -1;
	}
	return now;
}

int
process_sockets(pid_t pid)
{
	char path[64], link[128], target[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	ck_assert_msg((dir = opendir(path)) != NULL, "%s: %s", path,
	    strerror(errno));
	while ((e = readdir(dir)) != NULL) {
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%.16s", path, e->d_name);
		k = readlink(link, target, sizeof(target) - 1);
		if (k > 0 && (target[k] = '\0', strncmp(target, "socket:", 7) ==
		    0))
			n++;
	}
	closedir(dir);
	return n;
}
