/*
 * waitloop stats [--since D] [--workflow W] [--target T] [--json] [--html FILE] [DB...]
 * waitloop tune TARGET [--min-samples N] [--since D] [--workflow W] [--json] [DB...]
 *
 * What the history says across runs (insights.h): per wait target and per
 * dependency, the top fingerprints, loops, suspected false aborts; and
 * wait_policy settings for one target from that evidence. Read-only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fsutil.h"
#include "insights.h"
#include "jsonutil.h"
#include "report_html.h"
#include "store.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

static const char stats_usage[] =
	"usage: waitloop stats [OPTIONS] [DB...]\n"
	"\n"
	"What the history says across runs: per wait target the waits and their\n"
	"outcomes (met / terminal / stalled / timeout), time to met p50/p90/p99,\n"
	"time to decision of early aborts, observations per wait; the dependencies\n"
	"that failed most; the top fingerprints; loops (iterations to convergence,\n"
	"fingerprints that needed more than one iteration); suspected false aborts.\n"
	"DB...: one or more history databases, read-only (default: $WAITLOOP_DB,\n"
	"else ./.waitloop/history.db); several files are merged (a fleet view of\n"
	"the databases CI jobs upload).\n"
	"\n"
	"Options:\n"
	"      --since D        only runs started in the last D (e.g. 7d, 12h, 30m)\n"
	"      --workflow W     only runs of workflow W\n"
	"      --target T       only waits on target T\n"
	"      --window D       a met wait this soon after a stall on the same target,\n"
	"                       when git cannot tell, makes the stall a suspected false\n"
	"                       abort (default 10m)\n"
	"      --json           print the stats document (schema waitloop.stats.v1)\n"
	"      --html FILE      also write a self-contained HTML report to FILE\n"
	"      --suggest T      print suggested wait_policy settings for target T\n"
	"                       (same as 'waitloop tune T')\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit codes: 0 printed, 1 database error or not enough evidence (--suggest),\n"
	"2 usage error.\n";

static const char tune_usage[] =
	"usage: waitloop tune TARGET [OPTIONS] [DB...]\n"
	"\n"
	"Suggest wait_policy settings for TARGET from the history: max_wait from the\n"
	"p99 time to met with a margin, interval from how fast the state changes,\n"
	"stall_threshold and progress_deadline from the longest silent stretch seen\n"
	"in waits that were met (and above every suspected false abort). Printed as\n"
	"a YAML wait_policy: snippet with the figures it came from.\n"
	"\n"
	"Options:\n"
	"      --min-samples N  refuse with fewer than N met waits (default 5)\n"
	"      --since D, --workflow W, --window D   as for 'waitloop stats'\n"
	"      --json           print the suggestion as JSON\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit codes: 0 suggested, 1 not enough evidence or database error, 2 usage error.\n";

/* "7d", "12h", "90m", "1h30m": days on top of SPEC durations. */
static int parse_since(const char *s, int64_t *ms)
{
	char *end;
	long long days = strtoll(s, &end, 10);
	if (end != s && !strcmp(end, "d") && days > 0 && days < 100000) {
		*ms = days * 86400000LL;
		return 0;
	}
	return duration_parse(s, ms);
}

static void print_stats(const cJSON *doc)
{
	const cJSON *it, *f = cJSON_GetObjectItemCaseSensitive(doc, "filter");
	int ndb = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "databases"));
	printf("History: %d runs, %d waits in %d database%s", json_get_int(doc, "runs", 0), json_get_int(doc, "waits", 0), ndb,
	       ndb == 1 ? "" : "s");
	if (*json_get_str_or(f, "since", ""))
		printf(", since %s", json_get_str_or(f, "since", ""));
	if (*json_get_str_or(f, "workflow", ""))
		printf(", workflow %s", json_get_str_or(f, "workflow", ""));
	if (*json_get_str_or(f, "target", ""))
		printf(", target %s", json_get_str_or(f, "target", ""));
	printf("\n");

	const cJSON *targets = cJSON_GetObjectItemCaseSensitive(doc, "targets");
	if (cJSON_GetArraySize(targets)) {
		printf("\n%-40s %5s %5s %5s %5s %5s  %-22s %8s %8s %6s\n", "WAIT TARGET", "WAITS", "MET", "TERM",
		       "STALL", "TMOUT", "TIME TO MET p50/90/99", "DECIDED", "OBS/WAIT", "FALSE?");
		cJSON_ArrayForEach(it, targets) {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "time_to_met_s");
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "time_to_decision_s");
			char p50[16], p90[16], p99[16], dec[16], ttm[64];
			seconds_of(m, "p50", p50, sizeof(p50));
			seconds_of(m, "p90", p90, sizeof(p90));
			seconds_of(m, "p99", p99, sizeof(p99));
			seconds_of(d, "p50", dec, sizeof(dec));
			snprintf(ttm, sizeof(ttm), "%s/%s/%s", p50, p90, p99);
			printf("%-40.40s %5d %5d %5d %5d %5d  %-22s %8s %8.1f %6d\n", json_get_str_or(it, "target", ""),
			       json_get_int(it, "waits", 0), json_get_int(it, "met", 0), json_get_int(it, "terminal_fail", 0), json_get_int(it, "stalled", 0),
			       json_get_int(it, "timeout", 0), ttm, dec,
			       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "observations_per_wait")),
			       json_get_int(it, "suspected_false_aborts", 0));
		}
	}
	const cJSON *deps = cJSON_GetObjectItemCaseSensitive(doc, "dependencies");
	if (cJSON_GetArraySize(deps)) {
		printf("\n%-40s %12s  %s\n", "DEPENDENCY (failed most first)", "FAILED WAITS", "TARGETS");
		cJSON_ArrayForEach(it, deps) {
			struct strbuf tl = STRBUF_INIT;
			const cJSON *t;
			cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(it, "targets"))
				strbuf_addf(&tl, "%s%s", tl.len ? ", " : "", cJSON_GetStringValue(t));
			printf("%-40.40s %12d  %s\n", json_get_str_or(it, "dependency", ""), json_get_int(it, "failed_waits", 0), strbuf_str(&tl));
			strbuf_release(&tl);
		}
	}
	const cJSON *fps = cJSON_GetObjectItemCaseSensitive(doc, "fingerprints");
	if (cJSON_GetArraySize(fps)) {
		printf("\n%-50s %6s %5s  %-19s  %-19s\n", "TOP FINGERPRINTS", "COUNT", "RUNS", "FIRST SEEN (UTC)",
		       "LAST SEEN (UTC)");
		cJSON_ArrayForEach(it, fps)
			printf("%-50.50s %6d %5d  %-19.19s  %-19.19s\n", json_get_str_or(it, "fingerprint", ""), json_get_int(it, "count", 0),
			       json_get_int(it, "runs", 0), json_get_str_or(it, "first_seen", ""), json_get_str_or(it, "last_seen", ""));
	}
	const cJSON *loops = cJSON_GetObjectItemCaseSensitive(doc, "loops");
	if (json_get_int(loops, "loops", 0)) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(loops, "iterations_to_convergence");
		printf("\nLoops: %d, converged %d; iterations to convergence p50 %d, p90 %d, max %d\n",
		       json_get_int(loops, "loops", 0), json_get_int(loops, "converged", 0), json_get_int(c, "p50", 0), json_get_int(c, "p90", 0), json_get_int(c, "max", 0));
		const cJSON *need = cJSON_GetObjectItemCaseSensitive(loops, "fingerprints_needing_more_iterations");
		if (cJSON_GetArraySize(need)) {
			printf("Fingerprints that needed more than one iteration (loops):\n");
			cJSON_ArrayForEach(it, need)
				printf("  %5d  %s\n", json_get_int(it, "loops", 0), json_get_str_or(it, "fingerprint", ""));
		}
	}
	const cJSON *fa = cJSON_GetObjectItemCaseSensitive(doc, "suspected_false_aborts");
	printf("\nSuspected false aborts: %d\n", cJSON_GetArraySize(fa));
	cJSON_ArrayForEach(it, fa) {
		char el[16];
		seconds_of(it, "elapsed_s", el, sizeof(el));
		printf("  %s %s iteration %d: %s stalled after %d observations (%s, no progress %d); %s\n",
		       json_get_str_or(it, "run_id", ""), json_get_str_or(it, "step", ""), json_get_int(it, "iteration", 0), json_get_str_or(it, "target", ""),
		       json_get_int(it, "observations", 0), el, json_get_int(it, "no_progress", 0), json_get_str_or(it, "why", ""));
	}
}

static void print_suggestion(const cJSON *s)
{
	const cJSON *wp = cJSON_GetObjectItemCaseSensitive(s, "wait_policy");
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(s, "from");
	char p50[16], p99[16], mx[16], ch[16], sil[16];
	seconds_of(from, "time_to_met_p50_s", p50, sizeof(p50));
	seconds_of(from, "time_to_met_p99_s", p99, sizeof(p99));
	seconds_of(from, "time_to_met_max_s", mx, sizeof(mx));
	seconds_of(from, "change_interval_s", ch, sizeof(ch));
	seconds_of(from, "longest_silent_met_s", sil, sizeof(sil));
	int np_met = json_get_int(from, "max_no_progress_met", 0), np_fa = json_get_int(from, "false_abort_no_progress", 0);
	printf("# waitloop tune %s: from %d met waits\n", json_get_str_or(s, "target", ""), json_get_int(s, "met_samples", 0));
	printf("# max_wait %s: p99 time to met %s (p50 %s, max %s) x 1.25, at least +10s\n", json_get_str_or(wp, "max_wait", ""),
	       p99, p50, mx);
	printf("# interval %s: the state changes every %s (median); a third of that, 1s..60s\n",
	       json_get_str_or(wp, "interval", ""), ch);
	printf("# stall_threshold %d: 1.5 x the longest run without progress + 1 (%d in a met wait",
	       json_get_int(wp, "stall_threshold", 0), np_met);
	if (json_get_int(from, "suspected_false_aborts", 0))
		printf(", %d at %d suspected false aborts", np_fa, json_get_int(from, "suspected_false_aborts", 0));
	printf(")\n# progress_deadline %s: 1.5 x the longest silence in a met wait (%s), at least 1m\n",
	       json_get_str_or(wp, "progress_deadline", ""), sil);
	printf("wait_policy:\n");
	printf("  max_wait: %s\n", json_get_str_or(wp, "max_wait", ""));
	printf("  interval: %s\n", json_get_str_or(wp, "interval", ""));
	printf("  stall_threshold: %d\n", json_get_int(wp, "stall_threshold", 0));
	printf("  progress_deadline: %s\n", json_get_str_or(wp, "progress_deadline", ""));
}

static void print_json(const cJSON *o)
{
	char *txt = cJSON_Print(o);
	puts(txt);
	cJSON_free(txt);
}

/* Shared by stats and tune: options, databases, the document. */
static int stats_main(const char *cmd, int argc, char **argv, const char *tune_target)
{
	static const struct option opts[] = {
		{"since", required_argument, NULL, 's'},  {"workflow", required_argument, NULL, 'W'},
		{"target", required_argument, NULL, 't'}, {"window", required_argument, NULL, 'x'},
		{"json", no_argument, NULL, 'j'},         {"html", required_argument, NULL, 'H'},
		{"suggest", required_argument, NULL, 'S'}, {"min-samples", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct insights_filter f = INSIGHTS_FILTER_INIT;
	const char *html = NULL, *suggest = tune_target;
	int json = 0, min_met = 5, c, tune = tune_target != NULL;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_since(optarg, &f.since_ms) < 0 || f.since_ms <= 0)
				return usage_error(cmd, "invalid --since '%s' (want e.g. 7d, 12h, 30m)", optarg);
			break;
		case 'x':
			if (duration_parse(optarg, &f.window_ms) < 0)
				return usage_error(cmd, "invalid --window '%s' (want e.g. 10m)", optarg);
			break;
		case 'W': f.workflow = optarg; break;
		case 't':
			if (tune)
				return usage_error(cmd, "unknown option '--target' (the target is the first argument)");
			f.target = optarg;
			break;
		case 'j': json = 1; break;
		case 'H':
			if (tune)
				return usage_error(cmd, "unknown option '--html'");
			html = optarg;
			break;
		case 'S': suggest = optarg; break;
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1 || v > 1000000)
				return usage_error(cmd, "invalid --min-samples '%s' (want a number >= 1)", optarg);
			min_met = (int)v;
			break;
		}
		case 'h':
			fputs(tune ? tune_usage : stats_usage, stdout);
			return 0;
		default:
			return usage_getopt_error(cmd, c, argv, opts);
		}
	}
	char *dflt = NULL;
	const char *const *dbs = (const char *const *)argv + optind;
	size_t ndbs = (size_t)(argc - optind);
	if (!ndbs) {
		dflt = store_default_path(NULL);
		dbs = (const char *const *)&dflt;
		ndbs = 1;
	}
	struct wl_err err = WL_ERR_INIT;
	int rc = 1;
	cJSON *doc = insights_collect(dbs, ndbs, &f, &err), *sug = NULL;
	if (!doc) {
		print_error("%s", err.msg);
		goto out;
	}
	if (suggest) {
		if (!(sug = insights_suggest(doc, suggest, min_met, &err))) {
			print_error("%s", err.msg);
			goto out;
		}
		if (json)
			print_json(sug);
		else
			print_suggestion(sug);
		rc = 0;
		goto out;
	}
	if (html) {
		struct strbuf page = STRBUF_INIT;
		html_stats_report(doc, &page);
		int w = fs_write_atomic(html, page.buf, page.len, &err);
		strbuf_release(&page);
		if (w < 0) {
			print_error("%s", err.msg);
			goto out;
		}
	}
	if (json)
		print_json(doc);
	else
		print_stats(doc);
	rc = 0;
out:
	cJSON_Delete(sug);
	cJSON_Delete(doc);
	free(dflt);
	return rc;
}

int cmd_stats(int argc, char **argv)
{
	return stats_main("stats", argc, argv, NULL);
}

int cmd_tune(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(tune_usage, stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-')
		return usage_error("tune", "missing TARGET (e.g. 'waitloop tune crd/x')");
	const char *target = argv[1];
	/* getopt_long sees "tune OPTIONS DB..." with the target taken out. */
	argv[1] = argv[0];
	return stats_main("tune", argc - 1, argv + 1, target);
}
