/*
 * check_cli.c - inboxd's command line and configuration file (SPEC
 * section 5): -n, -f, -l, -h, -V, and errors reported as FILE:LINE.
 *
 * Each test runs $INBOXD (default ./inboxd) with its standard output and
 * error captured in files of a temporary directory, and waits at most a
 * few seconds for it to exit.
 */
#include <check.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "client.h"

#define FAST "argon2-memory-kib 64\nargon2-time-cost 1\n"

/* A valid file with comments, blank lines and every kind of value. */
static const char good_conf[] =
    "# inboxd test configuration\n"
    "\n"
    "listen 127.0.0.1:0\n"
    "max-message-size 64K   # a trailing comment\n"
    "max-inbox-bytes 1M\n"
    "max-memory 1G\n"
    "\tdefault-wait 25\n"
    "max-wait 60\n"
    "inbox-timeout 60\n"
    "cors-origins https://a.example https://b.example\n"
    "log-format json\n"
    FAST;

struct run {
	char dir[64];
	char out_path[128], err_path[128];
	char *out, *err; /* what it printed, NUL-terminated */
	int status;      /* exit status, -1 after a signal */
};

static const char *
bin(void)
{
	const char *b = getenv("INBOXD");

	return b != NULL ? b : "./inboxd";
}

/* Write text to a file named name in the run's directory; returns its path. */
static char *
write_conf(struct run *run, const char *name, const char *text)
{
	static char path[192];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", run->dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
run_init(struct run *run)
{
	memset(run, 0, sizeof(*run));
	strcpy(run->dir, "/tmp/inboxd-cli-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run->dir));
	snprintf(run->out_path, sizeof(run->out_path), "%s/stdout", run->dir);
	snprintf(run->err_path, sizeof(run->err_path), "%s/stderr", run->dir);
}

/*
 * Run inboxd with the arguments (NULL-terminated, without argv[0]) and
 * wait up to 5 s for it to exit; fills run->status, out and err.
 */
static void
run_inboxd(struct run *run, const char *const args[])
{
	const char *argv[16];
	pid_t parent = getpid(), pid;
	long deadline;
	int status, i;

	argv[0] = "inboxd";
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	free(run->out);
	free(run->err);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int out = open(run->out_path, O_WRONLY | O_CREAT | O_TRUNC,
		    0644);
		int err = open(run->err_path, O_WRONLY | O_CREAT | O_TRUNC,
		    0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execv(bin(), (char *const *)argv);
		_exit(127);
	}
	deadline = client_now_ms() + 5000;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (client_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("inboxd did not exit within 5 s");
		}
		poll(NULL, 0, 5);
	}
	run->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	ck_assert_msg(run->status != 127, "cannot execute %s", bin());
	run->out = read_file(run->out_path, NULL);
	run->err = read_file(run->err_path, NULL);
	ck_assert_ptr_nonnull(run->out);
	ck_assert_ptr_nonnull(run->err);
}

static void
run_free(struct run *run)
{
	char cmd[128];

	free(run->out);
	free(run->err);
	run->out = run->err = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The run exited non-zero and said why on standard error. */
static void
assert_refused(const struct run *run)
{
	ck_assert_msg(run->status != 0 && run->status != -1,
	    "exit status %d (stdout: %s)", run->status, run->out);
	ck_assert_msg(strstr(run->out, "configuration OK") == NULL,
	    "a refused configuration printed `configuration OK'");
	ck_assert_msg(run->err[0] != '\0', "refused without a message");
}

START_TEST(test_n_with_a_good_file_prints_configuration_ok)
{
	struct run run;
	const char *conf;

	run_init(&run);
	conf = write_conf(&run, "good.conf", good_conf);
	run_inboxd(&run, (const char *[]){ "-n", "-f", conf, NULL });
	ck_assert_msg(run.status == 0, "exit %d: %s", run.status, run.err);
	ck_assert_msg(strstr(run.out, "configuration OK") != NULL,
	    "stdout: %s", run.out);
	run_free(&run);
}
END_TEST

START_TEST(test_n_accepts_an_empty_file)
{
	struct run run;
	const char *conf;

	run_init(&run);
	conf = write_conf(&run, "empty.conf", "");
	run_inboxd(&run, (const char *[]){ "-n", "-f", conf, NULL });
	ck_assert_msg(run.status == 0, "exit %d: %s", run.status, run.err);
	ck_assert(strstr(run.out, "configuration OK") != NULL);
	run_free(&run);
}
END_TEST

START_TEST(test_shipped_config_passes_n)
{
	const char *etc = getenv("ETCDIR");
	struct run run;
	char conf[1024];

	snprintf(conf, sizeof(conf), "%s/inboxd.conf", etc ? etc : "etc");
	ck_assert_msg(access(conf, R_OK) == 0, "cannot read %s", conf);
	run_init(&run);
	run_inboxd(&run, (const char *[]){ "-n", "-f", conf, NULL });
	ck_assert_msg(run.status == 0, "exit %d: %s", run.status, run.err);
	ck_assert(strstr(run.out, "configuration OK") != NULL);
	run_free(&run);
}
END_TEST

START_TEST(test_every_config_error_is_reported_with_file_and_line)
{
	struct run run;
	char conf[256], where[300];

	run_init(&run);
	snprintf(conf, sizeof(conf), "%s", write_conf(&run, "bad.conf",
	    "max-wait 60\n"
	    "no-such-keyword 1\n"
	    "default-wait 25\n"
	    "max-message-size 12Q\n"
	    FAST));
	run_inboxd(&run, (const char *[]){ "-n", "-f", conf, NULL });
	assert_refused(&run);
	snprintf(where, sizeof(where), "%s:2:", conf);
	ck_assert_msg(strstr(run.err, where) != NULL,
	    "no `%s' in stderr:\n%s", where, run.err);
	snprintf(where, sizeof(where), "%s:4:", conf);
	ck_assert_msg(strstr(run.err, where) != NULL,
	    "no `%s' in stderr:\n%s", where, run.err);
	/* The good lines are not blamed. */
	snprintf(where, sizeof(where), "%s:1:", conf);
	ck_assert(strstr(run.err, where) == NULL);
	snprintf(where, sizeof(where), "%s:3:", conf);
	ck_assert(strstr(run.err, where) == NULL);
	run_free(&run);
}
END_TEST

START_TEST(test_config_with_errors_refuses_to_start)
{
	struct run run;
	char conf[256], where[300];

	run_init(&run);
	snprintf(conf, sizeof(conf), "%s", write_conf(&run, "bad.conf",
	    FAST "max-message-size 12Q\n"));
	/* Not -n: the daemon itself must refuse, not serve with defaults. */
	run_inboxd(&run, (const char *[]){ "-d", "-f", conf, "-l",
	    "127.0.0.1:0", NULL });
	assert_refused(&run);
	snprintf(where, sizeof(where), "%s:3:", conf);
	ck_assert_msg(strstr(run.err, where) != NULL, "stderr:\n%s", run.err);
	run_free(&run);
}
END_TEST

START_TEST(test_bad_values_are_refused)
{
	static const char *const bad[] = {
		"max-message-size 12Q\n", "max-message-size -1\n",
		"max-message-size K\n", "inbox-timeout 1.5\n",
		"inbox-timeout 10s\n", "max-messages 99999999999999999999999\n",
		"max-messages\n", "log-format xml\n", "cors-origins ftp://x\n",
		"argon2-time-cost 0\n",
	};
	struct run run;
	size_t i;

	run_init(&run);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], where[300];
		const char *conf;

		snprintf(text, sizeof(text), "%s%s", FAST, bad[i]);
		conf = write_conf(&run, "bad.conf", text);
		run_inboxd(&run, (const char *[]){ "-n", "-f", conf, NULL });
		ck_assert_msg(run.status != 0, "`%.*s' was accepted",
		    (int)strlen(bad[i]) - 1, bad[i]);
		snprintf(where, sizeof(where), "%s:3:", conf);
		ck_assert_msg(strstr(run.err, where) != NULL,
		    "`%.*s': no %s in stderr:\n%s", (int)strlen(bad[i]) - 1,
		    bad[i], where, run.err);
	}
	run_free(&run);
}
END_TEST

START_TEST(test_default_wait_above_max_wait_is_refused)
{
	struct run run;
	const char *conf;

	run_init(&run);
	conf = write_conf(&run, "wait.conf",
	    FAST "max-wait 60\ndefault-wait 90\n");
	run_inboxd(&run, (const char *[]){ "-n", "-f", conf, NULL });
	assert_refused(&run);
	ck_assert_msg(strstr(run.err, "default-wait") != NULL,
	    "stderr does not name default-wait:\n%s", run.err);
	run_free(&run);
}
END_TEST

START_TEST(test_missing_config_file_is_refused)
{
	struct run run;
	char conf[256];

	run_init(&run);
	snprintf(conf, sizeof(conf), "%s/no-such.conf", run.dir);
	run_inboxd(&run, (const char *[]){ "-n", "-f", conf, NULL });
	assert_refused(&run);
	ck_assert_msg(strstr(run.err, conf) != NULL,
	    "stderr does not name the file:\n%s", run.err);
	run_free(&run);
}
END_TEST

START_TEST(test_V_prints_the_version)
{
	struct run run;
	const char *v;

	run_init(&run);
	run_inboxd(&run, (const char *[]){ "-V", NULL });
	ck_assert_int_eq(run.status, 0);
	ck_assert_msg(strncmp(run.out, "inboxd ", 7) == 0, "stdout: %s",
	    run.out);
	v = run.out + 7;
	ck_assert_msg(*v >= '0' && *v <= '9' && strchr(v, '.') != NULL,
	    "no version number in: %s", run.out);
	run_free(&run);
}
END_TEST

START_TEST(test_h_prints_usage)
{
	struct run run;

	run_init(&run);
	run_inboxd(&run, (const char *[]){ "-h", NULL });
	ck_assert_int_eq(run.status, 0);
	ck_assert_msg(strstr(run.out, "usage") != NULL, "stdout: %s", run.out);
	ck_assert(strstr(run.out, "-f") != NULL);
	ck_assert(strstr(run.out, "-l") != NULL);
	run_free(&run);
}
END_TEST

START_TEST(test_unknown_flag_exits_nonzero_with_usage)
{
	struct run run;

	run_init(&run);
	run_inboxd(&run, (const char *[]){ "-Z", NULL });
	ck_assert_int_ne(run.status, 0);
	ck_assert_msg(strstr(run.err, "usage") != NULL, "stderr: %s", run.err);
	run_inboxd(&run, (const char *[]){ "-n", "stray-argument", NULL });
	ck_assert_int_ne(run.status, 0);
	run_free(&run);
}
END_TEST

/* Listen on an ephemeral loopback port so nobody else can; returns it. */
static int
occupy_port(unsigned *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

START_TEST(test_l_overrides_listen_of_the_file)
{
	struct inboxd d;
	struct run run;
	char conf[512], path[256];
	unsigned busy;
	int fd = occupy_port(&busy);

	/* The file names a port that is taken: without -l, no start. */
	snprintf(conf, sizeof(conf), "%slisten 127.0.0.1:%u\n", FAST, busy);
	run_init(&run);
	snprintf(path, sizeof(path), "%s", write_conf(&run, "busy.conf", conf));
	run_inboxd(&run, (const char *[]){ "-d", "-f", path, NULL });
	ck_assert_msg(run.status != 0, "inboxd started on a taken port");
	run_free(&run);
	/* With -l 127.0.0.1:0 (as inboxd_start passes it), it serves. */
	ck_assert_msg(inboxd_start(&d, conf) == 0, "no start; see %s", d.log);
	ck_assert_uint_ne(d.port, busy);
	ck_assert_int_eq(client_request(d.port, "GET", "/inbox?wait=0", "alice",
	    "pw", NULL, NULL, 0, NULL), 204);
	ck_assert_int_eq(inboxd_stop(&d), 0);
	inboxd_cleanup(&d);
	close(fd);
}
END_TEST

START_TEST(test_l_garbage_is_refused_by_n)
{
	static const char *const bad[] = {
		"garbage", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:65536",
		"256.0.0.1:80", "[::1:80",
	};
	struct run run;
	const char *conf;
	size_t i;

	run_init(&run);
	conf = write_conf(&run, "good.conf", good_conf);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_inboxd(&run, (const char *[]){ "-n", "-f", conf, "-l",
		    bad[i], NULL });
		ck_assert_msg(run.status != 0 &&
		    strstr(run.out, "configuration OK") == NULL,
		    "-l %s passed -n (exit %d, stdout: %s)", bad[i], run.status,
		    run.out);
		ck_assert_msg(strstr(run.err, "-l") != NULL ||
		    strstr(run.err, bad[i]) != NULL,
		    "-l %s: stderr does not say what is wrong: %s", bad[i],
		    run.err);
	}
	run_free(&run);
}
END_TEST

START_TEST(test_l_good_address_passes_n)
{
	static const char *const good[] = { "127.0.0.1:0", "127.0.0.1:8080",
		"[::1]:8080", "0.0.0.0:80" };
	struct run run;
	const char *conf;
	size_t i;

	run_init(&run);
	conf = write_conf(&run, "good.conf", good_conf);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		run_inboxd(&run, (const char *[]){ "-n", "-f", conf, "-l",
		    good[i], NULL });
		ck_assert_msg(run.status == 0, "-l %s: exit %d: %s", good[i],
		    run.status, run.err);
	}
	run_free(&run);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc;

	tc = tcase_create("config_test");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_n_with_a_good_file_prints_configuration_ok);
	tcase_add_test(tc, test_n_accepts_an_empty_file);
	tcase_add_test(tc, test_shipped_config_passes_n);
	tcase_add_test(tc, test_every_config_error_is_reported_with_file_and_line);
	tcase_add_test(tc, test_config_with_errors_refuses_to_start);
	tcase_add_test(tc, test_bad_values_are_refused);
	tcase_add_test(tc, test_default_wait_above_max_wait_is_refused);
	tcase_add_test(tc, test_missing_config_file_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_V_prints_the_version);
	tcase_add_test(tc, test_h_prints_usage);
	tcase_add_test(tc, test_unknown_flag_exits_nonzero_with_usage);
	tcase_add_test(tc, test_l_overrides_listen_of_the_file);
	tcase_add_test(tc, test_l_garbage_is_refused_by_n);
	tcase_add_test(tc, test_l_good_address_passes_n);
	suite_add_tcase(s, tc);

	return check_run(s);
}
