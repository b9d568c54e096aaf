/*
 * field.c - checks of request fields.
 */
#include "field.h"
#include "util.h"

int
field_wait(const char *s, uint64_t max_ms, uint64_t *out_ms)
{
	uint64_t v;
	const char *p;

	if (s == NULL || *s == '\0')
		return -1;
	for (p = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -1;
	if (parse_uint(s, UINT64_MAX / 1000, &v) == -1 || v * 1000 > max_ms)
		*out_ms = max_ms;
	else
		*out_ms = v * 1000;
	return 0;
}

int
field_max(const char *s, unsigned max, unsigned *out)
{
	uint64_t v;

	/* The digits-only, clamp-when-large rule of wait=, in thousandths. */
	if (field_wait(s, (uint64_t)max * 1000, &v) == -1 || v == 0)
		return -1;
	*out = (unsigned)(v / 1000);
	return 0;
}

int
field_ack(const char *s, uint64_t *out)
{
	return parse_uint(s, UINT64_MAX, out);
}

int
field_content_type(const char *type)
{
	unsigned n;

	for (n = 0; type[n] != '\0'; n++)
		if ((unsigned char)type[n] < 0x20 || type[n] == 0x7f ||
		    n == 255)
			return -1;
	return 0;
}

int
field_pin(const char *s, unsigned digits, uint32_t *code)
{
	uint32_t v = 0;
	unsigned n;

	for (n = 0; s[n] != '\0'; n++) {
		if (n == digits || s[n] < '0' || s[n] > '9')
			return -1;
		v = v * 10 + (uint32_t)(s[n] - '0');
	}
	if (n != digits)
		return -1;
	*code = v;
	return 0;
}
