/*
 * waitloop run WORKFLOW.yaml [options] (alias: workflow): load, run, report.
 * Progress goes to stderr, the end table (or --json summary) to stdout.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "branchctx.h"
#include "commands.h"
#include "artifacts.h"
#include "error.h"
#include "fsutil.h"
#include "loader.h"
#include "evloop.h"
#include "metrics.h"
#include "notify.h"
#include "preflight.h"
#include "progress.h"
#include "ghactions.h"
#include "junit.h"
#include "reaper.h"
#include "redact.h"
#include "report.h"
#include "runner.h"
#include "spawn.h"
#include "store.h"
#include "strvec.h"
#include "timeutil.h"
#include "xalloc.h"

extern char **environ;

static const char run_usage[] =
	"usage: waitloop run WORKFLOW.yaml [-w DIR] [--context DIR] [--db FILE] [--metrics FILE]\n"
	"                    [--junit FILE] [--set KEY=VALUE]... [--agents FILE]... [-v|-q] [--json]\n"
	"                    [--no-progress]\n"
	"       waitloop workflow WORKFLOW.yaml ...   (roboppi's command line, below)\n"
	"\n"
	"Run a workflow: steps in dependency order, completion_check loops, waits with probes.\n"
	"\n"
	"Options:\n"
	"  -w, --workspace DIR  where steps run (default: the current directory)\n"
	"      --context DIR    context directory (default: the workflow's context_dir,\n"
	"                       else 'context', relative to the workspace)\n"
	"      --db FILE        history database (default: $WAITLOOP_DB, the workflow's\n"
	"                       history.db, else <workspace>/.waitloop/history.db)\n"
	"      --metrics FILE   Prometheus text file (default: $WAITLOOP_METRICS, else the\n"
	"                       workflow's metrics.file)\n"
	"      --junit FILE     JUnit XML report: a testcase per step and per iteration's\n"
	"                       check (default: $WAITLOOP_JUNIT)\n"
	"      --set KEY=VALUE  environment variable for every step, check and probe\n"
	"                       (overrides the workflow's env; repeatable)\n"
	"      --agents FILE    roboppi agent catalog for `agent:` steps (repeatable; after\n"
	"                       $ROBOPPI_AGENTS_FILE; default: agents.yaml next to the workflow)\n"
	"  -v, --verbose        also show every output line of the steps, prefixed [step]\n"
	"  -q, --quiet          show only errors and the final table\n"
	"      --json           print one JSON run summary on stdout instead of the table\n"
	"      --no-progress    one line per event instead of live progress lines\n"
	"  -h, --help           show this help\n"
	"\n"
	"Environment defaults (an option on the command line wins): WAITLOOP_DB,\n"
	"WAITLOOP_METRICS, WAITLOOP_JUNIT, WAITLOOP_VERBOSITY=quiet|normal|verbose,\n"
	"WAITLOOP_PROGRESS=0 (as --no-progress). With GITHUB_ACTIONS=true, failed steps\n"
	"and early aborts become annotations and a summary is appended to\n"
	"$GITHUB_STEP_SUMMARY (docs/ci.md).\n"
	"\n"
	"Before the first step: the history database is opened (an error there exits 2)\n"
	"and every preflight check runs; any failed check is printed and ends the run\n"
	"FAILED with exit code 2. notify targets get the configured events.\n"
	"\n"
	"Exit codes: 0 succeeded, 1 failed, 2 usage error, invalid workflow, preflight\n"
	"failure or unusable history database, 3 workflow timed out, 130/143\n"
	"interrupted by SIGINT/SIGTERM (run CANCELLED).\n"
	"\n"
	"`waitloop workflow` is roboppi's `roboppi workflow`: it also accepts --no-tui,\n"
	"--tui, --direct, --supervised, --no-supervised, --keepalive, --no-keepalive,\n"
	"--keepalive-interval D, --ipc-request-timeout D, --core X (no effect here),\n"
	"--base-branch B, --protected-branches CSV and --allow-protected-branch (roboppi's\n"
	"branch context: BASE_BRANCH/ROBOPPI_* variables, and the refusal to run on a\n"
	"protected branch of a git workspace). A missing\n"
	"-w directory is created; without -w a fresh temporary directory is used. Exit\n"
	"codes are roboppi's (0 succeeded, 1 anything else but a signal) and the result\n"
	"lines are printed as roboppi prints them.\n"
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
	if (flag && *flag)
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
	struct evloop *loop;
	struct store *st;
	const char *run_id;
	uint64_t timer;
};

static void on_heartbeat(void *arg)
{
	struct heartbeat *hb = arg;
	struct wl_err err = WL_ERR_INIT;
	store_heartbeat(hb->st, hb->run_id, &err);   /* a failure shows as a sink warning */
	hb->timer = evloop_add_timer(hb->loop, time_now_ms() + HEARTBEAT_MS, on_heartbeat, hb);
}

#define METRICS_REFRESH_MS 15000

/* The metrics file while a step runs: durations brought up to now, so the
 * "run too long" alerts can fire during a hang (docs/operations.md). */
struct metrics_tick {
	struct evloop *loop;
	struct metrics *mx;
	int64_t every;
	uint64_t timer;
};

static void on_metrics_tick(void *arg)
{
	struct metrics_tick *mt = arg;
	metrics_refresh(mt->mx, NULL);   /* a failure is reported once by the metrics warn callback */
	mt->timer = evloop_add_timer(mt->loop, time_now_ms() + mt->every, on_metrics_tick, mt);
}

/* The turn's writes are committed before the runner waits (docs/history.md
 * "Durability"): given to the store's writer thread, which has mostly done
 * them by the time the loop is idle (it ran beside the step's exec), and
 * waited for when the loop is about to block. */
static void flush_history(void *arg, int will_wait)
{
	struct wl_err err = WL_ERR_INIT;
	if (will_wait)
		store_sync(arg);
	else
		store_flush(arg, &err);   /* a failure shows as a sink warning */
}

/* The run's start is committed before any of its processes starts (a
 * preflight check, the first step): a runner SIGKILLed right after a spawn,
 * before that turn's commit, still leaves its run on record (RUNNING, then
 * CRASHED), not a step that ran for a run history never saw. One commit per
 * run; a failure shows as a sink warning. */
static void commit_run_start(void *store, const struct wl_event *ev)
{
	if (ev->type == EV_RUN_STARTED)
		store_sync(store);
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
		bus_emit(runner_bus(r), &ev);   /* the bus redacts */
		cJSON_Delete(ev.data);
	}
	if (g->rep.interrupted) {
		snprintf(g->reason, sizeof(g->reason), "cancelled by SIG%s during the preflight",
			 sigabbrev_np(g->rep.interrupted));
		return g->reason;
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

struct claim_ctx {
	struct store *store;
	struct runner *runner;
};

/* Claimed in the history, which commits the turn so far; the turn's
 * events.jsonl lines are written too: a target sees its event in both. */
static int notify_claim(void *ctx, const char *run_id, const char *event, const char *step, int iteration,
			const char *target)
{
	struct claim_ctx *c = ctx;
	struct wl_err err = WL_ERR_INIT;
	int rc = store_notification_claim(c->store, run_id, event, step, iteration, target, &err);
	if (rc == 1)
		runner_flush_events(c->runner);
	return rc;
}

/* Catalog paths separated by ':' in an environment variable: roboppi's
 * ROBOPPI_AGENTS_FILE (before --agents), and WAITLOOP_PARENT_AGENTS, set by
 * a parent run for its subworkflow (src/worker.c). */
static void env_agents_files(const char *name, struct strvec *out)
{
	const char *e = getenv(name);
	while (e && *e) {
		const char *colon = strchr(e, ':');
		size_t n = colon ? (size_t)(colon - e) : strlen(e);
		if (n)
			strvec_push_owned(out, xstrndup(e, n));
		e = colon ? colon + 1 : NULL;
	}
}

/*
 * Environment defaults for options (docs/cli.md). WAITLOOP_METRICS and
 * WAITLOOP_JUNIT are removed from the environment once read, so a nested
 * `waitloop run` in a step does not overwrite this run's files.
 */
static int env_defaults(const char **metrics, char **metrics_env, char **junit_env, int *verbosity, int *no_progress)
{
	const char *v = getenv("WAITLOOP_METRICS");
	if (v && *v)
		*metrics_env = xstrdup(v);
	*metrics = *metrics_env;
	v = getenv("WAITLOOP_JUNIT");
	if (v && *v)
		*junit_env = xstrdup(v);
	unsetenv("WAITLOOP_METRICS");
	unsetenv("WAITLOOP_JUNIT");
	v = getenv("WAITLOOP_VERBOSITY");
	if (v && *v) {
		if (!strcmp(v, "quiet"))
			*verbosity = -1;
		else if (!strcmp(v, "normal"))
			*verbosity = 0;
		else if (!strcmp(v, "verbose"))
			*verbosity = 1;
		else
			return usage_error("run", "invalid WAITLOOP_VERBOSITY '%s' (quiet, normal or verbose)", v);
	}
	v = getenv("WAITLOOP_PROGRESS");
	if (v && *v) {
		if (!strcmp(v, "0"))
			*no_progress = 1;
		else if (strcmp(v, "1"))
			return usage_error("run", "invalid WAITLOOP_PROGRESS '%s' (0 or 1)", v);
	}
	return 0;
}

/* After a failure to create the history or the context directory: when the
 * workspace itself cannot be written (a ConfigMap mount, a read-only
 * checkout), say so and what to do. */
static void hint_read_only_workspace(const char *ws_abs)
{
	if (access(ws_abs, W_OK) == 0)
		return;
	fprintf(stderr,
		"waitloop: hint: the workspace '%s' is not writable (%s); the context directory and the\n"
		"history go there: run with -w on a writable directory (in Kubernetes an emptyDir,\n"
		"docs/kubernetes.md), or move them with --context and --db\n",
		ws_abs, strerror(errno));
}

/* The CI reports of a finished run (docs/ci.md); a failure is a warning, never the exit code. */
static void write_ci_reports(const cJSON *summary, const char *junit, const struct redactor *rd)
{
	struct wl_err err = WL_ERR_INIT;
	if (junit && junit_write(junit, summary, rd, &err) < 0)
		fprintf(stderr, "waitloop: warning: junit report: %s\n", err.msg);
	const char *gha = getenv("GITHUB_ACTIONS");
	if (!gha || strcmp(gha, "true"))
		return;
	ghactions_annotate(summary, stderr);
	const char *path = getenv("GITHUB_STEP_SUMMARY");
	const char *server = getenv("GITHUB_SERVER_URL"), *repo = getenv("GITHUB_REPOSITORY"),
		   *run = getenv("GITHUB_RUN_ID");
	char *url = server && repo && run && *server && *repo && *run
			    ? xasprintf("%s/%s/actions/runs/%s", server, repo, run) : NULL;
	if (path && *path && ghactions_append_summary(path, summary, url, &err) < 0)
		fprintf(stderr, "waitloop: warning: GitHub step summary: %s\n", err.msg);
	free(url);
}

/* A fresh temporary workspace, as roboppi uses without --workspace. */
static char *temp_workspace(void)
{
	const char *tmp = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/waitloop-wf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl)) {
		print_error("cannot create a temporary workspace '%s': %s", tmpl, strerror(errno));
		free(tmpl);
		return NULL;
	}
	return tmpl;
}

/* What the command line asks for, over the environment defaults. */
struct run_args {
	const char *file, *workspace, *context, *db, *metrics, *junit;
	char *metrics_env, *junit_env;
	struct strvec set, agents;
	struct strvec parent_agents;   /* a parent run's catalogs (WAITLOOP_PARENT_AGENTS) */
	/* roboppi's branch context (`waitloop workflow` only) */
	const char *base_branch, *protected_branches;
	int allow_protected;
	int verbosity, json, no_progress;
};

static void run_args_release(struct run_args *a)
{
	strvec_clear(&a->set);
	strvec_clear(&a->agents);
	strvec_clear(&a->parent_agents);
	free(a->metrics_env);
	free(a->junit_env);
}

enum {
	OPT_CONTEXT = 256, OPT_DB, OPT_METRICS, OPT_JUNIT, OPT_SET, OPT_AGENTS, OPT_JSON, OPT_NO_PROGRESS,
	OPT_ROBOPPI_NOOP, OPT_BASE_BRANCH, OPT_PROTECTED_BRANCHES, OPT_ALLOW_PROTECTED,
};

#define RUN_LONG_OPTIONS                                                                                  \
	{"workspace", required_argument, NULL, 'w'}, {"context", required_argument, NULL, OPT_CONTEXT},     \
	{"db", required_argument, NULL, OPT_DB},     {"metrics", required_argument, NULL, OPT_METRICS},     \
	{"junit", required_argument, NULL, OPT_JUNIT}, {"set", required_argument, NULL, OPT_SET},          \
	{"agents", required_argument, NULL, OPT_AGENTS}, {"verbose", no_argument, NULL, 'v'},              \
	{"quiet", no_argument, NULL, 'q'},           {"json", no_argument, NULL, OPT_JSON},                 \
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS}, {"help", no_argument, NULL, 'h'}

static const struct option run_options[] = {RUN_LONG_OPTIONS, {0, 0, 0, 0}};

/* `waitloop workflow` also takes roboppi's flags (its src/workflow/run.ts):
 * display and process layout (no effect here) and the branch context. */
static const struct option workflow_options[] = {
	RUN_LONG_OPTIONS,
	{"no-tui", no_argument, NULL, OPT_ROBOPPI_NOOP},
	{"tui", no_argument, NULL, OPT_ROBOPPI_NOOP},
	{"direct", no_argument, NULL, OPT_ROBOPPI_NOOP},
	{"supervised", no_argument, NULL, OPT_ROBOPPI_NOOP},
	{"no-supervised", no_argument, NULL, OPT_ROBOPPI_NOOP},
	{"keepalive", no_argument, NULL, OPT_ROBOPPI_NOOP},
	{"no-keepalive", no_argument, NULL, OPT_ROBOPPI_NOOP},
	{"keepalive-interval", required_argument, NULL, OPT_ROBOPPI_NOOP},
	{"ipc-request-timeout", required_argument, NULL, OPT_ROBOPPI_NOOP},
	{"core", required_argument, NULL, OPT_ROBOPPI_NOOP},
	{"core-entrypoint", required_argument, NULL, OPT_ROBOPPI_NOOP},
	{"base-branch", required_argument, NULL, OPT_BASE_BRANCH},
	{"protected-branches", required_argument, NULL, OPT_PROTECTED_BRANCHES},
	{"allow-protected-branch", no_argument, NULL, OPT_ALLOW_PROTECTED},
	{0, 0, 0, 0},
};

static int set_workflow_file(const char *cmd, struct run_args *a, const char *file)
{
	if (a->file)
		return usage_error(cmd, "more than one workflow file given ('%s', '%s')", a->file, file);
	a->file = file;
	return -1;
}

/*
 * The command line into a: -1 to go on, else the exit code (0 after
 * --help). Options and the workflow file come in any order ("-" in the
 * option string hands operands over in place); "--" ends the options.
 */
static int parse_run_args(int argc, char **argv, int roboppi, struct run_args *a)
{
	const char *cmd = roboppi ? "workflow" : "run";
	const struct option *opts = roboppi ? workflow_options : run_options;
	int c, rc;
	opterr = 0;
	optind = 0;   /* 0: glibc reads the option string's "-" again */
	while ((c = getopt_long(argc, argv, "-:w:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if ((rc = set_workflow_file(cmd, a, optarg)) >= 0)
				return rc;
			break;
		case 'w': a->workspace = optarg; break;
		case OPT_CONTEXT: a->context = optarg; break;
		case OPT_DB: a->db = optarg; break;
		case OPT_METRICS: a->metrics = optarg; break;
		case OPT_JUNIT:
			if (!*optarg)
				return usage_error(cmd, "option '--junit' needs a value");
			a->junit = optarg;
			break;
		case OPT_SET: {
			const char *eq = strchr(optarg, '=');
			if (!eq || !valid_env_name(optarg, (size_t)(eq - optarg)))
				return usage_error(cmd, "--set expects KEY=VALUE with KEY a variable name, got '%s'",
						   optarg);
			strvec_push(&a->set, optarg);
			break;
		}
		case OPT_AGENTS: strvec_push(&a->agents, optarg); break;
		case 'v': a->verbosity = 1; break;
		case 'q': a->verbosity = -1; break;
		case OPT_JSON: a->json = 1; break;
		case OPT_NO_PROGRESS: a->no_progress = 1; break;
		case OPT_ROBOPPI_NOOP: break;
		case OPT_BASE_BRANCH: a->base_branch = optarg; break;
		case OPT_PROTECTED_BRANCHES: a->protected_branches = optarg; break;
		case OPT_ALLOW_PROTECTED: a->allow_protected = 1; break;
		case 'h':
			fputs(run_usage, stdout);
			return 0;
		default:
			return usage_getopt_error(cmd, c, argv, opts);
		}
	}
	for (; optind < argc; optind++)   /* after "--" */
		if ((rc = set_workflow_file(cmd, a, argv[optind])) >= 0)
			return rc;
	if (!a->file)
		return usage_error(cmd, "no workflow file given");
	return -1;
}

static int run_main(int argc, char **argv, int roboppi);

int cmd_run(int argc, char **argv)
{
	int roboppi = argc > 0 && !strcmp(argv[0], "workflow");
	int rc = run_main(argc, argv, roboppi);
	/* roboppi exits 1 for an invalid workflow, a usage error and a timeout */
	if (roboppi && (rc == 2 || rc == 3))
		rc = 1;
	return rc;
}

static int run_main(int argc, char **argv, int roboppi)
{
	struct run_args a = {0};
	char *made_ws = NULL;
	int rc;
	if (env_defaults(&a.metrics, &a.metrics_env, &a.junit_env, &a.verbosity, &a.no_progress)) {
		rc = 2;
		goto out_args;
	}
	env_agents_files("ROBOPPI_AGENTS_FILE", &a.agents);
	env_agents_files("WAITLOOP_PARENT_AGENTS", &a.parent_agents);
	a.junit = a.junit_env;
	if ((rc = parse_run_args(argc, argv, roboppi, &a)) >= 0)
		goto out_args;
	rc = 2;
	const char *file = a.file, *workspace = a.workspace, *context = a.context;
	int verbosity = a.verbosity;
	/* Keep freed heap: every step allocates and frees the same few hundred
	 * KiB, and glibc's default trimming gave it back and took it again with
	 * brk() several times per step (~10 % of the runner's time on 200
	 * parallel steps). Peak RSS is unchanged: those pages were resident. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);

	struct errlist diags = ERRLIST_INIT;
	struct wl_workflow *wf = loader_load_agents(file, &a.agents, &a.parent_agents, &diags);
	errlist_print(&diags, stderr);
	errlist_release(&diags);
	if (!wf) {
		rc = 2;
		goto out_args;
	}
	if (roboppi) {
		/* roboppi: a missing --workspace is created; none given -> a fresh temp dir */
		struct wl_err werr = WL_ERR_INIT;
		if (!workspace) {
			if (!(made_ws = temp_workspace())) {
				workflow_free(wf);
				goto out_args;
			}
			workspace = made_ws;
		} else if (!fs_is_dir(workspace) && fs_mkdir_p(workspace, &werr) < 0) {
			print_error("%s", werr.msg);
			workflow_free(wf);
			goto out_args;
		}
		/* roboppi's branch context: its variables for every step, and its
		 * refusal to work on a protected branch */
		struct branchctx_opts bo = {workspace, a.base_branch, a.protected_branches, a.allow_protected,
					    wf->create_branch, wf->expected_work_branch};
		char *note = NULL;
		if (branchctx_resolve(&bo, &a.set, &note, &werr) < 0) {
			print_error("%s", werr.msg);
			workflow_free(wf);
			goto out_args;
		}
		if (note && verbosity >= 0)
			fprintf(stderr, "waitloop: notice: %s\n", note);
		free(note);
	}

	char *db_path = resolve_db(a.db, wf, workspace), *db_abs = NULL;
	char *metrics_path = resolve_metrics(a.metrics, wf, workspace);
	char *ws_abs = fs_abspath(workspace ? workspace : ".");
	struct strvec env = STRVEC_INIT;
	struct preflight_gate gate = {PREFLIGHT_REPORT_INIT, ""};
	struct progress *pg = NULL;
	struct metrics *mx = NULL;
	struct notifier *nt = NULL;
	struct runner *r = NULL;
	struct heartbeat hb = {0};
	struct report *report = NULL;
	char *junit_path = a.junit ? fs_abspath(a.junit) : NULL;
	struct reaper *rp = NULL;
	struct metrics_tick mt = {0};
	struct wl_err err = WL_ERR_INIT;

	/* History first: without it neither the run nor its notifications
	 * (at most once, claimed in the database) can be recorded. It would
	 * create its directory: the workspace must exist before. */
	struct store *store = NULL;
	if (!fs_is_dir(ws_abs)) {
		print_error("workspace '%s' is not a directory", workspace ? workspace : ".");
		goto out;
	}
	store = store_open(db_path, &err);
	if (!store) {
		print_error("%s", err.msg);
		hint_read_only_workspace(ws_abs);
		goto out;
	}
	if (store_mark_crashed(store, &err) < 0)
		fprintf(stderr, "waitloop: warning: history: %s\n", err.msg);
	stop_orphans(store);

	/* The loop's wake-ups (a child's output, exit, exec) no longer
	 * preempt the step that runs on its CPU (docs/execution.md
	 * "Processes"); the steps themselves run SCHED_OTHER as before. */
	spawn_runner_batch();
	struct run_options o = RUN_OPTIONS_INIT;
	o.workspace = workspace;
	o.context_dir = context;
	o.set_env = &a.set;
	db_abs = fs_abspath(db_path);   /* children run elsewhere: WAITLOOP_DB, a subworkflow's --db */
	o.db_path = db_abs;
	o.metrics_path = metrics_path;
	o.verbosity = verbosity;
	r = runner_new(wf, &o, &err);
	if (!r) {
		print_error("%s", err.msg);
		hint_read_only_workspace(ws_abs);
		goto out;
	}
	rp = reaper_start(store, runner_run_id(r));
	if (runner_notice(r) && verbosity >= 0)
		fprintf(stderr, "waitloop: notice: %s\n", runner_notice(r));

	/* Preflight before anything else is started (notifications included). */
	run_env(&env, wf, &a.set);
	gate.rep.rd = runner_redactor(r);
	if (preflight_run(wf, &env, ws_abs, &gate.rep) > 0)
		print_preflight_failures(&gate.rep, runner_redactor(r), verbosity > 0);
	if (gate.rep.interrupted) {
		/* recorded as a run CANCELLED before its first step (cli.md) */
		print_error("preflight interrupted by SIG%s", sigabbrev_np(gate.rep.interrupted));
		runner_cancel_before_start(r, gate.rep.interrupted);
	}
	runner_set_gate(r, preflight_gate, &gate);

	const char *no_color = getenv("NO_COLOR");
	int colors_ok = !(no_color && *no_color);
	struct progress_opts po = {0};
	po.out = stderr;
	po.verbosity = verbosity;
	po.live = !a.no_progress && isatty(STDERR_FILENO);
	po.color = po.live && colors_ok;
	pg = progress_new(runner_loop(r), &po, runner_redactor(r));
	bus_subscribe(runner_bus(r), progress_sink, pg);
	if (verbosity > 0)
		runner_set_output_fn(r, progress_output, pg);

	/* What CI reports need (report.h). */
	report = report_new();
	bus_subscribe(runner_bus(r), report_sink, report);
	/* History and metrics are sinks on the bus; neither can stop the run. */
	hb = (struct heartbeat){runner_loop(r), store, runner_run_id(r), 0};
	store_set_warn(store, warn_once, "history");
	bus_subscribe(runner_bus(r), store_sink, store);
	bus_subscribe(runner_bus(r), commit_run_start, store);
	/* One transaction per loop round, not per event (docs/history.md). */
	store_set_batching(store, 1);
	store_set_async(store, 1);
	evloop_on_idle(runner_loop(r), flush_history, store);
	hb.timer = evloop_add_timer(hb.loop, time_now_ms() + HEARTBEAT_MS, on_heartbeat, &hb);
	if (metrics_path) {
		mx = metrics_new(metrics_path);
		metrics_set_warn(mx, warn_once, "metrics");
		bus_subscribe(runner_bus(r), metrics_sink, mx);
		int64_t every = wf->metrics_refresh > 0 ? wf->metrics_refresh : METRICS_REFRESH_MS;
		mt = (struct metrics_tick){runner_loop(r), mx, every, 0};
		mt.timer = evloop_add_timer(mt.loop, time_now_ms() + every, on_metrics_tick, &mt);
	}

	/* Notifications: last sink, so an event is recorded before it is sent. */
	struct notify_log_ctx nlog = {verbosity, runner_redactor(r)};
	struct claim_ctx claim = {store, r};
	if (wf->notify.ntargets) {
		struct notify_options no = NOTIFY_OPTIONS_INIT;
		no.loop = runner_loop(r);
		no.bus = runner_bus(r);
		no.cwd = ws_abs;
		no.env = env.v;
		no.log = notify_log;
		no.log_ctx = &nlog;
		no.claim = notify_claim;
		no.claim_ctx = &claim;
		nt = notify_new(&wf->notify, &no, &err);
		if (!nt) {
			print_error("%s", err.msg);
			goto out;
		}
		bus_subscribe(runner_bus(r), notify_sink, nt);
	}

	runner_run(r);
	store_sync(store);   /* run_finished is emitted after the last round */
	store_release_memory(store);
	/* Deliveries still in flight (run_finished ...): bounded by the targets' timeouts. */
	if (nt)
		notify_drain(nt);
	progress_finish(pg);
	if (hb.timer)
		evloop_cancel_timer(hb.loop, hb.timer);
	hb.timer = 0;
	if (mt.timer)
		evloop_cancel_timer(mt.loop, mt.timer);
	mt.timer = 0;
	if (mx && metrics_flush(mx, &err) < 0)
		fprintf(stderr, "waitloop: warning: metrics: %s\n", err.msg);
	rc = runner_exit_code(r);

	const struct strvec *lost = runner_artifact_errors(r);
	for (size_t i = 0; i < lost->n; i++)
		fprintf(stderr, "waitloop: warning: context directory: %s\n", lost->v[i]);
	if (!lost->n && runner_artifact_error(r))
		fprintf(stderr, "waitloop: warning: context directory: %s\n", runner_artifact_error(r));
	cJSON *summary = runner_summary(r);
	report_augment(report, summary);
	redact_json(runner_redactor(r), summary);
	write_ci_reports(summary, junit_path, runner_redactor(r));
	if (a.json) {
		char *s = cJSON_Print(summary);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
	} else if (roboppi) {
		progress_print_roboppi_table(stdout, summary, colors_ok && isatty(STDOUT_FILENO));
	} else {
		progress_print_table(stdout, summary, colors_ok && isatty(STDOUT_FILENO));
	}
	cJSON_Delete(summary);
	fflush(stdout);
out:
	if (hb.timer)
		evloop_cancel_timer(hb.loop, hb.timer);
	if (mt.timer)
		evloop_cancel_timer(mt.loop, mt.timer);
	reaper_finish(rp);
	notify_free(nt);
	progress_free(pg);
	metrics_free(mx);
	runner_free(r);
	report_free(report);
	free(junit_path);
	store_close(store);
	preflight_report_release(&gate.rep);
	strvec_clear(&env);
	free(ws_abs);
	free(db_path);
	free(db_abs);
	free(metrics_path);
	workflow_free(wf);
out_args:
	run_args_release(&a);
	free(made_ws);
	return rc;
}
