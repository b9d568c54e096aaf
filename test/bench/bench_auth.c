/*
 * bench_auth.c - what authentication costs: a first contact (Argon2id at
 * the default costs) against a poll of an existing inbox (credential MAC
 * and a table lookup), in microseconds per request.
 */
#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "store.h"
#include "util.h"

int
main(int argc, char *argv[])
{
	struct auth_params p = { 2, 19456, 1, 1, 1 };
	struct store_limits lim = { 60000, 60000, 100, 1 << 20, 1000000,
		1ULL << 30, 100000, 32, 16 };
	struct store *s;
	struct cred_hash h;
	uint8_t mac[CRED_MAC_BYTES];
	int hashes = argc > 1 ? atoi(argv[1]) : 20, polls = 1000000, i;
	uint64_t t0, t1;

	if (auth_init(&p) == -1 || (s = store_new(&lim, NULL, 0, 100)) == NULL)
		return 1;
	t0 = now_us();
	for (i = 0; i < hashes; i++)
		if (auth_hash("correct horse", 13, &h) == -1)
			return 1;
	t1 = now_us();
	printf("first contact (Argon2id t=2 m=19456 KiB p=1): %.0f us\n",
	    (double)(t1 - t0) / hashes);
	auth_mac("alice", "correct horse", 13, mac);
	store_create(s, "alice", &h, mac, 0);
	t0 = now_us();
	for (i = 0; i < polls; i++) {
		auth_mac("alice", "correct horse", 13, mac);
		if (store_login(s, "alice", mac, 0) != STORE_OK)
			return 1;
	}
	t1 = now_us();
	printf("cached poll (HMAC-SHA-256 + lookup): %.2f us\n",
	    (double)(t1 - t0) / polls);
	store_free(s);
	auth_stop();
	return 0;
}
