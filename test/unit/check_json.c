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

/* Parse body (a C string) as a POST /rooms body; the 400 message or NULL. */
static const char *
room_request(const char *body, struct json_room_request *rq)
{
	return json_room_request(body, strlen(body), rq);
}

START_TEST(test_room_request_reads_every_key)
{
	struct json_room_request rq;

	ck_assert_ptr_null(room_request(" {\"name\":\"team\",\"password\":"
	    "\"s3cret\",\"ttl\":60,\"max_members\":4,\"invite_only\":false}\n",
	    &rq));
	ck_assert_str_eq(rq.name, "team");
	ck_assert_str_eq(rq.password, "s3cret");
	ck_assert_uint_eq(rq.password_len, 6);
	ck_assert_uint_eq(rq.ttl, 60);
	ck_assert_uint_eq(rq.max_members, 4);
	ck_assert(!rq.invite_only);
	json_room_request_free(&rq);
	ck_assert_ptr_null(rq.name);
	ck_assert_ptr_null(rq.password);
}
END_TEST

START_TEST(test_room_request_empty_body_is_all_defaults)
{
	struct json_room_request rq;

	ck_assert_ptr_null(json_room_request("", 0, &rq));
	ck_assert_ptr_null(rq.name);
	ck_assert_uint_eq(rq.ttl, 0);
	ck_assert_ptr_null(room_request(" \r\n\t", &rq));
	ck_assert_ptr_null(room_request("{}", &rq));
	ck_assert_ptr_null(room_request("{\"invite_only\":true}", &rq));
	ck_assert(rq.invite_only);
	json_room_request_free(&rq);
}
END_TEST

START_TEST(test_room_request_refuses_what_is_not_described)
{
	static const char *const bad[] = {
		"[]", "null", "\"name\"", "{", "{} {}", "{}x",
		"{\"nam\":\"x\"}", "{\"name\":1}", "{\"name\":null}",
		"{\"password\":true}", "{\"ttl\":0}", "{\"ttl\":-5}",
		"{\"ttl\":1.5}", "{\"ttl\":\"60\"}", "{\"ttl\":1e300}",
		"{\"max_members\":0}", "{\"invite_only\":1}",
		"{\"invite_only\":true,\"password\":\"x\"}",
		"{\"name\":\"a\\u0000b\"}", "{\"password\":\"a\\u0000\"}",
	};
	struct json_room_request rq;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(room_request(bad[i], &rq) != NULL,
		    "%s accepted", bad[i]);
		ck_assert_ptr_null(rq.name);
		ck_assert_ptr_null(rq.password);
	}
	/* Not NUL-terminated: only len bytes are read. */
	ck_assert_ptr_null(json_room_request("{}garbage", 2, &rq));
}
END_TEST

START_TEST(test_room_event_has_five_keys)
{
	const char *members[] = { "alice", "bob" };
	struct room_news n = { EVENT_LEFT, "r", "carol", "expired", members,
		2 };
	size_t len = 0;
	char *s = json_room_event(&n, &len);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(len, strlen(s));
	ck_assert_str_eq(s, "{\"event\":\"left\",\"room\":\"r\",\"peer\":"
	    "\"carol\",\"reason\":\"expired\",\"members\":[\"alice\",\"bob\"]}");
	free(s);
	n.event = EVENT_CLOSED;
	n.reason = NULL;
	n.nmembers = 0;
	s = json_room_event(&n, &len);
	ck_assert_str_eq(s, "{\"event\":\"closed\",\"room\":\"r\",\"peer\":"
	    "\"carol\",\"reason\":null,\"members\":[]}");
	free(s);
	n.event = EVENT_NONE;
	ck_assert_ptr_null(json_room_event(&n, &len));
}
END_TEST

START_TEST(test_fanout_lists_delivered_and_failed)
{
	struct roster *ro = malloc(sizeof(*ro) + 3 * sizeof(ro->e[0]));
	char *s;

	ro->n = 3;
	ro->e[0].name = "bob";
	ro->e[0].result = STORE_OK;
	ro->e[1].name = "carol";
	ro->e[1].result = STORE_INBOX_FULL;
	ro->e[2].name = "dave";
	ro->e[2].result = STORE_SERVER_FULL;
	s = json_fanout(ro);
	ck_assert_str_eq(s, "{\"delivered\":[\"bob\"],\"failed\":{\"carol\":"
	    "\"inbox_full\",\"dave\":\"server_full\"}}");
	free(s);
	ro->n = 0;
	ro->expires_in_ms = 1001;
	s = json_fanout(ro);
	ck_assert_str_eq(s, "{\"delivered\":[],\"failed\":{}}");
	free(s);
	s = json_room("r", "tok", ro);
	ck_assert_str_eq(s, "{\"room\":\"r\",\"token\":\"tok\",\"expires_in\":2,"
	    "\"members\":[]}");
	free(s);
	free(ro);
}
END_TEST

START_TEST(test_names_of_a_string_or_an_array)
{
	ck_assert_int_eq(json_names("\"app\"", "app"), 1);
	ck_assert_int_eq(json_names("\"apps\"", "app"), 0);
	ck_assert_int_eq(json_names("[\"x\",\"app\"]", "app"), 1);
	ck_assert_int_eq(json_names("[\"x\"]", "app"), 0);
	ck_assert_int_eq(json_names("[]", "app"), 0);
	ck_assert_int_eq(json_names("[\"app\",1]", "app"), -1);
	ck_assert_int_eq(json_names("7", "app"), -1);
	ck_assert_int_eq(json_names("{\"app\":1}", "app"), -1);
	ck_assert_int_eq(json_names("\"a\\u0070p\"", "app"), 1);
	ck_assert_int_eq(json_names("not json", "app"), -1);
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
	tcase_add_test(tc, test_room_request_reads_every_key);
	tcase_add_test(tc, test_room_request_empty_body_is_all_defaults);
	tcase_add_test(tc, test_room_request_refuses_what_is_not_described);
	tcase_add_test(tc, test_room_event_has_five_keys);
	tcase_add_test(tc, test_fanout_lists_delivered_and_failed);
	tcase_add_test(tc, test_names_of_a_string_or_an_array);
	suite_add_tcase(s, tc);
	return check_run(s);
}
