/* timeout: 60 */
/* CI reports from a run summary: report.c (events -> summary fields),
 * junit.c (XML, escaping) and ghactions.c (annotations, step summary). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "ghactions.h"
#include "harness.h"
#include "junit.h"
#include "report.h"
#include "xalloc.h"

static cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	CHECK(j != NULL);
	return j;
}

static void feed(struct report *rp, enum ev_type type, const char *step, int iteration, int64_t ts, const char *data)
{
	struct wl_event ev = {0};
	ev.type = type;
	ev.ts_ms = ts;
	ev.run_id = "r";
	ev.step = step;
	ev.iteration = iteration;
	ev.data = data ? parse(data) : NULL;
	report_sink(rp, &ev);
	cJSON_Delete(ev.data);
}

static void test_report_augment(void)
{
	struct report *rp = report_new();
	feed(rp, EV_ITERATION_STARTED, "s", 1, 1000, NULL);
	feed(rp, EV_WAIT_FINISHED, "s", 1, 1500,
	     "{\"phase\":\"completion_check\",\"outcome\":\"stalled\",\"early_abort\":true,\"elapsed_s\":0.4,"
	     "\"fingerprints\":[\"b/x\",\"a/y\"],\"failure_file\":\"/c/s/wait-failure.json\"}");
	feed(rp, EV_ITERATION_FINISHED, "s", 1, 3500,
	     "{\"decision\":\"incomplete\",\"reasons\":[\"r1\"],\"fingerprints\":[\"a/y\",\"c/z\"],"
	     "\"verdict_file\":\"/c/s/iterations/1/review.verdict\",\"wait_failure_file\":\"/c/s/iterations/1/wait-failure.json\"}");
	feed(rp, EV_RUN_FINISHED, NULL, 0, 4000, "{\"status\":\"FAILED\",\"reason\":\"preflight failed\"}");
	cJSON *sum = parse("{\"steps\":[{\"id\":\"s\",\"status\":\"FAILED\"},{\"id\":\"t\",\"status\":\"SKIPPED\"}]}");
	report_augment(rp, sum);
	report_free(rp);
	char *out = cJSON_PrintUnformatted(sum);
	/* the union of fingerprints, sorted and unique */
	CHECK_CONTAINS(out, "\"fingerprints\":[\"a/y\",\"b/x\",\"c/z\"]");
	/* the guard's wait-failure.json points at the iteration's archived copy */
	CHECK_CONTAINS(out, "\"wait_failures\":[\"/c/s/iterations/1/wait-failure.json\"]");
	CHECK_CONTAINS(out, "\"verdict_file\":\"/c/s/iterations/1/review.verdict\"");
	CHECK_CONTAINS(out, "\"duration_s\":2.5");
	CHECK_CONTAINS(out, "\"early_aborts\":1");
	CHECK_CONTAINS(out, "\"reason\":\"preflight failed\"");
	/* a step without events gets empty lists, not missing keys */
	CHECK_CONTAINS(out, "{\"id\":\"t\",\"status\":\"SKIPPED\",\"fingerprints\":[],\"verdict_file\":null,"
			    "\"wait_failures\":[],\"checks\":[],\"waits\":[]}");
	free(out);
	cJSON_Delete(sum);
}

static void test_junit_escaping(void)
{
	/* control characters and invalid UTF-8 cannot be in XML 1.0: '?' */
	cJSON *sum = parse("{\"workflow\":\"w&<>\",\"status\":\"FAILED\",\"exit_code\":1,\"duration_s\":1.5,"
			   "\"steps\":[{\"id\":\"a\\\"b\",\"status\":\"FAILED\",\"duration_s\":1,"
			   "\"reason\":\"line1\\nline2\\u0001 \\u00e9\",\"fingerprints\":[\"f/1\"],\"checks\":[]}]}");
	cJSON *reason = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "steps"), 0), "reason");
	char *bad = xasprintf("%s \xff\xfe end", reason->valuestring);
	cJSON_SetValuestring(reason, bad);
	free(bad);
	char *xml = junit_render(sum, NULL);
	CHECK_CONTAINS(xml, "<testsuite name=\"w&amp;&lt;&gt;\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"1.500\"");
	CHECK_CONTAINS(xml, "name=\"a&quot;b\"");
	/* in an attribute, a newline is a character reference; in text it stays */
	CHECK_CONTAINS(xml, "message=\"line1&#10;line2? \xc3\xa9 ?? end [f/1]\"");
	CHECK_CONTAINS(xml, ">status: FAILED\nreason: line1\nline2? \xc3\xa9 ?? end\nfingerprint: f/1\n</failure>");
	CHECK(strchr(xml, '\x01') == NULL);
	free(xml);
	cJSON_Delete(sum);
}

static void test_junit_mapping(void)
{
	cJSON *sum = parse("{\"workflow\":\"w\",\"status\":\"CANCELLED\",\"steps\":["
			   "{\"id\":\"ok\",\"status\":\"SUCCEEDED\",\"checks\":["
			   "  {\"iteration\":1,\"decision\":\"incomplete\",\"reasons\":[\"first\",\"second\"],\"fingerprints\":[\"x/y\"]},"
			   "  {\"iteration\":2,\"decision\":\"complete\",\"reasons\":[],\"fingerprints\":[]}]},"
			   "{\"id\":\"inc\",\"status\":\"INCOMPLETE\",\"reason\":\"max_iterations (2) reached\"},"
			   "{\"id\":\"can\",\"status\":\"CANCELLED\",\"reason\":\"cancelled by SIGTERM\"},"
			   "{\"id\":\"sk\",\"status\":\"SKIPPED\",\"reason\":\"dependency 'can' cancelled\"}]}");
	char *xml = junit_render(sum, NULL);
	CHECK_CONTAINS(xml, "tests=\"6\" failures=\"2\" errors=\"1\" skipped=\"1\"");
	CHECK_CONTAINS(xml, "<testcase classname=\"w\" name=\"ok\" time=\"0.000\"/>");
	CHECK_CONTAINS(xml, "name=\"ok check #1\"");
	CHECK_CONTAINS(xml, "<failure type=\"incomplete\" message=\"first [x/y]\">");
	CHECK_CONTAINS(xml, "<testcase classname=\"w\" name=\"ok check #2\" time=\"0.000\"/>");
	CHECK_CONTAINS(xml, "<failure type=\"INCOMPLETE\" message=\"max_iterations (2) reached\">");
	CHECK_CONTAINS(xml, "<error type=\"CANCELLED\" message=\"cancelled by SIGTERM\">");
	CHECK_CONTAINS(xml, "<skipped message=\"dependency 'can' cancelled\"/>");
	free(xml);
	cJSON_Delete(sum);
}

static void test_junit_run_stopped_before_steps(void)
{
	cJSON *sum = parse("{\"workflow\":\"w\",\"status\":\"FAILED\",\"reason\":\"preflight failed (1 of 2 checks)\","
			   "\"steps\":[{\"id\":\"a\",\"status\":\"SKIPPED\",\"reason\":\"preflight failed (1 of 2 checks)\"}]}");
	char *xml = junit_render(sum, NULL);
	CHECK_CONTAINS(xml, "tests=\"2\" failures=\"0\" errors=\"1\" skipped=\"1\"");
	CHECK_CONTAINS(xml, "<testcase classname=\"w\" name=\"(run)\" time=\"0.000\">\n"
			    "      <error type=\"FAILED\" message=\"preflight failed (1 of 2 checks)\"/>");
	free(xml);
	cJSON_Delete(sum);
}

static char *annotations(const cJSON *sum, int *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*n = ghactions_annotate(sum, f);
	fclose(f);
	return buf;
}

static void test_github_annotations(void)
{
	cJSON *sum = parse("{\"workflow\":\"w:1\",\"status\":\"FAILED\",\"steps\":["
			   "{\"id\":\"a\",\"status\":\"FAILED\",\"reason\":\"100% bad\\r\\nnext, line\",\"fingerprints\":[\"f/1\"],"
			   " \"verdict_file\":\"/v\",\"waits\":[{\"phase\":\"wait\",\"target\":\"t,1\",\"outcome\":\"stalled\","
			   " \"early_abort\":true,\"message\":\"m: x\",\"fingerprints\":[\"s/n\"],\"failure_file\":\"/wf\"}]},"
			   "{\"id\":\"b\",\"status\":\"SUCCEEDED\",\"waits\":[{\"outcome\":\"met\",\"early_abort\":false}]}]}");
	int n;
	char *out = annotations(sum, &n);
	CHECK_INT(n, 2);
	CHECK_STR(out, "::warning title=waitloop%3A a%3A early abort (stalled)::wait t,1: m: x [s/n]%0Aevidence: /wf\n"
		       "::error title=waitloop%3A w%3A1%3A step a FAILED::100%25 bad%0D%0Anext, line [f/1]%0Averdict: /v\n");
	free(out);
	cJSON_Delete(sum);
	/* a run stopped before its steps: one error with the run's reason */
	sum = parse("{\"workflow\":\"w\",\"status\":\"FAILED\",\"reason\":\"preflight failed (1 of 1 checks)\","
		    "\"steps\":[{\"id\":\"a\",\"status\":\"SKIPPED\"}]}");
	out = annotations(sum, &n);
	CHECK_STR(out, "::error title=waitloop%3A w FAILED::preflight failed (1 of 1 checks)\n");
	free(out);
	cJSON_Delete(sum);
	/* success: nothing */
	sum = parse("{\"workflow\":\"w\",\"status\":\"SUCCEEDED\",\"steps\":[{\"id\":\"a\",\"status\":\"SUCCEEDED\"}]}");
	out = annotations(sum, &n);
	CHECK_INT(n, 0);
	CHECK_STR(out, "");
	free(out);
	cJSON_Delete(sum);
}

static void test_github_summary_markdown(void)
{
	cJSON *sum = parse("{\"workflow\":\"w\",\"run_id\":\"r1\",\"status\":\"FAILED\",\"duration_s\":2,\"context_dir\":\"/c\","
			   "\"steps\":[{\"id\":\"a|b\",\"status\":\"FAILED\",\"iterations\":0,\"duration_s\":1,"
			   "\"reason\":\"x | y\\nz <script>\",\"fingerprints\":[\"f/1\"],\"wait_failures\":[\"/c/a/wait-failure.json\"],"
			   "\"waits\":[{\"phase\":\"wait\",\"target\":\"t\",\"outcome\":\"timeout\",\"early_abort\":false,\"elapsed_s\":5}]}]}");
	char *md = ghactions_summary_markdown(sum, "https://github.com/o/r/actions/runs/42");
	CHECK_CONTAINS(md, "### ❌ waitloop: w — FAILED (2.0s)\n");
	CHECK_CONTAINS(md, "| a\\|b | ❌ FAILED | 0 | 1.0s | x \\| y z &lt;script> | `f/1` |\n");
	CHECK_CONTAINS(md, "- **a\\|b**, wait `t`: **timeout** after 5.0s\n");
	CHECK_CONTAINS(md, "- a\\|b wait failure: `/c/a/wait-failure.json`\n");
	CHECK_CONTAINS(md, "- context directory: `/c`\n");
	CHECK_CONTAINS(md, "- uploaded artifacts of this job: [workflow run](https://github.com/o/r/actions/runs/42#artifacts)\n");
	free(md);
	md = ghactions_summary_markdown(sum, NULL);
	CHECK(strstr(md, "uploaded artifacts") == NULL);
	free(md);
	cJSON_Delete(sum);
}

int main(void)
{
	TEST(test_report_augment);
	TEST(test_junit_escaping);
	TEST(test_junit_mapping);
	TEST(test_junit_run_stopped_before_steps);
	TEST(test_github_annotations);
	TEST(test_github_summary_markdown);
	return tests_done();
}
