/*
 * check_json.c - error bodies and JSON log lines, checked by parsing them
 * back with cJSON.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "json.h"

START_TEST(test_error_body_has_code_and_message)
{
	char *s = json_error("inbox_full", "the recipient's inbox is full");
	cJSON *o = cJSON_Parse(s);

	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(cJSON_GetObjectItem(o, "error")->valuestring,
	    "inbox_full");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "message")->valuestring,
	    "the recipient's inbox is full");
	ck_assert_int_eq(cJSON_GetArraySize(o), 2);
	cJSON_Delete(o);
	free(s);
}
END_TEST

START_TEST(test_error_message_is_escaped)
{
	char *s = json_error("bad_request", "quote \" backslash \\ newline \n");
	cJSON *o = cJSON_Parse(s);

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_null(strchr(s, '\n'));
	ck_assert_str_eq(cJSON_GetObjectItem(o, "message")->valuestring,
	    "quote \" backslash \\ newline \n");
	cJSON_Delete(o);
	free(s);
}
END_TEST

START_TEST(test_request_log_line_is_one_json_object)
{
	struct json_request_log r = { "2026-11-23T05:00:00.000Z", "127.0.0.1",
		"GET", "/inbox", "zo\xc3\xab \"x\"", 200, 190, 0.25 };
	char *s = json_log_request(&r);
	cJSON *o = cJSON_Parse(s);

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_null(strchr(s, '\n'));
	ck_assert_str_eq(cJSON_GetObjectItem(o, "user")->valuestring,
	    "zo\xc3\xab \"x\"");
	ck_assert_int_eq(cJSON_GetObjectItem(o, "status")->valueint, 200);
	ck_assert_int_eq(cJSON_GetObjectItem(o, "bytes")->valueint, 190);
	ck_assert(cJSON_GetObjectItem(o, "duration_ms")->valuedouble == 0.25);
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "password"));
	cJSON_Delete(o);
	free(s);
}
END_TEST

START_TEST(test_unauthenticated_request_logs_null_user)
{
	struct json_request_log r = { "t", "::1", "OPTIONS", "/inbox", NULL,
		204, 0, 0 };
	char *s = json_log_request(&r);
	cJSON *o = cJSON_Parse(s);

	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "user")));
	cJSON_Delete(o);
	free(s);
}
END_TEST

START_TEST(test_log_message_line)
{
	char *s = json_log_message("t", "warning", "disk \"full\"");
	cJSON *o = cJSON_Parse(s);

	ck_assert_str_eq(cJSON_GetObjectItem(o, "level")->valuestring,
	    "warning");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "message")->valuestring,
	    "disk \"full\"");
	cJSON_Delete(o);
	free(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");

	tcase_add_test(tc, test_error_body_has_code_and_message);
	tcase_add_test(tc, test_error_message_is_escaped);
	tcase_add_test(tc, test_request_log_line_is_one_json_object);
	tcase_add_test(tc, test_unauthenticated_request_logs_null_user);
	tcase_add_test(tc, test_log_message_line);
	suite_add_tcase(s, tc);
	return check_run(s);
}
