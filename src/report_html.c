/*
 * report_html: self-contained HTML reports (see report_html.h).
 *
 * The SVG is drawn with fixed-size viewBoxes and scales with the page;
 * colours carry meaning only together with a text label (a legend, the
 * class in a <title> tooltip, the outcome written next to the abort line).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jsonutil.h"
#include "report_html.h"

static const char page_css[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;"
	"color:#1d2430;padding:0 16px}"
	"h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde}"
	"h3{font-size:15px;margin:18px 0 6px}"
	"table{border-collapse:collapse;margin:6px 0 12px}td,th{border:1px solid #dde;padding:3px 8px;"
	"text-align:left;vertical-align:top}th{background:#f3f4f8}"
	".muted{color:#667}.mono,code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}"
	"pre{background:#f6f7fa;border:1px solid #e3e5ec;padding:8px;overflow-x:auto;white-space:pre-wrap}"
	".st-SUCCEEDED,.d-complete,.o-met{color:#17803d}.st-FAILED,.d-incomplete,.o-terminal_fail{color:#b42318}"
	".o-stalled,.o-no_output{color:#b54708}.o-timeout{color:#6941c6}"
	".wait{border:1px solid #e3e5ec;border-radius:6px;padding:8px 12px;margin:10px 0}"
	".legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:10px;height:10px;"
	"border-radius:5px;margin-right:4px;vertical-align:middle}"
	"svg text{font:11px system-ui,sans-serif;fill:#1d2430}";

static const char *class_colour(const char *cls)
{
	if (!strcmp(cls, "progressing"))
		return "#17803d";
	if (!strcmp(cls, "terminal_fail"))
		return "#d92d20";
	if (!strcmp(cls, "stalled"))
		return "#f79009";
	if (!strcmp(cls, "met"))
		return "#2e90fa";
	return "#98a2b3"; /* retryable */
}

static const char *outcome_colour(const char *outcome)
{
	if (!strcmp(outcome, "met"))
		return "#17803d";
	if (!strcmp(outcome, "terminal_fail"))
		return "#d92d20";
	if (!strcmp(outcome, "timeout"))
		return "#7a5af8";
	return "#f79009"; /* stalled, no_output */
}

static void esc(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': strbuf_addstr(sb, "&amp;"); break;
		case '<': strbuf_addstr(sb, "&lt;"); break;
		case '>': strbuf_addstr(sb, "&gt;"); break;
		case '"': strbuf_addstr(sb, "&quot;"); break;
		case '\'': strbuf_addstr(sb, "&#39;"); break;
		default: strbuf_addch(sb, *s);
		}
	}
}

/* "2026-11-30T21:10:18.744Z" -> ms since the epoch; -1 when not a time. */
static double parse_ms(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int ms = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			 &tm.tm_min, &tm.tm_sec, &ms) < 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) * 1000.0 + ms;
}

static void seconds(struct strbuf *sb, double s)
{
	if (s < 60)
		strbuf_addf(sb, "%.1fs", s);
	else if (s < 3600)
		strbuf_addf(sb, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		strbuf_addf(sb, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void string_list(struct strbuf *sb, const cJSON *list, const char *sep)
{
	const cJSON *it;
	int first = 1;
	cJSON_ArrayForEach(it, list) {
		if (!cJSON_IsString(it))
			continue;
		if (!first)
			strbuf_addstr(sb, sep);
		strbuf_addstr(sb, "<code>");
		esc(sb, it->valuestring);
		strbuf_addstr(sb, "</code>");
		first = 0;
	}
	if (first)
		strbuf_addstr(sb, "<span class=\"muted\">none</span>");
}

static void page_begin(struct strbuf *sb, const char *title)
{
	strbuf_addstr(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>");
	esc(sb, title);
	strbuf_addf(sb, "</title><style>%s</style></head><body>\n", page_css);
}

static void page_end(struct strbuf *sb)
{
	strbuf_addstr(sb, "<p class=\"muted\">Written by waitloop. Self-contained: no network, no script.</p>"
			  "</body></html>\n");
}

static void class_legend(struct strbuf *sb)
{
	static const char *const classes[] = {"retryable", "progressing", "terminal_fail", "stalled", "met"};
	strbuf_addstr(sb, "<p class=\"legend\">");
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		strbuf_addf(sb, "<span><i class=\"sw\" style=\"background:%s\"></i>%s</span>", class_colour(classes[i]),
			    classes[i]);
	strbuf_addstr(sb, "<span>&#9675; digest changed</span><span>&#9473; no-progress count</span></p>\n");
}

/* ---- run report --------------------------------------------------------- */

#define GW 1000.0 /* SVG width */
#define GL 150.0  /* label column */

static void gantt(struct strbuf *sb, const cJSON *run)
{
	double t0 = parse_ms(json_get_str_or(run, "started_at", "")), t1 = parse_ms(json_get_str_or(run, "finished_at", ""));
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(run, "steps"), *s;
	if (t0 < 0)
		return;
	cJSON_ArrayForEach(s, steps) {
		const cJSON *a;
		double f = parse_ms(json_get_str_or(s, "finished_at", ""));
		if (f > t1)
			t1 = f;
		cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s, "attempts")) {
			f = parse_ms(json_get_str_or(a, "finished_at", ""));
			if (f > t1)
				t1 = f;
		}
	}
	double span = t1 > t0 ? t1 - t0 : 1;
	int rows = cJSON_GetArraySize(steps);
	double h = 30 + rows * 28.0;
	double scale = (GW - GL - 20) / span;
	strbuf_addf(sb, "<svg role=\"img\" aria-label=\"steps on a time axis\" viewBox=\"0 0 %.0f %.0f\" "
			"width=\"100%%\">\n", GW, h);
	for (int k = 0; k <= 4; k++) {
		double x = GL + (GW - GL - 20) * k / 4;
		strbuf_addf(sb, "<line x1=\"%.1f\" y1=\"18\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#e3e5ec\"/>"
				"<text x=\"%.1f\" y=\"12\" text-anchor=\"middle\">",
			    x, x, h, x);
		seconds(sb, span / 1000.0 * k / 4);
		strbuf_addstr(sb, "</text>\n");
	}
	int row = 0;
	cJSON_ArrayForEach(s, steps) {
		double y = 24 + row * 28.0;
		strbuf_addf(sb, "<text x=\"4\" y=\"%.0f\">", y + 14);
		esc(sb, json_get_str_or(s, "step", ""));
		strbuf_addstr(sb, " <tspan class=\"st\">");
		esc(sb, json_get_str_or(s, "status", ""));
		strbuf_addstr(sb, "</tspan></text>\n");
		const cJSON *a;
		cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s, "attempts")) {
			double a0 = parse_ms(json_get_str_or(a, "started_at", "")), a1 = parse_ms(json_get_str_or(a, "finished_at", ""));
			if (a0 < 0)
				continue;
			if (a1 < a0)
				a1 = t1;
			const char *phase = json_get_str_or(a, "phase", "");
			const char *fill = !strcmp(phase, "completion_check") ? "#9e77ed" : !strcmp(phase, "wait") ? "#15b79e"
														: "#2e90fa";
			double w = (a1 - a0) * scale;
			strbuf_addf(sb, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"18\" rx=\"3\" fill=\"%s\">"
					"<title>",
				    GL + (a0 - t0) * scale, y, w < 2 ? 2 : w, fill);
			esc(sb, json_get_str_or(s, "step", ""));
			strbuf_addf(sb, " iteration %d %s: ", (int)json_get_number(a, "iteration", 0), phase);
			seconds(sb, (a1 - a0) / 1000.0);
			if (*json_get_str_or(a, "reason", "")) {
				strbuf_addstr(sb, " — ");
				esc(sb, json_get_str_or(a, "reason", ""));
			}
			strbuf_addstr(sb, "</title></rect>\n");
		}
		row++;
	}
	strbuf_addstr(sb, "</svg>\n<p class=\"legend\"><span><i class=\"sw\" style=\"background:#2e90fa\"></i>"
			  "step / implementer</span><span><i class=\"sw\" style=\"background:#9e77ed\"></i>"
			  "completion_check</span><span><i class=\"sw\" style=\"background:#15b79e\"></i>wait step</span>"
			  "</p>\n");
}

#define TW 1000.0
#define TH 150.0
#define TX 40.0
#define TY0 20.0
#define TY1 110.0

static void wait_timeline(struct strbuf *sb, const cJSON *w)
{
	const cJSON *obs = cJSON_GetObjectItemCaseSensitive(w, "observations"), *o;
	const char *outcome = json_get_str_or(w, "outcome", "");
	double end = json_get_number(w, "elapsed_s", 0);
	int maxnp = 1;
	cJSON_ArrayForEach(o, obs) {
		double e = json_get_number(o, "elapsed_s", 0);
		if (e > end)
			end = e;
		if (json_get_number(o, "no_progress", 0) > maxnp)
			maxnp = (int)json_get_number(o, "no_progress", 0);
	}
	if (end <= 0)
		end = 1;
	double sx = (TW - TX - 150) / end;
	strbuf_addf(sb, "<svg role=\"img\" aria-label=\"observations of this wait\" viewBox=\"0 0 %.0f %.0f\" "
			"width=\"100%%\">\n",
		    TW, TH);
	strbuf_addf(sb, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#98a2b3\"/>\n", TX, TY1,
		    TW - 150, TY1);
	for (int k = 0; k <= 4; k++) {
		double x = TX + (TW - TX - 150) * k / 4;
		strbuf_addf(sb, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">", x, TY1 + 16);
		seconds(sb, end * k / 4);
		strbuf_addstr(sb, "</text>\n");
	}
	strbuf_addf(sb, "<text x=\"2\" y=\"%.0f\">no</text><text x=\"2\" y=\"%.0f\">progress</text>\n", TY0 + 4,
		    TY0 + 16);
	/* No-progress count as a step line. */
	struct strbuf pts = STRBUF_INIT;
	double px = TX, py = TY1;
	cJSON_ArrayForEach(o, obs) {
		double x = TX + json_get_number(o, "elapsed_s", 0) * sx;
		double y = TY1 - (TY1 - TY0) * json_get_number(o, "no_progress", 0) / maxnp;
		strbuf_addf(&pts, "%.1f,%.1f %.1f,%.1f ", px, py, x, py);
		px = x;
		py = y;
	}
	strbuf_addf(&pts, "%.1f,%.1f", px, py);
	strbuf_addf(sb, "<polyline points=\"%s\" fill=\"none\" stroke=\"#475467\" stroke-width=\"1.5\"/>\n",
		    strbuf_str(&pts));
	strbuf_release(&pts);
	if (!strcmp(outcome, "stalled")) {
		strbuf_addf(sb, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#f79009\" "
				"stroke-dasharray=\"2 3\"/><text x=\"%.0f\" y=\"%.0f\">threshold reached: %d</text>\n",
			    TX, TY0, TW - 150, TY0, TX + 4, TY0 - 6, maxnp);
	}
	/* One dot per observation; a ring when the digest changed. */
	cJSON_ArrayForEach(o, obs) {
		double x = TX + json_get_number(o, "elapsed_s", 0) * sx;
		const char *cls = json_get_str_or(o, "class", "");
		double y = TY1 - 10;
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "changed")))
			strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"8\" fill=\"none\" stroke=\"#1d2430\"/>", x,
				    y);
		strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"><title>#%d at ", x, y,
			    class_colour(cls), (int)json_get_number(o, "seq", 0));
		seconds(sb, json_get_number(o, "elapsed_s", 0));
		strbuf_addstr(sb, ": ");
		esc(sb, cls);
		strbuf_addf(sb, ", no progress %d", (int)json_get_number(o, "no_progress", 0));
		if (*json_get_str_or(o, "summary", "")) {
			strbuf_addstr(sb, " — ");
			esc(sb, json_get_str_or(o, "summary", ""));
		}
		strbuf_addstr(sb, "</title></circle>\n");
	}
	/* The end of the wait: the abort point and its outcome. */
	double xe = TX + json_get_number(w, "elapsed_s", end) * sx;
	strbuf_addf(sb, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\" %s/>"
			"<text x=\"%.1f\" y=\"%.0f\" class=\"abort\">",
		    xe, TY0 - 8, xe, TY1 + 4, outcome_colour(outcome),
		    strcmp(outcome, "met") ? "stroke-dasharray=\"5 3\"" : "", xe + 6, TY0 + 26);
	esc(sb, strcmp(outcome, "met") ? "abort: " : "");
	esc(sb, outcome);
	strbuf_addstr(sb, " at ");
	seconds(sb, json_get_number(w, "elapsed_s", end));
	strbuf_addstr(sb, "</text>\n</svg>\n");
}

static void waits_of(struct strbuf *sb, const cJSON *step, int iteration)
{
	const cJSON *w;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(step, "waits")) {
		if ((int)json_get_number(w, "iteration", 0) != iteration)
			continue;
		const char *outcome = json_get_str_or(w, "outcome", "");
		strbuf_addstr(sb, "<div class=\"wait\"><b>wait</b> ");
		if (*json_get_str_or(w, "phase", "")) {
			esc(sb, json_get_str_or(w, "phase", ""));
			strbuf_addstr(sb, " ");
		}
		strbuf_addstr(sb, "on <code>");
		esc(sb, *json_get_str_or(w, "target", "") ? json_get_str_or(w, "target", "") : "condition");
		strbuf_addf(sb, "</code>: <b class=\"o-%s\">", *outcome ? outcome : "running");
		esc(sb, *outcome ? outcome : "running");
		strbuf_addstr(sb, "</b> after ");
		seconds(sb, json_get_number(w, "elapsed_s", 0));
		strbuf_addf(sb, ", %d observation%s", (int)json_get_number(w, "observation_count", 0),
			    (int)json_get_number(w, "observation_count", 0) == 1 ? "" : "s");
		int shown = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(w, "observations"));
		if (shown < (int)json_get_number(w, "observation_count", 0))
			strbuf_addf(sb, " (the last %d drawn)", shown);
		strbuf_addstr(sb, "\n");
		if (shown)
			wait_timeline(sb, w);
		if (*json_get_str_or(w, "message", "")) {
			strbuf_addstr(sb, "<p class=\"reason\">");
			esc(sb, json_get_str_or(w, "message", ""));
			strbuf_addstr(sb, "</p>\n");
		}
		strbuf_addstr(sb, "<p>Fingerprints: ");
		string_list(sb, cJSON_GetObjectItemCaseSensitive(w, "fingerprints"), ", ");
		strbuf_addstr(sb, "</p></div>\n");
	}
}

void html_run_report(const cJSON *run, struct strbuf *sb)
{
	char title[256];
	snprintf(title, sizeof(title), "waitloop run %s (%s)", json_get_str_or(run, "id", ""), json_get_str_or(run, "workflow", ""));
	page_begin(sb, title);
	strbuf_addstr(sb, "<h1>");
	esc(sb, json_get_str_or(run, "workflow", ""));
	strbuf_addf(sb, " — <span class=\"st-%s\">", json_get_str_or(run, "status", ""));
	esc(sb, json_get_str_or(run, "status", ""));
	strbuf_addstr(sb, "</span></h1>\n<p class=\"muted\">Run <code>");
	esc(sb, json_get_str_or(run, "id", ""));
	strbuf_addstr(sb, "</code>, started ");
	esc(sb, json_get_str_or(run, "started_at", ""));
	strbuf_addstr(sb, ", ");
	seconds(sb, json_get_number(run, "duration_s", 0));
	if (*json_get_str_or(run, "status_reason", "")) {
		strbuf_addstr(sb, " — ");
		esc(sb, json_get_str_or(run, "status_reason", ""));
	}
	strbuf_addstr(sb, "</p>\n<h2>Steps on a time axis</h2>\n");
	gantt(sb, run);

	const cJSON *s;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(run, "steps")) {
		strbuf_addstr(sb, "<h2>Step <code>");
		esc(sb, json_get_str_or(s, "step", ""));
		strbuf_addf(sb, "</code>: <span class=\"st-%s\">", json_get_str_or(s, "status", ""));
		esc(sb, json_get_str_or(s, "status", ""));
		strbuf_addstr(sb, "</span></h2>\n");
		if (*json_get_str_or(s, "reason", "")) {
			strbuf_addstr(sb, "<p>");
			esc(sb, json_get_str_or(s, "reason", ""));
			strbuf_addstr(sb, "</p>\n");
		}
		const cJSON *iters = cJSON_GetObjectItemCaseSensitive(s, "iterations"), *it;
		if (cJSON_GetArraySize(iters)) {
			class_legend(sb);
			cJSON_ArrayForEach(it, iters) {
				int n = (int)json_get_number(it, "iteration", 0);
				const char *d = json_get_str_or(it, "decision", "");
				strbuf_addf(sb, "<h3>Iteration %d: <span class=\"d-%s\">", n, d);
				esc(sb, *d ? d : "undecided");
				strbuf_addstr(sb, "</span>");
				if (*json_get_str_or(it, "decision_source", "")) {
					strbuf_addstr(sb, " <span class=\"muted\">(");
					esc(sb, json_get_str_or(it, "decision_source", ""));
					strbuf_addstr(sb, ")</span>");
				}
				strbuf_addstr(sb, "</h3>\n");
				const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(it, "reasons"), *r;
				if (cJSON_GetArraySize(reasons)) {
					strbuf_addstr(sb, "<ol>");
					cJSON_ArrayForEach(r, reasons) {
						strbuf_addstr(sb, "<li>");
						esc(sb, cJSON_GetStringValue(r));
						strbuf_addstr(sb, "</li>");
					}
					strbuf_addstr(sb, "</ol>\n");
				}
				strbuf_addstr(sb, "<p>Fingerprints: ");
				string_list(sb, cJSON_GetObjectItemCaseSensitive(it, "fingerprints"), ", ");
				const cJSON *git = cJSON_GetObjectItemCaseSensitive(it, "git");
				if (cJSON_IsObject(git))
					strbuf_addf(sb, ". Files changed: %d (+%d −%d)", (int)json_get_number(git, "files_changed", 0),
						    (int)json_get_number(git, "insertions", 0), (int)json_get_number(git, "deletions", 0));
				strbuf_addstr(sb, "</p>\n");
				waits_of(sb, s, n);
				if (*json_get_str_or(it, "verdict_text", "")) {
					strbuf_addstr(sb, "<details><summary>review.verdict</summary><pre>");
					esc(sb, json_get_str_or(it, "verdict_text", ""));
					strbuf_addstr(sb, "</pre></details>\n");
				}
				if (*json_get_str_or(it, "fix_md", "")) {
					strbuf_addstr(sb, "<details open><summary>fix.md</summary><pre>");
					esc(sb, json_get_str_or(it, "fix_md", ""));
					strbuf_addstr(sb, "</pre></details>\n");
				}
			}
		} else if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "waits"))) {
			class_legend(sb);
			waits_of(sb, s, 0);
		}
	}
	page_end(sb);
}

/* ---- stats report -------------------------------------------------------- */

static void outcome_bars(struct strbuf *sb, const cJSON *targets)
{
	static const char *const outcomes[] = {"met", "terminal_fail", "stalled", "timeout", "no_output"};
	int n = cJSON_GetArraySize(targets);
	if (n > 15)
		n = 15;
	double h = 20 + n * 24.0, maxw = 1;
	const cJSON *t;
	cJSON_ArrayForEach(t, targets)
		if (json_get_number(t, "waits", 0) > maxw)
			maxw = json_get_number(t, "waits", 0);
	strbuf_addf(sb, "<svg role=\"img\" aria-label=\"outcomes per wait target\" viewBox=\"0 0 1000 %.0f\" "
			"width=\"100%%\">\n",
		    h);
	int row = 0;
	cJSON_ArrayForEach(t, targets) {
		if (row >= n)
			break;
		double y = 10 + row * 24.0, x = 330;
		strbuf_addf(sb, "<text x=\"4\" y=\"%.0f\">", y + 13);
		esc(sb, json_get_str_or(t, "target", ""));
		strbuf_addstr(sb, "</text>\n");
		for (size_t k = 0; k < sizeof(outcomes) / sizeof(outcomes[0]); k++) {
			double c = json_get_number(t, outcomes[k], 0);
			if (c <= 0)
				continue;
			double w = c / maxw * 600;
			strbuf_addf(sb, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"16\" fill=\"%s\"><title>%s: %d"
					"</title></rect>",
				    x, y, w, outcome_colour(outcomes[k]), outcomes[k], (int)c);
			x += w;
		}
		strbuf_addf(sb, "<text x=\"%.1f\" y=\"%.0f\">%d waits</text>\n", x + 6, y + 13, (int)json_get_number(t, "waits", 0));
		row++;
	}
	strbuf_addstr(sb, "</svg>\n<p class=\"legend\">");
	for (size_t k = 0; k < sizeof(outcomes) / sizeof(outcomes[0]); k++)
		strbuf_addf(sb, "<span><i class=\"sw\" style=\"background:%s\"></i>%s</span>", outcome_colour(outcomes[k]),
			    outcomes[k]);
	strbuf_addstr(sb, "</p>\n");
}

static void histogram_svg(struct strbuf *sb, const cJSON *t)
{
	const cJSON *hist = cJSON_GetObjectItemCaseSensitive(t, "time_to_met_histogram"), *b;
	double maxc = 1;
	int nb = cJSON_GetArraySize(hist);
	cJSON_ArrayForEach(b, hist)
		if (json_get_number(b, "count", 0) > maxc)
			maxc = json_get_number(b, "count", 0);
	if (!nb)
		return;
	double bw = 900.0 / nb;
	strbuf_addstr(sb, "<svg role=\"img\" aria-label=\"time to met distribution\" viewBox=\"0 0 1000 140\" "
			  "width=\"100%\">\n");
	int k = 0;
	cJSON_ArrayForEach(b, hist) {
		double c = json_get_number(b, "count", 0), bh = c / maxc * 90;
		double x = 50 + k * bw;
		strbuf_addf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2e90fa\"/>", x + 2,
			    110 - bh, bw - 4, bh);
		if (c > 0)
			strbuf_addf(sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>", x + bw / 2,
				    106 - bh, (int)c);
		strbuf_addf(sb, "<text x=\"%.1f\" y=\"126\" text-anchor=\"middle\">", x + bw / 2);
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(b, "le"))) {
			strbuf_addstr(sb, "≤");
			seconds(sb, json_get_number(b, "le", 0));
		} else {
			strbuf_addstr(sb, "more");
		}
		strbuf_addstr(sb, "</text>\n");
		k++;
	}
	strbuf_addstr(sb, "</svg>\n");
}

static void trend_svg(struct strbuf *sb, const cJSON *fps)
{
	static const char *const colours[] = {"#d92d20", "#2e90fa", "#f79009", "#17803d", "#7a5af8"};
	double d0 = -1, d1 = -1, maxc = 1;
	const cJSON *f, *d;
	int nf = 0;
	cJSON_ArrayForEach(f, fps) {
		if (nf++ >= 5)
			break;
		cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(f, "per_day")) {
			char tbuf[40];
			snprintf(tbuf, sizeof(tbuf), "%sT00:00:00.000Z", json_get_str_or(d, "day", ""));
			double day = parse_ms(tbuf) / 86400000.0;
			if (d0 < 0 || day < d0)
				d0 = day;
			if (day > d1)
				d1 = day;
			if (json_get_number(d, "count", 0) > maxc)
				maxc = json_get_number(d, "count", 0);
		}
	}
	if (d0 < 0)
		return;
	double span = d1 > d0 ? d1 - d0 : 1;
	strbuf_addstr(sb, "<svg role=\"img\" aria-label=\"fingerprints per day\" viewBox=\"0 0 1000 200\" "
			  "width=\"100%\">\n<line x1=\"50\" y1=\"170\" x2=\"960\" y2=\"170\" stroke=\"#98a2b3\"/>\n");
	strbuf_addf(sb, "<text x=\"4\" y=\"24\">%d/day</text>\n", (int)maxc);
	nf = 0;
	cJSON_ArrayForEach(f, fps) {
		if (nf >= 5)
			break;
		struct strbuf pts = STRBUF_INIT;
		cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(f, "per_day")) {
			char tbuf[40];
			snprintf(tbuf, sizeof(tbuf), "%sT00:00:00.000Z", json_get_str_or(d, "day", ""));
			double day = parse_ms(tbuf) / 86400000.0;
			double x = 50 + (day - d0) / span * 900, y = 170 - json_get_number(d, "count", 0) / maxc * 140;
			strbuf_addf(&pts, "%.1f,%.1f ", x, y);
			strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s: %d</title></circle>",
				    x, y, colours[nf], json_get_str_or(d, "day", ""), (int)json_get_number(d, "count", 0));
		}
		strbuf_addf(sb, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\"/>\n", strbuf_str(&pts), colours[nf]);
		strbuf_release(&pts);
		nf++;
	}
	strbuf_addstr(sb, "</svg>\n<p class=\"legend\">");
	nf = 0;
	cJSON_ArrayForEach(f, fps) {
		if (nf >= 5)
			break;
		strbuf_addf(sb, "<span><i class=\"sw\" style=\"background:%s\"></i><code>", colours[nf++]);
		esc(sb, json_get_str_or(f, "fingerprint", ""));
		strbuf_addstr(sb, "</code></span>");
	}
	strbuf_addstr(sb, "</p>\n");
}

void html_stats_report(const cJSON *doc, struct strbuf *sb)
{
	page_begin(sb, "waitloop history stats");
	strbuf_addf(sb, "<h1>History: %d runs, %d waits</h1>\n<p class=\"muted\">Databases: ", (int)json_get_number(doc, "runs", 0),
		    (int)json_get_number(doc, "waits", 0));
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "databases")) {
		strbuf_addstr(sb, "<code>");
		esc(sb, cJSON_GetStringValue(it));
		strbuf_addstr(sb, "</code> ");
	}
	strbuf_addstr(sb, "</p>\n<h2>Outcomes per wait target</h2>\n");
	const cJSON *targets = cJSON_GetObjectItemCaseSensitive(doc, "targets");
	outcome_bars(sb, targets);
	strbuf_addstr(sb, "<table><tr><th>target</th><th>waits</th><th>met</th><th>terminal</th><th>stalled</th>"
			  "<th>timeout</th><th>time to met p50 / p90 / p99</th><th>decided (p50)</th>"
			  "<th>obs/wait</th><th>suspected false aborts</th></tr>\n");
	cJSON_ArrayForEach(it, targets) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "time_to_met_s"), *dd = cJSON_GetObjectItemCaseSensitive(it, "time_to_decision_s");
		strbuf_addstr(sb, "<tr><td><code>");
		esc(sb, json_get_str_or(it, "target", ""));
		strbuf_addf(sb, "</code></td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>",
			    (int)json_get_number(it, "waits", 0), (int)json_get_number(it, "met", 0), (int)json_get_number(it, "terminal_fail", 0),
			    (int)json_get_number(it, "stalled", 0), (int)json_get_number(it, "timeout", 0));
		const char *ps[] = {"p50", "p90", "p99"};
		for (int k = 0; k < 3; k++) {
			if (k)
				strbuf_addstr(sb, " / ");
			if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m, ps[k])))
				seconds(sb, json_get_number(m, ps[k], 0));
			else
				strbuf_addstr(sb, "–");
		}
		strbuf_addstr(sb, "</td><td>");
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(dd, "p50")))
			seconds(sb, json_get_number(dd, "p50", 0));
		else
			strbuf_addstr(sb, "–");
		strbuf_addf(sb, "</td><td>%.1f</td><td>%d</td></tr>\n", json_get_number(it, "observations_per_wait", 0),
			    (int)json_get_number(it, "suspected_false_aborts", 0));
	}
	strbuf_addstr(sb, "</table>\n<h2>Time to met</h2>\n");
	int k = 0;
	cJSON_ArrayForEach(it, targets) {
		if (k++ >= 6 || json_get_number(it, "met", 0) <= 0)
			continue;
		strbuf_addstr(sb, "<h3><code>");
		esc(sb, json_get_str_or(it, "target", ""));
		strbuf_addf(sb, "</code> (%d met)</h3>\n", (int)json_get_number(it, "met", 0));
		histogram_svg(sb, it);
	}
	strbuf_addstr(sb, "<h2>Dependencies that failed most</h2>\n<table><tr><th>dependency</th><th>failed waits</th>"
			  "<th>targets</th><th>last seen</th></tr>\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "dependencies")) {
		strbuf_addstr(sb, "<tr><td><code>");
		esc(sb, json_get_str_or(it, "dependency", ""));
		strbuf_addf(sb, "</code></td><td>%d</td><td>", (int)json_get_number(it, "failed_waits", 0));
		string_list(sb, cJSON_GetObjectItemCaseSensitive(it, "targets"), ", ");
		strbuf_addstr(sb, "</td><td>");
		esc(sb, json_get_str_or(it, "last_seen", ""));
		strbuf_addstr(sb, "</td></tr>\n");
	}
	strbuf_addstr(sb, "</table>\n<h2>Fingerprints over time</h2>\n");
	trend_svg(sb, cJSON_GetObjectItemCaseSensitive(doc, "fingerprints"));
	strbuf_addstr(sb, "<table><tr><th>fingerprint</th><th>count</th><th>runs</th><th>first seen</th>"
			  "<th>last seen</th></tr>\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "fingerprints")) {
		strbuf_addstr(sb, "<tr><td><code>");
		esc(sb, json_get_str_or(it, "fingerprint", ""));
		strbuf_addf(sb, "</code></td><td>%d</td><td>%d</td><td>", (int)json_get_number(it, "count", 0), (int)json_get_number(it, "runs", 0));
		esc(sb, json_get_str_or(it, "first_seen", ""));
		strbuf_addstr(sb, "</td><td>");
		esc(sb, json_get_str_or(it, "last_seen", ""));
		strbuf_addstr(sb, "</td></tr>\n");
	}
	const cJSON *fa = cJSON_GetObjectItemCaseSensitive(doc, "suspected_false_aborts");
	strbuf_addf(sb, "</table>\n<h2>Suspected false aborts (%d)</h2>\n", cJSON_GetArraySize(fa));
	if (cJSON_GetArraySize(fa)) {
		strbuf_addstr(sb, "<table><tr><th>run</th><th>step</th><th>iteration</th><th>target</th>"
				  "<th>stalled after</th><th>why suspected</th></tr>\n");
		cJSON_ArrayForEach(it, fa) {
			strbuf_addstr(sb, "<tr><td><code>");
			esc(sb, json_get_str_or(it, "run_id", ""));
			strbuf_addstr(sb, "</code></td><td>");
			esc(sb, json_get_str_or(it, "step", ""));
			strbuf_addf(sb, "</td><td>%d</td><td><code>", (int)json_get_number(it, "iteration", 0));
			esc(sb, json_get_str_or(it, "target", ""));
			strbuf_addf(sb, "</code></td><td>%d observations, ", (int)json_get_number(it, "observations", 0));
			seconds(sb, json_get_number(it, "elapsed_s", 0));
			strbuf_addstr(sb, "</td><td>");
			esc(sb, json_get_str_or(it, "why", ""));
			strbuf_addstr(sb, "</td></tr>\n");
		}
		strbuf_addstr(sb, "</table>\n");
	}
	page_end(sb);
}
