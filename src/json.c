/*
 * json.c - JSON bodies and log lines through cJSON.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "json.h"

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
