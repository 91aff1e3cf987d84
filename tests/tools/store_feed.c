/*
 * store_feed DB — test tool: record events into a history database through
 * the real store_sink(), as the runner does.
 *
 * stdin: one JSON object per line, in the shape of events.jsonl:
 *   {"type":"run_started","run_id":"r1","step":null,"iteration":0,"attempt":0, ...data}
 * plus, optionally, "ts_ms" (wall-clock ms) or "ago_s" (seconds before now)
 * for the event time. Every other key is the event's data.
 * Exit 0 when every event was recorded; 1 with the first failure on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "store.h"
#include "strbuf.h"
#include "timeutil.h"

static int type_from_name(const char *name)
{
	for (int t = 0; t < EV__COUNT; t++)
		if (!strcmp(event_type_name((enum ev_type)t), name))
			return t;
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: store_feed DB < events.jsonl\n");
		return 2;
	}
	struct wl_err err = WL_ERR_INIT;
	struct store *st = store_open(argv[1], &err);
	if (!st) {
		fprintf(stderr, "store_feed: %s\n", err.msg);
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;
	while (getline(&line, &cap, stdin) > 0) {
		lineno++;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		cJSON *o = cJSON_Parse(line);
		const cJSON *type = o ? cJSON_GetObjectItemCaseSensitive(o, "type") : NULL;
		int t = cJSON_IsString(type) ? type_from_name(type->valuestring) : -1;
		if (t < 0) {
			fprintf(stderr, "store_feed: line %d: not an event object with a known \"type\"\n", lineno);
			cJSON_Delete(o);
			rc = 1;
			break;
		}
		struct wl_event ev = {(enum ev_type)t, time_wall_ms(), NULL, NULL, 0, 0, cJSON_CreateObject()};
		const cJSON *it;
		cJSON_ArrayForEach(it, o) {
			const char *k = it->string;
			if (!strcmp(k, "type"))
				continue;
			else if (!strcmp(k, "run_id"))
				ev.run_id = cJSON_IsString(it) ? it->valuestring : NULL;
			else if (!strcmp(k, "step"))
				ev.step = cJSON_IsString(it) ? it->valuestring : NULL;
			else if (!strcmp(k, "iteration"))
				ev.iteration = it->valueint;
			else if (!strcmp(k, "attempt"))
				ev.attempt = it->valueint;
			else if (!strcmp(k, "ts_ms"))
				ev.ts_ms = (int64_t)it->valuedouble;
			else if (!strcmp(k, "ago_s"))
				ev.ts_ms = time_wall_ms() - (int64_t)(it->valuedouble * 1000);
			else
				cJSON_AddItemToObject(ev.data, k, cJSON_Duplicate(it, 1));
		}
		store_sink(st, &ev);
		cJSON_Delete(ev.data);
		cJSON_Delete(o);
		if (store_sink_failures(st)) {
			fprintf(stderr, "store_feed: line %d: %s\n", lineno, store_sink_error(st));
			rc = 1;
			break;
		}
	}
	free(line);
	store_close(st);
	return rc;
}
