/*
 * check_reload.c - SIGHUP reads the configuration again (SPEC section 9,
 * Reload): new limits, CORS origins, TURN secret and JWT key apply while a
 * GET stays held through the reload; a file with an error is refused whole,
 * its FILE:LINE logged; a keyword that takes a restart is logged and kept.
 * Runs on one daemon and, in cluster mode, on every node (each reads its
 * own file).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>

#include "check_run.h"
#include "config.h"
#include "harness.h"
#include "ice.h"

#define BODY50 "0123456789012345678901234567890123456789012345678\n"

#define BEFORE \
	"max-message-size 10\n" \
	"max-messages 1\n" \
	"cors-origins https://old.example\n" \
	"turn-uris turn:127.0.0.1:3478\n" \
	"turn-secret old secret\n"

/* The nodes of d, or d itself. */
static int
nodes(struct inboxd *d, struct inboxd **out)
{
	int i;

	if (d->cluster == NULL) {
		out[0] = d;
		return 1;
	}
	for (i = 0; i < CLUSTER_NODES; i++)
		out[i] = &d->cluster->node[i];
	return CLUSTER_NODES;
}

/* Append text to every node's configuration file. */
static void
append_conf(struct inboxd *d, const char *text)
{
	struct inboxd *n[CLUSTER_NODES > 1 ? CLUSTER_NODES : 1];
	int i, k = nodes(d, n);
	FILE *f;

	for (i = 0; i < k; i++) {
		ck_assert((f = fopen(n[i]->conf, "a")) != NULL);
		fputs(text, f);
		ck_assert_int_eq(fclose(f), 0);
	}
}

/* Send SIGHUP and wait until every node logged needle, the count-th
 * time (reloads of one test are counted: 1, 2...). */
static void
reload(struct inboxd *d, const char *needle, int count)
{
	struct inboxd *n[CLUSTER_NODES > 1 ? CLUSTER_NODES : 1];
	long deadline = client_now_ms() + 5000;
	int i, k = nodes(d, n);

	inboxd_signal(d, SIGHUP);
	for (i = 0; i < k; i++)
		for (;;) {
			char *text = read_file(n[i]->log, NULL);
			const char *p = text;
			int seen = 0;

			while (p != NULL && (p = strstr(p, needle)) != NULL) {
				seen++;
				p++;
			}
			free(text);
			if (seen >= count)
				break;
			ck_assert_msg(client_now_ms() < deadline, "no `%s' "
			    "(%d) in %s", needle, count, n[i]->log);
			sleep_ms(10);
		}
}

/* POST len bytes from alice to bob: the status. */
static int
post(struct inboxd *d, const char *body)
{
	struct response r;
	int status;

	status = req(d, "POST", "/inbox?to=bob", "alice", "pw", NULL, body,
	    strlen(body), &r);
	response_free(&r);
	return status;
}

/* Is origin echoed in Access-Control-Allow-Origin? */
static int
echoes(struct inboxd *d, const char *origin)
{
	char extra[128], want[160];
	struct response r;
	int yes;

	snprintf(extra, sizeof(extra), "Origin: %s\r\n", origin);
	ck_assert_int_eq(req(d, "GET", "/healthz", NULL, NULL, extra, NULL, 0,
	    &r), 200);
	snprintf(want, sizeof(want), "Access-Control-Allow-Origin: %s\r\n",
	    origin);
	yes = strstr(r.head, want) != NULL;
	response_free(&r);
	return yes;
}

/* /ice's credential for alice was made with secret. */
static int
ice_secret_is(struct inboxd *d, const char *secret)
{
	char user[ICE_USERNAME_MAX + 1], want[ICE_CREDENTIAL_LEN + 1];
	char got[ICE_USERNAME_MAX + 1], *p;
	struct response r;
	unsigned long long expiry;
	int yes;

	ck_assert_int_eq(req(d, "GET", "/ice", "alice", "pw", NULL, NULL, 0,
	    &r), 200);
	ck_assert((p = strstr(r.body, "\"username\":\"")) != NULL);
	ck_assert_int_eq(sscanf(p + 12, "%llu:", &expiry), 1);
	ck_assert_int_eq(ice_credential(secret, strlen(secret), "alice",
	    expiry, user, want), 0);
	snprintf(got, sizeof(got), "\"credential\":\"%s\"", want);
	yes = strstr(r.body, got) != NULL;
	response_free(&r);
	return yes;
}

/* Write an HS256 secret to dir/name; its path in path. */
static void
write_secret(const char *dir, const char *name, const char *secret,
    char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	ck_assert((f = fopen(path, "w")) != NULL);
	fprintf(f, "%s\n", secret);
	ck_assert_int_eq(fclose(f), 0);
}

/* GET /inbox?wait=0 as alice with an HS256 token under secret: status. */
static int
bearer_get(struct inboxd *d, const char *secret)
{
	char claims[128], extra[1024], *tok;
	struct response r;
	jwt_t *t;
	int status;

	snprintf(claims, sizeof(claims), "{\"sub\":\"carol\",\"exp\":%ld}",
	    (long)time(NULL) + 60);
	ck_assert_int_eq(jwt_new(&t), 0);
	ck_assert_int_eq(jwt_add_grants_json(t, claims), 0);
	ck_assert_int_eq(jwt_set_alg(t, JWT_ALG_HS256,
	    (const unsigned char *)secret, (int)strlen(secret)), 0);
	ck_assert_ptr_nonnull(tok = jwt_encode_str(t));
	jwt_free(t);
	snprintf(extra, sizeof(extra), "Authorization: Bearer %s\r\n", tok);
	free(tok);
	status = req(d, "GET", "/inbox?wait=0", NULL, NULL, extra, NULL, 0,
	    &r);
	response_free(&r);
	return status;
}

#define OLD_KEY "the HS256 secret before the reload, 40 B"
#define NEW_KEY "the HS256 secret after the reload, 40 byt"

START_TEST(test_reload_applies_new_settings_while_a_get_is_held)
{
	char dir[] = "/tmp/inboxd-reload-XXXXXX", conf[2048];
	char old_key[256], new_key[256], more[512];
	struct response r;
	struct inboxd d;
	int fd;

	ck_assert(mkdtemp(dir) != NULL);
	write_secret(dir, "old.secret", OLD_KEY, old_key, sizeof(old_key));
	write_secret(dir, "new.secret", NEW_KEY, new_key, sizeof(new_key));
	snprintf(conf, sizeof(conf), "%sjwt-key %s\n", BEFORE, old_key);
	start(&d, conf);
	ck_assert_int_eq(bearer_get(&d, OLD_KEY), 204);
	ck_assert_int_eq(bearer_get(&d, NEW_KEY), 401);
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	ck_assert_int_eq(post(&d, BODY50), 413);
	ck_assert(echoes(&d, "https://old.example"));
	ck_assert(!echoes(&d, "https://new.example"));
	ck_assert(ice_secret_is(&d, "old secret"));

	fd = client_send(d.port, "GET", "/inbox?wait=30", "bob", "pw", NULL,
	    NULL, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(client_quiet(fd, 300), "bob's GET was not held");
	snprintf(more, sizeof(more), "max-message-size 100\nmax-messages 3\n"
	    "cors-origins https://new.example\nturn-secret new secret\n"
	    "jwt-key %s\n", new_key);
	append_conf(&d, more);
	reload(&d, "its settings in force", 1);

	/* The held GET is still there, and takes the larger message. */
	ck_assert_int_eq(post(&d, BODY50), 204);
	ck_assert_int_eq(client_read(fd, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, BODY50);
	response_free(&r);
	close(fd);
	/* max-messages 3: the store's limit moved too. */
	ck_assert_int_eq(post(&d, "1"), 204);
	ck_assert_int_eq(post(&d, "2"), 204);
	ck_assert_int_eq(post(&d, "3"), 204);
	ck_assert_int_eq(post(&d, "4"), 503);
	ck_assert(echoes(&d, "https://new.example"));
	ck_assert(!echoes(&d, "https://old.example"));
	ck_assert(ice_secret_is(&d, "new secret"));
	ck_assert_int_eq(bearer_get(&d, NEW_KEY), 204);
	ck_assert_int_eq(bearer_get(&d, OLD_KEY), 401);
	stop(&d);
	unlink(old_key);
	unlink(new_key);
	rmdir(dir);
}
END_TEST

START_TEST(test_reload_refuses_a_file_with_an_error_whole)
{
	struct inboxd d;
	char needle[400];

	start(&d, BEFORE);
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	append_conf(&d, "max-message-size 100\nmax-messages many\n");
	reload(&d, "1 error in", 1);
	snprintf(needle, sizeof(needle), "reload: %s:", d.conf);
	ck_assert_msg(inboxd_log_contains(&d, needle) &&
	    inboxd_log_contains(&d, ": max-messages: `many'"),
	    "no FILE:LINE for the error in %s", d.log);
	/* Nothing of the file applied, not even its good line. */
	ck_assert_int_eq(post(&d, BODY50), 413);
	ck_assert_int_eq(post(&d, "1"), 204);
	ck_assert_int_eq(post(&d, "2"), 503);
	stop(&d);
}
END_TEST

START_TEST(test_reload_keeps_what_takes_a_restart_and_says_so)
{
	struct inboxd d;

	start(&d, BEFORE);
	contact(&d, "alice", "pw");
	contact(&d, "bob", "pw");
	/* -l 127.0.0.1:0 still overrides listen; threads needs a restart. */
	append_conf(&d, "threads 3\nlisten 127.0.0.1:1\nmax-messages 2\n");
	reload(&d, "its settings in force", 1);
	ck_assert(inboxd_log_contains(&d,
	    "reload: threads changed, which takes a restart: kept as it was"));
	ck_assert(!inboxd_log_contains(&d, "reload: listen changed"));
	ck_assert_int_eq(post(&d, "1"), 204);
	ck_assert_int_eq(post(&d, "2"), 204);
	ck_assert_int_eq(post(&d, "3"), 503);
	/* A second reload of the same file changes nothing more. */
	reload(&d, "its settings in force", 2);
	ck_assert_int_eq(post(&d, "3"), 503);
	stop(&d);
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase(s, "sighup", 30);

	tcase_add_test(tc, test_reload_applies_new_settings_while_a_get_is_held);
	tcase_add_test(tc, test_reload_refuses_a_file_with_an_error_whole);
	tcase_add_test(tc, test_reload_keeps_what_takes_a_restart_and_says_so);
	return s;
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_run(reload_suite());
}
