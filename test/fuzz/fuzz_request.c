/*
 * fuzz_request.c - libFuzzer target for the checks of request fields
 * that need no socket: wait=, Content-Type, usernames, addresses and CIDR
 * ranges, X-Forwarded-For behind trusted proxies, and the percent-decoded
 * recipient of ?to=.
 *
 * The input is cut at its first five 0x00 bytes into six fields (missing
 * ones are empty; the last keeps any further NULs):
 *
 *   0 wait=     1 Content-Type     2 username (checked with its length)
 *   3 address or CIDR range        4 X-Forwarded-For     5 ?to= value
 *
 * and every check is compared with an independent statement of what it
 * must do (SPEC sections 2 and 4, RFC 3629 for UTF-8).  A breach aborts.
 * See test/fuzz/README.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "addr.h"
#include "auth.h"
#include "field.h"
#include "util.h"

#define NFIELDS 6

#define REQUIRE(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_request: " __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

struct field {
	const char *s; /* NUL-terminated copy */
	size_t len;    /* bytes before the cut (may hold NULs: last field) */
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Well-formed UTF-8 after RFC 3629 section 4, byte by byte: no overlong
 * forms, no surrogates, nothing past U+10FFFF.
 */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t more;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return false;
		if (n - i - 1 < more)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= more; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += more + 1;
	}
	return true;
}

/* SPEC section 2: 1 to 256 bytes of UTF-8 without 0x00-0x1F or 0x7F. */
static bool
username_ok(const char *user, size_t len)
{
	const unsigned char *s = (const unsigned char *)user;
	size_t i;

	if (len == 0 || len > 256)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return utf8_valid(s, len);
}

static void
check_username(const char *user, size_t len)
{
	const char *why = auth_check_username(user, len);

	if (why == NULL)
		REQUIRE(username_ok(user, len),
		    "username of %zu bytes accepted against SPEC 2", len);
	else
		REQUIRE(!username_ok(user, len),
		    "valid username of %zu bytes refused: %s", len, why);
}

/* wait=: all digits, clamped to max_ms, in whole seconds. */
static void
check_wait_with(const char *s, uint64_t max_ms)
{
	uint64_t out = 0, want, v = 0;
	bool digits = *s != '\0', big = false;
	const char *p;
	int r;

	for (p = s; *p != '\0'; p++) {
		if (!is_digit(*p)) {
			digits = false;
			break;
		}
		/* The value in seconds, saturated once past max_ms. */
		if (!big) {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > max_ms / 1000 + 1)
				big = true;
		}
	}
	r = field_wait(s, max_ms, &out);
	if (!digits) {
		REQUIRE(r == -1, "wait=`%s' accepted", s);
		return;
	}
	REQUIRE(r == 0, "wait=`%s' refused", s);
	REQUIRE(out <= max_ms, "wait=`%s' gave %llu ms over max %llu", s,
	    (unsigned long long)out, (unsigned long long)max_ms);
	REQUIRE(out % 1000 == 0, "wait=`%s' gave %llu ms", s,
	    (unsigned long long)out);
	want = big || v > max_ms / 1000 ? max_ms : v * 1000;
	REQUIRE(out == want, "wait=`%s' gave %llu ms, not %llu", s,
	    (unsigned long long)out, (unsigned long long)want);
}

static void
check_wait(const struct field *f)
{
	/* Multiples of 1000 (as config.c makes max-wait), so clamping
	 * keeps whole seconds. */
	check_wait_with(f->s, 60000);
	check_wait_with(f->s, 0);
	check_wait_with(f->s, 86400000);
	check_wait_with(f->s, UINT64_MAX / 1000 * 1000);
}

/* max=: all digits, at least 1, clamped to max; ack=: a 64-bit decimal. */
static void
check_max_ack(const struct field *f)
{
	uint64_t v = 0, id = 1;
	bool digits = *f->s != '\0', big = false;
	unsigned out = 0;
	const char *p;
	int r;

	for (p = f->s; *p != '\0'; p++) {
		if (!is_digit(*p)) {
			digits = false;
			break;
		}
		if (big || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			big = true;
		else
			v = v * 10 + (uint64_t)(*p - '0');
	}
	r = field_max(f->s, 32, &out);
	if (!digits || (!big && v == 0))
		REQUIRE(r == -1, "max=`%s' accepted", f->s);
	else
		REQUIRE(r == 0 && out == (big || v > 32 ? 32 : v),
		    "max=`%s' gave %d, %u", f->s, r, out);
	r = field_ack(f->s, &id);
	if (!digits || big)
		REQUIRE(r == -1, "ack=`%s' accepted", f->s);
	else
		REQUIRE(r == 0 && id == v, "ack=`%s' gave %d, %llu", f->s, r,
		    (unsigned long long)id);
}

/* Content-Type: at most 255 bytes, none of them a control character. */
static void
check_content_type(const struct field *f)
{
	size_t n = strlen(f->s), i;
	bool ok = n <= 255;

	for (i = 0; i < n; i++)
		if ((unsigned char)f->s[i] < 0x20 || f->s[i] == 0x7f)
			ok = false;
	REQUIRE((field_content_type(f->s) == 0) == ok,
	    "Content-Type of %zu bytes: field_content_type says %s", n,
	    ok ? "no" : "yes");
}

static bool
same_addr(const struct addr *a, const struct addr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* c covers a: the first c->prefix bits are equal. */
static bool
covers(const struct cidr *c, const struct addr *a)
{
	unsigned i;

	for (i = 0; i < c->prefix; i++) {
		unsigned bit = 7 - i % 8;

		if (((c->net.b[i / 8] ^ a->b[i / 8]) >> bit) & 1)
			return false;
	}
	return true;
}

static void
check_cidr_match(const struct cidr *c, const struct addr *a)
{
	REQUIRE(cidr_match(c, a) == covers(c, a),
	    "cidr_match disagrees with a bitwise prefix compare (/%u)",
	    c->prefix);
}

/* Addresses: text round trips; ranges match what their prefix covers. */
static void
check_addr(const struct field *f, struct cidr *range, bool *have_range)
{
	struct addr a, b;
	char text[ADDR_STRLEN];

	*have_range = false;
	if (addr_parse(f->s, f->len, &a) == 0) {
		REQUIRE(f->len < ADDR_STRLEN && strlen(f->s) == f->len,
		    "addr_parse took %zu bytes with a NUL or too long", f->len);
		addr_format(&a, text);
		REQUIRE(memchr(text, '\0', sizeof(text)) != NULL,
		    "addr_format overran");
		REQUIRE(addr_parse(text, strlen(text), &b) == 0 &&
		    same_addr(&a, &b), "`%s' formatted as `%s' does not parse "
		    "back", f->s, text);
		REQUIRE(addr_is_v4(&a) == (strchr(text, ':') == NULL),
		    "`%s': IPv4 flag and text `%s' disagree", f->s, text);
	}
	if (memchr(f->s, '\0', f->len) == NULL &&
	    cidr_parse(f->s, range) == 0) {
		struct addr flip;
		unsigned bit;

		REQUIRE(range->prefix <= 128, "prefix %u", range->prefix);
		REQUIRE(!addr_is_v4(&range->net) || range->prefix >= 96,
		    "IPv4 range with mapped prefix %u", range->prefix);
		REQUIRE(cidr_match(range, &range->net),
		    "`%s' does not match its own address", f->s);
		/* Any bit past the prefix may change; the one before not. */
		for (bit = 0; bit < 128; bit += 1 + bit % 7) {
			flip = range->net;
			flip.b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			REQUIRE(cidr_match(range, &flip) ==
			    (bit >= range->prefix),
			    "`%s' and bit %u", f->s, bit);
		}
		*have_range = true;
	}
}

/*
 * X-Forwarded-For after SPEC section 4 and addr.h: from a trusted peer,
 * walk the comma-separated entries (blanks around each trimmed) from the
 * right; the client is the first untrusted one, or the leftmost when all
 * are trusted; a malformed entry stops the walk at the last good one.
 */
static struct addr
xff_reference(const struct cidr *trusted, size_t n, const struct addr *peer,
    const char *xff)
{
	struct addr client = *peer, a;
	size_t len = strlen(xff), end = len, i;

	if (len == 0)
		return client; /* no entries at all */
	for (;;) {
		size_t start = end, s, e;
		bool is_trusted = false;

		while (start > 0 && xff[start - 1] != ',')
			start--;
		s = start;
		e = end;
		while (s < e && (xff[s] == ' ' || xff[s] == '\t'))
			s++;
		while (e > s && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
			e--;
		if (addr_parse(xff + s, e - s, &a) == -1)
			return client;
		client = a;
		for (i = 0; i < n; i++)
			if (covers(&trusted[i], &a))
				is_trusted = true;
		if (!is_trusted || start == 0)
			return client;
		end = start - 1; /* before the comma */
	}
}

/* Does a appear, formatted or as written, among the entries of xff? */
static bool
in_header(const struct addr *a, const char *xff)
{
	const char *p = xff;

	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		struct addr b;

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (addr_parse(p, n, &b) == 0 && same_addr(a, &b))
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

static void
check_xff(const struct field *xff, const struct cidr *range, bool have_range,
    uint8_t pick)
{
	static const char *const proxies[] = { "127.0.0.0/8", "10.0.0.0/8",
		"::1", "fd00::/8", "192.0.2.128/25" };
	static const char *const peers[] = { "127.0.0.1", "10.9.8.7",
		"203.0.113.5", "::1", "fd12::34", "2001:db8::1", "192.0.2.200",
		"0.0.0.0" };
	struct cidr trusted[nitems(proxies) + 1];
	struct addr peer, got, want;
	size_t n = 0, i;
	bool peer_trusted = false;

	for (i = 0; i < nitems(proxies); i++)
		if (cidr_parse(proxies[i], &trusted[n]) == 0)
			n++;
	REQUIRE(n == nitems(proxies), "a fixed proxy range does not parse");
	if (have_range && (pick & 0x80))
		trusted[n++] = *range; /* the input's range trusted too */
	REQUIRE(addr_parse(peers[pick & 7], strlen(peers[pick & 7]), &peer) ==
	    0, "fixed peer");
	for (i = 0; i < n; i++)
		if (covers(&trusted[i], &peer))
			peer_trusted = true;

	got = addr_client(trusted, n, &peer, NULL);
	REQUIRE(same_addr(&got, &peer), "no X-Forwarded-For: not the peer");
	got = addr_client(trusted, 0, &peer, xff->s);
	REQUIRE(same_addr(&got, &peer), "no trusted proxy: not the peer");

	got = addr_client(trusted, n, &peer, xff->s);
	for (i = 0; i < n; i++) {
		check_cidr_match(&trusted[i], &got);
		check_cidr_match(&trusted[i], &peer);
	}
	if (have_range)
		for (i = 0; i < nitems(peers); i++) {
			struct addr a;

			if (addr_parse(peers[i], strlen(peers[i]), &a) == 0)
				check_cidr_match(range, &a);
		}
	if (!peer_trusted) {
		REQUIRE(same_addr(&got, &peer),
		    "untrusted peer's X-Forwarded-For was believed");
		return;
	}
	REQUIRE(same_addr(&got, &peer) || in_header(&got, xff->s),
	    "client is neither the peer nor in X-Forwarded-For `%s'", xff->s);
	want = xff_reference(trusted, n, &peer, xff->s);
	REQUIRE(same_addr(&got, &want),
	    "X-Forwarded-For `%s': not the rightmost untrusted hop", xff->s);
}

/*
 * ?to=: libmicrohttpd decodes %XX (two hex digits) and leaves anything
 * else alone, so the decoded text is never longer; then the recipient is
 * checked as a username, as begin_post does (src/api.c).
 */
static void
check_to(const struct field *f)
{
	size_t n = strlen(f->s), got, i, o = 0;
	char *buf = malloc(n + 1), *want = malloc(n + 1);

	REQUIRE(buf != NULL && want != NULL, "out of memory");
	memcpy(buf, f->s, n + 1);
	got = MHD_http_unescape(buf);
	REQUIRE(got <= n, "%%-decoding grew %zu bytes to %zu", n, got);
	REQUIRE(buf[got] == '\0', "decoded value not NUL-terminated");
	for (i = 0; i < n;) {
		int h, l;

		if (f->s[i] == '%' && i + 2 < n &&
		    (h = hex_value(f->s[i + 1])) >= 0 &&
		    (l = hex_value(f->s[i + 2])) >= 0) {
			want[o++] = (char)(h * 16 + l);
			i += 3;
		} else
			want[o++] = f->s[i++];
	}
	REQUIRE(got == o && memcmp(buf, want, o) == 0,
	    "%%-decoding of `%s' is not RFC 3986 section 2.1's", f->s);
	check_username(buf, got);
	/* begin_post refuses a decoded NUL before asking the username. */
	if (auth_check_username(buf, got) == NULL)
		REQUIRE(strlen(buf) == got, "a recipient with a NUL passed");
	free(want);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct field f[NFIELDS];
	char *copy[NFIELDS] = { NULL };
	struct cidr range;
	bool have_range;
	size_t pos = 0, i;
	uint8_t pick = size > 0 ? data[size - 1] : 0;

	for (i = 0; i < NFIELDS; i++) {
		const uint8_t *nul = NULL;
		size_t n;

		if (pos < size && i + 1 < NFIELDS)
			nul = memchr(data + pos, '\0', size - pos);
		n = pos >= size ? 0 :
		    nul != NULL ? (size_t)(nul - (data + pos)) : size - pos;
		copy[i] = malloc(n + 1);
		REQUIRE(copy[i] != NULL, "out of memory");
		if (n > 0)
			memcpy(copy[i], data + pos, n);
		copy[i][n] = '\0';
		f[i].s = copy[i];
		f[i].len = n;
		pos += n + (nul != NULL ? 1 : 0);
		if (nul == NULL)
			pos = size;
	}

	check_wait(&f[0]);
	check_max_ack(&f[0]);
	check_content_type(&f[1]);
	check_username(f[2].s, f[2].len);
	check_username((const char *)data, size);
	REQUIRE((auth_check_password(f[2].len) == NULL) ==
	    (f[2].len >= 1 && f[2].len <= 1024), "password length %zu",
	    f[2].len);
	check_addr(&f[3], &range, &have_range);
	check_xff(&f[4], &range, have_range, pick);
	check_to(&f[5]);

	for (i = 0; i < NFIELDS; i++)
		free(copy[i]);
	return 0;
}
