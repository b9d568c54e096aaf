/*
 * redis_room.c - room operations over the scripts (SPEC section 7).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_impl.h"
#include "util.h"

/*
 * A roster from a script's answer {'OK', ms left, name, [result,] ...}:
 * names alone (paired false) or each with its result (paired true).
 */
static struct roster *
redis_roster(const redisReply *r, bool paired)
{
	size_t step = paired ? 2 : 1, i, bytes = 0, n;
	struct roster *ro;
	char *names;

	if (r->elements < 2 || (r->elements - 2) % step != 0)
		return NULL;
	n = (r->elements - 2) / step;
	for (i = 2; i < r->elements; i += step)
		bytes += r->element[i]->len + 1;
	if ((ro = malloc(sizeof(*ro) + n * sizeof(ro->e[0]) + bytes)) == NULL)
		return NULL;
	names = (char *)&ro->e[n];
	ro->n = 0;
	ro->expires_in_ms = (uint64_t)strtoull(r->element[1]->str, NULL, 10);
	for (i = 2; i < r->elements; i += step) {
		memcpy(names, r->element[i]->str, r->element[i]->len + 1);
		ro->e[ro->n].name = names;
		ro->e[ro->n].result = paired ?
		    redis_result(r->element[i + 1]) : STORE_OK;
		names += r->element[i]->len + 1;
		ro->n++;
	}
	return ro;
}

/*
 * Run a room script for user and read its answer: a roster into *ro when
 * ro is not NULL and it says OK.  A caller whose inbox is gone gets
 * STORE_NOT_FOUND (as from the in-memory store); another generation
 * `wrong'.
 */
static enum store_result
redis_room_call(struct store *s, enum lua_script script, struct call *c,
    const char *user, struct roster **ro, bool paired,
    enum store_result wrong)
{
	enum store_result res;
	redisReply *r = redis_call_run(s, script, c);

	if (redis_cred_is_stale(r)) {
		res = redis_cred_stale(s, user, r, STORE_NOT_FOUND);
		if (res == STORE_WRONG)
			res = wrong;
	} else if (redis_is_word(redis_first_word(r), "WRONG_SECRET"))
		res = STORE_WRONG;
	else
		res = redis_result(r);
	if (res == STORE_OK && ro != NULL &&
	    (r->type != REDIS_REPLY_ARRAY || (*ro = redis_roster(r, paired)) ==
	    NULL))
		res = STORE_NOMEM;
	if (r != NULL)
		freeReplyObject(r);
	return res;
}

/* The ids a room script may need: an event or a copy for each member. */
static uint64_t
redis_room_ids(struct store *s)
{
	return redis_call_ids(s, s->lim.max_room_members + 1);
}

enum store_result
redis_room_create(struct store *s, const char *creator,
    const struct room_params *p, uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (redis_cred_gen(s, creator, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	redis_call_init(s, &c, 0);
	redis_call_str(&c, creator);
	redis_call_str(&c, gen);
	redis_call_str(&c, p->name);
	redis_call_bytes(&c, p->mac != NULL ? (const char *)p->mac : "",
	    p->mac != NULL ? CRED_MAC_BYTES : 0);
	redis_call_u64(&c, p->max_members);
	redis_call_u64(&c, p->ttl_ms);
	return redis_room_call(s, LUA_ROOM_CREATE, &c, creator, members, false,
	    STORE_WRONG);
}

enum store_result
redis_room_join(struct store *s, const char *room, const char *user,
    const uint8_t *mac, uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (redis_cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	redis_call_init(s, &c, redis_room_ids(s));
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	redis_call_str(&c, gen);
	redis_call_bytes(&c, mac != NULL ? (const char *)mac : "",
	    mac != NULL ? CRED_MAC_BYTES : 0);
	/* STORE_WRONG is a wrong room secret here: another generation of
	 * the caller's inbox asks it to come again (a new first contact). */
	return redis_room_call(s, LUA_ROOM_JOIN, &c, user, members, false,
	    STORE_UNAVAILABLE);
}

enum store_result
redis_room_members(struct store *s, const char *room, const char *user,
    uint64_t now_ms, struct roster **members)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (redis_cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	redis_call_init(s, &c, 0);
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	redis_call_str(&c, gen);
	return redis_room_call(s, LUA_ROOM_MEMBERS, &c, user, members, false,
	    STORE_WRONG);
}

enum store_result
redis_room_send(struct store *s, const char *room, const struct message *m,
    uint64_t now_ms, struct roster **copies)
{
	const char *from = message_from(m), *type = message_type(m);
	char gen[GEN_CHARS + 1];
	struct call c;

	if (redis_cred_gen(s, from, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	redis_call_init(s, &c, redis_room_ids(s));
	redis_call_str(&c, room);
	redis_call_str(&c, from);
	redis_call_str(&c, gen);
	redis_call_str(&c, type != NULL ? type : "");
	redis_call_bytes(&c, message_body((struct message *)m), m->len);
	return redis_room_call(s, LUA_ROOM_SEND, &c, from, copies, true,
	    STORE_WRONG);
}

enum store_result
redis_room_invite(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (redis_cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	redis_call_init(s, &c, redis_call_ids(s, 1));
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	redis_call_str(&c, gen);
	redis_call_str(&c, peer);
	return redis_room_call(s, LUA_ROOM_INVITE, &c, user, NULL, false,
	    STORE_WRONG);
}

enum store_result
redis_room_leave(struct store *s, const char *room, const char *user,
    const char *peer, uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (redis_cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	redis_call_init(s, &c, redis_room_ids(s));
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	redis_call_str(&c, gen);
	redis_call_str(&c, peer);
	return redis_room_call(s, LUA_ROOM_LEAVE, &c, user, NULL, false,
	    STORE_WRONG);
}

enum store_result
redis_room_close(struct store *s, const char *room, const char *user,
    uint64_t now_ms)
{
	char gen[GEN_CHARS + 1];
	struct call c;

	if (redis_cred_gen(s, user, gen, now_ms, 0) == -1)
		return STORE_UNAVAILABLE;
	redis_call_init(s, &c, redis_room_ids(s));
	redis_call_str(&c, room);
	redis_call_str(&c, user);
	redis_call_str(&c, gen);
	return redis_room_call(s, LUA_ROOM_CLOSE, &c, user, NULL, false,
	    STORE_WRONG);
}
