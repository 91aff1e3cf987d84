/*
 * wait engine at the wait.h level, with real processes: guard mode (a
 * verify process printing NotFound forever while the probe shows Failed),
 * no_output_timeout, cancel, events, bounded memory.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "fsutil.h"
#include "harness.h"
#include "evloop.h"
#include "proc.h"
#include "timeutil.h"
#include "wait.h"
#include "xalloc.h"

struct guard_run {
	struct evloop *loop;
	struct wait *w;
	struct proc *p;
	int done;
	enum wait_outcome outcome;
	int early_abort;
	unsigned signals;
	char fps[1024];
	int has_failure_file;
	int observations;
	int events_obs, events_finished, events_abort;
	long rss_at_500;
	long rss_at_end;
	int stop_after;
};

static long rss_kb(void)
{
	struct strbuf sb = STRBUF_INIT;
	long kb = 0;
	if (fs_read_file("/proc/self/statm", 4096, &sb, NULL) == 0) {
		long pages = 0, res = 0;
		if (sscanf(strbuf_str(&sb), "%ld %ld", &pages, &res) == 2)
			kb = res * (sysconf(_SC_PAGESIZE) / 1024);
	}
	strbuf_release(&sb);
	return kb;
}

static void on_done(void *arg, const struct wait_result *res)
{
	struct guard_run *g = arg;
	g->done = 1;
	g->outcome = res->outcome;
	g->early_abort = res->early_abort;
	g->signals = res->signals_sent;
	g->observations = res->observations;
	g->fps[0] = '\0';
	for (size_t i = 0; i < res->fingerprints.n; i++) {
		strncat(g->fps, res->fingerprints.v[i], sizeof(g->fps) - strlen(g->fps) - 2);
		strcat(g->fps, " ");
	}
	g->has_failure_file = res->failure_file && fs_exists(res->failure_file);
}

static void sink(void *ctx, const struct wl_event *ev)
{
	struct guard_run *g = ctx;
	if (ev->type == EV_OBSERVATION) {
		g->events_obs++;
		if (g->events_obs == 500)
			g->rss_at_500 = rss_kb();
		if (g->stop_after && g->events_obs == g->stop_after) {
			g->rss_at_end = rss_kb();
			proc_stop(g->p);
		}
	}
	if (ev->type == EV_WAIT_FINISHED)
		g->events_finished++;
	if (ev->type == EV_EARLY_ABORT)
		g->events_abort++;
}

static void guarded_output(void *arg, enum proc_stream s, const char *data, size_t len)
{
	struct guard_run *g = arg;
	wait_guard_output(g->w, data, len);
}

static void guarded_exit(void *arg, const struct proc_result *res)
{
	struct guard_run *g = arg;
	wait_guard_finish(g->w, res);
	g->w = NULL;
}

static char tmpdir[] = "/tmp/wl-test-wait.XXXXXX";

/* Run script under policy pol in guard mode until on_done. */
static void guard(struct guard_run *g, const char *script, const struct wait_settings *pol, struct event_bus *bus)
{
	g->loop = evloop_new();
	char *script_copy = xstrdup(script);
	char *argv[] = {"bash", "-c", script_copy, NULL};
	struct proc_spec spec = PROC_SPEC_INIT;
	spec.argv = argv;
	spec.grace_ms = 300;
	spec.on_output = guarded_output;
	spec.on_exit = guarded_exit;
	spec.arg = g;
	struct wl_err err = WL_ERR_INIT;
	g->p = proc_start(g->loop, &spec, &err);
	CHECK(g->p != NULL);
	struct wait_params p = WAIT_PARAMS_INIT;
	p.loop = g->loop;
	p.settings = pol;
	p.phase = WAIT_PHASE_CHECK;
	p.out_dir = tmpdir;
	p.check_id = "verify";
	p.bus = bus;
	p.on_done = on_done;
	p.arg = g;
	g->w = wait_guard_start(&p, g->p, &err);
	if (!g->w)
		fprintf(stderr, "  wait_guard_start: %s\n", err.msg);
	CHECK(g->w != NULL);
	evloop_run(g->loop, &g->done);
	evloop_free(g->loop);
	free(script_copy);
}

/* Resolved settings; a test then sets fields of pol->p as a resolved policy would have them. */
static void policy(struct wait_settings *pol, enum wl_wait_mode mode, int64_t interval, int64_t max_wait)
{
	struct wl_wait_policy use;
	wait_policy_init(&use);
	use.mode = mode;
	use.interval = interval;
	use.max_wait = max_wait;
	wait_settings_resolve(pol, &use, NULL, max_wait);
	wait_policy_release(&use);
}

static void test_guard_stops_verify_when_dependency_failed(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_PROBE_AWARE, 200, 600000);
	pol.p.builtin = xstrdup("kubernetes");
	pol.p.target = xstrdup("crd/k0smotrondockerclusters.cluster.appthrust.io");
	pol.p.fingerprint_prefix = xstrdup("kest/control");
	pol.p.probe = xstrdup("echo '{\"dependencies\":[{\"kind\":\"HelmRelease\",\"name\":\"capi-operator\",\"status\":\"Failed\",\"reason\":\"InstallFailed\"}]}'");
	struct event_bus bus = EVENT_BUS_INIT;
	struct guard_run g = {0};
	bus_subscribe(&bus, sink, &g);
	int64_t t0 = time_now_ms();
	guard(&g, "while :; do echo 'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "
		  "\"k0smotrondockerclusters.cluster.appthrust.io\" not found'; sleep 0.1; done",
	      &pol, &bus);
	CHECK_INT(g.outcome, WAIT_TERMINAL_FAIL);
	CHECK(g.early_abort);
	CHECK(time_now_ms() - t0 < 60000);   /* well before max_wait (10 min) */
	CHECK(g.signals & PROC_SENT_SIGINT);
	CHECK(g.has_failure_file);
	CHECK_CONTAINS(g.fps, "kest/control/crd-missing/k0smotrondockerclusters");
	CHECK_CONTAINS(g.fps, "kest/control/helmrelease-failed/capi-operator");
	CHECK(g.events_obs >= 1);
	CHECK_INT(g.events_finished, 1);   /* one wait-end event, early_abort in its data */
	CHECK_INT(g.events_abort, 0);
	char *f = fs_join(tmpdir, "wait-failure.json");
	struct strbuf sb = STRBUF_INIT;
	CHECK(fs_read_file(f, 1 << 20, &sb, NULL) == 0);
	CHECK_CONTAINS(strbuf_str(&sb), "\"phase\":\t\"completion_check\"");
	CHECK_CONTAINS(strbuf_str(&sb), "\"terminated\":\ttrue");
	CHECK_CONTAINS(strbuf_str(&sb), "\"SIGINT\"");
	strbuf_release(&sb);
	free(f);
	wait_settings_release(&pol);
}

static void test_guard_terminal_pattern_on_output(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_PROBE_AWARE, 100, 60000);
	strvec_push(&pol.p.terminal_patterns, "chart not found");
	CHECK(wait_policy_compile(&pol.p, NULL) == 0);
	struct guard_run g = {0};
	guard(&g, "sleep 0.2; echo 'Error: chart not found'; sleep 30", &pol, NULL);
	CHECK_INT(g.outcome, WAIT_TERMINAL_FAIL);
	CHECK_CONTAINS(g.fps, "terminal/chart-not-found");
	wait_settings_release(&pol);
}

static void test_no_output_timeout(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_TIMEOUT_ONLY, 1000, 60000);
	pol.p.no_output_timeout = 500;
	struct guard_run g = {0};
	int64_t t0 = time_now_ms();
	guard(&g, "echo started; sleep 600", &pol, NULL);
	CHECK_INT(g.outcome, WAIT_NO_OUTPUT);
	CHECK(g.early_abort);
	CHECK(time_now_ms() - t0 < 60000);   /* well before the process would end (10 min) */
	CHECK_CONTAINS(g.fps, "no-output");
	CHECK(g.has_failure_file);
	/* a chatty process is left alone and ends on its own: it runs three
	 * times no_output_timeout (2 s), a line every 0.2 s (10x margin) */
	pol.p.no_output_timeout = 2000;
	struct guard_run c = {0};
	guard(&c, "for i in $(seq 30); do echo tick; sleep 0.2; done", &pol, NULL);
	CHECK_INT(c.outcome, WAIT_MET);
	CHECK_INT(c.signals, 0);
	wait_settings_release(&pol);
}

static void test_guard_max_wait(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_TIMEOUT_ONLY, 1000, 400);
	struct guard_run g = {0};
	guard(&g, "sleep 30", &pol, NULL);
	CHECK_INT(g.outcome, WAIT_TIMEOUT);
	CHECK(!g.early_abort);
	CHECK_CONTAINS(g.fps, "timeout");
	wait_settings_release(&pol);
}

/* 3000 observations (1 ms apart) of a guarded process: memory stays flat.p. */
static void test_bounded_memory(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_PROBE_AWARE, 1, 600000);
	strvec_push(&pol.p.terminal_patterns, "never-printed-pattern");
	CHECK(wait_policy_compile(&pol.p, NULL) == 0);
	struct event_bus bus = EVENT_BUS_INIT;
	struct guard_run g = {.stop_after = 3000};
	bus_subscribe(&bus, sink, &g);
	guard(&g, "while :; do echo some output line; sleep 0.01; done", &pol, &bus);
	CHECK_INT(g.outcome, WAIT_MET);
	CHECK(g.observations >= 3000);
	CHECK(g.rss_at_500 > 0);
#ifndef __SANITIZE_ADDRESS__   /* ASan's quarantine keeps freed memory resident: no RSS bound there */
	if (g.rss_at_end - g.rss_at_500 > 2048)
		fprintf(stderr, "  RSS grew from %ld to %ld KiB\n", g.rss_at_500, g.rss_at_end);
	CHECK(g.rss_at_end - g.rss_at_500 <= 2048);
#endif
	wait_settings_release(&pol);
}

/* Condition mode: cancel stops the running condition and reports cancelled. */
struct cancel_run {
	struct wait *w;
	int done;
	enum wait_outcome outcome;
	struct evloop *loop;
	const char *ready;        /* cancel once this file exists (do_cancel_when_ready) */
	int64_t give_up_ms;
	int64_t cancelled_ms;
};

static void cancel_done(void *arg, const struct wait_result *res)
{
	struct cancel_run *c = arg;
	c->done = 1;
	c->outcome = res->outcome;
}

static void do_cancel(void *arg)
{
	struct cancel_run *c = arg;
	wait_cancel(c->w);
}

static void test_cancel(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_TIMEOUT_ONLY, 100, 60000);
	struct evloop *l = evloop_new();
	struct cancel_run c = {0};
	struct wait_params p = WAIT_PARAMS_INIT;
	p.loop = l;
	p.settings = &pol;
	p.condition = "sleep 600";
	p.out_dir = tmpdir;
	p.on_done = cancel_done;
	p.arg = &c;
	struct wl_err err = WL_ERR_INIT;
	c.w = wait_start(&p, &err);
	CHECK(c.w != NULL);
	evloop_add_timer(l, time_now_ms() + 300, do_cancel, &c);
	int64_t t0 = time_now_ms();
	evloop_run(l, &c.done);
	CHECK_INT(c.outcome, WAIT_CANCELLED);
	CHECK(time_now_ms() - t0 < 60000);   /* the 10 min condition was stopped */
	evloop_free(l);
	wait_settings_release(&pol);
}

/* Cancel once the condition said it is ready (it has set up its traps),
 * checking every 20 ms; give up (cancel anyway) at give_up_ms. */
static void do_cancel_when_ready(void *arg)
{
	struct cancel_run *c = arg;
	if (!fs_exists(c->ready) && time_now_ms() < c->give_up_ms) {
		evloop_add_timer(c->loop, time_now_ms() + 20, do_cancel_when_ready, c);
		return;
	}
	CHECK(fs_exists(c->ready));
	c->cancelled_ms = time_now_ms();
	wait_cancel(c->w);
}

/* The wait's own children stop with the policy's child_grace (a setting of
 * the defaults table, not a rule of the engine): a condition that ignores
 * SIGINT gets SIGTERM only child_grace after it, here 3 s (the old fixed
 * cap was 2 s). A lower bound: it cannot flake on a slow machine. */
static void test_cancel_child_grace(void)
{
	struct wl_wait_policy use;
	wait_policy_init(&use);
	use.interval = 100;
	use.max_wait = 60000;
	use.child_grace = 3000;
	struct wait_settings pol;
	wait_settings_resolve(&pol, &use, NULL, 60000);
	wait_policy_release(&use);
	CHECK_INT(pol.p.child_grace, 3000);
	CHECK_INT(pol.p.grace, WAIT_DEFAULT_GRACE_MS);
	char *ready = xasprintf("%s/child-grace.ready", tmpdir);
	char *cond = xasprintf("trap '' INT; : > '%s'; exec sleep 600", ready);
	struct evloop *l = evloop_new();
	struct cancel_run c = {.loop = l, .ready = ready, .give_up_ms = time_now_ms() + 60000};
	struct wait_params p = WAIT_PARAMS_INIT;
	p.loop = l;
	p.settings = &pol;
	p.condition = cond;
	p.out_dir = tmpdir;
	p.on_done = cancel_done;
	p.arg = &c;
	struct wl_err err = WL_ERR_INIT;
	c.w = wait_start(&p, &err);
	CHECK(c.w != NULL);
	evloop_add_timer(l, time_now_ms() + 20, do_cancel_when_ready, &c);
	evloop_run(l, &c.done);
	int64_t took = time_now_ms() - c.cancelled_ms;
	CHECK_INT(c.outcome, WAIT_CANCELLED);
	if (took < 2950 || took > 60000)
		fprintf(stderr, "  cancel to done: %lld ms (child_grace 3000)\n", (long long)took);
	CHECK(took >= 2950);    /* SIGINT ignored: SIGTERM came child_grace later */
	CHECK(took < 60000);    /* ... and it came (not the 10 min sleep) */
	evloop_free(l);
	wait_settings_release(&pol);
	free(cond);
	free(ready);
}

/* The schedule on a fake clock: each observation is due one interval after
 * the start of the previous one (at once when that took longer), and the
 * interval grows by the backoff factor up to max_interval. */
static void test_schedule_backoff_fake_clock(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_TIMEOUT_ONLY, 200, 3500);
	pol.p.backoff_factor = 2;
	pol.p.backoff_max_interval = 800;
	int64_t interval = pol.p.interval, start = 1000, took = 50;
	const int64_t want_gap[] = {200, 400, 800, 800, 800, 800};
	const int64_t want_next[] = {400, 800, 800, 800, 800, 800};
	for (size_t i = 0; i < sizeof(want_gap) / sizeof(want_gap[0]); i++) {
		int64_t due = wait_schedule_next(&pol, start, start + took, &interval);
		CHECK_INT(due - start, want_gap[i]);
		CHECK_INT(interval, want_next[i]);
		start = due;
	}
	/* an observation longer than the interval: the next one starts at once */
	interval = 800;
	CHECK_INT(wait_schedule_next(&pol, 5000, 7000, &interval), 7000);
	CHECK_INT(interval, 800);
	/* no backoff: a fixed interval, measured from the observation's start */
	struct wait_settings flat;
	policy(&flat, WAIT_MODE_TIMEOUT_ONLY, 300, 60000);
	interval = flat.p.interval;
	for (int i = 0; i < 5; i++) {
		CHECK_INT(wait_schedule_next(&flat, 10000 + 300 * i, 10000 + 300 * i + 120, &interval),
			  10000 + 300 * (i + 1));
		CHECK_INT(interval, 300);
	}
	/* a factor without a cap keeps growing; 1.5 rounds down to whole ms */
	struct wait_settings nocap;
	policy(&nocap, WAIT_MODE_TIMEOUT_ONLY, 100, 60000);
	nocap.p.backoff_factor = 1.5;
	interval = nocap.p.interval;
	const int64_t want_nocap[] = {150, 225, 337, 505, 757};
	for (size_t i = 0; i < sizeof(want_nocap) / sizeof(want_nocap[0]); i++) {
		wait_schedule_next(&nocap, 0, 0, &interval);
		CHECK_INT(interval, want_nocap[i]);
	}
	wait_settings_release(&pol);
	wait_settings_release(&flat);
	wait_settings_release(&nocap);
}

static void test_start_errors(void)
{
	struct wait_settings pol;
	policy(&pol, WAIT_MODE_PROBE_AWARE, 100, 1000);
	strvec_push(&pol.p.terminal_patterns, "([");
	struct evloop *l = evloop_new();
	struct wait_params p = WAIT_PARAMS_INIT;
	p.loop = l;
	p.settings = &pol;
	p.condition = "true";
	p.out_dir = tmpdir;
	struct wl_err err = WL_ERR_INIT;
	/* the engine compiles nothing: an uncompiled policy is refused ... */
	CHECK(wait_start(&p, &err) == NULL);
	CHECK_CONTAINS(err.msg, "terminal_patterns are not compiled");
	/* ... and a bad pattern is found where it is compiled, named */
	CHECK(wait_policy_compile(&pol.p, &err) < 0);
	CHECK_CONTAINS(err.msg, "terminal_patterns[0]");
	p.condition = NULL;
	CHECK(wait_start(&p, &err) == NULL);
	CHECK_CONTAINS(err.msg, "a condition is required");
	evloop_free(l);
	wait_settings_release(&pol);
	CHECK_STR(wait_outcome_name(WAIT_NO_OUTPUT), "no_output");
	CHECK_STR(wait_phase_name(WAIT_PHASE_CHECK), "completion_check");
}

static void test_derive_name(void)
{
	char *argv1[] = {"/usr/bin/kubectl", "get", "crd", "x.example.io", "-o", "name", NULL};
	char *argv2[] = {"bash", "-c", "sleep 3; exit 0", NULL};
	char *argv3[] = {"--", NULL};
	const struct { const char *name, *target, *cond; char **argv; const char *want; } cases[] = {
		{"crd-k0smotron", "crd/x", NULL, argv1, "crd-k0smotron"},
		{NULL, "crd/k0smotrondockerclusters.cluster.appthrust.io", NULL, argv1,
		 "crd-k0smotrondockerclusters.cluster.appthrust.io"},
		{NULL, NULL, NULL, argv1, "kubectl-get-crd-x.example.io-name"},
		{NULL, NULL, NULL, argv2, "bash-sleep-3-exit-0"},
		{NULL, NULL, "curl -fsS http://db:5432/health", NULL, "curl-fsS-http-db-5432-health"},
		{NULL, NULL, NULL, argv3, "wait"},
		{"../..", NULL, NULL, NULL, "wait"},
		{"a/b c", NULL, NULL, NULL, "a-b-c"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *n = wait_derive_name(cases[i].name, cases[i].target, cases[i].cond, cases[i].argv);
		CHECK_STR(n, cases[i].want);
		free(n);
	}
	char *longname = wait_derive_name(
		"a-very-long-name-that-goes-on-and-on-and-on-well-past-the-sixty-byte-limit-of-names", NULL, NULL, NULL);
	CHECK(strlen(longname) <= 60);
	free(longname);
	CHECK_STR(wait_outcome_name(WAIT_ERROR), "error");
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	TEST(test_guard_stops_verify_when_dependency_failed);
	TEST(test_guard_terminal_pattern_on_output);
	TEST(test_no_output_timeout);
	TEST(test_guard_max_wait);
	TEST(test_bounded_memory);
	TEST(test_cancel);
	TEST(test_cancel_child_grace);
	TEST(test_start_errors);
	TEST(test_derive_name);
	TEST(test_schedule_backoff_fake_clock);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
