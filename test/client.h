/*
 * client.h - what the integration tests need: start the real inboxd on an
 * ephemeral loopback port, and speak HTTP/1.1 to it over plain sockets
 * (so a test can also hang up, stall or send garbage on purpose).
 */
#ifndef INBOXD_TEST_CLIENT_H
#define INBOXD_TEST_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

struct cluster;

struct inboxd {
	pid_t pid;
	unsigned port;
	char dir[256];  /* temporary directory with inboxd.conf and log */
	char conf[300]; /* path of the configuration file */
	char log[300];  /* path of inboxd's standard error */
	/*
	 * Cluster mode (see cluster_start): the nodes and their Redis, or
	 * NULL for one daemon.  Then pid, dir, conf and log are node 0's,
	 * port is the node the last request went to, and inboxd_stop,
	 * inboxd_kill, inboxd_signal, inboxd_wait, inboxd_log_contains,
	 * inboxd_log_line, inboxd_rss_kib and inboxd_cleanup act on every
	 * node (inboxd_cleanup stops Redis too).
	 */
	struct cluster *cluster;
};

/*
 * Write conf (keyword lines, may be "") to a fresh temporary directory and
 * start $INBOXD (default ./inboxd) with -d -f CONF -l 127.0.0.1:0; wait
 * until it logs its port.  Returns 0, or -1 if it did not come up in 10 s.
 */
int inboxd_start(struct inboxd *d, const char *conf);

/*
 * inboxd_start with -l listen in place of 127.0.0.1:0: an ADDRESS:PORT,
 * or unix:/PATH (then d->port stays 0).
 */
int inboxd_start_on(struct inboxd *d, const char *conf, const char *listen);

/* Send SIGTERM and wait; returns the exit status (or -1 on a signal). */
int inboxd_stop(struct inboxd *d);

/* Send sig and reap; for crashes the test wants to see. */
int inboxd_kill(struct inboxd *d, int sig);

/* True when the log contains needle. */
int inboxd_log_contains(const struct inboxd *d, const char *needle);

/* Send sig to the daemon without waiting for it. */
void inboxd_signal(struct inboxd *d, int sig);

/*
 * Wait up to timeout_ms for the daemon to exit and reap it.  Returns its
 * exit status, -1 if a signal ended it, or -2 if it is still running.
 */
int inboxd_wait(struct inboxd *d, int timeout_ms);

/* Remove the temporary directory made by inboxd_start (after a stop). */
void inboxd_cleanup(struct inboxd *d);

/* Milliseconds of CLOCK_MONOTONIC, for timing assertions. */
long client_now_ms(void);

struct response {
	int status;
	char head[16384]; /* status line and headers, NUL-terminated */
	char *body;       /* malloc'd, NUL-terminated for convenience */
	size_t body_len;
};

/* A connected TCP socket to 127.0.0.1:port, or -1. */
int client_connect(unsigned port);

/* Write all len bytes; returns 0 or -1. */
int client_write(int fd, const void *buf, size_t len);

/*
 * Read one response from fd within timeout_ms.  Returns 0, or -1 on
 * timeout, a closed connection or a malformed response.  Free with
 * response_free.
 */
int client_read(int fd, struct response *r, int timeout_ms);

/*
 * A TCP socket to 127.0.0.1:port whose receive buffer is set to rcvbuf
 * bytes before connecting (so the advertised window stays small), or -1.
 */
int client_connect_rcvbuf(unsigned port, int rcvbuf);

/*
 * Read only the status line and headers of a response within timeout_ms,
 * leaving the body unread on fd.  Returns 0 or -1; r->body stays NULL.
 */
int client_read_head(int fd, struct response *r, int timeout_ms);

/* Close fd with an RST (SO_LINGER of zero) instead of a FIN. */
void client_abort(int fd);

/*
 * Open a connection and send one request built as client_build does,
 * without reading the answer.  Returns the socket, or -1.
 */
int client_send(unsigned port, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t body_len);

/* True when fd has nothing to read for timeout_ms (the request is held). */
int client_quiet(int fd, int timeout_ms);

void response_free(struct response *r);

/* The value of header name in r (case-insensitive), copied to a static
 * buffer, or NULL. */
const char *response_header(const struct response *r, const char *name);

/*
 * Build a request: method and target ("/inbox?to=bob"), Basic credentials
 * when user is not NULL, extra header lines ("X-A: b\r\n") when not NULL,
 * and a body with Content-Length when body is not NULL.  Returns the raw
 * request (malloc'd) and its length in *len.
 */
char *client_build(const char *method, const char *target, const char *user,
    const char *password, const char *extra, const void *body,
    size_t body_len, size_t *len);

/*
 * One request on a fresh connection, answered within 10 s (plus wait).
 * Returns the status, or -1; the response is stored in *r if r is not
 * NULL (free it with response_free).
 */
int client_request(unsigned port, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t body_len, struct response *r);

/* Base64 (RFC 4648) of len bytes into out (4 * ((len + 2) / 3) + 1). */
void base64(const void *in, size_t len, char *out);

/* Read a whole file into a malloc'd buffer; *len gets its size. */
char *read_file(const char *path, size_t *len);

/*
 * A TCP socket to 127.0.0.1:port whose own end is bound to the loopback
 * address src (such as "127.0.0.2": Linux routes all of 127.0.0.0/8 to lo)
 * before connecting, so the daemon sees a second client address; or -1.
 */
int client_connect_from(unsigned port, const char *src);

/* client_request from the loopback address src (see client_connect_from). */
int client_request_from(unsigned port, const char *src, const char *method,
    const char *target, const char *user, const char *password,
    const char *extra, const void *body, size_t body_len, struct response *r);

/*
 * Wait up to timeout_ms for the peer to close fd (end of file or a reset),
 * reading whatever arrives first; up to len - 1 of those bytes are copied
 * to buf (may be NULL) and NUL-terminated.  Returns the number of bytes
 * that arrived before the close, or -1 when fd was still open at the
 * deadline.
 */
long client_wait_close(int fd, int timeout_ms, char *buf, size_t len);

/*
 * Wait up to timeout_ms for a line of the daemon's log that contains
 * needle.  Returns that line (malloc'd, without its newline), or NULL.
 */
char *inboxd_log_line(const struct inboxd *d, const char *needle,
    int timeout_ms);

/* The resident set size of the daemon (VmRSS) in KiB, or -1. */
long inboxd_rss_kib(const struct inboxd *d);

/* ------------------------------------------------------------ Redis */

/*
 * A private redis-server (SPEC section 8) in a temporary directory of its
 * own, on 127.0.0.1 or on a Unix socket in that directory, started with
 * nothing saved to disk unless persist asks for an append-only file.
 */
struct redis {
	pid_t pid;
	unsigned port;   /* TCP port on 127.0.0.1, or 0 on the socket */
	int persist;     /* appendonly yes (fsync always) in dir */
	char dir[256];   /* temporary directory: log, socket, AOF */
	char sock[300];  /* the Unix socket, or "" on TCP */
	char log[300];   /* redis-server's log file */
	char url[320];   /* the redis-url that names it */
};

/*
 * Start $REDIS_SERVER (default redis-server from the PATH) in a fresh
 * temporary directory: on a free loopback port, or on a Unix socket
 * when unix_socket is true; with an append-only file (fsync always) when
 * persist is true, else with no persistence at all.  Returns 0 once it
 * answers PING, or -1 (r->log says why).
 */
int redis_start(struct redis *r, int unix_socket, int persist);

/* Start redis-server again after redis_kill, on the same address and
 * directory (so an append-only file is read back): 0 or -1. */
int redis_restart(struct redis *r);

/* Send sig and reap; returns the exit status, or -1 on a signal. */
int redis_kill(struct redis *r, int sig);

/* Kill redis-server if it runs and remove its directory. */
void redis_cleanup(struct redis *r);

/* A connected socket to r, or -1. */
int redis_connect(const struct redis *r);

/* A loopback TCP port nothing listens on now (the kernel's pick, so it
 * may be taken by the time it is bound), or 0. */
unsigned free_loopback_port(void);

/*
 * One command, its arguments as strings ending with NULL, on a fresh
 * connection, answered within 5 s.  Returns the reply as malloc'd text:
 * a bulk string as its bytes ("(nil)" for a null one), a status as
 * "+TEXT", an error as "-TEXT", an integer as ":N", an array as its
 * elements one per line; NULL when Redis does not answer.
 */
char *redis_cmd(const struct redis *r, const char *arg, ...);

/* ---------------------------------------------------------- cluster */

#define CLUSTER_NODES 2

/* Flags of cluster_start. */
#define CLUSTER_REDIS_UNIX 1    /* Redis on a Unix socket (unix:/PATH) */
#define CLUSTER_REDIS_PERSIST 2 /* Redis with an append-only file */

struct cluster {
	struct redis redis;
	struct inboxd node[CLUSTER_NODES];
	unsigned next; /* the node the next request goes to */
};

/*
 * Cluster mode (SPEC section 8): start a private Redis (flags above) and
 * CLUSTER_NODES inboxd nodes on it, each with conf and then `store
 * redis', its redis-url and node-id node-1, node-2...  d describes node
 * 0 and holds the cluster (see struct inboxd).  Returns 0, or -1 with
 * whatever started stopped again; *why says what failed.
 */
int cluster_start(struct inboxd *d, const char *conf, int flags,
    const char **why);

/*
 * cluster_start on a Redis (or Redis Cluster) that runs already: the
 * nodes' redis-url is url, and inboxd_cleanup leaves it running.
 */
int cluster_start_on(struct inboxd *d, const char *conf, const char *url,
    const char **why);

/*
 * Start node again (after inboxd_kill) with the configuration it had, in
 * a fresh directory, on a new port.  Returns 0, or -1 (its log says why).
 */
int cluster_restart_node(struct inboxd *d, int node);

/* The port of the node the next request goes to, which it moves on
 * to the other node; d->port becomes that port.  For one daemon, its
 * port. */
unsigned cluster_next_port(struct inboxd *d);

#endif
