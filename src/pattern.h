/*
 * pattern: the regular expressions of workflows (rules, terminal_patterns,
 * redact). They are POSIX extended regular expressions (glibc regcomp with
 * REG_EXTENDED, so \w \s \b work too); a leading "(?i)" makes the match
 * case-insensitive. Chosen over PCRE2 to keep run-time dependencies at libc.
 *
 *   struct pattern p;
 *   if (pattern_compile(&p, "(?i)chart not found", &err) < 0) ...
 *   regmatch_t m[10]; if (pattern_match(&p, text, m, 10)) ...
 *   pattern_free(&p);
 */
#ifndef WAITLOOP_PATTERN_H
#define WAITLOOP_PATTERN_H
#include <regex.h>
#include <stddef.h>

#include "error.h"

struct pattern {
	regex_t re;
	int compiled;
	char *source;   /* owned copy of the pattern as written */
};

int pattern_compile(struct pattern *p, const char *source, struct wl_err *err);
/* 1 when text matches; fills up to nmatch groups (may be 0/NULL). */
int pattern_match(const struct pattern *p, const char *text, regmatch_t *m, size_t nmatch);
void pattern_free(struct pattern *p);

#endif
