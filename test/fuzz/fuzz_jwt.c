/*
 * fuzz_jwt.c - libFuzzer target for jwt.c's checks of a Bearer token.
 *
 * The first byte picks what the rest of the input is: even, a token as
 * a client sends it, checked under an HS256 and an RS256 key; odd, the
 * claims of a token that is then signed here with the HS256 secret (RFC
 * 7515 appendix A.1), so that the claim checks (exp, nbf, iss, aud, the
 * inbox claim) see every JSON libjwt's parser takes.  Properties: a
 * token is accepted exactly when a subject comes back and no reason, and
 * refused with a reason and no subject; a token with a byte outside
 * base64url and its two dots is refused; nothing is accepted under the
 * RS256 key (no input here is signed with its private key); an
 * accepted claims text has an exp; and a token checked again, its
 * signature then known good to the key, gets the same answer.  See
 * test/fuzz/README.
 */
#include <gnutls/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jwt.h"
#include "../jwt_keys.h"

#define NOW 1000000000L

#define REQUIRE(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_jwt: " __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

static struct jwt_key *hs, *rs;

/* Load text as a key through a file, as jwt-key does. */
static struct jwt_key *
load(const char *text)
{
	char path[] = "/tmp/fuzz_jwt.XXXXXX", why[512];
	struct jwt_key *k;
	int fd = mkstemp(path);

	REQUIRE(fd != -1, "mkstemp");
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text),
	    "write");
	close(fd);
	k = jwt_key_load(path, why, sizeof(why));
	unlink(path);
	REQUIRE(k != NULL, "key refused: %s", why);
	return k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	hs = load(TEST_HS_SECRET);
	rs = load(TEST_RSA_PUB);
	return 0;
}

/* Check token under k; returns whether it was accepted. */
static int
check(struct jwt_key *k, const struct jwt_rules *rules,
    const char *token)
{
	const char *why = NULL;
	char *sub = (char *)"unset";
	int r = jwt_key_check(k, rules, token, NOW, &sub, &why);

	if (r == 0) {
		REQUIRE(sub != NULL && why == NULL, "accepted without a subject");
		free(sub);
		return 1;
	}
	REQUIRE(r == -1 && sub == NULL && why != NULL,
	    "refused without a reason, or with a subject");
	return 0;
}

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct jwt_rules plain = { "sub", NULL, NULL, 30 };
	static const struct jwt_rules strict = { "sub", "https://idp", "app",
	    0 };
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[32];
	char *text, *tok;
	size_t i;
	int ok;

	if (size == 0 || size > 4096)
		return 0;
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if ((data[0] & 1) == 0) {
		ok = check(hs, &plain, text);
		ok |= check(hs, &strict, text);
		REQUIRE(!check(rs, &plain, text), "accepted under the RS256 key");
		for (i = 0; ok && text[i] != '\0'; i++)
			REQUIRE(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
			    "qrstuvwxyz0123456789-_.", text[i]) != NULL,
			    "accepted a token holding 0x%02x",
			    (unsigned char)text[i]);
		free(text);
		return 0;
	}
	/* Sign the claims: 4/3 of each part, two dots, the MAC. */
	tok = calloc(1, 2 * size + 200);
	if (tok == NULL) {
		free(text);
		return 0;
	}
	b64url(header, strlen(header), tok);
	strcat(tok, ".");
	b64url(text, strlen(text), tok);
	REQUIRE(gnutls_hmac_fast(GNUTLS_MAC_SHA256, TEST_HS_SECRET,
	    strlen(TEST_HS_SECRET), tok, strlen(tok), mac) == 0, "hmac");
	strcat(tok, ".");
	b64url(mac, sizeof(mac), tok);
	ok = check(hs, &plain, tok);
	/* The second time the signature is known good: the same answer. */
	REQUIRE(check(hs, &plain, tok) == ok, "a verified token answered "
	    "otherwise the second time");
	if (check(hs, &strict, tok))
		REQUIRE(ok || strstr(text, "aud") != NULL,
		    "accepted under the strict rules only");
	REQUIRE(!ok || strstr(text, "exp") != NULL || strstr(text, "\\u") !=
	    NULL, "accepted claims without an exp: %s", text);
	REQUIRE(!check(rs, &plain, tok), "HS256 accepted under the RS256 key");
	free(tok);
	free(text);
	return 0;
}
