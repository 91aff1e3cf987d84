/*
 * report_html: one self-contained HTML page (inline SVG and CSS, no
 * network, no JavaScript) for a run or for the history stats.
 *
 *   struct strbuf page = STRBUF_INIT;
 *   html_run_report(run, &page);       -- run: store_get_run()'s object
 *   fs_write_atomic(file, page.buf, page.len, &err);
 *   strbuf_release(&page);
 *
 * html_run_report(): the steps on a time axis (Gantt), each iteration's
 * decision, reasons and fingerprints, and for each wait a timeline of its
 * observations (coloured by class, digest changes marked, the no-progress
 * count, the abort point and its reason). An iteration object may carry
 * "verdict_text" and "fix_md" (the archived review.verdict and fix.md,
 * attached by the caller); they are shown as they are. Every string is
 * HTML-escaped; the inputs are history rows and artifacts, already redacted.
 *
 * html_stats_report(): insights_collect()'s document — per-target outcome
 * bars and time-to-met distributions, the dependencies, the fingerprint
 * trend per day, the suspected false aborts.
 */
#ifndef WAITLOOP_REPORT_HTML_H
#define WAITLOOP_REPORT_HTML_H
#include <cjson/cJSON.h>

#include "strbuf.h"

void html_run_report(const cJSON *run, struct strbuf *out);
void html_stats_report(const cJSON *stats, struct strbuf *out);

#endif
