/*
 * commands: one function per subcommand, each in its own cmd_<name>.c.
 * They receive argv starting at the command name and return the exit code;
 * main() only dispatches (SPEC §3).
 */
#ifndef WAITLOOP_COMMANDS_H
#define WAITLOOP_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_verdict(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_tune(int argc, char **argv);

/* Shared by commands: print "waitloop: error: <msg>" on stderr. */
void print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message plus "Try 'waitloop CMD --help'."; returns 2. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Unknown option arg of command cmd: "unknown option '--jsno' (did you mean
 * '--json'?)" when one of known (NULL-terminated, spelled as typed: "--json",
 * "-w") is a plausible typo of it (any "=value" ignored); returns 2.
 * The getopt_long variant takes the option table (long names only).
 */
struct option;
int usage_unknown_option(const char *cmd, const char *arg, const char *const *known);
int usage_unknown_longopt(const char *cmd, const char *arg, const struct option *opts);
/*
 * The options of a command whose only option is --help (-h), by getopt_long:
 * -1 with optind at the first operand; 0 after printing usage on stdout;
 * 2 after an unknown option (with a did-you-mean among --help and -h).
 */
int parse_help_only(const char *cmd, int argc, char **argv, const char *usage);
struct store;
/* The watchdog (reaper.h) after CRASHED runs were marked: stops what they
 * left running and says so on stderr. */
void stop_orphans(struct store *st);

#endif
