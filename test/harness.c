/*
 * harness.c - Check-aware helpers shared by the integration suites (see
 * harness.h).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

void
sleep_ms(long ms)
{
	poll(NULL, 0, (int)ms);
}

int
cluster_mode(void)
{
	const char *v = getenv("INBOXD_CLUSTER");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

int
cluster_skip(const char *test, const char *why)
{
	size_t n = strlen(test);

	if (!cluster_mode())
		return 0;
	/* START_TEST(name) makes a function name_fn. */
	if (n > 3 && strcmp(test + n - 3, "_fn") == 0)
		n -= 3;
	printf("%.*s: skipped in cluster mode: %s\n", (int)n, test, why);
	fflush(stdout);
	return 1;
}

void
start_cluster(struct inboxd *d, const char *conf, int flags)
{
	char text[4096];
	const char *why = "";

	snprintf(text, sizeof(text), "%s%s", FAST, conf);
	ck_assert_msg(cluster_start(d, text, flags, &why) == 0,
	    "the cluster did not start: %s", why);
}

void
start(struct inboxd *d, const char *conf)
{
	char text[4096];

	if (cluster_mode()) {
		start_cluster(d, conf, 0);
		return;
	}
	snprintf(text, sizeof(text), "%s%s", FAST, conf);
	ck_assert_msg(inboxd_start(d, text) == 0,
	    "inboxd did not start; see %s", d->log);
}

void
start_on(struct inboxd *d, const char *conf, const char *listen)
{
	char text[4096];

	snprintf(text, sizeof(text), "%s%s", FAST, conf);
	ck_assert_msg(inboxd_start_on(d, text, listen) == 0,
	    "inboxd did not start on %s; see %s", listen, d->log);
}

void
stop(struct inboxd *d)
{
	ck_assert_msg(inboxd_stop(d) == 0,
	    "inboxd did not exit with status 0; see %s", d->log);
	inboxd_cleanup(d);
}

int
req(struct inboxd *d, const char *method, const char *target,
    const char *user, const char *password, const char *extra,
    const void *body, size_t len, struct response *r)
{
	return client_request(cluster_next_port(d), method, target, user,
	    password, extra, body, len, r);
}

int
get(struct inboxd *d, const char *user, const char *password,
    const char *target, struct response *r)
{
	return req(d, "GET", target, user, password, NULL, NULL, 0, r);
}

int
send_to(struct inboxd *d, const char *from, const char *password,
    const char *to, const char *type, const void *body, size_t len,
    struct response *r)
{
	char target[1024], extra[512] = "";

	snprintf(target, sizeof(target), "/inbox?to=%s", to);
	if (type != NULL)
		snprintf(extra, sizeof(extra), "Content-Type: %s\r\n", type);
	return req(d, "POST", target, from, password, extra, body, len, r);
}

void
contact(struct inboxd *d, const char *user, const char *password)
{
	ck_assert_int_eq(get(d, user, password, "/inbox?wait=0", NULL), 204);
}

void
assert_error(const struct response *r, int status, const char *code)
{
	const char *type;
	cJSON *j, *e;

	ck_assert_msg(r->status == status, "status %d, expected %d:\n%s%s",
	    r->status, status, r->head, r->body ? r->body : "");
	type = response_header(r, "Content-Type");
	ck_assert_msg(type != NULL &&
	    strncasecmp(type, "application/json", 16) == 0,
	    "error Content-Type is %s", type ? type : "(none)");
	j = cJSON_ParseWithLength(r->body, r->body_len);
	ck_assert_msg(j != NULL, "error body is not JSON: %s", r->body);
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	ck_assert_msg(cJSON_IsString(e) && strcmp(e->valuestring, code) == 0,
	    "error code is not %s: %s", code, r->body);
	cJSON_Delete(j);
}

/* The value of series in a Prometheus text body, or -1. */
static long long
series_value(const char *body, const char *series)
{
	size_t n = strlen(series);
	const char *line;

	for (line = body; line != NULL && *line != '\0';
	    line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (line[0] != '#' && strncmp(line, series, n) == 0 &&
		    line[n] == ' ')
			return strtoll(line + n + 1, NULL, 10);
	}
	return -1;
}

long long
node_metric_from(unsigned port, const char *src, const char *series)
{
	struct response r;
	long long v;
	int status;

	status = client_request_from(port, src, "GET", "/metrics", NULL,
	    NULL, NULL, NULL, 0, &r);
	ck_assert_msg(status == 200, "GET /metrics of port %u from %s: "
	    "status %d", port, src ? src : "127.0.0.1", status);
	v = series_value(r.body, series);
	response_free(&r);
	return v;
}

/*
 * The series a node counts for itself, in cluster mode too: every
 * counter (requests, failures, hashes, and the store's: each node
 * exports its own, include/redis.h) and the client addresses.  Every
 * other series comes from the store, and the Redis store gives the
 * cluster's figures, the same on every node, but for the other nodes'
 * held GETs, which a node learns from their heartbeats (a second late at
 * most).  Inboxes expired are the cluster's too: those made less those
 * that live.
 */
static int
node_local(const char *series)
{
	const char *brace = strchr(series, '{');
	size_t n = brace != NULL ? (size_t)(brace - series) : strlen(series);

	if (strncmp(series, "inboxd_inboxes_expired_total", n) == 0 &&
	    n == strlen("inboxd_inboxes_expired_total"))
		return 0;
	return (n > 6 && strncmp(series + n - 6, "_total", 6) == 0) ||
	    strcmp(series, "inboxd_tracked_addresses") == 0;
}

/*
 * Does the series come from a node's walk over every inbox in Redis
 * (include/redis.h), so that it may lag what was just done?
 */
static int
walk_gauge(const char *series)
{
	static const char *const walked[] = { "inboxd_inboxes",
		"inboxd_messages_queued", "inboxd_queued_bytes",
		"inboxd_memory_bytes", "inboxd_inboxes_expired_total" };
	size_t i;

	for (i = 0; i < sizeof(walked) / sizeof(walked[0]); i++)
		if (strcmp(series, walked[i]) == 0)
			return 1;
	return 0;
}

/* How long a node may take for two walks over every inbox. */
#define WALK_MS 5000

/* Wait until every live node has made two walks since now. */
static void
wait_walks(struct inboxd *d, const char *src)
{
	long long seen[CLUSTER_NODES];
	long deadline = client_now_ms() + WALK_MS;
	int i;

	for (i = 0; i < CLUSTER_NODES; i++)
		seen[i] = d->cluster->node[i].pid > 0 ?
		    node_metric_from(d->cluster->node[i].port, src,
		    "inboxd_gauge_walks_total") : -1;
	for (i = 0; i < CLUSTER_NODES; i++) {
		while (seen[i] != -1 && node_metric_from(
		    d->cluster->node[i].port, src, "inboxd_gauge_walks_total") <
		    seen[i] + 2) {
			ck_assert_msg(client_now_ms() < deadline, "node %d made "
			    "no walk over the inboxes in %d ms", i, WALK_MS);
			sleep_ms(20);
		}
	}
}

/* How long the nodes may disagree on a series of the cluster's. */
#define AGREE_MS 3000

long long
metric_from(struct inboxd *d, const char *src, const char *series)
{
	long long v[CLUSTER_NODES], sum = -1;
	long deadline = client_now_ms() + AGREE_MS;
	int i, agree;

	if (d->cluster == NULL)
		return node_metric_from(d->port, src, series);
	if (node_local(series)) {
		/* The nodes' own counts add up. */
		for (i = 0; i < CLUSTER_NODES; i++) {
			if (d->cluster->node[i].pid <= 0)
				continue; /* a node the test killed */
			v[0] = node_metric_from(d->cluster->node[i].port, src,
			    series);
			if (v[0] != -1)
				sum = sum == -1 ? v[0] : sum + v[0];
		}
		return sum;
	}
	/* The cluster's: once every live node says the same. */
	if (walk_gauge(series))
		wait_walks(d, src);
	for (;;) {
		int first = -1;

		for (i = 0, agree = 1; i < CLUSTER_NODES; i++) {
			if (d->cluster->node[i].pid <= 0)
				continue;
			v[i] = node_metric_from(d->cluster->node[i].port, src,
			    series);
			if (first == -1)
				first = i;
			agree &= v[i] == v[first];
		}
		ck_assert_msg(first != -1, "no node runs");
		sum = v[first];
		if (agree || client_now_ms() >= deadline)
			break;
		sleep_ms(20);
	}
	ck_assert_msg(agree, "the nodes disagree on %s for %d ms: %lld and "
	    "%lld", series, AGREE_MS, v[0], v[1]);
	return sum;
}

long long
metric(struct inboxd *d, const char *series)
{
	return metric_from(d, NULL, series);
}

void
wait_metric(struct inboxd *d, const char *series, long long value,
    int timeout_ms)
{
	long deadline = client_now_ms() + timeout_ms;
	long long v;

	while ((v = metric(d, series)) != value &&
	    client_now_ms() < deadline)
		sleep_ms(5);
	ck_assert_msg(v == value, "%s is %lld after %d ms, expected %lld",
	    series, v, timeout_ms, value);
}

TCase *
tcase(Suite *s, const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

void
sleep_until(long at)
{
	long left;

	while ((left = at - client_now_ms()) > 0)
		sleep_ms(left);
}

int
has_token(const char *list, const char *token)
{
	size_t n = strlen(token);
	const char *p = list;

	if (list == NULL)
		return 0;
	while (*p != '\0') {
		const char *end;
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == n && strncasecmp(p, token, n) == 0)
			return 1;
		p = end;
	}
	return 0;
}

void
assert_cors(const struct response *r)
{
	const char *v;

	v = response_header(r, "Access-Control-Allow-Origin");
	ck_assert_msg(v != NULL && strcmp(v, "*") == 0,
	    "Access-Control-Allow-Origin is not `*' in:\n%s", r->head);
	v = response_header(r, "Access-Control-Expose-Headers");
	ck_assert_msg(v != NULL, "no Access-Control-Expose-Headers in:\n%s",
	    r->head);
	ck_assert_msg(has_token(v, "X-To"), "X-To is not exposed: %s", v);
	ck_assert(has_token(v, "X-From"));
	ck_assert(has_token(v, "X-Message-Id"));
	ck_assert(has_token(v, "Retry-After"));
}

void
assert_error_full(const struct response *r, int status, const char *code)
{
	cJSON *j, *m;

	assert_error(r, status, code);
	j = cJSON_ParseWithLength(r->body, r->body_len);
	m = cJSON_GetObjectItemCaseSensitive(j, "message");
	ck_assert_msg(cJSON_IsString(m) && m->valuestring[0] != '\0',
	    "error body has no message: %s", r->body);
	cJSON_Delete(j);
	assert_cors(r);
}

long
retry_after(const struct response *r)
{
	const char *v = response_header(r, "Retry-After");
	char *end;
	long n;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	n = strtol(v, &end, 10);
	return *end == '\0' ? n : -1;
}
