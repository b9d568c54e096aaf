/*
 * check_auth.c - password validation, Argon2id, the credential MAC and the
 * hashing pool.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "auth.h"
#include "util.h"

static const struct auth_params fast = { 1, 64, 1, 2, 1 };

static void
setup(void)
{
	ck_assert_int_eq(auth_init(&fast), 0);
}

static void
teardown(void)
{
	auth_stop();
}

START_TEST(test_username_rules_follow_the_spec)
{
	char longname[258];

	ck_assert_ptr_null(auth_check_username("alice", 5));
	ck_assert_ptr_null(auth_check_username("a@b/c+d=e", 9));
	ck_assert_ptr_null(auth_check_username("zo\xc3\xab", 4));
	ck_assert_ptr_null(auth_check_username("with space", 10));
	ck_assert_ptr_nonnull(auth_check_username("", 0));
	ck_assert_ptr_nonnull(auth_check_username("a\tb", 3));
	ck_assert_ptr_nonnull(auth_check_username("a\x7f", 2));
	ck_assert_ptr_nonnull(auth_check_username("a\x1b[0m", 5));
	ck_assert_ptr_nonnull(auth_check_username("\xc3", 1));     /* cut */
	ck_assert_ptr_nonnull(auth_check_username("\xc0\xaf", 2)); /* overlong */
	ck_assert_ptr_nonnull(auth_check_username("\xed\xa0\x80", 3)); /* surrogate */
	memset(longname, 'x', sizeof(longname));
	ck_assert_ptr_null(auth_check_username(longname, 256));
	ck_assert_ptr_nonnull(auth_check_username(longname, 257));
}
END_TEST

START_TEST(test_password_length_rules)
{
	struct auth_params p = fast;

	ck_assert_ptr_nonnull(auth_check_password(0));
	ck_assert_ptr_null(auth_check_password(1));
	ck_assert_ptr_null(auth_check_password(1024));
	ck_assert_ptr_nonnull(auth_check_password(1025));
	auth_stop();
	p.min_password_length = 12;
	ck_assert_int_eq(auth_init(&p), 0);
	ck_assert_ptr_nonnull(auth_check_password(11));
	ck_assert_ptr_null(auth_check_password(12));
}
END_TEST

START_TEST(test_hash_verifies_only_its_password)
{
	struct cred_hash h, h2;

	ck_assert_int_eq(auth_hash("secret", 6, &h), 0);
	ck_assert_int_eq(auth_verify("secret", 6, &h), 0);
	ck_assert_int_ne(auth_verify("secreT", 6, &h), 0);
	ck_assert_int_ne(auth_verify("secret!", 7, &h), 0);
	/* A fresh salt each time. */
	ck_assert_int_eq(auth_hash("secret", 6, &h2), 0);
	ck_assert_int_ne(memcmp(h.salt, h2.salt, sizeof(h.salt)), 0);
	ck_assert_int_ne(memcmp(h.tag, h2.tag, sizeof(h.tag)), 0);
}
END_TEST

START_TEST(test_mac_binds_user_and_password)
{
	uint8_t a[CRED_MAC_BYTES], b[CRED_MAC_BYTES];

	auth_mac("alice", "pw", 2, a);
	auth_mac("alice", "pw", 2, b);
	ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
	auth_mac("alice", "pW", 2, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	auth_mac("bob", "pw", 2, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	/* The separator keeps "ab"+"c" apart from "a"+"bc". */
	auth_mac("ab", "c", 1, a);
	auth_mac("a", "bc", 2, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
}
END_TEST

START_TEST(test_bearer_credentials_match_no_password)
{
	static const char *const pws[] = { "bearer", "\\0bearer", " bearer",
	    "bearer\n" };
	uint8_t bearer[CRED_MAC_BYTES], mac[CRED_MAC_BYTES];
	struct cred_hash h, h2;
	size_t i;

	auth_bearer_mac("alice", bearer);
	auth_bearer_mac("alice", mac);
	ck_assert_int_eq(memcmp(bearer, mac, sizeof(mac)), 0);
	auth_bearer_mac("bob", mac);
	ck_assert_int_ne(memcmp(bearer, mac, sizeof(mac)), 0);
	/* A Basic password holds no NUL: none gives the Bearer MAC. */
	for (i = 0; i < sizeof(pws) / sizeof(pws[0]); i++) {
		auth_mac("alice", pws[i], strlen(pws[i]), mac);
		ck_assert_int_ne(memcmp(bearer, mac, sizeof(mac)), 0);
	}
	/* The user-id holds no NUL either: "alice\0" + "bearer" is out. */
	auth_mac("alice", "", 0, mac);
	ck_assert_int_ne(memcmp(bearer, mac, sizeof(mac)), 0);
	/* The Bearer hash: a fresh salt, and no Argon2id tag is it. */
	ck_assert_int_eq(auth_bearer_hash(&h), 0);
	ck_assert_int_eq(auth_bearer_hash(&h2), 0);
	ck_assert(auth_is_bearer_hash(&h));
	ck_assert_int_ne(memcmp(h.salt, h2.salt, sizeof(h.salt)), 0);
	ck_assert_int_eq(auth_hash("pw", 2, &h2), 0);
	ck_assert(!auth_is_bearer_hash(&h2));
	ck_assert_int_ne(auth_verify("", 0, &h), 0);
}
END_TEST

START_TEST(test_mac_key_differs_per_process_start)
{
	uint8_t a[CRED_MAC_BYTES], b[CRED_MAC_BYTES];

	auth_mac("alice", "pw", 2, a);
	auth_stop();
	ck_assert_int_eq(auth_init(&fast), 0);
	auth_mac("alice", "pw", 2, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
}
END_TEST

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done_count;

static void
job_done(struct auth_job *job)
{
	(void)job;
	pthread_mutex_lock(&done_lock);
	done_count++;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&done_lock);
}

static struct auth_job *
new_job(const char *pw)
{
	struct auth_job *j = calloc(1, sizeof(*j));

	j->password = strdup(pw);
	j->len = strlen(pw);
	j->done = job_done;
	return j;
}

START_TEST(test_pool_hashes_every_job_and_wipes_passwords)
{
	struct auth_job *jobs[20];
	int i;

	done_count = 0;
	for (i = 0; i < 20; i++)
		auth_submit(jobs[i] = new_job("pool-password"));
	pthread_mutex_lock(&done_lock);
	while (done_count < 20)
		pthread_cond_wait(&done_cond, &done_lock);
	pthread_mutex_unlock(&done_lock);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(jobs[i]->result, 0);
		ck_assert_ptr_null(jobs[i]->password);
		ck_assert_int_eq(auth_verify("pool-password", 13,
		    &jobs[i]->hash), 0);
		free(jobs[i]);
	}
}
END_TEST

START_TEST(test_stopped_pool_fails_jobs_instead_of_dropping_them)
{
	struct auth_job *j;

	auth_stop();
	done_count = 0;
	j = new_job("late");
	auth_submit(j);
	ck_assert_int_eq(done_count, 1);
	ck_assert_int_eq(j->result, -1);
	ck_assert_ptr_null(j->password);
	free(j);
	ck_assert_int_eq(auth_init(&fast), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_username_rules_follow_the_spec);
	tcase_add_test(tc, test_password_length_rules);
	tcase_add_test(tc, test_hash_verifies_only_its_password);
	tcase_add_test(tc, test_mac_binds_user_and_password);
	tcase_add_test(tc, test_bearer_credentials_match_no_password);
	tcase_add_test(tc, test_mac_key_differs_per_process_start);
	tcase_add_test(tc, test_pool_hashes_every_job_and_wipes_passwords);
	tcase_add_test(tc, test_stopped_pool_fails_jobs_instead_of_dropping_them);
	suite_add_tcase(s, tc);
	return check_run(s);
}
