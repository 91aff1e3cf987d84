/*
 * notify_replay DB WORKFLOW.yaml CWD < events.jsonl — test tool: re-run the
 * recording of a run (its events.jsonl) through the real notifier, wired as
 * `waitloop run` wires it (claims in the history database DB, results
 * recorded there by store_sink), in a new process. This is what a runner
 * that crashed and replays its events would do: every delivery already
 * claimed must come out as duplicate_suppressed.
 *
 * Prints one line per delivery result: "<event> <target> <reason>".
 * Exit 0, or 1 on a setup error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "loader.h"
#include "evloop.h"
#include "notify.h"
#include "store.h"
#include "timeutil.h"

static int claim(void *ctx, const char *run_id, const char *event, const char *step, int iteration,
		 const char *target)
{
	struct wl_err err = WL_ERR_INIT;
	return store_notification_claim(ctx, run_id, event, step, iteration, target, &err);
}

static void print_result(void *ctx, const struct wl_event *ev)
{
	(void)ctx;
	if (ev->type != EV_NOTIFY)
		return;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev->data, "event");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev->data, "target");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(ev->data, "reason");
	printf("%s %s %s\n", cJSON_IsString(e) ? e->valuestring : "?", cJSON_IsString(t) ? t->valuestring : "?",
	       cJSON_IsString(r) ? r->valuestring : "?");
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: notify_replay DB WORKFLOW.yaml CWD < events.jsonl\n");
		return 2;
	}
	struct errlist diags = ERRLIST_INIT;
	struct wl_workflow *wf = loader_load(argv[2], &diags);
	errlist_print(&diags, stderr);
	errlist_release(&diags);
	if (!wf)
		return 1;
	struct wl_err err = WL_ERR_INIT;
	struct store *st = store_open(argv[1], &err);
	if (!st) {
		fprintf(stderr, "notify_replay: %s\n", err.msg);
		workflow_free(wf);
		return 1;
	}
	struct evloop *l = evloop_new();
	struct event_bus bus = EVENT_BUS_INIT;
	struct notify_options o = NOTIFY_OPTIONS_INIT;
	o.loop = l;
	o.bus = &bus;
	o.cwd = argv[3];
	o.claim = claim;
	o.claim_ctx = st;
	struct notifier *n = notify_new(&wf->notify, &o, &err);
	if (!n) {
		fprintf(stderr, "notify_replay: %s\n", err.msg);
		return 1;
	}
	bus_subscribe(&bus, store_sink, st);
	bus_subscribe(&bus, print_result, NULL);
	bus_subscribe(&bus, notify_sink, n);

	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		cJSON *obj = cJSON_Parse(line);
		struct wl_event ev;
		if (!obj || event_from_json(obj, &ev) < 0) {
			cJSON_Delete(obj);
			continue;
		}
		if (ev.type == EV_NOTIFY) {   /* results of the original run are not replayed */
			cJSON_Delete(ev.data);
			cJSON_Delete(obj);
			continue;
		}
		bus_emit(&bus, &ev);
		cJSON_Delete(ev.data);
		cJSON_Delete(obj);
		/* let queued results reach the bus between events, as the runner's loop does */
		notify_drain(n);
	}
	free(line);
	notify_drain(n);
	notify_free(n);
	evloop_free(l);
	store_close(st);
	workflow_free(wf);
	fflush(stdout);
	return 0;
}
