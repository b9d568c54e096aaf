/*
 * store_mem_room.c - the in-memory store's rooms (SPEC section 7): named
 * sets of inboxes under the store's lock, whose fan-out copies and events
 * are ordinary messages.
 *
 * A room keeps its members in join order and its pending invitations on
 * two short lists (at most max-room-members each); an inbox keeps its
 * memberships and invitations on one doubly linked list, so an expiring
 * inbox leaves its rooms without a scan.  Each room has one timer, its
 * lifetime; a room whose last member leaves is deleted at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_mem.h"
#include "util.h"

#define ROOM_BUCKETS 256 /* grows by doubling past one room a bucket */
#define EVENT_TYPE "application/json"

/* A membership, or an invitation not yet used: 48 bytes. */
struct member {
	struct member *rnext;   /* the room's members or invitations */
	struct member *inext;   /* the inbox's memberships and invitations */
	struct member **ipprev; /* what points at this one on that list */
	struct room *room;
	struct inbox *inbox;
	bool invited; /* an invitation */
	bool creator;
};

/* 144 bytes, the name and the creator's name. */
struct room {
	struct room *hnext; /* hash chain */
	struct timer timer; /* its lifetime */
	struct member *members; /* join order */
	struct member *invites;
	struct cred_hash hash; /* Argon2id of a chosen password */
	uint8_t mac[CRED_MAC_BYTES]; /* MAC of name and secret */
	bool has_mac;  /* false: invite_only, no secret */
	bool has_hash;
	uint16_t nmembers, ninvites, max_members;
	uint16_t name_len, creator_len;
	char name[]; /* name NUL, creator NUL */
};

/* What a room and a membership cost against max-memory, in bytes. */
static size_t
room_cost(const struct room *r)
{
	return sizeof(*r) + r->name_len + 1 + r->creator_len + 1 +
	    STORE_MALLOC_OVERHEAD;
}

#define MEMBER_COST (sizeof(struct member) + STORE_MALLOC_OVERHEAD)

static const char *
room_creator(const struct room *r)
{
	return r->name + r->name_len + 1;
}

int
mem_room_init(struct store *s)
{
	s->rooms = calloc(ROOM_BUCKETS, sizeof(*s->rooms));
	s->nroom_buckets = ROOM_BUCKETS;
	return s->rooms == NULL ? -1 : 0;
}

static void
free_members(struct member *m)
{
	struct member *next;

	for (; m != NULL; m = next) {
		next = m->rnext;
		free(m);
	}
}

void
mem_room_fini(struct store *s)
{
	size_t i;

	if (s->rooms == NULL)
		return;
	for (i = 0; i < s->nroom_buckets; i++) {
		struct room *r, *next;

		for (r = s->rooms[i]; r != NULL; r = next) {
			next = r->hnext;
			free_members(r->members);
			free_members(r->invites);
			wipe(r->mac, sizeof(r->mac));
			wipe(&r->hash, sizeof(r->hash));
			free(r);
		}
	}
	free(s->rooms);
	s->rooms = NULL;
}

static size_t
room_bucket(const struct store *s, const char *name, size_t len, size_t n)
{
	return (size_t)siphash24(s->hash_key, name, len) & (n - 1);
}

static struct room *
do_room_find(struct store *s, const char *name)
{
	size_t len = strlen(name);
	struct room *r;

	for (r = s->rooms[room_bucket(s, name, len, s->nroom_buckets)];
	    r != NULL; r = r->hnext)
		if (r->name_len == len && memcmp(r->name, name, len) == 0)
			return r;
	return NULL;
}

static void
do_grow_rooms(struct store *s)
{
	TABLE_GROW(struct room, s->rooms, s->nroom_buckets, r, n,
	    room_bucket(s, r->name, r->name_len, n));
}

/* in's membership of r, or its invitation with invited, or NULL. */
static struct member *
find_member(struct room *r, const struct inbox *in, bool invited)
{
	struct member *m;

	for (m = invited ? r->invites : r->members; m != NULL; m = m->rnext)
		if (m->inbox == in)
			return m;
	return NULL;
}

/* Put m on its inbox's list. */
static void
inbox_link(struct inbox *in, struct member *m)
{
	m->inbox = in;
	m->inext = in->rooms;
	if (in->rooms != NULL)
		in->rooms->ipprev = &m->inext;
	m->ipprev = &in->rooms;
	in->rooms = m;
}

static void
inbox_unlink(struct member *m)
{
	*m->ipprev = m->inext;
	if (m->inext != NULL)
		m->inext->ipprev = m->ipprev;
}

/* Take m off a room list beginning at *head. */
static void
room_unlink(struct member **head, struct member *m)
{
	while (*head != m)
		head = &(*head)->rnext;
	*head = m->rnext;
	m->rnext = NULL;
}

/* Add m at the end of r's members. */
static void
room_append(struct store *s, struct room *r, struct member *m)
{
	struct member **pp = &r->members;

	while (*pp != NULL)
		pp = &(*pp)->rnext;
	m->rnext = NULL;
	m->invited = false;
	*pp = m;
	r->nmembers++;
	m->inbox->nrooms++;
	s->st.members++;
}

static uint64_t
room_left_ms(const struct room *r, uint64_t now)
{
	uint64_t at = timer_expires(&r->timer);

	return at > now ? at - now : 0;
}

/* A roster of n entries with names of total bytes (NULs included). */
static struct roster *
roster_alloc(unsigned n, size_t bytes)
{
	struct roster *ro = malloc(sizeof(*ro) + n * sizeof(ro->e[0]) + bytes);

	if (ro != NULL)
		ro->n = 0;
	return ro;
}

static void
roster_add(struct roster *ro, const char *name, size_t len,
    enum store_result result, char **names)
{
	memcpy(*names, name, len + 1);
	ro->e[ro->n].name = *names;
	ro->e[ro->n].result = result;
	ro->n++;
	*names += len + 1;
}

/* r's members in join order, or NULL when memory ran out. */
static struct roster *
roster_of(const struct room *r, uint64_t now)
{
	const struct member *m;
	struct roster *ro;
	size_t bytes = 0;
	char *names;

	for (m = r->members; m != NULL; m = m->rnext)
		bytes += m->inbox->name_len + 1;
	if ((ro = roster_alloc(r->nmembers, bytes)) == NULL)
		return NULL;
	names = (char *)&ro->e[r->nmembers];
	for (m = r->members; m != NULL; m = m->rnext)
		roster_add(ro, m->inbox->name, m->inbox->name_len, STORE_OK,
		    &names);
	ro->expires_in_ms = room_left_ms(r, now);
	return ro;
}

/*
 * Render event ev about peer into a JSON body (NULL: no renderer, or no
 * memory).  The members listed are r's, or none for `closed'.
 */
static char *
do_render(struct store *s, const struct room *r, enum room_event ev,
    const char *peer, const char *reason, size_t *len)
{
	const char *names[ROOM_MEMBERS_MAX];
	struct room_news news = { ev, r->name, peer, reason, names, 0 };
	const struct member *m;

	if (s->render == NULL)
		return NULL;
	if (ev != EVENT_CLOSED)
		for (m = r->members; m != NULL && news.nmembers <
		    ROOM_MEMBERS_MAX; m = m->rnext)
			names[news.nmembers++] = m->inbox->name;
	return s->render(&news, len);
}

/* Queue one copy of event body from `from' in inbox `to'. */
static void
do_tell(struct store *s, const struct room *r, enum room_event ev,
    const char *from, const char *body, size_t len, struct inbox *to,
    struct store_waiter **release, uint64_t now)
{
	struct message *m = message_new_room(from, EVENT_TYPE, r->name, ev,
	    len);

	if (m != NULL) {
		memcpy(message_body(m), body, len);
		m->len = (uint32_t)len;
		if (mem_enqueue(s, to, m, now, release) == STORE_OK) {
			s->st.events++;
			return;
		}
		message_free(m);
	}
	s->st.events_dropped++;
}

/*
 * Tell every member of r but `except' of event ev about peer, from
 * `from'; also tell `also' (a peer just removed) when not NULL.
 */
static void
do_announce(struct store *s, const struct room *r, enum room_event ev,
    const char *from, const char *peer, const char *reason,
    const struct inbox *except, struct inbox *also,
    struct store_waiter **release, uint64_t now)
{
	const struct member *m;
	size_t len;
	char *body;

	if ((body = do_render(s, r, ev, peer, reason, &len)) == NULL) {
		if (s->render == NULL)
			return;
		for (m = r->members; m != NULL; m = m->rnext)
			s->st.events_dropped += m->inbox != except;
		s->st.events_dropped += also != NULL;
		return;
	}
	for (m = r->members; m != NULL; m = m->rnext)
		if (m->inbox != except)
			do_tell(s, r, ev, from, body, len, m->inbox, release,
			    now);
	if (also != NULL)
		do_tell(s, r, ev, from, body, len, also, release, now);
	free(body);
}

/* Delete room r with its memberships and invitations; nobody is told. */
static void
do_room_delete(struct store *s, struct room *r)
{
	struct room **pp = &s->rooms[room_bucket(s, r->name, r->name_len,
	    s->nroom_buckets)];
	struct member *m;

	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
	for (m = r->members; m != NULL; m = m->rnext) {
		inbox_unlink(m);
		m->inbox->nrooms--;
		s->st.members--;
		s->st.memory -= MEMBER_COST;
	}
	for (m = r->invites; m != NULL; m = m->rnext) {
		inbox_unlink(m);
		s->st.invitations--;
		s->st.memory -= MEMBER_COST;
	}
	s->st.memory -= room_cost(r);
	free_members(r->members);
	free_members(r->invites);
	timer_del(&r->timer);
	s->st.rooms--;
	wipe(r->mac, sizeof(r->mac));
	wipe(&r->hash, sizeof(r->hash));
	free(r);
}

/* Drop invitation m. */
static void
do_uninvite(struct store *s, struct member *m)
{
	room_unlink(&m->room->invites, m);
	inbox_unlink(m);
	m->room->ninvites--;
	s->st.invitations--;
	s->st.memory -= MEMBER_COST;
	free(m);
}

/*
 * Member m leaves its room for reason; the others but `remover' hear of
 * it, and a removed peer too.  The last one out deletes the room.
 */
static void
do_leave(struct store *s, struct member *m, const char *reason,
    const struct inbox *remover, struct store_waiter **release, uint64_t now)
{
	struct room *r = m->room;
	struct inbox *in = m->inbox;

	room_unlink(&r->members, m);
	inbox_unlink(m);
	r->nmembers--;
	in->nrooms--;
	s->st.members--;
	s->st.memory -= MEMBER_COST;
	free(m);
	if (r->nmembers == 0) {
		do_room_delete(s, r);
		return;
	}
	do_announce(s, r, EVENT_LEFT, in->name, in->name, reason, remover,
	    remover != NULL ? in : NULL, release, now);
}

void
mem_room_forget(struct store *s, struct inbox *in,
    struct store_waiter **release, uint64_t now_ms)
{
	struct member *m;

	while ((m = in->rooms) != NULL) {
		if (m->invited)
			do_uninvite(s, m);
		else
			do_leave(s, m, "expired", NULL, release, now_ms);
	}
}

void
mem_room_timer(struct store *s, struct timer *t,
    struct store_waiter **release, uint64_t now_ms)
{
	struct room *r = container_of(t, struct room, timer);

	do_announce(s, r, EVENT_CLOSED, room_creator(r), room_creator(r),
	    "expired", NULL, NULL, release, now_ms);
	s->st.rooms_expired++;
	do_room_delete(s, r);
}

enum store_result
mem_room_create(struct store *s, const char *creator,
    const struct room_params *p, uint64_t now_ms, struct roster **members)
{
	size_t len = strlen(p->name), clen = strlen(creator);
	enum store_result res;
	struct inbox *in;
	struct member *m;
	struct room *r;
	size_t k;

	if (len > UINT16_MAX || clen > UINT16_MAX)
		return STORE_NOMEM;
	pthread_mutex_lock(&s->lock);
	if ((in = mem_find(s, creator)) == NULL) {
		res = STORE_NOT_FOUND;
		goto done;
	}
	if (do_room_find(s, p->name) != NULL) {
		res = STORE_CONFLICT;
		goto done;
	}
	if (in->nrooms >= s->lim.max_rooms_per_inbox) {
		res = STORE_TOO_MANY_ROOMS;
		goto done;
	}
	if (s->st.rooms >= s->lim.max_rooms || s->st.memory + sizeof(*r) +
	    len + 1 + clen + 1 + STORE_MALLOC_OVERHEAD + MEMBER_COST >
	    s->lim.max_memory) {
		res = STORE_SERVER_FULL;
		goto done;
	}
	res = STORE_NOMEM;
	if ((r = calloc(1, sizeof(*r) + len + 1 + clen + 1)) == NULL)
		goto done;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		free(r);
		goto done;
	}
	r->name_len = (uint16_t)len;
	r->creator_len = (uint16_t)clen;
	memcpy(r->name, p->name, len + 1);
	memcpy(r->name + len + 1, creator, clen + 1);
	if (p->mac != NULL) {
		memcpy(r->mac, p->mac, CRED_MAC_BYTES);
		r->has_mac = true;
	}
	if (p->hash != NULL) {
		r->hash = *p->hash;
		r->has_hash = true;
	}
	r->max_members = (uint16_t)(p->max_members == 0 ||
	    p->max_members > s->lim.max_room_members ?
	    s->lim.max_room_members : p->max_members);
	timer_init(&r->timer, TIMER_ROOM);
	timer_add(&s->wheel, &r->timer, now_ms + p->ttl_ms);
	if (s->st.rooms >= s->nroom_buckets)
		do_grow_rooms(s);
	k = room_bucket(s, r->name, len, s->nroom_buckets);
	r->hnext = s->rooms[k];
	s->rooms[k] = r;
	s->st.rooms++;
	s->st.rooms_created++;
	s->st.memory += room_cost(r) + MEMBER_COST;
	m->room = r;
	m->creator = true;
	inbox_link(in, m);
	room_append(s, r, m);
	*members = roster_of(r, now_ms);
	res = *members != NULL ? STORE_OK : STORE_NOMEM;
done:
	pthread_mutex_unlock(&s->lock);
	return res;
}

/*
 * Look up room and inbox user, and user's membership when it has one.
 * Returns STORE_OK, or STORE_NOT_FOUND when either is gone.
 */
static enum store_result
do_lookup(struct store *s, const char *room, const char *user,
    struct room **r, struct inbox **in, struct member **m)
{
	if ((*r = do_room_find(s, room)) == NULL ||
	    (*in = mem_find(s, user)) == NULL)
		return STORE_NOT_FOUND;
	*m = find_member(*r, *in, false);
	return STORE_OK;
}

enum store_result
mem_room_join(struct store *s, const char *room, const char *user,
    const uint8_t *mac, uint64_t now_ms, struct roster **members)
{
	struct store_waiter *release = NULL;
	struct member *m, *inv;
	enum store_result res;
	struct inbox *in;
	struct room *r;

	pthread_mutex_lock(&s->lock);
	if ((res = do_lookup(s, room, user, &r, &in, &m)) != STORE_OK)
		goto done;
	if (m != NULL)
		goto roster; /* again: harmless, and no event */
	inv = find_member(r, in, true);
	if (inv == NULL && (mac == NULL || !r->has_mac ||
	    ct_memcmp(r->mac, mac, CRED_MAC_BYTES) != 0)) {
		res = mac != NULL ? STORE_WRONG : STORE_FORBIDDEN;
		goto done;
	}
	if (r->nmembers >= r->max_members) {
		res = STORE_ROOM_FULL;
		goto done;
	}
	if (in->nrooms >= s->lim.max_rooms_per_inbox) {
		res = STORE_TOO_MANY_ROOMS;
		goto done;
	}
	if (inv == NULL && s->st.memory + MEMBER_COST > s->lim.max_memory) {
		res = STORE_SERVER_FULL;
		goto done;
	}
	if (inv != NULL) { /* the invitation becomes the membership */
		room_unlink(&r->invites, inv);
		r->ninvites--;
		s->st.invitations--;
		m = inv;
	} else if ((m = calloc(1, sizeof(*m))) != NULL) {
		m->room = r;
		inbox_link(in, m);
		s->st.memory += MEMBER_COST;
	} else {
		res = STORE_NOMEM;
		goto done;
	}
	room_append(s, r, m);
	do_announce(s, r, EVENT_JOINED, in->name, in->name, NULL, in, NULL,
	    &release, now_ms);
roster:
	*members = roster_of(r, now_ms);
	res = *members != NULL ? STORE_OK : STORE_NOMEM;
done:
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return res;
}

enum store_result
mem_room_members(struct store *s, const char *room, const char *user,
    uint64_t now_ms, struct roster **members)
{
	enum store_result res;
	struct member *m;
	struct inbox *in;
	struct room *r;

	pthread_mutex_lock(&s->lock);
	if ((res = do_lookup(s, room, user, &r, &in, &m)) != STORE_OK)
		goto done;
	if (m == NULL) {
		res = STORE_FORBIDDEN;
		goto done;
	}
	*members = roster_of(r, now_ms);
	res = *members != NULL ? STORE_OK : STORE_NOMEM;
done:
	pthread_mutex_unlock(&s->lock);
	return res;
}

/* A copy of template t for room r: its sender, type and body. */
static struct message *
copy_for(const struct room *r, const struct message *t)
{
	struct message *m = message_new_room(message_from(t), message_type(t),
	    r->name, EVENT_NONE, t->len);

	if (m != NULL) {
		memcpy(message_body(m), message_body((struct message *)t),
		    t->len);
		m->len = t->len;
	}
	return m;
}

enum store_result
mem_room_send(struct store *s, const char *room, const struct message *t,
    uint64_t now_ms, struct roster **copies)
{
	struct store_waiter *release = NULL;
	enum store_result res;
	struct member *me, *m;
	struct roster *ro;
	struct inbox *in;
	struct room *r;
	size_t bytes = 0;
	char *names;

	pthread_mutex_lock(&s->lock);
	if ((res = do_lookup(s, room, message_from(t), &r, &in, &me)) !=
	    STORE_OK)
		goto done;
	if (me == NULL) {
		res = STORE_FORBIDDEN;
		goto done;
	}
	for (m = r->members; m != NULL; m = m->rnext)
		bytes += m->inbox->name_len + 1;
	if ((ro = roster_alloc(r->nmembers, bytes)) == NULL) {
		res = STORE_NOMEM;
		goto done;
	}
	names = (char *)&ro->e[r->nmembers];
	for (m = r->members; m != NULL; m = m->rnext) {
		struct message *c;
		enum store_result cr = STORE_SERVER_FULL;

		if (m == me)
			continue;
		if ((c = copy_for(r, t)) != NULL &&
		    (cr = mem_enqueue(s, m->inbox, c, now_ms, &release)) !=
		    STORE_OK)
			message_free(c);
		if (cr == STORE_OK)
			s->st.copies_delivered++;
		else
			s->st.copies_failed++;
		roster_add(ro, m->inbox->name, m->inbox->name_len, cr, &names);
	}
	ro->expires_in_ms = room_left_ms(r, now_ms);
	*copies = ro;
done:
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return res;
}

enum store_result
mem_room_invite(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	struct member *me, *inv;
	enum store_result res;
	struct inbox *in, *to;
	struct room *r;
	size_t len;
	char *body;

	pthread_mutex_lock(&s->lock);
	if ((res = do_lookup(s, room, user, &r, &in, &me)) != STORE_OK)
		goto done;
	if (me == NULL || (!r->has_mac && !me->creator)) {
		res = STORE_FORBIDDEN;
		goto done;
	}
	if ((to = mem_find(s, peer)) == NULL) {
		res = STORE_NO_PEER;
		goto done;
	}
	if (find_member(r, to, false) != NULL)
		goto done; /* a member already */
	if (find_member(r, to, true) == NULL) {
		if (r->ninvites >= r->max_members) {
			res = STORE_TOO_MANY_INVITATIONS;
			goto done;
		}
		if (s->st.memory + MEMBER_COST > s->lim.max_memory) {
			res = STORE_SERVER_FULL;
			goto done;
		}
		if ((inv = calloc(1, sizeof(*inv))) == NULL) {
			res = STORE_NOMEM;
			goto done;
		}
		inv->room = r;
		inv->invited = true;
		inv->rnext = r->invites;
		r->invites = inv;
		r->ninvites++;
		s->st.invitations++;
		s->st.memory += MEMBER_COST;
		inbox_link(to, inv);
	}
	if ((body = do_render(s, r, EVENT_INVITED, to->name, NULL, &len)) !=
	    NULL) {
		do_tell(s, r, EVENT_INVITED, in->name, body, len, to, &release,
		    now_ms);
		free(body);
	} else if (s->render != NULL)
		s->st.events_dropped++;
done:
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return res;
}

enum store_result
mem_room_leave(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	enum store_result res;
	struct member *me, *m;
	struct inbox *in, *out;
	struct room *r;

	pthread_mutex_lock(&s->lock);
	if ((res = do_lookup(s, room, user, &r, &in, &me)) != STORE_OK)
		goto done;
	if (me == NULL) {
		res = STORE_FORBIDDEN;
		goto done;
	}
	if (strcmp(user, peer) == 0) {
		do_leave(s, me, "left", NULL, &release, now_ms);
		goto done;
	}
	if (!me->creator) {
		res = STORE_FORBIDDEN;
		goto done;
	}
	if ((out = mem_find(s, peer)) == NULL ||
	    (m = find_member(r, out, false)) == NULL) {
		res = STORE_NO_PEER;
		goto done;
	}
	do_leave(s, m, "removed", in, &release, now_ms);
done:
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return res;
}

enum store_result
mem_room_close(struct store *s, const char *room, const char *user,
    uint64_t now_ms)
{
	struct store_waiter *release = NULL;
	enum store_result res;
	struct member *me;
	struct inbox *in;
	struct room *r;

	pthread_mutex_lock(&s->lock);
	if ((res = do_lookup(s, room, user, &r, &in, &me)) != STORE_OK)
		goto done;
	if (me == NULL || !me->creator) {
		res = STORE_FORBIDDEN;
		goto done;
	}
	do_announce(s, r, EVENT_CLOSED, in->name, in->name, "closed", in, NULL,
	    &release, now_ms);
	do_room_delete(s, r);
done:
	pthread_mutex_unlock(&s->lock);
	store_release(s->ops, release);
	return res;
}

uint64_t
mem_room_memory(struct store *s)
{
	uint64_t memory = 0;
	size_t i;

	for (i = 0; i < s->nroom_buckets; i++) {
		const struct room *r;

		for (r = s->rooms[i]; r != NULL; r = r->hnext)
			memory += room_cost(r) +
			    (uint64_t)(r->nmembers + r->ninvites) * MEMBER_COST;
	}
	return memory;
}

#define BREACH(...) do { snprintf(why, len, __VA_ARGS__); return -1; } \
	while (0)

int
mem_room_check(struct store *s, char *why, size_t len)
{
	uint64_t rooms = 0, members = 0, invites = 0, listed = 0;
	const struct member *m;
	size_t i;

	for (i = 0; i < s->nroom_buckets; i++) {
		const struct room *r;

		for (r = s->rooms[i]; r != NULL; r = r->hnext) {
			unsigned n = 0, k = 0;

			rooms++;
			if (room_bucket(s, r->name, r->name_len,
			    s->nroom_buckets) != i)
				BREACH("room %s in the wrong bucket", r->name);
			if (!timer_pending(&r->timer))
				BREACH("room %s has no timer", r->name);
			for (m = r->members; m != NULL; m = m->rnext) {
				if (m->room != r || m->invited ||
				    *m->ipprev != m)
					BREACH("room %s: a member astray",
					    r->name);
				n++;
			}
			for (m = r->invites; m != NULL; m = m->rnext) {
				if (m->room != r || !m->invited ||
				    *m->ipprev != m)
					BREACH("room %s: an invitation astray",
					    r->name);
				k++;
			}
			if (n == 0 || n != r->nmembers || n > r->max_members ||
			    k != r->ninvites || k > r->max_members)
				BREACH("room %s: %u members, %u invitations "
				    "counted", r->name, n, k);
			members += n;
			invites += k;
		}
	}
	for (i = 0; i < s->nbuckets; i++) {
		const struct inbox *in;

		for (in = s->bucket[i]; in != NULL; in = in->hnext) {
			unsigned n = 0;

			for (m = in->rooms; m != NULL; m = m->inext) {
				if (m->inbox != in)
					BREACH("inbox %s: a room entry astray",
					    in->name);
				n += !m->invited;
				listed++;
			}
			if (n != in->nrooms ||
			    n > s->lim.max_rooms_per_inbox)
				BREACH("inbox %s: in %u rooms, %u counted",
				    in->name, n, in->nrooms);
		}
	}
	if (rooms != s->st.rooms || members != s->st.members ||
	    invites != s->st.invitations || listed != members + invites ||
	    rooms > s->lim.max_rooms)
		BREACH("rooms: %llu rooms, %llu members, %llu invitations "
		    "found; %llu, %llu, %llu counted",
		    (unsigned long long)rooms, (unsigned long long)members,
		    (unsigned long long)invites,
		    (unsigned long long)s->st.rooms,
		    (unsigned long long)s->st.members,
		    (unsigned long long)s->st.invitations);
	return 0;
}
