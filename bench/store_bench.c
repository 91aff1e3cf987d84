/*
 * store_bench — history write cost per iteration (SPEC §11: ≤ 1 ms median).
 *
 *   store_bench write DB N      record N iterations of one step, the events
 *                               the runner emits per iteration, each event
 *                               its own committed transaction (store_sink);
 *                               prints median/p95 per event and per iteration.
 *   store_bench populate DB N   record N complete runs (for `history` timing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "store.h"
#include "timeutil.h"
#include "xalloc.h"

#include "benchclock.h"

static void emit(struct store *st, enum ev_type t, const char *run, const char *step, int it, int attempt,
		 const char *json)
{
	struct wl_event ev = {t, time_wall_ms(), run, step, it, attempt, json ? cJSON_Parse(json) : NULL};
	store_sink(st, &ev);
	cJSON_Delete(ev.data);
}

/* The events of one iteration of an implement -> verify step with a guarded
 * check (3 observations), a verdict with fingerprints and git changes. */
static int one_iteration(struct store *st, const char *run, int it, double *ev_us, int *nev)
{
	static const struct {
		enum ev_type type;
		int attempt;
		const char *json;
	} evs[] = {
		{EV_ITERATION_STARTED, 0, NULL},
		{EV_ATTEMPT_STARTED, 1, "{\"phase\":\"step\"}"},
		{EV_ATTEMPT_FINISHED, 1, "{\"phase\":\"step\",\"exit_code\":0,\"duration_s\":0.2,\"signals_sent\":[]}"},
		{EV_ATTEMPT_STARTED, 1, "{\"phase\":\"completion_check\"}"},
		{EV_OBSERVATION, 1, "{\"seq\":1,\"class\":\"retryable\",\"digest\":\"a1\",\"changed\":true,\"no_progress\":0}"},
		{EV_OBSERVATION, 1, "{\"seq\":2,\"class\":\"retryable\",\"digest\":\"a1\",\"changed\":false,\"no_progress\":1}"},
		{EV_OBSERVATION, 1, "{\"seq\":3,\"class\":\"terminal_fail\",\"digest\":\"b2\",\"changed\":true,\"no_progress\":0,"
				    "\"fingerprints\":[\"kest/control/crd-missing/x\"]}"},
		{EV_WAIT_FINISHED, 1, "{\"phase\":\"completion_check\",\"target\":\"crd/x\",\"outcome\":\"terminal_fail\","
				      "\"elapsed_s\":2.0,\"observations\":3,\"fingerprints\":[\"kest/control/crd-missing/x\"]}"},
		{EV_ATTEMPT_FINISHED, 1, "{\"phase\":\"completion_check\",\"signal\":2,\"signals_sent\":[\"SIGINT\"]}"},
		{EV_ITERATION_FINISHED, 0, "{\"decision\":\"incomplete\",\"source\":\"wait_policy\",\"reasons\":[\"r\"],"
					   "\"fingerprints\":[\"kest/control/crd-missing/x\",\"kest/control/helmrelease-failed/y\"]}"},
		{EV_GIT_CHANGES, 0, "{\"head_before\":\"0123456789abcdef0123456789abcdef01234567\",\"head_after\":"
				    "\"0123456789abcdef0123456789abcdef01234567\",\"branch\":\"main\",\"files\":[{\"path\":"
				    "\"a.c\",\"status\":\"modified\",\"insertions\":3,\"deletions\":1}]}"},
	};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		double t0 = now_us();
		emit(st, evs[i].type, run, "verify", it, evs[i].attempt, evs[i].json);
		ev_us[(*nev)++] = now_us() - t0;
	}
	return (int)(sizeof(evs) / sizeof(evs[0]));
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: store_bench write|populate DB N\n");
		return 2;
	}
	int n = atoi(argv[3]);
	struct wl_err err = WL_ERR_INIT;
	struct store *st = store_open(argv[2], &err);
	if (!st || n <= 0) {
		fprintf(stderr, "store_bench: %s\n", st ? "N must be > 0" : err.msg);
		return 1;
	}
	if (!strcmp(argv[1], "populate")) {
		double dummy[16];
		for (int r = 0; r < n; r++) {
			char run[64];
			snprintf(run, sizeof(run), "20260101T000000Z-%08d", r);
			emit(st, EV_RUN_STARTED, run, NULL, 0, 0, "{\"workflow\":\"bench\",\"pid\":1}");
			emit(st, EV_STEP_STATE, run, "verify", 0, 0, "{\"status\":\"RUNNING\"}");
			int k = 0;
			one_iteration(st, run, 1, dummy, &k);
			emit(st, EV_STEP_STATE, run, "verify", 0, 0, "{\"status\":\"SUCCEEDED\"}");
			emit(st, EV_RUN_FINISHED, run, NULL, 0, 0, "{\"status\":\"SUCCEEDED\",\"exit_code\":0}");
		}
	} else {
		const char *run = "bench-write";
		emit(st, EV_RUN_STARTED, run, NULL, 0, 0, "{\"workflow\":\"bench\"}");
		double *ev_us = xmalloc(sizeof(double) * (size_t)n * 16), *it_us = xmalloc(sizeof(double) * (size_t)n);
		int nev = 0, per = 0;
		for (int i = 0; i < n; i++) {
			int first = nev;
			per = one_iteration(st, run, i + 1, ev_us, &nev);
			it_us[i] = 0;
			for (int k = first; k < nev; k++)
				it_us[i] += ev_us[k];
		}
		qsort(ev_us, (size_t)nev, sizeof(double), cmp_double);
		qsort(it_us, (size_t)n, sizeof(double), cmp_double);
		printf("store write: %d iterations x %d events (one transaction each)\n", n, per);
		printf("  per event:     median %.1f us, p95 %.1f us, max %.1f us\n", ev_us[nev / 2],
		       ev_us[nev * 95 / 100], ev_us[nev - 1]);
		printf("  per iteration: median %.3f ms, p95 %.3f ms\n", it_us[n / 2] / 1000, it_us[n * 95 / 100] / 1000);
		free(ev_us);
		free(it_us);
	}
	int failures = store_sink_failures(st);
	if (failures)
		fprintf(stderr, "store_bench: %d failed writes: %s\n", failures, store_sink_error(st));
	store_close(st);
	return failures ? 1 : 0;
}
