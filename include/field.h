/*
 * field.h - checks of request fields that need no socket: the query's
 * wait=, max=, ack= and the sender's Content-Type.  Pure functions, fuzzed.
 */
#ifndef INBOXD_FIELD_H
#define INBOXD_FIELD_H

#include <stdint.h>

/*
 * Parse wait=SECONDS: a non-negative decimal integer, clamped to max_ms
 * (a value too large for 64 bits is clamped too), into *out_ms.  Returns
 * 0, or -1 for anything else (SPEC section 2: 400 bad_request).
 */
int field_wait(const char *s, uint64_t max_ms, uint64_t *out_ms);

/*
 * Parse max=N (SPEC section 9): a decimal integer of at least 1, clamped
 * to max (max-batch), into *out.  Returns 0, or -1 for anything else.
 */
int field_max(const char *s, unsigned max, unsigned *out);

/*
 * Parse ack=ID (SPEC section 9): a decimal integer that fits 64 bits.
 * Returns 0, or -1 for anything else.
 */
int field_ack(const char *s, uint64_t *out);

/*
 * Check a sender's Content-Type, which is handed back verbatim to the
 * receiver: at most 255 bytes and no control characters (RFC 9110 section
 * 5.5 field values, less obs-fold).  Returns 0 or -1.
 */
int field_content_type(const char *type);

/*
 * Parse an X-PIN value: exactly `digits' decimal digits, into *code.
 * Returns 0 or -1.
 */
int field_pin(const char *s, unsigned digits, uint32_t *code);

#endif
