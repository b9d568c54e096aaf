/*
 * loadgen.c - the load generator of `make bench': one thread, one epoll
 * set, any number of keep-alive HTTP/1.1 connections to 127.0.0.1.
 *
 *   loadgen hold  -p PORT -P PID -n N [-s SAMPLES] [-t inbox|nchan]
 *	hold N long polls on N inboxes (or Nchan channels), report the
 *	server's memory per held poll, then the latency from a POST to the
 *	response of the GET it wakes, SAMPLES times, one at a time.
 *   loadgen rt    -p PORT -c PAIRS -d SECONDS [-t inbox|nchan]
 *	round trips: each pair long-polls, its partner posts, repeat.
 *   loadgen fill  -p PORT -P PID -n N
 *	server memory per idle empty inbox and per queued 190-byte message.
 *   loadgen setup -p PORT -n N [-f FMT]
 *	first contact of N inboxes named by FMT (default "u%d").
 *   loadgen send|pop -p PORT -n N
 *	N sends or pops among the 1000 inboxes of setup, for profiling.
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

struct conn {
	int fd;
	int id;       /* index of the inbox or pair it serves */
	int busy;     /* a request is out */
	size_t in;    /* bytes in buf */
	uint64_t t0;  /* when its request was written, ns */
	int status;
	char buf[IN_MAX];
};

static int port;
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

/* Wait until the server's RSS holds still for 500 ms (it has caught up). */
static long
settled_rss(long pid)
{
	long last = rss_kib(pid), cur;
	int still = 0;

	while (still < 5) {
		usleep(100000);
		cur = rss_kib(pid);
		still = cur == last ? still + 1 : 0;
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

static struct conn *
conn_open(int id)
{
	struct sockaddr_in sin;
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev;
	int one = 1;

	if (c == NULL)
		die("calloc");
	c->id = id;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
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

/* First contact of n inboxes named by fmt, over 64 connections. */
static void
setup(int n, const char *fmt)
{
	struct conn *c[64];
	char req[1024], name[64];
	int next = 0, done = 0, i, k = n < 64 ? n : 64;

	for (i = 0; i < k; i++) {
		c[i] = conn_open(i);
		snprintf(name, sizeof(name), fmt, next++);
		conn_send(c[i], req, build(req, sizeof(req), "GET",
		    "/inbox?wait=0", name, NULL, NULL));
	}
	while (done < n) {
		struct conn *r = next_response();

		if (r->status != 204 && r->status != 200) {
			fprintf(stderr, "first contact: status %d\n", r->status);
			exit(1);
		}
		done++;
		if (next < n) {
			snprintf(name, sizeof(name), fmt, next++);
			conn_send(r, req, build(req, sizeof(req), "GET",
			    "/inbox?wait=0", name, NULL, NULL));
		}
	}
	for (i = 0; i < k; i++) {
		close(c[i]->fd);
		free(c[i]);
	}
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

/* Hold n polls; memory per poll; then samples POST-to-wake latencies. */
static void
hold(int n, int samples, long pid)
{
	struct conn **c = calloc((size_t)n, sizeof(*c)), *sender, *r;
	uint64_t *lat = calloc((size_t)samples, sizeof(*lat));
	char req[1024], etag[160] = "";
	long before, after;
	int i, held;

	if (c == NULL || lat == NULL)
		die("calloc");
	if (target == T_INBOX) {
		setup(n, "h%d");
		setup(1, "sender");
	}
	before = settled_rss(pid);
	for (i = 0; i < n; i++) {
		c[i] = conn_open(i);
		conn_send(c[i], req, hold_request(req, sizeof(req), i, NULL));
	}
	after = settled_rss(pid);
	/* Held means unanswered and open: nothing to read on the socket. */
	for (i = 0, held = 0; i < n; i++) {
		struct pollfd pfd = { c[i]->fd, POLLIN, 0 };

		if (poll(&pfd, 1, 0) == 0)
			held++;
	}
	printf("held_polls %d count\n", held);
	printf("memory_per_held_poll %.0f bytes\n",
	    (double)(after - before) * 1024.0 / n);
	fflush(stdout);
	if (samples == 0)
		return;
	sender = conn_open(-1);
	for (i = 0; i < samples; i++) {
		int id = i % n;
		uint64_t t0;
		int woke = 0, posted = 0;

		t0 = now_ns();
		conn_send(sender, req, post_request(req, sizeof(req), id));
		while (!woke || !posted) {
			r = next_response();
			if (r == sender) {
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

/* Round trips with `pairs' receiver/sender pairs for `secs' seconds. */
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
		setup(pairs, "r%d");
		setup(pairs, "s%d");
	}
	start = now_ns();
	end = start + (uint64_t)secs * 1000000000ULL;
	for (i = 0; i < pairs; i++) {
		sub[i] = conn_open(i);
		pub[i] = conn_open(i);
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
 * fixed amount of work.
 */
static void
drive(int n, int post)
{
	struct conn *c[50];
	char req[1024];
	int next = 0, done = 0, i;

	for (i = 0; i < 50 && next < n; i++, next++) {
		c[i] = conn_open(i);
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

/* Memory per idle empty inbox and per queued 190-byte message. */
static void
fill(int n, long pid)
{
	struct conn *c[64];
	char req[1024], path[64];
	long r0, r1, r2;
	int next = 0, done = 0, i, k = 64;

	r0 = settled_rss(pid);
	setup(n, "e%07d");
	setup(1, "sender");
	r1 = settled_rss(pid);
	/* "e%07d" names are 8 bytes; the figure is beyond the name. */
	printf("memory_per_idle_inbox %.0f bytes\n",
	    (double)(r1 - r0) * 1024.0 / n - 8);
	for (i = 0; i < k; i++) {
		c[i] = conn_open(i);
		snprintf(path, sizeof(path), "/inbox?to=e%07d", next++);
		conn_send(c[i], req, build(req, sizeof(req), "POST", path,
		    "sender", NULL, body190));
	}
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
	r2 = settled_rss(pid);
	printf("memory_per_queued_message %.0f bytes\n",
	    (double)(r2 - r1) * 1024.0 / n);
}

int
main(int argc, char *argv[])
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *fmt = "u%d";
	int ch, n = 1000, samples = 20000, pairs = 50, secs = 10;
	long pid = 0;
	struct rlimit rl;

	optind = 2;
	while ((ch = getopt(argc, argv, "c:d:f:n:p:P:s:t:")) != -1) {
		switch (ch) {
		case 'c': pairs = atoi(optarg); break;
		case 'd': secs = atoi(optarg); break;
		case 'f': fmt = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 'P': pid = atol(optarg); break;
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
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	if (strcmp(mode, "hold") == 0)
		hold(n, samples, pid);
	else if (strcmp(mode, "rt") == 0)
		round_trips(pairs, secs);
	else if (strcmp(mode, "fill") == 0)
		fill(n, pid);
	else if (strcmp(mode, "setup") == 0)
		setup(n, fmt);
	else if (strcmp(mode, "send") == 0 || strcmp(mode, "pop") == 0)
		drive(n, strcmp(mode, "send") == 0);
	else {
		fprintf(stderr, "usage: loadgen hold|rt|fill|setup -p PORT ...\n");
		return 2;
	}
	return 0;
}
