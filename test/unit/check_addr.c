/*
 * check_addr.c - addresses, CIDR ranges, X-Forwarded-For, and the request
 * field checks (wait=, max=, ack=, Content-Type, X-PIN).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "check_run.h"
#include "field.h"

static struct addr
A(const char *s)
{
	struct addr a;

	ck_assert_int_eq(addr_parse(s, strlen(s), &a), 0);
	return a;
}

static const char *
fmt(struct addr a)
{
	static char buf[ADDR_STRLEN];

	addr_format(&a, buf);
	return buf;
}

START_TEST(test_addresses_parse_and_format_both_families)
{
	struct addr a;

	ck_assert_str_eq(fmt(A("192.0.2.1")), "192.0.2.1");
	a = A("192.0.2.1");
	ck_assert(addr_is_v4(&a));
	a = A("2001:db8::1");
	ck_assert(!addr_is_v4(&a));
	ck_assert_str_eq(fmt(a), "2001:db8::1");
	ck_assert_int_eq(addr_parse("", 0, &a), -1);
	ck_assert_int_eq(addr_parse("300.1.1.1", 9, &a), -1);
	ck_assert_int_eq(addr_parse("[::1]", 5, &a), -1);
	ck_assert_int_eq(addr_parse("1.2.3.4:80", 10, &a), -1);
	ck_assert_int_eq(addr_parse("1.2.3.4\0x", 9, &a), -1);
	/* Only len bytes count. */
	ck_assert_int_eq(addr_parse("10.0.0.1junk", 8, &a), 0);
	ck_assert_str_eq(fmt(a), "10.0.0.1");
}
END_TEST

START_TEST(test_cidr_ranges_match_their_members_only)
{
	struct cidr c;
	struct addr a;

	ck_assert_int_eq(cidr_parse("10.0.0.0/8", &c), 0);
	a = A("10.255.1.2");
	ck_assert(cidr_match(&c, &a));
	a = A("11.0.0.1");
	ck_assert(!cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("192.168.1.128/25", &c), 0);
	a = A("192.168.1.200");
	ck_assert(cidr_match(&c, &a));
	a = A("192.168.1.127");
	ck_assert(!cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("127.0.0.1", &c), 0);
	a = A("127.0.0.1");
	ck_assert(cidr_match(&c, &a));
	a = A("127.0.0.2");
	ck_assert(!cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("2001:db8::/32", &c), 0);
	a = A("2001:db8:ffff::1");
	ck_assert(cidr_match(&c, &a));
	a = A("2001:db9::1");
	ck_assert(!cidr_match(&c, &a));
	/* An IPv4 range never takes an IPv6 address, nor the reverse. */
	ck_assert_int_eq(cidr_parse("0.0.0.0/0", &c), 0);
	a = A("::1");
	ck_assert(!cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("::/0", &c), 0);
	a = A("::1");
	ck_assert(cidr_match(&c, &a));
	ck_assert_int_eq(cidr_parse("10.0.0.0/33", &c), -1);
	ck_assert_int_eq(cidr_parse("::/129", &c), -1);
	ck_assert_int_eq(cidr_parse("10.0.0.0/", &c), -1);
	ck_assert_int_eq(cidr_parse("10.0.0.0/8x", &c), -1);
	ck_assert_int_eq(cidr_parse("host/8", &c), -1);
}
END_TEST

START_TEST(test_forwarded_for_is_believed_only_from_trusted_proxies)
{
	struct cidr trusted[2];
	struct addr peer, c;

	ck_assert_int_eq(cidr_parse("127.0.0.1", &trusted[0]), 0);
	ck_assert_int_eq(cidr_parse("10.0.0.0/8", &trusted[1]), 0);
	/* An untrusted peer: the header is ignored. */
	peer = A("198.51.100.9");
	c = addr_client(trusted, 2, &peer, "203.0.113.7");
	ck_assert_str_eq(fmt(c), "198.51.100.9");
	/* A trusted peer: the rightmost untrusted entry. */
	peer = A("127.0.0.1");
	c = addr_client(trusted, 2, &peer, "203.0.113.7");
	ck_assert_str_eq(fmt(c), "203.0.113.7");
	c = addr_client(trusted, 2, &peer, "1.1.1.1, 203.0.113.7, 10.1.1.1");
	ck_assert_str_eq(fmt(c), "203.0.113.7");
	c = addr_client(trusted, 2, &peer, "2001:db8::7 ,\t10.0.0.2");
	ck_assert_str_eq(fmt(c), "2001:db8::7");
	/* Without the header, or with only proxies in it. */
	c = addr_client(trusted, 2, &peer, NULL);
	ck_assert_str_eq(fmt(c), "127.0.0.1");
	c = addr_client(trusted, 2, &peer, "10.0.0.3, 10.0.0.4");
	ck_assert_str_eq(fmt(c), "10.0.0.3");
	/* A malformed entry stops at the last trusted hop. */
	c = addr_client(trusted, 2, &peer, "203.0.113.7, evil, 10.0.0.5");
	ck_assert_str_eq(fmt(c), "10.0.0.5");
	c = addr_client(trusted, 2, &peer, "203.0.113.7,");
	ck_assert_str_eq(fmt(c), "127.0.0.1");
	c = addr_client(trusted, 2, &peer, "");
	ck_assert_str_eq(fmt(c), "127.0.0.1");
}
END_TEST

START_TEST(test_wait_is_a_whole_number_clamped_to_max)
{
	uint64_t ms;

	ck_assert_int_eq(field_wait("0", 60000, &ms), 0);
	ck_assert_uint_eq(ms, 0);
	ck_assert_int_eq(field_wait("25", 60000, &ms), 0);
	ck_assert_uint_eq(ms, 25000);
	ck_assert_int_eq(field_wait("61", 60000, &ms), 0);
	ck_assert_uint_eq(ms, 60000);
	ck_assert_int_eq(field_wait("99999999999999999999999999", 60000, &ms),
	    0);
	ck_assert_uint_eq(ms, 60000);
	ck_assert_int_eq(field_wait("", 60000, &ms), -1);
	ck_assert_int_eq(field_wait("-1", 60000, &ms), -1);
	ck_assert_int_eq(field_wait("1.5", 60000, &ms), -1);
	ck_assert_int_eq(field_wait(" 1", 60000, &ms), -1);
	ck_assert_int_eq(field_wait("abc", 60000, &ms), -1);
}
END_TEST

START_TEST(test_max_is_a_whole_number_of_at_least_1_clamped_to_max_batch)
{
	static const char *const bad[] = { "0", "00", "", "-1", "+1", "1.5",
		" 1", "1 ", "x", "2x", "0x10", "1e3", "\xd9\xa1" };
	unsigned n;
	size_t i;

	ck_assert_int_eq(field_max("1", 32, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(field_max("32", 32, &n), 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_int_eq(field_max("33", 32, &n), 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_int_eq(field_max("007", 32, &n), 0);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_eq(field_max("99999999999999999999999999", 32, &n), 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_int_eq(field_max("1024", 1024, &n), 0);
	ck_assert_uint_eq(n, 1024);
	ck_assert_int_eq(field_max("5", 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 77;
		ck_assert_msg(field_max(bad[i], 32, &n) == -1,
		    "max=\"%s\" accepted", bad[i]);
		ck_assert_uint_eq(n, 77);
	}
	ck_assert_int_eq(field_max(NULL, 32, &n), -1);
}
END_TEST

START_TEST(test_ack_is_a_decimal_id_that_fits_64_bits)
{
	static const char *const bad[] = { "", "-1", "+1", "1.5", " 1", "1 ",
		"x", "0x10", "1e3", "18446744073709551616",
		"99999999999999999999999999" };
	uint64_t id;
	size_t i;

	ck_assert_int_eq(field_ack("0", &id), 0);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(field_ack("1", &id), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(field_ack("9007199254740991", &id), 0);
	ck_assert_uint_eq(id, 9007199254740991ULL);
	ck_assert_int_eq(field_ack("1796305127028587", &id), 0);
	ck_assert_uint_eq(id, 1796305127028587ULL);
	ck_assert_int_eq(field_ack("18446744073709551615", &id), 0);
	ck_assert_uint_eq(id, UINT64_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		id = 77;
		ck_assert_msg(field_ack(bad[i], &id) == -1,
		    "ack=\"%s\" accepted", bad[i]);
		ck_assert_uint_eq(id, 77);
	}
	ck_assert_int_eq(field_ack(NULL, &id), -1);
}
END_TEST

START_TEST(test_content_type_must_fit_a_header)
{
	char long_type[300];

	ck_assert_int_eq(field_content_type("application/sdp"), 0);
	ck_assert_int_eq(field_content_type("text/plain; charset=utf-8"), 0);
	ck_assert_int_eq(field_content_type("a\tb"), -1);
	ck_assert_int_eq(field_content_type("a\x7f"), -1);
	memset(long_type, 'a', sizeof(long_type));
	long_type[255] = '\0';
	ck_assert_int_eq(field_content_type(long_type), 0);
	long_type[255] = 'a';
	long_type[256] = '\0';
	ck_assert_int_eq(field_content_type(long_type), -1);
}
END_TEST

START_TEST(test_pin_is_exactly_digits_decimal_digits)
{
	uint32_t code;

	ck_assert_int_eq(field_pin("482913", 6, &code), 0);
	ck_assert_uint_eq(code, 482913);
	/* Leading zeros are part of the code, not padding to strip. */
	ck_assert_int_eq(field_pin("000042", 6, &code), 0);
	ck_assert_uint_eq(code, 42);
	ck_assert_int_eq(field_pin("000000", 6, &code), 0);
	ck_assert_uint_eq(code, 0);
	/* The ends of pin-digits (4 to 9): 999999999 fits 32 bits. */
	ck_assert_int_eq(field_pin("0000", 4, &code), 0);
	ck_assert_uint_eq(code, 0);
	ck_assert_int_eq(field_pin("9999", 4, &code), 0);
	ck_assert_uint_eq(code, 9999);
	ck_assert_int_eq(field_pin("999999999", 9, &code), 0);
	ck_assert_uint_eq(code, 999999999);
	ck_assert_int_eq(field_pin("000000001", 9, &code), 0);
	ck_assert_uint_eq(code, 1);
}
END_TEST

START_TEST(test_pin_of_another_length_or_with_a_non_digit_is_refused)
{
	static const char *const bad6[] = {
		"", "4", "48291", "4829130", "0482913", "12ab56", "12ab",
		"12 456", " 12345", "12345 ", "+12345", "-12345", "1234.5",
		"1e5000", "0x1234", "12345\t", "12345\x7f", "\xd9\xa1\xd9\xa2",
		"\xef\xbc\x91\xef\xbc\x92", /* fullwidth 1 2: 6 bytes */
		"\xd9\xa1\xd9\xa2\xd9\xa3", /* Arabic-Indic 1 2 3: 6 bytes */
		"123456789012345678901234567890",
	};
	uint32_t code;
	size_t i;

	for (i = 0; i < sizeof(bad6) / sizeof(bad6[0]); i++)
		ck_assert_msg(field_pin(bad6[i], 6, &code) == -1,
		    "X-PIN \"%s\" accepted with pin-digits 6", bad6[i]);
	/* Right for one length, wrong for its neighbours. */
	ck_assert_int_eq(field_pin("1234", 5, &code), -1);
	ck_assert_int_eq(field_pin("1234", 3, &code), -1);
	ck_assert_int_eq(field_pin("123456789", 8, &code), -1);
	ck_assert_int_eq(field_pin("1234567890", 9, &code), -1);
	/* Ten digits would overflow 32 bits: refused, not wrapped. */
	ck_assert_int_eq(field_pin("4294967296", 9, &code), -1);
	ck_assert_int_eq(field_pin("9999999999", 9, &code), -1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("addr");

	tcase_add_test(tc, test_addresses_parse_and_format_both_families);
	tcase_add_test(tc, test_cidr_ranges_match_their_members_only);
	tcase_add_test(tc, test_forwarded_for_is_believed_only_from_trusted_proxies);
	tcase_add_test(tc, test_wait_is_a_whole_number_clamped_to_max);
	tcase_add_test(tc,
	    test_max_is_a_whole_number_of_at_least_1_clamped_to_max_batch);
	tcase_add_test(tc, test_ack_is_a_decimal_id_that_fits_64_bits);
	tcase_add_test(tc, test_content_type_must_fit_a_header);
	tcase_add_test(tc, test_pin_is_exactly_digits_decimal_digits);
	tcase_add_test(tc,
	    test_pin_of_another_length_or_with_a_non_digit_is_refused);
	suite_add_tcase(s, tc);
	return check_run(s);
}
