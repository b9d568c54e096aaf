/*
 * bench_rooms.c - what rooms cost: heap bytes per room and per
 * membership (malloc's own count, mallinfo2), and the time of a fan-out
 * to a full room and of a join, in microseconds.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

#define ROOMS 10000
#define MEMBERS 4 /* per room, the creator included */

static size_t
heap(void)
{
	return mallinfo2().uordblks;
}

static char *
render(const struct room_news *n, size_t *len)
{
	char *s = strdup(n->room);

	*len = s != NULL ? strlen(s) : 0;
	return s;
}

int
main(void)
{
	struct store_limits lim = { 60000, 60000, 1000000, 1ULL << 30, 1000000,
		1ULL << 34, ROOMS, 32, 16 };
	uint8_t mac[CRED_MAC_BYTES] = { 0 };
	struct cred_hash h = { { 0 }, { 0 } };
	struct roster *ro;
	struct message *m;
	struct store *s;
	char name[64], room[64];
	size_t h0, h1, h2;
	uint64_t t0, t1;
	int i, j;

	if ((s = store_new(&lim, NULL, 0, 100)) == NULL)
		return 1;
	/* Members are inboxes of their own: 16 rooms each at most. */
	for (i = 0; i < ROOMS * MEMBERS / 16 + 1; i++) {
		snprintf(name, sizeof(name), "peer-%06d", i);
		if (store_create(s, name, &h, mac, 0) != STORE_OK)
			return 1;
	}
	h0 = heap();
	for (i = 0; i < ROOMS; i++) {
		struct room_params p = { room, mac, NULL, false, 0, 7200000 };

		snprintf(room, sizeof(room), "room-%06d", i);
		snprintf(name, sizeof(name), "peer-%06d", i / 16);
		if (store_room_create(s, name, &p, 0, &ro) != STORE_OK)
			return 1;
		free(ro);
	}
	h1 = heap();
	/* Joins without a renderer queue no events: memberships alone. */
	t0 = now_us();
	for (i = 0; i < ROOMS; i++)
		for (j = 1; j < MEMBERS; j++) {
			snprintf(room, sizeof(room), "room-%06d", i);
			/* Member j of room i: 16 rooms per peer, all
			 * members of a room distinct. */
			snprintf(name, sizeof(name), "peer-%06d",
			    (j * ROOMS + i) / 16);
			if (store_room_join(s, room, name, mac, 0, &ro) !=
			    STORE_OK)
				return 1;
			free(ro);
		}
	t1 = now_us();
	h2 = heap();
	printf("%d rooms of %d members\n", ROOMS, MEMBERS);
	printf("room with its creator's membership (11-byte name and "
	    "creator, its share of the table): %.0f bytes of heap\n", (double)(h1 - h0) / ROOMS);
	printf("membership: %.0f bytes of heap\n",
	    (double)(h2 - h1) / (ROOMS * (MEMBERS - 1)));
	printf("join (no events): %.2f us\n",
	    (double)(t1 - t0) / (ROOMS * (MEMBERS - 1)));
	store_set_renderer(s, render);
	t0 = now_us();
	for (i = 0; i < ROOMS; i += 16) {
		/* From the creator of room i, peer i / 16. */
		snprintf(name, sizeof(name), "peer-%06d", i / 16);
		if ((m = message_new(name, NULL, 190)) == NULL)
			return 1;
		m->len = 190;
		memset(message_body(m), 'x', 190);
		snprintf(room, sizeof(room), "room-%06d", i);
		if (store_room_send(s, room, m, 0, &ro) != STORE_OK)
			return 1;
		free(ro);
		message_free(m);
	}
	t1 = now_us();
	printf("fan-out of 190 bytes to %d members: %.2f us\n", MEMBERS - 1,
	    (double)(t1 - t0) / (ROOMS / 16));
	store_free(s);
	return 0;
}
