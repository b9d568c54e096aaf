/*
 * check_util.c - strict number parsing and SipHash.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "util.h"

START_TEST(test_parse_uint_is_strict)
{
	uint64_t v = 42;

	ck_assert_int_eq(parse_uint("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_uint("10", 10, &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(parse_uint("11", 10, &v), -1);
	ck_assert_int_eq(parse_uint("7", 5, &v), -1);
	ck_assert_int_eq(parse_uint("", 10, &v), -1);
	ck_assert_int_eq(parse_uint(" 1", 10, &v), -1);
	ck_assert_int_eq(parse_uint("1 ", 10, &v), -1);
	ck_assert_int_eq(parse_uint("+1", 10, &v), -1);
	ck_assert_int_eq(parse_uint("-1", 10, &v), -1);
	ck_assert_int_eq(parse_uint("0x10", 100, &v), -1);
	ck_assert_int_eq(parse_uint("18446744073709551615", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(parse_uint("18446744073709551616", UINT64_MAX, &v),
	    -1);
	ck_assert_uint_eq(v, UINT64_MAX); /* unchanged on error */
}
END_TEST

START_TEST(test_parse_size_suffixes_are_powers_of_1024)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("64K", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(parse_size("1M", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(parse_size("2G", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 2147483648ULL);
	ck_assert_int_eq(parse_size("100", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 100);
	ck_assert_int_eq(parse_size("K", UINT64_MAX, &v), -1);
	ck_assert_int_eq(parse_size("1k", UINT64_MAX, &v), -1);
	ck_assert_int_eq(parse_size("1KB", UINT64_MAX, &v), -1);
	ck_assert_int_eq(parse_size("2M", 1048576, &v), -1);
	ck_assert_int_eq(parse_size("17179869184G", UINT64_MAX, &v), -1);
}
END_TEST

START_TEST(test_siphash_matches_reference_vectors)
{
	/* From the SipHash paper, appendix A: key 00..0f, input 00..0e. */
	uint8_t key[16], in[64];
	int i;

	for (i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < 64; i++)
		in[i] = (uint8_t)i;
	ck_assert_uint_eq(siphash24(key, in, 15), 0xa129ca6149be45e5ULL);
	ck_assert_uint_eq(siphash24(key, in, 0), 0x726fdb47dd0e0e31ULL);
	ck_assert_uint_eq(siphash24(key, in, 8), 0x93f5f5799a932462ULL);
}
END_TEST

START_TEST(test_ct_memcmp_and_wipe)
{
	char a[8] = "secret", b[8] = "secret";

	ck_assert_int_eq(ct_memcmp(a, b, 8), 0);
	b[5] = 'T';
	ck_assert_int_ne(ct_memcmp(a, b, 8), 0);
	wipe(a, sizeof(a));
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(a[i], 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, test_parse_uint_is_strict);
	tcase_add_test(tc, test_parse_size_suffixes_are_powers_of_1024);
	tcase_add_test(tc, test_siphash_matches_reference_vectors);
	tcase_add_test(tc, test_ct_memcmp_and_wipe);
	suite_add_tcase(s, tc);
	return check_run(s);
}
