/*
 * waitloop — a workflow runner for implement → verify loops with
 * probe-aware waits. main() dispatches to one cmd_* per subcommand.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "suggest.h"

struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
};

static const char usage[] =
	"usage: waitloop <command> [options]\n"
	"\n"
	"Run implement -> verify workflows whose waits end the moment waiting is pointless.\n"
	"\n"
	"Commands:\n"
	"%s"
	"\n"
	"Options:\n"
	"  -h, --help      show this help (also: waitloop COMMAND --help)\n"
	"      --version   print the version\n"
	"\n"
	"Exit codes: see 'waitloop COMMAND --help' and docs/cli.md.\n";

int main(int argc, char **argv)
{
	/* One heap for every thread: a run's two writer threads (bgwrite.h,
	 * store.h) would each get an arena of their own, ~0.4 MB more peak RSS
	 * for a 1000-step run, to save lock contention they do not have. */
	mallopt(M_ARENA_MAX, 1);
	const struct command commands[] = {
		{"run", cmd_run, "run a workflow"},
		{"workflow", cmd_run, "alias of run (roboppi habit)"},
		{"validate", cmd_validate, "check workflow files, report every error"},
		{"wait", cmd_wait, "wait for a condition with probes (retry_with_probe)"},
		{"verdict", cmd_verdict, "write a review.verdict (verdict write ...)"},
		{"history", cmd_history, "list recorded runs"},
		{"show", cmd_show, "show one recorded run (--html: a picture of it)"},
		{"stats", cmd_stats, "what the history says: targets, dependencies, fingerprints"},
		{"tune", cmd_tune, "suggest wait_policy settings for a target from the history"},
		{"schema", cmd_schema, "print a JSON Schema (workflow, verdict, wait-failure, run, meta, ...)"},
		{"completion", cmd_completion, "print a bash or zsh completion script"},
	};
	const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		char list[2048] = "";
		size_t off = 0;
		for (size_t i = 0; i < ncommands; i++)
			if (off < sizeof(list))
				off += (size_t)snprintf(list + off, sizeof(list) - off, "  %-11s %s\n",
							commands[i].name, commands[i].summary);
		fprintf(argc < 2 ? stderr : stdout, usage, list);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("waitloop %s\n", WAITLOOP_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ncommands; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		return commands[i].fn(argc - 1, argv + 1);
	}
	const char *names[16];
	size_t n = 0;
	for (size_t i = 0; i < ncommands && n < 15; i++)
		if (commands[i].fn)
			names[n++] = commands[i].name;
	names[n] = NULL;
	const char *s = suggest_closest(argv[1], names);
	static const char *const options_known[] = {"--help", "--version", NULL};
	const char *o = argv[1][0] == '-' ? suggest_closest(argv[1], options_known) : NULL;
	if (o)
		print_error("unknown option '%s' (did you mean '%s'?)", argv[1], o);
	else if (argv[1][0] == '-')
		print_error("unknown option '%s'", argv[1]);
	else if (s)
		print_error("unknown command '%s' (did you mean '%s'?)", argv[1], s);
	else
		print_error("unknown command '%s'", argv[1]);
	fprintf(stderr, "Try 'waitloop --help'.\n");
	return 2;
}
