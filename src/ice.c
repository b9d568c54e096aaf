/*
 * ice.c - TURN REST credentials (draft-uberti-behave-turn-rest-00).
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include "ice.h"
#include "util.h"

int
ice_credential(const char *secret, size_t len, const char *inbox,
    uint64_t expiry_s, char user[ICE_USERNAME_MAX + 1],
    char credential[ICE_CREDENTIAL_LEN + 1])
{
	uint8_t digest[20];
	gnutls_datum_t in = { digest, sizeof(digest) }, out;
	int n, ret = -1;

	n = snprintf(user, ICE_USERNAME_MAX + 1, "%llu:%s",
	    (unsigned long long)expiry_s, inbox);
	if (n < 0 || n > ICE_USERNAME_MAX)
		return -1;
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA1, secret, len, user, (size_t)n,
	    digest) < 0)
		return -1;
	if (gnutls_base64_encode2(&in, &out) < 0)
		goto done;
	if (out.size == ICE_CREDENTIAL_LEN) {
		memcpy(credential, out.data, ICE_CREDENTIAL_LEN);
		credential[ICE_CREDENTIAL_LEN] = '\0';
		ret = 0;
	}
	gnutls_free(out.data);
done:
	wipe(digest, sizeof(digest));
	return ret;
}
