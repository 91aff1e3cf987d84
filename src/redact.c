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
};
#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

struct redactor {
	struct pattern builtin[NBUILTINS];
	struct pattern *extra;
	size_t nextra;
	struct strvec literals;   /* sorted longest first when used */
};

static const char *const secret_env_words[] = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "KEY"};

static int name_is_secret(const char *name, size_t len)
{
	for (size_t w = 0; w < sizeof(secret_env_words) / sizeof(secret_env_words[0]); w++) {
		size_t wl = strlen(secret_env_words[w]);
		for (size_t i = 0; i + wl <= len; i++)
			if (!strncasecmp(name + i, secret_env_words[w], wl))
				return 1;
	}
	return 0;
}

struct redactor *redactor_new(const struct strvec *extra_patterns, const struct strvec *env,
			      struct wl_err *err)
{
	struct redactor *r = xcalloc(1, sizeof(*r));
	for (size_t i = 0; i < NBUILTINS; i++)
		if (pattern_compile(&r->builtin[i], builtins[i].re, err) < 0) {
			redactor_free(r);
			return NULL;   /* a bug in the table above; unit-tested */
		}
	if (extra_patterns && extra_patterns->n) {
		r->extra = xcalloc(extra_patterns->n, sizeof(*r->extra));
		for (size_t i = 0; i < extra_patterns->n; i++) {
			if (pattern_compile(&r->extra[i], extra_patterns->v[i], err) < 0) {
				err_prefix(err, "redact pattern %zu", i + 1);
				redactor_free(r);
				return NULL;
			}
			r->nextra++;
		}
	}
	for (size_t i = 0; env && i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		if (eq && name_is_secret(env->v[i], (size_t)(eq - env->v[i])))
			redactor_add_literal(r, eq + 1);
	}
	return r;
}

void redactor_free(struct redactor *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < NBUILTINS; i++)
		pattern_free(&r->builtin[i]);
	for (size_t i = 0; i < r->nextra; i++)
		pattern_free(&r->extra[i]);
	free(r->extra);
	strvec_clear(&r->literals);
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
	if (!strvec_contains(&r->literals, value))
		strvec_push(&r->literals, value);
}

/* Case-insensitive: does lower-case text contain one of the '|'-separated needles? */
static int has_needle(const char *lower, const char *needles)
{
	if (!needles)
		return 1;
	char word[64];
	while (*needles) {
		size_t n = strcspn(needles, "|");
		if (n < sizeof(word)) {
			memcpy(word, needles, n);
			word[n] = '\0';
			if (strstr(lower, word))
				return 1;
		}
		needles += n;
		if (*needles == '|')
			needles++;
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

/* PEM private-key blocks: "-----BEGIN ... PRIVATE KEY-----" to the matching END line. */
static void replace_pem(char **text)
{
	if (!strstr(*text, "PRIVATE KEY"))
		return;
	struct strbuf out = STRBUF_INIT;
	const char *s = *text, *p = s;
	int changed = 0;
	for (;;) {
		const char *b = strstr(p, "-----BEGIN ");
		if (!b)
			break;
		const char *hdr_end = strstr(b + 11, "-----");
		const char *nl = strchr(b, '\n');
		if (!hdr_end || (nl && nl < hdr_end)) {
			strbuf_add(&out, p, (size_t)(b + 11 - p));
			p = b + 11;
			continue;
		}
		int is_private = 0;
		for (const char *q = b; q + 11 <= hdr_end; q++)
			if (!strncmp(q, "PRIVATE KEY", 11))
				is_private = 1;
		if (!is_private) {
			strbuf_add(&out, p, (size_t)(hdr_end + 5 - p));
			p = hdr_end + 5;
			continue;
		}
		strbuf_add(&out, p, (size_t)(b - p));
		strbuf_addstr(&out, REDACTED);
		changed = 1;
		const char *e = strstr(hdr_end + 5, "-----END ");
		const char *e_end = e ? strstr(e + 9, "-----") : NULL;
		if (!e_end) {   /* truncated block: everything after BEGIN goes */
			p = s + strlen(s);
			break;
		}
		p = e_end + 5;
	}
	if (!changed) {
		strbuf_release(&out);
		return;
	}
	strbuf_addstr(&out, p);
	free(*text);
	*text = strbuf_detach(&out);
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
		size_t ll = strlen(lit);
		if (!strstr(*text, lit))
			continue;
		struct strbuf out = STRBUF_INIT;
		const char *p = *text, *hit;
		while ((hit = strstr(p, lit))) {
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

static void redact_with(const struct redactor *r, char **text)
{
	replace_literals(text, &r->literals);
	replace_pem(text);
	size_t n = strlen(*text);
	char *lower = xmalloc(n + 1);
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)(*text)[i]);
	for (size_t i = 0; i < NBUILTINS; i++)
		if (has_needle(lower, builtins[i].needles))
			replace_pattern(text, &r->builtin[i], builtins[i].group);
	free(lower);
	for (size_t i = 0; i < r->nextra; i++)
		replace_pattern(text, &r->extra[i], 0);
}

char *redact_text(const struct redactor *r, const char *text)
{
	char *out = xstrdup(text ? text : "");
	if (r) {
		redact_with(r, &out);
		return out;
	}
	struct redactor *tmp = redactor_new(NULL, NULL, NULL);
	if (tmp)
		redact_with(tmp, &out);
	redactor_free(tmp);
	return out;
}

/* JSON keys whose (string or number) values are secrets whatever they look like. */
static int key_is_secret(const char *key)
{
	static const char *const words[] = {
		"token", "password", "passwd", "secret", "api_key", "api-key", "apikey",
		"access_key", "access-key", "accesskey", "private_key", "private-key", "privatekey",
		"client-key-data", "client-certificate-data", "certificate-authority-data",
		"credential", "authorization",
	};
	if (!key)
		return 0;
	size_t kl = strlen(key);
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w]);
		for (size_t i = 0; i + wl <= kl; i++)
			if (!strncasecmp(key + i, words[w], wl))
				return 1;
	}
	return 0;
}

static void redact_json_with(const struct redactor *r, cJSON *node)
{
	for (cJSON *c = node ? node->child : NULL; c; c = c->next) {
		if (cJSON_IsObject(node) && key_is_secret(c->string) &&
		    (cJSON_IsString(c) || cJSON_IsNumber(c))) {
			cJSON *rep = cJSON_CreateString(REDACTED);
			cJSON_ReplaceItemViaPointer(node, c, rep);
			c = rep;
			continue;
		}
		if (cJSON_IsString(c) && c->valuestring) {
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
	if (r) {
		redact_json_with(r, obj);
		if (cJSON_IsString(obj) && obj->valuestring) {
			char *safe = xstrdup(obj->valuestring);
			redact_with(r, &safe);
			cJSON_SetValuestring(obj, safe);
			free(safe);
		}
		return;
	}
	struct redactor *tmp = redactor_new(NULL, NULL, NULL);
	if (tmp)
		redact_json(tmp, obj);
	redactor_free(tmp);
}
