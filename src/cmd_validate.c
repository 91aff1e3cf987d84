/*
 * waitloop validate FILE... [--json]: load every file with the loader and
 * report every diagnostic. Read-only: nothing runs, nothing is notified.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "error.h"
#include "jsonutil.h"
#include "loader.h"
#include "xalloc.h"

static const char validate_usage[] =
	"usage: waitloop validate WORKFLOW.yaml... [--json]\n"
	"\n"
	"Check workflow files without running anything: YAML syntax, required fields,\n"
	"types, durations, enums, unknown keys (with suggestions), step ids and paths,\n"
	"depends_on (unknown steps, cycles), inputs/outputs, completion_check, regexes\n"
	"and wait_policy settings. Every problem is reported, as FILE:LINE:COL: error: ...\n"
	"roboppi-only keys are accepted with a warning.\n"
	"\n"
	"Options:\n"
	"      --json    print one JSON document on stdout:\n"
	"                {\"files\":[{\"file\",\"valid\",\"diagnostics\":[{\"level\",\"line\",\"col\",\"message\"}]}]}\n"
	"  -h, --help    show this help\n"
	"\n"
	"Exit codes: 0 every file is valid (warnings allowed), 2 a file is invalid or usage error.\n";

static cJSON *file_json(const char *file, int valid, const struct errlist *el)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", file);
	cJSON_AddBoolToObject(o, "valid", valid);
	cJSON *arr = cJSON_AddArrayToObject(o, "diagnostics");
	for (size_t i = 0; i < el->n; i++) {
		const struct diag *d = &el->items[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "level", d->level == DIAG_ERROR ? "error" : "warning");
		cJSON_AddNumberToObject(j, "line", d->line);
		cJSON_AddNumberToObject(j, "col", d->col);
		cJSON_AddStringToObject(j, "message", d->msg);
		cJSON_AddItemToArray(arr, j);
	}
	return o;
}

static void print_summary(const char *file, const struct errlist *el)
{
	if (!el->nerrors) {
		if (el->nwarnings)
			printf("%s: ok (%zu warning%s)\n", file, el->nwarnings, el->nwarnings == 1 ? "" : "s");
		else
			printf("%s: ok\n", file);
		return;
	}
	printf("%s: %zu error%s", file, el->nerrors, el->nerrors == 1 ? "" : "s");
	if (el->nwarnings)
		printf(", %zu warning%s", el->nwarnings, el->nwarnings == 1 ? "" : "s");
	putchar('\n');
}

int cmd_validate(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	int json = 0, c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h':
			fputs(validate_usage, stdout);
			return 0;
		default:
			return usage_getopt_error("validate", c, argv, opts);
		}
	}
	int nfiles = argc - optind;
	char **files = argv + optind;
	if (!nfiles)
		return usage_error("validate", "no workflow file given");
	int all_valid = 1;
	cJSON *doc = json ? cJSON_CreateObject() : NULL;
	cJSON *arr = json ? cJSON_AddArrayToObject(doc, "files") : NULL;
	for (int i = 0; i < nfiles; i++) {
		struct errlist el = ERRLIST_INIT;
		struct wl_workflow *wf = loader_load(files[i], &el);
		int valid = wf != NULL;
		all_valid &= valid;
		if (json) {
			cJSON_AddItemToArray(arr, file_json(files[i], valid, &el));
		} else {
			fflush(stdout);
			errlist_print(&el, stderr);
			print_summary(files[i], &el);
		}
		workflow_free(wf);
		errlist_release(&el);
	}
	if (json) {
		char *s = cJSON_Print(doc);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
		cJSON_Delete(doc);
	}
	fflush(stdout);
	return all_valid ? 0 : 2;
}
