/*
 * store_mem.h - the in-memory store's private structures, shared by
 * store_mem.c (inboxes, queues, waiters, PINs) and store_mem_room.c
 * (rooms).
 *
 * Functions named do_*() are each file's own and expect the caller to
 * hold s->lock; the ones the files share are named mem_*() (store_mem.c)
 * and mem_room_*() (store_mem_room.c) and say whether they take it.
 */
#ifndef INBOXD_STORE_MEM_H
#define INBOXD_STORE_MEM_H

#include <pthread.h>

#include "store.h"

#define INITIAL_BUCKETS 1024

enum { TIMER_INBOX = 1, TIMER_WAITER = 2, TIMER_PIN = 3, TIMER_ROOM = 4 };

#define PIN_BUCKETS 1024 /* grows by doubling past one PIN a bucket */
#define PIN_DRAWS 32     /* fresh codes tried before giving up */

/*
 * 192 bytes and the name: the queue is a circular list reached through its
 * youngest message (last->next is the oldest), as is the list of
 * messages awaiting an acknowledgement, and the hash of the name is not
 * kept but recomputed when the table grows.
 */
struct inbox {
	struct inbox *hnext; /* hash chain */
	struct timer timer;
	struct message *last; /* youngest queued; last->next is the oldest */
	struct store_waiter *waiter; /* the held GET, if any */
	struct pin *pin;             /* its live pairing code, if any */
	uint64_t last_seen_ms;
	uint32_t bytes; /* body bytes queued */
	uint32_t nmsg;
	uint32_t inflight; /* messages popped and not yet done */
	struct message *unacked; /* delivered to ack= GETs, not yet
	                            acknowledged: a ring through its
	                            youngest, in the order handed out */
	uint32_t nunacked;
	uint32_t unacked_bytes;
	uint32_t acks; /* ack= GETs so far: what was popped before the
	                  last one and is still being written goes back */
	uint16_t name_len;
	uint16_t nrooms;      /* rooms it is a member of */
	struct member *rooms; /* its memberships and invitations */
	struct cred_hash cred;
	uint8_t mac[CRED_MAC_BYTES];
	char name[];
};

/* A pairing code naming an inbox (SPEC section 2, POST /pin). */
struct pin {
	struct pin *hnext;
	struct timer timer;
	struct inbox *inbox;
	uint32_t code;
};

struct store {
	struct store_base base; /* memory_store_ops */
	pthread_mutex_t lock;
	struct store_limits lim;
	const struct store_waiter_ops *ops;
	uint8_t hash_key[16];
	struct inbox **bucket;
	size_t nbuckets; /* power of two */
	struct timer_wheel wheel;
	struct store_waiter *held; /* list of held waiters */
	struct pin **pins;         /* live PINs by code */
	size_t npin_buckets;       /* power of two */
	struct room **rooms;       /* rooms by name */
	size_t nroom_buckets;      /* power of two */
	room_render_fn render;
	uint64_t next_id;
	bool shutting_down;
	struct store_stats st;
};

struct inbox *mem_find(struct store *s, const char *name);

/* Queue m in `in' after its quota checks; the store owns m on STORE_OK. */
enum store_result mem_enqueue(struct store *s, struct inbox *in,
    struct message *m, uint64_t now_ms, struct store_waiter **release);

/* store_mem_room.c: the room operations of the in-memory store (store.h). */
enum store_result mem_room_create(struct store *s, const char *creator,
    const struct room_params *p, uint64_t now_ms, struct roster **members);
enum store_result mem_room_join(struct store *s, const char *room,
    const char *user, const uint8_t *mac, uint64_t now_ms,
    struct roster **members);
enum store_result mem_room_members(struct store *s, const char *room,
    const char *user, uint64_t now_ms, struct roster **members);
enum store_result mem_room_send(struct store *s, const char *room,
    const struct message *m, uint64_t now_ms, struct roster **copies);
enum store_result mem_room_invite(struct store *s, const char *room,
    const char *user, const char *peer, uint64_t now_ms);
enum store_result mem_room_leave(struct store *s, const char *room,
    const char *user, const char *peer, uint64_t now_ms);
enum store_result mem_room_close(struct store *s, const char *room,
    const char *user, uint64_t now_ms);

/* store_mem_room.c: set up and free the room table. */
int mem_room_init(struct store *s);
void mem_room_fini(struct store *s);

/* store_mem_room.c: inbox `in' is being deleted: it leaves its rooms (expired). */
void mem_room_forget(struct store *s, struct inbox *in,
    struct store_waiter **release, uint64_t now_ms);

/* store_mem_room.c: a room's timer fired: it expires. */
void mem_room_timer(struct store *s, struct timer *t,
    struct store_waiter **release, uint64_t now_ms);

/* store_mem_room.c: what rooms, memberships and invitations cost, in bytes. */
uint64_t mem_room_memory(struct store *s);

/* store_mem_room.c: store_check's part for rooms; 0, or -1 with why filled. */
int mem_room_check(struct store *s, char *why, size_t len);

#endif
