/*
 * client.c - start inboxd and talk raw HTTP/1.1 to it, for the tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

static long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, k;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap);
			if (buf == NULL) {
				fclose(f);
				return NULL;
			}
		}
		k = fread(buf + n, 1, cap - n - 1, f);
		n += k;
		if (k == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int
inboxd_log_contains(const struct inboxd *d, const char *needle)
{
	char *text;
	int found, i;

	if (d->cluster != NULL) {
		for (i = 0; i < CLUSTER_NODES; i++)
			if (inboxd_log_contains(&d->cluster->node[i], needle))
				return 1;
		return 0;
	}
	if ((text = read_file(d->log, NULL)) == NULL)
		return 0;
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

int
inboxd_start(struct inboxd *d, const char *conf)
{
	return inboxd_start_on(d, conf, "127.0.0.1:0");
}

int
inboxd_start_on(struct inboxd *d, const char *conf, const char *listen)
{
	const char *bin = getenv("INBOXD");
	FILE *f;
	long deadline;
	char *text, *p;
	pid_t parent;
	int ready = 0;

	memset(d, 0, sizeof(*d));
	if (bin == NULL)
		bin = "./inboxd";
	strcpy(d->dir, "/tmp/inboxd-test-XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->conf, sizeof(d->conf), "%s/inboxd.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/inboxd.log", d->dir);
	if ((f = fopen(d->conf, "w")) == NULL)
		return -1;
	fputs(conf, f);
	fclose(f);
	parent = getpid();
	if ((d->pid = fork()) == -1)
		return -1;
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* A test that fails exits at once: take the daemon along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		execl(bin, "inboxd", "-d", "-f", d->conf, "-l", listen,
		    (char *)NULL);
		_exit(127);
	}
	deadline = ms_now() + 10000;
	while (ms_now() < deadline) {
		int status;

		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1;
		}
		if ((text = read_file(d->log, NULL)) != NULL) {
			p = strstr(text, " port ");
			if (p != NULL && strchr(p, '\n') != NULL) {
				d->port = (unsigned)atoi(p + 6);
				ready = 1;
			}
			free(text);
			/* On a Unix socket, the port it logs is 0. */
			if (ready && (d->port != 0 ||
			    strncmp(listen, "unix:", 5) == 0))
				return 0;
		}
		poll(NULL, 0, 5);
	}
	inboxd_kill(d, SIGKILL);
	return -1;
}

/* The first failing status of a cluster's nodes, given each node's. */
static int
worst(int so_far, int status)
{
	return so_far != 0 ? so_far : status;
}

int
inboxd_kill(struct inboxd *d, int sig)
{
	int status, i, all = 0;

	if (d->cluster != NULL) {
		/* Signal every node first, so they stop side by side. */
		for (i = 0; i < CLUSTER_NODES; i++)
			inboxd_signal(&d->cluster->node[i], sig);
		for (i = 0; i < CLUSTER_NODES; i++)
			if (d->cluster->node[i].pid > 0)
				all = worst(all,
				    inboxd_kill(&d->cluster->node[i], sig));
		d->pid = 0;
		return all;
	}
	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	if (waitpid(d->pid, &status, 0) != d->pid)
		return -1;
	d->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
inboxd_stop(struct inboxd *d)
{
	return inboxd_kill(d, SIGTERM);
}

void
inboxd_signal(struct inboxd *d, int sig)
{
	int i;

	if (d->cluster != NULL) {
		for (i = 0; i < CLUSTER_NODES; i++)
			inboxd_signal(&d->cluster->node[i], sig);
		return;
	}
	if (d->pid > 0)
		kill(d->pid, sig);
}

int
inboxd_wait(struct inboxd *d, int timeout_ms)
{
	long deadline = ms_now() + timeout_ms;
	int status, i, all = 0;

	if (d->cluster != NULL) {
		for (i = 0; i < CLUSTER_NODES; i++) {
			struct inboxd *n = &d->cluster->node[i];
			long left = deadline - ms_now();

			if (n->pid <= 0)
				continue;
			status = inboxd_wait(n, left > 0 ? (int)left : 0);
			if (status == -2)
				return -2;
			all = worst(all, status);
		}
		d->pid = 0;
		return all;
	}
	if (d->pid <= 0)
		return -1;
	for (;;) {
		pid_t p = waitpid(d->pid, &status, WNOHANG);

		if (p == d->pid)
			break;
		if (p == -1 && errno != EINTR)
			return -1;
		if (ms_now() >= deadline)
			return -2;
		poll(NULL, 0, 5);
	}
	d->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void
inboxd_cleanup(struct inboxd *d)
{
	struct cluster *cl = d->cluster;
	int i;

	if (cl != NULL) {
		for (i = 0; i < CLUSTER_NODES; i++) {
			if (cl->node[i].pid > 0)
				inboxd_kill(&cl->node[i], SIGKILL);
			inboxd_cleanup(&cl->node[i]);
		}
		redis_cleanup(&cl->redis);
		free(cl);
		d->cluster = NULL;
		d->dir[0] = '\0';
		return;
	}
	if (d->dir[0] == '\0')
		return;
	unlink(d->conf);
	unlink(d->log);
	rmdir(d->dir);
	d->dir[0] = '\0';
}

long
client_now_ms(void)
{
	return ms_now();
}

/*
 * Connect the TCP socket fd to 127.0.0.1:port and set TCP_NODELAY.
 * Returns fd, or -1 with fd closed.
 */
static int
connect_loopback(int fd, unsigned port)
{
	struct sockaddr_in sin;
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
client_connect(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		return -1;
	return connect_loopback(fd, port);
}

int
client_connect_rcvbuf(unsigned port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
	    sizeof(rcvbuf)) == -1) {
		close(fd);
		return -1;
	}
	return connect_loopback(fd, port);
}

void
client_abort(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int
client_send(unsigned port, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t body_len)
{
	size_t len;
	char *req;
	int fd;

	if ((fd = client_connect(port)) == -1)
		return -1;
	req = client_build(method, target, user, password, extra, body,
	    body_len, &len);
	if (req == NULL || client_write(fd, req, len) == -1) {
		free(req);
		close(fd);
		return -1;
	}
	free(req);
	return fd;
}

int
client_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read at least one byte before the deadline; 0 on EOF, -1 on timeout. */
static ssize_t
read_some(int fd, char *buf, size_t len, long deadline)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	long left = deadline - ms_now();

	if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
		return -1;
	return recv(fd, buf, len, 0);
}

int
client_quiet(int fd, int timeout_ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	return poll(&pfd, 1, timeout_ms) == 0;
}

/* Status line and headers, one byte at a time so no body byte is taken. */
static int
read_head(int fd, struct response *r, long deadline)
{
	size_t n = 0;
	ssize_t k;

	memset(r, 0, sizeof(*r));
	for (;;) {
		if (n + 1 >= sizeof(r->head))
			return -1;
		if ((k = read_some(fd, r->head + n, 1, deadline)) <= 0)
			return -1;
		n += (size_t)k;
		r->head[n] = '\0';
		if (n >= 4 && memcmp(r->head + n - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	return 0;
}

int
client_read_head(int fd, struct response *r, int timeout_ms)
{
	return read_head(fd, r, ms_now() + timeout_ms);
}

int
client_read(int fd, struct response *r, int timeout_ms)
{
	long deadline = ms_now() + timeout_ms;
	size_t want = 0;
	char *cl;
	ssize_t k;

	if (read_head(fd, r, deadline) == -1)
		return -1;
	if ((cl = (char *)response_header(r, "Content-Length")) != NULL)
		want = (size_t)strtoul(cl, NULL, 10);
	if (r->status == 204 || r->status == 304)
		want = 0;
	r->body = malloc(want + 1);
	if (r->body == NULL)
		return -1;
	while (r->body_len < want) {
		k = read_some(fd, r->body + r->body_len, want - r->body_len,
		    deadline);
		if (k <= 0)
			return -1;
		r->body_len += (size_t)k;
	}
	r->body[r->body_len] = '\0';
	return 0;
}

void
response_free(struct response *r)
{
	free(r->body);
	r->body = NULL;
}

const char *
response_header(const struct response *r, const char *name)
{
	static __thread char value[8192];
	size_t nlen = strlen(name);
	const char *p = strstr(r->head, "\r\n");

	while (p != NULL && p[2] != '\r') {
		const char *line = p + 2, *eol = strstr(line, "\r\n");

		if (eol == NULL)
			break;
		if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
		    strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1;
			size_t vlen;

			while (*v == ' ')
				v++;
			vlen = (size_t)(eol - v);
			if (vlen >= sizeof(value))
				vlen = sizeof(value) - 1;
			memcpy(value, v, vlen);
			value[vlen] = '\0';
			return value;
		}
		p = eol;
	}
	return NULL;
}

void
base64(const void *in, size_t len, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*out++ = tab[p[i] >> 2];
		*out++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*out++ = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*out++ = tab[p[i + 2] & 63];
	}
	if (i < len) {
		*out++ = tab[p[i] >> 2];
		if (i + 1 < len) {
			*out++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*out++ = tab[(p[i + 1] & 15) << 2];
		} else {
			*out++ = tab[(p[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

char *
client_build(const char *method, const char *target, const char *user,
    const char *password, const char *extra, const void *body,
    size_t body_len, size_t *len)
{
	char cred[2600], auth[3600] = "", clen[64] = "";
	size_t hlen, cap;
	char *req;

	if (user != NULL) {
		snprintf(cred, sizeof(cred), "%s:%s", user, password);
		strcpy(auth, "Authorization: Basic ");
		base64(cred, strlen(cred), auth + strlen(auth));
		strcat(auth, "\r\n");
	}
	if (body != NULL)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n",
		    body_len);
	cap = strlen(method) + strlen(target) + strlen(auth) + strlen(clen) +
	    (extra ? strlen(extra) : 0) + 64 + body_len;
	if ((req = malloc(cap)) == NULL)
		return NULL;
	hlen = (size_t)snprintf(req, cap,
	    "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s\r\n", method, target,
	    auth, clen, extra ? extra : "");
	if (body != NULL)
		memcpy(req + hlen, body, body_len);
	*len = hlen + (body ? body_len : 0);
	return req;
}

int
client_request(unsigned port, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t body_len, struct response *r)
{
	return client_request_from(port, NULL, method, target, user, password,
	    extra, body, body_len, r);
}

int
client_connect_from(unsigned port, const char *src)
{
	struct sockaddr_in me;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		return -1;
	memset(&me, 0, sizeof(me));
	me.sin_family = AF_INET;
	me.sin_port = 0;
	if (inet_pton(AF_INET, src, &me.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&me, sizeof(me)) == -1) {
		close(fd);
		return -1;
	}
	return connect_loopback(fd, port);
}

/* src NULL: from the unbound socket of client_connect (client_request). */
int
client_request_from(unsigned port, const char *src, const char *method,
    const char *target, const char *user, const char *password,
    const char *extra, const void *body, size_t body_len, struct response *r)
{
	struct response tmp;
	size_t len;
	char *req;
	int fd, status = -1;
	const char *w = strstr(target, "wait=");
	int timeout = 10000 + (w != NULL ? atoi(w + 5) * 1000 : 30000);

	memset(&tmp, 0, sizeof(tmp));
	if (r != NULL)
		memset(r, 0, sizeof(*r));
	fd = src != NULL ? client_connect_from(port, src) :
	    client_connect(port);
	if (fd == -1)
		return -1;
	req = client_build(method, target, user, password, extra, body,
	    body_len, &len);
	if (req != NULL && client_write(fd, req, len) == 0 &&
	    client_read(fd, r ? r : &tmp, timeout) == 0)
		status = (r ? r : &tmp)->status;
	if (r == NULL)
		response_free(&tmp);
	free(req);
	close(fd);
	return status;
}

long
client_wait_close(int fd, int timeout_ms, char *buf, size_t len)
{
	long deadline = ms_now() + timeout_ms, got = 0;
	char tmp[4096];

	if (buf != NULL && len > 0)
		buf[0] = '\0';
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long left = deadline - ms_now();
		ssize_t k;
		int n;

		if (left <= 0)
			return -1;
		if ((n = poll(&pfd, 1, (int)left)) == -1 && errno == EINTR)
			continue;
		if (n != 1)
			return -1;
		k = recv(fd, tmp, sizeof(tmp), 0);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0) /* end of file, or a reset (ECONNRESET) */
			return got;
		if (buf != NULL && (size_t)got + 1 < len) {
			size_t c = len - 1 - (size_t)got;

			if (c > (size_t)k)
				c = (size_t)k;
			memcpy(buf + got, tmp, c);
			buf[(size_t)got + c] = '\0';
		}
		got += k;
	}
}

/* The first whole line of the file at path holding needle, or NULL. */
static char *
log_line(const char *path, const char *needle)
{
	char *text = read_file(path, NULL), *p, *line = NULL;

	if (text != NULL && (p = strstr(text, needle)) != NULL) {
		char *start = p, *end = strchr(p, '\n');

		/* Only a whole line: the daemon may be mid-write. */
		if (end != NULL) {
			while (start > text && start[-1] != '\n')
				start--;
			line = strndup(start, (size_t)(end - start));
		}
	}
	free(text);
	return line;
}

char *
inboxd_log_line(const struct inboxd *d, const char *needle, int timeout_ms)
{
	long deadline = ms_now() + timeout_ms;
	char *line;
	int i;

	for (;;) {
		if (d->cluster == NULL)
			line = log_line(d->log, needle);
		else
			for (i = 0, line = NULL; i < CLUSTER_NODES &&
			    line == NULL; i++)
				line = log_line(d->cluster->node[i].log, needle);
		if (line != NULL)
			return line;
		if (ms_now() >= deadline)
			return NULL;
		poll(NULL, 0, 10);
	}
}

long
inboxd_rss_kib(const struct inboxd *d)
{
	char path[64], *text, *p;
	long kib = -1, k;
	int i;

	if (d->cluster != NULL) {
		/* All nodes together. */
		for (i = 0; i < CLUSTER_NODES; i++) {
			if ((k = inboxd_rss_kib(&d->cluster->node[i])) == -1)
				return -1;
			kib = kib == -1 ? k : kib + k;
		}
		return kib;
	}
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)d->pid);
	if ((text = read_file(path, NULL)) == NULL)
		return -1;
	if ((p = strstr(text, "\nVmRSS:")) != NULL)
		kib = strtol(p + 7, NULL, 10);
	free(text);
	return kib;
}

/* ------------------------------------------------------------ Redis */

unsigned
free_loopback_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	unsigned port = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

int
redis_connect(const struct redis *r)
{
	struct sockaddr_un sun;
	int fd;

	if (r->sock[0] == '\0')
		return client_connect(r->port);
	if (strlen(r->sock) >= sizeof(sun.sun_path))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, r->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A buffered reader of RESP replies with a deadline. */
struct resp {
	int fd;
	long deadline;
	char buf[65536];
	size_t len, pos;
};

/* Have at least one unread byte in p->buf: 0, or -1. */
static int
resp_fill(struct resp *p)
{
	ssize_t k;

	if (p->pos < p->len)
		return 0;
	p->pos = p->len = 0;
	if ((k = read_some(p->fd, p->buf, sizeof(p->buf), p->deadline)) <= 0)
		return -1;
	p->len = (size_t)k;
	return 0;
}

/* n bytes into out (may be NULL to skip them): 0, or -1. */
static int
resp_bytes(struct resp *p, FILE *out, size_t n)
{
	while (n > 0) {
		size_t k;

		if (resp_fill(p) == -1)
			return -1;
		k = p->len - p->pos < n ? p->len - p->pos : n;
		if (out != NULL)
			fwrite(p->buf + p->pos, 1, k, out);
		p->pos += k;
		n -= k;
	}
	return 0;
}

/* One line without its CRLF into line (cut at size - 1): 0, or -1. */
static int
resp_line(struct resp *p, char *line, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c;

		if (resp_fill(p) == -1)
			return -1;
		c = p->buf[p->pos++];
		if (c == '\n')
			break;
		if (n + 1 < size)
			line[n++] = c;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return 0;
}

/* One reply, written to out as redis_cmd describes: 0, or -1. */
static int
resp_reply(struct resp *p, FILE *out)
{
	char line[1024];
	long n, i;

	if (resp_line(p, line, sizeof(line)) == -1)
		return -1;
	switch (line[0]) {
	case '+':
	case '-':
	case ':':
		fputs(line, out);
		return 0;
	case '$':
		if ((n = atol(line + 1)) < 0) {
			fputs("(nil)", out);
			return 0;
		}
		return resp_bytes(p, out, (size_t)n) == -1 ||
		    resp_bytes(p, NULL, 2) == -1 ? -1 : 0;
	case '*':
		n = atol(line + 1);
		for (i = 0; i < n; i++) {
			if (i > 0)
				fputc('\n', out);
			if (resp_reply(p, out) == -1)
				return -1;
		}
		return 0;
	default:
		return -1;
	}
}

char *
redis_cmd(const struct redis *r, const char *arg, ...)
{
	struct resp *p;
	const char *a;
	char *cmd = NULL, *reply = NULL;
	size_t cmd_len = 0, reply_len = 0;
	FILE *f;
	va_list ap;
	int argc = 0, ok;

	va_start(ap, arg);
	for (a = arg; a != NULL; a = va_arg(ap, const char *))
		argc++;
	va_end(ap);
	if ((f = open_memstream(&cmd, &cmd_len)) == NULL)
		return NULL;
	fprintf(f, "*%d\r\n", argc);
	va_start(ap, arg);
	for (a = arg; a != NULL; a = va_arg(ap, const char *))
		fprintf(f, "$%zu\r\n%s\r\n", strlen(a), a);
	va_end(ap);
	fclose(f);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->fd = redis_connect(r)) == -1) {
		free(p);
		free(cmd);
		return NULL;
	}
	p->deadline = ms_now() + 5000;
	ok = client_write(p->fd, cmd, cmd_len) == 0;
	free(cmd);
	if (ok && (f = open_memstream(&reply, &reply_len)) != NULL) {
		ok = resp_reply(p, f) == 0;
		fclose(f);
		if (!ok) {
			free(reply);
			reply = NULL;
		}
	}
	close(p->fd);
	free(p);
	return reply;
}

/* Fork and exec redis-server as r says; 0, or -1 if it cannot run. */
static int
redis_spawn(struct redis *r)
{
	const char *bin = getenv("REDIS_SERVER");
	char port[16], out[300];
	const char *argv[32];
	pid_t parent = getpid();
	int n = 0;

	if (bin == NULL || *bin == '\0')
		bin = "redis-server";
	snprintf(port, sizeof(port), "%u", r->port);
	argv[n++] = "redis-server";
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = port;
	if (r->sock[0] != '\0') {
		argv[n++] = "--unixsocket";
		argv[n++] = r->sock;
		argv[n++] = "--unixsocketperm";
		argv[n++] = "700";
	}
	argv[n++] = "--dir";
	argv[n++] = r->dir;
	argv[n++] = "--logfile";
	argv[n++] = r->log;
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = r->persist ? "yes" : "no";
	if (r->persist) {
		argv[n++] = "--appendfsync";
		argv[n++] = "always";
	}
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/redis.out", r->dir);
	if ((r->pid = fork()) == -1)
		return -1;
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

/* Wait up to 10 s for r to answer PING: 0, or -1 if it exited or hung
 * (then it is killed). */
static int
redis_ready(struct redis *r)
{
	long deadline = ms_now() + 10000;

	while (ms_now() < deadline) {
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
		poll(NULL, 0, 10);
	}
	redis_kill(r, SIGKILL);
	return -1;
}

int
redis_start(struct redis *r, int unix_socket, int persist)
{
	int attempt;

	memset(r, 0, sizeof(*r));
	r->persist = persist;
	strcpy(r->dir, "/tmp/inboxd-redis-XXXXXX");
	if (mkdtemp(r->dir) == NULL)
		return -1;
	snprintf(r->log, sizeof(r->log), "%s/redis.log", r->dir);
	if (unix_socket) {
		snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
		snprintf(r->url, sizeof(r->url), "unix:%s", r->sock);
		if (redis_spawn(r) == -1)
			return -1;
		return redis_ready(r);
	}
	/* The port may be taken between its pick and the bind: again. */
	for (attempt = 0; attempt < 5; attempt++) {
		if ((r->port = free_loopback_port()) == 0)
			return -1;
		snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%u/0",
		    r->port);
		if (redis_spawn(r) == -1)
			return -1;
		if (redis_ready(r) == 0)
			return 0;
	}
	return -1;
}

int
redis_restart(struct redis *r)
{
	if (r->pid > 0)
		return -1;
	if (redis_spawn(r) == -1)
		return -1;
	return redis_ready(r);
}

int
redis_kill(struct redis *r, int sig)
{
	int status;

	if (r->pid <= 0)
		return -1;
	kill(r->pid, sig);
	if (waitpid(r->pid, &status, 0) != r->pid)
		return -1;
	r->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* nftw callback: remove each file, then its directory. */
static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
redis_cleanup(struct redis *r)
{
	if (r->pid > 0)
		redis_kill(r, SIGKILL);
	if (r->dir[0] == '\0')
		return;
	/* Log, socket, and the append-only directory of Redis 7. */
	nftw(r->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	r->dir[0] = '\0';
}

/* ---------------------------------------------------------- cluster */

/* Start the nodes of cl on url with conf: 0, or -1 with reason filled
 * and whatever started stopped (cl's Redis too, and cl freed). */
static int
cluster_nodes_start(struct inboxd *d, struct cluster *cl, const char *conf,
    const char *url, char *reason, size_t rlen)
{
	size_t len = strlen(conf);
	char *text;
	int i;

	if ((text = malloc(len + 512 + strlen(url))) == NULL) {
		snprintf(reason, rlen, "out of memory");
		redis_cleanup(&cl->redis);
		free(cl);
		return -1;
	}
	for (i = 0; i < CLUSTER_NODES; i++) {
		sprintf(text, "%s%sstore redis\nredis-url %s\nnode-id node-%d\n",
		    conf, len > 0 && conf[len - 1] != '\n' ? "\n" : "", url,
		    i + 1);
		if (inboxd_start(&cl->node[i], text) == -1) {
			snprintf(reason, rlen, "node %d did not start on %s; "
			    "see %s", i + 1, url, cl->node[i].log);
			while (--i >= 0) {
				inboxd_kill(&cl->node[i], SIGKILL);
				inboxd_cleanup(&cl->node[i]);
			}
			redis_cleanup(&cl->redis);
			free(cl);
			free(text);
			return -1;
		}
	}
	free(text);
	*d = cl->node[0];
	d->cluster = cl;
	/* The first request goes to node 1: see cluster_next_port. */
	cl->next = 1;
	return 0;
}

int
cluster_start(struct inboxd *d, const char *conf, int flags,
    const char **why)
{
	static char reason[700];
	struct cluster *cl = calloc(1, sizeof(*cl));

	memset(d, 0, sizeof(*d));
	*why = reason;
	if (cl == NULL) {
		snprintf(reason, sizeof(reason), "out of memory");
		return -1;
	}
	if (redis_start(&cl->redis, flags & CLUSTER_REDIS_UNIX,
	    flags & CLUSTER_REDIS_PERSIST) == -1) {
		snprintf(reason, sizeof(reason), "redis-server did not start "
		    "(install the Debian package redis-server, or set "
		    "REDIS_SERVER); see %s and %s/redis.out", cl->redis.log,
		    cl->redis.dir);
		/* Keep the directory for the reason above to point at. */
		if (cl->redis.pid > 0)
			redis_kill(&cl->redis, SIGKILL);
		free(cl);
		return -1;
	}
	return cluster_nodes_start(d, cl, conf, cl->redis.url, reason,
	    sizeof(reason));
}

int
cluster_start_on(struct inboxd *d, const char *conf, const char *url,
    const char **why)
{
	static char reason[700];
	struct cluster *cl = calloc(1, sizeof(*cl));

	memset(d, 0, sizeof(*d));
	*why = reason;
	if (cl == NULL) {
		snprintf(reason, sizeof(reason), "out of memory");
		return -1;
	}
	return cluster_nodes_start(d, cl, conf, url, reason, sizeof(reason));
}

int
cluster_restart_node(struct inboxd *d, int node)
{
	struct inboxd *n = &d->cluster->node[node];
	char *text;
	int ret;

	if (n->pid > 0 || (text = read_file(n->conf, NULL)) == NULL)
		return -1;
	inboxd_cleanup(n);
	ret = inboxd_start(n, text);
	free(text);
	if (ret == 0 && node == 0) {
		/* d describes node 0. */
		d->pid = n->pid;
		memcpy(d->dir, n->dir, sizeof(d->dir));
		memcpy(d->conf, n->conf, sizeof(d->conf));
		memcpy(d->log, n->log, sizeof(d->log));
	}
	return ret;
}

unsigned
cluster_next_port(struct inboxd *d)
{
	struct cluster *cl = d->cluster;

	if (cl == NULL)
		return d->port;
	d->port = cl->node[cl->next].port;
	cl->next = (cl->next + 1) % CLUSTER_NODES;
	return d->port;
}
