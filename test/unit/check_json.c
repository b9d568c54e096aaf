/*
 * check_json.c - error bodies, JSON log lines and the batches of GET
 * /inbox?max=, checked by parsing them back with cJSON or whole.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "json.h"
#include "store.h"

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

/* A message from `from' with type (NULL: none), room (NULL: direct)
 * and event, its body the len bytes at body, its id id. */
static struct message *
mk(const char *from, const char *type, const char *room,
    enum room_event event, const void *body, size_t len, uint64_t id)
{
	struct message *m = message_new_room(from, type, room, event, len);

	ck_assert_ptr_nonnull(m);
	memcpy(message_body(m), body, len);
	m->len = (uint32_t)len;
	m->id = id;
	return m;
}

/* json_batch of the chain m is exactly want, and *len its length. */
static void
batch_is(const struct message *m, const char *want)
{
	size_t len = 12345;
	char *s = json_batch(m, &len);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, want);
	ck_assert_uint_eq(len, strlen(s));
	free(s);
}

START_TEST(test_batch_of_nothing_is_an_empty_list)
{
	batch_is(NULL, "{\"messages\":[]}");
}
END_TEST

START_TEST(test_batch_lists_id_from_type_and_body_oldest_first)
{
	struct message *a = mk("bob", NULL, NULL, EVENT_NONE, "hi", 2, 42);
	struct message *b = mk("carol", "application/sdp", NULL, EVENT_NONE,
	    "v=0\r\n", 5, 43);
	struct message *c = mk("zo\xc3\xab", "text/plain; charset=utf-8",
	    NULL, EVENT_NONE, "", 0, 9007199254740991ULL);

	a->next = b;
	b->next = c;
	c->next = NULL;
	batch_is(a, "{\"messages\":["
	    "{\"id\":42,\"from\":\"bob\",\"type\":null,\"body\":\"hi\"},"
	    "{\"id\":43,\"from\":\"carol\",\"type\":\"application/sdp\","
	    "\"body\":\"v=0\\r\\n\"},"
	    "{\"id\":9007199254740991,\"from\":\"zo\xc3\xab\",\"type\":"
	    "\"text/plain; charset=utf-8\",\"body\":\"\"}]}");
	/* Every digit of a wall-clock id, which %g would round. */
	a->id = 1796305127028587ULL;
	a->next = NULL;
	batch_is(a, "{\"messages\":[{\"id\":1796305127028587,\"from\":\"bob\","
	    "\"type\":null,\"body\":\"hi\"}]}");
	message_free(a);
	message_free(b);
	message_free(c);
}
END_TEST

START_TEST(test_batch_escapes_text_bodies)
{
	static const char body[] = "\"quoted\" \\ \n\t\x01 \xe2\x98\x83 "
	    "\xf0\x9f\x8e\x89 </script>";
	struct message *m = mk("bob", NULL, NULL, EVENT_NONE, body,
	    strlen(body), 7);
	size_t len;
	char *s = json_batch(m, &len);
	cJSON *o, *e;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(strchr(s, '\n'));
	o = cJSON_Parse(s);
	ck_assert_ptr_nonnull(o);
	e = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "messages"), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(e, "body")->valuestring, body);
	ck_assert_ptr_null(cJSON_GetObjectItem(e, "body_base64"));
	cJSON_Delete(o);
	free(s);
	message_free(m);
}
END_TEST

START_TEST(test_batch_gives_what_is_not_utf8_text_as_body_base64)
{
	static const struct {
		const char *body;
		size_t len;
		const char *b64;
	} cases[] = {
		{ "\x00", 1, "AA==" },
		{ "a\x00" "b", 3, "YQBi" },
		{ "\xff\xfe", 2, "//4=" },
		{ "\xc0\xaf", 2, "wK8=" },          /* overlong '/' */
		{ "\xe0\x80\xaf", 3, "4ICv" },      /* overlong, 3 bytes */
		{ "\xed\xa0\x80", 3, "7aCA" },      /* a surrogate */
		{ "\xf4\x90\x80\x80", 4, "9JCAgA==" }, /* past U+10FFFF */
		{ "caf\xc3", 4, "Y2Fmww==" },       /* cut short */
		{ "\x80", 1, "gA==" },              /* a lone continuation */
	};
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct message *m = mk("bob", NULL, NULL, EVENT_NONE,
		    cases[i].body, cases[i].len, 1);

		snprintf(want, sizeof(want), "{\"messages\":[{\"id\":1,"
		    "\"from\":\"bob\",\"type\":null,\"body_base64\":\"%s\"}]}",
		    cases[i].b64);
		batch_is(m, want);
		message_free(m);
	}
}
END_TEST

START_TEST(test_batch_adds_room_and_event_to_room_messages)
{
	static const char ev[] = "{\"event\":\"joined\"}";
	struct message *copy = mk("bob", "text/plain", "r1", EVENT_NONE,
	    "hello", 5, 10);
	struct message *join = mk("carol", "application/json", "r1",
	    EVENT_JOINED, ev, strlen(ev), 11);
	struct message *left = mk("dave", "application/json", "r\xc3\xa9",
	    EVENT_LEFT, "\xff", 1, 12);
	struct message *direct = mk("erin", NULL, NULL, EVENT_NONE, "x", 1,
	    13);

	copy->next = join;
	join->next = left;
	left->next = direct;
	direct->next = NULL;
	batch_is(copy, "{\"messages\":["
	    "{\"id\":10,\"from\":\"bob\",\"type\":\"text/plain\","
	    "\"body\":\"hello\",\"room\":\"r1\",\"event\":null},"
	    "{\"id\":11,\"from\":\"carol\",\"type\":\"application/json\","
	    "\"body\":\"{\\\"event\\\":\\\"joined\\\"}\",\"room\":\"r1\","
	    "\"event\":\"joined\"},"
	    "{\"id\":12,\"from\":\"dave\",\"type\":\"application/json\","
	    "\"body_base64\":\"/w==\",\"room\":\"r\xc3\xa9\",\"event\":\"left\"},"
	    "{\"id\":13,\"from\":\"erin\",\"type\":null,\"body\":\"x\"}]}");
	message_free(copy);
	message_free(join);
	message_free(left);
	message_free(direct);
}
END_TEST

/* True when the n bytes at s are UTF-8 (RFC 3629). */
static int
is_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, k, len;
	unsigned long cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			len = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			len = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}

/*
 * A sender's Content-Type is any header value without control characters
 * (field_content_type), so it may hold bytes 0x80-0xFF that are not
 * UTF-8; JSON text must be UTF-8 (RFC 8259 section 8.1): such a type is
 * read as ISO-8859-1 (json.h), and one that is UTF-8 stays as it is.
 */
START_TEST(test_batch_is_utf8_whatever_the_content_type)
{
	struct message *m = mk("bob", "text/plain; title=caf\xe9", NULL,
	    EVENT_NONE, "hi", 2, 1);
	struct message *u = mk("bob", "text/plain; title=caf\xc3\xa9", NULL,
	    EVENT_NONE, "hi", 2, 2);
	struct message *x = mk("bob", "a\xff\x80\xc3", NULL, EVENT_NONE, "",
	    0, 3);
	size_t len;
	char *s;

	m->next = u;
	u->next = x;
	x->next = NULL;
	s = json_batch(m, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_msg(is_utf8((const unsigned char *)s, len),
	    "json_batch is not UTF-8: %s", s);
	ck_assert_str_eq(s, "{\"messages\":["
	    "{\"id\":1,\"from\":\"bob\",\"type\":\"text/plain; title=caf"
	    "\xc3\xa9\",\"body\":\"hi\"},"
	    "{\"id\":2,\"from\":\"bob\",\"type\":\"text/plain; title=caf"
	    "\xc3\xa9\",\"body\":\"hi\"},"
	    "{\"id\":3,\"from\":\"bob\",\"type\":\"a\xc3\xbf\xc2\x80"
	    "\xc3\x83\",\"body\":\"\"}]}");
	free(s);
	message_free(m);
	message_free(u);
	message_free(x);
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
	tcase_add_test(tc, test_batch_of_nothing_is_an_empty_list);
	tcase_add_test(tc, test_batch_lists_id_from_type_and_body_oldest_first);
	tcase_add_test(tc, test_batch_escapes_text_bodies);
	tcase_add_test(tc,
	    test_batch_gives_what_is_not_utf8_text_as_body_base64);
	tcase_add_test(tc, test_batch_adds_room_and_event_to_room_messages);
	tcase_add_test(tc, test_batch_is_utf8_whatever_the_content_type);
	suite_add_tcase(s, tc);
	return check_run(s);
}
