/*
 * ice.h - the time-limited TURN credentials of GET /ice (SPEC section 9).
 *
 * The scheme is the TURN REST API (draft-uberti-behave-turn-rest-00,
 * section 2.2), which coturn checks with use-auth-secret: the username is
 * EXPIRY:INBOX, EXPIRY in Unix seconds, and the password is the base64
 * (RFC 4648) of HMAC-SHA1 (RFC 2104) of the username keyed with the
 * secret shared with the TURN server.  HMAC-SHA1 is GnuTLS's.
 */
#ifndef INBOXD_ICE_H
#define INBOXD_ICE_H

#include <stddef.h>
#include <stdint.h>

#define ICE_USERNAME_MAX (20 + 1 + 256) /* EXPIRY:INBOX, bytes */
#define ICE_CREDENTIAL_LEN 28           /* base64 of 20 bytes */

/*
 * Make the credentials of inbox (NUL-terminated, at most 256 bytes)
 * valid until expiry_s (Unix seconds), with secret (len bytes): the
 * username into user (ICE_USERNAME_MAX + 1 bytes) and the password into
 * credential (ICE_CREDENTIAL_LEN + 1 bytes), both NUL-terminated.
 * Returns 0, or -1 when the inbox name is too long or GnuTLS failed.
 */
int ice_credential(const char *secret, size_t len, const char *inbox,
    uint64_t expiry_s, char user[ICE_USERNAME_MAX + 1],
    char credential[ICE_CREDENTIAL_LEN + 1]);

#endif
