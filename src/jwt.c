/*
 * jwt.c - the jwt-key and the checks of a Bearer token, over libjwt.
 *
 * libjwt 1.10's jwt_decode takes the algorithm from the token's own
 * header and verifies with whatever key it is handed: given our RS256
 * public key and a token that says HS256, it computes an HMAC keyed with
 * the PEM text, which anyone holding the (public) key can forge.  So the
 * algorithm decoded is compared with the key's before anything in the
 * token is believed.  It checks no claim either (1.10 has no exp or nbf
 * checks), and its base64 decoder skips characters outside the alphabet,
 * so the token's syntax is checked here first.  GnuTLS (linked for the
 * MACs already) tells an RSA key from an EC one.
 *
 * libjwt reads the PEM key again for every RS256 or ES256 verification,
 * which with OpenSSL 3 costs some 400 us; a client polls with one token
 * for its whole life.  So each key remembers the SHA-256 of the tokens
 * whose signature it verified (KEY_CACHE_SETS sets of KEY_CACHE_WAYS,
 * the oldest of a set giving way): such a token is parsed again
 * (microseconds) and its claims checked again against the clock and the
 * rules, but not its signature.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jwt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* <jwt.h> is libjwt's, "jwt.h" ours: the Makefile's -iquote include. */
#include "json.h"
#include "jwt.h"
#include "util.h"

#define KEY_FILE_MAX (64 * 1024) /* bytes */
#define PEM_BEGIN "-----BEGIN "
#define KEY_CACHE_SETS 4096 /* 16384 tokens verified, 512 KiB a key */
#define KEY_CACHE_WAYS 4
#define DIGEST_BYTES 32     /* SHA-256 */

struct key_cache_set {
	uint8_t digest[KEY_CACHE_WAYS][DIGEST_BYTES];
	unsigned next; /* the way the next token takes */
};

struct jwt_key {
	jwt_alg_t alg;
	unsigned char *bytes; /* the PEM text, or the HS256 secret */
	size_t len;
	pthread_mutex_t lock;  /* of verified */
	struct key_cache_set *verified; /* SHA-256 of good tokens */
};

void
jwt_key_free(struct jwt_key *k)
{
	if (k == NULL)
		return;
	if (k->bytes != NULL)
		wipe(k->bytes, k->len);
	free(k->bytes);
	free(k->verified);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* The set of digest d in k's table of verified tokens. */
static struct key_cache_set *
cache_set(struct jwt_key *k, const uint8_t d[DIGEST_BYTES])
{
	return &k->verified[((size_t)d[0] << 8 | d[1]) % KEY_CACHE_SETS];
}

/* Did k verify the signature of the token whose digest is d? */
static bool
cache_has(struct jwt_key *k, const uint8_t d[DIGEST_BYTES])
{
	struct key_cache_set *set = cache_set(k, d);
	bool hit = false;
	unsigned i;

	pthread_mutex_lock(&k->lock);
	for (i = 0; i < KEY_CACHE_WAYS; i++)
		if (ct_memcmp(set->digest[i], d, DIGEST_BYTES) == 0)
			hit = true;
	pthread_mutex_unlock(&k->lock);
	return hit;
}

static void
cache_put(struct jwt_key *k, const uint8_t d[DIGEST_BYTES])
{
	struct key_cache_set *set = cache_set(k, d);

	pthread_mutex_lock(&k->lock);
	memcpy(set->digest[set->next], d, DIGEST_BYTES);
	set->next = (set->next + 1) % KEY_CACHE_WAYS;
	pthread_mutex_unlock(&k->lock);
}

const char *
jwt_key_alg(const struct jwt_key *k)
{
	return jwt_alg_str(k->alg);
}

/* Read the file at path, at most KEY_FILE_MAX bytes; NULL with why. */
static unsigned char *
read_key_file(const char *path, size_t *len, char *why, size_t why_len)
{
	unsigned char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(KEY_FILE_MAX + 1)) == NULL) {
		snprintf(why, why_len, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + got, KEY_FILE_MAX + 1 - got)) > 0)
		if ((got += (size_t)n) > KEY_FILE_MAX)
			break;
	close(fd);
	if (n == -1 || got > KEY_FILE_MAX) {
		snprintf(why, why_len, "%s: %s", path, n == -1 ?
		    strerror(errno) : "larger than 64 KiB");
		wipe(buf, got);
		free(buf);
		return NULL;
	}
	*len = got;
	return buf;
}

/* RS256 or ES256 from the PEM public key in k; 0, or -1 with why. */
static int
pem_alg(struct jwt_key *k, const char *path, char *why, size_t why_len)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t d = { k->bytes, (unsigned)k->len };
	gnutls_ecc_curve_t curve;
	unsigned bits = 0;
	int alg, ret = -1;

	if (gnutls_pubkey_init(&pub) < 0) {
		snprintf(why, why_len, "%s: out of memory", path);
		return -1;
	}
	if (gnutls_pubkey_import(pub, &d, GNUTLS_X509_FMT_PEM) < 0) {
		snprintf(why, why_len, "%s: not a PEM public key (BEGIN PUBLIC "
		    "KEY)%s", path, strstr((char *)k->bytes, "PRIVATE KEY") ?
		    ": it holds a private key, jwt-key takes the public one" :
		    "");
		goto done;
	}
	alg = gnutls_pubkey_get_pk_algorithm(pub, &bits);
	if (alg == GNUTLS_PK_RSA) {
		if (bits < JWT_RSA_BITS_MIN) {
			snprintf(why, why_len, "%s: an RSA key of %u bits; RS256 "
			    "takes %d or more (RFC 7518 section 3.3)", path,
			    bits, JWT_RSA_BITS_MIN);
			goto done;
		}
		k->alg = JWT_ALG_RS256;
	} else if (alg == GNUTLS_PK_ECDSA) {
		if (gnutls_pubkey_export_ecc_raw(pub, &curve, NULL, NULL) < 0 ||
		    curve != GNUTLS_ECC_CURVE_SECP256R1) {
			snprintf(why, why_len, "%s: an EC key not on P-256; "
			    "ES256 takes P-256", path);
			goto done;
		}
		k->alg = JWT_ALG_ES256;
	} else {
		snprintf(why, why_len, "%s: a %s key; jwt-key takes RSA "
		    "(RS256) or EC P-256 (ES256)", path,
		    gnutls_pk_algorithm_get_name((gnutls_pk_algorithm_t)alg));
		goto done;
	}
	ret = 0;
done:
	gnutls_pubkey_deinit(pub);
	return ret;
}

struct jwt_key *
jwt_key_load(const char *path, char *why, size_t len)
{
	struct jwt_key *k;
	const char *p;

	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->verified = calloc(KEY_CACHE_SETS, sizeof(*k->verified))) ==
	    NULL) {
		snprintf(why, len, "%s: out of memory", path);
		free(k);
		return NULL;
	}
	/* All zero is no SHA-256 of a token, but by a 2^-256 chance. */
	pthread_mutex_init(&k->lock, NULL);
	if ((k->bytes = read_key_file(path, &k->len, why, len)) == NULL) {
		jwt_key_free(k);
		return NULL;
	}
	k->bytes[k->len] = '\0'; /* read_key_file leaves room */
	for (p = (const char *)k->bytes; *p == ' ' || *p == '\t' ||
	    *p == '\r' || *p == '\n'; p++)
		;
	if (strncmp(p, PEM_BEGIN, strlen(PEM_BEGIN)) == 0) {
		if (pem_alg(k, path, why, len) == -1)
			goto fail;
		return k;
	}
	/* A secret, as `echo' or an editor leaves it: the newline is not. */
	while (k->len > 0 && (k->bytes[k->len - 1] == '\n' ||
	    k->bytes[k->len - 1] == '\r'))
		k->bytes[--k->len] = '\0';
	if (k->len < JWT_SECRET_MIN) {
		snprintf(why, len, "%s: an HS256 secret of %zu bytes; it takes "
		    "%d or more (RFC 7518 section 3.2)", path, k->len,
		    JWT_SECRET_MIN);
		goto fail;
	}
	k->alg = JWT_ALG_HS256;
	return k;
fail:
	jwt_key_free(k);
	return NULL;
}

/* Three non-empty base64url parts (RFC 7515 section 7.1), nothing else. */
static bool
compact_jws(const char *token)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *p = token;
	int part;
	size_t n;

	if (strlen(token) > JWT_TOKEN_MAX)
		return false;
	for (part = 0; part < 3; part++) {
		if ((n = strspn(p, b64url)) == 0)
			return false;
		p += n;
		if (part < 2 && *p++ != '.')
			return false;
	}
	return *p == '\0';
}

/*
 * The NumericDate (RFC 7519 section 2) of claim name, whole seconds
 * rounded down, into *t.  Returns 0, 1 when the token has no such claim,
 * or -1 when it is not a non-negative number.
 */
static int
claim_time(jwt_t *t, const char *name, int64_t *out)
{
	char *text = jwt_get_grants_json(t, name), *end;
	double v;
	int ret = -1;

	if (text == NULL)
		return 1;
	if (text[0] >= '0' && text[0] <= '9') {
		errno = 0;
		v = strtod(text, &end);
		if (*end == '\0' && errno == 0 && v >= 0) {
			/* Past year 30 million: as good as never. */
			*out = v > 1e15 ? (int64_t)1e15 : (int64_t)v;
			ret = 0;
		}
	}
	free(text);
	return ret;
}

/* Check the claims of the verified t; NULL, or why not. */
static const char *
check_claims(jwt_t *t, const struct jwt_rules *rules, int64_t now_s)
{
	int64_t leeway = rules->leeway_s > 86400 ? 86400 :
	    (int64_t)rules->leeway_s, exp, nbf;
	const char *iss;
	char *aud;
	int r;

	switch (claim_time(t, "exp", &exp)) {
	case 1:
		return "the token has no exp";
	case -1:
		return "exp is not a NumericDate";
	default:
		break;
	}
	if (now_s >= exp + leeway) /* RFC 7519 4.1.4: now must be before */
		return "the token has expired";
	switch (claim_time(t, "nbf", &nbf)) {
	case -1:
		return "nbf is not a NumericDate";
	case 0:
		if (now_s + leeway < nbf)
			return "the token is not valid yet (nbf)";
		break;
	default:
		break;
	}
	if (rules->issuer != NULL && rules->issuer[0] != '\0' &&
	    ((iss = jwt_get_grant(t, "iss")) == NULL ||
	    strcmp(iss, rules->issuer) != 0))
		return "the token's iss is not jwt-issuer";
	/* RFC 7519 4.1.3: a token meant for others is refused. */
	if ((aud = jwt_get_grants_json(t, "aud")) != NULL) {
		r = rules->audience != NULL && rules->audience[0] != '\0' ?
		    json_names(aud, rules->audience) : 0;
		free(aud);
		if (r != 1)
			return r == -1 ? "aud is not a string or an array of "
			    "strings" : "the token's aud does not hold "
			    "jwt-audience";
	} else if (rules->audience != NULL && rules->audience[0] != '\0')
		return "the token has no aud";
	return NULL;
}

int
jwt_key_check(struct jwt_key *k, const struct jwt_rules *rules,
    const char *token, int64_t now_s, char **subject, const char **why)
{
	uint8_t digest[DIGEST_BYTES];
	jwt_t *t = NULL;
	const char *sub;
	char *crit;
	int ret = -1;

	*subject = NULL;
	if (!compact_jws(token)) {
		*why = "not a signed JWT (three base64url parts)";
		return -1;
	}
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token),
	    digest) < 0) {
		*why = "out of memory";
		return -1;
	}
	if (cache_has(k, digest)) {
		/* Verified before: parsed only (without a key, libjwt
		 * checks no signature). */
		if (jwt_decode(&t, token, NULL, 0) != 0 || t == NULL) {
			*why = "malformed token or bad signature";
			goto done;
		}
	} else {
		if (jwt_decode(&t, token, k->bytes, (int)k->len) != 0 ||
		    t == NULL) {
			*why = "malformed token or bad signature";
			goto done;
		}
		/*
		 * libjwt verified with the token's alg: only the key's own
		 * says the signature is the key holder's (RFC 8725 3.1).
		 */
		if (jwt_get_alg(t) != k->alg || k->alg == JWT_ALG_NONE) {
			*why = "the token's alg is not the key's";
			goto done;
		}
		cache_put(k, digest);
	}
	/* RFC 7515 4.1.11: extensions we do not know must not be ignored. */
	if ((crit = jwt_get_headers_json(t, "crit")) != NULL) {
		free(crit);
		*why = "the token has crit header parameters";
		goto done;
	}
	if ((*why = check_claims(t, rules, now_s)) != NULL)
		goto done;
	if ((sub = jwt_get_grant(t, rules->claim)) == NULL) {
		*why = "the token's inbox claim is missing or not a string";
		goto done;
	}
	if ((*subject = strdup(sub)) == NULL) {
		*why = "out of memory";
		goto done;
	}
	ret = 0;
done:
	if (t != NULL)
		jwt_free(t);
	return ret;
}
