/*
 * store.c - what every store shares: messages, and the release of the
 * waiters a store collected under its lock.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

struct message *
message_new_room(const char *from, const char *type, const char *room,
    enum room_event event, size_t cap)
{
	size_t from_len = strlen(from), type_len = type ? strlen(type) : 0;
	size_t room_len = room ? strlen(room) : 0;
	struct message *m;

	if (from_len > UINT16_MAX || type_len > UINT16_MAX ||
	    room_len > UINT16_MAX || cap > UINT32_MAX)
		return NULL;
	m = malloc(sizeof(*m) + from_len + 1 + type_len + 1 + room_len + 1 +
	    cap);
	if (m == NULL)
		return NULL;
	m->next = NULL;
	m->enqueued_ms = 0;
	m->id = 0;
	m->len = 0;
	m->cap = (uint32_t)cap;
	m->from_len = (uint16_t)from_len;
	m->type_len = (uint16_t)type_len;
	m->room_len = (uint16_t)room_len;
	m->event = (uint8_t)event;
	memcpy(m->data, from, from_len + 1);
	if (type_len)
		memcpy(m->data + from_len + 1, type, type_len);
	m->data[from_len + 1 + type_len] = '\0';
	if (room_len)
		memcpy(m->data + from_len + 1 + type_len + 1, room, room_len);
	m->data[from_len + 1 + type_len + 1 + room_len] = '\0';
	return m;
}

struct message *
message_new(const char *from, const char *type, size_t cap)
{
	return message_new_room(from, type, NULL, EVENT_NONE, cap);
}

const char *
message_event(const struct message *m)
{
	static const char *const names[] = {
		[EVENT_JOINED] = "joined",
		[EVENT_LEFT] = "left",
		[EVENT_CLOSED] = "closed",
		[EVENT_INVITED] = "invited",
	};

	return m->event > EVENT_NONE && m->event < nitems(names) ?
	    names[m->event] : NULL;
}

/* Bytes of the message before its body. */
static size_t
message_head(const struct message *m)
{
	return sizeof(*m) + m->from_len + 1 + m->type_len + 1 + m->room_len +
	    1;
}

int
message_reserve(struct message **mp, size_t cap)
{
	struct message *m = *mp;

	if (cap <= m->cap)
		return 0;
	if (cap > UINT32_MAX)
		return -1;
	m = realloc(m, message_head(m) + cap);
	if (m == NULL)
		return -1;
	m->cap = (uint32_t)cap;
	*mp = m;
	return 0;
}

void
message_free(struct message *m)
{
	free(m);
}

size_t
message_cost(const struct message *m)
{
	return message_head(m) + m->cap + STORE_MALLOC_OVERHEAD;
}

void
store_release(const struct store_waiter_ops *ops, struct store_waiter *w)
{
	struct store_waiter *next;

	for (; w != NULL; w = next) {
		next = w->next;
		w->next = w->prev = NULL;
		ops->release(w);
	}
}
