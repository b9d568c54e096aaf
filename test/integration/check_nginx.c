/*
 * check_nginx.c - inboxd behind a real nginx configured by the shipped
 * etc/nginx/inboxd.conf, over TCP and over a Unix socket: a held GET
 * woken through the proxy, the headers that must pass it unchanged
 * (X-From, CORS, WWW-Authenticate, JSON errors), /metrics kept in, and
 * the client address inboxd takes from X-Forwarded-For.
 *
 * Every test starts its own inboxd and its own nginx (one process,
 * daemon off, master_process off, every path in a temporary directory)
 * on 127.0.0.1 and a free port below the ephemeral range.  nginx comes
 * from the Debian package `nginx'; $NGINX names another binary.  The
 * shipped file is used as it is but for the lines that name where things
 * are (see nginx_site): the directives under test are the ones that ship.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"
#include "harness.h"

#define OTHER "127.0.0.2" /* a second client address (client_connect_from) */
#define EXPOSE \
	"X-From, X-To, X-Message-Id, Retry-After, X-Room, X-Event"
#define NGINX_PACKAGE "nginx" /* the Debian package */
#define PORT_LOW 20000        /* nginx's port: below the ephemeral range */
#define PORT_HIGH 32767
#define START_MS 10000 /* for nginx to come up */
#define STOP_MS 5000   /* for nginx to exit after SIGTERM */

struct nginx {
	pid_t pid;
	unsigned port;
	char dir[256];        /* temporary directory of this test */
	char sock[300];       /* inboxd's Unix socket, in dir */
	char conf[300];       /* nginx.conf */
	char error_log[300];
};

/* -------------------------------------------------------------- nginx */

/* The nginx binary: $NGINX, or nginx in /usr/sbin or the PATH. */
static const char *
nginx_binary(void)
{
	static char found[512];
	const char *env = getenv("NGINX"), *path = getenv("PATH");
	char buf[4096], *dir, *save = NULL;

	if (env != NULL && *env != '\0') {
		ck_assert_msg(access(env, X_OK) == 0, "NGINX=%s: %s", env,
		    strerror(errno));
		return env;
	}
	if (access("/usr/sbin/nginx", X_OK) == 0)
		return "/usr/sbin/nginx";
	snprintf(buf, sizeof(buf), "%s", path != NULL ? path : "/usr/bin");
	for (dir = strtok_r(buf, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof(found), "%s/nginx", dir);
		if (access(found, X_OK) == 0)
			return found;
	}
	return NULL;
}

/* A fresh temporary directory for one test's nginx and socket. */
static void
nginx_dir(struct nginx *n)
{
	memset(n, 0, sizeof(*n));
	strcpy(n->dir, "/tmp/inboxd-nginx-XXXXXX");
	ck_assert_msg(mkdtemp(n->dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(n->sock, sizeof(n->sock), "%s/inboxd.sock", n->dir);
	snprintf(n->conf, sizeof(n->conf), "%s/nginx.conf", n->dir);
	snprintf(n->error_log, sizeof(n->error_log), "%s/error.log", n->dir);
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

/* Remove n's directory with all nginx left in it. */
static void
nginx_cleanup(struct nginx *n)
{
	if (n->dir[0] != '\0')
		nftw(n->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	n->dir[0] = '\0';
}

/* Append the printf-style text to the growing buffer *out. */
static void
put(char **out, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(k, 0);
	p = realloc(*out, *len + (size_t)k + 1);
	ck_assert_ptr_nonnull(p);
	*out = p;
	va_start(ap, fmt);
	vsnprintf(*out + *len, (size_t)k + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)k;
}

/*
 * The shipped etc/nginx/inboxd.conf for this test: the upstream's server
 * line names upstream, the first listen line 127.0.0.1:port (the other
 * listen lines and every ssl_ line go: the test speaks plain HTTP), and
 * the logs go to the test's directory.  Every other line is kept as it
 * ships.  Fails the test when the file no longer has the lines expected.
 */
static char *
nginx_site(const struct nginx *n, const char *upstream)
{
	const char *etc = getenv("ETCDIR");
	char path[512], *text, *line, *next, *out = NULL;
	size_t len = 0;
	int servers = 0, listens = 0;

	snprintf(path, sizeof(path), "%s/nginx/inboxd.conf",
	    etc != NULL ? etc : "etc");
	text = read_file(path, NULL);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	for (line = text; *line != '\0'; line = next) {
		const char *t = line;
		size_t indent;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		while (*t == ' ' || *t == '\t')
			t++;
		indent = (size_t)(t - line);
		if (strncmp(t, "server ", 7) == 0 && t[7] != '{') {
			servers++;
			put(&out, &len, "%.*sserver %s;\n", (int)indent, line,
			    upstream);
		} else if (strncmp(t, "listen ", 7) == 0) {
			if (listens++ == 0)
				put(&out, &len, "%.*slisten 127.0.0.1:%u;\n",
				    (int)indent, line, n->port);
		} else if (strncmp(t, "ssl_", 4) == 0)
			continue;
		else if (strncmp(t, "access_log ", 11) == 0)
			put(&out, &len, "%.*saccess_log %s/access.log;\n",
			    (int)indent, line, n->dir);
		else if (strncmp(t, "error_log ", 10) == 0)
			put(&out, &len, "%.*serror_log %s info;\n",
			    (int)indent, line, n->error_log);
		else
			put(&out, &len, "%s\n", line);
	}
	free(text);
	ck_assert_msg(servers == 1 && listens >= 1, "%s: expected one "
	    "upstream `server ADDRESS;' line and a listen line, found %d "
	    "and %d", path, servers, listens);
	return out;
}

/*
 * The value of the first uncommented `name VALUE;' line of text: a
 * number with an optional suffix, seconds for s and bytes for k and m
 * (nginx's units).  Fails the test when there is none.
 */
static unsigned long
directive(const char *text, const char *name)
{
	const char *p = text;
	size_t len = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		const char *bol = p;
		char *end;
		unsigned long v;

		while (bol > text && (bol[-1] == ' ' || bol[-1] == '\t'))
			bol--;
		if ((bol == text || bol[-1] == '\n') && p[len] == ' ') {
			v = strtoul(p + len + 1, &end, 10);
			if (*end == 'k')
				v *= 1024;
			else if (*end == 'm')
				v *= 1024 * 1024;
			return v;
		}
		p += len;
	}
	ck_abort_msg("etc/nginx/inboxd.conf has no %s", name);
	return 0;
}

/* A port below the ephemeral range that nothing listens on now. */
static unsigned
free_port(void)
{
	static unsigned next;
	struct sockaddr_in sin;
	unsigned tries;

	if (next == 0)
		next = PORT_LOW + (unsigned)getpid() % (PORT_HIGH - PORT_LOW);
	for (tries = 0; tries < PORT_HIGH - PORT_LOW; tries++) {
		unsigned port = next;
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		next = next >= PORT_HIGH ? PORT_LOW : next + 1;
		ck_assert_int_ne(fd, -1);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	ck_abort_msg("no free port from %d to %d", PORT_LOW, PORT_HIGH);
	return 0;
}

/* Write nginx.conf around the site for upstream, on n->port. */
static void
nginx_write_conf(const struct nginx *n, const char *upstream)
{
	char *site = nginx_site(n, upstream);
	FILE *f = fopen(n->conf, "w");

	ck_assert_msg(f != NULL, "%s: %s", n->conf, strerror(errno));
	fprintf(f, "daemon off;\nmaster_process off;\nworker_processes 1;\n"
	    "pid %s/nginx.pid;\nerror_log %s info;\n"
	    "events {\n\tworker_connections 256;\n}\n", n->dir, n->error_log);
	fprintf(f, "http {\n\taccess_log %s/access.log;\n", n->dir);
	fprintf(f, "\tclient_body_temp_path %s/client_body;\n", n->dir);
	fprintf(f, "\tproxy_temp_path %s/proxy;\n", n->dir);
	fprintf(f, "\tfastcgi_temp_path %s/fastcgi;\n", n->dir);
	fprintf(f, "\tuwsgi_temp_path %s/uwsgi;\n", n->dir);
	fprintf(f, "\tscgi_temp_path %s/scgi;\n", n->dir);
	fprintf(f, "# ---- etc/nginx/inboxd.conf\n%s# ---- end\n}\n", site);
	fclose(f);
	free(site);
}

/* The text of nginx's error log, for failure messages ("" if none). */
static char *
nginx_errors(const struct nginx *n)
{
	char *text = read_file(n->error_log, NULL);

	return text != NULL ? text : strdup("");
}

/* Fork and exec nginx on n->conf; 0 once it accepts, -1 if it exited. */
static int
nginx_spawn(struct nginx *n)
{
	const char *bin = nginx_binary();
	char prefix[300], out[300];
	pid_t parent = getpid();
	long deadline;

	ck_assert_msg(bin != NULL, "nginx not found: install the Debian "
	    "package `%s' (apt-get install %s), or set NGINX", NGINX_PACKAGE,
	    NGINX_PACKAGE);
	snprintf(prefix, sizeof(prefix), "%s/", n->dir);
	snprintf(out, sizeof(out), "%s/nginx.out", n->dir);
	ck_assert_int_ne(n->pid = fork(), -1);
	if (n->pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execl(bin, "nginx", "-p", prefix, "-c", n->conf, "-e",
		    n->error_log, (char *)NULL);
		_exit(127);
	}
	deadline = client_now_ms() + START_MS;
	while (client_now_ms() < deadline) {
		int status, fd;

		if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
			n->pid = 0;
			return -1;
		}
		if ((fd = client_connect(n->port)) != -1) {
			close(fd);
			return 0;
		}
		sleep_ms(10);
	}
	kill(n->pid, SIGKILL);
	waitpid(n->pid, NULL, 0);
	n->pid = 0;
	ck_abort_msg("nginx did not accept on 127.0.0.1:%u within %d ms",
	    n->port, START_MS);
	return -1;
}

/*
 * Start nginx in n->dir in front of upstream ("127.0.0.1:PORT" or
 * "unix:PATH"); a port taken meanwhile by another process is retried.
 */
static void
nginx_start(struct nginx *n, const char *upstream)
{
	char *log, out[300], *text;
	int attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		n->port = free_port();
		nginx_write_conf(n, upstream);
		if (nginx_spawn(n) == 0)
			return;
		log = nginx_errors(n);
		if (strstr(log, "Address already in use") == NULL) {
			snprintf(out, sizeof(out), "%s/nginx.out", n->dir);
			text = read_file(out, NULL);
			ck_abort_msg("nginx did not start (%s):\n%s%s",
			    n->conf, log, text != NULL ? text : "");
		}
		free(log);
	}
	ck_abort_msg("nginx: no free port after %d attempts", attempt);
}

/*
 * Stop nginx (SIGTERM: fast shutdown): it must exit 0, and its error log
 * must hold nothing at level error or worse; no upstream failure, no
 * connection inboxd closed under a request.
 */
static void
nginx_stop(struct nginx *n)
{
	long deadline = client_now_ms() + STOP_MS;
	int status = 0;
	pid_t p = 0;
	char *log;

	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		while ((p = waitpid(n->pid, &status, WNOHANG)) == 0 &&
		    client_now_ms() < deadline)
			sleep_ms(10);
		if (p != n->pid) {
			kill(n->pid, SIGKILL);
			waitpid(n->pid, NULL, 0);
		}
		n->pid = 0;
	}
	log = nginx_errors(n);
	ck_assert_msg(p > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "nginx did not exit 0 after SIGTERM:\n%s", log);
	ck_assert_msg(strstr(log, "[error]") == NULL &&
	    strstr(log, "[crit]") == NULL && strstr(log, "[alert]") == NULL &&
	    strstr(log, "[emerg]") == NULL, "nginx logged errors:\n%s", log);
	free(log);
	nginx_cleanup(n);
}

/* ------------------------------------------------------------ clients */

/* One request to nginx from 127.0.0.1: the status, or -1. */
static int
via(struct nginx *n, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t len, struct response *r)
{
	return client_request(n->port, method, target, user, password, extra,
	    body, len, r);
}

/*
 * The client address inboxd's access log gives for the request of user
 * (the line ending in "USER"); fails when no such line shows up in 3 s
 * (lines are written in batches, every tick).
 */
static void
logged_client(struct inboxd *d, const char *user, char client[64])
{
	char needle[300], *line;

	snprintf(needle, sizeof(needle), " \"%s\"", user);
	line = inboxd_log_line(d, needle, 3000);
	ck_assert_msg(line != NULL, "no access log line for %s in %s", user,
	    d->log);
	/* TIME CLIENT METHOD "PATH" STATUS BYTES MS "USER" */
	ck_assert_msg(sscanf(line, "%*s %63s", client) == 1,
	    "malformed access log line: %s", line);
	free(line);
}

/*
 * A first contact as user through nginx from src, with X-Forwarded-For:
 * xff when xff is not NULL; inboxd must log the client as expect.
 */
static void
assert_client(struct inboxd *d, struct nginx *n, const char *src,
    const char *xff, const char *user, const char *expect)
{
	char extra[256] = "", client[64];

	if (xff != NULL)
		snprintf(extra, sizeof(extra), "X-Forwarded-For: %s\r\n", xff);
	ck_assert_int_eq(client_request_from(n->port, src, "GET",
	    "/inbox?wait=0", user, "pw", extra, NULL, 0, NULL), 204);
	logged_client(d, user, client);
	ck_assert_msg(strcmp(client, expect) == 0, "from %s with "
	    "X-Forwarded-For %s through nginx: inboxd logged %s, expected %s",
	    src, xff != NULL ? xff : "(none)", client, expect);
}

/* The CORS headers of every inboxd reply, byte for byte through nginx. */
static void
assert_cors_intact(const struct response *r)
{
	const char *v = response_header(r, "Access-Control-Allow-Origin");

	ck_assert_msg(v != NULL && strcmp(v, "*") == 0,
	    "Access-Control-Allow-Origin %s through nginx:\n%s",
	    v != NULL ? v : "(none)", r->head);
	v = response_header(r, "Access-Control-Expose-Headers");
	ck_assert_msg(v != NULL && strcmp(v, EXPOSE) == 0,
	    "Access-Control-Expose-Headers %s through nginx:\n%s",
	    v != NULL ? v : "(none)", r->head);
}

/* ------------------------------------------------ through the proxy */

/*
 * Requests one after the other all go over one upstream connection,
 * which stays open: keepalive, HTTP/1.1 and an empty Connection header
 * at work.  Called before any other request reaches inboxd.
 */
static void
upstream_is_kept_alive(struct inboxd *d, struct nginx *n)
{
	int before = process_sockets(d->pid), i, after;

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(via(n, "GET", "/healthz", NULL, NULL, NULL,
		    NULL, 0, NULL), 200);
	after = process_sockets(d->pid);
	ck_assert_msg(after == before + 1, "inboxd had %d sockets before 5 "
	    "requests through nginx and %d after, expected one kept-alive "
	    "connection more", before, after);
}

/* A GET held in inboxd through nginx is woken by a POST through nginx. */
static void
held_get_is_woken(struct nginx *n)
{
	static const char sdp[] = "v=0\r\no=- 4611731400430051336 2 IN IP4 "
	    "127.0.0.1\r\ns=-\r\n";
	struct response r;
	long sent, woken;
	int fd;

	ck_assert_int_eq(via(n, "GET", "/inbox?wait=0", "alice", "pw", NULL,
	    NULL, 0, NULL), 204);
	ck_assert_int_eq(via(n, "GET", "/inbox?wait=0", "bob", "pw", NULL,
	    NULL, 0, NULL), 204);
	fd = client_send(n->port, "GET", "/inbox?wait=5", "alice", "pw", NULL,
	    NULL, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(client_quiet(fd, 500), "a GET on an empty inbox was "
	    "answered through nginx instead of held");
	sent = client_now_ms();
	ck_assert_int_eq(via(n, "POST", "/inbox?to=alice", "bob", "pw",
	    "Content-Type: application/sdp\r\n", sdp, strlen(sdp), &r), 204);
	assert_cors_intact(&r);
	response_free(&r);
	ck_assert_msg(client_read(fd, &r, 4000) == 0, "the held GET was not "
	    "answered through nginx");
	woken = client_now_ms() - sent;
	close(fd);
	printf("held GET through nginx woken %ld ms after the send\n", woken);
	ck_assert_msg(r.status == 200, "held GET: %d\n%s", r.status, r.head);
	ck_assert_uint_eq(r.body_len, strlen(sdp));
	ck_assert(memcmp(r.body, sdp, r.body_len) == 0);
	ck_assert_str_eq(response_header(&r, "X-From"), "bob");
	ck_assert_str_eq(response_header(&r, "Content-Type"),
	    "application/sdp");
	ck_assert_ptr_nonnull(response_header(&r, "X-Message-Id"));
	ck_assert_str_eq(response_header(&r, "Cache-Control"), "no-store");
	assert_cors_intact(&r);
	response_free(&r);
	/* Not a wait=5 that ran out: woken by the send (4 s bound above). */
	ck_assert_msg(woken < 4000, "woken after %ld ms", woken);
	/* A held GET that runs out is a 204 through nginx too. */
	ck_assert_int_eq(via(n, "GET", "/inbox?wait=1", "alice", "pw", NULL,
	    NULL, 0, &r), 204);
	assert_cors_intact(&r);
	response_free(&r);
}

/* Errors, preflights and /metrics through nginx. */
static void
replies_pass_intact(struct nginx *n)
{
	static char big[70 * 1024];
	struct response r;
	const char *v;

	/* 401 with its challenge (RFC 7617) and JSON body. */
	ck_assert_int_eq(via(n, "GET", "/inbox?wait=0", NULL, NULL, NULL,
	    NULL, 0, &r), 401);
	assert_error(&r, 401, "unauthorized");
	v = response_header(&r, "WWW-Authenticate");
	ck_assert_msg(v != NULL &&
	    strcmp(v, "Basic realm=\"inboxd\", charset=\"UTF-8\"") == 0,
	    "WWW-Authenticate through nginx: %s", v != NULL ? v : "(none)");
	assert_cors_intact(&r);
	response_free(&r);
	/* A wrong password is inboxd's 401 too, not a proxy page. */
	ck_assert_int_eq(via(n, "GET", "/inbox?wait=0", "alice", "wrong",
	    NULL, NULL, 0, &r), 401);
	assert_error(&r, 401, "unauthorized");
	response_free(&r);
	/* The preflight. */
	ck_assert_int_eq(via(n, "OPTIONS", "/inbox", NULL, NULL,
	    "Origin: https://app.example\r\n"
	    "Access-Control-Request-Method: POST\r\n"
	    "Access-Control-Request-Headers: authorization\r\n", NULL, 0, &r),
	    204);
	ck_assert_ptr_nonnull(response_header(&r,
	    "Access-Control-Allow-Methods"));
	ck_assert_ptr_nonnull(response_header(&r,
	    "Access-Control-Allow-Headers"));
	assert_cors_intact(&r);
	response_free(&r);
	/* Over max-message-size (64K) but under nginx's limit: inboxd's own
	 * JSON 413, readable by a browser. */
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(via(n, "POST", "/inbox?to=alice", "bob", "pw", NULL,
	    big, sizeof(big), &r), 413);
	assert_error(&r, 413, "payload_too_large");
	assert_cors_intact(&r);
	response_free(&r);
	/* /metrics stays in, however it is spelled. */
	ck_assert_int_eq(via(n, "GET", "/metrics", NULL, NULL, NULL, NULL, 0,
	    &r), 404);
	ck_assert_ptr_null(strstr(r.body, "# TYPE"));
	response_free(&r);
	ck_assert_int_eq(via(n, "GET", "/%6detrics", NULL, NULL, NULL, NULL,
	    0, &r), 404);
	ck_assert_ptr_null(strstr(r.body, "# TYPE"));
	response_free(&r);
	ck_assert_int_eq(via(n, "GET", "/healthz", NULL, NULL, NULL, NULL, 0,
	    &r), 200);
	response_free(&r);
}

/* What the shipped file must agree on with inboxd's defaults. */
START_TEST(test_shipped_timeouts_and_sizes_fit_inboxd_defaults)
{
	const char *etc = getenv("ETCDIR");
	char path[512], *text;
	struct config c;

	snprintf(path, sizeof(path), "%s/nginx/inboxd.conf",
	    etc != NULL ? etc : "etc");
	ck_assert_msg((text = read_file(path, NULL)) != NULL, "cannot read %s",
	    path);
	config_defaults(&c);
	/* nginx waits longer than inboxd holds a poll, or it answers 504. */
	ck_assert_uint_gt(directive(text, "proxy_read_timeout") * 1000,
	    c.max_wait_ms);
	/* An idle upstream connection is closed by nginx before inboxd's
	 * connection-timeout, so no request is written on a closing one. */
	ck_assert_uint_lt(directive(text, "keepalive_timeout") * 1000,
	    c.connection_timeout_ms);
	/* inboxd itself refuses a message over max-message-size (JSON 413
	 * with CORS), and nginx keeps whole bodies in memory. */
	ck_assert_uint_gt(directive(text, "client_max_body_size"),
	    c.max_message_size);
	ck_assert_uint_ge(directive(text, "client_body_buffer_size"),
	    directive(text, "client_max_body_size"));
	config_free(&c);
	free(text);
}
END_TEST

/* -------------------------------------------------------------- TCP */

/* inboxd on 127.0.0.1:PORT as upstream. */
static void
start_tcp(struct inboxd *d, struct nginx *n, const char *conf)
{
	char upstream[64];

	nginx_dir(n);
	start(d, conf);
	snprintf(upstream, sizeof(upstream), "127.0.0.1:%u", d->port);
	nginx_start(n, upstream);
}

START_TEST(test_tcp_held_get_is_woken_through_nginx_with_headers_intact)
{
	struct inboxd d;
	struct nginx n;

	start_tcp(&d, &n, "trusted-proxies 127.0.0.1\n");
	upstream_is_kept_alive(&d, &n);
	held_get_is_woken(&n);
	replies_pass_intact(&n);
	stop(&d);
	nginx_stop(&n);
}
END_TEST

/*
 * Clients that hang up on nginx while their GETs are held: nginx closes
 * its upstream connections, and inboxd releases the holds at once
 * (watch.h), the inboxes then served as ever.
 */
START_TEST(test_tcp_clients_hanging_up_on_nginx_release_their_holds)
{
	enum { N = 100 }; /* nginx's 256 worker_connections: two a GET */
	static int fd[N];
	struct inboxd d;
	struct nginx n;
	char name[32], *q;
	size_t len;
	long t0, took;
	int k, base, open_n;

	start_tcp(&d, &n, "argon2-time-cost 1\nargon2-memory-kib 8\n"
	    "trusted-proxies 127.0.0.1\n");
	for (k = 0; k < N; k++) {
		snprintf(name, sizeof(name), "n%d", k);
		contact(&d, name, "pw");
	}
	wait_metric(&d, "inboxd_waiters", 0, 5000);
	base = process_sockets(d.pid);
	for (k = 0; k < N; k++) {
		snprintf(name, sizeof(name), "n%d", k);
		fd[k] = client_connect(n.port);
		ck_assert_int_ge(fd[k], 0);
		q = client_build("GET", "/inbox?wait=60", name, "pw", NULL,
		    NULL, 0, &len);
		ck_assert_int_eq(client_write(fd[k], q, len), 0);
		free(q);
	}
	wait_metric(&d, "inboxd_waiters", N, 10000);
	t0 = client_now_ms();
	for (k = 0; k < N; k++) {
		if (k % 2)
			client_abort(fd[k]);
		else
			close(fd[k]);
	}
	wait_metric(&d, "inboxd_waiters", 0, 1000);
	while ((open_n = process_sockets(d.pid)) > base &&
	    client_now_ms() - t0 < 1000)
		sleep_ms(10);
	took = client_now_ms() - t0;
	printf("%d held GETs through nginx hung up: holds released, upstream "
	    "sockets closed within %ld ms\n", N, took);
	ck_assert_msg(open_n <= base, "%d upstream sockets still open",
	    open_n - base);
	for (k = 0; k < N; k += 9) {
		snprintf(name, sizeof(name), "n%d", k);
		ck_assert_int_eq(send_to(&d, "s", "pw", name, NULL, "m", 1,
		    NULL), 204);
		ck_assert_int_eq(get(&d, name, "pw", "/inbox?wait=0", NULL),
		    200);
	}
	stop(&d);
	nginx_stop(&n);
}
END_TEST

START_TEST(test_tcp_client_is_forwarded_for_when_nginx_is_trusted)
{
	struct inboxd d;
	struct nginx n;

	start_tcp(&d, &n, "trusted-proxies 127.0.0.1\n");
	/* nginx appends 127.0.0.1, a trusted proxy: the client is left of
	 * it. */
	assert_client(&d, &n, "127.0.0.1", "203.0.113.9", "trusted1",
	    "203.0.113.9");
	/* From an untrusted client, its own claim is not believed. */
	assert_client(&d, &n, OTHER, "203.0.113.9", "spoof", OTHER);
	assert_client(&d, &n, OTHER, NULL, "plain", OTHER);
	stop(&d);
	nginx_stop(&n);
}
END_TEST

START_TEST(test_tcp_client_is_nginx_when_nginx_is_not_trusted)
{
	struct inboxd d;
	struct nginx n;

	start_tcp(&d, &n, "");
	assert_client(&d, &n, "127.0.0.1", "203.0.113.9", "untrusted1",
	    "127.0.0.1");
	/* nginx connects from 127.0.0.1, whoever its client is. */
	assert_client(&d, &n, OTHER, "203.0.113.9", "untrusted2",
	    "127.0.0.1");
	stop(&d);
	nginx_stop(&n);
}
END_TEST

/* ------------------------------------------------------- Unix socket */

/* inboxd on unix:n->sock as upstream. */
static void
start_unix(struct inboxd *d, struct nginx *n, const char *conf)
{
	char listen[320];

	nginx_dir(n);
	snprintf(listen, sizeof(listen), "unix:%s", n->sock);
	start_on(d, conf, listen);
	nginx_start(n, listen);
}

/* The address of the Unix socket path. */
static void
unix_address(struct sockaddr_un *sun, const char *path)
{
	size_t len = strlen(path);

	ck_assert_uint_lt(len, sizeof(sun->sun_path));
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
}

/* One request straight to inboxd's Unix socket: the status, or -1. */
static int
unix_request(const char *path, const char *target, const char *user,
    const char *extra, struct response *r)
{
	struct sockaddr_un sun;
	size_t len;
	char *text;
	int fd, status = -1;

	memset(r, 0, sizeof(*r));
	unix_address(&sun, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	text = client_build("GET", target, user, "pw", extra, NULL, 0, &len);
	if (text != NULL && client_write(fd, text, len) == 0 &&
	    client_read(fd, r, 5000) == 0)
		status = r->status;
	free(text);
	close(fd);
	return status;
}

START_TEST(test_unix_held_get_is_woken_through_nginx_with_headers_intact)
{
	struct inboxd d;
	struct nginx n;

	start_unix(&d, &n, "");
	upstream_is_kept_alive(&d, &n);
	held_get_is_woken(&n);
	replies_pass_intact(&n);
	stop(&d);
	nginx_stop(&n);
}
END_TEST

START_TEST(test_unix_peer_is_the_proxy_so_forwarded_for_is_believed)
{
	struct inboxd d;
	struct nginx n;
	struct response r;
	char client[64];

	start_unix(&d, &n, "");
	/* nginx's X-Forwarded-For ends with its own client: that one. */
	assert_client(&d, &n, OTHER, NULL, "unix1", OTHER);
	assert_client(&d, &n, OTHER, "203.0.113.9", "unix2", OTHER);
	assert_client(&d, &n, "127.0.0.1", "203.0.113.9", "unix3",
	    "127.0.0.1");
	/* Straight on the socket without the header: no address. */
	ck_assert_int_eq(unix_request(n.sock, "/inbox?wait=0", "local", NULL,
	    &r), 204);
	response_free(&r);
	logged_client(&d, "local", client);
	ck_assert_str_eq(client, "-");
	stop(&d);
	nginx_stop(&n);
}
END_TEST

START_TEST(test_unix_peer_walks_past_trusted_proxies_in_forwarded_for)
{
	struct inboxd d;
	struct nginx n;

	start_unix(&d, &n, "trusted-proxies 127.0.0.1\n");
	assert_client(&d, &n, "127.0.0.1", "203.0.113.9", "walk1",
	    "203.0.113.9");
	assert_client(&d, &n, OTHER, "203.0.113.9", "walk2", OTHER);
	stop(&d);
	nginx_stop(&n);
}
END_TEST

/* A Unix socket bound and closed without unlinking: a stale file. */
static void
make_stale_socket(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ne(fd, -1);
	unix_address(&sun, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
}

START_TEST(test_unix_socket_is_0660_replaces_a_stale_one_and_is_removed)
{
	struct inboxd d, second;
	struct nginx n;
	struct response r;
	struct stat st, st2;
	char listen[320], *line;
	FILE *f;

	nginx_dir(&n);
	snprintf(listen, sizeof(listen), "unix:%s", n.sock);
	/* A regular file in the way is not removed. */
	ck_assert_ptr_nonnull(f = fopen(n.sock, "w"));
	fclose(f);
	ck_assert_int_eq(inboxd_start_on(&second, FAST, listen), -1);
	line = inboxd_log_line(&second, "is not a socket", 1000);
	ck_assert_msg(line != NULL, "no `not a socket' in %s", second.log);
	free(line);
	inboxd_cleanup(&second);
	ck_assert_int_eq(stat(n.sock, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	unlink(n.sock);
	/* A stale socket (its server gone) is replaced. */
	make_stale_socket(n.sock);
	start_on(&d, "", listen);
	ck_assert_int_eq(lstat(n.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_msg((st.st_mode & 07777) == 0660, "socket mode %o",
	    (unsigned)(st.st_mode & 07777));
	ck_assert_int_eq(unix_request(n.sock, "/healthz", NULL, NULL, &r),
	    200);
	response_free(&r);
	/* A live one is not: the second server refuses to start. */
	ck_assert_int_eq(inboxd_start_on(&second, FAST, listen), -1);
	line = inboxd_log_line(&second, "another server is listening", 1000);
	ck_assert_msg(line != NULL, "no `another server' in %s", second.log);
	free(line);
	inboxd_cleanup(&second);
	ck_assert_int_eq(lstat(n.sock, &st2), 0);
	ck_assert(st2.st_ino == st.st_ino);
	ck_assert_int_eq(unix_request(n.sock, "/healthz", NULL, NULL, &r),
	    200);
	response_free(&r);
	/* Removed at exit. */
	stop(&d);
	ck_assert_msg(lstat(n.sock, &st) == -1 && errno == ENOENT,
	    "%s is still there after inboxd exited", n.sock);
	nginx_cleanup(&n);
}
END_TEST

/* ------------------------------------------------------------- suite */

static Suite *
nginx_suite(void)
{
	Suite *s = suite_create("nginx");
	TCase *tc;

	tc = tcase(s, "shipped", 5);
	tcase_add_test(tc, test_shipped_timeouts_and_sizes_fit_inboxd_defaults);

	tc = tcase(s, "tcp", 30);
	tcase_add_test(tc,
	    test_tcp_held_get_is_woken_through_nginx_with_headers_intact);
	tcase_add_test(tc,
	    test_tcp_clients_hanging_up_on_nginx_release_their_holds);
	tcase_add_test(tc, test_tcp_client_is_forwarded_for_when_nginx_is_trusted);
	tcase_add_test(tc, test_tcp_client_is_nginx_when_nginx_is_not_trusted);

	tc = tcase(s, "unix", 30);
	tcase_add_test(tc,
	    test_unix_held_get_is_woken_through_nginx_with_headers_intact);
	tcase_add_test(tc,
	    test_unix_peer_is_the_proxy_so_forwarded_for_is_believed);
	tcase_add_test(tc,
	    test_unix_peer_walks_past_trusted_proxies_in_forwarded_for);
	tcase_add_test(tc,
	    test_unix_socket_is_0660_replaces_a_stale_one_and_is_removed);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(nginx_suite());
}
