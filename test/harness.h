/*
 * harness.h - Check-aware helpers shared by the integration suites: start
 * and stop the real inboxd, one request on a fresh connection, the
 * assertions every suite makes, and a private Redis Cluster.  A helper
 * that asserts fails the running test with ck_assert.
 */
#ifndef INBOXD_TEST_HARNESS_H
#define INBOXD_TEST_HARNESS_H

#include <check.h>
#include <stddef.h>

#include "client.h"

/* Every test configuration starts with this: cheap first contacts. */
#define FAST "argon2-memory-kib 64\nargon2-time-cost 1\n"

/* Byte counts, as long so that products of them do not overflow int. */
#define KIB 1024L
#define MIB (1024L * 1024L)

/* Sleep for ms milliseconds. */
void sleep_ms(long ms);

/*
 * Start inboxd with FAST and then conf, and fail the test if it does not
 * come up.  In cluster mode (INBOXD_CLUSTER=1 in the environment), start
 * a private redis-server and two nodes on it instead, as start_cluster
 * does: then req(), get(), send_to() and contact() go to the nodes in
 * turn, request by request; d->port is the node the last of them went
 * to, so a raw request on d->port (client_send) followed by req() spans
 * both nodes; metric() reads a series of the cluster (see metric_from).
 */
void start(struct inboxd *d, const char *conf);

/* True when the suite runs in cluster mode (INBOXD_CLUSTER=1, or
 * INBOXD_CLUSTER=redis-cluster). */
int cluster_mode(void);

/*
 * True when the nodes run on a Redis Cluster (INBOXD_CLUSTER=
 * redis-cluster): a cluster of RCLUSTER_MASTERS masters (below) for the
 * whole suite, which every start() empties; alice, bob and carol each
 * have a master of their own (a slot moved, if need be).
 */
int redis_cluster_mode(void);

/*
 * In cluster mode, say on standard output that test (or a check of it)
 * is skipped and why, and return true; else return false.  For the few
 * checks of one process as such.
 */
int cluster_skip(const char *test, const char *why);

/* Start a cluster whatever the environment: Redis with flags (see
 * cluster_start) and two nodes with FAST and conf; fails the test if it
 * does not come up. */
void start_cluster(struct inboxd *d, const char *conf, int flags);

/* start, listening on listen (ADDRESS:PORT or unix:/PATH). */
void start_on(struct inboxd *d, const char *conf, const char *listen);

/* SIGTERM, and the daemon must exit 0 (it did not crash meanwhile). */
void stop(struct inboxd *d);

/* One request on a fresh connection from 127.0.0.1, as client_request
 * does (in cluster mode, to the next node): the status, or -1. */
int req(struct inboxd *d, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t len, struct response *r);

/* GET target as user: the status, or -1. */
int get(struct inboxd *d, const char *user, const char *password,
    const char *target, struct response *r);

/* POST body from `from' to `to' (already percent-encoded), with
 * Content-Type type when type is not NULL: the status, or -1. */
int send_to(struct inboxd *d, const char *from, const char *password,
    const char *to, const char *type, const void *body, size_t len,
    struct response *r);

/* First contact: creates the inbox (GET wait=0 on an empty one: 204). */
void contact(struct inboxd *d, const char *user, const char *password);

/* r is status with a JSON error body (Content-Type application/json) whose
 * "error" is code. */
void assert_error(const struct response *r, int status, const char *code);

/*
 * The value of one series of GET /metrics, asked from the loopback
 * address src (NULL: 127.0.0.1, see client_connect_from): series is the
 * sample's name with its labels as the daemon writes them, such as
 * inboxd_waiters or inboxd_http_requests_total{code="404"}.  Returns -1
 * when the body has no such sample; fails the test unless /metrics answers
 * 200.  In cluster mode, a node's own count (requests, authentication
 * failures, 429s, Argon2 hashes, tracked addresses) is summed over the
 * nodes; any other series is the cluster's, and its value is read once
 * every node gives the same (they may lag by a heartbeat).
 */
long long metric_from(struct inboxd *d, const char *src, const char *series);

/* metric_from of the one daemon on port, whatever the mode. */
long long node_metric_from(unsigned port, const char *src,
    const char *series);

/* metric_from 127.0.0.1. */
long long metric(struct inboxd *d, const char *series);

/*
 * Poll /metrics until series equals value, for at most timeout_ms, and
 * fail the test if it never does: for what the daemon counts after it has
 * answered (requests, deliveries) or without answering (held GETs).
 */
void wait_metric(struct inboxd *d, const char *series, long long value,
    int timeout_ms);

/* A new test case name with a timeout of timeout seconds, added to s. */
TCase *tcase(Suite *s, const char *name, double timeout);

/* Sleep until the monotonic time at (client_now_ms milliseconds). */
void sleep_until(long at);

/* True when the comma-separated header list holds token, ignoring case. */
int has_token(const char *list, const char *token);

/* The CORS headers every response carries with the default `*'. */
void assert_cors(const struct response *r);

/* assert_error, with a message for a person and the CORS headers. */
void assert_error_full(const struct response *r, int status,
    const char *code);

/* The Retry-After of r in seconds, or -1 when missing or not a number. */
long retry_after(const struct response *r);

/* ---------------------------------------------------- Redis Cluster */

#define RCLUSTER_MASTERS 3
#define RCLUSTER_NODES 6        /* each master with one replica */
#define RCLUSTER_NODE_TIMEOUT 1000 /* cluster-node-timeout, ms */

/*
 * A private Redis Cluster on loopback (SPEC section 8): RCLUSTER_NODES
 * redis-servers in cluster mode, each in dir/PORT with nothing saved to
 * disk, made into RCLUSTER_MASTERS shards by redis-cli --cluster create.
 * node[i] is a struct redis (client.h) for redis_cmd and redis_kill: its
 * port, pid (0 once killed) and directory; its cluster bus listens on
 * bus[i].
 */
struct redis_cluster {
	char dir[256];                    /* temporary directory of all */
	char cli_log[300];                /* redis-cli's output */
	struct redis node[RCLUSTER_NODES];
	unsigned bus[RCLUSTER_NODES];
	/* "redis://127.0.0.1:P1 redis://127.0.0.1:P2 ...", every node: a
	 * redis-url of several seeds. */
	char seeds[RCLUSTER_NODES * 32];
};

/*
 * Start the cluster: the nodes on free loopback ports (cluster-node-timeout
 * RCLUSTER_NODE_TIMEOUT, replicas that always may take over), then
 * $REDIS_CLI (default redis-cli) --cluster create with one replica per
 * master, then wait until every node says cluster_state:ok, knows all
 * the others with none failing, and every replica's link to its master
 * is up.  Everything is bounded (about 30 s in all).  Returns 0, or -1
 * with why filled and whatever started stopped (the directory is kept
 * for the logs why points at).
 */
int redis_cluster_start(struct redis_cluster *c, char *why, size_t len);

/* Kill every node still running (SIGKILL) and remove the directory. */
void redis_cluster_stop(struct redis_cluster *c);

/*
 * Wait up to timeout_ms until every running node says cluster_state:ok
 * and sees a running master, no failing flag on it, for every slot (a
 * killed node may still be listed as failed).  Returns 0, or -1 with why
 * filled.
 */
int redis_cluster_wait_ok(struct redis_cluster *c, int timeout_ms,
    char *why, size_t len);

/*
 * Move slot, which must hold no key, to the master node[to] (CLUSTER
 * SETSLOT IMPORTING, MIGRATING, then NODE on both) and wait up to 10 s
 * until every running node sees it there.  Returns 0, or -1 with why.
 */
int redis_cluster_move_slot(struct redis_cluster *c, unsigned slot, int to,
    char *why, size_t len);

/* The index in node[] of the master of slot, as the first running node
 * sees it, or -1. */
int redis_cluster_master_of(struct redis_cluster *c, unsigned slot);

/* The index in node[] of a replica of the master node[master], as the
 * first running node sees it, or -1. */
int redis_cluster_replica_of(struct redis_cluster *c, int master);

/*
 * Start node[i] again after it was killed, on its port and with its
 * cluster configuration file, so that it rejoins the cluster (a master
 * that was replaced comes back as a replica of the new one).  Returns 0
 * once it answers PING, or -1 with why filled.
 */
int redis_cluster_restart_node(struct redis_cluster *c, int i, char *why,
    size_t len);

/*
 * Kill the master of slot with SIGKILL and wait up to timeout_ms until
 * a replica has taken over its slots on every running node's view and
 * the cluster is ok again (redis_cluster_wait_ok).  Returns the index in
 * node[] of the new master, or -1 with why filled.
 */
int redis_cluster_fail_master(struct redis_cluster *c, unsigned slot,
    int timeout_ms, char *why, size_t len);

/* The sockets process pid has open (from /proc): its listening one,
 * connections, and for a node its Redis links. */
int process_sockets(pid_t pid);

#endif
