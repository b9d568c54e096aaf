/*
 * auth.h - passwords: validation, Argon2id hashing (RFC 9106) in a bounded
 * pool of worker threads, and the credential MAC that lets every request
 * after the first skip Argon2.
 *
 * The only libargon2 user.  A password is copied only into an auth job,
 * which wipes it as soon as it is hashed; the MAC is HMAC-SHA-256 (RFC
 * 2104, through GnuTLS) of username and password under a key drawn from
 * getrandom(2) at start, so it is worthless outside this process.
 */
#ifndef INBOXD_AUTH_H
#define INBOXD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cred.h"

#define AUTH_USERNAME_MAX 256  /* bytes, SPEC section 2 */
#define AUTH_PASSWORD_MAX 1024 /* bytes */

struct auth_params {
	unsigned time_cost;  /* Argon2 passes, t */
	unsigned memory_kib; /* Argon2 memory, m, in KiB */
	unsigned parallelism; /* Argon2 lanes, p */
	unsigned max_concurrent; /* worker threads: hashes at once */
	unsigned min_password_length; /* bytes */
};

/*
 * A first contact's hashing job, embedded in the request that waits for
 * it.  The submitter fills password (malloc'd, owned by the job from
 * submission on), len and done; the worker fills hash and result (0, or
 * -1 when hashing failed or the pool is stopping), wipes and frees the
 * password, then calls done from the worker thread.
 */
struct auth_job {
	struct auth_job *next;
	/* NULL: hash password into hash.  Else called in its place, from
	 * the worker (it may block); its return value is the result. */
	int (*work)(struct auth_job *job);
	char *password;
	size_t len;
	struct cred_hash hash;
	int result;
	void (*done)(struct auth_job *job);
};

/*
 * Draw the MAC key and start max_concurrent hashing threads (at least 1).
 * Returns 0, or -1 with errno set.
 */
int auth_init(const struct auth_params *p);

/*
 * Finish the job in hand, fail the queued ones and later submissions
 * (result -1), join the workers.  MACs keep working until exit.
 */
void auth_stop(void);

/*
 * Change min-password-length, for a reload; the Argon2id parameters
 * cannot change while the process lives, since the hashes kept were made
 * with them.
 */
void auth_set_min_password_length(unsigned len);

/*
 * Check a Basic auth user-id (RFC 7617 section 2): 1 to 256 bytes of
 * UTF-8 without control characters.  Returns NULL when valid, else a
 * message for the client.
 */
const char *auth_check_username(const char *user, size_t len);

/*
 * Check a password's length: min_password_length to 1024 bytes.  Returns
 * NULL when valid, else a message for the client.
 */
const char *auth_check_password(size_t len);

/*
 * Replace the MAC key drawn by auth_init with the CRED_MAC_BYTES of key:
 * a key shared by the nodes of a cluster, so that a room secret MACed on
 * one node matches on another.  Call before any MAC is computed on
 * another thread.
 */
void auth_set_key(const uint8_t key[CRED_MAC_BYTES]);

/* The credential MAC of user and password into mac. */
void auth_mac(const char *user, const char *password, size_t password_len,
    uint8_t mac[CRED_MAC_BYTES]);

/*
 * Hash a password with Argon2id under a fresh random salt, with the
 * configured costs.  Blocks for the hash's duration.  Returns 0 or -1.
 */
int auth_hash(const char *password, size_t len, struct cred_hash *h);

/* Check a password against h in constant time.  Returns 0 on a match. */
int auth_verify(const char *password, size_t len, const struct cred_hash *h);

/*
 * Bearer inboxes (SPEC section 9) share the store with Basic ones and are
 * kept apart by their credentials alone.  auth_bearer_mac: the MAC of
 * user's Bearer callers, of a password holding a NUL byte, which no Basic
 * password holds (RFC 7617's user-pass is NUL-terminated here), so no
 * Basic login ever matches it.
 */
void auth_bearer_mac(const char *user, uint8_t mac[CRED_MAC_BYTES]);

/*
 * The hash stored with an inbox made by a Bearer caller: a fresh random
 * salt (the store's generation of the inbox) and an all-zero tag, which
 * no Argon2id output is but by a 2^-256 chance.  Returns 0 or -1.
 */
int auth_bearer_hash(struct cred_hash *h);

/* Is h the hash of an inbox made by a Bearer caller?  Constant time. */
bool auth_is_bearer_hash(const struct cred_hash *h);

/* Queue job for a worker thread; job->done is called when it is hashed. */
void auth_submit(struct auth_job *job);

#endif
