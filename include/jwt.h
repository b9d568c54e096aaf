/*
 * jwt.h - Bearer tokens (RFC 6750) that are JSON Web Tokens (RFC 7519)
 * signed as JWS (RFC 7515): the key of jwt-key and the checks of SPEC
 * section 9.
 *
 * The only libjwt user.  Signatures are verified by libjwt; what libjwt
 * 1.10 leaves to its caller is done here: the algorithm is the key's,
 * never the token's (alg "none" and an HS256 token keyed with an RS256
 * public key are refused), and exp, nbf, iss and aud are checked against
 * a clock passed in.  A key is an object of its own so that a reload can
 * load a new one beside the old and swap them: any number of threads
 * may check under one key at once, and a key may be freed once no
 * request can still be checking under it.  Never logs:
 * reasons are handed back.
 */
#ifndef INBOXD_JWT_H
#define INBOXD_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_TOKEN_MAX 8192      /* bytes of a token we look at */
#define JWT_SECRET_MIN 32       /* bytes of an HS256 secret, RFC 7518 3.2 */
#define JWT_RSA_BITS_MIN 2048   /* RFC 7518 section 3.3 */

struct jwt_key;

/* What a token must say besides its signature (inboxd.conf(5)). */
struct jwt_rules {
	const char *claim;    /* the claim naming the inbox: "sub" */
	const char *issuer;   /* iss must equal it; NULL or "": not checked */
	const char *audience; /* aud must hold it; NULL or "": a token
	                         with aud is refused */
	uint64_t leeway_s;    /* seconds of clock skew allowed */
};

/*
 * Read the key file at path: a PEM public key (SubjectPublicKeyInfo,
 * "BEGIN PUBLIC KEY") makes an RS256 key (RSA, at least 2048 bits) or an
 * ES256 key (EC on P-256); anything else is an HS256 secret of at least
 * 32 bytes, its trailing CR and LF bytes dropped.  Returns a new key,
 * to be freed with jwt_key_free, or NULL with why (len bytes) filled.
 */
struct jwt_key *jwt_key_load(const char *path, char *why, size_t len);

/* Wipe and free k (NULL is fine). */
void jwt_key_free(struct jwt_key *k);

/* The algorithm k verifies: "RS256", "ES256" or "HS256". */
const char *jwt_key_alg(const struct jwt_key *k);

/*
 * Check token (the credentials of "Authorization: Bearer", RFC 6750
 * section 2.1): three base64url parts, signed with k's algorithm and
 * verified by libjwt with k, an exp (RFC 7519 4.1.4) after now_s less
 * the leeway, an nbf (4.1.5), if any, before now_s plus the leeway, and
 * iss and aud as rules say.  Returns 0 with *subject the string value of
 * rules->claim (malloc'd, the caller frees it; not checked as an inbox
 * name), or -1 with *why a static reason for the log.  k remembers the
 * tokens whose signature it verified, so that the same token costs no
 * second verification (its claims are checked every time); thread-safe.
 */
int jwt_key_check(struct jwt_key *k, const struct jwt_rules *rules,
    const char *token, int64_t now_s, char **subject, const char **why);

#endif
