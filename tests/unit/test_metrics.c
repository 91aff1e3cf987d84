/*
 * metrics: the Prometheus text file written from bus events, checked line
 * by line and by promtool itself (`promtool check metrics`; promtool comes
 * from the Debian package prometheus; absent promtool is a failure).
 * Usage: test_metrics [KEEP_DIR] — with KEEP_DIR the produced file is also
 * copied to KEEP_DIR/waitloop.prom (tests/e2e/test_promtool.sh uses it).
 */
/* timeout: 60 */
#include "harness.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"
#include "fsutil.h"
#include "metrics.h"
#include "strbuf.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-metrics.XXXXXX";
static const char *keep_dir;

static char *slurp(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	if (fs_read_file(path, 1 << 20, &sb, NULL) < 0) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}

static void emit(struct event_bus *bus, enum ev_type t, const char *step, int iteration, int64_t ts,
		 const char *json)
{
	struct wl_event ev = {t, ts, "run-1", step, iteration, 0, json ? cJSON_Parse(json) : NULL, CLASS_UNSET};
	if (json && !ev.data)
		fprintf(stderr, "  bad test json: %s\n", json);
	bus_emit(bus, &ev);
	cJSON_Delete(ev.data);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

/* 0 = promtool accepted the file; prints promtool's complaint otherwise. */
static int promtool_check(const char *path)
{
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		fprintf(stderr, "  promtool not found (Debian package 'prometheus'; make test installs it)\n");
		return -1;
	}
	char *cmd = xasprintf("promtool check metrics < '%s' 2>&1", path);
	int rc = system(cmd);
	free(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void run_scenario(struct event_bus *bus)
{
	const int64_t t0 = 1732165800000;   /* 2024-11-21T05:10:00Z */
	emit(bus, EV_RUN_STARTED, NULL, 0, t0, "{\"workflow\":\"demo\"}");
	emit(bus, EV_STEP_STATE, "deploy", 0, t0 + 100, "{\"status\":\"PENDING\"}");
	emit(bus, EV_STEP_STATE, "deploy", 0, t0 + 1000, "{\"status\":\"RUNNING\"}");
	emit(bus, EV_OBSERVATION, "deploy", 1, t0 + 2000, "{\"seq\":1,\"class\":\"retryable\"}");
	emit(bus, EV_WAIT_FINISHED, "deploy", 1, t0 + 3000,
	     "{\"outcome\":\"met\",\"elapsed_s\":2.0,\"observations\":2}");
	emit(bus, EV_WAIT_FINISHED, "deploy", 1, t0 + 4000,
	     "{\"outcome\":\"terminal_fail\",\"elapsed_s\":0.5,\"early_abort\":true}");
	/* an early_abort line of an old events.jsonl: already counted from its wait_finished */
	emit(bus, EV_EARLY_ABORT, "deploy", 1, t0 + 4000,
	     "{\"outcome\":\"terminal_fail\",\"elapsed_s\":0.5,\"fingerprints\":[\"x\"]}");
	emit(bus, EV_ITERATION_FINISHED, "deploy", 1, t0 + 5000, "{\"decision\":\"incomplete\",\"consecutive_failures\":1}");
	emit(bus, EV_ITERATION_FINISHED, "deploy", 2, t0 + 6000, "{\"decision\":\"incomplete\",\"consecutive_failures\":2}");
	emit(bus, EV_ALERT, "deploy", 2, t0 + 6000,
	     "{\"consecutive_failures\":2,\"threshold\":2,\"reason\":\"iteration incomplete\"}");
	emit(bus, EV_NOTIFY, "deploy", 2, t0 + 6100,
	     "{\"target\":\"inbox\",\"event\":\"alert\",\"reason\":\"delivered\"}");
	emit(bus, EV_NOTIFY, "deploy", 2, t0 + 6200,
	     "{\"target\":\"peer \\\"q\\\" \\\\x\",\"event\":\"alert\",\"reason\":\"timed_out\"}");
	/* a careless emitter putting free text with a secret into a reason */
	emit(bus, EV_NOTIFY, NULL, 0, t0 + 6300,
	     "{\"target\":\"inbox\",\"event\":\"run_finished\",\"reason\":\"token=hunter2 \\\"x\\\"\\nboom\"}");
	emit(bus, EV_STEP_STATE, "deploy", 0, t0 + 7500, "{\"status\":\"FAILED\"}");
	emit(bus, EV_STEP_STATE, "notes", 0, t0 + 7600, "{\"status\":\"SKIPPED\"}");
	emit(bus, EV_RUN_FINISHED, NULL, 0, t0 + 8000, "{\"status\":\"FAILED\",\"duration_s\":8.0,\"exit_code\":1}");
}

static void test_metrics_scenario(void)
{
	char *path = fs_join(tmpdir, "waitloop.prom");
	struct metrics *m = metrics_new(path);
	struct event_bus bus = EVENT_BUS_INIT;
	bus_subscribe(&bus, metrics_sink, m);

	/* written at the first state change, not only at the end */
	emit(&bus, EV_RUN_STARTED, NULL, 0, 1732165700000, NULL);
	char *early = slurp(path);
	CHECK_CONTAINS(early, "waitloop_last_run_timestamp_seconds{status=\"RUNNING\"} 1732165700\n");
	free(early);

	run_scenario(&bus);
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(metrics_flush(m, &err), 0);
	char *s = slurp(path);
	CHECK_CONTAINS(s, "# HELP waitloop_run_duration_seconds ");
	CHECK_CONTAINS(s, "# TYPE waitloop_run_duration_seconds gauge\nwaitloop_run_duration_seconds 8\n");
	CHECK_CONTAINS(s, "waitloop_step_duration_seconds{step=\"deploy\"} 6.5\n");
	CHECK_CONTAINS(s, "waitloop_step_duration_seconds{step=\"notes\"} 0\n");
	CHECK_CONTAINS(s, "# TYPE waitloop_iterations_total counter\nwaitloop_iterations_total{step=\"deploy\"} 2\n");
	CHECK_CONTAINS(s, "waitloop_waits_total{step=\"deploy\",outcome=\"met\"} 1\n");
	CHECK_CONTAINS(s, "waitloop_waits_total{step=\"deploy\",outcome=\"terminal_fail\"} 1\n");
	CHECK_CONTAINS(s, "# TYPE waitloop_wait_seconds summary\n");
	CHECK_CONTAINS(s, "waitloop_wait_seconds_sum{step=\"deploy\"} 2.5\n");
	CHECK_CONTAINS(s, "waitloop_wait_seconds_count{step=\"deploy\"} 2\n");
	CHECK_CONTAINS(s, "waitloop_early_aborts_total{step=\"deploy\",reason=\"terminal_fail\"} 1\n");
	CHECK_CONTAINS(s, "waitloop_consecutive_failures{step=\"deploy\"} 2\n");
	CHECK_CONTAINS(s, "waitloop_consecutive_failures{step=\"notes\"} 0\n");
	CHECK_CONTAINS(s, "waitloop_alerts_total{step=\"deploy\"} 1\n");
	CHECK_CONTAINS(s, "waitloop_alerts_total{step=\"notes\"} 0\n");
	CHECK_CONTAINS(s, "waitloop_notifications_total{target=\"inbox\",reason=\"delivered\"} 1\n");
	/* label values escaped */
	CHECK_CONTAINS(s, "waitloop_notifications_total{target=\"peer \\\"q\\\" \\\\x\",reason=\"timed_out\"} 1\n");
	/* free text never becomes a label: reduced to a safe word */
	CHECK(!strstr(s, "hunter2"));
	CHECK(!strstr(s, "boom"));
	CHECK_CONTAINS(s, "waitloop_notifications_total{target=\"inbox\",reason=\"other\"} 1\n");
	CHECK_CONTAINS(s, "waitloop_last_run_timestamp_seconds{status=\"FAILED\"} 1732165808\n");
	CHECK(!strstr(s, "status=\"RUNNING\""));
	/* each family's HELP/TYPE exactly once */
	const char *p = s;
	int types = 0;
	while ((p = strstr(p, "# TYPE ")))
		types++, p++;
	CHECK_INT(types, 11);
	CHECK_CONTAINS(s, "# TYPE waitloop_suspected_false_aborts_total counter\n");
	/* atomic writes leave no temporary file behind */
	CHECK_INT(count_entries(tmpdir), 1);
	CHECK_INT(promtool_check(path), 0);
	if (keep_dir) {
		char *dst = fs_join(keep_dir, "waitloop.prom");
		CHECK_INT(fs_write_atomic(dst, s, strlen(s), NULL), 0);
		free(dst);
	}
	free(s);
	metrics_free(m);

	/* the next run carries FAILED's timestamp over and adds its own */
	m = metrics_new(path);
	struct event_bus bus2 = EVENT_BUS_INIT;
	bus_subscribe(&bus2, metrics_sink, m);
	emit(&bus2, EV_RUN_STARTED, NULL, 0, 1732170000000, NULL);
	s = slurp(path);
	CHECK_CONTAINS(s, "waitloop_last_run_timestamp_seconds{status=\"FAILED\"} 1732165808\n");
	CHECK_CONTAINS(s, "waitloop_last_run_timestamp_seconds{status=\"RUNNING\"} 1732170000\n");
	CHECK(!strstr(s, "step=\"deploy\""));   /* counters are per run */
	free(s);
	emit(&bus2, EV_RUN_FINISHED, NULL, 0, 1732170004500, "{\"status\":\"SUCCEEDED\"}");
	s = slurp(path);
	CHECK_CONTAINS(s, "waitloop_run_duration_seconds 4.5\n");
	CHECK_CONTAINS(s, "waitloop_last_run_timestamp_seconds{status=\"FAILED\"} 1732165808\n");
	CHECK_CONTAINS(s, "waitloop_last_run_timestamp_seconds{status=\"SUCCEEDED\"} 1732170004.5\n");
	CHECK(!strstr(s, "status=\"RUNNING\""));
	CHECK_INT(promtool_check(path), 0);
	free(s);
	metrics_free(m);
	free(path);
}

static void test_metrics_running_durations_and_setter(void)
{
	char *path = fs_join(tmpdir, "running.prom");
	struct metrics *m = metrics_new(path);
	struct event_bus bus = EVENT_BUS_INIT;
	bus_subscribe(&bus, metrics_sink, m);
	emit(&bus, EV_RUN_STARTED, NULL, 0, 1000000, NULL);
	emit(&bus, EV_STEP_STATE, "build", 0, 1001000, "{\"status\":\"RUNNING\"}");
	emit(&bus, EV_ATTEMPT_FINISHED, "build", 0, 1004000, "{\"exit_code\":1,\"consecutive_failures\":3}");
	char *s = slurp(path);
	CHECK_CONTAINS(s, "waitloop_run_duration_seconds 4\n");
	CHECK_CONTAINS(s, "waitloop_step_duration_seconds{step=\"build\"} 3\n");
	CHECK_CONTAINS(s, "waitloop_consecutive_failures{step=\"build\"} 3\n");
	free(s);
	metrics_set_consecutive_failures(m, "build", 0);
	s = slurp(path);
	CHECK_CONTAINS(s, "waitloop_consecutive_failures{step=\"build\"} 0\n");
	free(s);
	metrics_free(m);
	free(path);
}

static int warned;
static char warn_msg[300];
static void on_warn(void *ctx, const char *msg)
{
	warned++;
	snprintf(warn_msg, sizeof(warn_msg), "%s", msg);
}

static void test_metrics_write_failure_warns_once(void)
{
	char *path = fs_join(tmpdir, "no-such-dir/waitloop.prom");
	struct metrics *m = metrics_new(path);
	metrics_set_warn(m, on_warn, NULL);
	struct event_bus bus = EVENT_BUS_INIT;
	bus_subscribe(&bus, metrics_sink, m);
	emit(&bus, EV_RUN_STARTED, NULL, 0, 0, NULL);
	emit(&bus, EV_ALERT, "a", 1, 0, "{\"consecutive_failures\":1,\"threshold\":1}");
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(metrics_flush(m, &err), -1);
	CHECK_CONTAINS(err.msg, "no-such-dir/waitloop.prom");
	CHECK_INT(warned, 1);
	CHECK_CONTAINS(warn_msg, "cannot write '");
	metrics_free(m);
	free(path);
}

int main(int argc, char **argv)
{
	keep_dir = argc > 1 ? argv[1] : NULL;
	if (!mkdtemp(tmpdir))
		return 2;
	TEST(test_metrics_scenario);
	TEST(test_metrics_running_durations_and_setter);
	TEST(test_metrics_write_failure_warns_once);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
