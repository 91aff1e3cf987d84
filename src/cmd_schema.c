/*
 * waitloop schema NAME: print one of the JSON Schemas compiled into the binary.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "embedded.h"
#include "suggest.h"

static const char schema_usage[] =
	"usage: waitloop schema NAME\n"
	"\n"
	"Print a JSON Schema (draft 2020-12) on stdout:\n"
	"  workflow       the workflow YAML (for editors: yaml-language-server)\n"
	"  verdict        review.verdict written by completion checks\n"
	"  wait-failure   wait-failure.json written when a wait does not end in \"met\"\n"
	"  probe          the JSON object a probe prints\n"
	"  event          one line of events.jsonl (and the stdin of notify commands)\n"
	"  run            <context>/_workflow.json: the run, its status and settings\n"
	"  meta           <context>/<step>/_meta.json: one step's status and counts\n"
	"  convergence    <context>/<step>/convergence.json: stages and diagnosis\n"
	"  summary        the run summary 'waitloop run --json' prints\n"
	"  history        the array 'waitloop history --json' prints\n"
	"  stats          'waitloop stats --json': what the history says across runs\n"
	"  agents         a roboppi agent catalog (agents.yaml, `agent:` in a step)\n"
	"\n"
	"Exit codes: 0 printed, 1 the schema is not part of this build, 2 usage error.\n";

int cmd_schema(int argc, char **argv)
{
	static const char *const names[] = {"workflow", "verdict", "wait-failure", "probe", "event",
					       "run", "meta", "convergence", "summary", "history", "stats", "agents", NULL};
	int rc = parse_help_only("schema", argc, argv, schema_usage);
	if (rc >= 0)
		return rc;
	if (argc - optind > 1)
		return usage_error("schema", "one schema name at a time");
	const char *name = optind < argc ? argv[optind] : NULL;
	if (!name)
		return usage_error("schema", "which schema? (workflow, verdict, wait-failure, probe, event, run, meta, convergence, summary, history, stats or agents)");
	int known = 0;
	for (size_t i = 0; names[i]; i++)
		known |= !strcmp(name, names[i]);
	if (!known) {
		const char *s = suggest_closest(name, names);
		if (s)
			return usage_error("schema", "unknown schema '%s' (did you mean '%s'?)", name, s);
		return usage_error("schema", "unknown schema '%s' (expected workflow, verdict, wait-failure, probe, event, run, meta, convergence, summary, history, stats or agents)",
				   name);
	}
	char path[64];
	snprintf(path, sizeof(path), "schema/%s.schema.json", name);
	const struct embedded_file *f = embedded_find(path);
	if (!f) {
		print_error("schema '%s' is not available", name);
		return 1;
	}
	fwrite(f->data, 1, f->len, stdout);
	if (f->len && f->data[f->len - 1] != '\n')
		putchar('\n');
	return fflush(stdout) == 0 ? 0 : 1;
}
