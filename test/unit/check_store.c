/*
 * check_store.c - inboxes, queues, quotas, holds, expiry and PINs, on
 * both stores (backend.h): store/memory and store/redis run the same
 * cases, with the connection replaced by a recording fake.  Time is
 * passed in; the cases on expiry run on the real clock on Redis, whose
 * own clock times inboxes, messages and PINs.
 *
 * As the HTTP layer does, every sender is an inbox that was made (and
 * verified) first, and each send logs its sender in first.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "store.h"

#define TICK 100
#define SEC 1000
#define REDIS_CASE_TIMEOUT 60 /* s: the cases on Redis' real clock */

static struct store *s;
static struct store_limits lim;
static uint8_t mac_a[CRED_MAC_BYTES] = { 1 }, mac_b[CRED_MAC_BYTES] = { 2 };

#define UNTIL(cond, by) BACKEND_UNTIL(s, cond, by)

static void
setup(void)
{
	lim.inbox_timeout_ms = 60 * SEC;
	lim.message_timeout_ms = 60 * SEC;
	lim.max_messages = 100;
	lim.max_inbox_bytes = 1024 * 1024;
	lim.max_inboxes = 1000;
	lim.max_memory = 64 * 1024 * 1024;
	s = backend_store_new(&lim, &backend_fake_ops, TICK);
}

static void
setup_memory(void)
{
	backend = BACKEND_MEMORY;
	setup();
}

static void
setup_redis(void)
{
	backend = BACKEND_REDIS;
	setup();
}

static void
teardown(void)
{
	store_free(s);
	s = NULL;
}

/* The store again, with the limits as the case changed them. */
static void
make_store(void)
{
	store_free(s);
	s = backend_store_new(&lim, &backend_fake_ops, TICK);
}

/* What a login with a password other than the inbox's answers: the
 * Redis store answers from its cache alone, and a MAC it does not know
 * sends the request to a first contact (include/redis.h). */
static enum store_result
wrong_login(void)
{
	return on_redis() ? STORE_NOT_FOUND : STORE_WRONG;
}

/* What a create of an inbox that exists answers for a MAC other than
 * its password's: the Redis store cannot tell, and leaves it to the
 * caller to verify against store_credential's hash (include/store.h). */
static enum store_result
wrong_create(void)
{
	return on_redis() ? STORE_CONFLICT : STORE_WRONG;
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
create(const char *name, uint64_t now)
{
	struct cred_hash h = backend_hash();

	ck_assert_int_eq(store_create(s, name, &h, mac_a, now), STORE_OK);
}

/* A send as a request makes it: the sender logs in, then sends. */
static void
send_ok(const char *to, const char *from, const char *body, uint64_t now)
{
	ck_assert_int_eq(store_login(s, from, mac_a, now), STORE_OK);
	ck_assert_int_eq(store_send(s, to, msg(from, NULL, body), now),
	    STORE_OK);
}

/* Pop with wait 0 and acknowledge; the body, or NULL when there is none
 * (an empty inbox, or none at all). */
static char *
pop(const char *name, uint64_t now, char *from)
{
	static char body[4096];
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	enum store_result r;

	w.owner = &f;
	r = store_receive(s, name, &w, 0, now);
	if (r != STORE_OK) {
		ck_assert_msg(r == STORE_EMPTY || r == STORE_NOT_FOUND,
		    "receive for %s: %d", name, (int)r);
		return NULL;
	}
	ck_assert_uint_lt(w.msg->len, sizeof(body));
	memcpy(body, message_body(w.msg), w.msg->len);
	body[w.msg->len] = '\0';
	if (from != NULL)
		strcpy(from, message_from(w.msg));
	store_done(s, &w, true, now);
	return body;
}

/* The counters, and the gauges that the Redis store reads from Redis
 * (PINs, rooms, members, invitations, held GETs). */
static struct store_stats
counts(void)
{
	struct store_stats st;

	store_stats(s, &st);
	return st;
}

/* Those, and the gauges of inboxes, messages and bytes counting all done
 * so far: on Redis, once a walk over every inbox has seen it. */
static struct store_stats
stats(void)
{
	backend_settle(s, backend_now());
	return counts();
}

START_TEST(test_pop_returns_oldest_with_sender)
{
	char from[64];

	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	send_ok("alice", "bob", "first", 10);
	send_ok("alice", "carol", "second", 20);
	ck_assert_str_eq(pop("alice", 30, from), "first");
	ck_assert_str_eq(from, "bob");
	ck_assert_str_eq(pop("alice", 30, from), "second");
	ck_assert_str_eq(from, "carol");
	ck_assert_ptr_null(pop("alice", 30, NULL));
}
END_TEST

START_TEST(test_message_keeps_content_type_and_unique_id)
{
	struct store_waiter w = { 0 };
	struct message *a = msg("bob", "application/sdp", "v=0");
	struct message *b = msg("bob", NULL, "x");
	uint64_t id;

	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(store_send(s, "alice", a, 0), STORE_OK);
	ck_assert_int_eq(store_send(s, "alice", b, 0), STORE_OK);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	ck_assert_str_eq(message_type(w.msg), "application/sdp");
	id = w.msg->id;
	store_done(s, &w, true, 0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	ck_assert_ptr_null(message_type(w.msg));
	ck_assert_uint_ne(w.msg->id, id);
	store_done(s, &w, true, 0);
}
END_TEST

START_TEST(test_send_to_unknown_inbox_is_not_found)
{
	struct message *m = msg("bob", NULL, "x");

	create("bob", 0);
	ck_assert_int_eq(store_send(s, "nobody", m, 0), STORE_NOT_FOUND);
	message_free(m); /* still the caller's */
}
END_TEST

START_TEST(test_login_checks_the_mac)
{
	ck_assert_int_eq(store_login(s, "alice", mac_a, 0), STORE_NOT_FOUND);
	create("alice", 0);
	ck_assert_int_eq(store_login(s, "alice", mac_a, 0), STORE_OK);
	ck_assert_int_eq(store_login(s, "alice", mac_b, 0), wrong_login());
	/* The password of the inbox still opens it. */
	ck_assert_int_eq(store_login(s, "alice", mac_a, 0), STORE_OK);
}
END_TEST

START_TEST(test_concurrent_create_becomes_login)
{
	struct cred_hash other = backend_hash();

	create("alice", 0);
	ck_assert_int_eq(store_create(s, "alice", &other, mac_a, 0),
	    STORE_OK);
	ck_assert_int_eq(store_create(s, "alice", &other, mac_b, 0),
	    wrong_create());
	/* The first one's password stays the inbox's. */
	ck_assert_int_eq(store_login(s, "alice", mac_a, 0), STORE_OK);
}
END_TEST

/*
 * A first contact with a held inbox: its hash out, a verified MAC in.
 * The in-memory store, which keeps the inbox's MAC, checks what it is
 * given at once; the Redis store takes the caller's word that the
 * password was verified against the hash, and the inbox's next
 * operation tells one made again since, or gone (redis_inbox_admit).
 */
START_TEST(test_credential_and_admit)
{
	struct cred_hash h = backend_hash(), got, other;
	struct store_waiter w = { 0 };

	ck_assert_int_eq(store_credential(s, "alice", &got), STORE_NOT_FOUND);
	ck_assert_int_eq(store_create(s, "alice", &h, mac_a, 0), STORE_OK);
	ck_assert_int_eq(store_credential(s, "alice", &got), STORE_OK);
	ck_assert_mem_eq(&got, &h, sizeof(got));
	ck_assert_int_eq(store_admit(s, "alice", &got, mac_a, 0), STORE_OK);
	ck_assert_int_eq(store_login(s, "alice", mac_a, 0), STORE_OK);
	other = got;
	other.salt[0] ^= 1; /* the hash of an earlier inbox of the name */
	if (!on_redis()) {
		ck_assert_int_eq(store_admit(s, "alice", &got, mac_b, 0),
		    STORE_WRONG);
		ck_assert_int_eq(store_admit(s, "alice", &other, mac_a, 0),
		    STORE_WRONG);
		ck_assert_int_eq(store_admit(s, "bob", &got, mac_a, 0),
		    STORE_NOT_FOUND);
		return;
	}
	ck_assert_int_eq(store_admit(s, "alice", &other, mac_a, 0), STORE_OK);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_WRONG);
	ck_assert_int_eq(store_admit(s, "bob", &got, mac_a, 0), STORE_OK);
	ck_assert_int_eq(store_receive(s, "bob", &w, 0, 0), STORE_NOT_FOUND);
}
END_TEST

START_TEST(test_names_are_exact_bytes)
{
	create("zoë", 0);
	create("zoe", 0);
	create("a/b+c=@", 0);
	create("x", 0);
	send_ok("zoë", "x", "accent", 0);
	send_ok("zoe", "x", "plain", 0);
	ck_assert_str_eq(pop("zoe", 0, NULL), "plain");
	ck_assert_str_eq(pop("zoë", 0, NULL), "accent");
	ck_assert_int_eq(store_login(s, "a/b+c=@", mac_a, 0), STORE_OK);
	ck_assert_int_eq(store_login(s, "a/b+c", mac_a, 0), STORE_NOT_FOUND);
}
END_TEST

START_TEST(test_inbox_full_by_count)
{
	struct message *m;

	lim.max_messages = 2;
	make_store();
	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "1", 0);
	send_ok("alice", "bob", "2", 0);
	m = msg("bob", NULL, "3");
	ck_assert_int_eq(store_send(s, "alice", m, 0), STORE_INBOX_FULL);
	message_free(m);
	ck_assert_str_eq(pop("alice", 0, NULL), "1");
	send_ok("alice", "bob", "3", 0);
}
END_TEST

START_TEST(test_inbox_full_by_bytes)
{
	struct message *m;

	lim.max_inbox_bytes = 10;
	make_store();
	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "123456", 0);
	m = msg("bob", NULL, "12345");
	ck_assert_int_eq(store_send(s, "alice", m, 0), STORE_INBOX_FULL);
	message_free(m);
	send_ok("alice", "bob", "1234", 0);
}
END_TEST

START_TEST(test_server_full_by_inbox_count)
{
	struct cred_hash h = backend_hash();

	lim.max_inboxes = 2;
	make_store();
	create("a", 0);
	create("b", 0);
	/* The Redis store judges by its gauges: the walk must have seen a
	 * and b. */
	ck_assert_uint_eq(stats().inboxes, 2);
	ck_assert_int_eq(store_create(s, "c", &h, mac_a, 0),
	    STORE_SERVER_FULL);
	/* Existing inboxes keep working. */
	send_ok("a", "b", "still here", 0);
	ck_assert_str_eq(pop("a", 0, NULL), "still here");
}
END_TEST

START_TEST(test_server_full_by_memory)
{
	struct store_stats st;
	struct message *m;
	char body[1000];
	int i, sent = 0;

	lim.max_memory = 20000;
	lim.max_messages = 1000;
	make_store();
	create("alice", 0);
	create("bob", 0);
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = 0; i < 100; i++) {
		/* On Redis, judged by the gauges of the last walk. */
		backend_settle(s, 0);
		m = msg("bob", NULL, body);
		if (store_send(s, "alice", m, 0) != STORE_OK) {
			message_free(m);
			break;
		}
		sent++;
	}
	ck_assert_int_gt(sent, 10);
	ck_assert_int_lt(sent, 20);
	st = stats();
	ck_assert_uint_eq(st.messages, (uint64_t)sent);
	ck_assert_uint_le(st.memory, lim.max_memory);
	m = msg("bob", NULL, body);
	ck_assert_int_eq(store_send(s, "alice", m, 0), STORE_SERVER_FULL);
	message_free(m);
	/* A pop makes room again. */
	ck_assert_str_eq(pop("alice", 0, NULL), body);
	backend_settle(s, 0);
	send_ok("alice", "bob", body, 0);
}
END_TEST

START_TEST(test_stats_count_bytes_and_messages)
{
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "12345", 0);
	send_ok("alice", "bob", "678", 0);
	st = stats();
	ck_assert_uint_eq(st.inboxes, 2);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_uint_eq(st.bytes, 8);
	ck_assert_uint_eq(st.sent, 2);
	pop("alice", 0, NULL);
	st = stats();
	ck_assert_uint_eq(st.messages, 1);
	ck_assert_uint_eq(st.bytes, 3);
	ck_assert_uint_eq(st.delivered, 1);
}
END_TEST

START_TEST(test_failed_delivery_goes_back_to_the_head)
{
	struct store_waiter w = { 0 };
	struct store_stats st;

	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "first", 0);
	send_ok("alice", "bob", "second", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	store_done(s, &w, false, 10);
	ck_assert_ptr_null(w.msg);
	ck_assert_str_eq(pop("alice", 20, NULL), "first");
	ck_assert_str_eq(pop("alice", 20, NULL), "second");
	st = stats();
	ck_assert_uint_eq(st.requeued, 1);
	ck_assert_uint_eq(st.delivered, 2);
	ck_assert_uint_eq(st.messages, 0);
}
END_TEST

START_TEST(test_two_failed_deliveries_return_in_order)
{
	struct store_waiter w1 = { 0 }, w2 = { 0 };

	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "1", 0);
	send_ok("alice", "bob", "2", 0);
	send_ok("alice", "bob", "3", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w1, 0, 0), STORE_OK);
	ck_assert_int_eq(store_receive(s, "alice", &w2, 0, 0), STORE_OK);
	/* The younger one fails first, then the older. */
	store_done(s, &w2, false, 10);
	store_done(s, &w1, false, 20);
	ck_assert_str_eq(pop("alice", 30, NULL), "1");
	ck_assert_str_eq(pop("alice", 30, NULL), "2");
	ck_assert_str_eq(pop("alice", 30, NULL), "3");
	ck_assert_ptr_null(pop("alice", 30, NULL));
}
END_TEST

START_TEST(test_held_receiver_is_handed_the_next_message)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };

	w.owner = &f;
	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 25 * SEC, 0),
	    STORE_HELD);
	ck_assert_int_eq(f.holds, 1);
	ck_assert_int_eq(f.releases, 0);
	ck_assert_uint_eq(counts().waiters, 1);
	send_ok("alice", "bob", "wake", 100);
	backend_released(&f, 1);
	ck_assert_int_eq(w.state, WAITER_MESSAGE);
	ck_assert_str_eq(message_from(w.msg), "bob");
	store_done(s, &w, true, 200);
	ck_assert_uint_eq(counts().waiters, 0);
	/* Nothing was queued behind the hand-over. */
	ck_assert_ptr_null(pop("alice", 300, NULL));
}
END_TEST

START_TEST(test_hung_up_receiver_leaves_message_queued)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };

	w.owner = &f;
	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 25 * SEC, 0),
	    STORE_HELD);
	f.alive = false;
	send_ok("alice", "bob", "kept", 100);
	backend_released(&f, 1);
	ck_assert_int_eq(w.state, WAITER_GONE);
	ck_assert_ptr_null(w.msg);
	ck_assert_str_eq(pop("alice", 200, NULL), "kept");
}
END_TEST

START_TEST(test_second_receiver_displaces_the_first)
{
	struct store_waiter w1 = { 0 }, w2 = { 0 };
	struct fake f1 = { true, 0, 0 }, f2 = { true, 0, 0 };

	w1.owner = &f1;
	w2.owner = &f2;
	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w1, 25 * SEC, 0),
	    STORE_HELD);
	ck_assert_int_eq(store_receive(s, "alice", &w2, 25 * SEC, 10),
	    STORE_HELD);
	backend_released(&f1, 1);
	ck_assert_int_eq(w1.state, WAITER_DISPLACED);
	ck_assert_int_eq(f2.releases, 0);
	send_ok("alice", "bob", "to the newer", 20);
	backend_released(&f2, 1);
	ck_assert_int_eq(w2.state, WAITER_MESSAGE);
	ck_assert_str_eq(message_from(w2.msg), "bob");
	store_done(s, &w2, true, 30);
	ck_assert_int_eq(f1.releases, 1);
}
END_TEST

/* The hold's deadline is the node's own wheel on both stores. */
START_TEST(test_hold_times_out_at_its_deadline)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };

	w.owner = &f;
	create("alice", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 5 * SEC, 1000),
	    STORE_HELD);
	store_expire(s, 5999);
	ck_assert_int_eq(f.releases, 0);
	store_expire(s, 6000 + TICK);
	backend_released(&f, 1);
	ck_assert_int_eq(w.state, WAITER_TIMEOUT);
	ck_assert_uint_eq(counts().waiters, 0);
}
END_TEST

START_TEST(test_requeue_hands_to_held_receiver)
{
	struct store_waiter w1 = { 0 }, w2 = { 0 };
	struct fake f2 = { true, 0, 0 };

	w2.owner = &f2;
	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "m", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w1, 0, 0), STORE_OK);
	ck_assert_int_eq(store_receive(s, "alice", &w2, 25 * SEC, 0),
	    STORE_HELD);
	store_done(s, &w1, false, 10); /* the first response failed */
	backend_released(&f2, 1);
	ck_assert_int_eq(w2.state, WAITER_MESSAGE);
	ck_assert_str_eq(message_from(w2.msg), "bob");
	store_done(s, &w2, true, 20);
	ck_assert_ptr_null(pop("alice", 30, NULL));
}
END_TEST

START_TEST(test_shutdown_releases_every_holder)
{
	struct store_waiter w[3];
	struct fake f[3] = { { true, 0, 0 }, { true, 0, 0 }, { true, 0, 0 } };
	char name[8];
	int i;

	memset(w, 0, sizeof(w));
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		create(name, 0);
		w[i].owner = &f[i];
		ck_assert_int_eq(store_receive(s, name, &w[i], 25 * SEC, 0),
		    STORE_HELD);
	}
	store_shutdown(s, 10);
	for (i = 0; i < 3; i++) {
		backend_released(&f[i], 1);
		ck_assert_int_eq(w[i].state, WAITER_SHUTDOWN);
	}
	/* No more holds once stopping. */
	ck_assert_int_eq(store_receive(s, "u0", &w[0], 25 * SEC, 20),
	    STORE_EMPTY);
	ck_assert_int_eq(f[0].holds, 1);
}
END_TEST

START_TEST(test_table_grows_past_initial_size)
{
	char name[32];
	int i;

	lim.max_inboxes = 100000;
	make_store();
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "user-%d", i);
		create(name, 0);
	}
	for (i = 0; i < 5000; i += 7) {
		snprintf(name, sizeof(name), "user-%d", i);
		ck_assert_int_eq(store_login(s, name, mac_a, 0), STORE_OK);
	}
	ck_assert_uint_eq(stats().inboxes, 5000);
}
END_TEST

/* 1000 sends from bob to alice; the first result that was not OK. */
static void *
sender(void *arg)
{
	enum store_result r, *first = arg;
	int i;

	*first = STORE_OK;
	for (i = 0; i < 1000; i++) {
		struct message *m = msg("bob", NULL, "x");

		if ((r = store_send(s, "alice", m, 0)) != STORE_OK) {
			message_free(m);
			if (*first == STORE_OK)
				*first = r;
		}
	}
	return NULL;
}

START_TEST(test_concurrent_senders_lose_nothing)
{
	enum store_result first[4];
	pthread_t t[4];
	struct store_stats st;
	int i, popped = 0;

	lim.max_messages = 10000;
	make_store();
	create("alice", 0);
	create("bob", 0);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, sender, &first[i]);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(first[i], STORE_OK);
	}
	while (pop("alice", 0, NULL) != NULL)
		popped++;
	ck_assert_int_eq(popped, 4000);
	st = stats();
	ck_assert_uint_eq(st.messages, 0);
	ck_assert_uint_eq(st.sent, 4000);
	ck_assert_uint_eq(st.delivered, 4000);
}
END_TEST

/* ---------------------------------------------------------------- expiry */

/*
 * The timeouts of the cases below: those of the in-memory store's cases
 * as they always were, and on Redis, where they are real time, as short
 * as the margins allow (what must still be there is looked at half way
 * to its deadline, and a busy machine must not make that too late).
 */
#define REDIS_MS 1500

static uint64_t
timeout(uint64_t memory_ms, uint64_t redis_ms)
{
	return on_redis() ? redis_ms : memory_ms;
}

START_TEST(test_stale_message_is_never_delivered)
{
	uint64_t mt = timeout(10 * SEC, REDIS_MS), t_old, t_new;

	lim.message_timeout_ms = mt;
	make_store();
	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "old", backend_now());
	t_old = backend_now();
	backend_wait_to(t_old + mt / 2);
	t_new = backend_now();
	send_ok("alice", "bob", "new", t_new);
	/* No timer has run yet: the pop itself must skip the stale one. */
	backend_wait_to(t_old + mt + backend_eps());
	ck_assert_str_eq(pop("alice", backend_now(), NULL), "new");
	backend_in_time(t_new + mt);
	ck_assert_uint_eq(counts().expired, 1);
}
END_TEST

START_TEST(test_stale_messages_are_freed_by_the_wheel)
{
	uint64_t mt = timeout(10 * SEC, REDIS_MS), t_a, t_b, t_a_end, t_b_end;
	struct store_stats st;

	lim.message_timeout_ms = mt;
	make_store();
	create("alice", 0);
	create("bob", 0);
	t_a = backend_now();
	send_ok("alice", "bob", "a", t_a);
	t_a_end = backend_now();
	backend_pass_to(s, t_a + mt * 2 / 5);
	t_b = backend_now();
	send_ok("alice", "bob", "b", t_b);
	t_b_end = backend_now();
	backend_pass_to(s, backend_before(t_b_end, t_a + mt));
	BACKEND_STILL(stats().messages == 2, t_a + mt);
	/* Nobody pops: the timers (a walk, on Redis) drop them. */
	UNTIL(stats().messages == 1, backend_by(t_a_end + mt));
	backend_in_time(t_b + mt);
	UNTIL(stats().messages == 0, backend_by(t_b_end + mt));
	st = stats();
	ck_assert_uint_eq(st.bytes, 0);
	ck_assert_uint_eq(st.expired, 2);
}
END_TEST

START_TEST(test_requeued_stale_message_is_dropped)
{
	uint64_t mt = timeout(10 * SEC, REDIS_MS), t_end;
	struct store_waiter w = { 0 };

	lim.message_timeout_ms = mt;
	make_store();
	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "m", backend_now());
	t_end = backend_now();
	backend_wait_to(t_end + mt / 10);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, backend_now()),
	    STORE_OK);
	backend_wait_to(t_end + mt + backend_eps());
	store_done(s, &w, false, backend_now());
	ck_assert_ptr_null(pop("alice", backend_now(), NULL));
	ck_assert_uint_eq(counts().expired, 1);
	ck_assert_uint_eq(counts().requeued, 0);
}
END_TEST

START_TEST(test_idle_inbox_expires)
{
	uint64_t it = timeout(60 * SEC, REDIS_MS), t0, t1, t1_end;
	struct store_waiter w = { 0 };
	struct store_stats st;
	struct cred_hash h = backend_hash();
	struct message *m;

	lim.inbox_timeout_ms = it;
	lim.message_timeout_ms = 10 * it; /* the inbox goes first */
	make_store();
	t0 = backend_now();
	create("alice", t0);
	send_ok("alice", "alice", "unread", t0);
	/* A GET whose answer failed half way: alice was there. */
	backend_pass_to(s, t0 + it / 2);
	t1 = backend_now();
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, t1), STORE_OK);
	store_done(s, &w, false, t1);
	t1_end = backend_now();
	/* Past its first deadline, alive until a timeout after t1. */
	backend_pass_to(s, backend_before(t1_end, t1 + it));
	st = stats();
	BACKEND_STILL(st.inboxes == 1 && st.messages == 1, t1 + it);
	UNTIL(stats().inboxes == 0, backend_by(t1_end + it));
	st = stats();
	ck_assert_uint_eq(st.inboxes_expired, 1);
	ck_assert_uint_eq(st.messages, 0);
	create("bob", backend_now());
	m = msg("bob", NULL, "late");
	ck_assert_int_eq(store_send(s, "alice", m, backend_now()),
	    STORE_NOT_FOUND);
	message_free(m);
	/* The name is free again, for any password. */
	ck_assert_int_eq(store_create(s, "alice", &h, mac_b, backend_now()),
	    STORE_OK);
	ck_assert_ptr_null(pop("alice", backend_now(), NULL));
}
END_TEST

START_TEST(test_held_receiver_keeps_its_inbox)
{
	uint64_t it = timeout(2 * SEC, REDIS_MS), wait = 3 * it, t0, t_end;
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };

	lim.inbox_timeout_ms = it;
	make_store();
	w.owner = &f;
	t0 = backend_now();
	create("alice", t0);
	ck_assert_int_eq(store_receive(s, "alice", &w, wait, t0),
	    STORE_HELD);
	/* Past its inbox-timeout, held. */
	backend_pass_to(s, backend_before(t0, t0 + wait));
	BACKEND_STILL(stats().inboxes == 1, t0 + wait);
	ck_assert_int_eq(f.releases, 0);
	UNTIL(atomic_load(&f.releases) == 1, backend_by(t0 + wait));
	ck_assert_int_eq(w.state, WAITER_TIMEOUT);
	t_end = backend_now();
	/* Idle from the end of the hold on. */
	backend_pass_to(s, backend_before(t_end, t0 + wait + it));
	BACKEND_STILL(stats().inboxes == 1, t0 + wait + it);
	UNTIL(stats().inboxes == 0, backend_by(t_end + it));
}
END_TEST

/*
 * A GET held for a client that has hung up keeps nobody present: the
 * inbox ages from the GET's start, whether the hold outlives
 * inbox-timeout or ends first.
 */
START_TEST(test_hold_of_a_gone_client_keeps_no_inbox)
{
	uint64_t it = timeout(2 * SEC, REDIS_MS), start, start_end;
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	struct store_stats st;

	lim.inbox_timeout_ms = it;
	make_store();
	w.owner = &f;
	start = backend_now();
	create("alice", start);
	ck_assert_int_eq(store_receive(s, "alice", &w, 5 * it, start),
	    STORE_HELD);
	f.alive = false; /* hung up at once */
	UNTIL(atomic_load(&f.releases) == 1, backend_by(start + it));
	ck_assert_int_eq(w.state, WAITER_GONE);
	UNTIL(stats().inboxes == 0, backend_by(start + it));
	st = counts();
	ck_assert_uint_eq(st.waiters, 0);
	ck_assert_int_eq(f.releases, 1);

	/* A shorter hold that ends with its client gone: no refresh. */
	f.alive = true;
	start = backend_now();
	create("bob", start);
	ck_assert_int_eq(store_receive(s, "bob", &w, it * 3 / 4, start),
	    STORE_HELD);
	start_end = backend_now();
	f.alive = false;
	UNTIL(atomic_load(&f.releases) == 2,
	    backend_by(start_end + it * 3 / 4));
	ck_assert_int_eq(w.state, WAITER_TIMEOUT);
	/* Gone a timeout after the GET began (on Redis, by its keys' TTL,
	 * which the next walk sees), not after it ended. */
	UNTIL(stats().inboxes == 0, start_end + it +
	    (on_redis() ? it / 2 : TICK));
}
END_TEST

/*
 * A client found gone only after inbox-timeout has passed: the inbox
 * was kept past its deadline for the hold, but is due at its last
 * request plus inbox-timeout, so it goes as soon as the hold ends.
 */
START_TEST(test_client_gone_at_a_send_expires_within_a_tick)
{
	uint64_t it = timeout(2 * SEC, REDIS_MS), t0, t_end;
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	struct store_stats st;

	lim.inbox_timeout_ms = it;
	make_store();
	w.owner = &f;
	t0 = backend_now();
	create("alice", t0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 5 * it, t0),
	    STORE_HELD);
	/* Held: kept, and its client looked at once (on Redis, at
	 * inbox-timeout, and then a timeout later). */
	backend_pass_to(s, t0 + it + it / 2);
	BACKEND_STILL(stats().inboxes == 1, t0 + 5 * it);
	f.alive = false;
	create("bob", backend_now());
	send_ok("alice", "bob", "late", backend_now());
	backend_released(&f, 1);
	ck_assert_int_eq(w.state, WAITER_GONE);
	t_end = backend_now();
	UNTIL(stats().inboxes == 1, t_end + (on_redis() ? it / 2 : TICK));
	st = stats();
	ck_assert_uint_eq(st.inboxes_expired, 1);
	ck_assert_uint_eq(st.messages, 0);
	/* Its message went with it: counted expired by the in-memory store
	 * (the Redis store deletes a plain inbox's queue uncounted). */
	if (!on_redis())
		ck_assert_uint_eq(st.expired, 1);
}
END_TEST

/* The same when the hold times out with its client gone. */
START_TEST(test_client_gone_at_timeout_expires_within_a_tick)
{
	uint64_t it = timeout(2 * SEC, REDIS_MS), wait = it * 5 / 2, t0;
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };

	lim.inbox_timeout_ms = it;
	make_store();
	w.owner = &f;
	t0 = backend_now();
	create("alice", t0);
	ck_assert_int_eq(store_receive(s, "alice", &w, wait, t0),
	    STORE_HELD);
	/* Held, and its client looked at late, once: the next look is due
	 * a timeout later, after the hold's end. */
	backend_jump_to(s, t0 + 2 * it);
	BACKEND_STILL(stats().inboxes == 1, t0 + wait);
	f.alive = false;
	UNTIL(atomic_load(&f.releases) == 1, backend_by(t0 + wait));
	ck_assert_int_eq(w.state, WAITER_TIMEOUT);
	UNTIL(stats().inboxes == 0, backend_now() + (on_redis() ? it / 2 :
	    0));
	ck_assert_uint_eq(counts().waiters, 0);
}
END_TEST

START_TEST(test_in_flight_message_keeps_its_inbox)
{
	uint64_t it = timeout(2 * SEC, REDIS_MS), t0;
	struct store_waiter w = { 0 };

	lim.inbox_timeout_ms = it;
	make_store();
	t0 = backend_now();
	create("alice", t0);
	send_ok("alice", "alice", "slow", t0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, t0), STORE_OK);
	backend_pass_to(s, t0 + it * 5 / 2);
	ck_assert_uint_eq(stats().inboxes, 1);
	store_done(s, &w, false, backend_now());
	ck_assert_str_eq(pop("alice", backend_now(), NULL), "slow");
}
END_TEST

/* ---------------------------------------------------------------- PINs */

#define PIN_TTL (60 * SEC)

/* A fresh PIN for inbox name at now, of digits digits. */
static uint32_t
pin(const char *name, unsigned digits, uint64_t now)
{
	uint32_t code = UINT32_MAX;

	ck_assert_int_eq(store_pin_create(s, name, digits, PIN_TTL, now,
	    &code), STORE_OK);
	return code;
}

/* Send body from `from' by PIN code: the result; `to' gets the owner. */
static enum store_result
pin_send(uint32_t code, const char *from, const char *body, uint64_t now,
    char to[STORE_NAME_MAX + 1])
{
	struct message *m = msg(from, NULL, body);
	enum store_result r = store_pin_send(s, code, m, now, to);

	if (r != STORE_OK)
		message_free(m); /* still the caller's */
	return r;
}

/* PINs live: the Redis store counts them in Redis, at once. */
static uint64_t
live_pins(void)
{
	struct store_stats st;

	backend_settle(s, backend_now()); /* Redis: a gauge of the walk */
	store_stats(s, &st);
	return st.pins;
}

/* store_check passes. */
static void
consistent(void)
{
	char why[256] = "";

	ck_assert_msg(store_check(s, why, sizeof(why)) == 0, "store_check: %s",
	    why);
}

/* ------------------------------------- max= and ack= (SPEC section 9) */

/* Receive for name into *w (made idle) with w->get as given, wait 0. */
static enum store_result
take(const char *name, struct store_waiter *w, unsigned max, bool ack,
    uint64_t ack_id, uint64_t now)
{
	memset(w, 0, sizeof(*w));
	w->get.max = max;
	w->get.ack = ack;
	w->get.ack_id = ack_id;
	return store_receive(s, name, w, 0, now);
}

/* w->msg is the chain of the n bodies want[], oldest first, from bob,
 * with increasing ids (copied to ids, which may be NULL). */
static void
chain_is(const struct store_waiter *w, const char *const *want, int n,
    uint64_t *ids)
{
	struct message *m = w->msg;
	uint64_t last = 0;
	int i;

	for (i = 0; i < n; i++, m = m->next) {
		ck_assert_msg(m != NULL, "%d messages handed out, expected %d",
		    i, n);
		ck_assert_msg(m->len == strlen(want[i]) &&
		    memcmp(message_body(m), want[i], m->len) == 0,
		    "message %d is \"%.*s\", expected \"%s\"", i, (int)m->len,
		    message_body(m), want[i]);
		ck_assert_str_eq(message_from(m), "bob");
		ck_assert_msg(m->id > last, "message %d: id %llu after %llu",
		    i, (unsigned long long)m->id, (unsigned long long)last);
		last = m->id;
		if (ids != NULL)
			ids[i] = m->id;
	}
	ck_assert_msg(m == NULL, "more than the %d messages expected handed "
	    "out", n);
}

/* take hands out the n messages want[] (ids to ids), which are then
 * delivered; the store is consistent before and after. */
static void
take_ok(const char *name, unsigned max, bool ack, uint64_t ack_id,
    uint64_t now, const char *const *want, int n, uint64_t *ids)
{
	struct store_waiter w;

	ck_assert_int_eq(take(name, &w, max, ack, ack_id, now), STORE_OK);
	consistent();
	chain_is(&w, want, n, ids);
	store_done(s, &w, true, now);
	ck_assert_ptr_null(w.msg);
	consistent();
}

/* take finds nothing: STORE_EMPTY; the store is consistent. */
static void
take_none(const char *name, unsigned max, bool ack, uint64_t ack_id,
    uint64_t now)
{
	struct store_waiter w;

	ck_assert_int_eq(take(name, &w, max, ack, ack_id, now), STORE_EMPTY);
	ck_assert_ptr_null(w.msg);
	consistent();
}

/* A send from bob to alice: the result; the caller's message freed when
 * the store did not take it. */
static enum store_result
send_res(const char *body, uint64_t now)
{
	struct message *m = msg("bob", NULL, body);
	enum store_result r;

	ck_assert_int_eq(store_login(s, "bob", mac_a, now), STORE_OK);
	if ((r = store_send(s, "alice", m, now)) != STORE_OK)
		message_free(m);
	return r;
}

static const char *const M[] = { "m1", "m2", "m3", "m4", "m5", "m6" };

/* alice and bob, and bob's messages m1 to mN to alice at now. */
static void
queue_n(int n, uint64_t now)
{
	int i;

	create("alice", now);
	create("bob", now);
	for (i = 0; i < n; i++)
		send_ok("alice", "bob", M[i], now);
}

START_TEST(test_batch_takes_up_to_max_oldest_first)
{
	uint64_t a[3], b[2];

	queue_n(5, 0);
	take_ok("alice", 3, false, 0, 10, M, 3, a);
	ck_assert_uint_eq(stats().messages, 2);
	take_ok("alice", 3, false, 0, 20, M + 3, 2, b);
	ck_assert_uint_gt(b[0], a[2]);
	take_none("alice", 3, false, 0, 30);
	ck_assert_uint_eq(counts().delivered, 5);
	ck_assert_uint_eq(stats().messages, 0);
	/* max 0 and 1 are both one message. */
	send_ok("alice", "bob", "m1", 40);
	send_ok("alice", "bob", "m2", 40);
	take_ok("alice", 0, false, 0, 50, M, 1, NULL);
	take_ok("alice", 1, false, 0, 50, M + 1, 1, NULL);
	take_none("alice", 0, false, 0, 60);
}
END_TEST

START_TEST(test_failed_batch_goes_back_whole_before_later_messages)
{
	struct store_waiter w;
	uint64_t ids[2], back[4];

	queue_n(3, 0);
	ck_assert_int_eq(take("alice", &w, 2, false, 0, 10), STORE_OK);
	chain_is(&w, M, 2, ids);
	send_ok("alice", "bob", "m4", 15);
	store_done(s, &w, false, 20);
	consistent();
	ck_assert_uint_eq(counts().requeued, 2);
	take_ok("alice", 10, false, 0, 30, M, 4, back);
	ck_assert_uint_eq(back[0], ids[0]);
	ck_assert_uint_eq(back[1], ids[1]);
}
END_TEST

START_TEST(test_ack_0_acknowledges_nothing)
{
	uint64_t id, again;

	create("alice", 0);
	create("bob", 0);
	take_none("alice", 1, true, 0, 0);
	send_ok("alice", "bob", "m1", 0);
	take_ok("alice", 1, true, 0, 10, M, 1, &id);
	take_ok("alice", 1, true, 0, 20, M, 1, &again);
	ck_assert_uint_eq(again, id);
	ck_assert_uint_eq(counts().acked, 0);
	take_none("alice", 1, true, id, 30);
	ck_assert_uint_eq(counts().acked, 1);
	take_none("alice", 1, true, 0, 40);
}
END_TEST

START_TEST(test_ack_deletes_up_to_its_id_and_puts_later_ones_back_in_order)
{
	uint64_t ids[4], back[3];

	queue_n(4, 0);
	take_ok("alice", 4, true, 0, 10, M, 4, ids);
	send_ok("alice", "bob", "m5", 15);
	/* m1 and m2 go; m3 and m4 come back first, with their ids. */
	take_ok("alice", 10, true, ids[1], 20, M + 2, 3, back);
	ck_assert_uint_eq(back[0], ids[2]);
	ck_assert_uint_eq(back[1], ids[3]);
	ck_assert_uint_gt(back[2], ids[3]);
	ck_assert_uint_eq(counts().acked, 2);
	/* The last acknowledges all. */
	take_none("alice", 10, true, back[2], 30);
	ck_assert_uint_eq(counts().acked, 5);
	take_none("alice", 10, true, 0, 40);
	take_none("alice", 10, false, 0, 40);
	ck_assert_uint_eq(stats().messages, 0);
}
END_TEST

START_TEST(test_ack_of_an_unknown_id_puts_all_back)
{
	uint64_t ids[3], back[3];
	int i;

	queue_n(3, 0);
	take_ok("alice", 3, true, 0, 10, M, 3, ids);
	take_ok("alice", 3, true, ids[2] + 1000, 20, M, 3, back);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(back[i], ids[i]);
	ck_assert_uint_eq(counts().acked, 0);
	/* All back, one taken, two queued. */
	take_ok("alice", 1, true, 0, 30, M, 1, NULL);
	ck_assert_uint_eq(stats().messages, 2);
	/* m1 acknowledged; then m1 again is not in flight: m2 and m3 back. */
	take_ok("alice", 5, true, ids[0], 40, M + 1, 2, NULL);
	ck_assert_uint_eq(counts().acked, 1);
	take_ok("alice", 5, true, ids[0], 50, M + 1, 2, NULL);
	ck_assert_uint_eq(counts().acked, 1);
	take_none("alice", 5, true, ids[2], 60);
	ck_assert_uint_eq(counts().acked, 3);
}
END_TEST

START_TEST(test_receive_without_ack_leaves_the_unacknowledged_alone)
{
	uint64_t ids[2], back[2];

	queue_n(3, 0);
	take_ok("alice", 2, true, 0, 10, M, 2, ids);
	take_ok("alice", 5, false, 0, 20, M + 2, 1, NULL);
	take_none("alice", 5, false, 0, 30);
	take_ok("alice", 5, true, 0, 40, M, 2, back);
	ck_assert_uint_eq(back[0], ids[0]);
	ck_assert_uint_eq(back[1], ids[1]);
	take_none("alice", 5, true, ids[1], 50);
	ck_assert_uint_eq(counts().acked, 2);
}
END_TEST

START_TEST(test_failed_delivery_of_an_ack_receive_goes_back)
{
	struct store_waiter w;
	uint64_t ids[2], back[2];

	queue_n(2, 0);
	ck_assert_int_eq(take("alice", &w, 2, true, 0, 10), STORE_OK);
	chain_is(&w, M, 2, ids);
	store_done(s, &w, false, 20);
	consistent();
	ck_assert_uint_eq(stats().messages, 2);
	take_ok("alice", 2, true, 0, 30, M, 2, back);
	ck_assert_uint_eq(back[0], ids[0]);
	ck_assert_uint_eq(back[1], ids[1]);
	take_none("alice", 2, true, ids[1], 40);
	ck_assert_uint_eq(counts().acked, 2);
}
END_TEST

START_TEST(test_held_ack_receiver_keeps_its_message_in_flight)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	uint64_t id, again;

	create("alice", 0);
	create("bob", 0);
	w.owner = &f;
	w.get.max = 5;
	w.get.ack = true;
	ck_assert_int_eq(store_receive(s, "alice", &w, 25 * SEC, 0),
	    STORE_HELD);
	send_ok("alice", "bob", "m1", 10);
	backend_released(&f, 1);
	ck_assert_int_eq(w.state, WAITER_MESSAGE);
	/* A hold ends with the one message that came. */
	chain_is(&w, M, 1, &id);
	store_done(s, &w, true, 20);
	consistent();
	take_ok("alice", 5, true, 0, 30, M, 1, &again);
	ck_assert_uint_eq(again, id);
	take_none("alice", 5, true, id, 40);
	ck_assert_uint_eq(counts().acked, 1);
}
END_TEST

START_TEST(test_unacknowledged_messages_count_against_max_messages)
{
	uint64_t ids[2], id;

	lim.max_messages = 2;
	make_store();
	queue_n(2, 0);
	ck_assert_int_eq(send_res("m3", 0), STORE_INBOX_FULL);
	take_ok("alice", 2, true, 0, 10, M, 2, ids);
	ck_assert_uint_eq(stats().messages, 0);
	ck_assert_int_eq(send_res("m3", 20), STORE_INBOX_FULL);
	/* m1 acknowledged, m2 back and taken again: one place. */
	take_ok("alice", 1, true, ids[0], 30, M + 1, 1, &id);
	ck_assert_uint_eq(id, ids[1]);
	ck_assert_int_eq(send_res("m3", 40), STORE_OK);
	ck_assert_int_eq(send_res("m4", 40), STORE_INBOX_FULL);
	/* Without ack=, the one in flight stays and counts. */
	take_ok("alice", 5, false, 0, 50, M + 2, 1, NULL);
	ck_assert_int_eq(send_res("m4", 60), STORE_OK);
	ck_assert_int_eq(send_res("m5", 60), STORE_INBOX_FULL);
	take_ok("alice", 5, true, ids[1], 70, M + 3, 1, NULL);
	ck_assert_int_eq(send_res("m5", 80), STORE_OK);
	consistent();
}
END_TEST

START_TEST(test_unacknowledged_messages_count_against_max_inbox_bytes)
{
	static const char *const abcd[] = { "abcd" };
	uint64_t id;

	lim.max_inbox_bytes = 4;
	make_store();
	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(send_res("abcd", 0), STORE_OK);
	ck_assert_int_eq(send_res("e", 0), STORE_INBOX_FULL);
	take_ok("alice", 1, true, 0, 10, abcd, 1, &id);
	ck_assert_int_eq(send_res("e", 20), STORE_INBOX_FULL);
	take_none("alice", 1, true, id, 30);
	ck_assert_int_eq(send_res("e", 40), STORE_OK);
}
END_TEST

/*
 * On Redis, in-flight and queued messages time out on Redis' clock
 * (backend.h), with the short REDIS_MS.
 */
START_TEST(test_unacknowledged_message_expires_at_message_timeout)
{
	uint64_t mt = timeout(10 * SEC, REDIS_MS), t0, t_end, id, again;

	lim.message_timeout_ms = mt;
	lim.max_messages = 1;
	make_store();
	create("alice", 0);
	create("bob", 0);
	t0 = backend_now();
	send_ok("alice", "bob", "m1", t0);
	t_end = backend_now();
	take_ok("alice", 1, true, 0, backend_now(), M, 1, &id);
	/* Before its deadline it is in flight: it counts, and comes back. */
	backend_wait_to(backend_before(t_end, t0 + mt));
	ck_assert_int_eq(send_res("m2", backend_now()), STORE_INBOX_FULL);
	take_ok("alice", 1, true, 0, backend_now(), M, 1, &again);
	backend_in_time(t0 + mt);
	ck_assert_uint_eq(again, id);
	/* Past it, it is gone: not handed out, not counted. */
	backend_wait_to(t_end + mt + backend_eps());
	take_none("alice", 1, true, 0, backend_now());
	ck_assert_uint_eq(counts().expired, 1);
	ck_assert_uint_eq(counts().acked, 0);
	ck_assert_int_eq(send_res("m2", backend_now()), STORE_OK);
	take_ok("alice", 1, true, id, backend_now(), M + 1, 1, NULL);
	ck_assert_uint_eq(counts().acked, 0);
}
END_TEST

/*
 * SPEC section 3: an object expires no later than one tick after its
 * deadline, on the timer wheel, as queued messages do
 * (test_stale_messages_are_freed_by_the_wheel); messages in flight for an
 * acknowledgement too, with nobody asking for the inbox meanwhile.
 */
START_TEST(test_unacknowledged_messages_are_freed_by_the_wheel)
{
	uint64_t mt = timeout(10 * SEC, REDIS_MS), t_a, t_a_end, t_b, t_b_end;
	uint64_t memory0;

	lim.message_timeout_ms = mt;
	make_store();
	create("alice", 0);
	create("bob", 0);
	memory0 = stats().memory;
	t_a = backend_now();
	send_ok("alice", "bob", "m1", t_a);
	t_a_end = backend_now();
	backend_pass_to(s, t_a + mt * 2 / 5);
	t_b = backend_now();
	send_ok("alice", "bob", "m2", t_b);
	t_b_end = backend_now();
	take_ok("alice", 2, true, 0, backend_now(), M, 2, NULL);
	/* Nobody asks for alice's inbox again: the timers drop them. */
	backend_pass_to(s, backend_before(t_a_end, t_a + mt));
	BACKEND_STILL(counts().expired == 0, t_a + mt);
	UNTIL(counts().expired == 1, backend_by(t_a_end + mt));
	backend_in_time(t_b + mt);
	UNTIL(counts().expired == 2, backend_by(t_b_end + mt));
	if (!on_redis())
		ck_assert_uint_eq(stats().memory, memory0);
	consistent();
}
END_TEST

/*
 * A receive without ack= leaves the messages in flight alone, so it may
 * be held beside them; an ack= receive then puts them back.  The held
 * one must not be left waiting beside queued messages (store_check: "a
 * held GET only beside an empty queue"): it is released, with a message
 * or displaced.
 */
START_TEST(test_ack_that_puts_messages_back_releases_a_held_receiver)
{
	struct store_waiter held = { 0 };
	struct fake f = { true, 0, 0 };

	queue_n(3, 0);
	take_ok("alice", 3, true, 0, 10, M, 3, NULL);
	held.owner = &f;
	ck_assert_int_eq(store_receive(s, "alice", &held, 25 * SEC, 20),
	    STORE_HELD);
	/* All three back, one taken: two queued. */
	take_ok("alice", 1, true, 0, 30, M, 1, NULL);
	consistent();
	backend_released(&f, 1);
	ck_assert(held.state == WAITER_MESSAGE ||
	    held.state == WAITER_DISPLACED);
	if (held.state == WAITER_MESSAGE)
		store_done(s, &held, true, 40);
	consistent();
}
END_TEST

/*
 * A batch as large as max-batch allows (1024), and any in between, is
 * finished whole by store_done: delivered, acknowledged, or put back.
 */
#define BIG_BATCH 100

START_TEST(test_large_batches_are_finished_whole)
{
	static const unsigned sizes[] = { 22, 23, 32, 64, 65, BIG_BATCH };
	struct store_waiter w;
	struct message *m;
	uint64_t delivered = 0, acked = 0, last = 0;
	unsigned i, n, k;
	char body[32];

	lim.max_messages = 2 * BIG_BATCH;
	make_store();
	create("alice", 0);
	create("bob", 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		for (k = 0; k < n; k++) {
			snprintf(body, sizeof(body), "%u.%u", n, k);
			send_ok("alice", "bob", body, 10);
		}
		/* Without ack=: delivered and gone. */
		ck_assert_int_eq(take("alice", &w, n, false, 0, 20), STORE_OK);
		for (k = 0, m = w.msg; m != NULL; m = m->next)
			k++;
		ck_assert_uint_eq(k, n);
		store_done(s, &w, true, 20);
		delivered += n;
		ck_assert_msg(counts().delivered == delivered, "a batch of %u: "
		    "%llu delivered, expected %llu", n,
		    (unsigned long long)counts().delivered,
		    (unsigned long long)delivered);
		take_none("alice", n, true, 0, 20);
		ck_assert_uint_eq(stats().messages, 0);
		/* With ack=: in flight as one, then acknowledged whole. */
		for (k = 0; k < n; k++) {
			snprintf(body, sizeof(body), "%u.%u", n, k);
			send_ok("alice", "bob", body, 30);
		}
		ck_assert_int_eq(take("alice", &w, n, true, 0, 40), STORE_OK);
		for (k = 0, m = w.msg; m != NULL; m = m->next, k++)
			last = m->id;
		ck_assert_uint_eq(k, n);
		store_done(s, &w, true, 40);
		delivered += n;
		ck_assert_uint_eq(counts().delivered, delivered);
		/* Not delivered: all back, in order. */
		ck_assert_int_eq(take("alice", &w, n, true, 0, 50), STORE_OK);
		store_done(s, &w, false, 50);
		ck_assert_int_eq(take("alice", &w, n, true, 0, 60), STORE_OK);
		for (k = 0, m = w.msg; m != NULL; m = m->next, k++) {
			snprintf(body, sizeof(body), "%u.%u", n, k);
			ck_assert_msg(m->len == strlen(body) &&
			    memcmp(message_body(m), body, m->len) == 0,
			    "a batch of %u put back: message %u is %.*s", n, k,
			    (int)m->len, message_body(m));
		}
		ck_assert_uint_eq(k, n);
		store_done(s, &w, true, 60);
		delivered += n;
		take_none("alice", n, true, last, 70);
		acked += n;
		ck_assert_msg(counts().acked == acked, "a batch of %u: %llu "
		    "acknowledged, expected %llu", n,
		    (unsigned long long)counts().acked,
		    (unsigned long long)acked);
		take_none("alice", n, true, 0, 70);
		consistent();
	}
}
END_TEST

START_TEST(test_pin_send_reaches_its_inbox_and_names_it)
{
	char to[STORE_NAME_MAX + 1] = "", from[64];
	uint32_t code;

	create("zo\xc3\xab/phone@example.org", 0);
	create("bob", 0);
	code = pin("zo\xc3\xab/phone@example.org", 6, 10);
	ck_assert_uint_lt(code, 1000000);
	ck_assert_uint_eq(live_pins(), 1);
	consistent();
	ck_assert_int_eq(pin_send(code, "bob", "hello", 20, to), STORE_OK);
	ck_assert_str_eq(to, "zo\xc3\xab/phone@example.org");
	ck_assert_str_eq(pop("zo\xc3\xab/phone@example.org", 30, from),
	    "hello");
	ck_assert_str_eq(from, "bob");
	ck_assert_ptr_null(pop("bob", 30, NULL));
	consistent();
}
END_TEST

START_TEST(test_pin_is_consumed_by_one_send)
{
	char to[STORE_NAME_MAX + 1];
	struct store_stats st;
	uint32_t code;

	create("alice", 0);
	create("bob", 0);
	code = pin("alice", 6, 0);
	ck_assert_int_eq(pin_send(code, "bob", "once", 10, to), STORE_OK);
	ck_assert_uint_eq(live_pins(), 0);
	strcpy(to, "untouched");
	ck_assert_int_eq(pin_send(code, "bob", "twice", 20, to),
	    STORE_NOT_FOUND);
	ck_assert_str_eq(to, "untouched");
	st = stats();
	ck_assert_uint_eq(st.sent, 1);
	ck_assert_uint_eq(st.messages, 1);
	ck_assert_str_eq(pop("alice", 30, NULL), "once");
	ck_assert_ptr_null(pop("alice", 30, NULL));
	consistent();
}
END_TEST

START_TEST(test_pin_for_a_missing_inbox_is_not_found)
{
	char to[STORE_NAME_MAX + 1];
	uint32_t code = 7;

	/* On Redis: an inbox verified, then lost (backend.h). */
	if (on_redis()) {
		create("nobody", 0);
		backend_lose_data();
	}
	create("bob", 0);
	ck_assert_int_eq(store_pin_create(s, "nobody", 6, PIN_TTL, 0, &code),
	    STORE_NOT_FOUND);
	ck_assert_uint_eq(live_pins(), 0);
	/* No PIN at all: every code is unknown. */
	ck_assert_int_eq(pin_send(0, "bob", "x", 0, to), STORE_NOT_FOUND);
	ck_assert_int_eq(pin_send(123456, "bob", "x", 0, to),
	    STORE_NOT_FOUND);
	consistent();
}
END_TEST

START_TEST(test_new_pin_replaces_the_inbox_earlier_one)
{
	char to[STORE_NAME_MAX + 1];
	uint32_t first, second;

	create("alice", 0);
	create("bob", 0);
	first = pin("alice", 6, 0);
	second = pin("alice", 6, 10);
	/* The earlier one was live when the new one was drawn. */
	ck_assert_uint_ne(first, second);
	ck_assert_uint_eq(live_pins(), 1);
	consistent();
	ck_assert_int_eq(pin_send(first, "bob", "old", 20, to),
	    STORE_NOT_FOUND);
	ck_assert_int_eq(pin_send(second, "bob", "new", 30, to), STORE_OK);
	ck_assert_str_eq(to, "alice");
	ck_assert_str_eq(pop("alice", 40, NULL), "new");
	ck_assert_ptr_null(pop("alice", 40, NULL));
	consistent();
}
END_TEST

START_TEST(test_pins_of_two_inboxes_are_independent)
{
	char to[STORE_NAME_MAX + 1];
	uint32_t a, b;

	create("alice", 0);
	create("carol", 0);
	create("bob", 0);
	a = pin("alice", 6, 0);
	b = pin("carol", 6, 0);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(live_pins(), 2);
	ck_assert_int_eq(pin_send(b, "bob", "to carol", 10, to), STORE_OK);
	ck_assert_str_eq(to, "carol");
	ck_assert_int_eq(pin_send(a, "bob", "to alice", 10, to), STORE_OK);
	ck_assert_str_eq(to, "alice");
	ck_assert_str_eq(pop("alice", 20, NULL), "to alice");
	ck_assert_str_eq(pop("carol", 20, NULL), "to carol");
	consistent();
}
END_TEST

START_TEST(test_pin_lives_until_its_timeout_and_no_tick_longer)
{
	uint64_t pt = timeout(5 * SEC, REDIS_MS), t0, t0_end;
	char to[STORE_NAME_MAX + 1];
	uint32_t a, c;

	create("alice", 0);
	create("carol", 0);
	create("bob", 0);
	/* Off the tick, so that the deadline is too. */
	backend_pass_to(s, TICK / 2);
	t0 = backend_now();
	ck_assert_int_eq(store_pin_create(s, "alice", 6, pt, t0, &a),
	    STORE_OK);
	ck_assert_int_eq(store_pin_create(s, "carol", 6, pt, t0, &c),
	    STORE_OK);
	t0_end = backend_now();
	/* Every tick up to the deadline: both still live. */
	backend_pass_to(s, backend_before(t0_end, t0 + pt));
	BACKEND_STILL(live_pins() == 2 && pin_send(a, "bob", "just in time",
	    backend_now(), to) == STORE_OK, t0 + pt);
	/* At most one tick late (on Redis, its key's own TTL). */
	UNTIL(live_pins() == 0, backend_by(t0_end + pt));
	ck_assert_int_eq(pin_send(c, "bob", "too late", backend_now(), to),
	    STORE_NOT_FOUND);
	/* The inboxes themselves live on. */
	ck_assert_int_eq(store_login(s, "carol", mac_a, backend_now()),
	    STORE_OK);
	ck_assert_str_eq(pop("alice", backend_now(), NULL), "just in time");
	consistent();
}
END_TEST

START_TEST(test_replaced_pin_times_out_from_its_own_creation)
{
	uint64_t pt = timeout(5 * SEC, REDIS_MS), t0_end, t1;
	char to[STORE_NAME_MAX + 1];
	uint32_t first, second;

	create("alice", 0);
	create("bob", 0);
	ck_assert_int_eq(store_pin_create(s, "alice", 6, pt, backend_now(),
	    &first), STORE_OK);
	t0_end = backend_now();
	backend_pass_to(s, pt * 3 / 5);
	t1 = backend_now();
	ck_assert_int_eq(store_pin_create(s, "alice", 6, pt, t1, &second),
	    STORE_OK);
	/* Past the first one's deadline: its timer must be gone with it. */
	backend_pass_to(s, t0_end + pt + (on_redis() ? backend_eps() :
	    2 * TICK));
	BACKEND_STILL(live_pins() == 1, t1 + pt);
	consistent();
	ck_assert_int_eq(pin_send(first, "bob", "old", backend_now(), to),
	    STORE_NOT_FOUND);
	ck_assert_int_eq(pin_send(second, "bob", "new", backend_now(), to),
	    STORE_OK);
	ck_assert_str_eq(to, "alice");
	/* And nothing fires at the second one's old deadline. */
	backend_pass_to(s, t1 + pt + 2 * TICK);
	ck_assert_uint_eq(live_pins(), 0);
	ck_assert_str_eq(pop("alice", backend_now(), NULL), "new");
	consistent();
}
END_TEST

START_TEST(test_pin_goes_with_its_expired_inbox)
{
	uint64_t it = timeout(2 * SEC, REDIS_MS), pt = timeout(PIN_TTL, 3 * it);
	char to[STORE_NAME_MAX + 1];
	struct cred_hash h = backend_hash();
	struct store_stats st;
	uint32_t code;
	uint64_t t0, t0_end;

	lim.inbox_timeout_ms = it;
	make_store();
	t0 = backend_now();
	create("alice", t0);
	ck_assert_int_eq(store_pin_create(s, "alice", 6, pt, t0, &code),
	    STORE_OK);
	t0_end = backend_now();
	UNTIL(stats().inboxes == 0, backend_by(t0_end + it));
	st = counts();
	ck_assert_uint_eq(st.pins, 0);
	consistent();
	/* A new inbox of the same name does not inherit the PIN. */
	ck_assert_int_eq(store_create(s, "alice", &h, mac_b, backend_now()),
	    STORE_OK);
	create("mallory", backend_now());
	ck_assert_int_eq(pin_send(code, "mallory", "hijack", backend_now(),
	    to), STORE_NOT_FOUND);
	ck_assert_ptr_null(pop("alice", backend_now(), NULL));
	/* Nothing fires later at the PIN's own deadline either: alice,
	 * polling, stays. */
	while (backend_now() <= t0 + pt + 2 * TICK) {
		struct store_waiter w = { 0 };

		ck_assert_int_eq(store_login(s, "alice", mac_b, backend_now()),
		    STORE_OK);
		ck_assert_int_eq(store_receive(s, "alice", &w, 0,
		    backend_now()), STORE_EMPTY);
		backend_pass_to(s, backend_now() + it / 4);
	}
	consistent();
}
END_TEST

START_TEST(test_pin_create_refreshes_the_inbox)
{
	uint64_t it = timeout(2 * SEC, REDIS_MS), t0_end, t1, t1_end;

	lim.inbox_timeout_ms = it;
	make_store();
	create("alice", backend_now());
	t0_end = backend_now();
	backend_pass_to(s, it * 3 / 4);
	t1 = backend_now();
	pin("alice", 6, t1);
	t1_end = backend_now();
	/* Past its first deadline, alive until a timeout after the PIN. */
	backend_pass_to(s, backend_before(t1_end, t1 + it));
	ck_assert_uint_gt(backend_now(), t0_end + it + backend_eps());
	BACKEND_STILL(stats().inboxes == 1, t1 + it);
	UNTIL(stats().inboxes == 0, backend_by(t1_end + it));
}
END_TEST

START_TEST(test_pin_send_to_a_full_inbox_keeps_the_pin)
{
	char to[STORE_NAME_MAX + 1];
	uint32_t code;

	lim.max_messages = 1;
	make_store();
	create("alice", 0);
	create("bob", 0);
	create("carol", 0);
	code = pin("alice", 6, 0);
	send_ok("alice", "carol", "first", 0);
	strcpy(to, "untouched");
	ck_assert_int_eq(pin_send(code, "bob", "second", 10, to),
	    STORE_INBOX_FULL);
	ck_assert_str_eq(to, "untouched");
	ck_assert_uint_eq(live_pins(), 1);
	consistent();
	ck_assert_str_eq(pop("alice", 20, NULL), "first");
	ck_assert_int_eq(pin_send(code, "bob", "second", 30, to), STORE_OK);
	ck_assert_str_eq(to, "alice");
	ck_assert_uint_eq(live_pins(), 0);
	ck_assert_str_eq(pop("alice", 40, NULL), "second");
}
END_TEST

START_TEST(test_pin_send_past_max_memory_keeps_the_pin)
{
	char to[STORE_NAME_MAX + 1], body[200];
	struct message *m;
	uint32_t code;
	int sent = 0;

	lim.max_memory = 2000;
	make_store();
	create("alice", 0);
	create("bob", 0);
	code = pin("alice", 6, 0);
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (;;) {
		/* On Redis, judged by the gauges of the last walk. */
		backend_settle(s, 0);
		m = msg("bob", NULL, body);
		if (store_send(s, "alice", m, 0) != STORE_OK) {
			message_free(m);
			break;
		}
		ck_assert_int_lt(++sent, 20);
	}
	ck_assert_int_eq(pin_send(code, "bob", body, 10, to),
	    STORE_SERVER_FULL);
	ck_assert_uint_eq(live_pins(), 1);
	consistent();
	ck_assert_str_eq(pop("alice", 20, NULL), body);
	backend_settle(s, 0);
	ck_assert_int_eq(pin_send(code, "bob", "small", 30, to), STORE_OK);
	ck_assert_str_eq(to, "alice");
	ck_assert_uint_eq(live_pins(), 0);
	consistent();
}
END_TEST

START_TEST(test_pin_send_wakes_the_held_receiver)
{
	char to[STORE_NAME_MAX + 1];
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	uint32_t code;

	w.owner = &f;
	create("alice", 0);
	create("bob", 0);
	code = pin("alice", 6, 0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 25 * SEC, 0),
	    STORE_HELD);
	ck_assert_int_eq(pin_send(code, "bob", "wake", 100, to), STORE_OK);
	ck_assert_str_eq(to, "alice");
	backend_released(&f, 1);
	ck_assert_int_eq(w.state, WAITER_MESSAGE);
	ck_assert_str_eq(message_from(w.msg), "bob");
	store_done(s, &w, true, 200);
	ck_assert_ptr_null(pop("alice", 300, NULL));
	consistent();
}
END_TEST

START_TEST(test_pins_are_unique_and_in_range_with_four_digits)
{
	static uint8_t seen[10000];
	char name[32], to[STORE_NAME_MAX + 1];
	uint32_t code[200];
	int i;

	memset(seen, 0, sizeof(seen));
	create("bob", 0);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		create(name, 0);
		code[i] = pin(name, 4, 0);
		ck_assert_uint_lt(code[i], 10000);
		ck_assert_msg(!seen[code[i]], "PIN %04u given twice", code[i]);
		seen[code[i]] = 1;
	}
	ck_assert_uint_eq(live_pins(), 200);
	consistent();
	for (i = 0; i < 200; i += 13) {
		snprintf(name, sizeof(name), "u%d", i);
		ck_assert_int_eq(pin_send(code[i], "bob", "x", 10, to),
		    STORE_OK);
		ck_assert_str_eq(to, name);
	}
	consistent();
}
END_TEST

START_TEST(test_every_one_digit_code_is_handed_out_once_then_none)
{
	char name[32], to[STORE_NAME_MAX + 1];
	int owner[10], i, live = 0;
	uint32_t code, kept;

	lim.max_inboxes = 100;
	make_store();
	create("bob", 0);
	for (i = 0; i < 10; i++)
		owner[i] = -1;
	/*
	 * Draws are random: a create may miss the last free codes in its
	 * 32 draws (server_full), but the ten codes fill up long before
	 * sixty inboxes have asked.
	 */
	for (i = 0; i < 60; i++) {
		enum store_result r;

		snprintf(name, sizeof(name), "u%d", i);
		create(name, 0);
		r = store_pin_create(s, name, 1, PIN_TTL, 0, &code);
		if (live == 10) {
			ck_assert_int_eq(r, STORE_SERVER_FULL);
			continue;
		}
		ck_assert_msg(r == STORE_OK || r == STORE_SERVER_FULL,
		    "result %d", r);
		if (r != STORE_OK)
			continue;
		ck_assert_uint_lt(code, 10);
		ck_assert_msg(owner[code] == -1, "code %u given twice", code);
		owner[code] = i;
		live++;
	}
	ck_assert_int_eq(live, 10);
	ck_assert_uint_eq(live_pins(), 10);
	consistent();
	/* A replacement that finds no free code keeps the earlier PIN. */
	kept = 3;
	snprintf(name, sizeof(name), "u%d", owner[kept]);
	ck_assert_int_eq(store_pin_create(s, name, 1, PIN_TTL, 0, &code),
	    STORE_SERVER_FULL);
	ck_assert_int_eq(pin_send(kept, "bob", "x", 10, to), STORE_OK);
	ck_assert_str_eq(to, name);
	/* One code free again: the next create gets exactly it. */
	snprintf(name, sizeof(name), "u%d", owner[0]);
	for (i = 0; i < 50; i++) {
		enum store_result r = store_pin_create(s, name, 1, PIN_TTL, 0,
		    &code);

		ck_assert_msg(r == STORE_OK || r == STORE_SERVER_FULL,
		    "result %d", r);
		if (r == STORE_OK)
			break;
	}
	ck_assert_int_lt(i, 50);
	/* The only free code; its own 0 was live while it drew. */
	ck_assert_uint_eq(code, kept);
	ck_assert_uint_eq(live_pins(), 9); /* 3 used, 0 given up for 3 */
	consistent();
}
END_TEST

START_TEST(test_replacing_pins_draws_every_code_and_never_the_live_one)
{
	unsigned count[10] = { 0 };
	uint32_t prev, code;
	int i;

	create("alice", 0);
	prev = pin("alice", 1, 0);
	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(store_pin_create(s, "alice", 1, PIN_TTL, 0,
		    &code), STORE_OK);
		ck_assert_uint_lt(code, 10);
		ck_assert_uint_ne(code, prev);
		count[code]++;
		prev = code;
	}
	for (i = 0; i < 10; i++)
		ck_assert_msg(count[i] > 0, "code %d never drawn in 300", i);
	ck_assert_uint_eq(live_pins(), 1);
	consistent();
}
END_TEST

START_TEST(test_nine_digit_pins_stay_below_a_billion)
{
	char name[32];
	uint32_t code;
	int i, big = 0;

	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		create(name, 0);
		code = pin(name, 9, 0);
		ck_assert_uint_lt(code, 1000000000);
		big += code >= 100000000;
	}
	/* Uniform: about nine in ten have no leading zero. */
	ck_assert_int_gt(big, 60);
}
END_TEST

START_TEST(test_pin_table_grows_and_frees_with_the_store)
{
	char name[32], to[STORE_NAME_MAX + 1];
	static uint32_t code[3000];
	int i;

	lim.max_inboxes = 10000;
	make_store();
	create("bob", 0);
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "user-%d", i);
		create(name, 0);
		code[i] = pin(name, 9, 0);
	}
	ck_assert_uint_eq(live_pins(), 3000);
	consistent();
	for (i = 0; i < 3000; i += 7) {
		snprintf(name, sizeof(name), "user-%d", i);
		ck_assert_int_eq(pin_send(code[i], "bob", "x", 10, to),
		    STORE_OK);
		ck_assert_str_eq(to, name);
	}
	consistent();
	/* The rest stay live for store_free (valgrind: no leak). */
}
END_TEST

/*
 * Redis only: what an ack= GET was delivered awaits its client's
 * acknowledgement whichever node delivered it.  The node leaving (its
 * heartbeat gone, as when it dies) puts none of it back, and another
 * node settles it (src/lua/common.lua: Acknowledgements).
 */
START_TEST(test_awaiting_acknowledgement_outlives_its_node)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	struct cred_hash h;
	struct store *other;
	uint64_t first, second, third;

	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "1", 0);
	send_ok("alice", "bob", "2", 0);
	send_ok("alice", "bob", "3", 0);
	w.owner = &f;
	w.get.max = 2;
	w.get.ack = true;
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	ck_assert_ptr_nonnull(w.msg->next);
	ck_assert_ptr_null(w.msg->next->next);
	first = w.msg->id;
	second = w.msg->next->id;
	ck_assert_uint_lt(first, second);
	store_done(s, &w, true, 0);
	other = backend_store_join(&lim, &backend_fake_ops, TICK);
	store_free(s);
	s = other;
	ck_assert_int_eq(store_credential(s, "alice", &h), STORE_OK);
	ck_assert_int_eq(store_admit(s, "alice", &h, mac_a, 0), STORE_OK);
	w.get.max = 3;
	w.get.ack_id = first;
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	ck_assert_uint_eq(w.msg->id, second);
	ck_assert_mem_eq(message_body(w.msg), "2", 1);
	ck_assert_ptr_nonnull(w.msg->next);
	ck_assert_mem_eq(message_body(w.msg->next), "3", 1);
	ck_assert_ptr_null(w.msg->next->next);
	third = w.msg->next->id;
	store_done(s, &w, true, 0);
	ck_assert_uint_eq(stats().acked, 1);
	w.get.ack_id = third;
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_EMPTY);
	ck_assert_uint_eq(stats().acked, 3);
	ck_assert_uint_eq(stats().requeued, 1);
}
END_TEST

/*
 * Redis only: an inbox made again after its keys were gone (expired, or
 * lost) gives ids past those of the earlier one, below 2^53.
 */
START_TEST(test_ids_of_an_inbox_made_again_pass_the_earlier_ones)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	uint64_t before;

	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "1", 0);
	w.owner = &f;
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	before = w.msg->id;
	store_done(s, &w, true, 0);
	backend_lose_data();
	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "2", 0);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	ck_assert_uint_gt(w.msg->id, before);
	ck_assert_uint_lt(w.msg->id, (uint64_t)1 << 53);
	store_done(s, &w, true, 0);
}
END_TEST

/*
 * Redis only, as the memory store does it: what an ack= GET was still
 * delivering when a newer ack= GET came goes back instead of waiting for
 * an acknowledgement, so that the newer GET's ack cannot delete it
 * unread (src/lua/done.lua).
 */
START_TEST(test_delivery_overtaken_by_a_newer_ack_get_goes_back)
{
	struct store_waiter a = { 0 }, b = { 0 }, c = { 0 };
	struct fake f = { true, 0, 0 };
	uint64_t first, second;

	create("alice", 0);
	create("bob", 0);
	send_ok("alice", "bob", "1", 0);
	send_ok("alice", "bob", "2", 0);
	a.owner = b.owner = c.owner = &f;
	a.get.ack = b.get.ack = c.get.ack = true;
	ck_assert_int_eq(store_receive(s, "alice", &a, 0, 0), STORE_OK);
	first = a.msg->id;
	ck_assert_int_eq(store_receive(s, "alice", &b, 0, 0), STORE_OK);
	second = b.msg->id;
	store_done(s, &a, true, 0);
	store_done(s, &b, true, 0);
	ck_assert_uint_eq(stats().requeued, 1);
	c.get.ack_id = second;
	ck_assert_int_eq(store_receive(s, "alice", &c, 0, 0), STORE_OK);
	ck_assert_uint_eq(c.msg->id, first);
	ck_assert_ptr_null(c.msg->next);
	store_done(s, &c, true, 0);
	ck_assert_uint_eq(stats().acked, 1);
}
END_TEST

/*
 * Redis only: a batch of more messages than one done.lua call takes
 * (DONE_IDS, redis_impl.h) goes back whole, in order, and is then
 * delivered whole.
 */
START_TEST(test_batch_past_one_call_is_finished_whole)
{
	struct store_waiter w = { 0 };
	struct fake f = { true, 0, 0 };
	struct message *m;
	char body[16];
	unsigned k;

	create("alice", 0);
	create("bob", 0);
	for (k = 0; k < 100; k++) {
		snprintf(body, sizeof(body), "%u", k);
		send_ok("alice", "bob", body, 0);
	}
	w.owner = &f;
	w.get.max = 100;
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	store_done(s, &w, false, 0);
	ck_assert_uint_eq(stats().requeued, 100);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_OK);
	for (m = w.msg, k = 0; m != NULL; m = m->next, k++) {
		snprintf(body, sizeof(body), "%u", k);
		ck_assert_uint_eq(m->len, strlen(body));
		ck_assert_mem_eq(message_body(m), body, m->len);
	}
	ck_assert_uint_eq(k, 100);
	store_done(s, &w, true, 0);
	ck_assert_uint_eq(stats().delivered, 100);
	ck_assert_int_eq(store_receive(s, "alice", &w, 0, 0), STORE_EMPTY);
}
END_TEST

/* A case group of backend be, with its fixture; its name says which. */
#define GROUP(su, name, be)                                               \
	group(su, (be) == BACKEND_REDIS ? "redis/" name : "memory/" name, be)

static TCase *
group(Suite *su, const char *name, enum backend be)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, be == BACKEND_REDIS ? setup_redis :
	    setup_memory, teardown);
	if (be == BACKEND_REDIS)
		tcase_set_timeout(tc, REDIS_CASE_TIMEOUT);
	suite_add_tcase(su, tc);
	return tc;
}

/* The cases of max= and ack= (SPEC section 9), in a group of their own. */
static void
add_ack_cases(Suite *su, enum backend be)
{
	TCase *a = GROUP(su, "ack", be);

	tcase_add_test(a, test_batch_takes_up_to_max_oldest_first);
	tcase_add_test(a,
	    test_failed_batch_goes_back_whole_before_later_messages);
	tcase_add_test(a, test_ack_0_acknowledges_nothing);
	tcase_add_test(a,
	    test_ack_deletes_up_to_its_id_and_puts_later_ones_back_in_order);
	tcase_add_test(a, test_ack_of_an_unknown_id_puts_all_back);
	tcase_add_test(a,
	    test_receive_without_ack_leaves_the_unacknowledged_alone);
	tcase_add_test(a, test_failed_delivery_of_an_ack_receive_goes_back);
	tcase_add_test(a, test_held_ack_receiver_keeps_its_message_in_flight);
	tcase_add_test(a,
	    test_unacknowledged_messages_count_against_max_messages);
	tcase_add_test(a,
	    test_unacknowledged_messages_count_against_max_inbox_bytes);
	tcase_add_test(a, test_unacknowledged_message_expires_at_message_timeout);
	tcase_add_test(a, test_unacknowledged_messages_are_freed_by_the_wheel);
	tcase_add_test(a,
	    test_ack_that_puts_messages_back_releases_a_held_receiver);
	tcase_add_test(a, test_large_batches_are_finished_whole);
}

static void
add_cases(Suite *su, enum backend be)
{
	TCase *q = GROUP(su, "queues", be), *h = GROUP(su, "holds", be),
	      *e = GROUP(su, "expiry", be), *p = GROUP(su, "pins", be);

	tcase_add_test(q, test_pop_returns_oldest_with_sender);
	tcase_add_test(q, test_message_keeps_content_type_and_unique_id);
	tcase_add_test(q, test_send_to_unknown_inbox_is_not_found);
	tcase_add_test(q, test_credential_and_admit);
	tcase_add_test(q, test_login_checks_the_mac);
	tcase_add_test(q, test_concurrent_create_becomes_login);
	tcase_add_test(q, test_names_are_exact_bytes);
	tcase_add_test(q, test_inbox_full_by_count);
	tcase_add_test(q, test_inbox_full_by_bytes);
	tcase_add_test(q, test_server_full_by_inbox_count);
	tcase_add_test(q, test_server_full_by_memory);
	tcase_add_test(q, test_stats_count_bytes_and_messages);
	tcase_add_test(q, test_failed_delivery_goes_back_to_the_head);
	tcase_add_test(q, test_two_failed_deliveries_return_in_order);
	tcase_add_test(q, test_table_grows_past_initial_size);
	tcase_add_test(q, test_concurrent_senders_lose_nothing);
	tcase_add_test(h, test_held_receiver_is_handed_the_next_message);
	tcase_add_test(h, test_hung_up_receiver_leaves_message_queued);
	tcase_add_test(h, test_second_receiver_displaces_the_first);
	tcase_add_test(h, test_hold_times_out_at_its_deadline);
	tcase_add_test(h, test_requeue_hands_to_held_receiver);
	tcase_add_test(h, test_shutdown_releases_every_holder);
	tcase_add_test(e, test_stale_message_is_never_delivered);
	tcase_add_test(e, test_stale_messages_are_freed_by_the_wheel);
	tcase_add_test(e, test_requeued_stale_message_is_dropped);
	tcase_add_test(e, test_idle_inbox_expires);
	tcase_add_test(e, test_held_receiver_keeps_its_inbox);
	tcase_add_test(e, test_hold_of_a_gone_client_keeps_no_inbox);
	tcase_add_test(e, test_client_gone_at_a_send_expires_within_a_tick);
	tcase_add_test(e, test_client_gone_at_timeout_expires_within_a_tick);
	add_ack_cases(su, be);
	/*
	 * In-memory store only, for now: the Redis store lets a plain
	 * inbox (common.lua: Expiry) go by its keys' TTL while a message
	 * of it is in flight, in-flight hash included, so a delivery that
	 * outlasts inbox-timeout and then fails loses its message.
	 */
	if (be == BACKEND_MEMORY)
		tcase_add_test(e, test_in_flight_message_keeps_its_inbox);
	tcase_add_test(p, test_pin_send_reaches_its_inbox_and_names_it);
	tcase_add_test(p, test_pin_is_consumed_by_one_send);
	tcase_add_test(p, test_pin_for_a_missing_inbox_is_not_found);
	tcase_add_test(p, test_new_pin_replaces_the_inbox_earlier_one);
	tcase_add_test(p, test_pins_of_two_inboxes_are_independent);
	tcase_add_test(p, test_pin_lives_until_its_timeout_and_no_tick_longer);
	tcase_add_test(p, test_replaced_pin_times_out_from_its_own_creation);
	tcase_add_test(p, test_pin_goes_with_its_expired_inbox);
	tcase_add_test(p, test_pin_create_refreshes_the_inbox);
	tcase_add_test(p, test_pin_send_to_a_full_inbox_keeps_the_pin);
	tcase_add_test(p, test_pin_send_past_max_memory_keeps_the_pin);
	tcase_add_test(p, test_pin_send_wakes_the_held_receiver);
	tcase_add_test(p, test_pins_are_unique_and_in_range_with_four_digits);
	tcase_add_test(p,
	    test_every_one_digit_code_is_handed_out_once_then_none);
	tcase_add_test(p,
	    test_replacing_pins_draws_every_code_and_never_the_live_one);
	tcase_add_test(p, test_nine_digit_pins_stay_below_a_billion);
	tcase_add_test(p, test_pin_table_grows_and_frees_with_the_store);
	if (be == BACKEND_REDIS) {
		TCase *a = GROUP(su, "acks", be);

		tcase_add_test(a, test_awaiting_acknowledgement_outlives_its_node);
		tcase_add_test(a,
		    test_ids_of_an_inbox_made_again_pass_the_earlier_ones);
		tcase_add_test(a, test_batch_past_one_call_is_finished_whole);
		tcase_add_test(a,
		    test_delivery_overtaken_by_a_newer_ack_get_goes_back);
	}
}

int
main(void)
{
	return backend_run("store", add_cases);
}
