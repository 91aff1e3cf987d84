#include "ghactions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "strbuf.h"
#include "xalloc.h"

/* Workflow-command escaping: data escapes %, CR, LF; properties also ':' and ','. */
static void gh_escape(struct strbuf *sb, const char *s, int property)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '%': strbuf_addstr(sb, "%25"); break;
		case '\r': strbuf_addstr(sb, "%0D"); break;
		case '\n': strbuf_addstr(sb, "%0A"); break;
		case ':': strbuf_addstr(sb, property ? "%3A" : ":"); break;
		case ',': strbuf_addstr(sb, property ? "%2C" : ","); break;
		default: strbuf_addch(sb, *s); break;
		}
	}
}

static void add_fingerprints(struct strbuf *sb, const cJSON *fps)
{
	const cJSON *f;
	int n = 0;
	cJSON_ArrayForEach(f, fps) {
		if (cJSON_IsString(f)) {
			strbuf_addstr(sb, n++ ? ", " : " [");
			strbuf_addstr(sb, f->valuestring);
		}
	}
	if (n)
		strbuf_addch(sb, ']');
}

static void command(FILE *out, const char *level, const char *title, const char *message)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "::%s title=", level);
	gh_escape(&sb, title, 1);
	strbuf_addstr(&sb, "::");
	gh_escape(&sb, message, 0);
	fprintf(out, "%s\n", strbuf_str(&sb));
	strbuf_release(&sb);
}

int ghactions_annotate(const cJSON *summary, FILE *out)
{
	int n = 0, failed_steps = 0;
	const char *wf = json_get_str_or(summary, "workflow", "waitloop");
	const cJSON *st, *w;
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(summary, "steps")) {
		const char *id = json_get_str_or(st, "id", "?"), *status = json_get_str_or(st, "status", "");
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(st, "waits")) {
			if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "early_abort")))
				continue;
			char *title = xasprintf("waitloop: %s: early abort (%s)", id, json_get_str_or(w, "outcome", "?"));
			struct strbuf msg = STRBUF_INIT;
			strbuf_addf(&msg, "%s %s", json_get_str_or(w, "phase", "wait"), json_get_str_or(w, "target", ""));
			double it = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(w, "iteration"));
			if (it > 0)
				strbuf_addf(&msg, " (iteration %d)", (int)it);
			if (*json_get_str_or(w, "message", ""))
				strbuf_addf(&msg, ": %s", json_get_str_or(w, "message", ""));
			add_fingerprints(&msg, cJSON_GetObjectItemCaseSensitive(w, "fingerprints"));
			const char *file = json_get_string(w, "failure_file");
			if (file)
				strbuf_addf(&msg, "\nevidence: %s", file);
			command(out, "warning", title, strbuf_str(&msg));
			strbuf_release(&msg);
			free(title);
			n++;
		}
		if (strcmp(status, "FAILED") && strcmp(status, "CANCELLED"))
			continue;
		failed_steps++;
		char *title = xasprintf("waitloop: %s: step %s %s", wf, id, status);
		struct strbuf msg = STRBUF_INIT;
		strbuf_addstr(&msg, json_get_str_or(st, "reason", status));
		add_fingerprints(&msg, cJSON_GetObjectItemCaseSensitive(st, "fingerprints"));
		const char *v = json_get_string(st, "verdict_file");
		if (v)
			strbuf_addf(&msg, "\nverdict: %s", v);
		command(out, "error", title, strbuf_str(&msg));
		strbuf_release(&msg);
		free(title);
		n++;
	}
	const char *status = json_get_str_or(summary, "status", "");
	if (!failed_steps && strcmp(status, "SUCCEEDED") && *status) {
		char *title = xasprintf("waitloop: %s %s", wf, status);
		command(out, "error", title, json_get_str_or(summary, "reason", status));
		free(title);
		n++;
	}
	fflush(out);
	return n;
}

/* Table cell: one line, '|' escaped, no raw HTML. */
static void md_cell(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			strbuf_addstr(sb, "\\|");
		else if (*s == '\n' || *s == '\r')
			strbuf_addch(sb, ' ');
		else if (*s == '<')
			strbuf_addstr(sb, "&lt;");
		else
			strbuf_addch(sb, *s);
	}
}

static void md_code(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '`');
	for (; s && *s; s++)
		strbuf_addch(sb, *s == '`' || *s == '\n' ? '\'' : *s);
	strbuf_addch(sb, '`');
}

static const char *status_mark(const char *status)
{
	if (!strcmp(status, "SUCCEEDED"))
		return "✅";
	if (!strcmp(status, "SKIPPED"))
		return "⏭️";
	if (!strcmp(status, "INCOMPLETE"))
		return "⚠️";
	return "❌";
}

char *ghactions_summary_markdown(const cJSON *summary, const char *run_url)
{
	struct strbuf sb = STRBUF_INIT;
	const char *status = json_get_str_or(summary, "status", "?");
	strbuf_addf(&sb, "### %s waitloop: ", status_mark(status));
	md_cell(&sb, json_get_str_or(summary, "workflow", "?"));
	strbuf_addf(&sb, " — %s", status);
	double d = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(summary, "duration_s"));
	if (!isnan(d))
		strbuf_addf(&sb, " (%.1fs)", d);
	strbuf_addstr(&sb, "\n\nRun ");
	md_code(&sb, json_get_str_or(summary, "run_id", "?"));
	if (json_get_string(summary, "reason")) {
		strbuf_addstr(&sb, ": ");
		md_cell(&sb, json_get_str_or(summary, "reason", ""));
	}
	strbuf_addstr(&sb, "\n\n| step | status | iterations | duration | reason | fingerprints |\n"
			   "|---|---|---|---|---|---|\n");
	const cJSON *st, *w, *f;
	int nwaits = 0;
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(summary, "steps")) {
		const char *ss = json_get_str_or(st, "status", "?");
		strbuf_addstr(&sb, "| ");
		md_cell(&sb, json_get_str_or(st, "id", "?"));
		strbuf_addf(&sb, " | %s %s | %d | %.1fs | ", status_mark(ss), ss,
			    (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "iterations")),
			    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "duration_s")));
		md_cell(&sb, json_get_str_or(st, "reason", ""));
		strbuf_addstr(&sb, " | ");
		int n = 0;
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(st, "fingerprints")) {
			if (!cJSON_IsString(f))
				continue;
			if (n++)
				strbuf_addstr(&sb, "<br>");
			md_code(&sb, f->valuestring);
		}
		strbuf_addstr(&sb, " |\n");
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(st, "waits"))
			if (strcmp(json_get_str_or(w, "outcome", ""), "met"))
				nwaits++;
	}
	if (nwaits) {
		strbuf_addstr(&sb, "\n#### Waits that did not end \"met\"\n\n");
		cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(summary, "steps")) {
			cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(st, "waits")) {
				if (!strcmp(json_get_str_or(w, "outcome", ""), "met"))
					continue;
				strbuf_addstr(&sb, "- **");
				md_cell(&sb, json_get_str_or(st, "id", "?"));
				double it = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(w, "iteration"));
				if (it > 0)
					strbuf_addf(&sb, "** iteration %d, ", (int)it);
				else
					strbuf_addstr(&sb, "**, ");
				md_cell(&sb, json_get_str_or(w, "phase", "wait"));
				strbuf_addch(&sb, ' ');
				md_code(&sb, json_get_str_or(w, "target", ""));
				strbuf_addf(&sb, ": **%s**%s after %.1fs", json_get_str_or(w, "outcome", "?"),
					    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "early_abort")) ? " (early abort)" : "",
					    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(w, "elapsed_s")));
				if (*json_get_str_or(w, "message", "")) {
					strbuf_addstr(&sb, " — ");
					md_cell(&sb, json_get_str_or(w, "message", ""));
				}
				cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(w, "fingerprints"))
					if (cJSON_IsString(f)) {
						strbuf_addch(&sb, ' ');
						md_code(&sb, f->valuestring);
					}
				strbuf_addch(&sb, '\n');
			}
		}
	}
	strbuf_addstr(&sb, "\n#### Artifacts\n\n- context directory: ");
	md_code(&sb, json_get_str_or(summary, "context_dir", "?"));
	strbuf_addch(&sb, '\n');
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(summary, "steps")) {
		const char *v = json_get_string(st, "verdict_file");
		if (v) {
			strbuf_addstr(&sb, "- ");
			md_cell(&sb, json_get_str_or(st, "id", "?"));
			strbuf_addstr(&sb, " verdict: ");
			md_code(&sb, v);
			strbuf_addch(&sb, '\n');
		}
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(st, "wait_failures")) {
			if (!cJSON_IsString(f))
				continue;
			strbuf_addstr(&sb, "- ");
			md_cell(&sb, json_get_str_or(st, "id", "?"));
			strbuf_addstr(&sb, " wait failure: ");
			md_code(&sb, f->valuestring);
			strbuf_addch(&sb, '\n');
		}
	}
	if (run_url && *run_url) {
		strbuf_addstr(&sb, "- uploaded artifacts of this job: [workflow run](");
		md_cell(&sb, run_url);
		strbuf_addstr(&sb, "#artifacts)\n");
	}
	return strbuf_detach(&sb);
}

int ghactions_append_summary(const char *path, const cJSON *summary, const char *run_url, struct wl_err *err)
{
	char *md = ghactions_summary_markdown(summary, run_url);
	int rc = fs_append_line(path, md, err);
	free(md);
	return rc;
}
