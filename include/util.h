/*
 * util.h - small helpers shared by every module: strict number parsing,
 * the monotonic clock, a keyed hash for tables fed by the network, and
 * secret wiping.  Nothing here logs or allocates.
 */
#ifndef INBOXD_UTIL_H
#define INBOXD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Double the chained hash table `bucket' of `nbuckets' buckets (a power
 * of two) of `type' entries linked through their member hnext.  Each
 * entry `e' goes to bucket `index', an expression of e and the new count
 * `n'.  When calloc(3) fails the table stays as it was: chains only grow
 * longer.  The one growth of the store's, the peers' and the cache's
 * tables.
 */
#define TABLE_GROW(type, bucket, nbuckets, e, n, index) do {		\
	size_t n = (nbuckets) * 2, table_i_;				\
	type **table_b_ = calloc(n, sizeof(*table_b_));			\
	type *e, *table_next_;						\
									\
	if (table_b_ == NULL)						\
		break;							\
	for (table_i_ = 0; table_i_ < (nbuckets); table_i_++)		\
		for (e = (bucket)[table_i_]; e != NULL; e = table_next_) { \
			size_t table_k_ = (index);			\
									\
			table_next_ = e->hnext;				\
			e->hnext = table_b_[table_k_];			\
			table_b_[table_k_] = e;				\
		}							\
	free(bucket);							\
	(bucket) = table_b_;						\
	(nbuckets) = n;							\
} while (0)

/*
 * Parse s as a non-negative decimal integer no greater than max into *out.
 * Empty input, signs, spaces, trailing junk and overflow are rejected.
 * Returns 0, or -1 with *out unchanged.  (After memcached's safe_strtoull.)
 */
int parse_uint(const char *s, uint64_t max, uint64_t *out);

/*
 * Parse a byte count with an optional K, M or G suffix (powers of 1024)
 * into *out, rejecting the same inputs as parse_uint and results above
 * max.  Returns 0 or -1.
 */
int parse_size(const char *s, uint64_t max, uint64_t *out);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t now_ms(void);

/* Microseconds of CLOCK_MONOTONIC, for durations in logs and benchmarks. */
uint64_t now_us(void);

/* Microseconds of CLOCK_REALTIME since the Unix epoch: what message ids
 * start from, so that a restart never reuses one. */
uint64_t wall_us(void);

/* Length of the UTF-8 sequence (RFC 3629) at s, at most n bytes (n > 0),
 * or 0 if it is not one: overlong forms and surrogates are not. */
size_t utf8_len(const unsigned char *s, size_t n);

/* True when the n bytes at s are all UTF-8 and none is NUL. */
bool utf8_text(const void *s, size_t n);

/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012) of len bytes at p under the
 * 16-byte key k: a keyed hash, so that names chosen by clients cannot be
 * made to collide in a hash table.
 */
uint64_t siphash24(const uint8_t k[16], const void *p, size_t len);

/* Fill buf with len bytes from getrandom(2).  Returns 0 or -1 (errno set). */
int random_bytes(void *buf, size_t len);

/*
 * Fill out with n random characters of the base64url alphabet (RFC 4648
 * section 5), 6 bits of getrandom(2) each, and a NUL (out holds n + 1
 * bytes).  Returns 0 or -1 (errno set).
 */
int random_token(char *out, size_t n);

/*
 * A uniform random number below 10^digits (digits 1 to 9) from
 * getrandom(2): a PIN.  Returns it, or -1 if randomness failed.
 */
int64_t random_code(unsigned digits);

/* Overwrite len bytes at p with zeros in a way the compiler keeps. */
void wipe(void *p, size_t len);

/* Compare len bytes in time independent of their contents; 0 if equal. */
int ct_memcmp(const void *a, const void *b, size_t len);

#endif
