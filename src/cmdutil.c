#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "redact.h"

/* Every error line the commands print passes the redactor (SPEC §7). */
void die_msg(const char *fmt, ...)
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
