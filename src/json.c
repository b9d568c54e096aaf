/*
 * json.c - JSON bodies and log lines through cJSON.
 */
#include <cjson/cJSON.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

#define JSON_WHOLE_MAX 1e15 /* whole numbers above this are refused */

/* Print and free obj; NULL if obj is NULL or printing failed. */
static char *
finish(cJSON *obj)
{
	char *s;

	if (obj == NULL)
		return NULL;
	s = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	return s;
}

/* Add m's body to o as "body", or "body_base64" when it is not text. */
static bool
add_body(cJSON *o, const struct message *m)
{
	gnutls_datum_t in, out;
	const char *body = message_body((struct message *)m);
	char *text;
	bool ok;

	if (utf8_text(body, m->len)) {
		if ((text = malloc(m->len + 1)) == NULL)
			return false;
		memcpy(text, body, m->len);
		text[m->len] = '\0';
		ok = cJSON_AddStringToObject(o, "body", text) != NULL;
		free(text);
		return ok;
	}
	in.data = (unsigned char *)body;
	in.size = m->len;
	if (gnutls_base64_encode2(&in, &out) < 0)
		return false;
	if ((text = malloc(out.size + 1)) != NULL) {
		memcpy(text, out.data, out.size);
		text[out.size] = '\0';
	}
	gnutls_free(out.data);
	if (text == NULL)
		return false;
	ok = cJSON_AddStringToObject(o, "body_base64", text) != NULL;
	free(text);
	return ok;
}

/*
 * A Content-Type as a JSON string: as it is when it is UTF-8, else its
 * bytes read as ISO-8859-1, the obs-text of RFC 9110 section 5.5.
 * Returns v or a malloc'd copy in *copy (free it), NULL when memory ran
 * out.
 */
static const char *
as_utf8(const char *v, char **copy)
{
	const unsigned char *p;
	char *q;

	*copy = NULL;
	if (v == NULL || utf8_text(v, strlen(v)))
		return v;
	if ((*copy = q = malloc(2 * strlen(v) + 1)) == NULL)
		return NULL;
	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x80)
			*q++ = (char)*p;
		else {
			*q++ = (char)(0xc0 | *p >> 6);
			*q++ = (char)(0x80 | (*p & 0x3f));
		}
	*q = '\0';
	return *copy;
}

/* A string member, or null when v is NULL. */
static bool
add_string_or_null(cJSON *o, const char *key, const char *v)
{
	return (v != NULL ? cJSON_AddStringToObject(o, key, v) :
	    cJSON_AddNullToObject(o, key)) != NULL;
}

static bool push(cJSON *a, const char *v);

/* An RTCIceServer of the blank-separated uris, added to a unless empty;
 * returns it (or a, for none), NULL when memory ran out. */
static cJSON *
add_ice_server(cJSON *a, const char *uris)
{
	cJSON *o, *list;
	char buf[1024];
	size_t n;

	if (*(uris += strspn(uris, " \t")) == '\0')
		return a;
	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddItemToArray(a, o);
	if ((list = cJSON_AddArrayToObject(o, "urls")) == NULL)
		return NULL;
	for (; *uris != '\0'; uris += strspn(uris, " \t")) {
		n = strcspn(uris, " \t");
		if (n >= sizeof(buf))
			return NULL;
		memcpy(buf, uris, n);
		buf[n] = '\0';
		uris += n;
		if (!push(list, buf))
			return NULL;
	}
	return o;
}

char *
json_ice(const char *stun, const char *turn, const char *user,
    const char *credential, uint64_t ttl_s)
{
	cJSON *o = cJSON_CreateObject(), *a, *t;

	if (o == NULL || (a = cJSON_AddArrayToObject(o, "iceServers")) == NULL ||
	    add_ice_server(a, stun) == NULL)
		goto fail;
	if (user != NULL) {
		if ((t = add_ice_server(a, turn)) == NULL)
			goto fail;
		if (t != a && (cJSON_AddStringToObject(t, "username", user) ==
		    NULL || cJSON_AddStringToObject(t, "credential",
		    credential) == NULL))
			goto fail;
	}
	if (cJSON_AddNumberToObject(o, "ttl", (double)ttl_s) == NULL)
		goto fail;
	return finish(o);
fail:
	cJSON_Delete(o);
	return NULL;
}

char *
json_batch(const struct message *m, size_t *len)
{
	cJSON *o = cJSON_CreateObject(), *a, *e;
	char *s, *copy, id[24];
	const char *type;
	bool ok;

	if (o == NULL || (a = cJSON_AddArrayToObject(o, "messages")) == NULL)
		goto fail;
	for (; m != NULL; m = m->next) {
		if ((e = cJSON_CreateObject()) == NULL)
			goto fail;
		cJSON_AddItemToArray(a, e);
		/* Every digit, where cJSON's %1.15g could round. */
		snprintf(id, sizeof(id), "%llu", (unsigned long long)m->id);
		type = as_utf8(message_type(m), &copy);
		ok = (type != NULL || message_type(m) == NULL) &&
		    cJSON_AddRawToObject(e, "id", id) != NULL &&
		    cJSON_AddStringToObject(e, "from", message_from(m)) !=
		    NULL && add_string_or_null(e, "type", type) &&
		    add_body(e, m);
		free(copy);
		if (!ok)
			goto fail;
		if (message_room(m) != NULL &&
		    (!add_string_or_null(e, "room", message_room(m)) ||
		    !add_string_or_null(e, "event", message_event(m))))
			goto fail;
	}
	if ((s = finish(o)) != NULL)
		*len = strlen(s);
	return s;
fail:
	cJSON_Delete(o);
	return NULL;
}

char *
json_error(const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "error", code) == NULL ||
	    cJSON_AddStringToObject(o, "message", message) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return finish(o);
}

char *
json_pin(const char *pin, uint64_t expires_in)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "pin", pin) == NULL ||
	    cJSON_AddNumberToObject(o, "expires_in", (double)expires_in) ==
	    NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return finish(o);
}

char *
json_status(const char *status)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "status", status) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return finish(o);
}

char *
json_log_message(const char *time, const char *level, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "time", time) == NULL ||
	    cJSON_AddStringToObject(o, "level", level) == NULL ||
	    cJSON_AddStringToObject(o, "message", message) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return finish(o);
}

char *
json_log_request(const struct json_request_log *r)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || cJSON_AddStringToObject(o, "time", r->time) == NULL ||
	    cJSON_AddStringToObject(o, "client", r->client) == NULL ||
	    cJSON_AddStringToObject(o, "method", r->method) == NULL ||
	    cJSON_AddStringToObject(o, "path", r->path) == NULL ||
	    cJSON_AddNumberToObject(o, "status", r->status) == NULL ||
	    cJSON_AddNumberToObject(o, "bytes", (double)r->bytes) == NULL ||
	    cJSON_AddNumberToObject(o, "duration_ms", r->duration_ms) == NULL ||
	    (r->user != NULL ? cJSON_AddStringToObject(o, "user", r->user)
			     : cJSON_AddNullToObject(o, "user")) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return finish(o);
}

/* A whole number from 1 to JSON_WHOLE_MAX into *v; -1 otherwise. */
static int
whole(const cJSON *item, uint64_t *v)
{
	double d;

	if (!cJSON_IsNumber(item))
		return -1;
	d = item->valuedouble;
	if (!(d >= 1 && d <= JSON_WHOLE_MAX) || floor(d) != d)
		return -1;
	*v = (uint64_t)d;
	return 0;
}

/* Only blanks (RFC 8259 whitespace) in s[0..len). */
static bool
blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (strchr(" \t\r\n", s[i]) == NULL || s[i] == '\0')
			return false;
	return true;
}

/* A copy of a string item, or NULL (and *why set). */
static char *
string_of(const cJSON *item, const char **why, const char *message)
{
	char *s;

	if (!cJSON_IsString(item) || item->valuestring == NULL) {
		*why = message;
		return NULL;
	}
	if ((s = strdup(item->valuestring)) == NULL)
		*why = "out of memory";
	return s;
}

const char *
json_room_request(const char *body, size_t len, struct json_room_request *rq)
{
	const char *why = NULL, *end = NULL;
	cJSON *o, *item;

	memset(rq, 0, sizeof(*rq));
	if (blank(body, len))
		return NULL;
	/* cJSON ends a string at \u0000; a name or password cut short
	 * there would be a different one. */
	if (memmem(body, len, "\\u0000", 6) != NULL)
		return "the body holds a NUL character (\\u0000)";
	o = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (o == NULL || !cJSON_IsObject(o) ||
	    !blank(end, len - (size_t)(end - body))) {
		cJSON_Delete(o);
		return "the body is not a JSON object";
	}
	cJSON_ArrayForEach(item, o) {
		const char *k = item->string;

		if (k == NULL) {
			why = "the body is not a JSON object";
		} else if (strcmp(k, "name") == 0) {
			free(rq->name);
			rq->name = string_of(item, &why,
			    "name must be a string");
		} else if (strcmp(k, "password") == 0) {
			if (rq->password != NULL) {
				wipe(rq->password, rq->password_len);
				free(rq->password);
			}
			rq->password = string_of(item, &why,
			    "password must be a string");
			rq->password_len = rq->password != NULL ?
			    strlen(rq->password) : 0;
		} else if (strcmp(k, "ttl") == 0) {
			if (whole(item, &rq->ttl) == -1)
				why = "ttl must be a whole number of seconds "
				    "from 1";
		} else if (strcmp(k, "max_members") == 0) {
			if (whole(item, &rq->max_members) == -1)
				why = "max_members must be a whole number "
				    "from 1";
		} else if (strcmp(k, "invite_only") == 0) {
			if (!cJSON_IsBool(item))
				why = "invite_only must be true or false";
			else
				rq->invite_only = cJSON_IsTrue(item);
		} else
			why = "unknown key in the body";
		if (why != NULL)
			break;
	}
	if (why == NULL && rq->invite_only && rq->password != NULL)
		why = "an invite_only room has no password";
	cJSON_ArrayForEach(item, o)
		if (cJSON_IsString(item) && item->valuestring != NULL)
			wipe(item->valuestring, strlen(item->valuestring));
	cJSON_Delete(o);
	if (why != NULL)
		json_room_request_free(rq);
	return why;
}

void
json_room_request_free(struct json_room_request *rq)
{
	free(rq->name);
	if (rq->password != NULL) {
		wipe(rq->password, rq->password_len);
		free(rq->password);
	}
	memset(rq, 0, sizeof(*rq));
}

/* Append string v to array a. */
static bool
push(cJSON *a, const char *v)
{
	cJSON *s = cJSON_CreateString(v);

	if (s == NULL || !cJSON_AddItemToArray(a, s)) {
		cJSON_Delete(s);
		return false;
	}
	return true;
}

/* Add an array of names[0..n) to o. */
static bool
add_names(cJSON *o, const char *key, const char *const *names, unsigned n)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	unsigned i;

	for (i = 0; a != NULL && i < n; i++)
		if (!push(a, names[i]))
			return false;
	return a != NULL;
}

char *
json_room(const char *room, const char *token, const struct roster *members)
{
	cJSON *o = cJSON_CreateObject(), *a;
	unsigned i;

	if (o == NULL || cJSON_AddStringToObject(o, "room", room) == NULL ||
	    (token != NULL &&
	    cJSON_AddStringToObject(o, "token", token) == NULL) ||
	    cJSON_AddNumberToObject(o, "expires_in",
	    (double)((members->expires_in_ms + 999) / 1000)) == NULL ||
	    (a = cJSON_AddArrayToObject(o, "members")) == NULL)
		goto fail;
	for (i = 0; i < members->n; i++)
		if (!push(a, members->e[i].name))
			goto fail;
	return finish(o);
fail:
	cJSON_Delete(o);
	return NULL;
}

char *
json_fanout(const struct roster *copies)
{
	cJSON *o = cJSON_CreateObject(), *ok, *failed;
	unsigned i;

	if (o == NULL || (ok = cJSON_AddArrayToObject(o, "delivered")) == NULL ||
	    (failed = cJSON_AddObjectToObject(o, "failed")) == NULL)
		goto fail;
	for (i = 0; i < copies->n; i++) {
		const struct roster_entry *e = &copies->e[i];

		if (e->result == STORE_OK ? !push(ok, e->name) :
		    cJSON_AddStringToObject(failed, e->name,
		    e->result == STORE_INBOX_FULL ? "inbox_full" :
		    "server_full") == NULL)
			goto fail;
	}
	return finish(o);
fail:
	cJSON_Delete(o);
	return NULL;
}

char *
json_room_event(const struct room_news *n, size_t *len)
{
	static const char *const names[] = {
		[EVENT_JOINED] = "joined",
		[EVENT_LEFT] = "left",
		[EVENT_CLOSED] = "closed",
		[EVENT_INVITED] = "invited",
	};
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (o == NULL || n->event <= EVENT_NONE || n->event >= nitems(names) ||
	    cJSON_AddStringToObject(o, "event", names[n->event]) == NULL ||
	    cJSON_AddStringToObject(o, "room", n->room) == NULL ||
	    cJSON_AddStringToObject(o, "peer", n->peer) == NULL ||
	    (n->reason != NULL ?
	    cJSON_AddStringToObject(o, "reason", n->reason) :
	    cJSON_AddNullToObject(o, "reason")) == NULL ||
	    !add_names(o, "members", n->members, n->nmembers)) {
		cJSON_Delete(o);
		return NULL;
	}
	if ((s = finish(o)) != NULL)
		*len = strlen(s);
	return s;
}

int
json_names(const char *text, const char *want)
{
	cJSON *v = cJSON_Parse(text), *e;
	int ret = -1;

	if (v == NULL)
		return -1;
	if (cJSON_IsString(v))
		ret = strcmp(v->valuestring, want) == 0;
	else if (cJSON_IsArray(v)) {
		ret = 0;
		cJSON_ArrayForEach(e, v) {
			if (!cJSON_IsString(e)) {
				ret = -1;
				break;
			}
			if (strcmp(e->valuestring, want) == 0)
				ret = 1;
		}
	}
	cJSON_Delete(v);
	return ret;
}
