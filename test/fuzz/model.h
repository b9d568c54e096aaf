/*
 * model.h - what fuzz_store and fuzz_store_redis share: the program an
 * input encodes, a model of the store beside it, and the judges of every
 * answer (test/fuzz/README).
 *
 * The model records every message sent with its state, the inboxes as far
 * as the operations have shown them, and eight waiter slots standing in
 * for requests.  Both targets run the same operations through store.h;
 * a struct model_driver says what their stores do differently: whether
 * deadlines follow the clock passed in (the in-memory store) or a clock
 * of the store's own (Redis: then nothing may expire within an input),
 * whether a hold may be released later from another thread (Redis'
 * subscriber), whether a popped message is a copy with an id of the
 * store's own, and how a request authenticates first.
 */
#ifndef FUZZ_MODEL_H
#define FUZZ_MODEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define NNAMES 8
#define NSLOTS 8
#define NOPS 14
#define MAX_CHAIN 8 /* messages one receive may take (max=) */
#define MAX_BODY 300

/* Print "TARGET: what went wrong" and abort, so libFuzzer keeps the input. */
void model_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#define REQUIRE(cond, ...) do { \
	if (!(cond)) \
		model_fail(__VA_ARGS__); \
} while (0)

extern const char *const model_names[NNAMES];
extern const char *const model_types[4];

enum op {
	OP_CREATE, OP_LOGIN, OP_SEND, OP_RECEIVE, OP_RECEIVE_WAIT, OP_DONE,
	OP_ADVANCE, OP_SHUTDOWN, OP_HANGUP, OP_JUMP, OP_EDGE, OP_PIN_CREATE,
	OP_PIN_SEND, OP_RECEIVE_GET
};

enum call { CALL_NONE, CALL_SEND, CALL_RECEIVE, CALL_DONE, CALL_EXPIRE,
	CALL_SHUTDOWN };

/* M_AWAIT: delivered to an ack= GET, awaiting its acknowledgement
 * (SPEC section 9); M_DELIVERED is final: deleted or acknowledged. */
enum msg_state { M_QUEUED, M_FLIGHT, M_DELIVERED, M_EXPIRED, M_AWAIT };

/* What the model knows of one message, by its send's number. */
struct rec {
	int to, from, type;
	uint32_t len;
	size_t cost;
	uint64_t enq_lo, enq_hi; /* its enqueue time lies between */
	uint64_t id;             /* the store's id for it, once seen */
	uint64_t seq;            /* M_AWAIT: its place in the inbox's order of
	                            deliveries ended (store_done calls) */
	uint64_t await_n;        /* ... and c->nexpire when it began */
	enum msg_state state;
};

/*
 * One inbox name: present once created, until a call finds it gone.  Its
 * PIN is "pin" from store_pin_create until it is known to be gone: used,
 * replaced, found missing, expired for sure, or gone with its inbox.
 */
struct box {
	bool present;
	int pw;               /* which of the two passwords created it */
	uint64_t last_act_ms; /* the store's last_seen_ms, mirrored */
	bool freed;           /* a hold ended unrefreshed since store_expire */
	bool pin;             /* a PIN that may be live */
	uint32_t code;        /* its code */
	uint64_t pin_deadline_ms;
	bool had_pin;         /* code is set: the latest PIN, live or not */
	uint32_t acks;        /* ack= receives that found it (the epoch) */
	uint64_t ho;          /* deliveries to ack= GETs ended, for seq */
};

enum slot_state { S_FREE, S_HELD, S_FLIGHT };

struct model;

/* A request standing in for the HTTP layer's, owner of its waiter. */
struct slot {
	struct store_waiter w;
	struct model *c;
	int idx;
	enum slot_state state;
	int box;    /* inbox while held or in flight */
	bool alive; /* what alive() answers */
	uint64_t since_ms, wait_ms;
	unsigned holds, releases;
	/* The send numbers of the messages in flight, oldest first. */
	uint64_t ids[MAX_CHAIN];
	unsigned nids;
	uint32_t epoch; /* its inbox's acks at its receive */
};

/* What a target's store does differently, and what the target adds. */
struct model_driver {
	const char *name; /* the target, in failure messages */
	/* Deadlines follow the clock passed in; else the store keeps its
	 * own, and nothing may expire within an input. */
	bool timed;
	/* A hold may be released after the call that ended it, from another
	 * thread: wait (bounded) for the releases due. */
	bool async;
	/* A popped message is a copy, with an id of the store's own (unique,
	 * rising with the sends) rather than the send's number. */
	bool copies;
	/* store_stats' gauges (inboxes, messages, bytes, memory) are exact
	 * after every call, and server_full is judged by them. */
	bool gauges;
	/* A held GET woken by a message takes up to its max of what is
	 * queued then (Redis: the wake-up pops); else exactly the one
	 * message that ended the hold (the in-memory store). */
	bool wake_batch;
	struct store_limits lim;
	uint64_t tick_ms;
	uint64_t wait_base_ms, wait_step_ms; /* receive-wait: base + b * step */
	uint64_t pin_base_ms, pin_step_ms;   /* PIN timeouts: the same */
	/* The store's clock, for enqueue times; NULL: the clock passed in. */
	uint64_t (*clock)(struct model *c);
	/* Ops create and login. */
	void (*create)(struct model *c, uint8_t a);
	void (*login)(struct model *c, uint8_t a);
	/* Inbox k's owner makes a request: authenticate as the HTTP layer
	 * does first (NULL: no need). */
	void (*contact)(struct model *c, int k);
	/* More checks after every operation, st just read (NULL: none). */
	void (*check)(struct model *c, const struct store_stats *st);
	/* After each store_expire and its releases (NULL: nothing). */
	void (*expired)(struct model *c, const struct store_stats *before);
	/* Called by model_fail before it aborts (NULL: nothing). */
	void (*failed)(void);
};

struct model {
	const struct model_driver *drv;
	struct store *s;
	uint64_t now, expired_at; /* the clock; the last store_expire */
	bool shutdown;
	struct slot slot[NSLOTS];
	struct box box[NNAMES];
	struct rec *rec; /* by send number; rec[sent + 1] is a send under way */
	size_t nrec;
	uint64_t sent, delivered, requeued, deletions;
	uint64_t acked;         /* deleted by an acknowledgement */
	uint64_t delivered_ack; /* deliveries that went on to await an ack */
	uint64_t ack_requeued;  /* put back by an acknowledgement */
	uint64_t last_id;       /* the highest id seen so far */
	uint64_t nexpire;       /* store_expire calls */
	uint64_t expired; /* messages the model knows expired */
	uint64_t low; /* every number below is delivered or expired for good */
	size_t inbox_base; /* inbox cost less its name, learnt at a create */
	/* The call under way, for the releases to be judged by. */
	enum call call;
	int call_box, call_slot, handed;
	bool pending; /* rec[sent + 1] is queued, as far as releases go */
	const struct message *deliv[MAX_CHAIN]; /* the messages delivered */
	unsigned ndeliv;
	/* Releases not judged yet, in order: the callbacks append (maybe
	 * from another thread), and the call's settle judges them.  A slot
	 * released stays held in the model until then, so it is in the
	 * ring once at most. */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int ring[NSLOTS];
	unsigned nring;
	void *arg; /* the target's */
};

/* The waiter callbacks of every model: alive, hold, release. */
extern const struct store_waiter_ops model_ops;

/*
 * Start the model of an input of size bytes, clock at now_ms; the target
 * then makes c->s with model_ops.  Returns 0, or -1 when memory ran out.
 */
int model_init(struct model *c, const struct model_driver *drv,
    size_t size, uint64_t now_ms);

/* Free what model_init made (not the store). */
void model_free(struct model *c);

/* Run the operations of the input, checking after each. */
void model_run(struct model *c, const uint8_t *data, size_t size);

/* Shut the store down, and end every delivery in flight (even slots
 * delivered, odd ones failed and requeued). */
void model_finish(struct model *c);

/* The store's own check and the model's counts; then drv->check. */
void model_check_all(struct model *c);

/* Operations, for targets that make more of them: op 3 or 4 with its
 * argument a, op 5 on slot i, and store_expire at the clock. */
void model_receive(struct model *c, uint8_t a, uint64_t wait_ms);
/* ... with the options get of SPEC section 9 (max=, ack=). */
void model_receive_get(struct model *c, uint8_t a, uint64_t wait_ms,
    const struct store_get *get);
void model_done(struct model *c, int i, bool delivered);
void model_expire(struct model *c);

/* The credential MAC of name k's password pw (not a real one). */
void model_mac(int k, int pw, uint8_t mac[CRED_MAC_BYTES]);

/* What was known of inbox k before a call that may find it gone. */
struct before {
	bool present, deletable, gone;
};

struct before model_look(const struct model *c, int k);

/* A call found inbox k: it must exist and not have outlived its time. */
void model_found(struct model *c, int k, const struct before *b,
    const char *what);

/* A call did not find inbox k: if it existed, it expired, with its queue. */
void model_not_found(struct model *c, int k, const struct before *b,
    const char *what);

/* The oldest queued message of inbox k, 0 if none; *n and *bytes queued. */
uint64_t model_oldest(struct model *c, int k, uint64_t *n, uint64_t *bytes);

/* The message of inbox k awaiting an acknowledgement whose delivery
 * ended last, 0 if none; *n and *bytes awaiting. */
uint64_t model_awaiting(struct model *c, int k, uint64_t *n, uint64_t *bytes);

/* The first slot in state want from `from' on, or -1. */
int model_pick_slot(const struct model *c, int from, enum slot_state want);

#endif
