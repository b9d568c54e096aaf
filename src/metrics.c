/*
 * metrics.c - process-wide counters and their Prometheus exposition.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

struct metrics metrics;

void
metrics_request(unsigned status)
{
	if (status < 600)
		atomic_fetch_add_explicit(&metrics.status[status], 1,
		    memory_order_relaxed);
}

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len)
			break;
		char *b = realloc(t->buf, t->cap * 2 + (size_t)n);

		if (b == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = b;
		t->cap = t->cap * 2 + (size_t)n;
	}
	t->len += (size_t)n;
}

static void
series(struct text *t, const char *name, const char *type, const char *help,
    uint64_t value)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
	    name, (unsigned long long)value);
}

#define LOAD(f) atomic_load_explicit(&metrics.f, memory_order_relaxed)

char *
metrics_render(const struct store_stats *st, const struct peer_stats *ps,
    size_t *len)
{
	struct text t = { malloc(4096), 0, 4096, 0 };
	unsigned code;

	if (t.buf == NULL)
		return NULL;
	series(&t, "inboxd_inboxes", "gauge", "Inboxes that exist.",
	    st->inboxes);
	series(&t, "inboxd_messages_queued", "gauge",
	    "Messages queued in all inboxes.", st->messages);
	series(&t, "inboxd_queued_bytes", "gauge",
	    "Body bytes of the queued messages.", st->bytes);
	series(&t, "inboxd_memory_bytes", "gauge",
	    "Memory counted against max-memory: inboxes, messages, rooms.",
	    st->memory);
	series(&t, "inboxd_waiters", "gauge", "GET requests held (long polls).",
	    st->waiters);
	series(&t, "inboxd_pins", "gauge", "Live pairing codes.", st->pins);
	series(&t, "inboxd_rooms", "gauge", "Rooms that exist.", st->rooms);
	series(&t, "inboxd_room_members", "gauge",
	    "Memberships of rooms, all rooms.", st->members);
	series(&t, "inboxd_room_invitations", "gauge",
	    "Invitations to rooms not yet used.", st->invitations);
	series(&t, "inboxd_tracked_addresses", "gauge",
	    "Client addresses with open connections or recent failures.",
	    ps->entries);
	series(&t, "inboxd_messages_sent_total", "counter",
	    "Messages accepted into an inbox.", st->sent);
	series(&t, "inboxd_messages_delivered_total", "counter",
	    "Messages whose response was handed to the client.",
	    st->delivered);
	series(&t, "inboxd_messages_acknowledged_total", "counter",
	    "Messages deleted by a GET's ack= (SPEC section 9).", st->acked);
	series(&t, "inboxd_messages_requeued_total", "counter",
	    "Popped messages put back after a failed delivery.",
	    st->requeued);
	series(&t, "inboxd_messages_expired_total", "counter",
	    "Messages dropped unread after message-timeout or with their "
	    "inbox.", st->expired);
	series(&t, "inboxd_inboxes_expired_total", "counter",
	    "Inboxes deleted after inbox-timeout.", st->inboxes_expired);
	series(&t, "inboxd_rooms_created_total", "counter", "Rooms created.",
	    st->rooms_created);
	series(&t, "inboxd_rooms_expired_total", "counter",
	    "Rooms deleted at the end of their ttl.", st->rooms_expired);
	series(&t, "inboxd_room_copies_delivered_total", "counter",
	    "Fan-out copies queued in members' inboxes.", st->copies_delivered);
	series(&t, "inboxd_room_copies_failed_total", "counter",
	    "Fan-out copies refused: inbox_full or server_full.",
	    st->copies_failed);
	series(&t, "inboxd_room_events_total", "counter",
	    "Room events (joined, left, closed, invited) queued.", st->events);
	series(&t, "inboxd_room_events_dropped_total", "counter",
	    "Room events refused by a full inbox or server.",
	    st->events_dropped);
	series(&t, "inboxd_gauge_walks_total", "counter",
	    "Cluster mode: walks over every inbox in Redis that made the "
	    "inbox, message and byte gauges.", st->gauge_walks);
	series(&t, "inboxd_auth_failures_total", "counter",
	    "Wrong passwords, refused Bearer tokens, wrong room secrets "
	    "and unknown PINs.",
	    LOAD(auth_failures));
	series(&t, "inboxd_rate_limited_requests_total", "counter",
	    "Requests answered 429 after auth-failures-per-minute.",
	    LOAD(rate_limited));
	series(&t, "inboxd_ice_credentials_total", "counter",
	    "TURN credentials handed out by GET /ice.", LOAD(ice_credentials));
	series(&t, "inboxd_argon2_hashes_total", "counter",
	    "Argon2id hashes computed (first contacts).", LOAD(argon2_hashes));
	series(&t, "inboxd_held_hangups_total", "counter",
	    "Held GETs ended because their client closed or reset its "
	    "connection.", LOAD(hangups));
	series(&t, "inboxd_request_timeouts_total", "counter",
	    "Connections closed because a request was not in whole "
	    "connection-timeout after it began.", LOAD(request_timeouts));
	series(&t, "inboxd_connections_refused_total", "counter",
	    "Connections closed at once past connection-limit.",
	    LOAD(connections_refused));
	put(&t, "# HELP inboxd_http_requests_total Requests answered, by "
	    "status code.\n# TYPE inboxd_http_requests_total counter\n");
	for (code = 100; code < 600; code++) {
		uint64_t n = atomic_load_explicit(&metrics.status[code],
		    memory_order_relaxed);

		if (n > 0)
			put(&t, "inboxd_http_requests_total{code=\"%u\"} %llu\n",
			    code, (unsigned long long)n);
	}
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
