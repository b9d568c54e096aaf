/*
 * check_jwt.c - Bearer tokens (SPEC section 9) end to end against the
 * real daemon: every refusal of a token, the two schemes kept apart, and
 * that a Bearer caller never costs an Argon2id hash.
 *
 * The keys are made once, before the tests fork, by openssl in a
 * directory of the suite's own: two RSA key pairs (the second is the
 * "wrong key"), an EC P-256 pair and an HS256 secret.  Tokens are signed
 * here with libjwt from the private keys, or built by hand where libjwt
 * would not sign them (a forged header).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <gnutls/crypto.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define HS_SECRET "a secret of forty bytes for HS256 tests"

static char keys[256]; /* the suite's directory of keys */

/* The path of file in keys, in a static buffer of its own per slot. */
static const char *
key_path(const char *file)
{
	static char buf[8][512];
	static unsigned slot;
	char *p = buf[slot++ % 8];

	snprintf(p, 512, "%s/%s", keys, file);
	return p;
}

/* The configuration line `jwt-key' for file, then more. */
static char *
conf_with(const char *file, const char *more)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf), "jwt-key %s\n%s", key_path(file),
	    more != NULL ? more : "");
	return buf;
}

static long
now_s(void)
{
	return (long)time(NULL);
}

/*
 * A token of claims (a JSON object) signed with alg and the private key
 * (or secret) in file (NULL: no key, for alg none).  malloc'd.
 */
static char *
sign(jwt_alg_t alg, const char *file, const char *claims)
{
	unsigned char *key = NULL;
	size_t len = 0, n;
	jwt_t *t = NULL;
	char *tok;

	if (file != NULL) {
		key = (unsigned char *)read_file(key_path(file), &len);
		ck_assert_msg(key != NULL, "cannot read %s", key_path(file));
		/* The daemon drops a secret's newline, not a PEM's. */
		n = strlen(file);
		while (n > 7 && strcmp(file + n - 7, ".secret") == 0 &&
		    len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r'))
			len--;
	}
	ck_assert_int_eq(jwt_new(&t), 0);
	ck_assert_msg(jwt_add_grants_json(t, claims) == 0, "bad claims %s",
	    claims);
	ck_assert_int_eq(jwt_set_alg(t, alg, key, (int)len), 0);
	tok = jwt_encode_str(t);
	ck_assert_msg(tok != NULL, "libjwt did not sign %s", claims);
	jwt_free(t);
	free(key);
	return tok;
}

/* Claims {"sub":sub,"exp":now + exp_in}, and more ("" or ",..."). */
static char *
claims(const char *sub, long exp_in, const char *more)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf), "{\"sub\":\"%s\",\"exp\":%ld%s}", sub,
	    now_s() + exp_in, more != NULL ? more : "");
	return buf;
}

/* An RS256 token for sub, valid for a minute. */
static char *
rs256(const char *sub)
{
	return sign(JWT_ALG_RS256, "rsa.pem", claims(sub, 60, NULL));
}

/* One request with Authorization: Bearer token: the status. */
static int
breq(struct inboxd *d, const char *method, const char *target,
    const char *token, const char *more, const void *body, size_t len,
    struct response *r)
{
	size_t n = strlen(token) + (more ? strlen(more) : 0) + 64;
	char *extra = malloc(n);
	int status;

	ck_assert_ptr_nonnull(extra);
	snprintf(extra, n, "Authorization: Bearer %s\r\n%s", token,
	    more != NULL ? more : "");
	status = req(d, method, target, NULL, NULL, extra, body, len, r);
	free(extra);
	return status;
}

/* Does r carry the challenge `WWW-Authenticate: value'? */
static int
has_challenge(const struct response *r, const char *value)
{
	char line[512];

	snprintf(line, sizeof(line), "\r\nWWW-Authenticate: %s\r\n", value);
	return strstr(r->head, line) != NULL;
}

#define BASIC_CHALLENGE "Basic realm=\"inboxd\", charset=\"UTF-8\""
#define BEARER_CHALLENGE "Bearer realm=\"inboxd\""
#define BEARER_INVALID "Bearer realm=\"inboxd\", error=\"invalid_token\""

/* GET /inbox?wait=0 with token is status. */
static void
expect_get(struct inboxd *d, const char *token, int status)
{
	struct response r;

	ck_assert_int_eq(breq(d, "GET", "/inbox?wait=0", token, NULL, NULL, 0,
	    &r), status);
	response_free(&r);
}

/* token is refused: 401 unauthorized, both challenges, invalid_token. */
static void
expect_refused(struct inboxd *d, const char *token, const char *what)
{
	struct response r;

	ck_assert_msg(breq(d, "GET", "/inbox?wait=0", token, NULL, NULL, 0,
	    &r) == 401, "%s: status %d, expected 401: %s", what, r.status,
	    r.body);
	assert_error_full(&r, 401, "unauthorized");
	ck_assert_msg(has_challenge(&r, BEARER_INVALID), "%s: no Bearer "
	    "invalid_token challenge:\n%s", what, r.head);
	ck_assert_msg(has_challenge(&r, BASIC_CHALLENGE), "%s: no Basic "
	    "challenge:\n%s", what, r.head);
	response_free(&r);
}

/* ------------------------------------------------------------ accepted */

START_TEST(test_rs256_token_sends_and_receives)
{
	struct inboxd d;
	struct response r;
	char *alice = rs256("alice"), *bob = rs256("bob");

	start(&d, conf_with("rsa.pub", NULL));
	expect_get(&d, alice, 204);
	expect_get(&d, bob, 204);
	ck_assert_int_eq(breq(&d, "POST", "/inbox?to=bob", alice,
	    "Content-Type: text/plain\r\n", "hello", 5, &r), 204);
	response_free(&r);
	ck_assert_int_eq(breq(&d, "GET", "/inbox?wait=0", bob, NULL, NULL, 0,
	    &r), 200);
	ck_assert_int_eq(r.body_len, 5);
	ck_assert_mem_eq(r.body, "hello", 5);
	ck_assert_str_eq(response_header(&r, "X-From"), "alice");
	response_free(&r);
	/* A Basic caller sends to a Bearer inbox as to any other. */
	contact(&d, "carol", "pw");
	ck_assert_int_eq(send_to(&d, "carol", "pw", "bob", NULL, "hi", 2, &r),
	    204);
	response_free(&r);
	ck_assert_int_eq(breq(&d, "GET", "/inbox?wait=0", bob, NULL, NULL, 0,
	    &r), 200);
	ck_assert_str_eq(response_header(&r, "X-From"), "carol");
	response_free(&r);
	free(alice);
	free(bob);
	stop(&d);
}
END_TEST

START_TEST(test_hs256_token_with_a_secret_file)
{
	struct inboxd d;
	char *tok = sign(JWT_ALG_HS256, "hs.secret", claims("alice", 60, NULL));
	char *rs = rs256("alice");

	start(&d, conf_with("hs.secret", NULL));
	expect_get(&d, tok, 204);
	expect_get(&d, tok, 204);
	/* An RS256 token against an HS256 key: the key's alg only. */
	expect_refused(&d, rs, "RS256 token, HS256 key");
	free(tok);
	free(rs);
	stop(&d);
}
END_TEST

START_TEST(test_es256_token)
{
	struct inboxd d;
	char *tok = sign(JWT_ALG_ES256, "ec.pem", claims("alice", 60, NULL));
	char *rs = rs256("alice");

	start(&d, conf_with("ec.pub", NULL));
	expect_get(&d, tok, 204);
	expect_refused(&d, rs, "RS256 token, ES256 key");
	free(tok);
	free(rs);
	stop(&d);
}
END_TEST

START_TEST(test_jwt_claim_names_the_inbox)
{
	struct inboxd d;
	struct response r;
	char *tok = sign(JWT_ALG_RS256, "rsa.pem", claims("ignored-sub", 60,
	    ",\"email\":\"alice@example.org\""));
	char *no_email = rs256("bob");

	start(&d, conf_with("rsa.pub", "jwt-claim email\n"));
	expect_get(&d, tok, 204);
	contact(&d, "carol", "pw");
	ck_assert_int_eq(breq(&d, "POST", "/inbox?to=carol", tok, NULL, "x", 1,
	    &r), 204);
	response_free(&r);
	ck_assert_int_eq(get(&d, "carol", "pw", "/inbox?wait=0", &r), 200);
	ck_assert_str_eq(response_header(&r, "X-From"), "alice@example.org");
	response_free(&r);
	expect_refused(&d, no_email, "no email claim");
	free(tok);
	free(no_email);
	stop(&d);
}
END_TEST

/* ------------------------------------------------------------- refused */

/* base64url of len bytes, unpadded (RFC 7515 section 2). */
static void
b64url(const char *in, char *out)
{
	char *p;

	base64(in, strlen(in), out);
	for (p = out; *p != '\0'; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	if ((p = strchr(out, '=')) != NULL)
		*p = '\0';
}

/*
 * An HS256 token of header and payload (JSON texts) under HS_SECRET,
 * signed here (RFC 7515 appendix A.1) for what libjwt would not encode.
 */
static char *
forge_hs256(const char *header, const char *payload)
{
	unsigned char mac[32];
	char *tok = malloc(4096), sig[64];
	size_t n;

	ck_assert_ptr_nonnull(tok);
	b64url(header, tok);
	n = strlen(tok);
	tok[n++] = '.';
	b64url(payload, tok + n);
	ck_assert_int_eq(gnutls_hmac_fast(GNUTLS_MAC_SHA256, HS_SECRET,
	    strlen(HS_SECRET), tok, strlen(tok), mac), 0);
	n = strlen(tok);
	tok[n++] = '.';
	base64(mac, sizeof(mac), sig);
	for (char *p = sig; *p != '\0'; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	strcpy(tok + n, sig);
	return tok;
}

START_TEST(test_forged_hs256_signer_matches_libjwt)
{
	struct inboxd d;
	char *tok = forge_hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	    claims("alice", 60, NULL));

	start(&d, conf_with("hs.secret", NULL));
	expect_get(&d, tok, 204);
	free(tok);
	stop(&d);
}
END_TEST

START_TEST(test_alg_none_is_refused)
{
	struct inboxd d;
	char *none = sign(JWT_ALG_NONE, NULL, claims("alice", 60, NULL));
	char head[64], body[256], forged[512];

	start(&d, conf_with("rsa.pub", NULL));
	expect_refused(&d, none, "alg none, empty signature");
	/* alg none with something where the signature goes. */
	b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}", head);
	b64url(claims("alice", 60, NULL), body);
	snprintf(forged, sizeof(forged), "%s.%s.c2lnbmF0dXJl", head, body);
	expect_refused(&d, forged, "alg none with a signature");
	b64url("{\"alg\":\"None\"}", head);
	snprintf(forged, sizeof(forged), "%s.%s.c2lnbmF0dXJl", head, body);
	expect_refused(&d, forged, "alg None");
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	free(none);
	stop(&d);
}
END_TEST

START_TEST(test_hs256_signed_with_the_rs256_public_key_is_refused)
{
	struct inboxd d;
	/* The classic confusion: the public PEM text as the HMAC secret. */
	char *forged = sign(JWT_ALG_HS256, "rsa.pub", claims("alice", 60,
	    NULL));

	start(&d, conf_with("rsa.pub", NULL));
	expect_refused(&d, forged, "HS256 keyed with the RS256 public key");
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	free(forged);
	stop(&d);
}
END_TEST

START_TEST(test_expired_token_is_refused_past_the_leeway_only)
{
	struct inboxd d;
	char *old = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", -100, NULL));
	char *late = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", -10, NULL));
	char *no_exp = sign(JWT_ALG_RS256, "rsa.pem", "{\"sub\":\"alice\"}");
	char *str_exp = sign(JWT_ALG_RS256, "rsa.pem",
	    "{\"sub\":\"alice\",\"exp\":\"9999999999\"}");

	start(&d, conf_with("rsa.pub", NULL)); /* jwt-leeway 30 */
	expect_refused(&d, old, "expired 100 s ago");
	expect_refused(&d, no_exp, "no exp");
	expect_refused(&d, str_exp, "exp a string");
	expect_get(&d, late, 204); /* 10 s ago: within the leeway */
	stop(&d);
	start(&d, conf_with("rsa.pub", "jwt-leeway 0\n"));
	expect_refused(&d, late, "expired 10 s ago, no leeway");
	stop(&d);
	free(old);
	free(late);
	free(no_exp);
	free(str_exp);
}
END_TEST

START_TEST(test_token_not_valid_yet_is_refused)
{
	struct inboxd d;
	char more[64], *future, *soon;

	snprintf(more, sizeof(more), ",\"nbf\":%ld", now_s() + 100);
	future = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", 600, more));
	snprintf(more, sizeof(more), ",\"nbf\":%ld", now_s() + 10);
	soon = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", 600, more));
	start(&d, conf_with("rsa.pub", NULL));
	expect_refused(&d, future, "nbf in 100 s");
	expect_get(&d, soon, 204); /* within the leeway */
	free(future);
	free(soon);
	stop(&d);
}
END_TEST

START_TEST(test_wrong_issuer_or_audience_is_refused)
{
	static const struct {
		const char *more;
		int ok;
	} cases[] = {
		{ ",\"iss\":\"https://idp.example\",\"aud\":\"app\"", 1 },
		{ ",\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"app\"]", 1 },
		{ ",\"iss\":\"https://evil.example\",\"aud\":\"app\"", 0 },
		{ ",\"aud\":\"app\"", 0 },  /* no iss */
		{ ",\"iss\":\"https://idp.example\",\"aud\":\"other\"", 0 },
		{ ",\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"y\"]", 0 },
		{ ",\"iss\":\"https://idp.example\"", 0 }, /* no aud */
		{ ",\"iss\":\"https://idp.example\",\"aud\":[1]", 0 },
	};
	struct inboxd d;
	size_t i;
	char *tok;

	start(&d, conf_with("rsa.pub", "jwt-issuer https://idp.example\n"
	    "jwt-audience app\n"));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tok = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", 60,
		    cases[i].more));
		if (cases[i].ok)
			expect_get(&d, tok, 204);
		else
			expect_refused(&d, tok, cases[i].more);
		free(tok);
	}
	stop(&d);
	/* Without jwt-audience, a token meant for some audience is not ours. */
	start(&d, conf_with("rsa.pub", NULL));
	tok = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", 60,
	    ",\"aud\":\"app\""));
	expect_refused(&d, tok, "aud without jwt-audience");
	free(tok);
	tok = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", 60,
	    ",\"iss\":\"anyone\""));
	expect_get(&d, tok, 204); /* iss is checked only when configured */
	free(tok);
	stop(&d);
}
END_TEST

START_TEST(test_token_of_another_key_is_refused)
{
	struct inboxd d;
	char *other = sign(JWT_ALG_RS256, "rsa2.pem", claims("alice", 60, NULL));
	char *hs = sign(JWT_ALG_HS256, "hs.secret", claims("alice", 60, NULL));

	start(&d, conf_with("rsa.pub", NULL));
	expect_refused(&d, other, "RS256 of another key");
	expect_refused(&d, hs, "HS256 with a secret, RS256 key");
	free(other);
	free(hs);
	stop(&d);
	/* An HS256 token under another secret. */
	start(&d, conf_with("hs2.secret", NULL));
	hs = sign(JWT_ALG_HS256, "hs.secret", claims("alice", 60, NULL));
	expect_refused(&d, hs, "HS256 of another secret");
	free(hs);
	stop(&d);
}
END_TEST

START_TEST(test_token_with_a_flipped_byte_is_refused)
{
	struct inboxd d;
	char *tok = rs256("alice"), *sig, *dot;
	size_t n;

	start(&d, conf_with("rsa.pub", NULL));
	sig = strrchr(tok, '.') + 1;
	n = strlen(sig);
	/* A byte in the middle: the last character holds padding bits. */
	sig[n / 2] = sig[n / 2] == 'A' ? 'B' : 'A';
	expect_refused(&d, tok, "signature altered");
	free(tok);
	/* The payload altered, the signature kept. */
	tok = rs256("alice");
	dot = strchr(tok, '.') + 1;
	dot[3] = dot[3] == 'A' ? 'B' : 'A';
	expect_refused(&d, tok, "payload altered");
	free(tok);
	/* Junk after the signature, which libjwt's base64 would skip. */
	tok = rs256("alice");
	n = strlen(tok);
	tok = realloc(tok, n + 3);
	memcpy(tok + n, "!!", 3);
	expect_refused(&d, tok, "junk after the signature");
	free(tok);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	stop(&d);
}
END_TEST

START_TEST(test_garbage_tokens_are_refused)
{
	static const char *const bad[] = {
		"garbage", "a.b.c", "..", "a..c", "e30.e30.", "e30.e30.e30",
		"eyJhbGciOiJSUzI1NiJ9.e30", "ä.ö.ü", "a.b.c.d",
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.AAAA",
	};
	struct inboxd d;
	struct response r;
	size_t i;
	char *big;

	start(&d, conf_with("rsa.pub", NULL));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(&d, bad[i], bad[i]);
	/* Bearer with no token at all. */
	ck_assert_int_eq(req(&d, "GET", "/inbox?wait=0", NULL, NULL,
	    "Authorization: Bearer \r\n", NULL, 0, &r), 401);
	assert_error_full(&r, 401, "unauthorized");
	response_free(&r);
	/* 6 KiB of base64url (a request head is 8 KiB at most). */
	big = malloc(6 * KIB + 1);
	memset(big, 'A', 6 * KIB);
	big[2 * KIB] = big[4 * KIB] = '.';
	big[6 * KIB] = '\0';
	expect_refused(&d, big, "6 KiB of A");
	free(big);
	stop(&d);
}
END_TEST

START_TEST(test_sub_that_is_not_an_inbox_name_is_refused)
{
	struct inboxd d;
	char long_sub[300], *tok;

	start(&d, conf_with("rsa.pub", NULL));
	tok = rs256("");
	expect_refused(&d, tok, "empty sub");
	free(tok);
	tok = rs256("al\\u0001ice");
	expect_refused(&d, tok, "sub with a control character");
	free(tok);
	tok = rs256("al\\u007fice");
	expect_refused(&d, tok, "sub with DEL");
	free(tok);
	memset(long_sub, 'n', 257);
	long_sub[257] = '\0';
	tok = rs256(long_sub);
	expect_refused(&d, tok, "sub of 257 bytes");
	free(tok);
	long_sub[256] = '\0';
	tok = rs256(long_sub);
	expect_get(&d, tok, 204); /* 256 bytes is a name */
	free(tok);
	tok = sign(JWT_ALG_RS256, "rsa.pem", "{\"sub\":42,\"exp\":9999999999}");
	expect_refused(&d, tok, "sub a number");
	free(tok);
	stop(&d);
	/* A NUL, which libjwt will not encode: signed here. */
	start(&d, conf_with("hs.secret", NULL));
	tok = forge_hs256("{\"alg\":\"HS256\"}", claims("al\\u0000ice", 60,
	    NULL));
	expect_refused(&d, tok, "sub with a NUL");
	free(tok);
	stop(&d);
}
END_TEST

/* --------------------------------------------------- the two schemes */

START_TEST(test_basic_and_bearer_inboxes_are_kept_apart)
{
	struct inboxd d;
	struct response r;
	char *alice = rs256("alice"), *bob = rs256("bob");

	start(&d, conf_with("rsa.pub", NULL));
	/* alice by password: her token does not open her inbox. */
	contact(&d, "alice", "pw");
	ck_assert_int_eq(breq(&d, "GET", "/inbox?wait=0", alice, NULL, NULL, 0,
	    &r), 401);
	assert_error_full(&r, 401, "unauthorized");
	response_free(&r);
	ck_assert_int_eq(breq(&d, "POST", "/inbox?to=alice", alice, NULL, "x",
	    1, &r), 401);
	response_free(&r);
	/* bob by token: no password opens his inbox. */
	expect_get(&d, bob, 204);
	ck_assert_int_eq(get(&d, "bob", "pw", "/inbox?wait=0", &r), 401);
	response_free(&r);
	ck_assert_int_eq(get(&d, "bob", "\\0bearer", "/inbox?wait=0", &r),
	    401);
	response_free(&r);
	/* Both still work with their own scheme, /pin too. */
	contact(&d, "alice", "pw");
	expect_get(&d, bob, 204);
	ck_assert_int_eq(breq(&d, "POST", "/pin", bob, NULL, NULL, 0, &r), 201);
	response_free(&r);
	free(alice);
	free(bob);
	stop(&d);
}
END_TEST

/* Send from bob until alice's inbox is gone (404), within deadline_ms. */
static void
wait_gone(struct inboxd *d, const char *alice_to, long deadline_ms)
{
	struct response r;
	long deadline = client_now_ms() + deadline_ms;
	int status;

	contact(d, "bob", "pw");
	for (;;) {
		status = send_to(d, "bob", "pw", alice_to, NULL, "x", 1, &r);
		response_free(&r);
		if (status != 204 || client_now_ms() >= deadline)
			break;
		sleep_ms(100);
	}
	ck_assert_int_eq(status, 404);
}

START_TEST(test_an_expired_inbox_goes_to_either_scheme_again)
{
	struct inboxd d;
	char *alice = rs256("alice");

	start(&d, conf_with("rsa.pub", "inbox-timeout 1\n"));
	expect_get(&d, alice, 204);
	wait_gone(&d, "alice", 3000);
	/* Made by a token, expired: a password may take the name now. */
	contact(&d, "alice", "pw");
	expect_get(&d, alice, 401);
	wait_gone(&d, "alice", 3000);
	/* And back to a token. */
	expect_get(&d, alice, 204);
	ck_assert_int_eq(get(&d, "alice", "pw", "/inbox?wait=0", NULL), 401);
	free(alice);
	stop(&d);
}
END_TEST

START_TEST(test_jwt_required_refuses_basic)
{
	struct inboxd d;
	struct response r;
	char *alice = rs256("alice");

	start(&d, conf_with("rsa.pub", "jwt-required yes\n"));
	ck_assert_int_eq(get(&d, "carol", "pw", "/inbox?wait=0", &r), 401);
	assert_error_full(&r, 401, "unauthorized");
	ck_assert_msg(has_challenge(&r, BEARER_CHALLENGE), "no Bearer "
	    "challenge:\n%s", r.head);
	ck_assert_msg(!has_challenge(&r, BASIC_CHALLENGE), "a Basic challenge "
	    "with jwt-required:\n%s", r.head);
	response_free(&r);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 0);
	expect_get(&d, alice, 204);
	free(alice);
	stop(&d);
}
END_TEST

START_TEST(test_missing_credentials_get_both_challenges)
{
	struct inboxd d;
	struct response r;

	start(&d, conf_with("rsa.pub", NULL));
	ck_assert_int_eq(get(&d, NULL, NULL, "/inbox?wait=0", &r), 401);
	assert_error_full(&r, 401, "unauthorized");
	ck_assert(has_challenge(&r, BASIC_CHALLENGE));
	ck_assert(has_challenge(&r, BEARER_CHALLENGE));
	response_free(&r);
	/* Missing credentials are no failed attempt. */
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	stop(&d);
}
END_TEST

/* POST /rooms with token (or Basic user:pw when token is NULL). */
static int
post_room(struct inboxd *d, const char *token, const char *user,
    struct response *r)
{
	if (token != NULL)
		return breq(d, "POST", "/rooms", token, NULL, NULL, 0, r);
	return req(d, "POST", "/rooms", user, "pw", NULL, NULL, 0, r);
}

START_TEST(test_rooms_require_jwt_lets_bearer_callers_create_only)
{
	struct inboxd d;
	struct response r;
	char *alice = rs256("alice"), target[256], extra[256];
	cJSON *j;
	const cJSON *room, *secret;

	start(&d, conf_with("rsa.pub", "rooms-require-jwt yes\n"));
	ck_assert_int_eq(post_room(&d, NULL, "bob", &r), 403);
	assert_error_full(&r, 403, "forbidden");
	response_free(&r);
	ck_assert_int_eq(metric(&d, "inboxd_rooms"), 0);
	ck_assert_int_eq(post_room(&d, alice, NULL, &r), 201);
	j = cJSON_ParseWithLength(r.body, r.body_len);
	room = cJSON_GetObjectItemCaseSensitive(j, "room");
	secret = cJSON_GetObjectItemCaseSensitive(j, "token");
	ck_assert_msg(cJSON_IsString(room) && cJSON_IsString(secret),
	    "no room and token in %s", r.body);
	snprintf(target, sizeof(target), "/rooms/%s/members",
	    room->valuestring);
	snprintf(extra, sizeof(extra), "X-Room-Token: %s\r\n",
	    secret->valuestring);
	cJSON_Delete(j);
	response_free(&r);
	/* A Basic peer with the secret still joins. */
	ck_assert_int_eq(req(&d, "POST", target, "bob", "pw", extra, NULL, 0,
	    &r), 200);
	ck_assert_msg(strstr(r.body, "\"bob\"") && strstr(r.body, "\"alice\""),
	    "members after the join: %s", r.body);
	response_free(&r);
	free(alice);
	stop(&d);
}
END_TEST

START_TEST(test_bearer_requests_never_run_argon2)
{
	struct inboxd d;
	struct response r;
	char *alice = rs256("alice"), *bob = rs256("bob");
	int i;

	start(&d, conf_with("rsa.pub", NULL));
	for (i = 0; i < 3; i++) {
		expect_get(&d, alice, 204);
		expect_get(&d, bob, 204);
		ck_assert_int_eq(breq(&d, "POST", "/inbox?to=bob", alice, NULL,
		    "x", 1, &r), 204);
		response_free(&r);
		ck_assert_int_eq(breq(&d, "GET", "/inbox?wait=0", bob, NULL,
		    NULL, 0, &r), 200);
		response_free(&r);
	}
	ck_assert_int_eq(breq(&d, "POST", "/pin", alice, NULL, NULL, 0, &r),
	    201);
	response_free(&r);
	ck_assert_int_eq(breq(&d, "POST", "/rooms", alice, NULL, NULL, 0, &r),
	    201);
	response_free(&r);
	ck_assert_int_eq(metric(&d, "inboxd_inboxes"), 2);
	ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 0);
	/* A Basic first contact is hashed, as ever. */
	contact(&d, "carol", "pw");
	ck_assert_int_eq(metric(&d, "inboxd_argon2_hashes_total"), 1);
	free(alice);
	free(bob);
	stop(&d);
}
END_TEST

START_TEST(test_failed_bearer_attempts_count_toward_the_limit)
{
	struct inboxd d;
	struct response r;
	char *expired = sign(JWT_ALG_RS256, "rsa.pem", claims("alice", -600,
	    NULL));
	char *good = rs256("alice");

	start(&d, conf_with("rsa.pub", "auth-failures-per-minute 3\n"));
	expect_refused(&d, "garbage", "garbage");
	expect_refused(&d, expired, "expired");
	expect_refused(&d, "a.b.c", "a.b.c");
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 3);
	/* The address is blocked now, good token or not. */
	ck_assert_int_eq(breq(&d, "GET", "/inbox?wait=0", good, NULL, NULL, 0,
	    &r), 429);
	assert_error_full(&r, 429, "too_many_requests");
	ck_assert_int_ge(retry_after(&r), 1);
	response_free(&r);
	free(expired);
	free(good);
	stop(&d);
}
END_TEST

START_TEST(test_bearer_without_jwt_key_is_as_no_credentials)
{
	struct inboxd d;
	struct response r;
	char *alice = rs256("alice");

	start(&d, "");
	ck_assert_int_eq(breq(&d, "GET", "/inbox?wait=0", alice, NULL, NULL, 0,
	    &r), 401);
	ck_assert_str_eq(response_header(&r, "WWW-Authenticate"),
	    BASIC_CHALLENGE);
	ck_assert(!has_challenge(&r, BEARER_CHALLENGE));
	response_free(&r);
	ck_assert_int_eq(metric(&d, "inboxd_auth_failures_total"), 0);
	free(alice);
	stop(&d);
}
END_TEST

START_TEST(test_bad_jwt_key_files_stop_the_start)
{
	static const struct {
		const char *file;
		const char *needle;
	} bad[] = {
		{ "short.secret", "an HS256 secret of 12 bytes" },
		{ "rsa.pem", "private key" },
		{ "rsa1024.pub", "an RSA key of 1024 bits" },
		{ "ec384.pub", "not on P-256" },
		{ "missing.pub", "No such file" },
	};
	char cmd[2048], conf[1024], out[1024];
	size_t i, n;
	FILE *f;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(conf, sizeof(conf), "%s/bad.conf", keys);
		f = fopen(conf, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "# a comment\njwt-key %s\n", key_path(bad[i].file));
		fclose(f);
		snprintf(cmd, sizeof(cmd), "%s -n -f %s 2>&1",
		    getenv("INBOXD") ? getenv("INBOXD") : "./inboxd", conf);
		f = popen(cmd, "r");
		ck_assert_ptr_nonnull(f);
		n = fread(out, 1, sizeof(out) - 1, f);
		out[n] = '\0';
		ck_assert_msg(pclose(f) != 0, "%s: -n passed: %s", bad[i].file,
		    out);
		ck_assert_msg(strstr(out, "bad.conf:2: jwt-key: ") != NULL &&
		    strstr(out, bad[i].needle) != NULL, "%s: %s", bad[i].file,
		    out);
	}
}
END_TEST

/* ----------------------------------------------------------- the keys */

static int
run(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd %s && %s >/dev/null 2>&1", keys, cmd);
	return system(full) == 0 ? 0 : -1;
}

static int
write_file(const char *file, const char *text)
{
	FILE *f = fopen(key_path(file), "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Make the suite's keys; 0, or -1 when openssl could not. */
static int
make_keys(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(keys, sizeof(keys), "%s/check_jwt.XXXXXX", tmp);
	if (mkdtemp(keys) == NULL)
		return -1;
	if (run("openssl genrsa -out rsa.pem 2048") == -1 ||
	    run("openssl rsa -in rsa.pem -pubout -out rsa.pub") == -1 ||
	    run("openssl genrsa -out rsa2.pem 2048") == -1 ||
	    run("openssl rsa -in rsa2.pem -pubout -out rsa2.pub") == -1 ||
	    run("openssl genrsa -out rsa1024.pem 1024") == -1 ||
	    run("openssl rsa -in rsa1024.pem -pubout -out rsa1024.pub") == -1 ||
	    run("openssl ecparam -name prime256v1 -genkey -noout "
	    "-out ec.pem") == -1 ||
	    run("openssl ec -in ec.pem -pubout -out ec.pub") == -1 ||
	    run("openssl ecparam -name secp384r1 -genkey -noout "
	    "-out ec384.pem") == -1 ||
	    run("openssl ec -in ec384.pem -pubout -out ec384.pub") == -1)
		return -1;
	/* With the newline an editor leaves: it is not part of the secret. */
	if (write_file("hs.secret", HS_SECRET "\n") == -1 ||
	    write_file("hs2.secret", "another secret, forty bytes or so....")
	    == -1 ||
	    write_file("short.secret", "twelve bytes\n") == -1)
		return -1;
	return 0;
}

static Suite *
jwt_suite(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc;

	tc = tcase(s, "accepted", 20);
	tcase_add_test(tc, test_rs256_token_sends_and_receives);
	tcase_add_test(tc, test_hs256_token_with_a_secret_file);
	tcase_add_test(tc, test_es256_token);
	tcase_add_test(tc, test_jwt_claim_names_the_inbox);
	tc = tcase(s, "refused", 20);
	tcase_add_test(tc, test_forged_hs256_signer_matches_libjwt);
	tcase_add_test(tc, test_alg_none_is_refused);
	tcase_add_test(tc, test_hs256_signed_with_the_rs256_public_key_is_refused);
	tcase_add_test(tc, test_expired_token_is_refused_past_the_leeway_only);
	tcase_add_test(tc, test_token_not_valid_yet_is_refused);
	tcase_add_test(tc, test_wrong_issuer_or_audience_is_refused);
	tcase_add_test(tc, test_token_of_another_key_is_refused);
	tcase_add_test(tc, test_token_with_a_flipped_byte_is_refused);
	tcase_add_test(tc, test_garbage_tokens_are_refused);
	tcase_add_test(tc, test_sub_that_is_not_an_inbox_name_is_refused);
	tc = tcase(s, "schemes", 20);
	tcase_add_test(tc, test_basic_and_bearer_inboxes_are_kept_apart);
	tcase_add_test(tc, test_an_expired_inbox_goes_to_either_scheme_again);
	tcase_add_test(tc, test_jwt_required_refuses_basic);
	tcase_add_test(tc, test_missing_credentials_get_both_challenges);
	tcase_add_test(tc, test_rooms_require_jwt_lets_bearer_callers_create_only);
	tcase_add_test(tc, test_bearer_requests_never_run_argon2);
	tcase_add_test(tc, test_failed_bearer_attempts_count_toward_the_limit);
	tcase_add_test(tc, test_bearer_without_jwt_key_is_as_no_credentials);
	tcase_add_test(tc, test_bad_jwt_key_files_stop_the_start);
	return s;
}

int
main(void)
{
	char cmd[300];
	int ret;

	if (make_keys() == -1) {
		fprintf(stderr, "check_jwt: openssl could not make the keys in "
		    "%s\n", keys);
		return EXIT_FAILURE;
	}
	ret = check_run(jwt_suite());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", keys);
	if (system(cmd) != 0)
		fprintf(stderr, "check_jwt: could not remove %s\n", keys);
	return ret;
}
