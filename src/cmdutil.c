#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "redact.h"
#include "reaper.h"
#include "strbuf.h"
#include "suggest.h"
#include "timeutil.h"
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

/* "unknown option '--jsno' (did you mean '--json'?)": the closest long name of
 * opts to arg (any "=value" ignored), when one is close. */
static int usage_unknown_option(const char *cmd, const char *arg, const struct option *opts)
{
	char word[128];
	snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg, "="), arg);
	size_t n = 0;
	while (opts[n].name)
		n++;
	char **names = xcalloc(n + 1, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = xasprintf("--%s", opts[i].name);
	const char *s = suggest_closest(word, (const char *const *)names);
	int rc = s ? usage_error(cmd, "unknown option '%s' (did you mean '%s'?)", word, s)
		   : usage_error(cmd, "unknown option '%s'", arg);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* "--name=value" where name is (a prefix of) an option with no value whose val is optopt. */
static int value_not_taken(const char *arg, const struct option *opts)
{
	size_t len = strcspn(arg + 2, "=");
	if (strncmp(arg, "--", 2) || !arg[2 + len])
		return 0;
	for (size_t i = 0; opts[i].name; i++)
		if (opts[i].has_arg == no_argument && opts[i].val == optopt && !strncmp(opts[i].name, arg + 2, len))
			return 1;
	return 0;
}

int usage_getopt_error(const char *cmd, int c, char **argv, const struct option *opts)
{
	/* After a long option getopt_long has passed its element; a short one
	 * may sit inside a cluster ("-vx") it has not passed yet, so a short
	 * option is named by optopt (0 after an unknown long one). */
	const char *arg = argv[optind - 1];
	int no_value = c == '?' && value_not_taken(arg, opts);
	int is_long = !strncmp(arg, "--", 2) && (c == ':' || !optopt || no_value);
	char word[128];
	if (is_long)
		snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg, "="), arg);
	else
		snprintf(word, sizeof(word), "-%c", optopt);
	if (c == ':')
		return usage_error(cmd, "option '%s' needs a value", word);
	if (!is_long)
		return usage_unknown_option(cmd, word, opts);
	if (no_value)
		return usage_error(cmd, "option '%s' takes no value", word);
	/* an abbreviation of more than one option */
	size_t len = strlen(word + 2), n = 0;
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; opts[i].name; i++)
		if (!strncmp(opts[i].name, word + 2, len))
			strbuf_addf(&sb, "%s--%s", n++ ? ", " : "", opts[i].name);
	int rc = n > 1 ? usage_error(cmd, "option '%s' is ambiguous (%s)", word, strbuf_str(&sb))
		       : usage_unknown_option(cmd, arg, opts);
	strbuf_release(&sb);
	return rc;
}

int parse_help_only(const char *cmd, int argc, char **argv, const char *usage)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	opterr = 0;
	optind = 1;
	int c = getopt_long(argc, argv, ":h", opts, NULL);
	if (c == -1)
		return -1;
	if (c != 'h')
		return usage_getopt_error(cmd, c, argv, opts);
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

void seconds_of(const cJSON *o, const char *key, char *buf, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsNumber(v))
		duration_format_seconds(v->valuedouble, buf, size);
	else
		snprintf(buf, size, "-");
}
