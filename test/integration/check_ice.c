/*
 * check_ice.c - GET /ice (SPEC section 9): the ICE servers and the TURN
 * REST credentials inboxd hands out, checked against an HMAC-SHA1
 * computed by openssl(1), and used for real: a coturn (Debian's package
 * `coturn') started by each test on loopback with the shipped
 * etc/coturn/turnserver.conf allocates a relay for them with its own
 * client, turnutils_uclient, and refuses them altered or expired.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define SECRET "a shared secret: spaces, colons and all"
#define START_MS 10000 /* for coturn to answer STUN */
#define ICE_CONF \
	"stun-uris stun:127.0.0.1:3478 stuns:127.0.0.1:5349\n" \
	"turn-uris turn:127.0.0.1:%u?transport=udp " \
	"turn:127.0.0.1:%u?transport=tcp\n" \
	"turn-secret " SECRET "\n" \
	"turn-ttl 600\n"

struct coturn {
	pid_t pid;
	unsigned port;
	char dir[64];
	char conf[128];
	char log[128];
};

/* A program of the coturn package: $name in the environment, or name. */
static const char *
coturn_bin(const char *env, const char *name)
{
	const char *bin = getenv(env);

	return bin != NULL && *bin != '\0' ? bin : name;
}

/* Run argv (argv[0] on the PATH) with output appended to log; its exit
 * status. */
static int
run(char *const argv[], const char *log)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execvp(argv[0], argv);
		dprintf(fd, "cannot run %s\n", argv[0]);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Write c->conf: the shipped configuration, less the lines that say
 * where things are, which this test's follow.
 */
static void
coturn_write_conf(struct coturn *c)
{
	static const char *const own[] = { "listening-port=", "min-port=",
	    "max-port=", "static-auth-secret=", "log-file=", NULL };
	char path[256], line[512];
	const char *etc = getenv("ETCDIR");
	FILE *in, *out;
	unsigned i;

	snprintf(path, sizeof(path), "%s/coturn/turnserver.conf",
	    etc != NULL ? etc : "etc");
	ck_assert_msg((in = fopen(path, "r")) != NULL, "cannot read %s", path);
	ck_assert((out = fopen(c->conf, "w")) != NULL);
	while (fgets(line, sizeof(line), in) != NULL) {
		for (i = 0; own[i] != NULL; i++)
			if (strncmp(line, own[i], strlen(own[i])) == 0)
				break;
		if (own[i] == NULL)
			fputs(line, out);
	}
	fclose(in);
	/* Relay ports: 20 above the listening port, below the ephemeral. */
	fprintf(out, "listening-port=%u\nmin-port=%u\nmax-port=%u\n"
	    "static-auth-secret=%s\nlog-file=%s\npidfile=%s/turnserver.pid\n"
	    "userdb=%s/turndb\n", c->port, c->port + 10, c->port + 40, SECRET,
	    c->log, c->dir, c->dir);
	fclose(out);
}

/* Start coturn; fails the test unless it answers a STUN binding. */
static void
coturn_start(struct coturn *c)
{
	char port[8], stun_log[160];
	/* It waits for ever for an answer that does not come: timeout(1). */
	char *stun[] = { "timeout", "1", (char *)coturn_bin(
	    "TURNUTILS_STUNCLIENT", "turnutils_stunclient"), "-p", port,
	    "127.0.0.1", NULL };
	long deadline;

	memset(c, 0, sizeof(*c));
	strcpy(c->dir, "/tmp/inboxd-coturn-XXXXXX");
	ck_assert(mkdtemp(c->dir) != NULL);
	snprintf(c->conf, sizeof(c->conf), "%s/turnserver.conf", c->dir);
	snprintf(c->log, sizeof(c->log), "%s/turnserver.log", c->dir);
	snprintf(stun_log, sizeof(stun_log), "%s/stunclient.log", c->dir);
	/* A port with 50 above it free for relays, below the ephemeral. */
	c->port = 20000 + (unsigned)(getpid() % 200) * 60;
	snprintf(port, sizeof(port), "%u", c->port);
	coturn_write_conf(c);
	ck_assert_int_ne(c->pid = fork(), -1);
	if (c->pid == 0) {
		int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execlp(coturn_bin("TURNSERVER", "turnserver"), "turnserver",
		    "-c", c->conf, (char *)NULL);
		dprintf(fd, "cannot run turnserver: install the Debian "
		    "package coturn\n");
		_exit(127);
	}
	deadline = client_now_ms() + START_MS;
	while (run(stun, stun_log) != 0) {
		char *log = read_file(c->log, NULL);

		ck_assert_msg(waitpid(c->pid, NULL, WNOHANG) == 0 &&
		    client_now_ms() < deadline, "coturn did not answer STUN "
		    "on 127.0.0.1:%u:\n%s", c->port, log != NULL ? log : "");
		free(log);
		sleep_ms(50);
	}
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
coturn_stop(struct coturn *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGTERM);
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
	}
	nftw(c->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * Allocate a relay on c with user and password and pass a few packets
 * through it to a second allocation (turnutils_uclient -y): its exit
 * status, 0 when the allocation and the relaying worked.
 */
static int
allocate(struct coturn *c, const char *user, const char *password)
{
	char port[8], peer[8], log[160];
	char *argv[] = { "timeout", "20", (char *)coturn_bin(
	    "TURNUTILS_UCLIENT", "turnutils_uclient"), "-y", "-n", "3", "-p", port, "-u",
	    (char *)user, "-w", (char *)password, "-e", "127.0.0.1", "-r", peer,
	    "127.0.0.1", NULL };

	snprintf(port, sizeof(port), "%u", c->port);
	snprintf(peer, sizeof(peer), "%u", c->port + 50);
	snprintf(log, sizeof(log), "%s/uclient.log", c->dir);
	return run(argv, log);
}

/* The string value of "key" in JSON text, copied into out (no escapes
 * are expected in the values tested). */
static void
json_string(const char *text, const char *key, char *out, size_t len)
{
	char needle[64];
	const char *p, *end;

	snprintf(needle, sizeof(needle), "\"%s\":\"", key);
	ck_assert_msg((p = strstr(text, needle)) != NULL, "no %s in %s", key,
	    text);
	p += strlen(needle);
	ck_assert((end = strchr(p, '"')) != NULL && (size_t)(end - p) < len);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
}

/* base64(HMAC-SHA1(SECRET, text)) by openssl(1), not by inboxd's code. */
static void
openssl_hmac(const char *text, char out[64])
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | openssl dgst -sha1 "
	    "-hmac '" SECRET "' -binary | base64", text);
	ck_assert((p = popen(cmd, "r")) != NULL);
	ck_assert(fgets(out, 64, p) != NULL);
	ck_assert_int_eq(pclose(p), 0);
	out[strcspn(out, "\n")] = '\0';
}

/* GET /ice as alice: the body; the status must be 200. */
static char *
ice(struct inboxd *d)
{
	struct response r;
	char *body;

	ck_assert_int_eq(req(d, "GET", "/ice", "alice", "pw", NULL, NULL, 0,
	    &r), 200);
	ck_assert_ptr_nonnull(strstr(r.head, "application/json"));
	ck_assert_ptr_nonnull(strstr(r.head, "Cache-Control: no-store"));
	body = strdup(r.body);
	response_free(&r);
	return body;
}

START_TEST(test_ice_without_turn_secret_lists_stun_only)
{
	struct inboxd d;
	char *body;

	start(&d, "stun-uris stun:stun.example.org:3478\n");
	body = ice(&d);
	ck_assert_str_eq(body, "{\"iceServers\":[{\"urls\":"
	    "[\"stun:stun.example.org:3478\"]}],\"ttl\":3600}");
	free(body);
	stop(&d);

	start(&d, "");
	body = ice(&d);
	ck_assert_str_eq(body, "{\"iceServers\":[],\"ttl\":3600}");
	free(body);
	ck_assert_int_eq(metric(&d, "inboxd_ice_credentials_total"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_ice_gives_turn_rest_credentials_for_the_caller)
{
	char conf[512], user[300], credential[64], want[64];
	struct inboxd d;
	long long expiry, now = (long long)time(NULL);
	char *body;

	snprintf(conf, sizeof(conf), ICE_CONF, 3478u, 3478u);
	start(&d, conf);
	body = ice(&d);
	ck_assert_ptr_nonnull(strstr(body, "{\"iceServers\":[{\"urls\":["
	    "\"stun:127.0.0.1:3478\",\"stuns:127.0.0.1:5349\"]},{\"urls\":["
	    "\"turn:127.0.0.1:3478?transport=udp\","
	    "\"turn:127.0.0.1:3478?transport=tcp\"],\"username\":\""));
	ck_assert_ptr_nonnull(strstr(body, "\"ttl\":600}"));
	json_string(body, "username", user, sizeof(user));
	json_string(body, "credential", credential, sizeof(credential));
	ck_assert_int_eq(sscanf(user, "%lld:", &expiry), 1);
	ck_assert_msg(expiry >= now + 600 && expiry <= now + 602,
	    "expiry %lld, now %lld, turn-ttl 600", expiry, now);
	ck_assert_str_eq(strchr(user, ':'), ":alice");
	openssl_hmac(user, want);
	ck_assert_str_eq(credential, want);
	ck_assert_int_eq(metric(&d, "inboxd_ice_credentials_total"), 1);
	free(body);
	stop(&d);
}
END_TEST

START_TEST(test_ice_needs_credentials_and_get)
{
	struct inboxd d;
	struct response r;

	start(&d, "");
	ck_assert_int_eq(req(&d, "GET", "/ice", NULL, NULL, NULL, NULL, 0,
	    &r), 401);
	response_free(&r);
	contact(&d, "alice", "pw");
	ck_assert_int_eq(req(&d, "GET", "/ice", "alice", "wrong", NULL, NULL,
	    0, &r), 401);
	response_free(&r);
	ck_assert_int_eq(req(&d, "POST", "/ice", "alice", "pw", NULL, "", 0,
	    &r), 405);
	ck_assert_ptr_nonnull(strstr(r.head, "Allow: GET, OPTIONS"));
	response_free(&r);
	stop(&d);
}
END_TEST

START_TEST(test_ice_credentials_allocate_a_relay_on_coturn)
{
	char conf[512], user[300], credential[64], bad[64], old[64];
	struct coturn c;
	struct inboxd d;
	char *body;

	coturn_start(&c);
	snprintf(conf, sizeof(conf), ICE_CONF, c.port, c.port);
	start(&d, conf);
	body = ice(&d);
	json_string(body, "username", user, sizeof(user));
	json_string(body, "credential", credential, sizeof(credential));
	free(body);
	ck_assert_msg(allocate(&c, user, credential) == 0,
	    "coturn refused inboxd's credentials; see %s", c.dir);

	/* One character of the password changed. */
	strcpy(bad, credential);
	bad[3] = bad[3] == 'A' ? 'B' : 'A';
	ck_assert_int_ne(allocate(&c, user, bad), 0);
	/* The username's expiry moved on: the password no longer fits. */
	user[0] = user[0] == '9' ? '8' : '9';
	ck_assert_int_ne(allocate(&c, user, credential), 0);
	/* Correctly signed, but expired an hour ago. */
	snprintf(user, sizeof(user), "%lld:alice",
	    (long long)time(NULL) - 3600);
	openssl_hmac(user, old);
	ck_assert_int_ne(allocate(&c, user, old), 0);
	stop(&d);
	coturn_stop(&c);
}
END_TEST

static Suite *
ice_suite(void)
{
	Suite *s = suite_create("ice");
	TCase *tc;

	tc = tcase(s, "answer", 10);
	tcase_add_test(tc, test_ice_without_turn_secret_lists_stun_only);
	tcase_add_test(tc, test_ice_gives_turn_rest_credentials_for_the_caller);
	tcase_add_test(tc, test_ice_needs_credentials_and_get);
	tc = tcase(s, "coturn", 60);
	tcase_add_test(tc, test_ice_credentials_allocate_a_relay_on_coturn);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(ice_suite());
}
