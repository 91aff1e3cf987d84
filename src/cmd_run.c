/*
 * waitloop run WORKFLOW.yaml [options] (alias: workflow): load, run, report.
 * Progress goes to stderr, the end table (or --json summary) to stdout.
 */
#include <ctype.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "context.h"
#include "error.h"
#include "fsutil.h"
#include "loader.h"
#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "preflight.h"
#include "progress.h"
#include "redact.h"
#include "runner.h"
#include "store.h"
#include "strvec.h"
#include "timeutil.h"
#include "xalloc.h"

extern char **environ;

static const char run_usage[] =
	"usage: waitloop run WORKFLOW.yaml [-w DIR] [--context DIR] [--db FILE] [--metrics FILE]\n"
	"                    [--set KEY=VALUE]... [-v|-q] [--json] [--no-progress]\n"
	"       waitloop workflow WORKFLOW.yaml ...   (alias)\n"
	"\n"
	"Run a workflow: steps in dependency order, completion_check loops, waits with probes.\n"
	"\n"
	"Options:\n"
	"  -w, --workspace DIR  where steps run (default: the current directory)\n"
	"      --context DIR    context directory (default: the workflow's context_dir,\n"
	"                       else 'context', relative to the workspace)\n"
	"      --db FILE        history database (default: $WAITLOOP_DB, the workflow's\n"
	"                       history.db, else <workspace>/.waitloop/history.db)\n"
	"      --metrics FILE   Prometheus text file (default: the workflow's metrics.file)\n"
	"      --set KEY=VALUE  environment variable for every step, check and probe\n"
	"                       (overrides the workflow's env; repeatable)\n"
	"  -v, --verbose        also show every output line of the steps, prefixed [step]\n"
	"  -q, --quiet          show only errors and the final table\n"
	"      --json           print one JSON run summary on stdout instead of the table\n"
	"      --no-progress    one line per event instead of live progress lines\n"
	"  -h, --help           show this help\n"
	"\n"
	"Before the first step: the history database is opened (an error there exits 2)\n"
	"and every preflight check runs; any failed check is printed and ends the run\n"
	"FAILED with exit code 2. notify targets get the configured events.\n"
	"\n"
	"Exit codes: 0 succeeded, 1 failed, 2 usage error, invalid workflow, preflight\n"
	"failure or unusable history database, 3 workflow timed out, 130/143\n"
	"interrupted by SIGINT/SIGTERM (run CANCELLED).\n"
	"See docs/cli.md for the environment given to steps.\n";

static int valid_env_name(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

/* An option's value: "--opt VALUE", "--opt=VALUE" or "-wVALUE". NULL when missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *longname, const char *shortname)
{
	const char *a = argv[*i];
	size_t ln = strlen(longname);
	if (!strncmp(a, longname, ln) && a[ln] == '=')
		return a + ln + 1;
	if (shortname && !strncmp(a, shortname, 2) && a[2])
		return a + 2;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int is_opt(const char *a, const char *longname, const char *shortname)
{
	size_t ln = strlen(longname);
	if (!strcmp(a, longname) || (!strncmp(a, longname, ln) && a[ln] == '='))
		return 1;
	return shortname && !strncmp(a, shortname, 2);
}

static char *resolve_db(const char *flag, const struct wl_workflow *wf, const char *workspace)
{
	const char *env = getenv("WAITLOOP_DB");
	if (flag)
		return fs_abspath(flag);
	if (env && *env)
		return fs_abspath(env);
	char *ws = fs_abspath(workspace ? workspace : ".");
	char *p = fs_join(ws, wf->history_db ? wf->history_db : ".waitloop/history.db");
	char *abs = fs_abspath(p);
	free(p);
	free(ws);
	return abs;
}

static char *resolve_metrics(const char *flag, const struct wl_workflow *wf, const char *workspace)
{
	if (flag)
		return fs_abspath(flag);
	if (!wf->metrics_file)
		return NULL;
	char *ws = fs_abspath(workspace ? workspace : ".");
	char *p = fs_join(ws, wf->metrics_file);
	char *abs = fs_abspath(p);
	free(p);
	free(ws);
	return abs;
}

#define HEARTBEAT_MS 30000

struct heartbeat {
	struct loop *loop;
	struct store *st;
	const char *run_id;
	uint64_t timer;
};

static void on_heartbeat(void *arg)
{
	struct heartbeat *hb = arg;
	struct wl_err err = WL_ERR_INIT;
	store_heartbeat(hb->st, hb->run_id, &err);   /* a failure shows as a sink warning */
	hb->timer = loop_add_timer(hb->loop, time_now_ms() + HEARTBEAT_MS, on_heartbeat, hb);
}

static void flush_history(void *arg, int will_wait)
{
	struct wl_err err = WL_ERR_INIT;
	store_flush(arg, &err);   /* a failure shows as a sink warning */
}

static void warn_once(void *ctx, const char *msg)
{
	fprintf(stderr, "waitloop: warning: %s: %s\n", (const char *)ctx, msg);
}

/* The environment of the run (what steps get before their own env):
 * the process environment, the workflow's env, then --set. */
static void run_env(struct strvec *env, const struct wl_workflow *wf, const struct strvec *set)
{
	for (char **e = environ; e && *e; e++)
		strvec_push(env, *e);
	strvec_setenv_all(env, &wf->env);
	strvec_setenv_all(env, set);
}

/* ---- preflight (SPEC §4.8): checked before runner_run(), recorded by its gate ---- */

struct preflight_gate {
	struct preflight_report rep;
	char reason[96];
};

static void print_preflight_failures(const struct preflight_report *rep, const struct redactor *rd, int verbose)
{
	for (size_t i = 0; i < rep->n; i++) {
		const struct preflight_result *res = &rep->results[i];
		if (res->ok)
			continue;
		char *line = xasprintf("%s: %s [%s]", res->name, res->message ? res->message : "failed",
				       res->fingerprint ? res->fingerprint : "");
		char *red = redact_text(rd, line);
		fprintf(stderr, "waitloop: error: preflight failed: %s\n", red);
		free(red);
		free(line);
		if (verbose && res->output && *res->output) {
			char *out = redact_text(rd, res->output);
			fprintf(stderr, "%s%s", out, out[strlen(out) - 1] == '\n' ? "" : "\n");
			free(out);
		}
	}
}

/* The gate: one preflight event per result (right after run_started), then
 * stop the run when any failed. */
static const char *preflight_gate(void *arg, struct runner *r)
{
	struct preflight_gate *g = arg;
	for (size_t i = 0; i < g->rep.n; i++) {
		struct wl_event ev = {0};
		ev.type = EV_PREFLIGHT;
		ev.run_id = runner_run_id(r);
		ev.data = preflight_event_data(&g->rep.results[i]);
		redact_json(runner_redactor(r), ev.data);
		bus_emit(runner_bus(r), &ev);
		cJSON_Delete(ev.data);
	}
	if (!g->rep.nfailed)
		return NULL;
	snprintf(g->reason, sizeof(g->reason), "preflight failed (%zu of %zu checks)", g->rep.nfailed, g->rep.n);
	return g->reason;
}

/* ---- notify (SPEC §4.9) ---- */

#define NOTIFY_LINE_MAX 200

struct notify_log_ctx {
	int verbosity;
	const struct redactor *rd;
};

/* One line of at most NOTIFY_LINE_MAX characters, prefix included;
 * target_missing and delivered only with -v. */
static void notify_log(void *ctx, enum notify_log_level level, const char *line)
{
	const struct notify_log_ctx *c = ctx;
	if (level == NOTIFY_LOG_DEBUG && c->verbosity <= 0)
		return;
	char *red = redact_text(c->rd, line);
	char *full = xasprintf("waitloop: %s: %s", level == NOTIFY_LOG_DEBUG ? "debug" : "warning", red);
	if (strlen(full) > NOTIFY_LINE_MAX)
		memcpy(full + NOTIFY_LINE_MAX - 3, "...", 4);
	fprintf(stderr, "%s\n", full);
	free(full);
	free(red);
}

static int notify_claim(void *ctx, const char *run_id, const char *event, const char *step, int iteration,
			const char *target)
{
	struct wl_err err = WL_ERR_INIT;
	return store_notification_claim(ctx, run_id, event, step, iteration, target, &err);
}

int cmd_run(int argc, char **argv)
{
	const char *file = NULL, *workspace = NULL, *context = NULL, *db = NULL, *metrics = NULL;
	struct strvec set = STRVEC_INIT;
	int verbosity = 0, json = 0, no_progress = 0, options = 1, rc = 2;
	/* Keep freed heap: every step allocates and frees the same few hundred
	 * KiB, and glibc's default trimming gave it back and took it again with
	 * brk() several times per step (~10 % of the runner's time on 200
	 * parallel steps). Peak RSS is unchanged: those pages were resident. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v;
		if (options && !strcmp(a, "--")) {
			options = 0;
		} else if (options && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			fputs(run_usage, stdout);
			strvec_clear(&set);
			return 0;
		} else if (options && (is_opt(a, "--workspace", "-w"))) {
			if (!(workspace = opt_value(argc, argv, &i, "--workspace", "-w")))
				goto missing;
		} else if (options && is_opt(a, "--context", NULL)) {
			if (!(context = opt_value(argc, argv, &i, "--context", NULL)))
				goto missing;
		} else if (options && is_opt(a, "--db", NULL)) {
			if (!(db = opt_value(argc, argv, &i, "--db", NULL)))
				goto missing;
		} else if (options && is_opt(a, "--metrics", NULL)) {
			if (!(metrics = opt_value(argc, argv, &i, "--metrics", NULL)))
				goto missing;
		} else if (options && is_opt(a, "--set", NULL)) {
			if (!(v = opt_value(argc, argv, &i, "--set", NULL)))
				goto missing;
			const char *eq = strchr(v, '=');
			if (!eq || !valid_env_name(v, (size_t)(eq - v))) {
				strvec_clear(&set);
				return usage_error("run", "--set expects KEY=VALUE with KEY a variable name, got '%s'", v);
			}
			strvec_push(&set, v);
		} else if (options && (!strcmp(a, "-v") || !strcmp(a, "--verbose"))) {
			verbosity = 1;
		} else if (options && (!strcmp(a, "-q") || !strcmp(a, "--quiet"))) {
			verbosity = -1;
		} else if (options && !strcmp(a, "--json")) {
			json = 1;
		} else if (options && !strcmp(a, "--no-progress")) {
			no_progress = 1;
		} else if (options && a[0] == '-' && a[1]) {
			strvec_clear(&set);
			return usage_error("run", "unknown option '%s'", a);
		} else if (!file) {
			file = a;
		} else {
			strvec_clear(&set);
			return usage_error("run", "more than one workflow file given ('%s', '%s')", file, a);
		}
		continue;
missing:
		strvec_clear(&set);
		return usage_error("run", "option '%s' needs a value", a);
	}
	if (!file) {
		strvec_clear(&set);
		return usage_error("run", "no workflow file given");
	}

	struct errlist diags = ERRLIST_INIT;
	struct wl_workflow *wf = loader_load(file, &diags);
	errlist_print(&diags, stderr);
	errlist_release(&diags);
	if (!wf) {
		strvec_clear(&set);
		return 2;
	}

	char *db_path = resolve_db(db, wf, workspace);
	char *metrics_path = resolve_metrics(metrics, wf, workspace);
	char *ws_abs = fs_abspath(workspace ? workspace : ".");
	struct strvec env = STRVEC_INIT;
	struct preflight_gate gate = {PREFLIGHT_REPORT_INIT, ""};
	struct progress *pg = NULL;
	struct metrics *mx = NULL;
	struct notifier *nt = NULL;
	struct runner *r = NULL;
	struct heartbeat hb = {0};
	struct wl_err err = WL_ERR_INIT;

	/* History first: without it neither the run nor its notifications
	 * (at most once, claimed in the database) can be recorded. It would
	 * create its directory: the workspace must exist before. */
	struct store *store = NULL;
	if (!fs_is_dir(ws_abs)) {
		die_msg("workspace '%s' is not a directory", workspace ? workspace : ".");
		goto out;
	}
	store = store_open(db_path, &err);
	if (!store) {
		die_msg("%s", err.msg);
		goto out;
	}
	if (store_mark_crashed(store, &err) < 0)
		fprintf(stderr, "waitloop: warning: history: %s\n", err.msg);

	struct run_options o = RUN_OPTIONS_INIT;
	o.workspace = workspace;
	o.context_dir = context;
	o.set_env = &set;
	o.db_path = db_path;
	o.metrics_path = metrics_path;
	o.verbosity = verbosity;
	r = runner_new(wf, &o, &err);
	if (!r) {
		die_msg("%s", err.msg);
		goto out;
	}
	if (runner_notice(r) && verbosity >= 0)
		fprintf(stderr, "waitloop: notice: %s\n", runner_notice(r));

	/* Preflight before anything else is started (notifications included). */
	run_env(&env, wf, &set);
	gate.rep.rd = runner_redactor(r);
	if (preflight_run(wf, &env, ws_abs, &gate.rep) > 0)
		print_preflight_failures(&gate.rep, runner_redactor(r), verbosity > 0);
	if (gate.rep.interrupted) {
		die_msg("preflight interrupted by SIG%s", sigabbrev_np(gate.rep.interrupted));
		rc = 128 + gate.rep.interrupted;
		goto out;
	}
	runner_set_gate(r, preflight_gate, &gate);

	const char *no_color = getenv("NO_COLOR");
	int colors_ok = !(no_color && *no_color);
	struct progress_opts po = {0};
	po.out = stderr;
	po.verbosity = verbosity;
	po.live = !no_progress && isatty(STDERR_FILENO);
	po.color = po.live && colors_ok;
	pg = progress_new(runner_loop(r), &po, runner_redactor(r));
	bus_subscribe(runner_bus(r), progress_sink, pg);
	if (verbosity > 0)
		runner_set_output_fn(r, progress_output, pg);

	/* History and metrics are sinks on the bus; neither can stop the run. */
	hb = (struct heartbeat){runner_loop(r), store, runner_run_id(r), 0};
	store_set_warn(store, warn_once, "history");
	bus_subscribe(runner_bus(r), store_sink, store);
	/* One transaction per loop round, not per event (docs/history.md). */
	store_set_batching(store, 1);
	loop_on_idle(runner_loop(r), flush_history, store);
	hb.timer = loop_add_timer(hb.loop, time_now_ms() + HEARTBEAT_MS, on_heartbeat, &hb);
	if (metrics_path) {
		mx = metrics_new(metrics_path);
		metrics_set_warn(mx, warn_once, "metrics");
		bus_subscribe(runner_bus(r), metrics_sink, mx);
	}

	/* Notifications: last sink, so an event is recorded before it is sent. */
	struct notify_log_ctx nlog = {verbosity, runner_redactor(r)};
	if (wf->notify.ntargets) {
		struct notify_options no = NOTIFY_OPTIONS_INIT;
		no.loop = runner_loop(r);
		no.bus = runner_bus(r);
		no.cwd = ws_abs;
		no.env = env.v;
		no.log = notify_log;
		no.log_ctx = &nlog;
		no.claim = notify_claim;
		no.claim_ctx = store;
		nt = notify_new(&wf->notify, &no, &err);
		if (!nt) {
			die_msg("%s", err.msg);
			goto out;
		}
		bus_subscribe(runner_bus(r), notify_sink, nt);
	}

	runner_run(r);
	flush_history(store, 0);   /* run_finished is emitted after the last round */
	/* Deliveries still in flight (run_finished ...): bounded by the targets' timeouts. */
	if (nt)
		notify_drain(nt);
	progress_finish(pg);
	if (hb.timer)
		loop_cancel_timer(hb.loop, hb.timer);
	hb.timer = 0;
	if (mx && metrics_flush(mx, &err) < 0)
		fprintf(stderr, "waitloop: warning: metrics: %s\n", err.msg);
	rc = runner_exit_code(r);

	if (runner_artifact_error(r))
		fprintf(stderr, "waitloop: warning: context directory: %s\n", runner_artifact_error(r));
	cJSON *summary = runner_summary(r);
	if (json) {
		char *s = cJSON_Print(summary);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
	} else {
		progress_print_table(stdout, summary, colors_ok && isatty(STDOUT_FILENO));
	}
	cJSON_Delete(summary);
	fflush(stdout);
out:
	if (hb.timer)
		loop_cancel_timer(hb.loop, hb.timer);
	notify_free(nt);
	progress_free(pg);
	metrics_free(mx);
	runner_free(r);
	store_close(store);
	preflight_report_release(&gate.rep);
	strvec_clear(&env);
	free(ws_abs);
	free(db_path);
	free(metrics_path);
	workflow_free(wf);
	strvec_clear(&set);
	return rc;
}
