/*
 * waitloop show RUN_ID|latest [-w DIR] [--db FILE] [--all] [--json] [--html FILE]
 *
 * One recorded run in detail: steps, iterations with decisions and
 * fingerprints, attempts, waits with their observations, git changes,
 * convergence, alerts, notifications. RUN_ID may be a unique prefix, or
 * "latest" / "@latest" for the newest run. A long text (a reason, a wait's
 * message, an observation summary) is printed once; later repeats say so.
 * Read-only except for the CRASHED marking of dead runs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "report_html.h"
#include "store.h"
#include "strbuf.h"
#include "strvec.h"
#include "timeutil.h"
#include "xalloc.h"

/* At most this many observations per wait in the text view (the last ones), without --all. */
#define SHOW_OBSERVATIONS 10
/* Texts at least this long are printed once; a repeat is replaced by a note. */
#define SHOW_LONG_TEXT 60

struct show {
	int all;              /* --all: every observation, summaries in full */
	struct strvec seen;   /* long texts printed so far */
};

/* 1 when text is long and was printed before (as a whole or inside a longer text);
 * else remember it and return 0. */
static int seen_before(struct show *sh, const char *text)
{
	if (!text || strlen(text) < SHOW_LONG_TEXT)
		return 0;
	for (size_t i = 0; i < sh->seen.n; i++)
		if (strstr(sh->seen.v[i], text))
			return 1;
	strvec_push(&sh->seen, text);
	return 0;
}

static const char show_usage[] =
	"usage: waitloop show RUN_ID|latest [-w DIR] [--db FILE] [--all] [--json] [--html FILE]\n"
	"\n"
	"Show one recorded run: steps, iterations (decision, reasons, fingerprints),\n"
	"attempts, waits (outcome, elapsed, observations), git changes, convergence,\n"
	"alerts and notifications. RUN_ID may be any unique prefix of a run id, or\n"
	"'latest' (also '@latest') for the newest run. A long message is printed once.\n"
	"\n"
	"Options:\n"
	"  -w, --workspace DIR  read DIR/.waitloop/history.db (unless $WAITLOOP_DB is set)\n"
	"      --db FILE        history database (default: $WAITLOOP_DB, else\n"
	"                       ./.waitloop/history.db)\n"
	"  -a, --all            every observation of every wait, summaries in full\n"
	"                       (default: the last 10 per wait, 160 characters each)\n"
	"      --json           print the run as one JSON object on stdout (always complete)\n"
	"      --html FILE      write a self-contained HTML picture of the run to FILE\n"
	"                       (steps on a time axis, every wait's observations, each\n"
	"                       iteration's verdict and fix.md) instead of the text view\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit codes: 0 shown, 1 no such run, ambiguous prefix or database error,\n"
	"2 usage error.\n";

static void short_time(const char *rfc, char *buf, size_t size)
{
	snprintf(buf, size, "%.19s", rfc && *rfc ? rfc : "-");
	char *t = strchr(buf, 'T');
	if (t)
		*t = ' ';
}

/* A JSON array of strings joined with sep ("" when absent or empty). */
static char *join(const cJSON *arr, const char *sep)
{
	struct strbuf sb = STRBUF_INIT;
	const cJSON *it, *list = cJSON_IsArray(arr) ? arr : NULL;
	cJSON_ArrayForEach(it, list) {
		if (!cJSON_IsString(it))
			continue;
		if (sb.len)
			strbuf_addstr(&sb, sep);
		strbuf_addstr(&sb, it->valuestring);
	}
	return strbuf_detach(&sb);
}

static void print_list(const char *indent, const char *label, const cJSON *arr)
{
	const cJSON *it, *list = cJSON_IsArray(arr) ? arr : NULL;
	cJSON_ArrayForEach(it, list) {
		if (cJSON_IsString(it))
			printf("%s%-12s %s\n", indent, label, it->valuestring);
	}
}

static void print_attempt(struct show *sh, const cJSON *a)
{
	struct strbuf sb = STRBUF_INIT;
	double d;
	if (json_has_number(a, "exit_code", &d))
		strbuf_addf(&sb, "exit %d", (int)d);
	if (json_has_number(a, "signal", &d))
		strbuf_addf(&sb, "%ssignal %d", sb.len ? ", " : "", (int)d);
	if (json_get_bool(a, "timed_out"))
		strbuf_addf(&sb, "%stimed out", sb.len ? ", " : "");
	char *sig = join(cJSON_GetObjectItemCaseSensitive(a, "signals_sent"), " ");
	if (*sig)
		strbuf_addf(&sb, "%ssent %s", sb.len ? ", " : "", sig);
	free(sig);
	if (json_has_number(a, "duration_s", &d)) {
		char dur[32];
		duration_format_seconds(d, dur, sizeof(dur));
		strbuf_addf(&sb, "%s%s", sb.len ? ", " : "", dur);
	}
	if (*json_get_str_or(a, "reason", ""))
		strbuf_addf(&sb, " — %s", seen_before(sh, json_get_str_or(a, "reason", "")) ? "(reason as above)" : json_get_str_or(a, "reason", ""));
	if (!*json_get_str_or(a, "finished_at", ""))
		strbuf_addstr(&sb, sb.len ? " (running)" : "running");
	printf("    attempt      %s #%d: %s\n", json_get_str_or(a, "phase", ""), json_get_int(a, "attempt", 0), strbuf_str(&sb));
	strbuf_release(&sb);
}

static void print_wait(struct show *sh, const cJSON *w)
{
	double el = 0;
	char dur[32] = "?";
	if (json_has_number(w, "elapsed_s", &el))
		duration_format_seconds(el, dur, sizeof(dur));
	const char *outcome = *json_get_str_or(w, "outcome", "") ? json_get_str_or(w, "outcome", "") : "(in progress)";
	/* an in-script wait (`waitloop wait` in the step's script) says so, with its name */
	const char *target = json_get_str_or(w, "target", ""), *name = json_get_str_or(w, "name", "");
	int script = json_get_bool(w, "script");
	printf("    wait         %s%s%s%s%s: %s after %s, %d observation%s%s", json_get_str_or(w, "phase", ""),
	       script ? " script wait " : "", script ? name : "", *target && !(script && !strcmp(target, name)) ? " " : "",
	       script && !strcmp(target, name) ? "" : target, outcome, dur, json_get_int(w, "observation_count", 0),
	       json_get_int(w, "observation_count", 0) == 1 ? "" : "s", json_get_bool(w, "early_abort") ? ", EARLY ABORT" : "");
	if (*json_get_str_or(w, "rule", ""))
		printf(" (rule %s)", json_get_str_or(w, "rule", ""));
	putchar('\n');
	if (*json_get_str_or(w, "message", ""))
		printf("                 %s\n", seen_before(sh, json_get_str_or(w, "message", "")) ? "(message as above)" : json_get_str_or(w, "message", ""));
	char *fps = join(cJSON_GetObjectItemCaseSensitive(w, "fingerprints"), ", ");
	if (*fps)
		printf("                 fingerprints: %s\n", fps);
	free(fps);
	const cJSON *obs = cJSON_GetObjectItemCaseSensitive(w, "observations");
	int n = cJSON_GetArraySize(obs), i = 0, skip = sh->all ? 0 : n - SHOW_OBSERVATIONS;
	if (skip > 0)
		printf("                 (%d earlier observation%s; --all shows them)\n", skip, skip == 1 ? "" : "s");
	const cJSON *o;
	cJSON_ArrayForEach(o, obs) {
		if (i++ < skip)
			continue;
		double oel = 0;
		char odur[32] = "?";
		if (json_has_number(o, "elapsed_s", &oel))
			duration_format_seconds(oel, odur, sizeof(odur));
		printf("                 #%-3d +%-7s %-14s", json_get_int(o, "seq", 0), odur, *json_get_str_or(o, "class", "") ? json_get_str_or(o, "class", "") : "-");
		if (*json_get_str_or(o, "digest", ""))
			printf(" digest %.12s%s", json_get_str_or(o, "digest", ""), json_get_bool(o, "changed") ? " (changed)" : "");
		if (json_get_int(o, "no_progress", 0))
			printf(" no-progress %d", json_get_int(o, "no_progress", 0));
		if (*json_get_str_or(o, "probe_error", ""))
			printf(" probe error: %s", json_get_str_or(o, "probe_error", ""));
		if (*json_get_str_or(o, "summary", "") && seen_before(sh, json_get_str_or(o, "summary", "")))
			printf(" — (summary as above)");
		else if (*json_get_str_or(o, "summary", ""))
			printf(" — %.*s%s", sh->all ? (int)strlen(json_get_str_or(o, "summary", "")) : 160, json_get_str_or(o, "summary", ""),
			       !sh->all && strlen(json_get_str_or(o, "summary", "")) > 160 ? "…" : "");
		putchar('\n');
	}
}

static void print_git(const cJSON *g)
{
	if (!cJSON_IsObject(g))
		return;
	const char *hb = json_get_str_or(g, "head_before", ""), *ha = json_get_str_or(g, "head_after", "");
	printf("    git          %s%s%.10s", *json_get_str_or(g, "branch", "") ? json_get_str_or(g, "branch", "") : "(detached)", " ", *hb ? hb : "-");
	if (strcmp(hb, ha))
		printf(" -> %.10s", *ha ? ha : "-");
	printf(", %d file%s changed, +%d -%d\n", json_get_int(g, "files_changed", 0), json_get_int(g, "files_changed", 0) == 1 ? "" : "s",
	       json_get_int(g, "insertions", 0), json_get_int(g, "deletions", 0));
	const cJSON *f, *files = cJSON_GetObjectItemCaseSensitive(g, "files");
	if (!cJSON_IsArray(files))
		files = NULL;
	cJSON_ArrayForEach(f, files) {
		const char *st = json_get_str_or(f, "status", "");
		printf("                 %c %s +%d -%d%s\n", *st ? (char)(*st - 'a' + 'A') : '?', json_get_str_or(f, "path", ""),
		       json_get_int(f, "insertions", 0), json_get_int(f, "deletions", 0), json_get_bool(f, "binary") ? " (binary)" : "");
	}
}

/* Everything of a step that belongs to iteration it (0 = not iterating). */
static void print_iteration_items(struct show *sh, const cJSON *step, int it)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(step, "attempts"))
		if (json_get_int(x, "iteration", 0) == it)
			print_attempt(sh, x);
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(step, "waits"))
		if (json_get_int(x, "iteration", 0) == it)
			print_wait(sh, x);
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(step, "kills"))
		if (json_get_int(x, "iteration", 0) == it) {
			char *sig = join(cJSON_GetObjectItemCaseSensitive(x, "signals_sent"), " ");
			printf("    stopped      %s: %s%s%s\n", json_get_str_or(x, "phase", ""), sig, *json_get_str_or(x, "why", "") ? " — " : "", json_get_str_or(x, "why", ""));
			free(sig);
		}
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(step, "git"))
		if (json_get_int(x, "iteration", 0) == it)
			print_git(x);
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(step, "convergence"))
		if (json_get_int(x, "iteration", 0) == it) {
			char *fps = join(cJSON_GetObjectItemCaseSensitive(x, "fingerprints"), ", ");
			printf("    convergence  stage %d%s%s%s%s\n", json_get_int(x, "stage", 0), *fps ? " [" : "", fps, *fps ? "]" : "",
			       *json_get_str_or(x, "diagnosis", "") ? "" : "");
			if (*json_get_str_or(x, "diagnosis", ""))
				printf("                 %s\n", json_get_str_or(x, "diagnosis", ""));
			free(fps);
		}
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(step, "alerts"))
		if (json_get_int(x, "iteration", 0) == it)
			printf("    ALERT        %d consecutive failures (threshold %d)%s%s\n", json_get_int(x, "consecutive_failures", 0),
			       json_get_int(x, "threshold", 0), *json_get_str_or(x, "reason", "") ? ": " : "", json_get_str_or(x, "reason", ""));
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(step, "warnings"))
		if (json_get_int(x, "iteration", 0) == it)
			printf("    warning      %s\n", json_get_str_or(x, "message", ""));
}

/* A list of reasons: each long one once. */
static void print_reasons(struct show *sh, const cJSON *arr)
{
	const cJSON *it, *list = cJSON_IsArray(arr) ? arr : NULL;
	cJSON_ArrayForEach(it, list)
		if (cJSON_IsString(it))
			printf("    %-12s %s\n", "reason", seen_before(sh, it->valuestring) ? "(as above)" : it->valuestring);
}

static void print_step(struct show *sh, const cJSON *step)
{
	int ni = json_get_int(step, "iteration_count", 0), na = json_get_int(step, "attempt_count", 0);
	printf("\nStep %s  %s", json_get_str_or(step, "step", ""), json_get_str_or(step, "status", ""));
	if (ni || na) {
		printf("  (");
		if (ni)
			printf("%d iteration%s%s", ni, ni == 1 ? "" : "s", na ? ", " : "");
		if (na)
			printf("%d attempt%s", na, na == 1 ? "" : "s");
		printf(")");
	}
	putchar('\n');
	if (*json_get_str_or(step, "reason", ""))
		printf("  reason: %s\n", json_get_str_or(step, "reason", ""));
	seen_before(sh, json_get_str_or(step, "reason", ""));
	print_iteration_items(sh, step, 0);
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(step, "iterations")) {
		int n = json_get_int(it, "iteration", 0);
		const char *decision = *json_get_str_or(it, "decision", "") ? json_get_str_or(it, "decision", "") : "(in progress)";
		printf("  Iteration %d: %s", n, decision);
		if (*json_get_str_or(it, "decision_source", ""))
			printf(" (%s)", json_get_str_or(it, "decision_source", ""));
		putchar('\n');
		print_reasons(sh, cJSON_GetObjectItemCaseSensitive(it, "reasons"));
		print_list("    ", "fingerprint", cJSON_GetObjectItemCaseSensitive(it, "fingerprints"));
		print_iteration_items(sh, step, n);
		print_git(cJSON_GetObjectItemCaseSensitive(it, "git"));
	}
}

static void print_run(struct show *sh, const cJSON *run)
{
	char started[32], finished[32], dur[32] = "-";
	double d;
	short_time(json_get_string(run, "started_at"), started, sizeof(started));
	short_time(json_get_string(run, "finished_at"), finished, sizeof(finished));
	if (json_has_number(run, "duration_s", &d))
		duration_format_seconds(d, dur, sizeof(dur));
	printf("Run        %s\n", json_get_str_or(run, "id", ""));
	printf("Workflow   %s%s%s%s\n", json_get_str_or(run, "workflow", ""), *json_get_str_or(run, "file", "") ? " (" : "", json_get_str_or(run, "file", ""),
	       *json_get_str_or(run, "file", "") ? ")" : "");
	printf("Status     %s", json_get_str_or(run, "status", ""));
	if (json_has_number(run, "exit_code", &d))
		printf(" (exit %d)", (int)d);
	if (*json_get_str_or(run, "status_reason", ""))
		printf(" — %s", json_get_str_or(run, "status_reason", ""));
	putchar('\n');
	printf("Started    %s UTC\n", started);
	printf("Finished   %s%s (%s)\n", finished, strcmp(finished, "-") ? " UTC" : "", dur);
	if (*json_get_str_or(run, "workspace", ""))
		printf("Workspace  %s\n", json_get_str_or(run, "workspace", ""));
	if (*json_get_str_or(run, "context_dir", ""))
		printf("Context    %s\n", json_get_str_or(run, "context_dir", ""));
	if (json_has_number(run, "pid", &d))
		printf("Runner     pid %d on %s\n", (int)d, json_get_str_or(run, "hostname", ""));

	const cJSON *x, *pre = cJSON_GetObjectItemCaseSensitive(run, "preflight");
	if (cJSON_GetArraySize(pre) > 0) {
		printf("\nPreflight\n");
		cJSON_ArrayForEach(x, pre) {
			printf("  %-5s %s", json_get_bool(x, "ok") ? "ok" : "FAIL", json_get_str_or(x, "name", ""));
			if (*json_get_str_or(x, "fingerprint", ""))
				printf("  [%s]", json_get_str_or(x, "fingerprint", ""));
			if (*json_get_str_or(x, "message", ""))
				printf("  %s", json_get_str_or(x, "message", ""));
			putchar('\n');
		}
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(run, "steps"))
		print_step(sh, x);
	const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(run, "alerts");
	if (cJSON_GetArraySize(alerts) > 0) {
		printf("\nAlerts\n");
		cJSON_ArrayForEach(x, alerts)
			printf("  %d consecutive failures (threshold %d)%s%s\n", json_get_int(x, "consecutive_failures", 0),
			       json_get_int(x, "threshold", 0), *json_get_str_or(x, "reason", "") ? ": " : "", json_get_str_or(x, "reason", ""));
	}
	const cJSON *notes = cJSON_GetObjectItemCaseSensitive(run, "notifications");
	if (cJSON_GetArraySize(notes) > 0) {
		printf("\nNotifications\n");
		cJSON_ArrayForEach(x, notes) {
			printf("  %s", json_get_str_or(x, "event", ""));
			if (*json_get_str_or(x, "step", ""))
				printf(" %s", json_get_str_or(x, "step", ""));
			if (json_get_int(x, "iteration", 0))
				printf("#%d", json_get_int(x, "iteration", 0));
			printf(" -> %s: %s", json_get_str_or(x, "target", ""), *json_get_str_or(x, "reason", "") ? json_get_str_or(x, "reason", "") : "(pending)");
			if (json_get_int(x, "suppressed", 0))
				printf(" (%d duplicate%s suppressed)", json_get_int(x, "suppressed", 0), json_get_int(x, "suppressed", 0) == 1 ? "" : "s");
			if (*json_get_str_or(x, "message", ""))
				printf(" — %.160s", json_get_str_or(x, "message", ""));
			putchar('\n');
		}
	}
}

/* Each iteration gets its archived review.verdict and fix.md (as text) for the HTML view. */
static void attach_archive(cJSON *run)
{
	const char *ctx = json_get_string(run, "context_dir");
	cJSON *s, *it;
	if (!ctx)
		return;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(run, "steps")) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(s, "iterations")) {
			static const char *const files[][2] = {{"review.verdict", "verdict_text"}, {"fix.md", "fix_md"}};
			for (size_t k = 0; k < 2; k++) {
				char *p = xasprintf("%s/%s/iterations/%d/%s", ctx, json_get_str_or(s, "step", ""), json_get_int(it, "iteration", 0),
						    files[k][0]);
				struct strbuf sb = STRBUF_INIT;
				struct wl_err err = WL_ERR_INIT;
				if (fs_read_file(p, 256 * 1024, &sb, &err) == 0 && sb.len)
					cJSON_AddStringToObject(it, files[k][1], strbuf_str(&sb));
				strbuf_release(&sb);
				free(p);
			}
		}
	}
}

int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"workspace", required_argument, NULL, 'w'},
		{"all", no_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{"html", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *db = NULL, *id = NULL, *workspace = NULL, *html = NULL;
	struct show sh = {0, STRVEC_INIT};
	int json = 0, c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":w:ah", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'w': workspace = optarg; break;
		case 'a': sh.all = 1; break;
		case 'j': json = 1; break;
		case 'H': html = optarg; break;
		case 'h':
			fputs(show_usage, stdout);
			return 0;
		default:
			return usage_getopt_error("show", c, argv, opts);
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc)
		return usage_error("show", "unexpected argument '%s'", argv[optind]);
	if (workspace && !fs_is_dir(workspace))
		return usage_error("show", "workspace '%s' is not a directory", workspace);
	if (!id || !*id)
		return usage_error("show", "missing RUN_ID (or 'latest')");
	int latest = !strcmp(id, "latest") || !strcmp(id, "@latest");
	char *path = db ? xstrdup(db) : store_default_path(workspace);
	if (!fs_exists(path)) {
		print_error("no run '%s': history database '%s' does not exist", id, path);
		free(path);
		return 1;
	}
	struct wl_err err = WL_ERR_INIT;
	struct store *st = store_open(path, &err);
	if (!st && store_err_readonly(&err))   /* a read-only copy or medium: read it as it is */
		st = store_open_readonly(path, &err);
	cJSON *run = NULL;
	int rc = 1;
	if (!st || (!store_is_readonly(st) && store_mark_crashed(st, &err) < 0)) {
		print_error("%s", err.msg);
		goto out;
	}
	if (latest) {
		cJSON *newest = NULL;
		if (store_list_runs(st, 1, &newest, &err) < 0) {
			print_error("%s", err.msg);
			goto out;
		}
		const char *nid = json_get_string(cJSON_GetArrayItem(newest, 0), "id");
		if (!nid) {
			print_error("no runs recorded in history database '%s'", path);
			cJSON_Delete(newest);
			goto out;
		}
		int r = store_get_run(st, nid, &run, &err);
		cJSON_Delete(newest);
		if (r < 0) {
			print_error("%s", err.msg);
			goto out;
		}
	} else if (store_get_run(st, id, &run, &err) < 0) {
		print_error("%s", err.msg);
		goto out;
	}
	if (html) {
		struct strbuf page = STRBUF_INIT;
		attach_archive(run);
		html_run_report(run, &page);
		int w = fs_write_atomic(html, page.buf, page.len, &err);
		strbuf_release(&page);
		if (w < 0) {
			print_error("%s", err.msg);
			goto out;
		}
		if (!json)
			fprintf(stderr, "waitloop: wrote '%s'\n", html);
	}
	if (json) {
		char *txt = cJSON_Print(run);
		puts(txt);
		cJSON_free(txt);
	} else if (!html) {
		print_run(&sh, run);
	}
	rc = 0;
out:
	cJSON_Delete(run);
	strvec_clear(&sh.seen);
	store_close(st);
	free(path);
	return rc;
}
