/*
 * waitloop history [--db FILE] [--limit N] [--json]
 *
 * Lists recorded runs, newest first. Read-only except that runs whose
 * runner died are marked CRASHED first (store_mark_crashed()) and what
 * they left running is stopped (reaper_stop_orphans()). A database
 * that does not exist yet means "no runs recorded": exit 0, nothing created.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "store.h"
#include "timeutil.h"
#include "xalloc.h"

static const char history_usage[] =
	"usage: waitloop history [--db FILE] [--limit N] [--json]\n"
	"\n"
	"List recorded runs, newest first: run id, workflow, status, start time\n"
	"(UTC), duration, iterations, early aborts.\n"
	"\n"
	"Options:\n"
	"      --db FILE   history database (default: $WAITLOOP_DB, else ./.waitloop/history.db)\n"
	"  -n, --limit N   show at most N runs (default 20; 0 = all)\n"
	"      --json      print the runs as one JSON array on stdout\n"
	"  -h, --help      show this help\n"
	"\n"
	"Runs whose runner is gone (dead pid, or no heartbeat for 2 minutes) are\n"
	"marked CRASHED first. See 'waitloop show RUN_ID' for one run.\n"
	"\n"
	"Exit codes: 0 listed (also when no database exists yet), 1 database error,\n"
	"2 usage error.\n";

/* "--opt VALUE" or "--opt=VALUE": 1 = matched (*out set), 0 = not this option, -1 = value missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **out)
{
	size_t n = strlen(name);
	if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=') {
		*out = argv[*i] + n + 1;
		return 1;
	}
	if (strcmp(argv[*i], name))
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*out = argv[++*i];
	return 1;
}

/* "2026-11-21T04:30:00.123Z" -> "2026-11-21 04:30:00". */
static void short_time(const char *rfc, char *buf, size_t size)
{
	snprintf(buf, size, "%.19s", rfc ? rfc : "-");
	char *t = strchr(buf, 'T');
	if (t)
		*t = ' ';
}

static void format_duration(const cJSON *d, char *buf, size_t size)
{
	if (!cJSON_IsNumber(d)) {
		snprintf(buf, size, "-");
		return;
	}
	double s = d->valuedouble;
	if (s < 60)
		snprintf(buf, size, "%.1fs", s);
	else
		duration_format((int64_t)(s + 0.5) * 1000, buf, size);
}

static int num(const cJSON *row, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
	return cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
}

static const char *str_or(const cJSON *row, const char *key, const char *dflt)
{
	const char *s = json_get_string(row, key);
	return s ? s : dflt;
}

static void print_table(const cJSON *runs)
{
	int wid = 6, wwf = 8, wst = 6;
	const cJSON *r;
	cJSON_ArrayForEach(r, runs) {
		int a = (int)strlen(str_or(r, "id", "")), b = (int)strlen(str_or(r, "workflow", "-")),
		    c = (int)strlen(str_or(r, "status", ""));
		wid = a > wid ? a : wid;
		wwf = b > wwf ? (b > 32 ? 32 : b) : wwf;
		wst = c > wst ? c : wst;
	}
	printf("%-*s  %-*s  %-*s  %-19s  %9s  %5s  %6s\n", wid, "RUN ID", wwf, "WORKFLOW", wst, "STATUS",
	       "STARTED (UTC)", "DURATION", "ITER", "ABORTS");
	cJSON_ArrayForEach(r, runs) {
		char started[32], dur[32];
		short_time(json_get_string(r, "started_at"), started, sizeof(started));
		format_duration(cJSON_GetObjectItemCaseSensitive(r, "duration_s"), dur, sizeof(dur));
		printf("%-*s  %-*.*s  %-*s  %-19s  %9s  %5d  %6d\n", wid, str_or(r, "id", ""), wwf, wwf,
		       str_or(r, "workflow", "-"), wst, str_or(r, "status", ""), started, dur, num(r, "iterations"),
		       num(r, "early_aborts"));
	}
}

int cmd_history(int argc, char **argv)
{
	const char *db = NULL, *limit_s = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		int r;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(history_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if ((r = opt_value(argc, argv, &i, "--db", &db)) != 0) {
			if (r < 0)
				return usage_error("history", "option '--db' needs a value");
		} else if ((r = opt_value(argc, argv, &i, "--limit", &limit_s)) != 0 ||
			   (r = opt_value(argc, argv, &i, "-n", &limit_s)) != 0) {
			if (r < 0)
				return usage_error("history", "option '%s' needs a value", argv[i]);
		} else if (argv[i][0] == '-') {
			return usage_error("history", "unknown option '%s'", argv[i]);
		} else {
			return usage_error("history", "unexpected argument '%s'", argv[i]);
		}
	}
	int limit = 20;
	if (limit_s) {
		char *end;
		long v = strtol(limit_s, &end, 10);
		if (!*limit_s || *end || v < 0 || v > 100000000)
			return usage_error("history", "invalid --limit '%s' (want a number >= 0)", limit_s);
		limit = (int)v;
	}
	char *path = db ? xstrdup(db) : store_default_path(NULL);
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
		die_msg("%s", err.msg);
		goto out;
	}
	if (!store_is_readonly(st))
		stop_orphans(st);
	if (store_list_runs(st, limit, &runs, &err) < 0) {
		die_msg("%s", err.msg);
		goto out;
	}
	if (json) {
		char *txt = cJSON_Print(runs);
		puts(txt);
		cJSON_free(txt);
	} else if (cJSON_GetArraySize(runs) == 0) {
		printf("no runs recorded in '%s'\n", path);
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
