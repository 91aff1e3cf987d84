#include "verdict.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"


void verdict_release(struct verdict *v)
{
	free(v->check_id);
	free(v->message);
	strvec_clear(&v->reasons);
	strvec_clear(&v->fingerprints);
	strvec_clear(&v->hints);
	memset(v, 0, sizeof(*v));
}

void verdict_evidence_release(struct verdict_evidence *e)
{
	free(e->reason);
	free(e->message);
	free(e->target);
	free(e->name);
	free(e->command);
	strvec_clear(&e->reasons);
	strvec_clear(&e->fingerprints);
	strvec_clear(&e->hints);
	memset(e, 0, sizeof(*e));
}

const char *verdict_decision_name(enum verdict_decision d)
{
	switch (d) {
	case VERDICT_COMPLETE: return "complete";
	case VERDICT_INCOMPLETE: return "incomplete";
	case VERDICT_FAILED: return "failed";
	case VERDICT_NONE: break;
	}
	return "none";
}

const char *verdict_source_name(enum verdict_source s)
{
	switch (s) {
	case VERDICT_SRC_WAIT_POLICY: return "wait_policy";
	case VERDICT_SRC_DECISION_FILE: return "decision_file";
	case VERDICT_SRC_MARKER: return "marker";
	case VERDICT_SRC_EXIT_CODE: return "exit_code";
	case VERDICT_SRC_CHECK_FAILED: return "check_failed";
	case VERDICT_SRC_UNDECIDABLE: return "undecidable";
	case VERDICT_SRC_CONVERGENCE: return "convergence";
	case VERDICT_SRC_NONE: break;
	}
	return "none";
}

/*
 * The one decision word list. Every word is accepted as a "decision" value in
 * a JSON verdict and by `waitloop verdict` (case-insensitive); only the words
 * with in_marker set also count as a free-text marker line ("PASS",
 * "**VERDICT: FAIL**"): roboppi's four plus their past tenses. "ok", "done",
 * "success", "retry"... are too common in prose to decide a check on their own.
 */
static const struct {
	const char *word;
	enum verdict_decision dec;
	int in_marker;
} decision_words[] = {
	{"complete", VERDICT_COMPLETE, 1},     {"completed", VERDICT_COMPLETE, 1},
	{"pass", VERDICT_COMPLETE, 1},         {"passed", VERDICT_COMPLETE, 1},
	{"success", VERDICT_COMPLETE, 0},      {"ok", VERDICT_COMPLETE, 0},
	{"done", VERDICT_COMPLETE, 0},         {"incomplete", VERDICT_INCOMPLETE, 1},
	{"fail", VERDICT_INCOMPLETE, 1},       {"failed", VERDICT_INCOMPLETE, 1},
	{"failure", VERDICT_INCOMPLETE, 0},    {"retry", VERDICT_INCOMPLETE, 0},
	{"not_complete", VERDICT_INCOMPLETE, 0},
};

/* 0 and *out set when w is in the list (and a marker word if marker_only), else -1. */
static int decision_word(const char *w, int marker_only, enum verdict_decision *out)
{
	for (size_t i = 0; i < sizeof(decision_words) / sizeof(decision_words[0]); i++)
		if ((!marker_only || decision_words[i].in_marker) && !strcasecmp(w, decision_words[i].word)) {
			*out = decision_words[i].dec;
			return 0;
		}
	return -1;
}

int verdict_parse_decision(const char *s, enum verdict_decision *out)
{
	return s ? decision_word(s, 0, out) : -1;
}

/* --- bounded lists --------------------------------------------------------- */

/* Cut s (len bytes) to at most max bytes at a UTF-8 boundary, ending with "…". */
static char *bounded_item(const char *s, size_t len)
{
	if (len <= VERDICT_MAX_ITEM_CHARS)
		return xstrndup(s, len);
	size_t cut = str_utf8_cut(s, len, VERDICT_MAX_ITEM_CHARS - 3);   /* room for "…" (3 bytes) */
	char *r = xmalloc(cut + 4);
	memcpy(r, s, cut);
	memcpy(r + cut, "\xE2\x80\xA6", 4);
	return r;
}

/* One line: control characters (newlines, tabs) become spaces. */
static char *clean_item(const char *item)
{
	while (*item && isspace((unsigned char)*item))
		item++;
	size_t len = strlen(item);
	while (len && isspace((unsigned char)item[len - 1]))
		len--;
	if (!len)
		return NULL;
	char *r = bounded_item(item, len);
	for (char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return r;
}

static void list_add(struct strvec *list, const char *item, int sorted)
{
	if (!item)
		return;
	char *c = clean_item(item);
	if (!c)
		return;
	if (strvec_contains(list, c) || list->n >= VERDICT_MAX_ITEMS) {
		free(c);
		return;
	}
	strvec_push_owned(list, c);
	if (sorted)
		strvec_sort_unique(list);
}

void verdict_list_add(struct strvec *list, const char *item)
{
	list_add(list, item, 0);
}

static void list_add_all(struct strvec *dst, const struct strvec *src, int sorted)
{
	for (size_t i = 0; src && i < src->n; i++)
		list_add(dst, src->v[i], sorted);
}

/* A JSON value that is an array of strings or one string. */
static void list_add_json(struct strvec *dst, const cJSON *val, int sorted)
{
	if (cJSON_IsString(val)) {
		list_add(dst, val->valuestring, sorted);
		return;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, val) {
		if (cJSON_IsString(it))
			list_add(dst, it->valuestring, sorted);
	}
}

/* --- decision files -------------------------------------------------------- */

static enum verdict_file_status parse_json(const char *text, size_t len, const char *check_id,
					   struct verdict *out, struct wl_err *err)
{
	if (json_too_deep(text, len)) {
		err_set(err, "decision file nests deeper than %d", JSON_MAX_DEPTH);
		return VERDICT_FILE_INVALID;
	}
	cJSON *j = cJSON_ParseWithLength(text, len);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		err_set(err, "decision file is not a JSON object");
		return VERDICT_FILE_INVALID;
	}
	enum verdict_file_status st = VERDICT_FILE_INVALID;
	const char *d = json_get_string(j, "decision");
	if (!d)
		d = json_get_string(j, "verdict");
	const char *id = json_get_string(j, "check_id");
	enum verdict_decision dec;
	if (!d) {
		err_set(err, "decision file has no \"decision\"");
	} else if (verdict_parse_decision(d, &dec) < 0) {
		if (redact_could_be_secret(NULL, d))   /* quoted whole or not at all (SPEC §7) */
			err_set(err, "decision file has an unknown decision (%zu characters, not shown) (want complete or incomplete)",
				strlen(d));
		else
			err_set(err, "decision file has an unknown decision '%s' (want complete or incomplete)", d);
	} else if (check_id && id && strcmp(id, check_id)) {
		err_set(err, "decision file is stale: check_id '%.100s' is not this check's '%.100s'", id, check_id);
		st = VERDICT_FILE_STALE;
	} else {
		out->decision = dec;
		out->source = VERDICT_SRC_DECISION_FILE;
		out->check_id = xstrdup(id ? id : check_id);
		out->check_id_matched = id && check_id && !strcmp(id, check_id);
		const char *msg = json_get_string(j, "message");
		char *m = msg ? clean_item(msg) : NULL;
		out->message = m;
		list_add_json(&out->reasons, cJSON_GetObjectItemCaseSensitive(j, "reasons"), 0);
		list_add_json(&out->reasons, cJSON_GetObjectItemCaseSensitive(j, "reason"), 0);
		list_add_json(&out->fingerprints, cJSON_GetObjectItemCaseSensitive(j, "fingerprints"), 1);
		list_add_json(&out->hints, cJSON_GetObjectItemCaseSensitive(j, "hints"), 0);
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "iteration");
		if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble < 1e9)
			out->iteration = it->valueint;
		st = VERDICT_FILE_FOUND;
	}
	cJSON_Delete(j);
	return st;
}

/* Strip markdown decoration around a line: "**VERDICT: PASS**", "# COMPLETE", "`FAIL`". */
static void strip_decoration(const char **s, size_t *len)
{
	const char *p = *s;
	size_t n = *len;
	while (n && (isspace((unsigned char)*p) || strchr("*#`>_-", *p))) {
		p++;
		n--;
	}
	while (n && (isspace((unsigned char)p[n - 1]) || strchr("*`_.!", p[n - 1])))
		n--;
	*s = p;
	*len = n;
}

/* A marker word (see decision_words): 1 and *dec set, else 0. */
static int marker_word(const char *w, enum verdict_decision *dec)
{
	return decision_word(w, 1, dec) == 0;
}

/* A marker line: "PASS", "**VERDICT: FAIL**", "Decision: incomplete". Returns 1 and sets *dec. */
static int marker_line(const char *line, size_t len, enum verdict_decision *dec)
{
	static const char *const prefixes[] = {"verdict", "decision", "result", "status"};
	strip_decoration(&line, &len);
	if (!len || len > 64)
		return 0;
	char word[65];
	memcpy(word, line, len);
	word[len] = '\0';
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i]);
		if (!strncasecmp(word, prefixes[i], pl) && word[pl] == ':') {
			char *w = word + pl + 1;
			while (isspace((unsigned char)*w) || *w == '*' || *w == '`')
				w++;
			char *end = w + strlen(w);
			while (end > w && (isspace((unsigned char)end[-1]) || strchr("*`.!", end[-1])))
				*--end = '\0';
			return marker_word(w, dec);
		}
	}
	return marker_word(word, dec);
}

static enum verdict_file_status parse_text(const char *text, size_t len, const char *check_id,
					   struct verdict *out, struct wl_err *err)
{
	/* The last marker line wins (as roboppi reads agent output); other lines are reasons. */
	const char *end = text + len;
	const char *marker = NULL;
	enum verdict_decision dec = VERDICT_NONE;
	for (const char *p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		enum verdict_decision d;
		if (marker_line(p, l, &d)) {
			marker = p;
			dec = d;
		}
		p = nl ? nl + 1 : end;
	}
	if (!marker) {
		err_set(err, "decision file has no decision (want JSON or a PASS/FAIL/COMPLETE/INCOMPLETE line)");
		return VERDICT_FILE_INVALID;
	}
	out->decision = dec;
	out->source = VERDICT_SRC_MARKER;
	out->check_id = xstrdup(check_id);
	for (const char *p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		enum verdict_decision d;
		if (!marker_line(p, l, &d)) {
			const char *s = p;
			strip_decoration(&s, &l);
			char *line = xstrndup(s, l);
			list_add(&out->reasons, line, 0);
			free(line);
		}
		p = nl ? nl + 1 : end;
	}
	return VERDICT_FILE_FOUND;
}

enum verdict_file_status verdict_parse_decision_text(const char *text, size_t len, const char *check_id,
						     struct verdict *out, struct wl_err *err)
{
	size_t i = 0;
	while (i < len && isspace((unsigned char)text[i]))
		i++;
	if (i == len)
		return VERDICT_FILE_MISSING;
	if (memchr(text, '\0', len)) {
		err_set(err, "decision file holds binary data");
		return VERDICT_FILE_INVALID;
	}
	if (text[i] == '{')
		return parse_json(text + i, len - i, check_id, out, err);
	return parse_text(text, len, check_id, out, err);
}

enum verdict_file_status verdict_read_decision_file(const char *path, const char *check_id,
						    int64_t check_started_wall_ms, struct verdict *out,
						    struct wl_err *err)
{
	long long mtime = fs_mtime_ms(path);
	if (mtime < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return VERDICT_FILE_MISSING;
		err_set(err, "cannot stat decision file '%s': %s", path, strerror(errno));
		return VERDICT_FILE_INVALID;
	}
	if (check_started_wall_ms > 0 && mtime + VERDICT_MTIME_SLACK_MS < check_started_wall_ms) {
		err_set(err, "decision file '%s' is stale: written %lld ms before this check started", path,
			(long long)(check_started_wall_ms - mtime));
		return VERDICT_FILE_STALE;
	}
	struct strbuf sb = STRBUF_INIT;
	struct wl_err rerr = WL_ERR_INIT;
	if (fs_read_file(path, VERDICT_MAX_FILE_BYTES, &sb, &rerr) < 0) {
		strbuf_release(&sb);
		err_set(err, "%s", rerr.msg);
		return VERDICT_FILE_INVALID;
	}
	enum verdict_file_status st = verdict_parse_decision_text(strbuf_str(&sb), sb.len, check_id, out, err);
	strbuf_release(&sb);
	if (st == VERDICT_FILE_STALE || st == VERDICT_FILE_INVALID)
		err_prefix(err, "'%s'", path);
	return st;
}

int verdict_discard_decision_file(const char *path, struct wl_err *err)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(err, "cannot remove old decision file '%s': %s", path, strerror(errno));
	return 0;
}

/* --- wait-failure.json ----------------------------------------------------- */

int verdict_read_wait_failure(const char *path, int64_t since_wall_ms, struct verdict_evidence *out,
			      struct wl_err *err)
{
	long long mtime = fs_mtime_ms(path);
	if (mtime < 0)
		return 0;
	if (since_wall_ms > 0 && mtime + VERDICT_MTIME_SLACK_MS < since_wall_ms)
		return 0;
	cJSON *j = json_read_file(path, VERDICT_MAX_FILE_BYTES, err);
	if (!j)
		return -1;
	const char *schema = json_get_string(j, "schema");
	if (!cJSON_IsObject(j) || !schema || strncmp(schema, "waitloop.wait-failure.", 22)) {
		cJSON_Delete(j);
		return err_set(err, "'%s' is not a wait-failure.json (schema waitloop.wait-failure.v1)", path);
	}
	const char *s;
	if ((s = json_get_string(j, "reason")))
		out->reason = xstrdup(s);
	if ((s = json_get_string(j, "target")))
		out->target = xstrdup(s);
	if ((s = json_get_string(j, "name")))
		out->name = clean_item(s);
	if ((s = json_get_string(j, "condition")) && *s)
		out->command = clean_item(s);
	else if ((s = json_get_string(j, "probe")) && *s)
		out->command = xasprintf("probe: %s", s);
	if ((s = json_get_string(j, "message")))
		out->message = clean_item(s);
	if (out->message)
		list_add(&out->reasons, out->message, 0);
	list_add_json(&out->reasons, cJSON_GetObjectItemCaseSensitive(j, "reasons"), 0);
	list_add_json(&out->fingerprints, cJSON_GetObjectItemCaseSensitive(j, "fingerprints"), 1);
	list_add_json(&out->hints, cJSON_GetObjectItemCaseSensitive(j, "hints"), 0);
	if (!out->reasons.n && out->reason) {
		char *r = xasprintf("wait on '%s' ended: %s", out->target ? out->target : "?", out->reason);
		list_add(&out->reasons, r, 0);
		free(r);
	}
	cJSON_Delete(j);
	return 1;
}

/* A wait's reasons often repeat the tail of its message
 * ("terminal_fail after 1 observation (1.0s): X" and "X"): say it once. */
static int restates(const char *message, const char *item)
{
	if (!message || !item)
		return 0;
	size_t m = strlen(message), n = strlen(item);
	return n && n + 2 <= m && !strcmp(message + m - n, item) && !strncmp(message + m - n - 2, ": ", 2);
}

void verdict_add_evidence(struct verdict *v, const struct verdict_evidence *e)
{
	if (!e)
		return;
	if (!v->message && e->message)
		v->message = xstrdup(e->message);
	if (e->message)
		list_add(&v->reasons, e->message, 0);
	for (size_t i = 0; i < e->reasons.n; i++)
		if (!restates(e->message, e->reasons.v[i]))
			list_add(&v->reasons, e->reasons.v[i], 0);
	list_add_all(&v->fingerprints, &e->fingerprints, 1);
	list_add_all(&v->hints, &e->hints, 0);
}

#define HEADLINE_COMMAND_CHARS 100

char *verdict_wait_headline(const struct verdict_evidence *e)
{
	const char *msg = e->message ? e->message : e->reason ? e->reason : "the wait failed";
	if (!e->name)
		return xstrdup(msg);
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "wait `%s`", e->name);
	if (e->command) {
		size_t n = strlen(e->command);
		if (n > HEADLINE_COMMAND_CHARS) {
			size_t cut = str_utf8_cut(e->command, n, HEADLINE_COMMAND_CHARS);
			strbuf_addf(&sb, " (%.*s…)", (int)cut, e->command);
		} else {
			strbuf_addf(&sb, " (%s)", e->command);
		}
	}
	strbuf_addf(&sb, ": %s", msg);
	return strbuf_detach(&sb);
}

/* A wait's evidence, named: its headline, then its other reasons, fingerprints, hints. */
static void add_wait(struct verdict *v, const struct verdict_evidence *e)
{
	char *h = verdict_wait_headline(e);
	if (!v->message)
		v->message = clean_item(h);
	list_add(&v->reasons, h, 0);
	free(h);
	for (size_t i = 0; i < e->reasons.n; i++)
		if (!(e->message && !strcmp(e->message, e->reasons.v[i])) && !restates(e->message, e->reasons.v[i]))
			list_add(&v->reasons, e->reasons.v[i], 0);
	list_add_all(&v->fingerprints, &e->fingerprints, 1);
	list_add_all(&v->hints, &e->hints, 0);
}

int verdict_merge_wait_failure(struct verdict *v, const char *path, int64_t since_wall_ms,
			       struct wl_err *err)
{
	if (v->decision == VERDICT_COMPLETE)
		return 0;
	struct verdict_evidence e = VERDICT_EVIDENCE_INIT;
	int r = verdict_read_wait_failure(path, since_wall_ms, &e, err);
	if (r == 1)
		verdict_add_evidence(v, &e);
	verdict_evidence_release(&e);
	return r;
}

/* --- the decision order ---------------------------------------------------- */

static void set_message(struct verdict *v, char *msg /* owned */)
{
	free(v->message);
	v->message = msg;
	list_add(&v->reasons, msg, 0);
}

/* The in-script waits, the one that ended the check (the last) first. */
static void add_inner_waits(struct verdict *out, const struct verdict_evidence *w, size_t n)
{
	if (!n)
		return;
	add_wait(out, &w[n - 1]);
	for (size_t i = 0; i + 1 < n; i++)
		add_wait(out, &w[i]);
}

void verdict_decide(const struct verdict_inputs *in, struct verdict *out)
{
	out->check_id = xstrdup(in->check_id);
	out->iteration = in->iteration;
	size_t ninner = in->inner_wait ? (in->n_inner_waits ? in->n_inner_waits : 1) : 0;
	const struct verdict_evidence *last = ninner ? &in->inner_wait[ninner - 1] : NULL;
	int inner_added = 0;

	if (in->guard_outcome != WAIT_MET) {
		/* 1. The guard stopped the check. */
		int fail = in->guard_on_abort == ON_ABORT_FAIL;
		out->decision = fail ? VERDICT_FAILED : VERDICT_INCOMPLETE;
		out->source = VERDICT_SRC_WAIT_POLICY;
		const struct verdict_evidence *g = in->guard;
		/* The wait's own words first: a fixer starts from the first reason. */
		if (g)
			add_wait(out, g);
		char *why = xasprintf("the wait_policy stopped the completion check early (%s)%s",
				      wait_outcome_name(in->guard_outcome),
				      fail ? (in->guard_outcome != WAIT_TERMINAL_FAIL ? "; on_stall: fail" : "; on_terminal: fail")
					   : "");
		if (out->message) {
			list_add(&out->reasons, why, 0);
			free(why);
		} else {
			set_message(out, why);
		}
	} else if (in->timed_out) {
		/* 1'. roboppi: a check that did not succeed (timeout) fails the step; no extra iteration */
		out->decision = VERDICT_FAILED;
		out->source = VERDICT_SRC_CHECK_FAILED;
		set_message(out, xstrdup("the completion check timed out"));
	} else if (in->file_status == VERDICT_FILE_FOUND && in->file &&
		   (!in->exit_code_decides ||
		    (in->file->source == VERDICT_SRC_DECISION_FILE && in->file->check_id_matched))) {
		/* 2. The check's own decision file. */
		out->decision = in->file->decision == VERDICT_COMPLETE ? VERDICT_COMPLETE : VERDICT_INCOMPLETE;
		out->source = in->file->source == VERDICT_SRC_MARKER ? VERDICT_SRC_MARKER : VERDICT_SRC_DECISION_FILE;
		out->message = xstrdup(in->file->message);
		list_add_all(&out->reasons, &in->file->reasons, 0);
		list_add_all(&out->fingerprints, &in->file->fingerprints, 1);
		list_add_all(&out->hints, &in->file->hints, 0);
	} else if (in->exit_code == 0 || (in->exit_code == 1 && !last)) {
		/* 3. The exit code. */
		out->decision = in->exit_code == 0 ? VERDICT_COMPLETE : VERDICT_INCOMPLETE;
		out->source = VERDICT_SRC_EXIT_CODE;
		if (in->exit_code == 1)
			set_message(out, xstrdup("the completion check exited with status 1 (incomplete)"));
	} else if (in->exit_code != VERDICT_NO_EXIT_CODE && last) {
		/* 3'. The check ended after its own wait gave up: that wait is the cause. */
		out->decision = VERDICT_INCOMPLETE;
		out->source = in->exit_code == 1 ? VERDICT_SRC_EXIT_CODE : VERDICT_SRC_WAIT_POLICY;
		add_inner_waits(out, in->inner_wait, ninner);
		inner_added = 1;
		char *st = xasprintf("the completion check exited with status %d after its wait gave up (%s)",
				     in->exit_code, last->reason ? last->reason : "wait failed");
		list_add(&out->reasons, st, 0);
		free(st);
	} else if (in->exit_code != VERDICT_NO_EXIT_CODE) {
		out->decision = VERDICT_FAILED;
		out->source = VERDICT_SRC_CHECK_FAILED;
		set_message(out, xasprintf("the completion check failed: exit status %d (0 = complete, 1 = incomplete)",
					   in->exit_code));
	} else {
		/* 4. Nothing to decide on. */
		int twice = in->undecidable_before + 1 >= VERDICT_UNDECIDABLE_LIMIT;
		out->decision = twice ? VERDICT_FAILED : VERDICT_INCOMPLETE;
		out->source = VERDICT_SRC_UNDECIDABLE;
		set_message(out, xasprintf("the completion check gave no decision: no decision file and no exit code (%s)%s",
					   in->exit_note ? in->exit_note : "no exit status",
					   twice ? "; two undecidable iterations in a row fail the step" : ""));
		if (in->file_note && *in->file_note)
			list_add(&out->reasons, in->file_note, 0);
	}

	/* 4. The waits inside the check that gave up add their evidence, each named. */
	if (out->decision != VERDICT_COMPLETE && ninner && !inner_added)
		add_inner_waits(out, in->inner_wait, ninner);
}

int verdict_undecidable_streak(int prev, const struct verdict *v)
{
	return v->source == VERDICT_SRC_UNDECIDABLE ? prev + 1 : 0;
}

/* --- review.verdict -------------------------------------------------------- */

int verdict_write(const char *path, const struct verdict *v, const char *run_id, const char *step,
		  int64_t started_wall_ms, int64_t decided_wall_ms, const struct redactor *r,
		  struct wl_err *err)
{
	char ts[40];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "schema", VERDICT_SCHEMA);
	cJSON_AddStringToObject(o, "decision", verdict_decision_name(v->decision));
	cJSON_AddStringToObject(o, "source", verdict_source_name(v->source));
	if (v->check_id)
		cJSON_AddStringToObject(o, "check_id", v->check_id);
	if (v->iteration > 0)
		cJSON_AddNumberToObject(o, "iteration", v->iteration);
	if (step)
		cJSON_AddStringToObject(o, "step", step);
	if (run_id)
		cJSON_AddStringToObject(o, "run_id", run_id);
	if (v->message)
		cJSON_AddStringToObject(o, "message", v->message);
	cJSON_AddItemToObject(o, "reasons", json_string_array(&v->reasons));
	cJSON_AddItemToObject(o, "fingerprints", json_string_array(&v->fingerprints));
	cJSON_AddItemToObject(o, "hints", json_string_array(&v->hints));
	if (started_wall_ms > 0) {
		time_format_rfc3339(started_wall_ms, ts, sizeof(ts));
		cJSON_AddStringToObject(o, "check_started_at", ts);
	}
	time_format_rfc3339(decided_wall_ms > 0 ? decided_wall_ms : time_wall_ms(), ts, sizeof(ts));
	cJSON_AddStringToObject(o, "decided_at", ts);
	redact_json(r, o);
	int rc = json_write_atomic(path, o, err);
	cJSON_Delete(o);
	return rc;
}
