/*
 * redis_slot.c - hash slots, slot tags, the slot map and redirections of
 * a Redis Cluster (see redis_slot.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_slot.h"

/* CRC16-XMODEM by the byte: crc16_table[i] is the CRC of byte i << 8. */
static const uint16_t crc16_table[256] = {
	0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
	0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
	0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
	0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
	0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
	0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
	0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
	0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
	0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
	0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
	0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
	0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
	0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
	0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
	0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
	0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
	0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
	0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
	0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
	0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
	0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
	0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
	0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
	0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
	0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
	0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
	0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
	0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
	0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
	0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
	0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
	0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

uint16_t
redis_slot_crc16(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;

	while (len-- > 0)
		crc = (uint16_t)(crc << 8) ^
		    crc16_table[(crc >> 8 ^ *p++) & 0xff];
	return crc;
}

unsigned
redis_slot_of(const char *key, size_t len)
{
	const char *open, *close;

	open = memchr(key, '{', len);
	if (open != NULL) {
		size_t rest = len - (size_t)(open + 1 - key);

		close = memchr(open + 1, '}', rest);
		if (close != NULL && close > open + 1)
			return redis_slot_crc16(open + 1,
			    (size_t)(close - open - 1)) % REDIS_SLOTS;
	}
	return redis_slot_crc16(key, len) % REDIS_SLOTS;
}

/* ------------------------------------------------------------ tags */

static char slot_tags[REDIS_SLOTS][REDIS_SLOT_TAG_SIZE];
static pthread_once_t slot_tags_once = PTHREAD_ONCE_INIT;

/* n in base 36 into out (REDIS_SLOT_TAG_SIZE bytes): its length, or 0
 * when it does not fit. */
static size_t
base36(unsigned long n, char *out)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char tmp[REDIS_SLOT_TAG_SIZE];
	size_t k = 0, i;

	do {
		if (k == REDIS_SLOT_TAG_SIZE - 1)
			return 0;
		tmp[k++] = digits[n % 36];
		n /= 36;
	} while (n > 0);
	for (i = 0; i < k; i++)
		out[i] = tmp[k - 1 - i];
	out[k] = '\0';
	return k;
}

/*
 * Count 0, 1, 2... in base 36 and give each slot the first count that
 * hashes to it.  Every slot has one by 87,573 (four characters), so this
 * hashes under 90,000 short strings.
 */
static void
slot_tags_build(void)
{
	char tag[REDIS_SLOT_TAG_SIZE];
	unsigned long n;
	size_t left = REDIS_SLOTS, k;

	for (n = 0; left > 0 && (k = base36(n, tag)) > 0; n++) {
		unsigned slot = redis_slot_crc16(tag, k) % REDIS_SLOTS;

		if (slot_tags[slot][0] == '\0') {
			memcpy(slot_tags[slot], tag, k + 1);
			left--;
		}
	}
}

void
redis_slot_tags_init(void)
{
	pthread_once(&slot_tags_once, slot_tags_build);
}

const char *
redis_slot_tag(unsigned slot)
{
	if (slot >= REDIS_SLOTS)
		return NULL;
	redis_slot_tags_init();
	return slot_tags[slot][0] != '\0' ? slot_tags[slot] : NULL;
}

/* -------------------------------------------------------- slot map */

/* Copy the len bytes of host, or fallback when host is unknown (empty,
 * `?' or NULL), to out: 0, or -1 when it does not fit. */
static int
copy_host(char out[REDIS_SLOT_HOST_SIZE], const char *host, size_t len,
    const char *fallback)
{
	if (host == NULL || len == 0 || (len == 1 && host[0] == '?')) {
		host = fallback != NULL ? fallback : "";
		len = strlen(host);
	}
	if (len == 0 || len >= REDIS_SLOT_HOST_SIZE ||
	    memchr(host, '\0', len) != NULL)
		return -1;
	memcpy(out, host, len);
	out[len] = '\0';
	return 0;
}

/* The index of host:port in m->node[], added when new; -1 when memory
 * runs out or the nodes would not fit master[]. */
static int
map_node(struct redis_slot_map *m, const char *host, unsigned port,
    size_t *cap)
{
	struct redis_slot_node *n;
	size_t i;

	for (i = 0; i < m->nnodes; i++)
		if (m->node[i].port == port &&
		    strcmp(m->node[i].host, host) == 0)
			return (int)i;
	if (m->nnodes == REDIS_SLOT_NONE)
		return -1;
	if (m->nnodes == *cap) {
		size_t ncap = *cap == 0 ? 4 : *cap * 2;

		n = realloc(m->node, ncap * sizeof(*n));
		if (n == NULL)
			return -1;
		m->node = n;
		*cap = ncap;
	}
	n = &m->node[m->nnodes];
	memcpy(n->host, host, strlen(host) + 1);
	n->port = port;
	return (int)m->nnodes++;
}

int
redis_slot_map_parse(struct redis_slot_map *m, const redisReply *reply,
    const char *fallback_host, char *why, size_t len)
{
	size_t i, cap = 0;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < REDIS_SLOTS; i++)
		m->master[i] = REDIS_SLOT_NONE;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		snprintf(why, len, "CLUSTER SLOTS: %s",
		    reply != NULL && reply->type == REDIS_REPLY_ERROR ?
		    reply->str : "the reply is not an array");
		return -1;
	}
	for (i = 0; i < reply->elements; i++) {
		const redisReply *e = reply->element[i], *node, *host;
		char name[REDIS_SLOT_HOST_SIZE];
		long long start, end, s;
		int idx;

		if (e == NULL || e->type != REDIS_REPLY_ARRAY ||
		    e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER) {
			snprintf(why, len, "CLUSTER SLOTS: entry %zu is not "
			    "a range of slots and its nodes", i + 1);
			goto fail;
		}
		start = e->element[0]->integer;
		end = e->element[1]->integer;
		if (start < 0 || end < start || end >= REDIS_SLOTS) {
			snprintf(why, len, "CLUSTER SLOTS: entry %zu has slots "
			    "%lld to %lld", i + 1, start, end);
			goto fail;
		}
		node = e->element[2];
		if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
		    node->element[1]->type != REDIS_REPLY_INTEGER ||
		    node->element[1]->integer < 1 ||
		    node->element[1]->integer > 65535) {
			snprintf(why, len, "CLUSTER SLOTS: the master of slots "
			    "%lld-%lld has no port", start, end);
			goto fail;
		}
		host = node->element[0];
		if ((host->type != REDIS_REPLY_STRING &&
		    host->type != REDIS_REPLY_NIL) ||
		    copy_host(name, host->type == REDIS_REPLY_NIL ? NULL :
		    host->str, host->type == REDIS_REPLY_NIL ? 0 : host->len,
		    fallback_host) == -1) {
			snprintf(why, len, "CLUSTER SLOTS: the master of slots "
			    "%lld-%lld has no usable host", start, end);
			goto fail;
		}
		if ((idx = map_node(m, name,
		    (unsigned)node->element[1]->integer, &cap)) == -1) {
			snprintf(why, len, "CLUSTER SLOTS: out of memory");
			goto fail;
		}
		for (s = start; s <= end; s++) {
			if (m->master[s] != REDIS_SLOT_NONE) {
				snprintf(why, len, "CLUSTER SLOTS: slot %lld "
				    "is listed twice", s);
				goto fail;
			}
			m->master[s] = (uint16_t)idx;
		}
		m->covered += (size_t)(end - start + 1);
	}
	return 0;
fail:
	redis_slot_map_free(m);
	return -1;
}

void
redis_slot_map_free(struct redis_slot_map *m)
{
	size_t i;

	free(m->node);
	m->node = NULL;
	m->nnodes = 0;
	m->covered = 0;
	for (i = 0; i < REDIS_SLOTS; i++)
		m->master[i] = REDIS_SLOT_NONE;
}

const struct redis_slot_node *
redis_slot_map_node(const struct redis_slot_map *m, unsigned slot)
{
	if (slot >= REDIS_SLOTS || m->master[slot] == REDIS_SLOT_NONE)
		return NULL;
	return &m->node[m->master[slot]];
}

/* ---------------------------------------------------- redirections */

/* True when the len bytes at s begin with the word w (then a space or
 * the end). */
static int
starts_word(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);

	return len >= n && memcmp(s, w, n) == 0 && (len == n || s[n] == ' ');
}

/* The decimal number of the len bytes at s, at most max: it, or -1. */
static long
parse_number(const char *s, size_t len, long max)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 6)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Parse `SLOT HOST:PORT' (the len bytes at s) into *to: 0, or -1. */
static int
parse_redirect(const char *s, size_t len, const char *fallback,
    struct redis_slot_redirect *to)
{
	const char *sp, *addr, *colon;
	size_t alen, hlen;
	long slot, port;

	if ((sp = memchr(s, ' ', len)) == NULL ||
	    (slot = parse_number(s, (size_t)(sp - s), REDIS_SLOTS - 1)) == -1)
		return -1;
	addr = sp + 1;
	alen = len - (size_t)(addr - s);
	if (memchr(addr, ' ', alen) != NULL)
		return -1;
	for (colon = NULL, hlen = 0; hlen < alen; hlen++)
		if (addr[hlen] == ':')
			colon = addr + hlen;
	if (colon == NULL || (port = parse_number(colon + 1,
	    alen - (size_t)(colon + 1 - addr), 65535)) < 1)
		return -1;
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
		if (hlen == 2)
			return -1; /* "[]" is no address */
		addr++;
		hlen -= 2;
	}
	if (copy_host(to->host, addr, hlen, fallback) == -1)
		return -1;
	to->slot = (unsigned)slot;
	to->port = (unsigned)port;
	return 0;
}

enum redis_slot_error
redis_slot_parse_error(const char *s, size_t len, const char *fallback_host,
    struct redis_slot_redirect *to)
{
	static const char *const retry[] = { "TRYAGAIN", "CLUSTERDOWN",
		"LOADING", "MASTERDOWN" };
	struct redis_slot_redirect r;
	size_t i;

	if (s == NULL)
		return REDIS_SLOT_ERROR;
	if (starts_word(s, len, "MOVED") && len > 6 &&
	    parse_redirect(s + 6, len - 6, fallback_host, &r) == 0) {
		*to = r;
		return REDIS_SLOT_MOVED;
	}
	if (starts_word(s, len, "ASK") && len > 4 &&
	    parse_redirect(s + 4, len - 4, fallback_host, &r) == 0) {
		*to = r;
		return REDIS_SLOT_ASK;
	}
	for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		if (starts_word(s, len, retry[i]))
			return REDIS_SLOT_RETRY;
	return REDIS_SLOT_ERROR;
}

/* -------------------------------------------------------------- INFO */

int
redis_slot_info_field(const char *text, size_t len, const char *field,
    char *out, size_t size)
{
	size_t n = strlen(field);
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t line = (size_t)((eol != NULL ? eol : end) - p);

		if (line > 0 && p[line - 1] == '\r')
			line--;
		if (line > n && memcmp(p, field, n) == 0 && p[n] == ':') {
			size_t v = line - n - 1;

			if (v >= size || v > 0x7fffffff)
				return -1;
			memcpy(out, p + n + 1, v);
			out[v] = '\0';
			return (int)v;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return -1;
}

int
redis_slot_cluster_enabled(const char *text, size_t len)
{
	char v[8];

	if (redis_slot_info_field(text, len, "cluster_enabled", v,
	    sizeof(v)) == -1)
		return -1;
	return strcmp(v, "1") == 0 ? 1 : strcmp(v, "0") == 0 ? 0 : -1;
}
