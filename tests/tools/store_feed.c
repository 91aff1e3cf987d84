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
		struct wl_event ev;
		if (!o || event_from_json(o, &ev) < 0) {
			fprintf(stderr, "store_feed: line %d: not an event object with a known \"type\"\n", lineno);
			cJSON_Delete(o);
			rc = 1;
			break;
		}
		/* Test-only time controls: an absolute ts_ms, or ago_s seconds back. */
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(ev.data, "ts_ms");
		const cJSON *ago = cJSON_GetObjectItemCaseSensitive(ev.data, "ago_s");
		if (cJSON_IsNumber(ts))
			ev.ts_ms = (int64_t)ts->valuedouble;
		if (cJSON_IsNumber(ago))
			ev.ts_ms = time_wall_ms() - (int64_t)(ago->valuedouble * 1000);
		cJSON_DeleteItemFromObjectCaseSensitive(ev.data, "ts_ms");
		cJSON_DeleteItemFromObjectCaseSensitive(ev.data, "ago_s");
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
