/*
 * addr.h - client addresses: parsing, CIDR ranges, and the client behind
 * trusted proxies from X-Forwarded-For.
 *
 * An IPv4 address is kept as its IPv4-mapped IPv6 form (RFC 4291 section
 * 2.5.5.2), so one 16-byte key serves both families.
 */
#ifndef INBOXD_ADDR_H
#define INBOXD_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addr {
	uint8_t b[16];
};

struct cidr {
	struct addr net;
	unsigned prefix; /* bits, 0 to 128, of the mapped form */
};

#define ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/*
 * Parse len bytes of a numeric IPv4 or IPv6 address (no brackets, no port)
 * into *a.  Returns 0 or -1.
 */
int addr_parse(const char *s, size_t len, struct addr *a);

/* The address of sa (AF_INET or AF_INET6) into *a.  Returns 0 or -1. */
int addr_from_sockaddr(const struct sockaddr *sa, struct addr *a);

/* Write a as text (dotted quad for IPv4) into buf of ADDR_STRLEN bytes. */
void addr_format(const struct addr *a, char buf[ADDR_STRLEN]);

/* True for an IPv4(-mapped) address. */
bool addr_is_v4(const struct addr *a);

/*
 * Parse ADDRESS or ADDRESS/PREFIX (IPv4 prefix 0 to 32, IPv6 0 to 128)
 * into *c.  Returns 0 or -1.
 */
int cidr_parse(const char *s, struct cidr *c);

/* True when a falls in c. */
bool cidr_match(const struct cidr *c, const struct addr *a);

/*
 * The client of a request whose socket peer is `peer': when peer is in one
 * of the n trusted ranges, the rightmost address of the X-Forwarded-For
 * value xff (may be NULL) that is not itself trusted; a malformed entry
 * stops the walk at the last trusted hop.  Otherwise the peer.
 */
struct addr addr_client(const struct cidr *trusted, size_t n,
    const struct addr *peer, const char *xff);

#endif
