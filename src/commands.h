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
int cmd_stats(int argc, char **argv);
int cmd_tune(int argc, char **argv);

/* Shared by commands: print "waitloop: error: <msg>" on stderr. */
void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message plus "Try 'waitloop CMD --help'."; returns 2. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
