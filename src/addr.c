/*
 * addr.c - addresses, CIDR ranges and X-Forwarded-For.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "util.h"

static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
	0xff };

int
addr_parse(const char *s, size_t len, struct addr *a)
{
	char buf[ADDR_STRLEN];

	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, a->b + 12) == 1) {
		memcpy(a->b, v4_prefix, 12);
		return 0;
	}
	return inet_pton(AF_INET6, buf, a->b) == 1 ? 0 : -1;
}

int
addr_from_sockaddr(const struct sockaddr *sa, struct addr *a)
{
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		memcpy(a->b, v4_prefix, 12);
		memcpy(a->b + 12, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		memcpy(a->b, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

bool
addr_is_v4(const struct addr *a)
{
	return memcmp(a->b, v4_prefix, 12) == 0;
}

void
addr_format(const struct addr *a, char buf[ADDR_STRLEN])
{
	char *p = buf;
	int i;

	if (!addr_is_v4(a)) {
		inet_ntop(AF_INET6, a->b, buf, ADDR_STRLEN);
		return;
	}
	/* Dotted quad by hand: every request's client is formatted. */
	for (i = 12; i < 16; i++) {
		unsigned v = a->b[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 15 ? '.' : '\0';
	}
}

int
cidr_parse(const char *s, struct cidr *c)
{
	const char *slash = strchr(s, '/');
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	uint64_t prefix;
	unsigned max;

	if (addr_parse(s, len, &c->net) == -1)
		return -1;
	max = addr_is_v4(&c->net) ? 32 : 128;
	if (slash == NULL)
		prefix = max;
	else if (parse_uint(slash + 1, max, &prefix) == -1)
		return -1;
	c->prefix = (unsigned)prefix + (max == 32 ? 96 : 0);
	return 0;
}

bool
cidr_match(const struct cidr *c, const struct addr *a)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (memcmp(c->net.b, a->b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->net.b[full] ^ a->b[full]) & (0xff00 >> rest)) == 0;
}

static bool
trusted_by(const struct cidr *trusted, size_t n, const struct addr *a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cidr_match(&trusted[i], a))
			return true;
	return false;
}

struct addr
addr_client(const struct cidr *trusted, size_t n, const struct addr *peer,
    const char *xff)
{
	struct addr client = *peer, a;
	const char *end;

	if (xff == NULL || !trusted_by(trusted, n, peer))
		return client;
	/* Walk right to left while each hop is a proxy we trust. */
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end, *s, *e;

		while (start > xff && start[-1] != ',')
			start--;
		for (s = start; s < end && (*s == ' ' || *s == '\t'); s++)
			;
		for (e = end; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		if (addr_parse(s, (size_t)(e - s), &a) == -1)
			break;
		client = a;
		if (!trusted_by(trusted, n, &a))
			break;
		end = start > xff ? start - 1 : xff;
	}
	return client;
}
