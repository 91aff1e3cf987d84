/*
 * redact: the built-in secret patterns of SPEC §7, literal secret values
 * (environment variables with secret-looking names) and the workflow's own
 * `redact` patterns. See redact.h.
 *
 * Patterns are pattern.h patterns (PCRE2, bounded). Each built-in names the capture group
 * that holds the secret (0 = the whole match), so "token: abc" keeps its
 * key and becomes "token: [REDACTED]"; a cheap case-insensitive keyword
 * pre-check skips patterns that cannot match. PEM private-key blocks are
 * found by a plain scan (ERE has no non-greedy match across lines).
 */
#include "redact.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "strbuf.h"
#include "xalloc.h"

/* Key names whose values are secrets (JSON/YAML/k=v forms; case-insensitive). */
#define SECRET_KEY                                                                       \
	"[A-Za-z0-9_.-]*(token|password|passwd|secret|api[_-]?key|access[_-]?key|"      \
	"private[_-]?key|client-key-data|client-certificate-data|"                      \
	"certificate-authority-data|credentials?)[A-Za-z0-9_.-]*"

struct builtin {
	const char *re;
	int group;              /* capture group holding the secret; 0 = whole match */
	const char *needles;    /* '|'-separated lowercase keywords; NULL = always try */
};

static const struct builtin builtins[] = {
	/* Authorization / Proxy-Authorization header values, to the end of the line. */
	{"(?i)(proxy-)?authorization\"?[[:space:]]*[:=][[:space:]]*[\"']?([^\"'\r\n]+)", 2,
	 "authorization"},
	/* Bearer tokens anywhere. */
	{"(?i)bearer[[:space:]]+([A-Za-z0-9._~+/=-]+)", 1, "bearer"},
	/* "key": "value" (JSON, quoted YAML, quoted k=v). */
	{"(?i)" SECRET_KEY "[\"']?[[:space:]]*[:=][[:space:]]*\"(([^\"\\]|\\\\.)*)\"", 2,
	 "token|passw|secret|key|credential|-data"},
	{"(?i)" SECRET_KEY "[\"']?[[:space:]]*[:=][[:space:]]*'([^'\r\n]*)'", 2,
	 "token|passw|secret|key|credential|-data"},
	/* key: value (YAML, unquoted): the rest of the line. */
	{"(?i)" SECRET_KEY "[\"']?[[:space:]]*:[[:space:]]*([^[:space:]\"',}{[][^\r\n\"',}]*)", 2,
	 "token|passw|secret|key|credential|-data"},
	/* key=value (env, query strings, flags): up to a separator. */
	{"(?i)" SECRET_KEY "[[:space:]]*=[[:space:]]*([^[:space:]\"'&;,]+)", 2,
	 "token|passw|secret|key|credential|-data"},
	/* JSON Web Tokens. */
	{"eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*", 0, "eyj"},
	/* AWS access key ids. */
	{"(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}", 0, "akia|asia|agpa|aida|aroa|anpa|anva|aipa"},
	/* GitHub tokens. */
	{"(ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,}", 0, "gh"},
	{"github_pat_[A-Za-z0-9_]{20,}", 0, "github_pat_"},
	/* GitLab personal/project/group access tokens. */
	{"gl(pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_-]{20,}", 0, "gl"},
	/* Slack bot/user/app/refresh tokens. */
	{"xox[abposre]-[A-Za-z0-9-]{10,}", 0, "xox"},
	/* Stripe secret and restricted keys (live and test). */
	{"(sk|rk)_(live|test)_[A-Za-z0-9]{16,}", 0, "_live_|_test_"},
	/* npm access tokens. */
	{"npm_[A-Za-z0-9]{30,}", 0, "npm_"},
	/* Google API keys. */
	{"AIza[0-9A-Za-z_-]{30,}", 0, "aiza"},
	/* OpenAI / Anthropic style keys: sk-..., sk-proj-..., sk-ant-...; not inside a word. */
	{"(^|[^A-Za-z0-9_-])(sk-[A-Za-z0-9_-]{20,})", 2, "sk-"},
	/* Credentials in URLs: scheme://user:PASSWORD@host (user may be empty). */
	{"[A-Za-z][A-Za-z0-9+.-]*://[^/:@[:space:]\"'<>]*:([^/@[:space:]\"'<>]+)@", 1, "://"},
	/* Command-line passwords: --password X, --password=X (and token/secret flags). */
	{"(?i)--(password|passwd|pass|token|secret|api-key|client-secret)([[:space:]]+|=)([^-[:space:]\"'][^[:space:]\"']*)", 3,
	 "--pass|--token|--secret|--api-key|--client-secret"},
	/* mysql-style -pPASSWORD. */
	{"(?i)(mysql|mysqldump|mysqladmin|mariadb|mysqlimport|mysqlshow|mysqlcheck)[^\r\n|;&]*[[:space:]]-p([^[:space:]\"']+)", 2,
	 "mysql|mariadb"},
	/* curl -u user:PASSWORD / --user user:PASSWORD. */
	{"(?i)curl[^\r\n|;&]*[[:space:]](-u|--user)[[:space:]=]*[\"']?[^:[:space:]\"']*:([^[:space:]\"']+)", 2, "curl"},
	/* Cookie and Set-Cookie header values, to the end of the line. */
	{"(?i)(set-)?cookie\"?[[:space:]]*:[[:space:]]*\"?([^\"\r\n]+)", 2, "cookie"},
	/* Azure connection strings and SAS tokens. */
	{"(?i)(AccountKey|SharedAccessKey|SharedAccessSignature)=([^;\"'[:space:]]+)", 2, "accountkey|sharedaccess"},
	{"(?i)[?&]sig=([A-Za-z0-9%+/=]{16,})", 1, "sig="},
};
#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

/*
 * Short texts already found clean (redaction left them as they were): the
 * runner redacts the same words over and over (states, step ids, worker
 * kinds, paths), and a redaction pass costs far more than a lookup. Direct
 * mapped, bounded (CLEAN_SLOTS entries of at most CLEAN_MAX_LEN bytes),
 * emptied whenever the redactor learns a new literal. Redaction is a pure
 * function of (redactor, text), so a hit gives what a pass would.
 */
#define CLEAN_SLOTS 1024   /* a power of two */
#define CLEAN_MAX_LEN 256
struct clean_cache {
	char *text[CLEAN_SLOTS];
};

struct redactor {
	struct pattern **extra;   /* the workflow's `redact` patterns, shared (pattern_ref) */
	size_t nextra;
	struct strvec literals;   /* sorted longest first when used */
	struct strvec sources;    /* the extra patterns as written */
	struct clean_cache *clean;
};

static void clean_cache_clear(struct clean_cache *c)
{
	for (size_t i = 0; c && i < CLEAN_SLOTS; i++) {
		free(c->text[i]);
		c->text[i] = NULL;
	}
}

/* The slot for text (FNV-1a), or NULL when text is too long to be cached. */
static char **clean_slot(const struct redactor *r, const char *text, size_t len)
{
	if (!r->clean || len > CLEAN_MAX_LEN)
		return NULL;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)text[i]) * 16777619u;
	return &r->clean->text[h & (CLEAN_SLOTS - 1)];
}

static const char *const secret_env_words[] = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "KEY"};

/* Do the len bytes of s hold one of the n words, in any case? */
static int has_word_nocase(const char *s, size_t len, const char *const *words, size_t n)
{
	for (size_t w = 0; w < n; w++) {
		size_t wl = strlen(words[w]);
		for (size_t i = 0; i + wl <= len; i++)
			if (!strncasecmp(s + i, words[w], wl))
				return 1;
	}
	return 0;
}

static int name_is_secret(const char *name, size_t len)
{
	return has_word_nocase(name, len, secret_env_words, sizeof(secret_env_words) / sizeof(secret_env_words[0]));
}

void redactor_add_env(struct redactor *r, const struct strvec *env);

struct redactor *redactor_new_shared(struct pattern *const *patterns, size_t npatterns, const struct strvec *env)
{
	struct redactor *r = xcalloc(1, sizeof(*r));
	r->clean = xcalloc(1, sizeof(*r->clean));
	if (npatterns) {
		r->extra = xcalloc(npatterns, sizeof(*r->extra));
		for (size_t i = 0; i < npatterns; i++) {
			r->extra[r->nextra++] = pattern_ref(patterns[i]);
			strvec_push(&r->sources, patterns[i]->source);
		}
	}
	redactor_add_env(r, env);
	return r;
}

struct redactor *redactor_new(const struct strvec *extra_patterns, const struct strvec *env,
			      struct wl_err *err)
{
	size_t n = extra_patterns ? extra_patterns->n : 0;
	struct pattern **pats = n ? xcalloc(n, sizeof(*pats)) : NULL;
	struct redactor *r = NULL;
	size_t i;
	for (i = 0; i < n; i++)
		if (!(pats[i] = pattern_new(extra_patterns->v[i], err))) {
			err_prefix(err, "redact pattern %zu", i + 1);
			goto out;
		}
	r = redactor_new_shared(pats, n, env);
out:
	while (i-- > 0)
		pattern_unref(pats[i]);
	free(pats);
	return r;
}

void redactor_free(struct redactor *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nextra; i++)
		pattern_unref(r->extra[i]);
	free(r->extra);
	strvec_clear(&r->literals);
	strvec_clear(&r->sources);
	clean_cache_clear(r->clean);
	free(r->clean);
	free(r);
}

void redactor_add_literal(struct redactor *r, const char *value)
{
	if (!r || !value || strlen(value) < 4)
		return;
	/* Words like these are configuration, not secrets; redacting them would eat ordinary text. */
	static const char *const plain[] = {"true", "false", "null", "none", "yes", "auto"};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcasecmp(value, plain[i]))
			return;
	if (!strvec_contains(&r->literals, value)) {
		strvec_push(&r->literals, value);
		clean_cache_clear(r->clean);   /* a text clean before may hold this one */
	}
}

void redactor_add_env(struct redactor *r, const struct strvec *env)
{
	for (size_t i = 0; r && env && i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		if (eq && name_is_secret(env->v[i], (size_t)(eq - env->v[i])))
			redactor_add_literal(r, eq + 1);
	}
}

char *redactor_export(const struct redactor *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *p = cJSON_AddArrayToObject(o, "patterns"), *l = cJSON_AddArrayToObject(o, "literals");
	for (size_t i = 0; r && i < r->sources.n; i++)
		cJSON_AddItemToArray(p, cJSON_CreateString(r->sources.v[i]));
	for (size_t i = 0; r && i < r->literals.n; i++)
		cJSON_AddItemToArray(l, cJSON_CreateString(r->literals.v[i]));
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	char *out = xstrdup(s ? s : "{}");
	cJSON_free(s);
	return out;
}

struct redactor *redactor_import(const char *value, const struct strvec *env, struct wl_err *err)
{
	struct strvec pats = STRVEC_INIT;
	cJSON *o = value && *value ? cJSON_Parse(value) : NULL;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "patterns"))
		if (cJSON_IsString(it))
			strvec_push(&pats, it->valuestring);
	struct redactor *r = redactor_new(&pats, env, err);
	strvec_clear(&pats);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "literals"))
		if (r && cJSON_IsString(it))
			redactor_add_literal(r, it->valuestring);
	cJSON_Delete(o);
	if (!r && err)
		err_prefix(err, "%s", REDACT_ENV);
	return r;
}

/* Case-insensitive: does lower-case text contain one of the '|'-separated
 * needles? present[c] says whether byte c occurs in it at all: a needle whose
 * first byte does not occur cannot be there (no strstr for it). */
static int has_needle(const char *lower, const unsigned char *present, const char *needles)
{
	if (!needles)
		return 1;
	char word[64];
	while (*needles) {
		const char *bar = strchr(needles, '|');
		size_t n = bar ? (size_t)(bar - needles) : strlen(needles);
		if (n == 0)
			return 1;   /* an empty needle is in every text */
		if (n < sizeof(word) && present[(unsigned char)needles[0]]) {
			memcpy(word, needles, n);
			word[n] = '\0';
			if (strstr(lower, word))
				return 1;
		}
		if (!bar)
			break;
		needles = bar + 1;
	}
	return 0;
}

/* Replace every match of p (group g, or the whole match) in *text. */
static void replace_pattern(char **text, const struct pattern *p, int g)
{
	regmatch_t m[10];
	struct strbuf out = STRBUF_INIT;
	const char *s = *text;
	size_t pos = 0, len = strlen(s);
	int changed = 0;
	while (pos <= len) {
		enum pattern_result pr = pattern_exec(p, s, len, pos, m, 10);
		if (pr == PATTERN_LIMIT) {
			/* fail closed: what the pattern could not search is hidden */
			strbuf_addstr(&out, REDACTED);
			pos = len;
			changed = 1;
			break;
		}
		if (pr != PATTERN_MATCH)
			break;
		for (int i = 0; i < 10; i++) /* offsets from pos, as below */
			if (m[i].rm_so >= 0) {
				m[i].rm_so -= (regoff_t)pos;
				m[i].rm_eo -= (regoff_t)pos;
			}
		regoff_t so = m[0].rm_so, eo = m[0].rm_eo;
		regoff_t gso = so, geo = eo;
		if (g > 0 && m[g].rm_so >= 0) {
			gso = m[g].rm_so;
			geo = m[g].rm_eo;
		}
		if (geo > gso) {
			strbuf_add(&out, s + pos, (size_t)gso);
			strbuf_addstr(&out, REDACTED);
			strbuf_add(&out, s + pos + geo, (size_t)(eo - geo));
			changed = 1;
		} else {
			strbuf_add(&out, s + pos, (size_t)eo);
		}
		if (eo == 0) {   /* empty match: step over one byte */
			if (pos < len)
				strbuf_addch(&out, s[pos]);
			pos++;
		} else {
			pos += (size_t)eo;
		}
	}
	if (!changed) {
		strbuf_release(&out);
		return;
	}
	if (pos < len)
		strbuf_addstr(&out, s + pos);
	free(*text);
	*text = strbuf_detach(&out);
}

/*
 * PEM private-key blocks, in any case and with '-' or '_' for spaces (a
 * normalised fingerprint spells "-----begin-rsa-private-key-----"): from
 * the BEGIN marker to the END marker. A BEGIN without END (a truncated
 * block) loses everything after it; an END without BEGIN (a tail that
 * starts inside a block) loses everything before it.
 */
static int sep(char c)
{
	return c == ' ' || c == '-' || c == '_' || c == '\t';
}

/* At s: "-----BEGIN"/"-----END" (kind 1/2), words naming a PRIVATE KEY,
 * "-----", all on one line: the length of the whole marker, or 0. */
static size_t pem_marker(const char *s, int *kind)
{
	if (strncmp(s, "-----", 5))
		return 0;
	const char *p = s + 5;
	if (!strncasecmp(p, "begin", 5)) {
		*kind = 1;
		p += 5;
	} else if (!strncasecmp(p, "end", 3)) {
		*kind = 2;
		p += 3;
	} else {
		return 0;
	}
	if (!sep(*p))
		return 0;
	const char *close = NULL;
	int priv = 0;
	for (const char *c = p + 1; *c && *c != '\n' && *c != '\r' && c - p < 80; c++) {
		if (!strncmp(c, "-----", 5) && c[-1] != '-') {
			close = c;
			break;
		}
		if (!strncasecmp(c, "private", 7) && sep(c[7]) && !strncasecmp(c + 8, "key", 3))
			priv = 1;
	}
	if (!priv || !close)
		return 0;
	const char *e = close;
	while (*e == '-')
		e++;
	return (size_t)(e - s);
}

static void replace_pem(char **text)
{
	const char *s = *text;
	if (!strstr(s, "-----"))
		return;
	struct strbuf out = STRBUF_INIT;
	const char *copied = s;   /* s[copied..] not yet in out */
	int changed = 0;
	for (const char *p = s; (p = strstr(p, "-----"));) {
		int kind = 0;
		size_t ml = pem_marker(p, &kind);
		if (!ml) {
			p += 5;
			while (*p == '-')
				p++;
			continue;
		}
		changed = 1;
		if (kind == 2) {   /* END without BEGIN: everything before it goes */
			strbuf_reset(&out);
			strbuf_addstr(&out, REDACTED);
			copied = p = p + ml;
			continue;
		}
		strbuf_add(&out, copied, (size_t)(p - copied));
		strbuf_addstr(&out, REDACTED);
		const char *q = p + ml;
		const char *end = NULL;
		size_t el = 0;
		for (const char *c = q; (c = strstr(c, "-----")); c++) {
			int k = 0;
			size_t l = pem_marker(c, &k);
			if (l && k == 2) {
				end = c;
				el = l;
				break;
			}
		}
		if (!end) {   /* truncated block: everything after BEGIN goes */
			copied = p = s + strlen(s);
			break;
		}
		copied = p = end + el;
	}
	if (!changed) {
		strbuf_release(&out);
		return;
	}
	strbuf_addstr(&out, copied);
	free(*text);
	*text = strbuf_detach(&out);
}

/* 1 when text ends inside a private-key block (a BEGIN with no END after it). */
static int pem_open_at_end(const char *s)
{
	int open = 0;
	for (const char *p = s; (p = strstr(p, "-----"));) {
		int kind = 0;
		size_t ml = pem_marker(p, &kind);
		if (ml) {
			open = kind == 1;
			p += ml;
		} else {
			p += 5;
		}
	}
	return open;
}

/*
 * Literal secrets. Values of 8+ characters with a letter match whatever
 * their case and with '-' / '_' / space interchangeable, because derived
 * text (fingerprints) is lower-cased and dashed; shorter ones match exactly.
 */
static int lit_fuzzy(const char *lit)
{
	if (strlen(lit) < 8)
		return 0;
	for (const char *p = lit; *p; p++)
		if (isalpha((unsigned char)*p))
			return 1;
	return 0;
}

static int lit_eq(char a, char b)
{
	if (sep(a) && sep(b))
		return 1;
	return tolower((unsigned char)a) == tolower((unsigned char)b);
}

static const char *lit_find(const char *hay, const char *lit, int fuzzy)
{
	if (!fuzzy)
		return strstr(hay, lit);
	size_t ll = strlen(lit);
	for (const char *h = hay; *h; h++) {
		if (!lit_eq(*h, *lit))
			continue;
		size_t i = 1;
		while (i < ll && h[i] && lit_eq(h[i], lit[i]))
			i++;
		if (i == ll)
			return h;
	}
	return NULL;
}

static int cmp_len_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	return la < lb ? 1 : la > lb ? -1 : 0;
}

static void replace_literals(char **text, const struct strvec *lits)
{
	if (!lits->n)
		return;
	char **sorted = xmalloc(lits->n * sizeof(*sorted));
	memcpy(sorted, lits->v, lits->n * sizeof(*sorted));
	qsort(sorted, lits->n, sizeof(*sorted), cmp_len_desc);
	for (size_t i = 0; i < lits->n; i++) {
		const char *lit = sorted[i];
		int fuzzy = lit_fuzzy(lit);
		size_t ll = strlen(lit);
		if (!lit_find(*text, lit, fuzzy))
			continue;
		struct strbuf out = STRBUF_INIT;
		const char *p = *text, *hit;
		while ((hit = lit_find(p, lit, fuzzy))) {
			strbuf_add(&out, p, (size_t)(hit - p));
			strbuf_addstr(&out, REDACTED);
			p = hit + ll;
		}
		strbuf_addstr(&out, p);
		free(*text);
		*text = strbuf_detach(&out);
	}
	free(sorted);
}

/*
 * The built-in patterns are the same for every redactor: compiled once per
 * process, each only when text first contains one of its keywords (most
 * text never needs most of them; regcomp is the costly part).
 */
static struct pattern builtin_compiled[NBUILTINS];
static signed char builtin_state[NBUILTINS];   /* 0 not yet, 1 compiled, -1 failed */

static const struct pattern *builtin_pattern(size_t i)
{
	if (!builtin_state[i])
		builtin_state[i] = pattern_compile(&builtin_compiled[i], builtins[i].re, NULL) == 0 ? 1 : -1;
	return builtin_state[i] > 0 ? &builtin_compiled[i] : NULL;
}

int redact_builtins_check(struct wl_err *err)
{
	for (size_t i = 0; i < NBUILTINS; i++)
		if (!builtin_pattern(i))
			return err_set(err, "built-in redaction pattern %zu does not compile: %s", i, builtins[i].re);
	return 0;
}

static void redact_pass(const struct redactor *r, char **text);

/* Is text remembered clean (redact_with would leave it as it is)? */
static int known_clean(const struct redactor *r, const char *text)
{
	char **slot = clean_slot(r, text, strlen(text));
	return slot && *slot && !strcmp(*slot, text);
}

static void redact_with(const struct redactor *r, char **text)
{
	char **slot = clean_slot(r, *text, strlen(*text));
	if (slot && *slot && !strcmp(*slot, *text))
		return;
	char *orig = slot ? xstrdup(*text) : NULL;
	redact_pass(r, text);
	if (orig && !strcmp(orig, *text)) {
		free(*slot);
		*slot = orig;
	} else {
		free(orig);
	}
}

static void redact_pass(const struct redactor *r, char **text)
{
	replace_literals(text, &r->literals);
	replace_pem(text);
	size_t n = strlen(*text);
	char *lower = xmalloc(n + 1);
	unsigned char present[256] = {0};
	for (size_t i = 0; i <= n; i++) {
		lower[i] = (char)tolower((unsigned char)(*text)[i]);
		present[(unsigned char)lower[i]] = 1;
	}
	for (size_t i = 0; i < NBUILTINS; i++)
		if (has_needle(lower, present, builtins[i].needles))
		{
			const struct pattern *p = builtin_pattern(i);
			if (p)
				replace_pattern(text, p, builtins[i].group);
		}
	free(lower);
	for (size_t i = 0; i < r->nextra; i++)
		replace_pattern(text, r->extra[i], 0);
}

static const struct redactor *builtin_redactor(void)
{
	/* Built once, kept for the process (patterns only, no literals). */
	static struct redactor *shared;
	if (!shared)
		shared = redactor_new(NULL, NULL, NULL);
	return shared;
}

const struct redactor *redact_process_default(void)
{
	/* Built once: built-ins plus this process's secret-named variables. */
	static struct redactor *shared;
	if (!shared) {
		extern char **environ;
		struct strvec env = STRVEC_INIT;
		for (char **e = environ; e && *e; e++)
			strvec_push(&env, *e);
		shared = redactor_new(NULL, &env, NULL);
		strvec_clear(&env);
	}
	return shared;
}

int redact_could_be_secret(const struct redactor *r, const char *value)
{
	if (!value)
		return 0;
	size_t n = strlen(value);
	char *red = redact_text(r ? r : redact_process_default(), value);
	int changed = strcmp(red, value) != 0;
	free(red);
	if (changed || n > 40)
		return 1;
	/* long, mixed letters and digits, no spaces: the shape of a key */
	int alpha = 0, digit = 0, space = 0;
	for (const char *p = value; *p; p++) {
		alpha |= isalpha((unsigned char)*p) != 0;
		digit |= isdigit((unsigned char)*p) != 0;
		space |= isspace((unsigned char)*p) != 0;
	}
	return n >= 12 && alpha && digit && !space;
}

char *redact_text(const struct redactor *r, const char *text)
{
	char *out = xstrdup(text ? text : "");
	if (!r)
		r = builtin_redactor();
	if (r)
		redact_with(r, &out);
	return out;
}

char *redact_textn(const struct redactor *r, const char *text, size_t len)
{
	char *in = xstrndup(text ? text : "", text ? len : 0);
	char *out = redact_text(r, in);
	free(in);
	return out;
}

/* JSON keys whose values are secrets whatever they look like. */
int redact_key_is_secret(const char *key)
{
	static const char *const words[] = {
		"token", "password", "passwd", "secret", "api_key", "api-key", "apikey",
		"access_key", "access-key", "accesskey", "private_key", "private-key", "privatekey",
		"client-key-data", "client-certificate-data", "certificate-authority-data",
		"credential", "authorization", "cookie", "accountkey",
	};
	if (!key)
		return 0;
	size_t kl = strlen(key);
	char lower[128];
	if (kl < sizeof(lower)) {   /* the usual short key: one lower-case copy, then strstr */
		/* The answer depends on the key alone, and events and documents
		 * use a few dozen keys: remembered per process, direct-mapped. */
		static char seen[256][32];
		static signed char seen_answer[256];
		uint32_t h = 2166136261u;
		for (size_t i = 0; i < kl; i++)
			h = (h ^ (unsigned char)key[i]) * 16777619u;
		size_t slot = h & 255u;
		if (kl < sizeof(seen[0]) && !strcmp(seen[slot], key) && kl)
			return seen_answer[slot];
		for (size_t i = 0; i <= kl; i++)
			lower[i] = (char)tolower((unsigned char)key[i]);
		int found = 0;
		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]) && !found; w++)
			found = strstr(lower, words[w]) != NULL;
		if (kl && kl < sizeof(seen[0])) {
			memcpy(seen[slot], key, kl + 1);
			seen_answer[slot] = (signed char)found;
		}
		return found;
	}
	return has_word_nocase(key, kl, words, sizeof(words) / sizeof(words[0]));
}

/* Whatever the value under a secret-named key (string, number, array, object,
 * bool), it becomes "[REDACTED]"; the member keeps its key name. null stays. */
static void redact_json_with(const struct redactor *r, cJSON *node)
{
	for (cJSON *c = node ? node->child : NULL; c; c = c->next) {
		if (cJSON_IsObject(node) && redact_key_is_secret(c->string) && !cJSON_IsNull(c) &&
		    !(cJSON_IsString(c) && c->valuestring && !strcmp(c->valuestring, REDACTED))) {
			cJSON *rep = cJSON_CreateString(REDACTED);
			rep->string = c->string;   /* the member keeps its name */
			rep->type |= c->type & cJSON_StringIsConst;
			c->string = NULL;
			c->type &= ~cJSON_StringIsConst;
			cJSON_ReplaceItemViaPointer(node, c, rep);
			c = rep;
			continue;
		}
		if (cJSON_IsString(c) && c->valuestring) {
			if (known_clean(r, c->valuestring))
				continue;   /* no copy to redact */
			char *safe = xstrdup(c->valuestring);
			redact_with(r, &safe);
			if (strcmp(safe, c->valuestring))
				cJSON_SetValuestring(c, safe);
			free(safe);
		} else if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
			redact_json_with(r, c);
		}
	}
}

void redact_json(const struct redactor *r, cJSON *obj)
{
	if (!obj)
		return;
	if (!r)
		r = builtin_redactor();
	if (!r)
		return;
	redact_json_with(r, obj);
	if (cJSON_IsString(obj) && obj->valuestring) {
		char *safe = xstrdup(obj->valuestring);
		redact_with(r, &safe);
		cJSON_SetValuestring(obj, safe);
		free(safe);
	}
}

/* ---- streams -------------------------------------------------------------- */

/*
 * A stream is redacted a line at a time, but with memory: inside a private
 * key block nothing is emitted until its END line, whatever the chunking;
 * a line longer than STREAM_LINE_MAX is redacted whole first and emitted
 * only up to a delimiter STREAM_HOLD bytes before its end (the rest waits
 * for more text, already redacted), so no cut shows the start of a secret.
 */
#define STREAM_LINE_MAX (64 * 1024)
#define STREAM_HOLD (8 * 1024)
#define STREAM_HARD_MAX (1024 * 1024)

struct redact_stream {
	const struct redactor *r;
	struct strbuf pending;   /* not yet emitted; raw, or redacted after a forced cut */
	int in_pem;              /* inside a private-key block: drop until END */
	int absorb;              /* the last emitted text ended in a redacted token: drop its rest */
};

struct redact_stream *redact_stream_new(const struct redactor *r)
{
	struct redact_stream *rs = xcalloc(1, sizeof(*rs));
	rs->r = r;
	strbuf_init(&rs->pending);
	return rs;
}

void redact_stream_free(struct redact_stream *rs)
{
	if (!rs)
		return;
	strbuf_release(&rs->pending);
	free(rs);
}

static int is_delim(char c)
{
	return isspace((unsigned char)c) || strchr(",;&|\"'<>(){}", c) != NULL || c == ']';
}

/* Redact a complete piece (ending at a line end, or the final piece) and emit it. */
static void emit_piece(struct redact_stream *rs, const char *piece, size_t len, struct strbuf *out)
{
	char *raw = xstrndup(piece, len);
	char *red = redact_text(rs->r, raw);
	size_t n = strlen(red);
	strbuf_add(out, red, n);
	int open = pem_open_at_end(raw);
	free(raw);
	if (open) {   /* the rest of the block is dropped as it comes */
		rs->in_pem = 1;
		if (len && piece[len - 1] == '\n' && (!n || red[n - 1] != '\n'))
			strbuf_addch(out, '\n');
	}
	free(red);
}

/* Drop pending text inside a private-key block up to and including its END line. */
static void skip_pem(struct redact_stream *rs)
{
	const char *s = rs->pending.buf;
	for (const char *p = s; (p = strstr(p, "-----"));) {
		int kind = 0;
		size_t ml = pem_marker(p, &kind);
		if (ml && kind == 2) {
			const char *e = p + ml;
			while (*e && *e != '\n')
				e++;
			if (*e != '\n')
				return;   /* wait for the end of the END line */
			e++;
			rs->in_pem = 0;
			size_t keep = rs->pending.len - (size_t)(e - s);
			memmove(rs->pending.buf, e, keep);
			strbuf_setlen(&rs->pending, keep);
			return;
		}
		p += ml ? ml : 5;
	}
	/* no END yet: keep only the last partial line (it may be "-----EN") */
	const char *nl = strrchr(s, '\n');
	size_t from = nl ? (size_t)(nl + 1 - s) : 0;
	if (rs->pending.len - from > 256)
		from = rs->pending.len - 256;
	memmove(rs->pending.buf, s + from, rs->pending.len - from);
	strbuf_setlen(&rs->pending, rs->pending.len - from);
}

static void drain(struct redact_stream *rs, struct strbuf *out, int final)
{
	for (;;) {
		if (rs->absorb) {   /* the rest of a secret cut by a forced flush */
			size_t k = 0;
			while (k < rs->pending.len && !is_delim(rs->pending.buf[k]))
				k++;
			if (k == rs->pending.len && !final)
				{ strbuf_reset(&rs->pending); return; }
			memmove(rs->pending.buf, rs->pending.buf + k, rs->pending.len - k);
			strbuf_setlen(&rs->pending, rs->pending.len - k);
			rs->absorb = 0;
		}
		if (rs->in_pem) {
			skip_pem(rs);
			if (rs->in_pem)
				return;
			continue;
		}
		if (!rs->pending.len)
			return;
		const char *s = rs->pending.buf;
		const char *nl = memrchr(s, '\n', rs->pending.len);   /* every complete line at once */
		if (nl) {
			size_t n = (size_t)(nl + 1 - s);
			emit_piece(rs, s, n, out);
			memmove(rs->pending.buf, s + n, rs->pending.len - n);
			strbuf_setlen(&rs->pending, rs->pending.len - n);
			continue;
		}
		if (final) {
			emit_piece(rs, s, rs->pending.len, out);
			strbuf_reset(&rs->pending);
			rs->in_pem = 0;
			return;
		}
		if (rs->pending.len <= STREAM_LINE_MAX)
			return;
		/* a very long line: redact it whole, emit up to a delimiter well before its end */
		char *red = redact_text(rs->r, s);
		size_t n = strlen(red);
		if (pem_open_at_end(s)) {
			strbuf_addstr(out, red);
			rs->in_pem = 1;
			strbuf_reset(&rs->pending);
			free(red);
			continue;
		}
		size_t cut = n > STREAM_HOLD ? n - STREAM_HOLD : 0;
		while (cut > 0 && !is_delim(red[cut - 1]))
			cut--;
		if (cut == 0 && n > STREAM_HARD_MAX) {   /* no delimiter at all: emit it, drop the rest of the token */
			strbuf_add(out, red, n);
			rs->absorb = 1;
			strbuf_reset(&rs->pending);
			free(red);
			return;
		}
		strbuf_add(out, red, cut);
		strbuf_reset(&rs->pending);
		strbuf_addstr(&rs->pending, red + cut);
		free(red);
		return;
	}
}

void redact_stream_feed(struct redact_stream *rs, const char *data, size_t len, struct strbuf *out)
{
	strbuf_add(&rs->pending, data, len);
	drain(rs, out, 0);
}

void redact_stream_peek(const struct redact_stream *rs, struct strbuf *out)
{
	if (!rs || rs->in_pem || rs->absorb || !rs->pending.len)
		return;
	char *red = redact_text(rs->r, rs->pending.buf);
	strbuf_addstr(out, red);
	free(red);
}

void redact_stream_flush(struct redact_stream *rs, struct strbuf *out)
{
	drain(rs, out, 1);
	strbuf_reset(&rs->pending);
	rs->in_pem = 0;
	rs->absorb = 0;
}
