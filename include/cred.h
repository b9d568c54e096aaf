/*
 * cred.h - the stored form of a password, shared by auth and the store.
 */
#ifndef INBOXD_CRED_H
#define INBOXD_CRED_H

#include <stdint.h>

#define CRED_SALT_BYTES 16 /* RFC 9106 section 3.1: 128-bit salt */
#define CRED_TAG_BYTES 32  /* 256-bit Argon2id tag */
#define CRED_MAC_BYTES 32  /* HMAC-SHA-256 of a verified password */

/* An Argon2id hash; its cost parameters are the daemon's configured ones. */
struct cred_hash {
	uint8_t salt[CRED_SALT_BYTES];
	uint8_t tag[CRED_TAG_BYTES];
};

#endif
