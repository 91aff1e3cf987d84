#include "pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"
#include "xalloc.h"

/*
 * The limits of one match. A match of any pattern against the 64 KiB of
 * output an observation keeps stays well under a second and MATCH_HEAP_KIB
 * of memory; the JIT is tried first (fast, its own stack of up to
 * JIT_STACK_MAX), and a match that needs more stack than that is run again
 * by the interpreter, whose frames are on the heap under the heap limit.
 */
#define MATCH_LIMIT 1000000u
#define MATCH_DEPTH_LIMIT 250000u
#define MATCH_HEAP_KIB 32768u
#define JIT_STACK_MAX (4 * 1024 * 1024) /* reserved, touched only as deep as a match goes */
/* PCRE2's limits count per start position; a text of n bytes can still cost
 * n times the limit (or a backreference O(n^2) per position). A callout at
 * the start of every attempt checks the CPU time this thread used (not the
 * wall clock, which a loaded machine stretches): a whole search gets this. */
#define MATCH_BUDGET_NS (50 * 1000000LL)
#define COMPILE_OPTIONS (PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C)

/* The two places where POSIX ERE (glibc) and PCRE2 read the same text
 * differently and a workflow would silently change meaning:
 *   - inside a bracket expression a backslash is a literal backslash in
 *     POSIX ("[^\"\\]" is "not a quote, not a backslash"): it is escaped;
 *   - glibc's \< and \> (start and end of a word), \` and \' (start and end
 *     of the text), which PCRE2 would take as literal characters.
 * Everything else is passed on as written. */
static char *translate(const char *re)
{
	struct strbuf sb = STRBUF_INIT;
	int in_class = 0;
	for (const char *s = re; *s; s++) {
		if (in_class && *s == '\\') {
			strbuf_addstr(&sb, "\\\\");
			continue;
		}
		if (*s == '\\' && s[1]) {
			const char *rep = NULL;
			if (!in_class) {
				if (s[1] == '<')
					rep = "\\b(?=\\w)";
				else if (s[1] == '>')
					rep = "\\b(?<=\\w)";
				else if (s[1] == '`')
					rep = "\\A";
				else if (s[1] == '\'')
					rep = "\\z";
			}
			if (rep)
				strbuf_addstr(&sb, rep);
			else
				strbuf_add(&sb, s, 2);
			s++;
			continue;
		}
		if (!in_class && *s == '[') {
			in_class = 1;
			strbuf_addch(&sb, *s);
			/* a ']' first (after an optional '^') is a member, not the end */
			if (s[1] == '^') {
				strbuf_addch(&sb, *++s);
			}
			if (s[1] == ']')
				strbuf_addch(&sb, *++s);
			continue;
		}
		if (in_class && *s == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
			const char *e = strchr(s + 2, s[1]);
			if (e && e[1] == ']') {
				strbuf_add(&sb, s, (size_t)(e + 2 - s));
				s = e + 1;
				continue;
			}
		}
		if (in_class && *s == ']')
			in_class = 0;
		strbuf_addch(&sb, *s);
	}
	return strbuf_detach(&sb);
}

static unsigned long compiles;

unsigned long pattern_compiles(void)
{
	return compiles;
}

int pattern_compile(struct pattern *p, const char *source, struct wl_err *err)
{
	memset(p, 0, sizeof(*p));
	compiles++;
	char *re = translate(source);
	/* "(?C1)" first (after any leading (*VERB) settings, which must open
	 * the pattern): called as each match attempt begins (budget()). The
	 * first alternative is where every attempt starts, so a top-level
	 * alternation needs no group around it. */
	size_t lead = 0;
	while (re[lead] == '(' && re[lead + 1] == '*') {
		const char *close = strchr(re + lead, ')');
		if (!close)
			break;
		lead = (size_t)(close + 1 - re);
	}
	struct strbuf wrapped = STRBUF_INIT;
	strbuf_add(&wrapped, re, lead);
	strbuf_addstr(&wrapped, "(?C1)");
	strbuf_addstr(&wrapped, re + lead);
	free(re);
	re = strbuf_detach(&wrapped);
	int code;
	PCRE2_SIZE off;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, COMPILE_OPTIONS, &code, &off, NULL);
	uint32_t backrefs = 0;
	if (c && pcre2_pattern_info(c, PCRE2_INFO_BACKREFMAX, &backrefs) == 0 && backrefs > 0) {
		/* one attempt with a backreference can compare O(n^2) bytes: a
		 * callout before every item lets budget() stop it mid-attempt */
		pcre2_code_free(c);
		c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, COMPILE_OPTIONS | PCRE2_AUTO_CALLOUT, &code,
				  &off, NULL);
	}
	free(re);
	if (!c) {
		PCRE2_UCHAR msg[256];
		if (code == PCRE2_ERROR_NOMEMORY || pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			xalloc_oom(); /* out of memory is not a property of the expression */
		return err_set(err, "invalid regular expression '%s': %s", source, (const char *)msg);
	}
	(void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* no JIT here: the interpreter, same limits */
	pcre2_match_context *mc = pcre2_match_context_create(NULL);
	if (!mc)
		xalloc_oom();
	pcre2_set_match_limit(mc, MATCH_LIMIT);
	pcre2_set_depth_limit(mc, MATCH_DEPTH_LIMIT);
	pcre2_set_heap_limit(mc, MATCH_HEAP_KIB);
	pcre2_jit_stack *js = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
	if (js)
		pcre2_jit_stack_assign(mc, NULL, js);
	p->jit_stack = js;
	p->code = c;
	p->mctx = mc;
	p->compiled = 1;
	p->source = xstrdup(source);
	return 0;
}

static int is_limit(int rc)
{
	return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
	       rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_CALLOUT;
}

struct budget {
	int64_t deadline_ns;
	unsigned attempts;
};

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The (?C1) callout: 0 goes on; a negative value abandons the search. */
static int budget(pcre2_callout_block *cb, void *data)
{
	(void)cb;
	struct budget *b = data;
	if (++b->attempts % 64 == 0 && cpu_ns() > b->deadline_ns)
		return PCRE2_ERROR_CALLOUT;
	return 0;
}

enum pattern_result pattern_exec(const struct pattern *p, const char *text, size_t len, size_t start,
				 regmatch_t *m, size_t nmatch)
{
	for (size_t i = 0; i < nmatch; i++)
		m[i].rm_so = m[i].rm_eo = -1;
	if (!p->compiled || start > len)
		return PATTERN_NOMATCH;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->code, NULL);
	pcre2_match_context *mc = pcre2_match_context_copy(p->mctx);
	if (!md || !mc)
		xalloc_oom();
	struct budget b = {cpu_ns() + MATCH_BUDGET_NS, 0};
	pcre2_set_callout(mc, budget, &b);
	int rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, start, 0, md, mc);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* deep but maybe fine: the interpreter's frames are on the bounded heap */
		rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, start, PCRE2_NO_JIT, md, mc);
	enum pattern_result res = PATTERN_NOMATCH;
	if (rc >= 0) {
		res = PATTERN_MATCH;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		uint32_t n = pcre2_get_ovector_count(md);
		for (size_t i = 0; i < nmatch && i < n; i++) {
			if (ov[2 * i] == PCRE2_UNSET || ov[2 * i] > ov[2 * i + 1])
				continue; /* unset group; \K inside a lookaround is ignored */
			m[i].rm_so = (regoff_t)ov[2 * i];
			m[i].rm_eo = (regoff_t)ov[2 * i + 1];
		}
	} else if (is_limit(rc)) {
		res = PATTERN_LIMIT;
	}
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	return res;
}

int pattern_match(const struct pattern *p, const char *text, regmatch_t *m, size_t nmatch)
{
	return pattern_exec(p, text, strlen(text), 0, m, nmatch) == PATTERN_MATCH;
}

enum pattern_result pattern_probe_limits(const struct pattern *p)
{
	enum { N = 64 * 1024 };
	/* Lines of runs that keep a backtracking engine busy, each ending with
	 * every printable character once (so a required character is there).
	 * Lines, not one 64 KiB run: on one long run any pattern that starts
	 * with an unbounded repeat is quadratic, a cost that is reported when
	 * it happens rather than warned about for every such pattern. */
	enum { LINE = 256 };
	static const char *const fills[] = {"a", "ab", "aB1 ", "0", " ", "x=", "a\t"};
	char tail[128];
	size_t nt = 0;
	for (int ch = ' '; ch <= '~'; ch++)
		tail[nt++] = (char)ch;
	tail[nt++] = '\n';
	char *text = xmalloc(N + 1);
	/* and runs of the pattern's own letters and digits ("(x+x+)+y") */
	char own[8][2];
	size_t nown = 0;
	for (const char *s = p->source; *s && nown < 8; s++) {
		int seen = 0;
		for (size_t i = 0; i < nown; i++)
			seen |= own[i][0] == *s;
		if (!seen && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) {
			own[nown][0] = *s;
			own[nown++][1] = '\0';
		}
	}
	size_t nfills = sizeof(fills) / sizeof(*fills);
	enum pattern_result worst = PATTERN_NOMATCH;
	for (size_t f = 0; f < nfills + nown && worst != PATTERN_LIMIT; f++) {
		const char *fill = f < nfills ? fills[f] : own[f - nfills];
		size_t fl = strlen(fill);
		for (size_t i = 0; i < N; i++) {
			size_t col = i % LINE;
			text[i] = col < LINE - nt ? fill[col % fl] : tail[col - (LINE - nt)];
		}
		text[N] = '\0';
		if (pattern_exec(p, text, N, 0, NULL, 0) == PATTERN_LIMIT)
			worst = PATTERN_LIMIT;
	}
	free(text);
	return worst;
}

void pattern_free(struct pattern *p)
{
	if (p->compiled) {
		pcre2_code_free(p->code);
		pcre2_match_context_free(p->mctx);
		pcre2_jit_stack_free(p->jit_stack);
	}
	free(p->source);
	memset(p, 0, sizeof(*p));
}

struct pattern *pattern_new(const char *source, struct wl_err *err)
{
	struct pattern *p = xmalloc(sizeof(*p));
	if (pattern_compile(p, source, err) < 0) {
		free(p);
		return NULL;
	}
	p->refs = 1;
	return p;
}

struct pattern *pattern_ref(struct pattern *p)
{
	if (p)
		p->refs++;
	return p;
}

void pattern_unref(struct pattern *p)
{
	if (!p || --p->refs > 0)
		return;
	pattern_free(p);
	free(p);
}
