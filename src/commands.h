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
struct option;
/*
 * What getopt_long returned c = ':' (a value missing) or '?' (anything
 * else) means, as a usage error of cmd with the option named as typed:
 * "option '--db' needs a value", "option '--json' takes no value",
 * "option '--co' is ambiguous (--context, --core)", else "unknown option
 * '--jsno' (did you mean '--json'?)" with the closest long name of opts
 * when one is close. Call it right after getopt_long; returns 2.
 */
int usage_getopt_error(const char *cmd, int c, char **argv, const struct option *opts);
/*
 * The options of a command whose only option is --help (-h), by getopt_long:
 * -1 with optind at the first operand; 0 after printing usage on stdout;
 * 2 after an unknown option (usage_getopt_error).
 */
int parse_help_only(const char *cmd, int argc, char **argv, const char *usage);
struct cJSON;
/* o's number key, in seconds, as duration_format_seconds() words it; "-"
 * when it is not a number. */
void seconds_of(const struct cJSON *o, const char *key, char *buf, size_t size);
struct store;
/* The watchdog (reaper.h) after CRASHED runs were marked: stops what they
 * left running and says so on stderr. */
void stop_orphans(struct store *st);

#endif
