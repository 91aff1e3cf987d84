/*
 * waitloop history [-w DIR] [--db FILE] [--status S] [--workflow W]
 *                  [--since WHEN] [--limit N] [--json]
 *
 * Lists recorded runs, newest first, optionally filtered. Read-only except
 * that runs whose runner died are marked CRASHED first
 * (store_mark_crashed()). A database that does not exist yet means "no runs
 * recorded": exit 0, nothing created. The --json array is an interface
 * (docs/history.md, schema/history.schema.json).
 * What dead runs left running is stopped (reaper_stop_orphans()).
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "store.h"
#include "suggest.h"
#include "timeutil.h"
#include "xalloc.h"

static const char history_usage[] =
	"usage: waitloop history [-w DIR] [--db FILE] [--status S] [--workflow W]\n"
	"                        [--since WHEN] [--limit N] [--json]\n"
	"\n"
	"List recorded runs, newest first: run id, workflow, status, start time\n"
	"(UTC), duration, iterations, early aborts.\n"
	"\n"
	"Options:\n"
	"  -w, --workspace DIR  read DIR's history: DIR/.waitloop/history.db (as 'run -w DIR'\n"
	"                       records it; $WAITLOOP_DB, when set, is used by both)\n"
	"      --db FILE        history database (default: $WAITLOOP_DB, else\n"
	"                       ./.waitloop/history.db)\n"
	"  -s, --status S       only runs with this status; a comma-separated list, any\n"
	"                       case (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, CRASHED, RUNNING)\n"
	"      --workflow W     only runs of this workflow (name; * ? [..] globs allowed)\n"
	"      --since WHEN     only runs started since WHEN: a duration ago (90m, 2h, 7d, 2w)\n"
	"                       or a UTC date/time (2026-11-30, 2026-11-30T08:00:00Z)\n"
	"  -n, --limit N        show at most N runs (default 20; 0 = all)\n"
	"      --json           print the runs as one JSON array on stdout (stable:\n"
	"                       docs/history.md, 'waitloop schema history')\n"
	"  -h, --help           show this help\n"
	"\n"
	"Runs whose runner is gone (dead pid, or no heartbeat for 2 minutes) are\n"
	"marked CRASHED first. See 'waitloop show RUN_ID' (or 'show latest') for one run.\n"
	"\n"
	"Exit codes: 0 listed (also when no database exists yet or nothing matches),\n"
	"1 database error, 2 usage error.\n";

static const char *const statuses[] = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "CRASHED", NULL};

/* Every comma-separated item of list is a known status; else a usage error (2). */
static int check_statuses(const char *list)
{
	char *copy = xstrdup(list), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(copy, ", ", &save); t && !rc; t = strtok_r(NULL, ", ", &save)) {
		for (char *p = t; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		int known = 0;
		for (size_t i = 0; statuses[i]; i++)
			known |= !strcmp(t, statuses[i]);
		if (known)
			continue;
		const char *s = suggest_closest(t, statuses);
		rc = s ? usage_error("history", "unknown status '%s' in --status (did you mean '%s'?)", t, s)
		       : usage_error("history", "unknown status '%s' in --status (known: SUCCEEDED, FAILED, "
						"TIMED_OUT, CANCELLED, CRASHED, RUNNING)", t);
	}
	if (!rc && !strpbrk(list, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
		rc = usage_error("history", "empty --status");
	free(copy);
	return rc;
}

/* --since: "7d", "2w", any duration ("90m", "1h30m"), or a UTC date / date-time. -1 when invalid. */
static int64_t parse_since(const char *s, int64_t now_ms)
{
	size_t n = strlen(s);
	int64_t ms;
	if (n >= 2 && (s[n - 1] == 'd' || s[n - 1] == 'w')) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s + n - 1 && v >= 0 && v < 100000 && isdigit((unsigned char)s[0]))
			return now_ms - v * (s[n - 1] == 'd' ? 86400000LL : 7 * 86400000LL);
		return -1;
	}
	if (duration_parse(s, &ms) == 0)
		return now_ms - ms;
	static const char *const formats[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%MZ",
					      "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", NULL};
	for (size_t i = 0; formats[i]; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		const char *end = strptime(s, formats[i], &tm);
		if (end && !*end)
			return (int64_t)timegm(&tm) * 1000;
	}
	return -1;
}

/* "2026-11-21T04:30:00.123Z" -> "2026-11-21 04:30:00". */
static void short_time(const char *rfc, char *buf, size_t size)
{
	snprintf(buf, size, "%.19s", rfc ? rfc : "-");
	char *t = strchr(buf, 'T');
	if (t)
		*t = ' ';
}

static void print_table(const cJSON *runs)
{
	int wid = 6, wwf = 8, wst = 6;
	const cJSON *r;
	cJSON_ArrayForEach(r, runs) {
		int a = (int)strlen(json_get_str_or(r, "id", "")), b = (int)strlen(json_get_str_or(r, "workflow", "-")),
		    c = (int)strlen(json_get_str_or(r, "status", ""));
		wid = a > wid ? a : wid;
		wwf = b > wwf ? (b > 32 ? 32 : b) : wwf;
		wst = c > wst ? c : wst;
	}
	printf("%-*s  %-*s  %-*s  %-19s  %9s  %5s  %6s\n", wid, "RUN ID", wwf, "WORKFLOW", wst, "STATUS",
	       "STARTED (UTC)", "DURATION", "ITER", "ABORTS");
	cJSON_ArrayForEach(r, runs) {
		char started[32], dur[32];
		short_time(json_get_string(r, "started_at"), started, sizeof(started));
		seconds_of(r, "duration_s", dur, sizeof(dur));
		printf("%-*s  %-*.*s  %-*s  %-19s  %9s  %5d  %6d\n", wid, json_get_str_or(r, "id", ""), wwf, wwf,
		       json_get_str_or(r, "workflow", "-"), wst, json_get_str_or(r, "status", ""), started, dur, json_get_int(r, "iterations", 0),
		       json_get_int(r, "early_aborts", 0));
	}
}

int cmd_history(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"workspace", required_argument, NULL, 'w'},
		{"status", required_argument, NULL, 's'},
		{"workflow", required_argument, NULL, 'W'},
		{"since", required_argument, NULL, 'S'},
		{"limit", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *db = NULL, *limit_s = NULL, *workspace = NULL, *since = NULL;
	struct store_run_filter filter = STORE_RUN_FILTER_INIT;
	int json = 0, c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":w:s:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'w': workspace = optarg; break;
		case 's': filter.status = optarg; break;
		case 'W': filter.workflow = optarg; break;
		case 'S': since = optarg; break;
		case 'n': limit_s = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			fputs(history_usage, stdout);
			return 0;
		default:
			return usage_getopt_error("history", c, argv, opts);
		}
	}
	if (optind < argc)
		return usage_error("history", "unexpected argument '%s'", argv[optind]);
	if (filter.status && check_statuses(filter.status))
		return 2;
	if (filter.workflow && !*filter.workflow)
		return usage_error("history", "empty --workflow");
	if (since && (filter.since_ms = parse_since(since, time_wall_ms())) < 0)
		return usage_error("history", "invalid --since '%s' (a duration such as 2h or 7d, or a UTC date "
					      "such as 2026-11-30 or 2026-11-30T08:00:00Z)", since);
	if (workspace && !fs_is_dir(workspace))
		return usage_error("history", "workspace '%s' is not a directory", workspace);
	int limit = 20;
	if (limit_s) {
		char *end;
		long v = strtol(limit_s, &end, 10);
		if (!*limit_s || *end || v < 0 || v > 100000000)
			return usage_error("history", "invalid --limit '%s' (want a number >= 0)", limit_s);
		limit = (int)v;
	}
	filter.limit = limit;
	char *path = db ? xstrdup(db) : store_default_path(workspace);
	if (!fs_exists(path)) {
		if (json) {
			puts("[]");
			fprintf(stderr, "waitloop: no runs recorded (database '%s' does not exist)\n", path);
		} else {
			printf("no runs recorded (database '%s' does not exist)\n", path);
		}
		free(path);
		return 0;
	}
	struct wl_err err = WL_ERR_INIT;
	struct store *st = store_open(path, &err);
	if (!st && store_err_readonly(&err))   /* a read-only copy or medium: read it as it is */
		st = store_open_readonly(path, &err);
	cJSON *runs = NULL;
	int rc = 1;
	if (!st || (!store_is_readonly(st) && store_mark_crashed(st, &err) < 0)) {
		print_error("%s", err.msg);
		goto out;
	}
	if (!store_is_readonly(st))
		stop_orphans(st);
	if (store_list_runs_where(st, &filter, &runs, &err) < 0) {
		print_error("%s", err.msg);
		goto out;
	}
	if (json) {
		char *txt = cJSON_Print(runs);
		puts(txt);
		cJSON_free(txt);
	} else if (cJSON_GetArraySize(runs) == 0) {
		printf("no %s in '%s'\n", filter.status || filter.workflow || since ? "matching runs" : "runs recorded", path);
	} else {
		print_table(runs);
	}
	rc = 0;
out:
	cJSON_Delete(runs);
	store_close(st);
	free(path);
	return rc;
}
