/*
 * api.h - the request handlers of inboxd's HTTP interface (SPEC section 2).
 *
 * libmicrohttpd calls a request's handler several times; http.c maps
 * those calls onto these three.  Every path ends in exactly one reply
 * through http.h, or in a suspension whose resumption calls api_finish
 * again.
 */
#ifndef INBOXD_API_H
#define INBOXD_API_H

#include <stddef.h>

#include "http.h"

/* The headers are in: route, check method, credentials and limits. */
void api_begin(struct request *r);

/*
 * len more body bytes arrived at data.  Returns 0, or -1 when the body has
 * run on so far past max-message-size that the connection is to be cut.
 */
int api_upload(struct request *r, const char *data, size_t len);

/* The request is complete, or was resumed: act and reply. */
void api_finish(struct request *r);

/* The request is done with: free what the API keeps of it (r->a). */
void api_free(struct request *r);

#endif
