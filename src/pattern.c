#include "pattern.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* glibc's regcomp copies a repeated sub-expression once per repetition (and
 * doubles it per stacked '+'), so "a++++++++++++++++++++" or "((a{999}){999}){999}"
 * exhaust memory before it returns. expanded_size() estimates the compiled
 * size: an atom is 1, a group the sum of its content, a quantifier multiplies
 * the atom before it (x+ = 2 copies, x{m,n} = n, x{m,} = m + 1). */
#define PATTERN_MAX_EXPANDED 100000.0

static const char *bound_end(const char *s, double *copies)
{
	/* s at '{': "{m}", "{m,}", "{m,n}" -> the char after '}', copies set; else NULL */
	const char *q = s + 1;
	double m = 0, n = -1;
	if (*q < '0' || *q > '9')
		return NULL;
	while (*q >= '0' && *q <= '9')
		m = m * 10 + (*q++ - '0');
	if (*q == ',') {
		q++;
		if (*q >= '0' && *q <= '9') {
			n = 0;
			while (*q >= '0' && *q <= '9')
				n = n * 10 + (*q++ - '0');
		} else {
			n = m + 1;
		}
	} else {
		n = m;
	}
	if (*q != '}')
		return NULL;
	*copies = n < 1 ? 1 : n;
	return q + 1;
}

/* Returns -1 for a quantifier right after another ("a**", "a*+", "a{2}*"):
 * never useful, and glibc's regcomp is exponential in long runs of them. */
static double expanded_size(const char *re)
{
	double stack[64], cur = 0, last = 0;
	int depth = 0, after_quantifier = 0;
	for (const char *s = re; *s;) {
		double copies = 0;
		const char *next = NULL;
		if (*s == '*' || *s == '?') {
			copies = 1;
			next = s + 1;
		} else if (*s == '+') {
			copies = 2;
			next = s + 1;
		} else if (*s == '{') {
			next = bound_end(s, &copies);
		}
		if (next && after_quantifier)
			return -1;
		after_quantifier = next != NULL;
		if (next) {
			cur += last * (copies - 1);
			last *= copies;
			s = next;
		} else if (*s == '(') {
			if (depth == 64)
				return PATTERN_MAX_EXPANDED + 1;
			stack[depth++] = cur;
			cur = 0;
			last = 0;
			s++;
		} else if (*s == ')' && depth > 0) {
			last = cur;
			cur = stack[--depth] + cur;
			s++;
		} else if (*s == '[') {
			/* a bracket expression is one atom: skip to its closing ']' */
			const char *q = s + 1;
			if (*q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']') {
				if (*q == '[' && (q[1] == ':' || q[1] == '=' || q[1] == '.')) {
					const char *e = strchr(q + 2, q[1]);
					q = e && e[1] == ']' ? e + 2 : q + 1;
				} else {
					q++;
				}
			}
			s = *q ? q + 1 : q;
			last = 1;
			cur += 1;
		} else {
			s += (*s == '\\' && s[1]) ? 2 : 1;
			last = 1;
			cur += 1;
		}
		if (cur > PATTERN_MAX_EXPANDED)
			return cur;
	}
	while (depth > 0)
		cur += stack[--depth];
	return cur;
}

int pattern_compile(struct pattern *p, const char *source, struct wl_err *err)
{
	memset(p, 0, sizeof(*p));
	int flags = REG_EXTENDED;
	const char *re = source;
	if (!strncmp(re, "(?i)", 4)) {
		flags |= REG_ICASE;
		re += 4;
	}
	double size = expanded_size(re);
	if (size < 0)
		return err_set(err,
			       "invalid regular expression '%s': a quantifier follows another quantifier "
			       "(POSIX ERE has no lazy or possessive forms such as '*?' or '++')",
			       source);
	if (size > PATTERN_MAX_EXPANDED)
		return err_set(err, "invalid regular expression '%s': too large once its repetitions are expanded",
			       source);
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
