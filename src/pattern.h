/*
 * pattern: the regular expressions of workflows (rules, terminal_patterns,
 * redact). They are PCRE2 patterns (docs/wait_policy.md "Pattern dialect"),
 * compiled so that POSIX ERE workflows keep their meaning: `.` matches a
 * newline, `^`/`$` anchor at the start/end of the whole text, `\<`/`\>` are
 * word starts/ends as in glibc, a leading "(?i)" makes the match
 * case-insensitive. Text is matched as bytes (no UTF-8 validation).
 *
 * Matching is bounded: every match runs under a match limit, a depth limit
 * and a heap limit (and with the JIT when the platform has one), so no
 * pattern can stall the runner or grow its memory. A match that hits a
 * limit is PATTERN_LIMIT: the caller reports it (once per pattern) and
 * counts it as no match; pattern_match() folds it into 0.
 *
 *   struct pattern p;
 *   if (pattern_compile(&p, "(?i)chart not found", &err) < 0) ...
 *   regmatch_t m[10]; if (pattern_match(&p, text, m, 10)) ...
 *   int rc = pattern_exec(&p, buf, len, 0, m, 10);   -- PATTERN_MATCH/NOMATCH/LIMIT
 *   pattern_free(&p);
 *
 * Ownership: struct pattern owns its compiled code and a copy of the source.
 * A pattern compiled once and used by several owners (a workflow's rule and
 * every resolved wait_settings that inherits it, workflow.h) is made with
 * pattern_new() and shared with pattern_ref()/pattern_unref(): the last
 * unref frees it. Matching never changes a pattern (pattern_exec works on
 * copies of its match context), so one compiled pattern serves every wait.
 * pattern_compiles() counts the compilations of the process (for tests:
 * "compiled once per workflow load").
 */
#ifndef WAITLOOP_PATTERN_H
#define WAITLOOP_PATTERN_H
#include <regex.h>   /* regmatch_t: the group offsets callers read */
#include <stddef.h>

#include "error.h"

struct pattern {
	void *code;     /* pcre2_code_8 *, NULL when not compiled */
	void *mctx;     /* pcre2_match_context_8 * with the limits */
	void *jit_stack; /* pcre2_jit_stack_8 *, or NULL */
	int compiled;
	char *source;   /* owned copy of the pattern as written */
	unsigned refs;  /* pattern_new()/pattern_ref() owners; 0 = not shared (pattern_compile) */
};

enum pattern_result { PATTERN_NOMATCH = 0, PATTERN_MATCH = 1, PATTERN_LIMIT = 2 };

int pattern_compile(struct pattern *p, const char *source, struct wl_err *err);
/* 1 when the NUL-terminated text matches; fills up to nmatch groups (may be
 * 0/NULL; unset groups are -1). A limit counts as no match. */
int pattern_match(const struct pattern *p, const char *text, regmatch_t *m, size_t nmatch);
/* Match len bytes of text (NUL bytes included) from byte offset start
 * (lookbehind and ^ see the bytes before it: ^ does not match there unless
 * start is 0). Offsets in m are relative to text. */
enum pattern_result pattern_exec(const struct pattern *p, const char *text, size_t len, size_t start,
				 regmatch_t *m, size_t nmatch);
/* PATTERN_LIMIT when p hits a limit on a 64 KiB adversarial text (runs of
 * one character, of a word with spaces, of digits): validate warns. */
enum pattern_result pattern_probe_limits(const struct pattern *p);
void pattern_free(struct pattern *p);
/* A shared pattern: compiled once (one reference), NULL + err when invalid. */
struct pattern *pattern_new(const char *source, struct wl_err *err);
struct pattern *pattern_ref(struct pattern *p);   /* p may be NULL; returns p */
void pattern_unref(struct pattern *p);            /* p may be NULL */
/* How many patterns this process has compiled (pattern_compile/pattern_new). */
unsigned long pattern_compiles(void);

#endif
