/* progress: the run display reads an observation's class typed (struct
 * wl_event.obs_class), and its two end tables. */
#include "harness.h"

#include <stdlib.h>
#include <unistd.h>

#include "evloop.h"
#include "fsutil.h"
#include "progress.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

/* Everything written to f so far. Caller frees. */
static char *contents(FILE *f)
{
	fflush(f);
	long n = ftell(f);
	char *buf = xcalloc(1, (size_t)(n > 0 ? n : 0) + 1);
	rewind(f);
	size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
	buf[got] = '\0';
	return buf;
}

static void emit(struct progress *p, enum ev_type type, const char *step, enum obs_class cls, const char *json)
{
	struct wl_event ev = {.type = type, .ts_ms = time_wall_ms(), .run_id = "r1", .step = step,
			      .data = json ? cJSON_Parse(json) : NULL, .obs_class = cls};
	progress_sink(p, &ev);
	cJSON_Delete(ev.data);
}

/* One line per event (no TTY): the class comes from the typed field, not from data. */
static void test_observation_line_typed(void)
{
	FILE *f = tmpfile();
	struct evloop *l = evloop_new();
	struct progress_opts o = {.out = f, .verbosity = 0};
	struct progress *p = progress_new(l, &o, NULL);
	emit(p, EV_OBSERVATION, "crd", CLASS_STALLED, "{\"seq\":3,\"no_progress\":6}");
	progress_finish(p);
	char *out = contents(f);
	CHECK_CONTAINS(out, "[crd] observation 3: stalled, no progress 6");
	free(out);
	progress_free(p);
	evloop_free(l);
	fclose(f);
}

/* The live line (TTY): "probe: <class>  no progress N/threshold". */
static void test_live_line_typed(void)
{
	FILE *f = tmpfile();
	struct evloop *l = evloop_new();
	struct progress_opts o = {.out = f, .verbosity = 0, .live = 1};
	struct progress *p = progress_new(l, &o, NULL);
	emit(p, EV_STEP_STATE, "crd", CLASS_UNSET, "{\"status\":\"RUNNING\"}");
	emit(p, EV_ATTEMPT_STARTED, "crd", CLASS_UNSET, "{\"phase\":\"wait\"}");
	emit(p, EV_OBSERVATION, "crd", CLASS_RETRYABLE, "{\"seq\":2,\"no_progress\":2,\"stall_threshold\":6}");
	usleep(300 * 1000);   /* past the redraw period: the next event redraws at once */
	emit(p, EV_ITERATION_STARTED, "other", CLASS_UNSET, "{}");
	char *out = contents(f);
	CHECK_CONTAINS(out, "crd  wait  probe: retryable  no progress 2/6");
	free(out);
	progress_finish(p);
	progress_free(p);
	evloop_free(l);
	fclose(f);
}

static const char summary_json[] =
	"{\"status\":\"FAILED\",\"duration_s\":12.34,\"context_dir\":\"/ws/context\",\"run_id\":\"r1\","
	"\"steps\":[{\"id\":\"build\",\"status\":\"SUCCEEDED\",\"iterations\":1,\"reason\":\"ok\"},"
	"{\"id\":\"test-all\",\"status\":\"FAILED\",\"iterations\":3,\"reason\":\"completion_check failed\"},"
	"{\"id\":\"docs\",\"status\":\"SKIPPED\",\"reason\":\"dependency failed\"},"
	"{\"id\":\"x\",\"status\":\"INCOMPLETE\",\"iterations\":1}]}";

static char *table(int roboppi, int color)
{
	FILE *f = tmpfile();
	cJSON *s = cJSON_Parse(summary_json);
	if (roboppi)
		progress_print_roboppi_table(f, s, color);
	else
		progress_print_table(f, s, color);
	cJSON_Delete(s);
	char *out = contents(f);
	fclose(f);
	return out;
}

static void test_tables(void)
{
	char *t = table(0, 0);
	CHECK_STR(t, "PASS        build (1 iteration)\n"
		     "FAIL        test-all (3 iterations) — completion_check failed\n"
		     "SKIP        docs — dependency failed\n"
		     "INCOMPLETE  x (1 iteration)\n"
		     "Workflow: FAILED (12.3s)\n"
		     "Context: /ws/context\n"
		     "Run: r1\n");
	free(t);
	t = table(1, 0);
	CHECK_STR(t, "\n─── Results ───\n\n"
		     "  PASS  build   \n"
		     "  FAIL  test-all (3 iterations) — completion_check failed\n"
		     "  SKIP  docs    \n"
		     "  INCOMPLETE  x       \n"
		     "\nWorkflow: FAILED  (12.3s)\n"
		     "Context:  /ws/context\n"
		     "Run:      r1\n");
	free(t);
	t = table(0, 1);
	CHECK_CONTAINS(t, "\033[32mPASS      \033[0m  build");
	CHECK_CONTAINS(t, "\033[31mFAIL      \033[0m  test-all");
	free(t);
	t = table(1, 1);
	CHECK_CONTAINS(t, "\033[1m─── Results ───\033[0m");
	CHECK_CONTAINS(t, "  \033[32mPASS\033[0m  build   \n");
	free(t);
}

int main(void)
{
	TEST(test_observation_line_typed);
	TEST(test_live_line_typed);
	TEST(test_tables);
	return tests_done();
}
