/*
 * waitloop completion bash|zsh: print a shell completion script.
 *
 *   source <(waitloop completion bash)          # in ~/.bashrc
 *   source <(waitloop completion zsh)           # in ~/.zshrc, after compinit
 *
 * Both scripts are generated from one table (commands, their options, and
 * the options whose values are a fixed set), so they cannot drift apart.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "suggest.h"

static const char completion_usage[] =
	"usage: waitloop completion bash|zsh\n"
	"\n"
	"Print a completion script for the shell on stdout:\n"
	"  bash   source <(waitloop completion bash)     (e.g. in ~/.bashrc), or save it as\n"
	"         /usr/share/bash-completion/completions/waitloop\n"
	"  zsh    source <(waitloop completion zsh)      (in ~/.zshrc, after compinit), or\n"
	"         save it as _waitloop in a directory of $fpath\n"
	"\n"
	"Commands, their options, workflow files (*.yaml, *.yml), schema names,\n"
	"statuses and other fixed values complete.\n"
	"\n"
	"Exit codes: 0 printed, 2 usage error.\n";

struct cmd_spec {
	const char *name;
	const char *options;   /* space-separated */
	const char *files;     /* positional: "yaml", "dir", or NULL */
};

static const struct cmd_spec specs[] = {
	{"run", "-w --workspace --context --db --metrics --junit --set --agents -v --verbose -q --quiet --json --no-progress "
		"-h --help", "yaml"},
	{"workflow", "-w --workspace --context --db --metrics --junit --set --agents -v --verbose -q --quiet --json "
		     "--no-progress -h --help --no-tui --tui --direct --supervised --no-supervised --keepalive "
		     "--no-keepalive --keepalive-interval --ipc-request-timeout --core --base-branch "
		     "--protected-branches --allow-protected-branch", "yaml"},
	{"validate", "--json -h --help", "yaml"},
	{"wait", "--condition --probe --classify --mode --max-wait --interval --condition-timeout --backoff-factor "
		 "--max-interval --progress-deadline --stall-threshold --terminal-pattern --ignore-field --rules "
		 "--builtin --target --name --fingerprint-prefix --check-id --phase --out --probe-timeout --summary "
		 "--json --no-progress -q --quiet -v --verbose -h --help", NULL},
	{"verdict", "write --decision --reason --fingerprint --hint --from-wait-failure --check-id -o --output -h --help", NULL},
	{"history", "-w --workspace --db -s --status --workflow --since -n --limit --json -h --help", NULL},
	{"show", "latest -w --workspace --db -a --all --json --html -h --help", NULL},
	{"stats", "--since --workflow --target --window --json --html --suggest -h --help", NULL},
	{"tune", "--min-samples --since --workflow --window --json -h --help", NULL},
	{"schema", "workflow verdict wait-failure probe event run meta convergence summary history stats -h --help", NULL},
	{"completion", "bash zsh -h --help", NULL},
};

/* option -> its fixed values ("" = a file, "dir" = a directory). */
static const struct {
	const char *option;
	const char *values;
} values[] = {
	{"--mode", "timeout_only probe_aware"},
	{"--builtin", "kubernetes"},
	{"--decision", "complete incomplete"},
	{"--status", "SUCCEEDED FAILED TIMED_OUT CANCELLED CRASHED RUNNING"},
	{"-s", "SUCCEEDED FAILED TIMED_OUT CANCELLED CRASHED RUNNING"},
	{"--phase", "wait step completion_check standalone"},
	{"--summary", "always failure never"},
	{"-w", "dir"},
	{"--workspace", "dir"},
	{"--context", "dir"},
	{"--out", "dir"},
	{"--db", ""},
	{"--metrics", ""},
	{"--junit", ""},
	{"--agents", ""},
	{"--html", ""},
	{"--rules", ""},
	{"--from-wait-failure", ""},
	{"-o", ""},
	{"--output", ""},
};

#define NSPECS (sizeof(specs) / sizeof(specs[0]))
#define NVALUES (sizeof(values) / sizeof(values[0]))

/* What a shell does after an option that takes a value: complete a directory,
 * a file, or one of the value words (written between words_before and words_after). */
struct value_actions {
	const char *dir, *file, *words_before, *words_after;
};

/* The parts of a completion script that differ between the shells; the
 * commands, their options and the values come from the tables above. */
struct shell_script {
	const char *head;                            /* up to the list of commands */
	const char *command_before, *command_after;  /* around each name in that list */
	const char *prev_case;                       /* up to `case $prev in` */
	struct value_actions values;                 /* an arm per option of values[] */
	const char *cmd_case;                        /* from its `esac` to `case $cmd in` */
	const char *opts_before, *opts_after;        /* around a command's options in its arm */
	const char *tail;
};

static void print_script(const struct shell_script *sh)
{
	fputs(sh->head, stdout);
	for (size_t i = 0; i < NSPECS; i++)
		printf("%s%s%s", sh->command_before, specs[i].name, sh->command_after);
	fputs(sh->prev_case, stdout);
	const struct value_actions *a = &sh->values;
	for (size_t i = 0; i < NVALUES; i++) {
		printf("\t%s) ", values[i].option);
		if (!strcmp(values[i].values, "dir"))
			fputs(a->dir, stdout);
		else if (!*values[i].values)
			fputs(a->file, stdout);
		else
			printf("%s%s%s", a->words_before, values[i].values, a->words_after);
		putchar('\n');
	}
	fputs(sh->cmd_case, stdout);
	for (size_t i = 0; i < NSPECS; i++)
		printf("\t%s) %s%s%s; files='%s' ;;\n", specs[i].name, sh->opts_before, specs[i].options,
		       sh->opts_after, specs[i].files ? specs[i].files : "");
	fputs(sh->tail, stdout);
}

static const struct shell_script bash = {
	.head = "# bash completion for waitloop (waitloop completion bash)\n"
		"_waitloop() {\n"
		"\tlocal cur prev cmd\n"
		"\tcur=${COMP_WORDS[COMP_CWORD]}\n"
		"\tprev=${COMP_WORDS[COMP_CWORD-1]}\n"
		"\tcmd=${COMP_WORDS[1]}\n"
		"\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
		"\t\tmapfile -t COMPREPLY < <(compgen -W '",
	.command_before = "",
	.command_after = " ",
	.prev_case = "--help --version' -- \"$cur\")\n"
		     "\t\treturn 0\n"
		     "\tfi\n"
		     "\tcase $prev in\n",
	.values = {
		.dir = "mapfile -t COMPREPLY < <(compgen -d -- \"$cur\"); return 0 ;;",
		.file = "mapfile -t COMPREPLY < <(compgen -f -- \"$cur\"); return 0 ;;",
		.words_before = "mapfile -t COMPREPLY < <(compgen -W '",
		.words_after = "' -- \"$cur\"); return 0 ;;",
	},
	.cmd_case = "\tesac\n"
		    "\tlocal words=\"\" files=\"\"\n"
		    "\tcase $cmd in\n",
	.opts_before = "words='",
	.opts_after = "'",
	.tail = "\t*) return 0 ;;\n"
		"\tesac\n"
		"\tif [ \"$files\" = yaml ] && [[ $cur != -* ]]; then\n"
		"\t\tmapfile -t COMPREPLY < <(compgen -f -X '!*.@(yaml|yml)' -- \"$cur\"; compgen -d -S / -- \"$cur\")\n"
		"\t\treturn 0\n"
		"\tfi\n"
		"\tmapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
		"}\n"
		"shopt -s extglob 2>/dev/null\n"
		"complete -o filenames -F _waitloop waitloop\n",
};

static const struct shell_script zsh = {
	.head = "#compdef waitloop\n"
		"# zsh completion for waitloop (waitloop completion zsh)\n"
		"_waitloop() {\n"
		"\tlocal -a commands\n"
		"\tcommands=(\n",
	.command_before = "\t\t'",
	.command_after = "'\n",
	.prev_case = "\t)\n"
		     "\tif (( CURRENT == 2 )); then\n"
		     "\t\tcompadd -- $commands --help --version\n"
		     "\t\treturn\n"
		     "\tfi\n"
		     "\tlocal prev=${words[CURRENT-1]} cmd=${words[2]}\n"
		     "\tcase $prev in\n",
	.values = {
		.dir = "_files -/; return ;;",
		.file = "_files; return ;;",
		.words_before = "compadd -- ",
		.words_after = "; return ;;",
	},
	.cmd_case = "\tesac\n"
		    "\tlocal -a opts\n"
		    "\tlocal files=''\n"
		    "\tcase $cmd in\n",
	.opts_before = "opts=(",
	.opts_after = ")",
	.tail = "\t*) return ;;\n"
		"\tesac\n"
		"\tif [[ $files == yaml && ${words[CURRENT]} != -* ]]; then\n"
		"\t\t_files -g '*.(yaml|yml)'\n"
		"\t\treturn\n"
		"\tfi\n"
		"\tcompadd -- $opts\n"
		"}\n"
		"if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
		"\t_waitloop \"$@\"\n"
		"else\n"
		"\tcompdef _waitloop waitloop\n"
		"fi\n",
};

int cmd_completion(int argc, char **argv)
{
	static const char *const shells[] = {"bash", "zsh", NULL};
	int rc = parse_help_only("completion", argc, argv, completion_usage);
	if (rc >= 0)
		return rc;
	if (argc - optind > 1)
		return usage_error("completion", "unexpected argument '%s'", argv[optind + 1]);
	const char *shell = optind < argc ? argv[optind] : NULL;
	if (!shell)
		return usage_error("completion", "which shell? (bash or zsh)");
	if (!strcmp(shell, "bash")) {
		print_script(&bash);
	} else if (!strcmp(shell, "zsh")) {
		print_script(&zsh);
	} else {
		const char *s = suggest_closest(shell, shells);
		if (s)
			return usage_error("completion", "unknown shell '%s' (did you mean '%s'?)", shell, s);
		return usage_error("completion", "unknown shell '%s' (bash or zsh)", shell);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
