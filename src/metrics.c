/*
 * metrics.c - process-wide counters.
 */
#include "metrics.h"

struct metrics metrics;

void
metrics_request(unsigned status)
{
	if (status < 600)
		atomic_fetch_add_explicit(&metrics.status[status], 1,
		    memory_order_relaxed);
}
