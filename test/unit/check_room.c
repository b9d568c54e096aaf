/*
 * check_room.c - rooms (SPEC section 7): create, join, members, fan-out,
 * invitations, leave, close and expiry, with time passed in, a recording
 * event renderer and the connection replaced by a recording fake.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "store.h"

#define TICK 100
#define SEC 1000
#define TTL (3600 * SEC) /* a room lifetime that outlives every test */

/* Stands in for a held request's connection. */
struct fake {
	bool alive;
	int holds;
	int releases;
};

static bool
fake_alive(struct store_waiter *w)
{
	return ((struct fake *)w->owner)->alive;
}

static void
fake_hold(struct store_waiter *w)
{
	((struct fake *)w->owner)->holds++;
}

static void
fake_release(struct store_waiter *w)
{
	((struct fake *)w->owner)->releases++;
}

static const struct store_waiter_ops ops = { fake_alive, fake_hold,
	fake_release };

static struct store *s;
static struct store_limits lim;
static const struct cred_hash hash; /* the store keeps it, never reads it */
static const uint8_t mac_a[CRED_MAC_BYTES] = { 1 }; /* inbox passwords */
static const uint8_t mac_r[CRED_MAC_BYTES] = { 7, 7 }; /* the room secret */
static const uint8_t mac_x[CRED_MAC_BYTES] = { 7, 8 }; /* a wrong one */

/* ------------------------------------------------- the recording renderer */

/* What the renderer was handed, copied. */
struct news_rec {
	enum room_event event;
	char room[64];
	char peer[64];
	char reason[16]; /* "(null)" for NULL */
	char members[512]; /* comma-separated */
	unsigned nmembers;
};

#define MAX_NEWS 64

static struct news_rec news[MAX_NEWS];
static int nnews;
static bool render_fails;

static const char *
event_name(enum room_event ev)
{
	switch (ev) {
	case EVENT_JOINED:
		return "joined";
	case EVENT_LEFT:
		return "left";
	case EVENT_CLOSED:
		return "closed";
	case EVENT_INVITED:
		return "invited";
	default:
		return "none";
	}
}

/* Record the news; the body is "EVENT:PEER". */
static char *
render(const struct room_news *n, size_t *len)
{
	struct news_rec *r;
	char *body;
	unsigned i;

	/* Counted always, kept while there is space. */
	r = &news[nnews < MAX_NEWS ? nnews : MAX_NEWS - 1];
	nnews++;
	memset(r, 0, sizeof(*r));
	r->event = n->event;
	snprintf(r->room, sizeof(r->room), "%s", n->room);
	snprintf(r->peer, sizeof(r->peer), "%s", n->peer);
	snprintf(r->reason, sizeof(r->reason), "%s",
	    n->reason != NULL ? n->reason : "(null)");
	r->nmembers = n->nmembers;
	for (i = 0; i < n->nmembers; i++) {
		if (i > 0)
			strcat(r->members, ",");
		strcat(r->members, n->members[i]);
	}
	if (render_fails)
		return NULL;
	if ((body = malloc(128)) == NULL)
		return NULL;
	*len = (size_t)snprintf(body, 128, "%s:%s", event_name(n->event),
	    n->peer);
	return body;
}

/* The news rendered i-th since the last forget_news is as described. */
static void
assert_news(int i, enum room_event ev, const char *peer, const char *reason,
    const char *members)
{
	ck_assert_int_lt(i, nnews);
	ck_assert_int_lt(i, MAX_NEWS - 1);
	ck_assert_str_eq(event_name(news[i].event), event_name(ev));
	ck_assert_str_eq(news[i].room, "r");
	ck_assert_str_eq(news[i].peer, peer);
	ck_assert_str_eq(news[i].reason, reason != NULL ? reason : "(null)");
	ck_assert_str_eq(news[i].members, members);
}

static void
forget_news(void)
{
	nnews = 0;
}

/* ---------------------------------------------------------------- fixture */

static void
setup(void)
{
	lim.inbox_timeout_ms = 60 * SEC;
	lim.message_timeout_ms = 60 * SEC;
	lim.max_messages = 100;
	lim.max_inbox_bytes = 1024 * 1024;
	lim.max_inboxes = 1000;
	lim.max_memory = 64 * 1024 * 1024;
	lim.max_rooms = 100;
	lim.max_room_members = 8;
	lim.max_rooms_per_inbox = 4;
	nnews = 0;
	render_fails = false;
	s = store_new(&lim, &ops, 0, TICK);
	ck_assert_ptr_nonnull(s);
	store_set_renderer(s, render);
}

static void
teardown(void)
{
	store_free(s);
	s = NULL;
}

static void
make_store(void)
{
	store_free(s);
	s = store_new(&lim, &ops, 0, TICK);
	ck_assert_ptr_nonnull(s);
	store_set_renderer(s, render);
}

/* store_check passes. */
static void
consistent(void)
{
	char why[256] = "";

	ck_assert_msg(store_check(s, why, sizeof(why)) == 0, "store_check: %s",
	    why);
}

static struct store_stats
stats(void)
{
	struct store_stats st;

	store_stats(s, &st);
	return st;
}

static void
create(const char *name, uint64_t now)
{
	ck_assert_int_eq(store_create(s, name, &hash, mac_a, now), STORE_OK);
}

static struct message *
msg(const char *from, const char *type, const char *body)
{
	size_t len = strlen(body);
	struct message *m = message_new(from, type, len);

	ck_assert_ptr_nonnull(m);
	memcpy(message_body(m), body, len);
	m->len = (uint32_t)len;
	return m;
}

static void
send_ok(const char *to, const char *from, const char *body, uint64_t now)
{
	ck_assert_int_eq(store_send(s, to, msg(from, NULL, body), now),
	    STORE_OK);
}

/* The names of a roster, comma-separated. */
static const char *
names(const struct roster *ro)
{
	static _Thread_local char buf[1024];
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < ro->n; i++) {
		if (i > 0)
			strcat(buf, ",");
		strcat(buf, ro->e[i].name);
	}
	return buf;
}

static struct room_params
params(const char *name, const uint8_t *mac, unsigned max_members,
    uint64_t ttl_ms)
{
	struct room_params p = { 0 };

	p.name = name;
	p.mac = mac;
	p.hash = NULL;
	p.invite_only = mac == NULL;
	p.max_members = max_members;
	p.ttl_ms = ttl_ms;
	return p;
}

/* Create room name (secret mac_r) as creator; the result. */
static enum store_result
room_new(const char *creator, const char *name, const uint8_t *mac,
    unsigned max_members, uint64_t ttl_ms, uint64_t now)
{
	struct room_params p = params(name, mac, max_members, ttl_ms);
	struct roster *ro = NULL;
	enum store_result r;

	r = store_room_create(s, creator, &p, now, &ro);
	if (r == STORE_OK) {
		ck_assert_ptr_nonnull(ro);
		ck_assert_str_eq(names(ro), creator);
		free(ro);
	}
	return r;
}

/* The usual room "r" of alice, with the secret mac_r. */
static void
room_r(uint64_t now)
{
	ck_assert_int_eq(room_new("alice", "r", mac_r, 0, TTL, now), STORE_OK);
}

/* Join room as user with mac; the result (the roster is checked). */
static enum store_result
join(const char *room, const char *user, const uint8_t *mac, uint64_t now)
{
	struct roster *ro = NULL;
	enum store_result r;

	r = store_room_join(s, room, user, mac, now, &ro);
	if (r == STORE_OK) {
		ck_assert_ptr_nonnull(ro);
		ck_assert_ptr_nonnull(strstr(names(ro), user));
		free(ro);
	}
	return r;
}

/* The members of room as user sees them, or "ERR<result>". */
static const char *
members(const char *room, const char *user, uint64_t now)
{
	static _Thread_local char buf[1024];
	struct roster *ro = NULL;
	enum store_result r;

	r = store_room_members(s, room, user, now, &ro);
	if (r != STORE_OK) {
		snprintf(buf, sizeof(buf), "ERR%d", (int)r);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s", names(ro));
	free(ro);
	return buf;
}

static const char *
err(enum store_result r)
{
	static _Thread_local char buf[16];

	snprintf(buf, sizeof(buf), "ERR%d", (int)r);
	return buf;
}

/*
 * Pop every queued message of inbox name at now: "FROM@ROOM:EVENT" for an
 * event, "FROM@ROOM=BODY" otherwise (ROOM "-" outside rooms), space
 * separated.  Events are checked to be JSON with their event in the body.
 */
static const char *
inbox_log(const char *name, uint64_t now)
{
	static _Thread_local char log[4096];
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	char item[512];

	w.owner = &f;
	log[0] = '\0';
	while (store_receive(s, name, &w, 0, now) == STORE_OK) {
		struct message *m = w.msg;
		const char *room = message_room(m), *ev = message_event(m);
		char body[256];

		ck_assert_uint_lt(m->len, sizeof(body));
		memcpy(body, message_body(m), m->len);
		body[m->len] = '\0';
		if (ev != NULL) {
			ck_assert_ptr_nonnull(room);
			ck_assert_ptr_nonnull(message_type(m));
			ck_assert_str_eq(message_type(m), "application/json");
			ck_assert_msg(strncmp(body, ev, strlen(ev)) == 0 &&
			    body[strlen(ev)] == ':', "X-Event %s, body %s", ev,
			    body);
			snprintf(item, sizeof(item), "%s@%s:%s",
			    message_from(m), room, ev);
		} else
			snprintf(item, sizeof(item), "%s@%s=%s",
			    message_from(m), room != NULL ? room : "-", body);
		if (log[0] != '\0')
			strcat(log, " ");
		strcat(log, item);
		store_done(s, &w, true, now);
	}
	return log;
}

/* ---------------------------------------------------------------- create */

START_TEST(test_create_makes_the_creator_first_member)
{
	struct room_params p = params("r", mac_r, 0, 7200 * SEC);
	struct roster *ro = NULL;
	struct store_stats st;

	create("alice", 0);
	ck_assert_int_eq(store_room_create(s, "alice", &p, 1000, &ro),
	    STORE_OK);
	ck_assert_ptr_nonnull(ro);
	ck_assert_uint_eq(ro->n, 1);
	ck_assert_str_eq(ro->e[0].name, "alice");
	ck_assert_int_eq(ro->e[0].result, STORE_OK);
	ck_assert_uint_eq(ro->expires_in_ms, 7200 * SEC);
	free(ro);
	consistent();
	st = stats();
	ck_assert_uint_eq(st.rooms, 1);
	ck_assert_uint_eq(st.members, 1);
	ck_assert_uint_eq(st.rooms_created, 1);
	/* Time passes for the room's lifetime. */
	ro = NULL;
	ck_assert_int_eq(store_room_members(s, "r", "alice", 5000, &ro),
	    STORE_OK);
	ck_assert_uint_eq(ro->n, 1);
	ck_assert_uint_eq(ro->expires_in_ms, 7200 * SEC - 4000);
	free(ro);
	/* Nobody heard of it. */
	ck_assert_int_eq(nnews, 0);
	ck_assert_str_eq(inbox_log("alice", 5000), "");
}
END_TEST

START_TEST(test_create_of_a_taken_name_is_a_conflict)
{
	create("alice", 0);
	create("bob", 0);
	room_r(0);
	ck_assert_int_eq(room_new("bob", "r", mac_x, 0, TTL, 10),
	    STORE_CONFLICT);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 0, TTL, 10),
	    STORE_CONFLICT);
	ck_assert_uint_eq(stats().rooms, 1);
	ck_assert_uint_eq(stats().rooms_created, 1);
	ck_assert_uint_eq(stats().members, 1);
	/* bob got nothing out of it, and the secret is still alice's. */
	ck_assert_str_eq(members("r", "bob", 10), err(STORE_FORBIDDEN));
	ck_assert_int_eq(join("r", "bob", mac_x, 10), STORE_WRONG);
	ck_assert_str_eq(members("r", "alice", 10), "alice");
	/* Names are exact bytes. */
	ck_assert_int_eq(room_new("bob", "R", mac_x, 0, TTL, 10), STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_create_past_max_rooms_per_inbox)
{
	lim.max_rooms_per_inbox = 2;
	make_store();
	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(room_new("alice", "r1", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(room_new("alice", "r2", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(room_new("alice", "r3", mac_r, 0, TTL, 0),
	    STORE_TOO_MANY_ROOMS);
	ck_assert_uint_eq(stats().rooms, 2);
	/* Memberships by joining count too. */
	ck_assert_int_eq(room_new("bob", "b1", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("r1", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(room_new("bob", "b2", mac_r, 0, TTL, 0),
	    STORE_TOO_MANY_ROOMS);
	consistent();
	/* Leaving one makes room for another. */
	ck_assert_int_eq(store_room_leave(s, "r2", "alice", "alice", 10),
	    STORE_OK);
	ck_assert_int_eq(room_new("alice", "r3", mac_r, 0, TTL, 10), STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_create_past_max_rooms_is_server_full)
{
	lim.max_rooms = 2;
	make_store();
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	ck_assert_int_eq(room_new("alice", "r1", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(room_new("bob", "r2", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(room_new("carol", "r3", mac_r, 0, TTL, 0),
	    STORE_SERVER_FULL);
	ck_assert_uint_eq(stats().rooms, 2);
	ck_assert_uint_eq(stats().rooms_created, 2);
	consistent();
	/* Existing rooms keep working; a closed one frees its slot. */
	ck_assert_int_eq(join("r1", "carol", mac_r, 0), STORE_OK);
	ck_assert_int_eq(store_room_close(s, "r2", "bob", 10), STORE_OK);
	ck_assert_int_eq(room_new("carol", "r3", mac_r, 0, TTL, 10), STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_max_members_is_clamped_to_max_room_members)
{
	lim.max_room_members = 3;
	make_store();
	create("a", 0);
	create("b", 0);
	create("c", 0);
	create("d", 0);
	/* Asked for 10: gets 3. */
	ck_assert_int_eq(room_new("a", "big", mac_r, 10, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("big", "b", mac_r, 0), STORE_OK);
	ck_assert_int_eq(join("big", "c", mac_r, 0), STORE_OK);
	ck_assert_int_eq(join("big", "d", mac_r, 0), STORE_ROOM_FULL);
	ck_assert_str_eq(members("big", "a", 0), "a,b,c");
	/* 0: the default, max-room-members. */
	ck_assert_int_eq(room_new("b", "dflt", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("dflt", "c", mac_r, 0), STORE_OK);
	ck_assert_int_eq(join("dflt", "a", mac_r, 0), STORE_OK);
	ck_assert_int_eq(join("dflt", "d", mac_r, 0), STORE_ROOM_FULL);
	/* Below the bound: kept. */
	ck_assert_int_eq(room_new("c", "two", mac_r, 2, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("two", "d", mac_r, 0), STORE_OK);
	ck_assert_int_eq(join("two", "a", mac_r, 0), STORE_ROOM_FULL);
	ck_assert_str_eq(members("two", "c", 0), "c,d");
	consistent();
}
END_TEST

START_TEST(test_create_for_a_missing_inbox_is_not_found)
{
	ck_assert_int_eq(room_new("ghost", "r", mac_r, 0, TTL, 0),
	    STORE_NOT_FOUND);
	ck_assert_uint_eq(stats().rooms, 0);
	ck_assert_uint_eq(stats().rooms_created, 0);
	consistent();
	/* The name is still free. */
	create("alice", 0);
	room_r(0);
	consistent();
}
END_TEST

/* ------------------------------------------------------------------ join */

START_TEST(test_join_with_the_secret)
{
	struct roster *ro = NULL;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(1000);
	ck_assert_int_eq(store_room_join(s, "r", "bob", mac_r, 3000, &ro),
	    STORE_OK);
	ck_assert_str_eq(names(ro), "alice,bob");
	ck_assert_uint_eq(ro->expires_in_ms, TTL - 2000);
	free(ro);
	ck_assert_int_eq(join("r", "carol", mac_r, 3000), STORE_OK);
	/* Join order, creator first. */
	ck_assert_str_eq(members("r", "carol", 3000), "alice,bob,carol");
	ck_assert_uint_eq(stats().members, 3);
	consistent();
}
END_TEST

START_TEST(test_join_with_a_wrong_or_no_secret_is_refused)
{
	create("alice", 0);
	create("bob", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_x, 0), STORE_WRONG);
	ck_assert_int_eq(join("r", "bob", NULL, 0), STORE_FORBIDDEN);
	ck_assert_str_eq(members("r", "alice", 0), "alice");
	ck_assert_str_eq(members("r", "bob", 0), err(STORE_FORBIDDEN));
	ck_assert_uint_eq(stats().members, 1);
	ck_assert_int_eq(nnews, 0);
	ck_assert_str_eq(inbox_log("alice", 0), "");
	consistent();
}
END_TEST

START_TEST(test_join_unknown_room_or_inbox_is_not_found)
{
	create("alice", 0);
	create("bob", 0);
	room_r(0);
	ck_assert_int_eq(join("nope", "bob", mac_r, 0), STORE_NOT_FOUND);
	ck_assert_int_eq(join("r", "ghost", mac_r, 0), STORE_NOT_FOUND);
	ck_assert_uint_eq(stats().members, 1);
	consistent();
}
END_TEST

START_TEST(test_invite_only_room_admits_only_the_invited)
{
	enum store_result r;

	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(room_new("alice", "r", NULL, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("r", "bob", NULL, 0), STORE_FORBIDDEN);
	/* No secret opens it, whatever is offered. */
	r = join("r", "bob", mac_r, 0);
	ck_assert_msg(r == STORE_WRONG || r == STORE_FORBIDDEN,
	    "a secret for an invite_only room: %d", (int)r);
	ck_assert_str_eq(members("r", "alice", 0), "alice");
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "bob", 10),
	    STORE_OK);
	ck_assert_uint_eq(stats().invitations, 1);
	consistent();
	ck_assert_int_eq(join("r", "bob", NULL, 20), STORE_OK);
	ck_assert_str_eq(members("r", "bob", 20), "alice,bob");
	/* The invitation was consumed by the join. */
	ck_assert_uint_eq(stats().invitations, 0);
	consistent();
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "bob", 30), STORE_OK);
	ck_assert_int_eq(join("r", "bob", NULL, 40), STORE_FORBIDDEN);
	ck_assert_str_eq(members("r", "alice", 40), "alice");
	consistent();
}
END_TEST

START_TEST(test_invitation_lets_in_without_the_secret)
{
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "carol", mac_r, 0), STORE_OK);
	/* Any member may invite to a room with a secret. */
	ck_assert_int_eq(store_room_invite(s, "r", "carol", "bob", 10),
	    STORE_OK);
	ck_assert_int_eq(join("r", "bob", NULL, 20), STORE_OK);
	ck_assert_str_eq(members("r", "bob", 20), "alice,carol,bob");
	ck_assert_uint_eq(stats().invitations, 0);
	ck_assert_uint_eq(stats().members, 3);
	consistent();
}
END_TEST

START_TEST(test_rejoin_is_harmless_even_when_full)
{
	struct roster *ro = NULL;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 2, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	inbox_log("alice", 0);
	forget_news();
	/* Again, even without the secret: ok, the same roster, no event. */
	ck_assert_int_eq(store_room_join(s, "r", "bob", NULL, 10, &ro),
	    STORE_OK);
	ck_assert_str_eq(names(ro), "alice,bob");
	free(ro);
	ck_assert_int_eq(join("r", "alice", mac_r, 10), STORE_OK);
	ck_assert_int_eq(nnews, 0);
	ck_assert_str_eq(inbox_log("alice", 10), "");
	ck_assert_str_eq(inbox_log("bob", 10), "");
	ck_assert_uint_eq(stats().members, 2);
	/* A newcomer does not fit. */
	ck_assert_int_eq(join("r", "carol", mac_r, 10), STORE_ROOM_FULL);
	ck_assert_str_eq(members("r", "alice", 10), "alice,bob");
	ck_assert_uint_eq(stats().members, 2);
	consistent();
}
END_TEST

START_TEST(test_invitation_to_a_full_room_waits)
{
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 2, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "carol", 0),
	    STORE_OK);
	ck_assert_int_eq(join("r", "carol", NULL, 10), STORE_ROOM_FULL);
	ck_assert_uint_eq(stats().invitations, 1);
	consistent();
	/* Still good once there is a place. */
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "bob", 20), STORE_OK);
	ck_assert_int_eq(join("r", "carol", NULL, 30), STORE_OK);
	ck_assert_str_eq(members("r", "alice", 30), "alice,carol");
	ck_assert_uint_eq(stats().invitations, 0);
	consistent();
}
END_TEST

START_TEST(test_join_past_max_rooms_per_inbox)
{
	lim.max_rooms_per_inbox = 2;
	make_store();
	create("alice", 0);
	create("bob", 0);
	room_r(0);
	ck_assert_int_eq(room_new("bob", "b1", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(room_new("bob", "b2", mac_r, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_TOO_MANY_ROOMS);
	/* Even by invitation; the invitation is kept. */
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "bob", 0),
	    STORE_OK);
	ck_assert_int_eq(join("r", "bob", NULL, 0), STORE_TOO_MANY_ROOMS);
	ck_assert_str_eq(members("r", "alice", 0), "alice");
	ck_assert_uint_eq(stats().invitations, 1);
	consistent();
	ck_assert_int_eq(store_room_leave(s, "b1", "bob", "bob", 10), STORE_OK);
	ck_assert_int_eq(join("r", "bob", NULL, 10), STORE_OK);
	ck_assert_str_eq(members("r", "alice", 10), "alice,bob");
	consistent();
}
END_TEST

/* --------------------------------------------------------------- members */

START_TEST(test_members_query)
{
	struct roster *ro = NULL;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(store_room_members(s, "r", "bob", 500, &ro),
	    STORE_OK);
	ck_assert_uint_eq(ro->n, 2);
	ck_assert_str_eq(ro->e[0].name, "alice");
	ck_assert_str_eq(ro->e[1].name, "bob");
	ck_assert_uint_eq(ro->expires_in_ms, TTL - 500);
	free(ro);
	ck_assert_str_eq(members("r", "carol", 0), err(STORE_FORBIDDEN));
	ck_assert_str_eq(members("nope", "alice", 0), err(STORE_NOT_FOUND));
	/* An invitation is not a membership. */
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "carol", 0),
	    STORE_OK);
	ck_assert_str_eq(members("r", "carol", 0), err(STORE_FORBIDDEN));
	consistent();
}
END_TEST

/* --------------------------------------------------------------- fan-out */

/* alice, bob and carol in room r; everything queued so far popped. */
static void
three_in_r(uint64_t now)
{
	create("alice", now);
	create("bob", now);
	create("carol", now);
	room_r(now);
	ck_assert_int_eq(join("r", "bob", mac_r, now), STORE_OK);
	ck_assert_int_eq(join("r", "carol", mac_r, now), STORE_OK);
	inbox_log("alice", now);
	inbox_log("bob", now);
	inbox_log("carol", now);
	forget_news();
}

START_TEST(test_fanout_copies_to_every_other_member)
{
	struct message *m = msg("alice", "text/plain", "hello");
	struct store_waiter w = { 0 };
	struct roster *ro = NULL;
	struct store_stats st;
	uint64_t id_bob;

	three_in_r(0);
	ck_assert_int_eq(store_room_send(s, "r", m, 100, &ro), STORE_OK);
	ck_assert_uint_eq(ro->n, 2);
	ck_assert_str_eq(ro->e[0].name, "bob");
	ck_assert_int_eq(ro->e[0].result, STORE_OK);
	ck_assert_str_eq(ro->e[1].name, "carol");
	ck_assert_int_eq(ro->e[1].result, STORE_OK);
	ck_assert_uint_eq(ro->expires_in_ms, TTL - 100);
	free(ro);
	/* The caller keeps its message, intact. */
	ck_assert_str_eq(message_from(m), "alice");
	ck_assert_uint_eq(m->len, 5);
	ck_assert_int_eq(memcmp(message_body(m), "hello", 5), 0);
	message_free(m);
	consistent();
	/* Each copy: sender, X-Room, type, body, its own id; no event. */
	ck_assert_int_eq(store_receive(s, "bob", &w, 0, 200), STORE_OK);
	ck_assert_str_eq(message_from(w.msg), "alice");
	ck_assert_ptr_nonnull(message_room(w.msg));
	ck_assert_str_eq(message_room(w.msg), "r");
	ck_assert_ptr_null(message_event(w.msg));
	ck_assert_int_eq(w.msg->event, EVENT_NONE);
	ck_assert_str_eq(message_type(w.msg), "text/plain");
	ck_assert_uint_eq(w.msg->len, 5);
	ck_assert_int_eq(memcmp(message_body(w.msg), "hello", 5), 0);
	id_bob = w.msg->id;
	store_done(s, &w, true, 200);
	ck_assert_int_eq(store_receive(s, "carol", &w, 0, 200), STORE_OK);
	ck_assert_str_eq(message_from(w.msg), "alice");
	ck_assert_str_eq(message_room(w.msg), "r");
	ck_assert_uint_ne(w.msg->id, id_bob);
	store_done(s, &w, true, 200);
	/* The sender gets no copy, and nobody an event. */
	ck_assert_str_eq(inbox_log("alice", 200), "");
	ck_assert_str_eq(inbox_log("bob", 200), "");
	ck_assert_int_eq(nnews, 0);
	st = stats();
	ck_assert_uint_eq(st.copies_delivered, 2);
	ck_assert_uint_eq(st.copies_failed, 0);
	ck_assert_uint_eq(st.events, 3); /* the joins of three_in_r only */
	consistent();
}
END_TEST

START_TEST(test_fanout_needs_a_member_of_a_room)
{
	struct message *m;
	struct roster *ro = NULL;

	create("alice", 0);
	create("bob", 0);
	create("dave", 0);
	room_r(0);
	m = msg("dave", NULL, "intruder");
	ck_assert_int_eq(store_room_send(s, "r", m, 0, &ro), STORE_FORBIDDEN);
	message_free(m);
	m = msg("alice", NULL, "x");
	ck_assert_int_eq(store_room_send(s, "nope", m, 0, &ro),
	    STORE_NOT_FOUND);
	/* A room of one: nobody to send to. */
	ck_assert_int_eq(store_room_send(s, "r", m, 0, &ro), STORE_OK);
	ck_assert_uint_eq(ro->n, 0);
	free(ro);
	message_free(m);
	ck_assert_str_eq(inbox_log("alice", 0), "");
	ck_assert_str_eq(inbox_log("bob", 0), "");
	ck_assert_uint_eq(stats().copies_delivered, 0);
	ck_assert_uint_eq(stats().copies_failed, 0);
	consistent();
}
END_TEST

START_TEST(test_full_inbox_does_not_block_the_others)
{
	struct message *m;
	struct roster *ro = NULL;
	struct store_stats st;

	lim.max_messages = 2;
	make_store();
	three_in_r(0);
	send_ok("bob", "x", "1", 0);
	send_ok("bob", "x", "2", 0);
	m = msg("alice", NULL, "hi");
	ck_assert_int_eq(store_room_send(s, "r", m, 10, &ro), STORE_OK);
	message_free(m);
	ck_assert_uint_eq(ro->n, 2);
	ck_assert_str_eq(ro->e[0].name, "bob");
	ck_assert_int_eq(ro->e[0].result, STORE_INBOX_FULL);
	ck_assert_str_eq(ro->e[1].name, "carol");
	ck_assert_int_eq(ro->e[1].result, STORE_OK);
	free(ro);
	consistent();
	st = stats();
	ck_assert_uint_eq(st.copies_delivered, 1);
	ck_assert_uint_eq(st.copies_failed, 1);
	ck_assert_str_eq(inbox_log("bob", 20), "x@-=1 x@-=2");
	ck_assert_str_eq(inbox_log("carol", 20), "alice@r=hi");
	consistent();
}
END_TEST

START_TEST(test_fanout_past_max_memory_is_server_full)
{
	struct message *m, *probe;
	struct roster *ro = NULL;
	struct store_stats st;
	uint64_t inboxes;

	/* What three inboxes in a room cost, and what one copy costs. */
	store_set_renderer(s, NULL);
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(join("r", "carol", mac_r, 0), STORE_OK);
	inboxes = stats().memory;
	probe = message_new_room("alice", NULL, "r", EVENT_NONE, 2);
	ck_assert_ptr_nonnull(probe);
	lim.max_memory = inboxes + message_cost(probe);
	message_free(probe);
	make_store();
	store_set_renderer(s, NULL); /* no events to take the memory */
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(join("r", "carol", mac_r, 0), STORE_OK);
	ck_assert_uint_eq(stats().memory, inboxes);
	m = msg("alice", NULL, "hi");
	ck_assert_int_eq(store_room_send(s, "r", m, 10, &ro), STORE_OK);
	message_free(m);
	ck_assert_uint_eq(ro->n, 2);
	ck_assert_int_eq(ro->e[0].result, STORE_OK);
	ck_assert_str_eq(ro->e[1].name, "carol");
	ck_assert_int_eq(ro->e[1].result, STORE_SERVER_FULL);
	free(ro);
	st = stats();
	ck_assert_uint_eq(st.copies_delivered, 1);
	ck_assert_uint_eq(st.copies_failed, 1);
	ck_assert_uint_le(st.memory, lim.max_memory);
	ck_assert_uint_eq(st.events, 0);
	ck_assert_uint_eq(st.events_dropped, 0);
	consistent();
}
END_TEST

START_TEST(test_fanout_copy_wakes_a_held_receiver)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	struct message *m;
	struct roster *ro = NULL;

	three_in_r(0);
	w.owner = &f;
	ck_assert_int_eq(store_receive(s, "bob", &w, 25 * SEC, 0),
	    STORE_HELD);
	ck_assert_int_eq(f.holds, 1);
	m = msg("alice", NULL, "wake");
	ck_assert_int_eq(store_room_send(s, "r", m, 100, &ro), STORE_OK);
	message_free(m);
	free(ro);
	ck_assert_int_eq(f.releases, 1);
	ck_assert_int_eq(w.state, WAITER_MESSAGE);
	ck_assert_str_eq(message_from(w.msg), "alice");
	ck_assert_str_eq(message_room(w.msg), "r");
	/* Like any message: a failed delivery is requeued as it was. */
	store_done(s, &w, false, 200);
	consistent();
	ck_assert_str_eq(inbox_log("bob", 300), "alice@r=wake");
	ck_assert_str_eq(inbox_log("carol", 300), "alice@r=wake");
	consistent();
}
END_TEST

START_TEST(test_event_wakes_a_held_receiver)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };

	create("alice", 0);
	create("bob", 0);
	room_r(0);
	w.owner = &f;
	ck_assert_int_eq(store_receive(s, "alice", &w, 25 * SEC, 0),
	    STORE_HELD);
	ck_assert_int_eq(join("r", "bob", mac_r, 100), STORE_OK);
	ck_assert_int_eq(f.releases, 1);
	ck_assert_int_eq(w.state, WAITER_MESSAGE);
	ck_assert_str_eq(message_event(w.msg), "joined");
	ck_assert_str_eq(message_from(w.msg), "bob");
	ck_assert_str_eq(message_room(w.msg), "r");
	store_done(s, &w, true, 200);
	ck_assert_str_eq(inbox_log("alice", 200), "");
	consistent();
}
END_TEST

/* ---------------------------------------------------------------- events */

START_TEST(test_join_tells_the_others)
{
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_r, 10), STORE_OK);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_JOINED, "bob", NULL, "alice,bob");
	ck_assert_uint_eq(news[0].nmembers, 2);
	ck_assert_int_eq(join("r", "carol", mac_r, 20), STORE_OK);
	ck_assert_int_eq(nnews, 2);
	assert_news(1, EVENT_JOINED, "carol", NULL, "alice,bob,carol");
	consistent();
	ck_assert_str_eq(inbox_log("alice", 30), "bob@r:joined carol@r:joined");
	ck_assert_str_eq(inbox_log("bob", 30), "carol@r:joined");
	ck_assert_str_eq(inbox_log("carol", 30), "");
	st = stats();
	ck_assert_uint_eq(st.events, 3);
	ck_assert_uint_eq(st.events_dropped, 0);
	consistent();
}
END_TEST

START_TEST(test_leave_tells_the_others)
{
	three_in_r(0);
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "bob", 10), STORE_OK);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_LEFT, "bob", "left", "alice,carol");
	ck_assert_str_eq(inbox_log("alice", 20), "bob@r:left");
	ck_assert_str_eq(inbox_log("carol", 20), "bob@r:left");
	ck_assert_str_eq(inbox_log("bob", 20), "");
	ck_assert_str_eq(members("r", "alice", 20), "alice,carol");
	ck_assert_str_eq(members("r", "bob", 20), err(STORE_FORBIDDEN));
	/* Leaving again: not a member. */
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "bob", 30),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_leave(s, "nope", "bob", "bob", 30),
	    STORE_NOT_FOUND);
	ck_assert_uint_eq(stats().members, 2);
	consistent();
}
END_TEST

START_TEST(test_remove_tells_the_removed_not_the_remover)
{
	three_in_r(0);
	/* Only the creator removes others. */
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "carol", 10),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "alice", 10),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(nnews, 0);
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "bob", 20),
	    STORE_OK);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_LEFT, "bob", "removed", "alice,carol");
	ck_assert_str_eq(inbox_log("bob", 30), "bob@r:left");
	ck_assert_str_eq(inbox_log("carol", 30), "bob@r:left");
	ck_assert_str_eq(inbox_log("alice", 30), "");
	ck_assert_str_eq(members("r", "alice", 30), "alice,carol");
	/* bob is out; a non-member or unknown inbox cannot be removed. */
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "bob", 40),
	    STORE_NO_PEER);
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "ghost", 40),
	    STORE_NO_PEER);
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "carol", 40),
	    STORE_FORBIDDEN);
	ck_assert_uint_eq(stats().members, 2);
	consistent();
}
END_TEST

START_TEST(test_close_tells_everyone_but_the_creator)
{
	struct store_stats st;

	three_in_r(0);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "dave", 0),
	    STORE_NO_PEER);
	create("dave", 0);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "dave", 0),
	    STORE_OK);
	inbox_log("dave", 0);
	forget_news();
	ck_assert_int_eq(store_room_close(s, "r", "bob", 10), STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_close(s, "r", "dave", 10),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_close(s, "nope", "alice", 10),
	    STORE_NOT_FOUND);
	ck_assert_int_eq(nnews, 0);
	ck_assert_int_eq(store_room_close(s, "r", "alice", 20), STORE_OK);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_CLOSED, "alice", "closed", "");
	ck_assert_uint_eq(news[0].nmembers, 0);
	ck_assert_str_eq(inbox_log("bob", 30), "alice@r:closed");
	ck_assert_str_eq(inbox_log("carol", 30), "alice@r:closed");
	ck_assert_str_eq(inbox_log("alice", 30), "");
	ck_assert_str_eq(inbox_log("dave", 30), ""); /* only invited */
	st = stats();
	ck_assert_uint_eq(st.rooms, 0);
	ck_assert_uint_eq(st.members, 0);
	ck_assert_uint_eq(st.invitations, 0);
	ck_assert_uint_eq(st.rooms_expired, 0);
	ck_assert_str_eq(members("r", "alice", 30), err(STORE_NOT_FOUND));
	ck_assert_int_eq(join("r", "dave", NULL, 30), STORE_NOT_FOUND);
	consistent();
}
END_TEST

START_TEST(test_invite_tells_only_the_invitee)
{
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "carol", mac_r, 0), STORE_OK);
	inbox_log("alice", 0);
	forget_news();
	ck_assert_int_eq(store_room_invite(s, "r", "carol", "bob", 10),
	    STORE_OK);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_INVITED, "bob", NULL, "alice,carol");
	ck_assert_str_eq(inbox_log("bob", 20), "carol@r:invited");
	ck_assert_str_eq(inbox_log("alice", 20), "");
	ck_assert_str_eq(inbox_log("carol", 20), "");
	/* Again: the event again, one invitation still. */
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "bob", 30),
	    STORE_OK);
	ck_assert_str_eq(inbox_log("bob", 40), "alice@r:invited");
	ck_assert_uint_eq(stats().invitations, 1);
	/* A member: nothing happens. */
	forget_news();
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "carol", 50),
	    STORE_OK);
	ck_assert_int_eq(nnews, 0);
	ck_assert_str_eq(inbox_log("carol", 60), "");
	ck_assert_uint_eq(stats().invitations, 1);
	/* Non-members, unknown rooms and peers. */
	ck_assert_int_eq(store_room_invite(s, "r", "bob", "carol", 60),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_invite(s, "nope", "alice", "bob", 60),
	    STORE_NOT_FOUND);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "ghost", 60),
	    STORE_NO_PEER);
	st = stats();
	ck_assert_uint_eq(st.invitations, 1);
	ck_assert_uint_eq(st.events, 3); /* carol's join, two invites */
	consistent();
}
END_TEST

START_TEST(test_invite_only_room_invitations_are_the_creators)
{
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	ck_assert_int_eq(room_new("alice", "r", NULL, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "bob", 0),
	    STORE_OK);
	ck_assert_int_eq(join("r", "bob", NULL, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "bob", "carol", 10),
	    STORE_FORBIDDEN);
	ck_assert_str_eq(inbox_log("carol", 10), "");
	ck_assert_uint_eq(stats().invitations, 0);
	ck_assert_int_eq(join("r", "carol", NULL, 10), STORE_FORBIDDEN);
	consistent();
}
END_TEST

START_TEST(test_invitations_are_limited_to_max_members)
{
	create("alice", 0);
	create("b", 0);
	create("c", 0);
	create("d", 0);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 2, TTL, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "b", 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "c", 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "d", 0),
	    STORE_TOO_MANY_INVITATIONS);
	ck_assert_str_eq(inbox_log("d", 0), "");
	/* Inviting one already invited is not a new invitation. */
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "c", 0), STORE_OK);
	ck_assert_uint_eq(stats().invitations, 2);
	consistent();
	/* A used invitation frees its place. */
	ck_assert_int_eq(join("r", "b", NULL, 10), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "d", 10),
	    STORE_OK);
	ck_assert_uint_eq(stats().invitations, 2);
	consistent();
}
END_TEST

START_TEST(test_event_to_a_full_inbox_is_dropped)
{
	struct store_stats st;

	lim.max_messages = 2;
	make_store();
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	inbox_log("alice", 0);
	send_ok("alice", "x", "1", 0);
	send_ok("alice", "x", "2", 0);
	st = stats();
	ck_assert_uint_eq(st.events, 1);
	ck_assert_uint_eq(st.events_dropped, 0);
	ck_assert_int_eq(join("r", "carol", mac_r, 10), STORE_OK);
	st = stats();
	ck_assert_uint_eq(st.events, 2);
	ck_assert_uint_eq(st.events_dropped, 1);
	ck_assert_str_eq(inbox_log("alice", 20), "x@-=1 x@-=2");
	ck_assert_str_eq(inbox_log("bob", 20), "carol@r:joined");
	consistent();
}
END_TEST

START_TEST(test_without_a_renderer_no_events_are_sent)
{
	struct store_stats st;

	store_set_renderer(s, NULL);
	three_in_r(0);
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "bob", 10), STORE_OK);
	ck_assert_int_eq(store_room_close(s, "r", "alice", 10), STORE_OK);
	ck_assert_int_eq(nnews, 0);
	ck_assert_str_eq(inbox_log("alice", 20), "");
	ck_assert_str_eq(inbox_log("carol", 20), "");
	st = stats();
	ck_assert_uint_eq(st.events, 0);
	ck_assert_uint_eq(st.events_dropped, 0);
	consistent();
}
END_TEST

/*
 * When the renderer fails, events_dropped counts the recipients the event
 * would have had: a join of bob into alice's room drops one event
 * (alice's), not two; a close of a room of three drops two.
 */
START_TEST(test_failed_render_drops_one_event_per_recipient)
{
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	render_fails = true;
	ck_assert_int_eq(join("r", "bob", mac_r, 10), STORE_OK);
	ck_assert_int_eq(nnews, 1);
	ck_assert_uint_eq(stats().events, 0);
	ck_assert_str_eq(inbox_log("alice", 10), "");
	ck_assert_uint_eq(stats().events_dropped, 1); /* alice's */
	ck_assert_int_eq(join("r", "carol", mac_r, 10), STORE_OK);
	ck_assert_uint_eq(stats().events_dropped, 3); /* alice's, bob's */
	ck_assert_int_eq(store_room_close(s, "r", "alice", 20), STORE_OK);
	ck_assert_uint_eq(stats().events_dropped, 5); /* bob's, carol's */
	consistent();
}
END_TEST

/*
 * Rooms, memberships and invitations count against max-memory: with the
 * store's memory already at max-memory, no room is made.
 */
START_TEST(test_create_past_max_memory_is_server_full)
{
	uint64_t used;

	create("alice", 0);
	used = stats().memory;
	lim.max_memory = used; /* alice's inbox fills it */
	make_store();
	create("alice", 0);
	ck_assert_uint_eq(stats().memory, lim.max_memory);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 0, TTL, 0),
	    STORE_SERVER_FULL);
	ck_assert_uint_eq(stats().rooms, 0);
	consistent();
}
END_TEST

/* ---------------------------------------------------------------- expiry */

START_TEST(test_room_ttl_tells_every_member_and_deletes_it)
{
	struct roster *ro = NULL;
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 0, 10 * SEC, 0),
	    STORE_OK);
	ck_assert_int_eq(join("r", "bob", mac_r, 1000), STORE_OK);
	ck_assert_int_eq(join("r", "carol", mac_r, 1000), STORE_OK);
	inbox_log("alice", 2000);
	inbox_log("bob", 2000);
	forget_news();
	store_expire(s, 10 * SEC - 1);
	ck_assert_int_eq(store_room_members(s, "r", "bob", 10 * SEC - 1, &ro),
	    STORE_OK);
	ck_assert_uint_eq(ro->expires_in_ms, 1);
	free(ro);
	ck_assert_int_eq(nnews, 0);
	store_expire(s, 10 * SEC + TICK);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_CLOSED, "alice", "expired", "");
	ck_assert_str_eq(inbox_log("alice", 11 * SEC), "alice@r:closed");
	ck_assert_str_eq(inbox_log("bob", 11 * SEC), "alice@r:closed");
	ck_assert_str_eq(inbox_log("carol", 11 * SEC), "alice@r:closed");
	st = stats();
	ck_assert_uint_eq(st.rooms, 0);
	ck_assert_uint_eq(st.members, 0);
	ck_assert_uint_eq(st.rooms_expired, 1);
	ck_assert_uint_eq(st.inboxes, 3);
	ck_assert_str_eq(members("r", "alice", 11 * SEC),
	    err(STORE_NOT_FOUND));
	/* The name is free again. */
	ck_assert_int_eq(room_new("bob", "r", mac_x, 0, TTL, 11 * SEC),
	    STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_room_ttl_close_comes_from_a_creator_who_left)
{
	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 0, 10 * SEC, 0),
	    STORE_OK);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "alice", 1000),
	    STORE_OK);
	ck_assert_str_eq(inbox_log("bob", 2000), "alice@r:left");
	forget_news();
	store_expire(s, 10 * SEC + TICK);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_CLOSED, "alice", "expired", "");
	ck_assert_str_eq(inbox_log("bob", 11 * SEC), "alice@r:closed");
	/* alice, no member now, was not told: only bob's old join waits. */
	ck_assert_str_eq(inbox_log("alice", 11 * SEC), "bob@r:joined");
	ck_assert_uint_eq(stats().rooms, 0);
	consistent();
}
END_TEST

START_TEST(test_expired_inbox_leaves_its_rooms)
{
	struct store_stats st;

	three_in_r(0);
	/* bob and carol poll; alice does not. */
	inbox_log("bob", 30 * SEC);
	inbox_log("carol", 40 * SEC);
	store_expire(s, 60 * SEC - 1);
	ck_assert_uint_eq(stats().inboxes, 3);
	ck_assert_int_eq(nnews, 0);
	store_expire(s, 60 * SEC + TICK);
	st = stats();
	ck_assert_uint_eq(st.inboxes, 2);
	ck_assert_uint_eq(st.inboxes_expired, 1);
	ck_assert_uint_eq(st.rooms, 1);
	ck_assert_uint_eq(st.members, 2);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_LEFT, "alice", "expired", "bob,carol");
	ck_assert_str_eq(members("r", "bob", 61 * SEC), "bob,carol");
	consistent();
	/* The creator is gone: nobody closes or removes. */
	ck_assert_int_eq(store_room_close(s, "r", "bob", 61 * SEC),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "carol", 61 * SEC),
	    STORE_FORBIDDEN);
	ck_assert_str_eq(inbox_log("bob", 61 * SEC), "alice@r:left");
	ck_assert_str_eq(inbox_log("carol", 61 * SEC), "alice@r:left");
	/* carol stops polling at 61 s, bob polls on: he hears of it. */
	forget_news();
	inbox_log("bob", 100 * SEC);
	store_expire(s, 121 * SEC - 1);
	ck_assert_uint_eq(stats().inboxes, 2);
	ck_assert_int_eq(nnews, 0);
	store_expire(s, 121 * SEC + TICK);
	ck_assert_uint_eq(stats().inboxes, 1);
	ck_assert_int_eq(nnews, 1);
	assert_news(0, EVENT_LEFT, "carol", "expired", "bob");
	ck_assert_str_eq(inbox_log("bob", 122 * SEC), "carol@r:left");
	ck_assert_str_eq(members("r", "bob", 122 * SEC), "bob");
	consistent();
	/* The last member's inbox expires: the room goes with it. */
	forget_news();
	store_expire(s, 182 * SEC + TICK);
	st = stats();
	ck_assert_uint_eq(st.inboxes, 0);
	ck_assert_uint_eq(st.rooms, 0);
	ck_assert_uint_eq(st.members, 0);
	ck_assert_int_eq(nnews, 0);
	consistent();
	/* A fresh "alice" is nobody's member, and r is unknown. */
	create("alice", 183 * SEC);
	ck_assert_str_eq(members("r", "alice", 183 * SEC),
	    err(STORE_NOT_FOUND));
	ck_assert_int_eq(join("r", "alice", mac_r, 183 * SEC),
	    STORE_NOT_FOUND);
	consistent();
}
END_TEST

START_TEST(test_recreated_inbox_is_not_a_member)
{
	create("alice", 0);
	create("bob", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	inbox_log("alice", 30 * SEC);
	store_expire(s, 60 * SEC + TICK); /* bob expires */
	ck_assert_uint_eq(stats().inboxes, 1);
	create("bob", 61 * SEC);
	ck_assert_str_eq(members("r", "bob", 61 * SEC), err(STORE_FORBIDDEN));
	ck_assert_str_eq(members("r", "alice", 61 * SEC), "alice");
	ck_assert_str_eq(inbox_log("alice", 61 * SEC), "bob@r:left");
	consistent();
}
END_TEST

START_TEST(test_all_members_expire_in_one_tick)
{
	struct store_stats st;

	three_in_r(0);
	store_expire(s, 60 * SEC + TICK);
	st = stats();
	ck_assert_uint_eq(st.inboxes, 0);
	ck_assert_uint_eq(st.rooms, 0);
	ck_assert_uint_eq(st.members, 0);
	ck_assert_uint_eq(st.messages, 0);
	ck_assert_uint_eq(st.inboxes_expired, 3);
	consistent();
}
END_TEST

START_TEST(test_room_and_its_last_member_expire_in_one_tick)
{
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 0, 60 * SEC, 0),
	    STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "bob", 0),
	    STORE_OK);
	store_expire(s, 60 * SEC + TICK);
	st = stats();
	ck_assert_uint_eq(st.inboxes, 0);
	ck_assert_uint_eq(st.rooms, 0);
	ck_assert_uint_eq(st.members, 0);
	ck_assert_uint_eq(st.invitations, 0);
	consistent();
}
END_TEST

START_TEST(test_expired_inbox_invitations_vanish)
{
	struct store_stats st;

	create("alice", 0);
	create("dave", 0);
	ck_assert_int_eq(room_new("alice", "r", NULL, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "dave", 0),
	    STORE_OK);
	ck_assert_uint_eq(stats().invitations, 1);
	forget_news();
	inbox_log("alice", 30 * SEC);
	store_expire(s, 60 * SEC + TICK); /* dave expires */
	st = stats();
	ck_assert_uint_eq(st.inboxes, 1);
	ck_assert_uint_eq(st.invitations, 0);
	ck_assert_uint_eq(st.members, 1);
	ck_assert_int_eq(nnews, 0);
	ck_assert_str_eq(inbox_log("alice", 61 * SEC), "");
	consistent();
	/* A new dave was never invited. */
	create("dave", 61 * SEC);
	ck_assert_int_eq(join("r", "dave", NULL, 61 * SEC), STORE_FORBIDDEN);
	/* And the room can invite as many again. */
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "dave", 61 * SEC),
	    STORE_OK);
	ck_assert_int_eq(join("r", "dave", NULL, 61 * SEC), STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_copies_expire_like_any_message)
{
	struct message *m = msg("alice", NULL, "stale");
	struct roster *ro = NULL;

	lim.message_timeout_ms = 5 * SEC;
	make_store();
	three_in_r(0);
	ck_assert_int_eq(store_room_send(s, "r", m, 0, &ro), STORE_OK);
	message_free(m);
	free(ro);
	ck_assert_uint_eq(stats().messages, 2);
	store_expire(s, 5 * SEC + TICK);
	ck_assert_uint_eq(stats().messages, 0);
	ck_assert_str_eq(inbox_log("bob", 6 * SEC), "");
	consistent();
}
END_TEST

START_TEST(test_room_ttl_longer_than_a_wheel_lap)
{
	struct roster *ro = NULL;
	uint64_t t;

	lim.inbox_timeout_ms = 20000 * SEC;
	make_store();
	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(room_new("alice", "r", mac_r, 0, 7200 * SEC, 0),
	    STORE_OK);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	inbox_log("alice", 0);
	forget_news();
	/* 7200 s is many laps of the wheel (409.6 s): no early firing. */
	for (t = 0; t < 7200 * SEC; t += 50 * SEC)
		store_expire(s, t);
	store_expire(s, 7200 * SEC - 1);
	ck_assert_uint_eq(stats().rooms, 1);
	ck_assert_int_eq(store_room_members(s, "r", "bob", 7200 * SEC - 1,
	    &ro), STORE_OK);
	ck_assert_uint_eq(ro->expires_in_ms, 1);
	free(ro);
	ck_assert_int_eq(nnews, 0);
	store_expire(s, 7200 * SEC + TICK);
	ck_assert_uint_eq(stats().rooms, 0);
	ck_assert_uint_eq(stats().rooms_expired, 1);
	assert_news(0, EVENT_CLOSED, "alice", "expired", "");
	ck_assert_str_eq(inbox_log("bob", 7201 * SEC), "alice@r:closed");
	consistent();
}
END_TEST

/* ------------------------------------------------------------- lifecycle */

START_TEST(test_creator_leaving_leaves_no_creator)
{
	three_in_r(0);
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "alice", 10),
	    STORE_OK);
	assert_news(0, EVENT_LEFT, "alice", "left", "bob,carol");
	ck_assert_str_eq(inbox_log("bob", 20), "alice@r:left");
	/* Nobody may remove or close now. */
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "carol", 20),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_leave(s, "r", "carol", "bob", 20),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_close(s, "r", "bob", 20), STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_close(s, "r", "carol", 20),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_close(s, "r", "alice", 20),
	    STORE_FORBIDDEN);
	/* Coming back with the secret makes alice a member, no creator. */
	ck_assert_int_eq(join("r", "alice", mac_r, 30), STORE_OK);
	ck_assert_str_eq(members("r", "bob", 30), "bob,carol,alice");
	ck_assert_int_eq(store_room_close(s, "r", "alice", 30),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "bob", 30),
	    STORE_FORBIDDEN);
	ck_assert_str_eq(members("r", "bob", 30), "bob,carol,alice");
	/* Members still invite to a room with a secret. */
	create("dave", 30);
	ck_assert_int_eq(store_room_invite(s, "r", "bob", "dave", 30),
	    STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_invite_only_room_without_creator_takes_no_one)
{
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	ck_assert_int_eq(room_new("alice", "r", NULL, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "bob", 0),
	    STORE_OK);
	ck_assert_int_eq(join("r", "bob", NULL, 0), STORE_OK);
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "alice", 10),
	    STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "bob", "carol", 20),
	    STORE_FORBIDDEN);
	ck_assert_int_eq(join("r", "carol", NULL, 20), STORE_FORBIDDEN);
	ck_assert_int_eq(join("r", "alice", NULL, 20), STORE_FORBIDDEN);
	ck_assert_str_eq(members("r", "bob", 20), "bob");
	consistent();
}
END_TEST

START_TEST(test_last_member_leaving_deletes_the_room)
{
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "bob", "carol", 0),
	    STORE_OK);
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "alice", 10),
	    STORE_OK);
	ck_assert_uint_eq(stats().rooms, 1);
	inbox_log("alice", 10);
	inbox_log("bob", 10);
	inbox_log("carol", 10);
	forget_news();
	ck_assert_int_eq(store_room_leave(s, "r", "bob", "bob", 20), STORE_OK);
	st = stats();
	ck_assert_uint_eq(st.rooms, 0);
	ck_assert_uint_eq(st.members, 0);
	ck_assert_uint_eq(st.invitations, 0); /* carol's went with it */
	ck_assert_uint_eq(st.rooms_expired, 0);
	ck_assert_int_eq(nnews, 0);
	ck_assert_str_eq(inbox_log("alice", 30), "");
	ck_assert_str_eq(inbox_log("carol", 30), "");
	consistent();
	ck_assert_int_eq(join("r", "carol", NULL, 30), STORE_NOT_FOUND);
	ck_assert_int_eq(join("r", "alice", mac_r, 30), STORE_NOT_FOUND);
	/* Its timer went too: nothing fires at its ttl. */
	store_expire(s, 50 * SEC);
	ck_assert_uint_eq(stats().rooms_expired, 0);
	ck_assert_int_eq(nnews, 0);
	/* The name can be taken again. */
	ck_assert_int_eq(room_new("carol", "r", mac_x, 0, TTL, 50 * SEC),
	    STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_gauges_follow_members_and_invitations)
{
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	room_r(0);
	ck_assert_int_eq(room_new("bob", "r2", mac_r, 0, TTL, 0), STORE_OK);
	st = stats();
	ck_assert_uint_eq(st.rooms, 2);
	ck_assert_uint_eq(st.members, 2);
	ck_assert_uint_eq(st.invitations, 0);
	ck_assert_int_eq(join("r", "bob", mac_r, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "alice", "carol", 0),
	    STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r2", "bob", "carol", 0),
	    STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r2", "bob", "alice", 0),
	    STORE_OK);
	st = stats();
	ck_assert_uint_eq(st.members, 3);
	ck_assert_uint_eq(st.invitations, 3);
	consistent();
	ck_assert_int_eq(join("r", "carol", NULL, 0), STORE_OK);
	st = stats();
	ck_assert_uint_eq(st.members, 4);
	ck_assert_uint_eq(st.invitations, 2);
	consistent();
	ck_assert_int_eq(store_room_close(s, "r2", "bob", 0), STORE_OK);
	st = stats();
	ck_assert_uint_eq(st.rooms, 1);
	ck_assert_uint_eq(st.members, 3);
	ck_assert_uint_eq(st.invitations, 0);
	ck_assert_uint_eq(st.rooms_created, 2);
	consistent();
	ck_assert_int_eq(store_room_leave(s, "r", "alice", "carol", 0),
	    STORE_OK);
	ck_assert_uint_eq(stats().members, 2);
	consistent();
}
END_TEST

START_TEST(test_room_table_grows)
{
	char name[32], user[32];
	int i;

	lim.max_rooms = 10000;
	lim.max_rooms_per_inbox = 1000;
	make_store();
	for (i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		create(user, 0);
	}
	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "room-%d", i);
		snprintf(user, sizeof(user), "u%d", i % 10);
		ck_assert_int_eq(room_new(user, name, mac_r, 0, TTL, 0),
		    STORE_OK);
	}
	consistent();
	ck_assert_uint_eq(stats().rooms, 2000);
	for (i = 0; i < 2000; i += 7) {
		snprintf(name, sizeof(name), "room-%d", i);
		snprintf(user, sizeof(user), "u%d", i % 10);
		ck_assert_str_eq(members(name, user, 0), user);
		ck_assert_int_eq(store_room_close(s, name, user, 0), STORE_OK);
	}
	consistent();
	ck_assert_str_eq(members("room-1", "u1", 0), "u1");
	ck_assert_str_eq(members("room-0", "u0", 0), err(STORE_NOT_FOUND));
	/* The rest stay for store_free (valgrind: no leak). */
}
END_TEST

/* One peer joining, sending, asking and leaving room r over and over. */
static void *
churn(void *arg)
{
	const char *user = arg;
	uint64_t copies = 0;
	int i;

	for (i = 0; i < 300; i++) {
		struct message *m = msg(user, NULL, "x");
		struct roster *ro = NULL;

		ck_assert_int_eq(join("r", user, mac_r, 0), STORE_OK);
		ck_assert_int_eq(store_room_send(s, "r", m, 0, &ro), STORE_OK);
		copies += ro->n;
		free(ro);
		message_free(m);
		ck_assert_str_ne(members("r", user, 0), err(STORE_FORBIDDEN));
		ck_assert_int_eq(store_room_leave(s, "r", user, user, 0),
		    STORE_OK);
	}
	return (void *)(uintptr_t)copies;
}

START_TEST(test_concurrent_members_keep_the_room_consistent)
{
	static const char *users[4] = { "u0", "u1", "u2", "u3" };
	pthread_t th[4];
	uint64_t copies = 0;
	struct store_stats st;
	int i;

	lim.max_messages = 50;
	make_store();
	create("alice", 0);
	for (i = 0; i < 4; i++)
		create(users[i], 0);
	room_r(0);
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, churn, (void *)users[i]);
	for (i = 0; i < 4; i++) {
		void *n;

		pthread_join(th[i], &n);
		copies += (uint64_t)(uintptr_t)n;
	}
	consistent();
	st = stats();
	ck_assert_uint_eq(st.rooms, 1);
	ck_assert_uint_eq(st.members, 1);
	ck_assert_uint_eq(st.copies_delivered + st.copies_failed, copies);
	ck_assert_uint_ge(copies, 1200); /* alice at least, every time */
	ck_assert_str_eq(members("r", "alice", 0), "alice");
}
END_TEST

START_TEST(test_store_free_with_rooms_present)
{
	struct message *m = msg("alice", "text/plain", "left behind");
	struct store_waiter w = { 0 };
	struct roster *ro = NULL;

	three_in_r(0);
	create("dave", 0);
	ck_assert_int_eq(room_new("dave", "d", NULL, 0, TTL, 0), STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "d", "dave", "alice", 0),
	    STORE_OK);
	ck_assert_int_eq(store_room_invite(s, "r", "carol", "dave", 0),
	    STORE_OK);
	ck_assert_int_eq(store_room_send(s, "r", m, 0, &ro), STORE_OK);
	message_free(m);
	free(ro);
	/* A copy in flight comes back before the store goes. */
	ck_assert_int_eq(store_receive(s, "bob", &w, 0, 0), STORE_OK);
	store_done(s, &w, false, 0);
	consistent();
	ck_assert_uint_eq(stats().rooms, 2);
	ck_assert_uint_eq(stats().invitations, 2);
	/* teardown frees rooms, memberships, invitations and queues. */
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("room");
	TCase *c = tcase_create("create"), *j = tcase_create("join"),
	      *f = tcase_create("fanout"), *e = tcase_create("events"),
	      *x = tcase_create("expiry"), *l = tcase_create("lifecycle"),
	      *b = tcase_create("accounting");

	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_checked_fixture(j, setup, teardown);
	tcase_add_checked_fixture(f, setup, teardown);
	tcase_add_checked_fixture(e, setup, teardown);
	tcase_add_checked_fixture(x, setup, teardown);
	tcase_add_checked_fixture(l, setup, teardown);
	tcase_add_checked_fixture(b, setup, teardown);
	tcase_add_test(c, test_create_makes_the_creator_first_member);
	tcase_add_test(c, test_create_of_a_taken_name_is_a_conflict);
	tcase_add_test(c, test_create_past_max_rooms_per_inbox);
	tcase_add_test(c, test_create_past_max_rooms_is_server_full);
	tcase_add_test(c, test_max_members_is_clamped_to_max_room_members);
	tcase_add_test(c, test_create_for_a_missing_inbox_is_not_found);
	tcase_add_test(j, test_join_with_the_secret);
	tcase_add_test(j, test_join_with_a_wrong_or_no_secret_is_refused);
	tcase_add_test(j, test_join_unknown_room_or_inbox_is_not_found);
	tcase_add_test(j, test_invite_only_room_admits_only_the_invited);
	tcase_add_test(j, test_invitation_lets_in_without_the_secret);
	tcase_add_test(j, test_rejoin_is_harmless_even_when_full);
	tcase_add_test(j, test_invitation_to_a_full_room_waits);
	tcase_add_test(j, test_join_past_max_rooms_per_inbox);
	tcase_add_test(j, test_members_query);
	tcase_add_test(f, test_fanout_copies_to_every_other_member);
	tcase_add_test(f, test_fanout_needs_a_member_of_a_room);
	tcase_add_test(f, test_full_inbox_does_not_block_the_others);
	tcase_add_test(f, test_fanout_past_max_memory_is_server_full);
	tcase_add_test(f, test_fanout_copy_wakes_a_held_receiver);
	tcase_add_test(f, test_event_wakes_a_held_receiver);
	tcase_add_test(e, test_join_tells_the_others);
	tcase_add_test(e, test_leave_tells_the_others);
	tcase_add_test(e, test_remove_tells_the_removed_not_the_remover);
	tcase_add_test(e, test_close_tells_everyone_but_the_creator);
	tcase_add_test(e, test_invite_tells_only_the_invitee);
	tcase_add_test(e, test_invite_only_room_invitations_are_the_creators);
	tcase_add_test(e, test_invitations_are_limited_to_max_members);
	tcase_add_test(e, test_event_to_a_full_inbox_is_dropped);
	tcase_add_test(e, test_without_a_renderer_no_events_are_sent);
	tcase_add_test(x, test_room_ttl_tells_every_member_and_deletes_it);
	tcase_add_test(x, test_room_ttl_close_comes_from_a_creator_who_left);
	tcase_add_test(x, test_expired_inbox_leaves_its_rooms);
	tcase_add_test(x, test_recreated_inbox_is_not_a_member);
	tcase_add_test(x, test_all_members_expire_in_one_tick);
	tcase_add_test(x, test_room_and_its_last_member_expire_in_one_tick);
	tcase_add_test(x, test_expired_inbox_invitations_vanish);
	tcase_add_test(x, test_copies_expire_like_any_message);
	tcase_add_test(x, test_room_ttl_longer_than_a_wheel_lap);
	tcase_add_test(l, test_creator_leaving_leaves_no_creator);
	tcase_add_test(l, test_invite_only_room_without_creator_takes_no_one);
	tcase_add_test(l, test_last_member_leaving_deletes_the_room);
	tcase_add_test(l, test_gauges_follow_members_and_invitations);
	tcase_add_test(l, test_room_table_grows);
	tcase_add_test(l, test_store_free_with_rooms_present);
	tcase_add_test(l, test_concurrent_members_keep_the_room_consistent);
	tcase_add_test(b, test_failed_render_drops_one_event_per_recipient);
	tcase_add_test(b, test_create_past_max_memory_is_server_full);
	suite_add_tcase(su, c);
	suite_add_tcase(su, j);
	suite_add_tcase(su, f);
	suite_add_tcase(su, e);
	suite_add_tcase(su, x);
	suite_add_tcase(su, l);
	suite_add_tcase(su, b);
	return check_run(su);
}
