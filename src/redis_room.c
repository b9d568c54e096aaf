/*
 * redis_room.c - room operations (SPEC section 7) as chains of calls,
 * each in one slot: the caller's inbox, the members' sides, the room.
 *
 * The order of effects (inboxd(8)): a member's side of a membership or
 * invitation is written before the room's and undone if the room says
 * no, so an inbox is never in a room without knowing it (and leaves it
 * when it expires); the room's change and the events it makes go
 * together into the room's slot, the events into its outbox; each
 * recipient's inbox then gets them (member_deliver.lua, which skips what
 * it had), and the outbox is trimmed last.  A node that dies anywhere
 * leaves at most a side written for nothing (cleaned when that inbox
 * expires or joins that room again) or an outbox that the reap of the
 * room's slot delivers in RETRY (src/lua/common.lua).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_impl.h"
#include "util.h"

/*
 * A roster of n names, elements first... of r, each with results[i]
 * (NULL: STORE_OK), expiring in ms.  NULL when memory ran out.
 */
static struct roster *
roster_of(const redisReply *r, size_t first, size_t n, uint64_t ms,
    const enum store_result *results)
{
	size_t i, bytes = 0;
	struct roster *ro;
	char *names;

	if (first + n > r->elements)
		return NULL;
	for (i = 0; i < n; i++)
		bytes += r->element[first + i]->len + 1;
	if ((ro = malloc(sizeof(*ro) + n * sizeof(ro->e[0]) + bytes)) == NULL)
		return NULL;
	names = (char *)&ro->e[n];
	ro->n = 0;
	ro->expires_in_ms = ms;
	for (i = 0; i < n; i++) {
		const redisReply *e = r->element[first + i];

		memcpy(names, e->str, e->len + 1);
		ro->e[ro->n].name = names;
		ro->e[ro->n].result = results != NULL ? results[i] : STORE_OK;
		names += e->len + 1;
		ro->n++;
	}
	return ro;
}

/* A roster from roster()'s answer {'OK', ms left, name...}. */
static struct roster *
roster_from(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	return roster_of(r, 2, r->elements - 2,
	    strtoull(r->element[1]->str, NULL, 10), NULL);
}

/*
 * The caller's own inbox first, for every room operation: its cached
 * generation into gen and refresh.lua, which keeps it alive.  STORE_OK,
 * STORE_NOT_FOUND (gone), `wrong' for another generation, or
 * STORE_UNAVAILABLE.
 */
static enum store_result
caller(struct store *s, const char *user, uint64_t now_ms,
    char gen[GEN_CHARS + 1], enum store_result wrong)
{
	enum store_result res;

	if (redis_cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	res = redis_inbox_refresh(s, user, gen, now_ms, true);
	return res == STORE_WRONG ? wrong : res;
}

/* A room script's answer word as a result. */
static enum store_result
room_result(const redisReply *r)
{
	return redis_is_word(redis_first_word(r), "WRONG_SECRET") ?
	    STORE_WRONG : redis_result(r);
}

/* One event of an outbox, as announce() writes it. */
struct event {
	unsigned long long seq;
	unsigned code;
	const char *from, *rec, *body;
	size_t from_len, rec_len, body_len;
	unsigned nrec;
};

/* Parse entry e (len bytes) into *ev: 0, or -1 when malformed. */
static int
event_parse(const char *e, size_t len, struct event *ev)
{
	const char *end = e + len, *p, *nl;
	unsigned i;

	if (sscanf(e, "%llu %u %u", &ev->seq, &ev->code, &ev->nrec) != 3 ||
	    (p = memchr(e, '\n', len)) == NULL)
		return -1;
	ev->from = ++p;
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return -1;
	ev->from_len = (size_t)(nl - p);
	ev->rec = p = nl + 1;
	for (i = 0; i < ev->nrec; i++) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    memchr(p, ' ', (size_t)(nl - p)) == NULL)
			return -1;
		p = nl + 1;
	}
	ev->rec_len = (size_t)(p - ev->rec);
	ev->body = p;
	ev->body_len = (size_t)(end - p);
	return 0;
}

/*
 * The flags ev has for recipient name (n bytes), or 0 when it is none of
 * its recipients.
 */
static unsigned
event_flags(const struct event *ev, const char *name, size_t n)
{
	const char *p = ev->rec, *end = ev->rec + ev->rec_len, *sp, *nl;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp != NULL && (size_t)(nl - sp - 1) == n &&
		    memcmp(sp + 1, name, n) == 0)
			return (unsigned)strtoul(p, NULL, 10);
	}
	return 0;
}

/* room_trim.lua: the outbox of room up to seq is out. */
static int
trim(struct store *s, const char *room, unsigned long long seq)
{
	struct call c;

	redis_call_room(s, &c, room);
	redis_call_str(&c, room);
	redis_call_u64(&c, seq);
	return redis_call_done(s, LUA_ROOM_TRIM, &c);
}

/* Queue member_deliver.lua for name with its events on b: 0 or -1. */
static int
deliver_to(struct store *s, struct link_batch *b, const char *room,
    const char *name, size_t n, const struct event *ev, unsigned nev)
{
	char who[STORE_NAME_MAX + 1], *arg[OUTBOX_EVENTS] = { NULL };
	struct call c;
	unsigned i, k = 0, flags;
	int ret = 0;

	if (n > STORE_NAME_MAX)
		return -1;
	memcpy(who, name, n);
	who[n] = '\0';
	redis_call_inbox(s, &c, who, "iqfrx");
	redis_call_str(&c, who);
	redis_call_str(&c, room);
	for (i = 0; i < nev && ret == 0; i++) {
		if ((flags = event_flags(&ev[i], name, n)) == 0)
			continue;
		if (k == OUTBOX_EVENTS) {
			/* More than a call takes: the rest in another. */
			ret = link_batch_add(b, LUA_MEMBER_DELIVER, c.nkeys,
			    c.argc, c.argv, c.len);
			while (k > 0)
				free(arg[--k]);
			redis_call_inbox(s, &c, who, "iqfrx");
			redis_call_str(&c, who);
			redis_call_str(&c, room);
		}
		if ((arg[k] = malloc(64 + ev[i].from_len + ev[i].body_len)) ==
		    NULL) {
			ret = -1;
			break;
		}
		n = (size_t)snprintf(arg[k], 64, "%llu %u %u\n", ev[i].seq,
		    ev[i].code, flags);
		memcpy(arg[k] + n, ev[i].from, ev[i].from_len);
		n += ev[i].from_len;
		arg[k][n++] = '\n';
		memcpy(arg[k] + n, ev[i].body, ev[i].body_len);
		redis_call_bytes(&c, arg[k], n + ev[i].body_len);
		k++;
	}
	if (ret == 0 && k > 0)
		ret = link_batch_add(b, LUA_MEMBER_DELIVER, c.nkeys, c.argc,
		    c.argv, c.len);
	while (k > 0)
		free(arg[--k]);
	return ret;
}

int
redis_room_deliver(struct store *s, const char *room, const redisReply *r,
    size_t first)
{
	struct event *ev;
	struct link_batch *b = NULL;
	unsigned long long last = 0;
	size_t i, nev, calls = 0;
	unsigned k, j;
	int ret = -1;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || first >= r->elements)
		return 0;
	nev = r->elements - first;
	if ((ev = calloc(nev, sizeof(*ev))) == NULL)
		return -1;
	for (i = 0; i < nev; i++) {
		if (r->element[first + i]->type != REDIS_REPLY_STRING ||
		    event_parse(r->element[first + i]->str,
		    r->element[first + i]->len, &ev[i]) == -1) {
			log_warn("redis: room %s: an event that does not parse",
			    room);
			goto done;
		}
		calls += ev[i].nrec;
		if (ev[i].seq > last)
			last = ev[i].seq;
	}
	if ((b = link_batch_new((unsigned)calls + (unsigned)(calls * nev /
	    OUTBOX_EVENTS) + 1)) == NULL)
		goto done;
	/* One call per recipient, each with its events, in the order of
	 * the outbox: a recipient is delivered to once. */
	for (i = 0; i < nev; i++) {
		const char *p = ev[i].rec, *end = ev[i].rec + ev[i].rec_len;

		for (k = 0; p < end; k++) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *name = (const char *)memchr(p, ' ',
			    (size_t)(nl - p)) + 1;
			size_t n = (size_t)(nl - name);
			bool seen = false;

			for (j = 0; j < i && !seen; j++)
				seen = event_flags(&ev[j], name, n) != 0;
			if (!seen && deliver_to(s, b, room, name, n, ev,
			    (unsigned)nev) == -1)
				goto done;
			p = nl + 1;
		}
	}
	link_batch_run(s->link, b);
	ret = 0;
	for (k = 0; k < b->n; k++) {
		redisReply *a = redis_call_answer(s, b->call[k].argv[0],
		    b->call[k].len[0], b->call[k].reply);

		b->call[k].reply = NULL;
		if (a == NULL || a->type != REDIS_REPLY_INTEGER) {
			if (a != NULL)
				redis_result(a); /* logs a script error */
			ret = -1;
		}
		if (a != NULL)
			freeReplyObject(a);
	}
	/* Trimmed once every recipient has it; else the reap does it. */
	if (ret == 0)
		ret = trim(s, room, last);
done:
	if (b != NULL) {
		link_batch_clear(b);
		free(b);
	}
	free(ev);
	return ret;
}

/*
 * member_mark.lua: user's side of a create or join of room first.
 * STORE_OK with *nrooms (its other rooms) and prior (the state of its
 * entry before, "" for none), STORE_NOT_FOUND (its inbox is gone),
 * `wrong' (another generation) or STORE_UNAVAILABLE.
 */
static enum store_result
mark(struct store *s, const char *user, const char *gen, const char *room,
    enum store_result wrong, char nrooms[24], char prior[2])
{
	enum store_result res;
	struct call c;
	redisReply *r;

	redis_call_inbox(s, &c, user, "iqfrx");
	redis_call_str(&c, user);
	redis_call_str(&c, gen);
	redis_call_str(&c, room);
	r = redis_call_run(s, LUA_MEMBER_MARK, &c);
	if (redis_cred_is_stale(r)) {
		res = redis_cred_stale(s, user, r, STORE_NOT_FOUND);
		if (res == STORE_WRONG)
			res = wrong;
	} else
		res = redis_result(r);
	if (res == STORE_OK && (r->type != REDIS_REPLY_ARRAY ||
	    r->elements != 3 || r->element[1]->len >= 24 ||
	    r->element[2]->len >= 2))
		res = STORE_UNAVAILABLE;
	if (res == STORE_OK) {
		memcpy(nrooms, r->element[1]->str, r->element[1]->len + 1);
		memcpy(prior, r->element[2]->str, r->element[2]->len + 1);
	}
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

/* member_confirm.lua: the room said ok (with events up to seq) or no. */
static void
confirm(struct store *s, const char *user, const char *room, bool ok,
    const char *seq, const char *prior)
{
	struct call c;

	redis_call_inbox(s, &c, user, "iqfrx");
	redis_call_str(&c, user);
	redis_call_str(&c, room);
	redis_call_str(&c, ok ? "1" : "0");
	redis_call_str(&c, seq);
	redis_call_str(&c, prior);
	(void)redis_call_done(s, LUA_MEMBER_CONFIRM, &c);
}

enum store_result
redis_room_create(struct store *s, const char *creator,
    const struct room_params *p, uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1], nrooms[24], prior[2];
	enum store_result res;
	struct call c;
	redisReply *r;

	if (redis_cred_gen(s, creator, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	if ((res = mark(s, creator, gen, p->name, STORE_WRONG, nrooms,
	    prior)) != STORE_OK)
		return res;
	/* max-rooms, as the gauges of the last walk count them. */
	if (atomic_load(&s->g_rooms) >= s->lim.max_rooms) {
		confirm(s, creator, p->name, false, "0", prior);
		return STORE_SERVER_FULL;
	}
	redis_call_room(s, &c, p->name);
	redis_call_str(&c, p->name);
	redis_call_str(&c, creator);
	redis_call_bytes(&c, p->mac != NULL ? (const char *)p->mac : "",
	    p->mac != NULL ? CRED_MAC_BYTES : 0);
	redis_call_u64(&c, p->max_members);
	redis_call_u64(&c, p->ttl_ms);
	redis_call_str(&c, nrooms);
	if ((r = redis_call_run(s, LUA_ROOM_CREATE, &c)) == NULL)
		return STORE_UNAVAILABLE; /* its side waits: see above */
	res = room_result(r);
	confirm(s, creator, p->name, res == STORE_OK, "0", prior);
	if (res == STORE_OK && (*members = roster_from(r)) == NULL)
		res = STORE_NOMEM;
	freeReplyObject(r);
	return res;
}

enum store_result
redis_room_join(struct store *s, const char *room, const char *user,
    const uint8_t *mac, uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1], nrooms[24], prior[2], seq[24] = "0";
	enum store_result res;
	struct call c;
	redisReply *r;
	size_t n;

	/* STORE_WRONG is a wrong room secret here: another generation of
	 * the caller's inbox asks it to come again (a new first contact). */
	if (redis_cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	if ((res = mark(s, user, gen, room, STORE_UNAVAILABLE, nrooms,
	    prior)) != STORE_OK)
		return res;
	redis_call_room(s, &c, room);
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	redis_call_bytes(&c, mac != NULL ? (const char *)mac : "",
	    mac != NULL ? CRED_MAC_BYTES : 0);
	redis_call_str(&c, nrooms);
	if ((r = redis_call_run(s, LUA_ROOM_JOIN, &c)) == NULL)
		return STORE_UNAVAILABLE;
	res = room_result(r);
	if (res == STORE_OK && (r->type != REDIS_REPLY_ARRAY ||
	    r->elements < 4 || r->element[2]->len >= sizeof(seq) ||
	    (n = strtoul(r->element[3]->str, NULL, 10)) > r->elements - 4))
		res = STORE_UNAVAILABLE;
	if (res == STORE_OK)
		memcpy(seq, r->element[2]->str, r->element[2]->len + 1);
	confirm(s, user, room, res == STORE_OK, seq, prior);
	if (res == STORE_OK) {
		if ((*members = roster_of(r, 4, n, strtoull(r->element[1]->str,
		    NULL, 10), NULL)) == NULL)
			res = STORE_NOMEM;
		redis_room_deliver(s, room, r, 4 + n);
	}
	freeReplyObject(r);
	return res;
}

/* room_members.lua: room's roster for its member user into *out. */
static enum store_result
room_roster(struct store *s, const char *room, const char *user,
    redisReply **out)
{
	enum store_result res;
	struct call c;
	redisReply *r;

	redis_call_room(s, &c, room);
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	r = redis_call_run(s, LUA_ROOM_MEMBERS, &c);
	res = room_result(r);
	if (res == STORE_OK && (r->type != REDIS_REPLY_ARRAY ||
	    r->elements < 2))
		res = STORE_UNAVAILABLE;
	if (res == STORE_OK)
		*out = r;
	else if (r != NULL)
		freeReplyObject(r);
	return res;
}

enum store_result
redis_room_members(struct store *s, const char *room, const char *user,
    uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1];
	enum store_result res;
	redisReply *r;

	if ((res = caller(s, user, now_ms, gen, STORE_WRONG)) != STORE_OK)
		return res;
	if ((res = room_roster(s, room, user, &r)) != STORE_OK)
		return res;
	if ((*members = roster_from(r)) == NULL)
		res = STORE_NOMEM;
	freeReplyObject(r);
	return res;
}

/*
 * A copy of m to each member but its sender, each in its own inbox's
 * slot, all at once (send.lua with the room): a full inbox never stops
 * the others.  The client, unanswered if the node dies midway, sends
 * again: a member may then have two copies, with two X-Message-Ids.
 */
enum store_result
redis_room_send(struct store *s, const char *room, const struct message *m,
    uint64_t now_ms, struct roster **copies)
{
	const char *from = message_from(m), *type = message_type(m);
	char gen[GEN_CHARS + 1];
	enum store_result res, *results = NULL;
	struct link_batch *b = NULL;
	struct call c;
	redisReply *r = NULL, *a;
	size_t i, n = 0, k;
	bool durable;

	if ((res = caller(s, from, now_ms, gen, STORE_WRONG)) != STORE_OK)
		return res;
	if ((res = room_roster(s, room, from, &r)) != STORE_OK)
		return res;
	/* The members but the sender: elements 2... of r, compacted. */
	for (i = 2; i < r->elements; i++)
		if (strcmp(r->element[i]->str, from) != 0)
			r->element[2 + n++] = r->element[i];
		else
			freeReplyObject(r->element[i]);
	r->elements = 2 + n;
	if ((results = calloc(n + 1, sizeof(*results))) == NULL ||
	    (b = link_batch_new((unsigned)n + 1)) == NULL) {
		res = STORE_NOMEM;
		goto done;
	}
	for (i = 0; i < n; i++) {
		redis_call_inbox(s, &c, r->element[2 + i]->str, "iqx");
		redis_call_str(&c, r->element[2 + i]->str);
		redis_call_str(&c, from);
		redis_call_str(&c, type != NULL ? type : "");
		redis_call_bytes(&c, message_body((struct message *)m), m->len);
		redis_call_str(&c, room);
		if (s->wait_replicas > 0) {
			/* Each copy waited for on its own connection. */
			a = redis_call_run_wait(s, LUA_SEND, &c, &durable);
			results[i] = redis_result(a);
			if (results[i] == STORE_OK && !durable)
				results[i] = STORE_UNAVAILABLE;
			if (a != NULL)
				freeReplyObject(a);
		} else if (link_batch_add(b, LUA_SEND, c.nkeys, c.argc, c.argv,
		    c.len) == -1) {
			res = STORE_NOMEM;
			goto done;
		}
	}
	link_batch_run(s->link, b);
	for (k = 0, i = 0; s->wait_replicas == 0 && k < b->n; k++, i++) {
		a = redis_call_answer(s, b->call[k].argv[0], b->call[k].len[0],
		    b->call[k].reply);
		b->call[k].reply = NULL;
		results[i] = redis_result(a);
		if (a != NULL)
			freeReplyObject(a);
	}
	for (i = 0; i < n; i++)
		atomic_fetch_add(&s->counter[results[i] == STORE_OK ?
		    C_COPIES_DELIVERED : C_COPIES_FAILED], 1);
	if ((*copies = roster_of(r, 2, n, strtoull(r->element[1]->str, NULL,
	    10), results)) == NULL)
		res = STORE_NOMEM;
done:
	if (b != NULL) {
		link_batch_clear(b);
		free(b);
	}
	free(results);
	freeReplyObject(r);
	return res;
}

/* room_invite.lua for user and peer; check: nothing changes. */
static redisReply *
invite(struct store *s, const char *room, const char *user,
    const char *peer, bool check)
{
	struct call c;

	redis_call_room(s, &c, room);
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	redis_call_str(&c, peer);
	redis_call_str(&c, check ? "1" : "0");
	return redis_call_run(s, LUA_ROOM_INVITE, &c);
}

/* member_invite.lua: peer's side of an invitation (undo: take it back).
 * STORE_OK with *made (the side is new), STORE_NO_PEER, or another. */
static enum store_result
invite_side(struct store *s, const char *room, const char *peer, bool undo,
    bool *made)
{
	enum store_result res;
	struct call c;
	redisReply *r;

	redis_call_inbox(s, &c, peer, "iqfrx");
	redis_call_str(&c, peer);
	redis_call_str(&c, room);
	redis_call_str(&c, undo ? "1" : "0");
	r = redis_call_run(s, LUA_MEMBER_INVITE, &c);
	res = redis_result(r);
	if (made != NULL)
		*made = res == STORE_OK && r->type == REDIS_REPLY_ARRAY &&
		    r->elements == 2 && redis_is_word(r->element[1], "1");
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

enum store_result
redis_room_invite(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	enum store_result res;
	redisReply *r;
	bool made = false;

	if ((res = caller(s, user, now_ms, gen, STORE_WRONG)) != STORE_OK)
		return res;
	/* The room's checks, then the peer's side, then the room. */
	r = invite(s, room, user, peer, true);
	res = redis_is_word(redis_first_word(r), "MEMBER") ? STORE_CONFLICT :
	    room_result(r);
	if (r != NULL)
		freeReplyObject(r);
	if (res != STORE_OK)
		return res == STORE_CONFLICT ? STORE_OK : res;
	if ((res = invite_side(s, room, peer, false, &made)) != STORE_OK)
		return res;
	if ((r = invite(s, room, user, peer, false)) == NULL)
		return STORE_UNAVAILABLE;
	res = redis_is_word(redis_first_word(r), "MEMBER") ? STORE_CONFLICT :
	    room_result(r);
	if (res != STORE_OK && made)
		invite_side(s, room, peer, true, NULL);
	if (res == STORE_OK)
		redis_room_deliver(s, room, r, 1);
	freeReplyObject(r);
	return res == STORE_CONFLICT ? STORE_OK : res;
}

/* A room script for user that answers {'OK', outbox...}: run it and
 * deliver the outbox. */
static enum store_result
room_change(struct store *s, enum lua_script script, const char *room,
    const char *user, const char *peer)
{
	enum store_result res;
	struct call c;
	redisReply *r;

	redis_call_room(s, &c, room);
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	if (peer != NULL)
		redis_call_str(&c, peer);
	r = redis_call_run(s, script, &c);
	res = room_result(r);
	if (res == STORE_OK)
		redis_room_deliver(s, room, r, 1);
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

enum store_result
redis_room_leave(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	enum store_result res;

	if ((res = caller(s, user, now_ms, gen, STORE_WRONG)) != STORE_OK)
		return res;
	return room_change(s, LUA_ROOM_LEAVE, room, user, peer);
}

enum store_result
redis_room_close(struct store *s, const char *room, const char *user,
    uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	enum store_result res;

	if ((res = caller(s, user, now_ms, gen, STORE_WRONG)) != STORE_OK)
		return res;
	return room_change(s, LUA_ROOM_CLOSE, room, user, NULL);
}

int
redis_room_forget(struct store *s, const char *room, const char *name)
{
	struct call c;
	redisReply *r;
	int ret;

	redis_call_room(s, &c, room);
	redis_call_str(&c, room);
	redis_call_str(&c, name);
	if ((r = redis_call_run(s, LUA_ROOM_FORGET, &c)) == NULL ||
	    r->type != REDIS_REPLY_ARRAY) {
		if (r != NULL) {
			redis_result(r); /* logs a script error */
			freeReplyObject(r);
		}
		return -1;
	}
	ret = redis_room_deliver(s, room, r, 0);
	freeReplyObject(r);
	return ret;
}
