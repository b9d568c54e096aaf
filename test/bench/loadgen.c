/*
 * loadgen.c - the load generator of `make bench': one thread, one epoll
 * set, any number of keep-alive HTTP/1.1 connections to 127.0.0.1.
 *
 *   loadgen hold  -p PORT -P PID -n N [-s SAMPLES] [-t inbox|nchan]
 *	hold N long polls on N inboxes (or Nchan channels), report the
 *	server's memory per held poll, then the latency from a POST to the
 *	response of the GET it wakes, SAMPLES times, one at a time.
 *   loadgen hangup -p PORT -P PID -n N [-t inbox|nchan]
 *	hold N long polls, half-close them all at once and report how long
 *	each took to be closed by the server.
 *   loadgen rt    -p PORT -c PAIRS -d SECONDS [-t inbox|nchan]
 *	round trips: each pair long-polls, its partner posts, repeat.
 *   loadgen fill  -p PORT (-P PID | -R REDIS_PORT) -n N
 *	memory per idle empty inbox, per queued 190-byte message (one in
 *	each inbox) and per further message (a second in each): the
 *	server's, or with -R that of the Redis the server keeps them in.
 *   loadgen setup -p PORT -n N [-f FMT]
 *	first contact of N inboxes named by FMT (default "u%d").
 *   loadgen send|pop -p PORT -n N
 *	N sends or pops among the 1000 inboxes of setup, for profiling.
 *
 * Cluster mode: -p takes a comma-separated list of nodes' ports, and -P
 * of their process ids (memory is summed over them).  Then hold puts
 * poll i on node i mod K and sends its wake-up through the next node; rt
 * holds pair i's GET on node i mod K and posts through the next; setup
 * and fill give name i to node i mod K; send and pop spread their
 * connections over the nodes.  A node verifies an inbox's password once
 * before it trusts it (inboxd(8), CLUSTER MODE), so each name is first
 * contacted on the node that serves it, and senders on every node.
 *
 * inboxd must run with cheap Argon2 (the bench's config) so that setting
 * up thousands of inboxes takes a moment; the figures measured are the
 * mailbox's, never the hash's.  Results go to standard output as
 * `name value unit' lines for run.sh to tabulate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_BYTES 190
#define IN_MAX 8192
#define PORTS_MAX 8

struct conn {
	int fd;
	int id;       /* index of the inbox or pair it serves */
	int node;     /* index of the server's port in ports[] */
	int busy;     /* a request is out */
	size_t in;    /* bytes in buf */
	uint64_t t0;  /* when its request was written, ns */
	int status;
	char buf[IN_MAX];
};

static int ports[PORTS_MAX], nports;
static long pids[PORTS_MAX];
static int npids;
static int redis_port; /* fill: measure this Redis' used_memory */
static int ep;
static enum { T_INBOX, T_NCHAN } target = T_INBOX;
static const char *body190 =
    "{\"candidate\":\"candidate:1467250027 1 udp 2122260223 192.168.1.7 "
    "46243 typ host generation 0 ufrag EEtu network-id 1\",\"sdpMid\":\"0\","
    "\"sdpMLineIndex\":0,\"usernameFragment\":\"EEtuV2\"}      ";

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static long
rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Redis' used_memory (INFO memory), in bytes. */
static long
redis_used_memory(void)
{
	struct sockaddr_in sin;
	char buf[16384];
	const char *p;
	size_t in = 0;
	long v = -1;
	ssize_t n;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)redis_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect to Redis");
	if (write(fd, "INFO memory\r\n", 13) != 13)
		die("write to Redis");
	/* A bulk string: $LEN, then the text; read until the field is in. */
	while (in < sizeof(buf) - 1 &&
	    (n = read(fd, buf + in, sizeof(buf) - 1 - in)) > 0) {
		in += (size_t)n;
		buf[in] = '\0';
		if ((p = strstr(buf, "\r\nused_memory:")) != NULL &&
		    strchr(p + 2, '\r') != NULL) {
			v = atol(p + 14);
			break;
		}
	}
	close(fd);
	if (v < 0) {
		fprintf(stderr, "no used_memory from Redis\n");
		exit(1);
	}
	return v;
}

/* The memory measured, in bytes: Redis' with -R, else the servers' RSS. */
static long
memory_now(void)
{
	long sum = 0;
	int i;

	if (redis_port != 0)
		return redis_used_memory();
	for (i = 0; i < npids; i++)
		sum += rss_kib(pids[i]);
	return sum * 1024;
}

/*
 * Wait until the memory holds still for 500 ms (the server has caught
 * up).  Redis' moves by a few kilobytes with every command (client
 * buffers, the nodes' periodic scripts): still there means within 64 KiB.
 */
static long
settled_memory(void)
{
	long last = memory_now(), cur, slack = redis_port ? 65536 : 0;
	int still = 0;

	while (still < 5) {
		usleep(100000);
		cur = memory_now();
		still = labs(cur - last) <= slack ? still + 1 : 0;
		last = cur;
	}
	return last;
}

static void
b64(const char *in, char *out)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(in), i;
	const unsigned char *p = (const unsigned char *)in;

	for (i = 0; i + 2 < len; i += 3) {
		*out++ = t[p[i] >> 2];
		*out++ = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*out++ = t[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*out++ = t[p[i + 2] & 63];
	}
	if (i < len) {
		*out++ = t[p[i] >> 2];
		if (i + 1 < len) {
			*out++ = t[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*out++ = t[(p[i + 1] & 15) << 2];
		} else {
			*out++ = t[(p[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

/* A connection to the server on ports[node % nports]. */
static struct conn *
conn_open(int id, int node)
{
	struct sockaddr_in sin;
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev;
	int one = 1;

	if (c == NULL)
		die("calloc");
	c->id = id;
	c->node = node % nports;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)ports[node % nports]);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		die("epoll_ctl");
	return c;
}

static void
conn_send(struct conn *c, const char *req, size_t len)
{
	size_t off = 0;

	c->busy = 1;
	c->in = 0;
	c->t0 = now_ns();
	while (off < len) {
		ssize_t n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			die("send");
		off += (size_t)n;
	}
}

/*
 * Read what arrived on c; returns 1 once a whole response is in (then
 * c->status is set and c is free again), 0 if more is to come.
 */
static int
conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->in, IN_MAX - 1 - c->in, 0);
		char *end, *cl;
		size_t head, want = 0;

		if (n == 0) {
			fprintf(stderr, "connection %d closed by the server\n",
			    c->id);
			exit(1);
		}
		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			die("recv");
		}
		c->in += (size_t)n;
		c->buf[c->in] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
			continue;
		head = (size_t)(end - c->buf) + 4;
		if ((cl = strcasestr(c->buf, "\r\nContent-Length:")) != NULL &&
		    cl < end)
			want = strtoul(cl + 17, NULL, 10);
		if (c->in < head + want)
			continue;
		c->status = atoi(c->buf + 9);
		c->busy = 0;
		c->in = 0;
		return 1;
	}
}

/* Build a request into buf; returns its length. */
static size_t
build(char *buf, size_t size, const char *method, const char *path,
    const char *user, const char *extra, const char *body)
{
	char cred[300], auth[400] = "";
	size_t n;

	if (user != NULL) {
		snprintf(cred, sizeof(cred), "%s:pw", user);
		strcpy(auth, "Authorization: Basic ");
		b64(cred, auth + strlen(auth));
		strcat(auth, "\r\n");
	}
	n = (size_t)snprintf(buf, size,
	    "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s%s\r\n", method,
	    path, auth, extra ? extra : "",
	    body ? "Content-Type: application/json\r\nContent-Length: " : "",
	    body ? "190" : "", body ? "\r\n" : "");
	if (body != NULL) {
		memcpy(buf + n, body, BODY_BYTES);
		n += BODY_BYTES;
	}
	return n;
}

/* Wait for one response on any connection; returns it. */
static struct conn *
next_response(void)
{
	static struct epoll_event evs[256];
	static int nev, pos;

	for (;;) {
		while (pos < nev) {
			struct conn *c = evs[pos++].data.ptr;

			if (conn_read(c))
				return c;
		}
		nev = epoll_wait(ep, evs, 256, 30000);
		pos = 0;
		if (nev <= 0) {
			fprintf(stderr, "no response for 30 s\n");
			exit(1);
		}
	}
}

/* The node that serves name k of a set placed with offset off. */
static int
node_of(int k, int off)
{
	return (k + off) % nports;
}

/*
 * First contact of n inboxes named by fmt, over 64 connections a node:
 * name k on node_of(k, off), or with only >= 0 every name on that node.
 */
static void
setup_pass(int n, const char *fmt, int off, int only)
{
	struct conn *c[64 * PORTS_MAX], *r;
	char req[1024], name[64];
	int next[PORTS_MAX], step, nc = 0, done = 0, node, i, k;

	/* The first name each node gives, and the step to its next. */
	step = only >= 0 ? 1 : nports;
	for (node = 0; node < nports; node++) {
		next[node] = n;
		if (only < 0 || node == only)
			for (k = 0; k < n; k++)
				if (only >= 0 || node_of(k, off) == node) {
					next[node] = k;
					break;
				}
	}
	for (node = 0; node < nports; node++)
		for (i = 0; i < 64 && next[node] < n; i++, nc++) {
			c[nc] = conn_open(nc, node);
			snprintf(name, sizeof(name), fmt, next[node]);
			next[node] += step;
			conn_send(c[nc], req, build(req, sizeof(req), "GET",
			    "/inbox?wait=0", name, NULL, NULL));
		}
	while (done < n) {
		r = next_response();
		if (r->status != 204 && r->status != 200) {
			fprintf(stderr, "first contact: status %d\n", r->status);
			exit(1);
		}
		done++;
		if (next[r->node] < n) {
			snprintf(name, sizeof(name), fmt, next[r->node]);
			next[r->node] += step;
			conn_send(r, req, build(req, sizeof(req), "GET",
			    "/inbox?wait=0", name, NULL, NULL));
		}
	}
	for (i = 0; i < nc; i++) {
		close(c[i]->fd);
		free(c[i]);
	}
}

/* First contact of n inboxes named by fmt, name k on node_of(k, off). */
static void
setup(int n, const char *fmt, int off)
{
	setup_pass(n, fmt, off, -1);
}

/* First contact of n inboxes named by fmt on every node. */
static void
setup_everywhere(int n, const char *fmt)
{
	int node;

	for (node = 0; node < nports; node++)
		setup_pass(n, fmt, 0, node);
}

static size_t
hold_request(char *buf, size_t size, int id, const char *etag)
{
	char name[64], path[128];

	snprintf(name, sizeof(name), "h%d", id);
	if (target == T_NCHAN) {
		snprintf(path, sizeof(path), "/sub?id=%s", name);
		return build(buf, size, "GET", path, NULL, etag, NULL);
	}
	return build(buf, size, "GET", "/inbox?wait=60", name, NULL, NULL);
}

static size_t
post_request(char *buf, size_t size, int id)
{
	char name[64], path[128];

	snprintf(name, sizeof(name), "h%d", id);
	if (target == T_NCHAN) {
		snprintf(path, sizeof(path), "/pub?id=%s", name);
		return build(buf, size, "POST", path, NULL, NULL, body190);
	}
	snprintf(path, sizeof(path), "/inbox?to=%s", name);
	return build(buf, size, "POST", path, "sender", NULL, body190);
}

/*
 * The conditional headers that ask Nchan for the message after the one
 * just received on r (its long-poll protocol), into extra.
 */
static void
nchan_next(const struct conn *r, char *extra, size_t size)
{
	const char *lm = strcasestr(r->buf, "\r\nLast-Modified: ");
	const char *et = strcasestr(r->buf, "\r\nEtag: ");
	char lmv[64] = "", etv[32] = "";

	if (lm != NULL)
		sscanf(lm + 17, "%63[^\r]", lmv);
	if (et != NULL)
		sscanf(et + 8, "%31[^\r]", etv);
	snprintf(extra, size, "If-Modified-Since: %s\r\nIf-None-Match: %s\r\n",
	    lmv, etv);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Hold n polls, poll i on node_of(i, 0); memory per poll; then samples
 * POST-to-wake latencies, each POST through node_of(i, 1): with several
 * nodes, never the one holding the poll it wakes.
 */
static void
hold(int n, int samples)
{
	struct conn **c = calloc((size_t)n, sizeof(*c)), *sender[PORTS_MAX];
	struct conn *snd, *r;
	uint64_t *lat = calloc((size_t)samples, sizeof(*lat));
	char req[1024], etag[160] = "";
	long before, after;
	int i, held;

	if (c == NULL || lat == NULL)
		die("calloc");
	if (target == T_INBOX) {
		setup(n, "h%d", 0);
		setup_everywhere(1, "sender");
	}
	before = settled_memory();
	for (i = 0; i < n; i++) {
		c[i] = conn_open(i, node_of(i, 0));
		conn_send(c[i], req, hold_request(req, sizeof(req), i, NULL));
	}
	after = settled_memory();
	/* Held means unanswered and open: nothing to read on the socket. */
	for (i = 0, held = 0; i < n; i++) {
		struct pollfd pfd = { c[i]->fd, POLLIN, 0 };

		if (poll(&pfd, 1, 0) == 0)
			held++;
	}
	printf("held_polls %d count\n", held);
	printf("memory_per_held_poll %.0f bytes\n",
	    (double)(after - before) / n);
	fflush(stdout);
	if (samples == 0)
		return;
	for (i = 0; i < nports; i++)
		sender[i] = conn_open(-1 - i, i);
	for (i = 0; i < samples; i++) {
		int id = i % n;
		uint64_t t0;
		int woke = 0, posted = 0;

		snd = sender[node_of(id, 1)];
		t0 = now_ns();
		conn_send(snd, req, post_request(req, sizeof(req), id));
		while (!woke || !posted) {
			r = next_response();
			if (r == snd) {
				posted = 1;
				if (r->status >= 300) {
					fprintf(stderr, "POST: %d\n", r->status);
					exit(1);
				}
				continue;
			}
			if (r != c[id] || r->status != 200) {
				fprintf(stderr, "poll %d answered %d\n", r->id,
				    r->status);
				exit(1);
			}
			lat[i] = now_ns() - t0;
			woke = 1;
			if (target == T_NCHAN)
				nchan_next(r, etag, sizeof(etag));
		}
		/* Hold it again for its next turn. */
		conn_send(c[id], req, hold_request(req, sizeof(req), id,
		    target == T_NCHAN ? etag : NULL));
	}
	qsort(lat, (size_t)samples, sizeof(*lat), cmp_u64);
	printf("wake_latency_p50 %.1f us\n", lat[samples / 2] / 1000.0);
	printf("wake_latency_p99 %.1f us\n", lat[samples * 99 / 100] / 1000.0);
	printf("wake_latency_p999 %.1f us\n",
	    lat[samples * 999 / 1000] / 1000.0);
	free(lat);
}

/*
 * Hang-ups: hold n polls, then half-close every client at once (a FIN,
 * as a closing tab sends) and time each until the server closes its end,
 * which the client sees as the end of file: the time from a hang-up to
 * the server letting go of the connection.
 */
static void
hangup(int n)
{
	struct conn **c = calloc((size_t)n, sizeof(*c));
	uint64_t *lat = calloc((size_t)n, sizeof(*lat)), t0;
	struct epoll_event ev[64];
	char req[1024], buf[4096];
	int i, k, got = 0, m;

	if (c == NULL || lat == NULL)
		die("calloc");
	if (target == T_INBOX)
		setup(n, "h%d", 0);
	for (i = 0; i < n; i++) {
		c[i] = conn_open(i, node_of(i, 0));
		conn_send(c[i], req, hold_request(req, sizeof(req), i, NULL));
	}
	(void)settled_memory(); /* every poll is in and held */
	t0 = now_ns();
	for (i = 0; i < n; i++)
		if (shutdown(c[i]->fd, SHUT_WR) == -1)
			die("shutdown");
	while (got < n) {
		if ((m = epoll_wait(ep, ev, 64, 10000)) <= 0) {
			fprintf(stderr, "%d of %d hung-up polls still open after "
			    "10 s\n", n - got, n);
			exit(1);
		}
		for (k = 0; k < m; k++) {
			struct conn *x = ev[k].data.ptr;
			ssize_t r = recv(x->fd, buf, sizeof(buf), 0);

			if (r > 0 || (r < 0 && errno == EAGAIN))
				continue; /* an answer: still open */
			lat[got++] = now_ns() - t0;
			epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
			close(x->fd);
		}
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("hangup_release_p50 %.1f ms\n", lat[n / 2] / 1e6);
	printf("hangup_release_p99 %.1f ms\n", lat[n * 99 / 100] / 1e6);
	printf("hangup_release_max %.1f ms\n", lat[n - 1] / 1e6);
	free(lat);
	free(c);
}

/*
 * Round trips with `pairs' receiver/sender pairs for `secs' seconds; pair
 * i's GET on node_of(i, 0), its POST through node_of(i, 1).
 */
static void
round_trips(int pairs, int secs)
{
	struct conn **sub = calloc((size_t)pairs, sizeof(*sub));
	struct conn **pub = calloc((size_t)pairs, sizeof(*pub));
	int *left = calloc((size_t)pairs, sizeof(*left));
	unsigned *seq = calloc((size_t)pairs, sizeof(*seq));
	char req[1024], name[64], path[160], (*extra)[200];
	uint64_t end, start, count = 0;
	int i;

	extra = calloc((size_t)pairs, sizeof(*extra));
	if (sub == NULL || pub == NULL || left == NULL || seq == NULL ||
	    extra == NULL)
		die("calloc");
	if (target == T_INBOX) {
		setup(pairs, "r%d", 0);
		setup(pairs, "s%d", 1);
	}
	start = now_ns();
	end = start + (uint64_t)secs * 1000000000ULL;
	for (i = 0; i < pairs; i++) {
		sub[i] = conn_open(i, node_of(i, 0));
		pub[i] = conn_open(i, node_of(i, 1));
	}
	/* Channel names unique to this run: nothing old to replay. */
	for (i = 0; i < pairs; i++) {
		left[i] = 2;
		if (target == T_NCHAN) {
			snprintf(path, sizeof(path), "/sub?id=rt%ld-%d",
			    (long)start, i);
			conn_send(sub[i], req, build(req, sizeof(req), "GET",
			    path, NULL, NULL, NULL));
			snprintf(path, sizeof(path), "/pub?id=rt%ld-%d",
			    (long)start, i);
			conn_send(pub[i], req, build(req, sizeof(req), "POST",
			    path, NULL, NULL, body190));
		} else {
			snprintf(name, sizeof(name), "r%d", i);
			conn_send(sub[i], req, build(req, sizeof(req), "GET",
			    "/inbox?wait=30", name, NULL, NULL));
			snprintf(path, sizeof(path), "/inbox?to=r%d", i);
			snprintf(name, sizeof(name), "s%d", i);
			conn_send(pub[i], req, build(req, sizeof(req), "POST",
			    path, name, NULL, body190));
		}
	}
	while (now_ns() < end) {
		struct conn *r = next_response();

		i = r->id;
		if (r->status >= 300) {
			fprintf(stderr, "round trip %d: status %d\n", i,
			    r->status);
			exit(1);
		}
		if (r == sub[i] && target == T_NCHAN)
			nchan_next(r, extra[i], sizeof(extra[i]));
		if (--left[i] > 0)
			continue;
		count++;
		left[i] = 2;
		seq[i]++;
		if (target == T_NCHAN) {
			snprintf(path, sizeof(path), "/sub?id=rt%ld-%d",
			    (long)start, i);
			conn_send(sub[i], req, build(req, sizeof(req), "GET",
			    path, NULL, extra[i], NULL));
			snprintf(path, sizeof(path), "/pub?id=rt%ld-%d",
			    (long)start, i);
			conn_send(pub[i], req, build(req, sizeof(req), "POST",
			    path, NULL, NULL, body190));
		} else {
			snprintf(name, sizeof(name), "r%d", i);
			conn_send(sub[i], req, build(req, sizeof(req), "GET",
			    "/inbox?wait=30", name, NULL, NULL));
			snprintf(path, sizeof(path), "/inbox?to=r%d", i);
			snprintf(name, sizeof(name), "s%d", i);
			conn_send(pub[i], req, build(req, sizeof(req), "POST",
			    path, name, NULL, body190));
		}
	}
	printf("round_trips %.0f per_second\n",
	    (double)count * 1e9 / (double)(now_ns() - start));
	printf("round_trip_count %llu count\n", (unsigned long long)count);
}

/* The i-th request of drive(): a send or a pop among 1000 inboxes. */
static size_t
drive_request(char *buf, size_t size, int i, int post)
{
	char user[32], path[64];

	snprintf(user, sizeof(user), "u%d", i * 7 % 1000);
	snprintf(path, sizeof(path), "/inbox?to=u%d", i % 1000);
	return post ? build(buf, size, "POST", path, user, NULL, body190)
		    : build(buf, size, "GET", "/inbox?wait=0", user, NULL, NULL);
}

/*
 * n requests over 50 connections to the 1000 inboxes of `setup': sends
 * (POST u(i%1000) from u(i*7%1000)) or pops (GET wait=0); for profiling a
 * fixed amount of work.  Connection i goes to node i mod K: set up every
 * name on each.
 */
static void
drive(int n, int post)
{
	struct conn *c[50];
	char req[1024];
	int next = 0, done = 0, i;

	for (i = 0; i < 50 && next < n; i++, next++) {
		c[i] = conn_open(i, i);
		conn_send(c[i], req, drive_request(req, sizeof(req), next, post));
	}
	while (done < n) {
		struct conn *r = next_response();

		if (r->status >= 300) {
			fprintf(stderr, "status %d\n", r->status);
			exit(1);
		}
		done++;
		if (next < n)
			conn_send(r, req, drive_request(req, sizeof(req), next++,
			    post));
	}
}

/* One 190-byte message from "sender" to each of n inboxes "e%07d". */
static void
send_each(int n)
{
	struct conn *c[64 * PORTS_MAX];
	char req[1024], path[64];
	int next = 0, done = 0, i, k = 64 * nports;

	for (i = 0; i < k && next < n; i++) {
		c[i] = conn_open(i, i);
		snprintf(path, sizeof(path), "/inbox?to=e%07d", next++);
		conn_send(c[i], req, build(req, sizeof(req), "POST", path,
		    "sender", NULL, body190));
	}
	k = i;
	while (done < n) {
		struct conn *r = next_response();

		if (r->status != 204) {
			fprintf(stderr, "send: status %d\n", r->status);
			exit(1);
		}
		done++;
		if (next < n) {
			snprintf(path, sizeof(path), "/inbox?to=e%07d", next++);
			conn_send(r, req, build(req, sizeof(req), "POST", path,
			    "sender", NULL, body190));
		}
	}
	for (i = 0; i < k; i++) {
		close(c[i]->fd);
		free(c[i]);
	}
}

/*
 * Memory per idle empty inbox, per queued 190-byte message (one in each
 * inbox), and per further message (a second in each).
 */
static void
fill(int n)
{
	long m0, m1, m2, m3;

	/* The sender first: the server's connections are warm by m0. */
	setup_everywhere(1, "sender");
	m0 = settled_memory();
	setup(n, "e%07d", 0);
	m1 = settled_memory();
	/* "e%07d" names are 8 bytes; the figure is beyond the name. */
	printf("memory_per_idle_inbox %.0f bytes\n",
	    (double)(m1 - m0) / n - 8);
	send_each(n);
	m2 = settled_memory();
	printf("memory_per_queued_message %.0f bytes\n",
	    (double)(m2 - m1) / n);
	send_each(n);
	m3 = settled_memory();
	printf("memory_per_further_message %.0f bytes\n",
	    (double)(m3 - m2) / n);
}

/* Comma-separated numbers into v (at most PORTS_MAX); their count. */
static int
numbers(const char *arg, long *v)
{
	int k = 0;
	char *end;

	while (k < PORTS_MAX) {
		v[k++] = strtol(arg, &end, 10);
		if (*end != ',')
			break;
		arg = end + 1;
	}
	return k;
}

int
main(int argc, char *argv[])
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *fmt = "u%d";
	int ch, n = 1000, samples = 20000, pairs = 50, secs = 10, i;
	long v[PORTS_MAX];
	struct rlimit rl;

	optind = 2;
	while ((ch = getopt(argc, argv, "c:d:f:n:p:P:R:s:t:")) != -1) {
		switch (ch) {
		case 'c': pairs = atoi(optarg); break;
		case 'd': secs = atoi(optarg); break;
		case 'f': fmt = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'p':
			nports = numbers(optarg, v);
			for (i = 0; i < nports; i++)
				ports[i] = (int)v[i];
			break;
		case 'P': npids = numbers(optarg, pids); break;
		case 'R': redis_port = atoi(optarg); break;
		case 's': samples = atoi(optarg); break;
		case 't': target = strcmp(optarg, "nchan") == 0 ? T_NCHAN
			      : T_INBOX; break;
		default: return 2;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (nports == 0) {
		fprintf(stderr, "loadgen: -p PORT[,PORT...] is required\n");
		return 2;
	}
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	if (strcmp(mode, "hold") == 0)
		hold(n, samples);
	else if (strcmp(mode, "rt") == 0)
		round_trips(pairs, secs);
	else if (strcmp(mode, "hangup") == 0)
		hangup(n);
	else if (strcmp(mode, "fill") == 0)
		fill(n);
	else if (strcmp(mode, "setup") == 0)
		setup(n, fmt, 0);
	else if (strcmp(mode, "send") == 0 || strcmp(mode, "pop") == 0)
		drive(n, strcmp(mode, "send") == 0);
	else {
		fprintf(stderr, "usage: loadgen hold|hangup|rt|fill|setup -p PORT ...\n");
		return 2;
	}
	return 0;
}
