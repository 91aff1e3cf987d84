#include "template.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

void template_set(struct template_vars *v, const char *name, const char *value)
{
	for (size_t i = 0; i < v->names.n; i++)
		if (!strcmp(v->names.v[i], name)) {
			free(v->values.v[i]);
			v->values.v[i] = xstrdup(value ? value : "");
			return;
		}
	strvec_push(&v->names, name);
	strvec_push(&v->values, value ? value : "");
}

void template_setf(struct template_vars *v, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct strbuf sb = STRBUF_INIT;
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	template_set(v, name, strbuf_str(&sb));
	strbuf_release(&sb);
}

const char *template_get(const struct template_vars *v, const char *name)
{
	for (size_t i = 0; i < v->names.n; i++)
		if (!strcmp(v->names.v[i], name))
			return v->values.v[i];
	return NULL;
}

void template_vars_release(struct template_vars *v)
{
	strvec_clear(&v->names);
	strvec_clear(&v->values);
}

char *template_expand(const char *text, const struct template_vars *v)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = text;
	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open)
			break;
		const char *close = strstr(open + 2, "}}");
		if (!close)
			break;
		const char *s = open + 2, *e = close;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		char *name = xstrndup(s, (size_t)(e - s));
		const char *val = template_get(v, name);
		free(name);
		strbuf_add(&out, p, (size_t)(open - p));
		if (val) {
			strbuf_addstr(&out, val);
			p = close + 2;
		} else {
			/* Not ours: keep one '{' and rescan from the next byte, so
			 * "{{{name}}}" and later placeholders are still found. */
			strbuf_addch(&out, '{');
			p = open + 1;
		}
	}
	strbuf_addstr(&out, p);
	return strbuf_detach(&out);
}

char *template_roboppi_check_id(const char *text, const char *check_id)
{
	static const char *const forms[] = {"${ROBOPPI_COMPLETION_CHECK_ID}", "$ROBOPPI_COMPLETION_CHECK_ID"};
	struct strbuf out = STRBUF_INIT;
	const char *p = text;
	while (*p) {
		size_t matched = 0;
		for (size_t i = 0; i < 2 && !matched; i++) {
			size_t n = strlen(forms[i]);
			if (!strncmp(p, forms[i], n)) {
				/* $ROBOPPI_COMPLETION_CHECK_IDX is another variable. */
				if (i == 1 && (isalnum((unsigned char)p[n]) || p[n] == '_'))
					continue;
				matched = n;
			}
		}
		if (matched) {
			strbuf_addstr(&out, check_id);
			p += matched;
		} else {
			strbuf_addch(&out, *p++);
		}
	}
	return strbuf_detach(&out);
}
