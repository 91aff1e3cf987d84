#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "redact.h"
#include "reaper.h"
#include "suggest.h"
#include "xalloc.h"

/* Every error line the commands print passes the redactor (SPEC §7). */
void print_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	char *safe = redact_text(redact_process_default(), msg ? msg : "out of memory");
	fprintf(stderr, "waitloop: error: %s\n", safe);
	free(safe);
	free(msg);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("waitloop: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fprintf(stderr, "Try 'waitloop %s --help'.\n", cmd);
	return 2;
}

int usage_unknown_option(const char *cmd, const char *arg, const char *const *known)
{
	char word[128];
	snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg, "="), arg);
	const char *s = known ? suggest_closest(word, known) : NULL;
	if (s)
		return usage_error(cmd, "unknown option '%s' (did you mean '%s'?)", word, s);
	return usage_error(cmd, "unknown option '%s'", arg);
}

int usage_unknown_longopt(const char *cmd, const char *arg, const struct option *opts)
{
	size_t n = 0;
	while (opts[n].name)
		n++;
	char **names = xcalloc(n + 1, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = xasprintf("--%s", opts[i].name);
	int rc = usage_unknown_option(cmd, arg, (const char *const *)names);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int parse_help_only(const char *cmd, int argc, char **argv, const char *usage)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	static const char *const known[] = {"--help", "-h", NULL};
	opterr = 0;
	optind = 1;
	int c = getopt_long(argc, argv, ":h", opts, NULL);
	if (c == -1)
		return -1;
	if (c != 'h')
		return usage_unknown_option(cmd, argv[optind - 1], known);
	fputs(usage, stdout);
	return 0;
}

void stop_orphans(struct store *st)
{
	struct wl_err err = WL_ERR_INIT;
	int n = reaper_stop_orphans(st, &err);
	if (n < 0)
		fprintf(stderr, "waitloop: warning: history: %s\n", err.msg);
	else if (n > 0)
		fprintf(stderr, "waitloop: warning: stopped %d process%s left running by crashed runs\n", n,
			n == 1 ? "" : "es");
}
