/*
 * check_jwt_key.c - jwt.c on its own: the key file, and each check of a
 * token against a clock the test sets, with the reason it gives.  Also
 * what libjwt 1.10 does by itself, so that a change of libjwt that makes
 * a guard of jwt.c moot, or needed elsewhere, shows here first.
 */
#include <check.h>
#include <gnutls/crypto.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "jwt.h"
#include "jwt_keys.h"

#define NOW 1000000000L /* the tests' clock, Unix seconds */

static char dir[256];

/* Write text to dir/name; the path, in a static buffer per slot. */
static const char *
put(const char *name, const char *text)
{
	static char paths[4][512];
	static unsigned slot;
	char *p = paths[slot++ % 4];
	FILE *f;

	snprintf(p, 512, "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return p;
}

static struct jwt_key *
load(const char *text)
{
	char why[512] = "";
	struct jwt_key *k = jwt_key_load(put("key", text), why, sizeof(why));

	ck_assert_msg(k != NULL, "key refused: %s", why);
	return k;
}

/* The reason jwt_key_load gives for text, which it must refuse. */
static const char *
load_error(const char *text)
{
	static char why[512];
	struct jwt_key *k = jwt_key_load(put("key", text), why, sizeof(why));

	ck_assert_msg(k == NULL, "key of %s accepted", jwt_key_alg(k));
	return why;
}

/* A token of claims and extra headers (JSON, or NULL) signed by libjwt. */
static char *
sign(jwt_alg_t alg, const char *key, const char *claims,
    const char *headers)
{
	jwt_t *t = NULL;
	char *tok;

	ck_assert_int_eq(jwt_new(&t), 0);
	ck_assert_int_eq(jwt_add_grants_json(t, claims), 0);
	if (headers != NULL)
		ck_assert_int_eq(jwt_add_headers_json(t, headers), 0);
	ck_assert_int_eq(jwt_set_alg(t, alg, (const unsigned char *)key,
	    key != NULL ? (int)strlen(key) : 0), 0);
	tok = jwt_encode_str(t);
	ck_assert_ptr_nonnull(tok);
	jwt_free(t);
	return tok;
}

/* base64url (RFC 4648 section 5), unpadded, of len bytes, appended to out. */
static void
b64url(const void *in, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	const unsigned char *p = in;
	char *o = out + strlen(out);
	size_t i;
	unsigned v;

	for (i = 0; i < len; i += 3) {
		v = (unsigned)p[i] << 16 | (i + 1 < len ? p[i + 1] << 8 : 0) |
		    (i + 2 < len ? p[i + 2] : 0);
		*o++ = a[v >> 18 & 63];
		*o++ = a[v >> 12 & 63];
		if (i + 1 < len)
			*o++ = a[v >> 6 & 63];
		if (i + 2 < len)
			*o++ = a[v & 63];
	}
	*o = '\0';
}

/*
 * An HS256 token of the header and claims given (JSON texts) under
 * TEST_HS_SECRET, signed here: libjwt writes typ and alg itself.
 */
static char *
forge(const char *header, const char *claims)
{
	char *tok = calloc(1, 4096);
	unsigned char mac[32];

	ck_assert_ptr_nonnull(tok);
	b64url(header, strlen(header), tok);
	strcat(tok, ".");
	b64url(claims, strlen(claims), tok);
	ck_assert_int_eq(gnutls_hmac_fast(GNUTLS_MAC_SHA256, TEST_HS_SECRET,
	    strlen(TEST_HS_SECRET), tok, strlen(tok), mac), 0);
	strcat(tok, ".");
	b64url(mac, sizeof(mac), tok);
	return tok;
}

static const struct jwt_rules plain = { "sub", NULL, NULL, 30 };

/* jwt_key_check of tok at now under rules: NULL when accepted (then the
 * subject must be want), else the reason. */
static const char *
check(struct jwt_key *k, const struct jwt_rules *rules,
    const char *tok, long now, const char *want)
{
	const char *why = NULL;
	char *sub = NULL;

	if (jwt_key_check(k, rules, tok, now, &sub, &why) == -1) {
		ck_assert_ptr_null(sub);
		ck_assert_ptr_nonnull(why);
		return why;
	}
	ck_assert_str_eq(sub, want);
	free(sub);
	return NULL;
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/check_jwt_key.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/key", dir);
	unlink(path);
	rmdir(dir);
}

START_TEST(test_key_kind_comes_from_the_file)
{
	struct jwt_key *k;

	k = load(TEST_RSA_PUB);
	ck_assert_str_eq(jwt_key_alg(k), "RS256");
	jwt_key_free(k);
	k = load(TEST_EC_PUB);
	ck_assert_str_eq(jwt_key_alg(k), "ES256");
	jwt_key_free(k);
	k = load(TEST_HS_SECRET "\r\n");
	ck_assert_str_eq(jwt_key_alg(k), "HS256");
	jwt_key_free(k);
	jwt_key_free(NULL);
}
END_TEST

START_TEST(test_unfit_key_files_are_refused_with_a_reason)
{
	ck_assert_ptr_nonnull(strstr(load_error("short secret\n"),
	    "an HS256 secret of 12 bytes"));
	ck_assert_ptr_nonnull(strstr(load_error(""), "of 0 bytes"));
	ck_assert_ptr_nonnull(strstr(load_error(TEST_RSA_PEM),
	    "holds a private key"));
	ck_assert_ptr_nonnull(strstr(load_error(
	    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
	    "not a PEM public key"));
}
END_TEST

START_TEST(test_a_secrets_newline_is_not_part_of_it)
{
	struct jwt_key *k = load(TEST_HS_SECRET "\n");
	char *tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"alice\",\"exp\":1000000060}", NULL);

	ck_assert_ptr_null(check(k, &plain, tok, NOW, "alice"));
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_libjwt_verifies_hs256_keyed_with_a_pem_and_we_refuse_it)
{
	struct jwt_key *k = load(TEST_RSA_PUB);
	char *tok = sign(JWT_ALG_HS256, TEST_RSA_PUB,
	    "{\"sub\":\"alice\",\"exp\":1000000060}", NULL);
	jwt_t *t = NULL;

	/*
	 * libjwt 1.10 by itself: the token names HS256, so jwt_decode MACs
	 * with the PEM text it was given and finds the forgery good.
	 */
	ck_assert_int_eq(jwt_decode(&t, tok, (const unsigned char *)TEST_RSA_PUB,
	    (int)strlen(TEST_RSA_PUB)), 0);
	ck_assert_int_eq(jwt_get_alg(t), JWT_ALG_HS256);
	jwt_free(t);
	/* jwt.c compares the alg with the key's. */
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "the token's alg is not the key's");
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_alg_none_is_refused_before_libjwt)
{
	struct jwt_key *k = load(TEST_RSA_PUB);
	char *tok = sign(JWT_ALG_NONE, NULL,
	    "{\"sub\":\"alice\",\"exp\":1000000060}", NULL);
	jwt_t *t = NULL;

	/* libjwt with no key takes alg none as it is. */
	ck_assert_int_eq(jwt_decode(&t, tok, NULL, 0), 0);
	ck_assert_int_eq(jwt_get_alg(t), JWT_ALG_NONE);
	jwt_free(t);
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "not a signed JWT (three base64url parts)");
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_signatures_of_each_kind_verify)
{
	struct jwt_key *rsa = load(TEST_RSA_PUB);
	struct jwt_key *ec = load(TEST_EC_PUB);
	const char *c = "{\"sub\":\"alice\",\"exp\":1000000060}";
	char *rs = sign(JWT_ALG_RS256, TEST_RSA_PEM, c, NULL);
	char *es = sign(JWT_ALG_ES256, TEST_EC_PEM, c, NULL);
	char *rs512 = sign(JWT_ALG_RS512, TEST_RSA_PEM, c, NULL);

	ck_assert_ptr_null(check(rsa, &plain, rs, NOW, "alice"));
	ck_assert_ptr_null(check(ec, &plain, es, NOW, "alice"));
	ck_assert_ptr_nonnull(check(rsa, &plain, es, NOW, NULL));
	ck_assert_ptr_nonnull(check(ec, &plain, rs, NOW, NULL));
	/* The key's hash too: RS512 of the same RSA key is not RS256. */
	ck_assert_str_eq(check(rsa, &plain, rs512, NOW, NULL),
	    "the token's alg is not the key's");
	free(rs);
	free(es);
	free(rs512);
	jwt_key_free(rsa);
	jwt_key_free(ec);
}
END_TEST

START_TEST(test_exp_and_nbf_against_the_clock_and_leeway)
{
	struct jwt_key *k = load(TEST_HS_SECRET);
	char *tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"a\",\"nbf\":1000000000,\"exp\":1000000100}", NULL);
	struct jwt_rules none = plain;

	none.leeway_s = 0;
	ck_assert_ptr_null(check(k, &plain, tok, NOW + 129, "a"));
	ck_assert_str_eq(check(k, &plain, tok, NOW + 130, NULL),
	    "the token has expired");
	ck_assert_ptr_null(check(k, &none, tok, NOW + 99, "a"));
	ck_assert_str_eq(check(k, &none, tok, NOW + 100, NULL),
	    "the token has expired");
	ck_assert_ptr_null(check(k, &plain, tok, NOW - 30, "a"));
	ck_assert_str_eq(check(k, &plain, tok, NOW - 31, NULL),
	    "the token is not valid yet (nbf)");
	ck_assert_str_eq(check(k, &none, tok, NOW - 1, NULL),
	    "the token is not valid yet (nbf)");
	free(tok);
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET, "{\"sub\":\"a\"}", NULL);
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "the token has no exp");
	free(tok);
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"a\",\"exp\":\"2000000000\"}", NULL);
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "exp is not a NumericDate");
	free(tok);
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"a\",\"exp\":1000000000.5}", NULL);
	ck_assert_ptr_null(check(k, &none, tok, NOW - 1, "a"));
	ck_assert_ptr_nonnull(check(k, &none, tok, NOW, NULL));
	free(tok);
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"a\",\"exp\":2000000000,\"nbf\":-5}", NULL);
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "nbf is not a NumericDate");
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_iss_and_aud_as_configured)
{
	struct jwt_key *k = load(TEST_HS_SECRET);
	struct jwt_rules r = { "sub", "https://idp", "app", 30 };
	static const struct {
		const char *claims;
		const char *why;
	} cases[] = {
		{ "\"iss\":\"https://idp\",\"aud\":\"app\"", NULL },
		{ "\"iss\":\"https://idp\",\"aud\":[\"x\",\"app\"]", NULL },
		{ "\"iss\":\"https://other\",\"aud\":\"app\"",
		    "the token's iss is not jwt-issuer" },
		{ "\"iss\":7,\"aud\":\"app\"",
		    "the token's iss is not jwt-issuer" },
		{ "\"aud\":\"app\"", "the token's iss is not jwt-issuer" },
		{ "\"iss\":\"https://idp\",\"aud\":\"apps\"",
		    "the token's aud does not hold jwt-audience" },
		{ "\"iss\":\"https://idp\",\"aud\":[]",
		    "the token's aud does not hold jwt-audience" },
		{ "\"iss\":\"https://idp\",\"aud\":[\"app\",3]",
		    "aud is not a string or an array of strings" },
		{ "\"iss\":\"https://idp\"", "the token has no aud" },
	};
	char claims[256], *tok;
	size_t i;
	const char *why;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(claims, sizeof(claims),
		    "{\"sub\":\"a\",\"exp\":1000000060,%s}", cases[i].claims);
		tok = sign(JWT_ALG_HS256, TEST_HS_SECRET, claims, NULL);
		why = check(k, &r, tok, NOW, "a");
		if (cases[i].why == NULL)
			ck_assert_msg(why == NULL, "%s: %s", claims, why);
		else
			ck_assert_msg(why != NULL &&
			    strcmp(why, cases[i].why) == 0, "%s: %s", claims,
			    why ? why : "accepted");
		free(tok);
	}
	/* Unconfigured: iss goes unchecked, any aud is not for us. */
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"a\",\"exp\":1000000060,\"iss\":\"x\"}", NULL);
	ck_assert_ptr_null(check(k, &plain, tok, NOW, "a"));
	free(tok);
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"a\",\"exp\":1000000060,\"aud\":\"app\"}", NULL);
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "the token's aud does not hold jwt-audience");
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_headers_libjwt_and_we_refuse)
{
	struct jwt_key *k = load(TEST_HS_SECRET);
	const char *c = "{\"sub\":\"a\",\"exp\":1000000060}";
	char *tok;

	/* The hand-made signer is libjwt's match. */
	tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", c);
	ck_assert_ptr_null(check(k, &plain, tok, NOW, "a"));
	free(tok);
	tok = forge("{\"alg\":\"HS256\"}", c);
	ck_assert_ptr_null(check(k, &plain, tok, NOW, "a"));
	free(tok);
	/* libjwt 1.10 takes typ JWT only (RFC 9068's at+jwt is refused). */
	tok = forge("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", c);
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "malformed token or bad signature");
	free(tok);
	/* alg none with a signature, even a right one, is not HS256. */
	tok = forge("{\"alg\":\"none\"}", c);
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "malformed token or bad signature");
	free(tok);
	/* A claims text libjwt's JSON parser refuses: a NUL in a string. */
	tok = forge("{\"alg\":\"HS256\"}",
	    "{\"sub\":\"a\\u0000b\",\"exp\":1000000060}");
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "malformed token or bad signature");
	free(tok);
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET, c,
	    "{\"crit\":[\"exp\"],\"exp\":1}");
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "the token has crit header parameters");
	free(tok);
	tok = sign(JWT_ALG_HS256, TEST_HS_SECRET, c, "{\"kid\":\"key-1\"}");
	ck_assert_ptr_null(check(k, &plain, tok, NOW, "a"));
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_the_inbox_claim)
{
	struct jwt_key *k = load(TEST_HS_SECRET);
	struct jwt_rules email = plain;
	char *tok = sign(JWT_ALG_HS256, TEST_HS_SECRET,
	    "{\"sub\":\"a\",\"email\":\"a@b\",\"n\":1,\"exp\":1000000060}",
	    NULL);

	email.claim = "email";
	ck_assert_ptr_null(check(k, &email, tok, NOW, "a@b"));
	email.claim = "n";
	ck_assert_str_eq(check(k, &email, tok, NOW, NULL),
	    "the token's inbox claim is missing or not a string");
	email.claim = "name";
	ck_assert_str_eq(check(k, &email, tok, NOW, NULL),
	    "the token's inbox claim is missing or not a string");
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_a_verified_token_is_checked_again_but_for_its_signature)
{
	struct jwt_key *k = load(TEST_RSA_PUB), *other;
	char *tok = sign(JWT_ALG_RS256, TEST_RSA_PEM,
	    "{\"sub\":\"alice\",\"exp\":1000000060}", NULL), *sig;
	struct jwt_rules aud = plain;
	size_t n;

	ck_assert_ptr_null(check(k, &plain, tok, NOW, "alice"));
	ck_assert_ptr_null(check(k, &plain, tok, NOW, "alice"));
	/* The clock and the rules still apply to it. */
	ck_assert_str_eq(check(k, &plain, tok, NOW + 90, NULL),
	    "the token has expired");
	aud.audience = "app";
	ck_assert_str_eq(check(k, &aud, tok, NOW, NULL),
	    "the token has no aud");
	aud = plain;
	aud.claim = "email";
	ck_assert_str_eq(check(k, &aud, tok, NOW, NULL),
	    "the token's inbox claim is missing or not a string");
	/* Another key verifies it afresh: what one key knows is its own. */
	other = load(TEST_EC_PUB);
	ck_assert_str_eq(check(other, &plain, tok, NOW, NULL),
	    "malformed token or bad signature");
	jwt_key_free(other);
	/* One byte off is another token: verified, and refused. */
	sig = strrchr(tok, '.') + 1;
	n = strlen(sig);
	sig[n / 2] = sig[n / 2] == 'A' ? 'B' : 'A';
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "malformed token or bad signature");
	ck_assert_str_eq(check(k, &plain, tok, NOW, NULL),
	    "malformed token or bad signature");
	free(tok);
	jwt_key_free(k);
}
END_TEST

START_TEST(test_malformed_tokens)
{
	static const char *const bad[] = {
		"", "a", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c!",
		"a b.c.d", "a.b.c=", "a+b.c.d",
	};
	struct jwt_key *k = load(TEST_HS_SECRET);
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(check(k, &plain, bad[i], NOW, NULL) != NULL,
		    "%s accepted", bad[i]);
	jwt_key_free(k);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("jwt_key");
	TCase *tc = tcase_create("jwt_key");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_key_kind_comes_from_the_file);
	tcase_add_test(tc, test_unfit_key_files_are_refused_with_a_reason);
	tcase_add_test(tc, test_a_secrets_newline_is_not_part_of_it);
	tcase_add_test(tc,
	    test_libjwt_verifies_hs256_keyed_with_a_pem_and_we_refuse_it);
	tcase_add_test(tc, test_alg_none_is_refused_before_libjwt);
	tcase_add_test(tc, test_signatures_of_each_kind_verify);
	tcase_add_test(tc, test_exp_and_nbf_against_the_clock_and_leeway);
	tcase_add_test(tc, test_iss_and_aud_as_configured);
	tcase_add_test(tc, test_headers_libjwt_and_we_refuse);
	tcase_add_test(tc, test_the_inbox_claim);
	tcase_add_test(tc,
	    test_a_verified_token_is_checked_again_but_for_its_signature);
	tcase_add_test(tc, test_malformed_tokens);
	suite_add_tcase(s, tc);
	return check_run(s);
}
