/*
 * metrics.h - process-wide counters for the Prometheus exposition.
 *
 * Counters are C11 atomics updated with relaxed ordering from any thread;
 * the store keeps its own gauges (struct store_stats).
 */
#ifndef INBOXD_METRICS_H
#define INBOXD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "peer.h"
#include "store.h"

struct metrics {
	atomic_uint_fast64_t status[600]; /* by exact status code */
	atomic_uint_fast64_t auth_failures;
	atomic_uint_fast64_t rate_limited;
	atomic_uint_fast64_t argon2_hashes;
	atomic_uint_fast64_t ice_credentials;
	atomic_uint_fast64_t hangups; /* held GETs whose client hung up */
	atomic_uint_fast64_t request_timeouts; /* past connection-timeout */
	atomic_uint_fast64_t connections_refused; /* past connection-limit */
};

extern struct metrics metrics;

/* Count one answered request with HTTP status code status. */
void metrics_request(unsigned status);

/*
 * The Prometheus text exposition (format 0.0.4) of the counters and of the
 * store's and address table's gauges, with # HELP and # TYPE for each
 * series.  Returns a malloc'd string and its length in *len, or NULL.
 */
char *metrics_render(const struct store_stats *st,
    const struct peer_stats *ps, size_t *len);

#define metrics_inc(field) \
	atomic_fetch_add_explicit(&metrics.field, 1, memory_order_relaxed)

#endif
