#include "junit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "redact.h"
#include "strbuf.h"
#include "xalloc.h"

/* Length of the valid UTF-8 sequence XML 1.0 accepts at s, or 0. */
static size_t xml_char_len(const unsigned char *s)
{
	unsigned c = s[0];
	if (c < 0x80)
		return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
	size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (!n)
		return 0;
	unsigned cp = c & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
		return 0;
	return n;
}

/* Escape text for element content (attr = 0) or a double-quoted attribute. */
static void xml_escape(struct strbuf *sb, const char *text, int attr)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	while (*s) {
		size_t n = xml_char_len(s);
		if (!n) {
			strbuf_addch(sb, '?');
			s++;
			continue;
		}
		switch (*s) {
		case '&': strbuf_addstr(sb, "&amp;"); break;
		case '<': strbuf_addstr(sb, "&lt;"); break;
		case '>': strbuf_addstr(sb, "&gt;"); break;
		case '"': strbuf_addstr(sb, attr ? "&quot;" : "\""); break;
		case '\n': strbuf_addstr(sb, attr ? "&#10;" : "\n"); break;
		case '\r': strbuf_addstr(sb, "&#13;"); break;
		case '\t': strbuf_addstr(sb, attr ? "&#9;" : "\t"); break;
		default: strbuf_add(sb, s, n); break;
		}
		s += n;
	}
}

struct ctx {
	struct strbuf *out;
	const struct redactor *rd;
};

/* Redacted, escaped. */
static void put_text(const struct ctx *c, const char *text, int attr)
{
	char *red = redact_text(c->rd, text ? text : "");
	xml_escape(c->out, red, attr);
	free(red);
}

static void put_attr(const struct ctx *c, const char *name, const char *value)
{
	strbuf_addf(c->out, " %s=\"", name);
	put_text(c, value, 1);
	strbuf_addch(c->out, '"');
}

/* "reason [fp1, fp2]" (either part may be absent). Caller frees. */
static char *failure_message(const char *reason, const cJSON *fps)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, reason ? reason : "");
	const cJSON *f;
	int n = 0;
	cJSON_ArrayForEach(f, fps) {
		if (!cJSON_IsString(f))
			continue;
		strbuf_addstr(&sb, n++ ? ", " : sb.len ? " [" : "[");
		strbuf_addstr(&sb, f->valuestring);
	}
	if (n)
		strbuf_addch(&sb, ']');
	return strbuf_detach(&sb);
}

static void lines(struct strbuf *body, const char *label, const cJSON *arr)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it))
			strbuf_addf(body, "%s: %s\n", label, it->valuestring);
}

/* <failure|error|skipped type message>body</...> */
static void put_result(const struct ctx *c, const char *elem, const char *type, const char *message,
		       const char *body)
{
	strbuf_addf(c->out, "      <%s", elem);
	if (type)
		put_attr(c, "type", type);
	put_attr(c, "message", message);
	if (body && *body) {
		strbuf_addch(c->out, '>');
		put_text(c, body, 0);
		strbuf_addf(c->out, "</%s>\n", elem);
	} else {
		strbuf_addstr(c->out, "/>\n");
	}
}

static void open_case(const struct ctx *c, const char *classname, const char *name, double secs)
{
	strbuf_addstr(c->out, "    <testcase");
	put_attr(c, "classname", classname);
	put_attr(c, "name", name);
	strbuf_addf(c->out, " time=\"%.3f\"", secs < 0 ? 0 : secs);
}

/* First reason of the last check that was not complete, or NULL. */
static const char *last_check_reason(const cJSON *checks)
{
	const char *why = NULL;
	const cJSON *ck;
	cJSON_ArrayForEach(ck, checks) {
		const char *d = json_get_string(ck, "decision");
		if (d && strcmp(d, "complete")) {
			const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ck, "reasons"), 0);
			why = json_get_string(ck, "message");
			if (!why && cJSON_IsString(r0))
				why = r0->valuestring;
		}
	}
	return why;
}

struct counts {
	int tests, failures, errors, skipped;
};

static void step_case(const struct ctx *c, const char *wf, const cJSON *st, struct counts *n)
{
	const char *status = json_get_string(st, "status");
	status = status ? status : "UNKNOWN";
	const char *id = json_get_string(st, "id");
	const cJSON *checks = cJSON_GetObjectItemCaseSensitive(st, "checks");
	const cJSON *fps = cJSON_GetObjectItemCaseSensitive(st, "fingerprints");
	n->tests++;
	open_case(c, wf, id, json_get_number(st, "duration_s", 0));
	if (!strcmp(status, "SUCCEEDED")) {
		strbuf_addstr(c->out, "/>\n");
		return;
	}
	strbuf_addstr(c->out, ">\n");
	const char *reason = json_get_string(st, "reason");
	if (!reason)
		reason = last_check_reason(checks);
	if (!strcmp(status, "SKIPPED")) {
		n->skipped++;
		put_result(c, "skipped", NULL, reason ? reason : "skipped", NULL);
	} else {
		struct strbuf body = STRBUF_INIT;
		strbuf_addf(&body, "status: %s\n", status);
		if (reason)
			strbuf_addf(&body, "reason: %s\n", reason);
		lines(&body, "fingerprint", fps);
		const char *v = json_get_string(st, "verdict_file");
		if (v)
			strbuf_addf(&body, "verdict: %s\n", v);
		lines(&body, "wait-failure", cJSON_GetObjectItemCaseSensitive(st, "wait_failures"));
		char *msg = failure_message(reason ? reason : status, fps);
		int is_error = !strcmp(status, "CANCELLED");
		if (is_error)
			n->errors++;
		else
			n->failures++;
		put_result(c, is_error ? "error" : "failure", status, msg, strbuf_str(&body));
		free(msg);
		strbuf_release(&body);
	}
	strbuf_addstr(c->out, "    </testcase>\n");
}

static void check_case(const struct ctx *c, const char *wf, const char *step, const cJSON *ck, struct counts *n)
{
	char name[512];
	snprintf(name, sizeof(name), "%s check #%d", step, (int)json_get_number(ck, "iteration", 0));
	const char *decision = json_get_string(ck, "decision");
	n->tests++;
	open_case(c, wf, name, json_get_number(ck, "duration_s", 0));
	if (decision && !strcmp(decision, "complete")) {
		strbuf_addstr(c->out, "/>\n");
		return;
	}
	strbuf_addstr(c->out, ">\n");
	const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(ck, "reasons");
	const cJSON *fps = cJSON_GetObjectItemCaseSensitive(ck, "fingerprints");
	const cJSON *r0 = cJSON_GetArrayItem(reasons, 0);
	const char *first = json_get_string(ck, "message");
	if (!first)
		first = cJSON_IsString(r0) ? r0->valuestring : decision ? decision : "no decision";
	struct strbuf body = STRBUF_INIT;
	strbuf_addf(&body, "decision: %s", decision ? decision : "(none)");
	const char *src = json_get_string(ck, "source");
	if (src)
		strbuf_addf(&body, " (%s)", src);
	strbuf_addch(&body, '\n');
	lines(&body, "reason", reasons);
	lines(&body, "fingerprint", fps);
	const char *v = json_get_string(ck, "verdict_file"), *w = json_get_string(ck, "wait_failure_file");
	if (v)
		strbuf_addf(&body, "verdict: %s\n", v);
	if (w)
		strbuf_addf(&body, "wait-failure: %s\n", w);
	char *msg = failure_message(first, fps);
	n->failures++;
	put_result(c, "failure", decision ? decision : "undecided", msg, strbuf_str(&body));
	free(msg);
	strbuf_release(&body);
	strbuf_addstr(c->out, "    </testcase>\n");
}

char *junit_render(const cJSON *summary, const struct redactor *rd)
{
	struct strbuf cases = STRBUF_INIT, out = STRBUF_INIT;
	struct ctx cc = {&cases, rd}, co = {&out, rd};
	struct counts n = {0, 0, 0, 0};
	const char *wf = json_get_string(summary, "workflow");
	wf = wf && *wf ? wf : "waitloop";
	const cJSON *st;
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(summary, "steps")) {
		const char *id = json_get_string(st, "id");
		if (!id)
			continue;
		step_case(&cc, wf, st, &n);
		const cJSON *ck;
		cJSON_ArrayForEach(ck, cJSON_GetObjectItemCaseSensitive(st, "checks"))
			check_case(&cc, wf, id, ck, &n);
	}
	/* A run stopped before its steps (preflight): one error testcase says why,
	 * rather than a report of skipped steps that looks harmless. */
	const char *run_reason = json_get_string(summary, "reason"), *st_run = json_get_string(summary, "status");
	if (run_reason && st_run && strcmp(st_run, "SUCCEEDED")) {
		n.tests++;
		n.errors++;
		open_case(&cc, wf, "(run)", 0);
		strbuf_addstr(&cases, ">\n");
		put_result(&cc, "error", st_run, run_reason, NULL);
		strbuf_addstr(&cases, "    </testcase>\n");
	}
	double secs = json_get_number(summary, "duration_s", 0);
	strbuf_addstr(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
	put_attr(&co, "name", wf);
	strbuf_addf(&out, " tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n", n.tests,
		    n.failures, n.errors, n.skipped, secs);
	strbuf_addstr(&out, "  <testsuite");
	put_attr(&co, "name", wf);
	strbuf_addf(&out, " tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\"", n.tests,
		    n.failures, n.errors, n.skipped, secs);
	const char *started = json_get_string(summary, "started_at");
	if (started) {
		char ts[20];
		snprintf(ts, sizeof(ts), "%.19s", started);   /* ISO 8601 without zone, as Ant writes it */
		put_attr(&co, "timestamp", ts);
	}
	const char *file = json_get_string(summary, "file");
	if (file)
		put_attr(&co, "file", file);
	strbuf_addstr(&out, ">\n    <properties>\n");
	static const char *const props[] = {"run_id", "status", "context_dir", "workspace", "reason", NULL};
	for (const char *const *p = props; *p; p++) {
		const char *v = json_get_string(summary, *p);
		if (!v)
			continue;
		strbuf_addstr(&out, "      <property");
		put_attr(&co, "name", *p);
		put_attr(&co, "value", v);
		strbuf_addstr(&out, "/>\n");
	}
	strbuf_addf(&out, "      <property name=\"exit_code\" value=\"%d\"/>\n", (int)json_get_number(summary, "exit_code", 0));
	strbuf_addstr(&out, "    </properties>\n");
	strbuf_addstr(&out, strbuf_str(&cases));
	strbuf_addstr(&out, "  </testsuite>\n</testsuites>\n");
	strbuf_release(&cases);
	return strbuf_detach(&out);
}

int junit_write(const char *path, const cJSON *summary, const struct redactor *rd, struct wl_err *err)
{
	char *xml = junit_render(summary, rd);
	int rc = fs_write_atomic(path, xml, strlen(xml), err);
	free(xml);
	return rc;
}
