#include "pattern.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int pattern_compile(struct pattern *p, const char *source, struct wl_err *err)
{
	memset(p, 0, sizeof(*p));
	int flags = REG_EXTENDED;
	const char *re = source;
	if (!strncmp(re, "(?i)", 4)) {
		flags |= REG_ICASE;
		re += 4;
	}
	int rc = regcomp(&p->re, re, flags);
	if (rc == REG_ESPACE)
		xalloc_oom(); /* out of memory is not a property of the expression */
	if (rc != 0) {
		char msg[256];
		regerror(rc, &p->re, msg, sizeof(msg));
		regfree(&p->re);
		return err_set(err, "invalid regular expression '%s': %s", source, msg);
	}
	p->compiled = 1;
	p->source = xstrdup(source);
	return 0;
}

int pattern_match(const struct pattern *p, const char *text, regmatch_t *m, size_t nmatch)
{
	if (!p->compiled)
		return 0;
	return regexec(&p->re, text, nmatch, nmatch ? m : NULL, 0) == 0;
}

void pattern_free(struct pattern *p)
{
	if (p->compiled)
		regfree(&p->re);
	free(p->source);
	memset(p, 0, sizeof(*p));
}
