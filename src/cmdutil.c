#include <stdarg.h>
#include <stdio.h>

#include "commands.h"
#include "reaper.h"

void die_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("waitloop: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
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
