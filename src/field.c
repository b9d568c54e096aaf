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
field_content_type(const char *type)
{
	unsigned n;

	for (n = 0; type[n] != '\0'; n++)
		if ((unsigned char)type[n] < 0x20 || type[n] == 0x7f ||
		    n == 255)
			return -1;
	return 0;
}
