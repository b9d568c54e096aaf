/*
 * fuzz_store.c - libFuzzer target for the in-memory store and its timer
 * wheel.
 *
 * The input is a program: one operation a byte (its value modulo 14),
 * each followed by its argument bytes (test/fuzz/README has the table).
 * Eight names, eight waiter slots that stand in for requests, and a clock
 * that only moves forward drive create, login, send, receive (popping or
 * held, one message or a batch of max=, with or without ack= and the id
 * it acknowledges), done, time passing with store_expire, shutdown, and
 * pairing codes (PINs: create, send by PIN), under small limits so that
 * full inboxes, a full server, PIN collisions and expiry come up at once.
 *
 * Beside the target keeps a model (model.c, shared with fuzz_store_redis):
 * every message sent with its state, the inboxes as far as the operations
 * have shown them, and the waiters.  After every operation store_check
 * must pass and the store's counters must agree with the model; along the
 * way each answer must be the one SPEC sections 2 to 4 call for: the
 * oldest live messages first, what an acknowledgement deletes and puts
 * back (SPEC section 9), nothing handed out past its deadline, every
 * hold released exactly once and for a reason that fits the call,
 * inboxes, holds and PINs expiring neither early nor more than one tick
 * late, a PIN naming its own inbox only, once, and going with it.  A
 * breach aborts with a message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "store.h"

#define TICK_MS 100
#define START_MS 1000050ULL /* not on a tick: deadlines fall mid-tick */
#define INBOX_TIMEOUT_MS 5000
#define MESSAGE_TIMEOUT_MS 3000
#define MAX_INBOXES 6
#define MAX_MEMORY 4096

static const struct cred_hash no_hash;

static void
op_create(struct model *c, uint8_t a)
{
	int k = a & 7, pw = (a >> 3) & 1;
	uint8_t mac[CRED_MAC_BYTES];
	struct store_stats st0, st1;
	struct before b = model_look(c, k);
	size_t len = strlen(model_names[k]), cost;
	enum store_result r;

	model_mac(k, pw, mac);
	store_stats(c->s, &st0);
	r = store_create(c->s, model_names[k], &no_hash, mac, c->now);
	store_stats(c->s, &st1);
	if (st1.inboxes == st0.inboxes + 1) {
		/* Created: if the model had it, it expired meanwhile. */
		REQUIRE(r == STORE_OK, "created with result %d", r);
		model_not_found(c, k, &b, "create");
		cost = (size_t)(st1.memory - st0.memory);
		if (c->inbox_base == 0)
			c->inbox_base = cost - len;
		REQUIRE(cost == c->inbox_base + len, "inbox cost %zu", cost);
		REQUIRE(st0.inboxes < MAX_INBOXES &&
		    st0.memory + cost <= MAX_MEMORY, "created past a limit");
		c->box[k].present = true;
		c->box[k].pw = pw;
		c->box[k].last_act_ms = c->now;
		c->box[k].freed = false;
		return;
	}
	REQUIRE(st1.inboxes == st0.inboxes && st1.memory == st0.memory,
	    "create changed the store without creating");
	switch (r) {
	case STORE_OK:
		model_found(c, k, &b, "create");
		REQUIRE(c->box[k].pw == pw, "create: a wrong password let in");
		c->box[k].last_act_ms = c->now;
		break;
	case STORE_WRONG:
		model_found(c, k, &b, "create");
		REQUIRE(c->box[k].pw != pw,
		    "create: the right password refused");
		break;
	case STORE_SERVER_FULL:
		model_not_found(c, k, &b, "create");
		REQUIRE(st0.inboxes >= MAX_INBOXES || c->inbox_base == 0 ||
		    st0.memory + c->inbox_base + len > MAX_MEMORY,
		    "server_full with %llu inboxes and %llu bytes",
		    (unsigned long long)st0.inboxes,
		    (unsigned long long)st0.memory);
		break;
	default:
		REQUIRE(0, "create: result %d", r);
	}
}

static void
op_login(struct model *c, uint8_t a)
{
	int k = a & 7, pw = (a >> 3) & 1;
	uint8_t mac[CRED_MAC_BYTES];
	struct before b = model_look(c, k);
	enum store_result r;

	model_mac(k, pw, mac);
	r = store_login(c->s, model_names[k], mac, c->now);
	switch (r) {
	case STORE_NOT_FOUND:
		model_not_found(c, k, &b, "login");
		break;
	case STORE_OK:
		model_found(c, k, &b, "login");
		REQUIRE(c->box[k].pw == pw, "login: a wrong password let in");
		c->box[k].last_act_ms = c->now;
		break;
	case STORE_WRONG:
		model_found(c, k, &b, "login");
		REQUIRE(c->box[k].pw != pw,
		    "login: the right password refused");
		break;
	default:
		REQUIRE(0, "login: result %d", r);
	}
}

static const struct model_driver mem_driver = {
	.name = "fuzz_store",
	.timed = true,
	.gauges = true,
	.lim = {
		.inbox_timeout_ms = INBOX_TIMEOUT_MS,
		.message_timeout_ms = MESSAGE_TIMEOUT_MS,
		.max_messages = 4,
		.max_inbox_bytes = 512,
		.max_inboxes = MAX_INBOXES,
		.max_memory = MAX_MEMORY,
	},
	.tick_ms = TICK_MS,
	.wait_base_ms = 1, /* 1 to 12751 ms */
	.wait_step_ms = 50,
	.pin_base_ms = 1,
	.pin_step_ms = 50,
	.create = op_create,
	.login = op_login,
};

/*
 * After model_finish: for inputs of even length the clock moves past
 * every timeout and the store must be empty; odd ones leave store_free
 * what is left.
 */
static void
drain(struct model *c)
{
	struct store_stats st;

	c->now += INBOX_TIMEOUT_MS + MESSAGE_TIMEOUT_MS + 2 * TICK_MS;
	model_expire(c);
	model_check_all(c);
	store_stats(c->s, &st);
	REQUIRE(st.inboxes == 0 && st.messages == 0 && st.bytes == 0 &&
	    st.memory == 0 && st.waiters == 0 && st.pins == 0,
	    "left after every timeout: %llu inboxes, %llu messages, %llu "
	    "bytes of memory, %llu PINs", (unsigned long long)st.inboxes,
	    (unsigned long long)st.messages, (unsigned long long)st.memory,
	    (unsigned long long)st.pins);
	/* Each message deleted by a delivery without ack=, acknowledged or
	 * expired: the deliveries to ack= GETs count again. */
	REQUIRE(st.sent == st.delivered - c->delivered_ack + st.acked +
	    st.expired, "sent %llu != delivered %llu - %llu to ack= GETs + "
	    "acked %llu + expired %llu", (unsigned long long)st.sent,
	    (unsigned long long)st.delivered,
	    (unsigned long long)c->delivered_ack,
	    (unsigned long long)st.acked, (unsigned long long)st.expired);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *c = malloc(sizeof(*c));

	REQUIRE(c != NULL && model_init(c, &mem_driver, size, START_MS) == 0,
	    "out of memory");
	c->s = store_new(&mem_driver.lim, &model_ops, c->now, TICK_MS);
	REQUIRE(c->s != NULL, "store_new");
	model_check_all(c);
	model_run(c, data, size);
	model_finish(c);
	if (size % 2 == 0)
		drain(c);
	store_free(c->s);
	model_free(c);
	free(c);
	return 0;
}
