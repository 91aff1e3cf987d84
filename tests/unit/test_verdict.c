/* timeout: 60 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fsutil.h"
#include "harness.h"
#include "jsonutil.h"
#include "strbuf.h"
#include "timeutil.h"
#include "verdict.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-test-verdict.XXXXXX";

static char *tmp_path(const char *name)
{
	return fs_join(tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
	struct wl_err err = WL_ERR_INIT;
	CHECK(fs_write_atomic(path, text, strlen(text), &err) == 0);
}

/* Set a file's mtime to wall ms. */
static void set_mtime(const char *path, int64_t wall_ms)
{
	struct timeval tv[2];
	tv[0].tv_sec = tv[1].tv_sec = wall_ms / 1000;
	tv[0].tv_usec = tv[1].tv_usec = (wall_ms % 1000) * 1000;
	CHECK(utimes(path, tv) == 0);
}

static enum verdict_file_status parse(const char *text, const char *id, struct verdict *v, struct wl_err *err)
{
	return verdict_parse_decision_text(text, strlen(text), id, v, err);
}

static void test_json_decision(void)
{
	struct verdict v = VERDICT_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(parse("{\"decision\":\"incomplete\",\"check_id\":\"c1\",\"reasons\":[\"  unit tests fail \",\"\",\"unit tests fail\",\"lint\"],"
			"\"fingerprints\":[\"z/b\",\"a/x\",\"z/b\"],\"hints\":[\"run make\"]}", "c1", &v, &err),
		  VERDICT_FILE_FOUND);
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	CHECK_INT(v.source, VERDICT_SRC_DECISION_FILE);
	CHECK_STR(v.check_id, "c1");
	CHECK_INT(v.reasons.n, 2);
	CHECK_STR(v.reasons.v[0], "unit tests fail");
	CHECK_STR(v.reasons.v[1], "lint");
	CHECK_INT(v.fingerprints.n, 2);
	CHECK_STR(v.fingerprints.v[0], "a/x");
	CHECK_STR(v.fingerprints.v[1], "z/b");
	CHECK_INT(v.hints.n, 1);
	verdict_release(&v);

	/* roboppi variants, any case; a single "reason" string. */
	const char *complete[] = {"COMPLETE", "pass", "Passed", "complete"};
	for (size_t i = 0; i < 4; i++) {
		char *t = xasprintf("{\"decision\":\"%s\",\"reason\":\"all green\"}", complete[i]);
		CHECK_INT(parse(t, "c1", &v, &err), VERDICT_FILE_FOUND);
		CHECK_INT(v.decision, VERDICT_COMPLETE);
		CHECK_INT(v.reasons.n, 1);
		CHECK_STR(v.check_id, "c1");   /* no id in the file: the check's own */
		verdict_release(&v);
		free(t);
	}
	CHECK_INT(parse("  {\"decision\":\"FAIL\"}", NULL, &v, &err), VERDICT_FILE_FOUND);
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	verdict_release(&v);

	CHECK_INT(parse("{\"decision\":\"maybe\"}", "c1", &v, &err), VERDICT_FILE_INVALID);
	CHECK_STR(err.msg, "decision file has an unknown decision 'maybe' (want complete or incomplete)");
	CHECK_INT(parse("{\"reasons\":[]}", "c1", &v, &err), VERDICT_FILE_INVALID);
	CHECK_STR(err.msg, "decision file has no \"decision\"");
	CHECK_INT(parse("{\"decision\": ", "c1", &v, &err), VERDICT_FILE_INVALID);
	CHECK_STR(err.msg, "decision file is not a JSON object");
	CHECK_INT(parse("  \n\t\n", "c1", &v, &err), VERDICT_FILE_MISSING);
	CHECK_INT(v.decision, VERDICT_NONE);
	verdict_release(&v);
}

static void test_markers(void)
{
	static const struct {
		const char *text;
		enum verdict_decision want;
	} cases[] = {
		{"PASS\n", VERDICT_COMPLETE},
		{"FAIL", VERDICT_INCOMPLETE},
		{"complete\n", VERDICT_COMPLETE},
		{"INCOMPLETE\n", VERDICT_INCOMPLETE},
		{"VERDICT: PASS\n", VERDICT_COMPLETE},
		{"**VERDICT: FAIL**\n", VERDICT_INCOMPLETE},
		{"verdict: complete", VERDICT_COMPLETE},
		{"# Review\nThe build passes but tests do not.\n\nDecision: incomplete\n", VERDICT_INCOMPLETE},
		{"INCOMPLETE\nfixed the lint\nCOMPLETE\n", VERDICT_COMPLETE},  /* the last marker wins */
		{"`PASS`", VERDICT_COMPLETE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct verdict v = VERDICT_INIT;
		struct wl_err err = WL_ERR_INIT;
		int st = parse(cases[i].text, "c9", &v, &err);
		if (st != VERDICT_FILE_FOUND || v.decision != cases[i].want)
			fprintf(stderr, "  case %zu: '%s' -> status %d decision %d\n", i, cases[i].text, st, v.decision);
		CHECK_INT(st, VERDICT_FILE_FOUND);
		CHECK_INT(v.decision, cases[i].want);
		CHECK_INT(v.source, VERDICT_SRC_MARKER);
		CHECK_STR(v.check_id, "c9");
		verdict_release(&v);
	}
	/* Other lines are reasons; prose mentioning a marker is not a marker. */
	struct verdict v = VERDICT_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(parse("FAIL\n- test_login fails: expected 200, got 500\n* lint: 3 warnings\n", "c", &v, &err),
		  VERDICT_FILE_FOUND);
	CHECK_INT(v.reasons.n, 2);
	CHECK_STR(v.reasons.v[0], "test_login fails: expected 200, got 500");
	CHECK_STR(v.reasons.v[1], "lint: 3 warnings");
	verdict_release(&v);
	CHECK_INT(parse("the tests did not pass yet\nstatus: ok\n", "c", &v, &err), VERDICT_FILE_INVALID);
	CHECK_STR(err.msg, "decision file has no decision (want JSON or a PASS/FAIL/COMPLETE/INCOMPLETE line)");
	verdict_release(&v);
}

/* The one decision word list: every word is a JSON/CLI decision; only some are marker lines. */
static void test_decision_words(void)
{
	static const struct {
		const char *word;
		enum verdict_decision want;
		int marker;
	} words[] = {
		{"complete", VERDICT_COMPLETE, 1},  {"Completed", VERDICT_COMPLETE, 1}, {"PASS", VERDICT_COMPLETE, 1},
		{"passed", VERDICT_COMPLETE, 1},    {"success", VERDICT_COMPLETE, 0},   {"ok", VERDICT_COMPLETE, 0},
		{"DONE", VERDICT_COMPLETE, 0},      {"incomplete", VERDICT_INCOMPLETE, 1}, {"fail", VERDICT_INCOMPLETE, 1},
		{"FAILED", VERDICT_INCOMPLETE, 1},  {"failure", VERDICT_INCOMPLETE, 0}, {"retry", VERDICT_INCOMPLETE, 0},
		{"not_complete", VERDICT_INCOMPLETE, 0},
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		enum verdict_decision d = VERDICT_NONE;
		CHECK_INT(verdict_parse_decision(words[i].word, &d), 0);
		CHECK_INT(d, words[i].want);
		struct verdict v = VERDICT_INIT;
		struct wl_err err = WL_ERR_INIT;
		char text[64];
		snprintf(text, sizeof(text), "VERDICT: %s\n", words[i].word);
		int st = parse(text, "c", &v, &err);
		if (st != (words[i].marker ? VERDICT_FILE_FOUND : VERDICT_FILE_INVALID))
			fprintf(stderr, "  word '%s' -> status %d\n", words[i].word, st);
		CHECK_INT(st, words[i].marker ? VERDICT_FILE_FOUND : VERDICT_FILE_INVALID);
		if (words[i].marker)
			CHECK_INT(v.decision, words[i].want);
		verdict_release(&v);
	}
	enum verdict_decision d = VERDICT_NONE;
	CHECK_INT(verdict_parse_decision("maybe", &d), -1);
	CHECK_INT(verdict_parse_decision(NULL, &d), -1);
}

static void test_bounds(void)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, "{\"decision\":\"incomplete\",\"reasons\":[");
	for (int i = 0; i < 80; i++)
		strbuf_addf(&sb, "%s\"reason %d\"", i ? "," : "", i);
	strbuf_addstr(&sb, "],\"fingerprints\":[\"");
	for (int i = 0; i < 700; i++)
		strbuf_addch(&sb, 'x');
	strbuf_addstr(&sb, "\",\"");
	/* 498 ASCII bytes then a 3-byte character that must not be cut in half */
	for (int i = 0; i < 496; i++)
		strbuf_addch(&sb, 'y');
	for (int i = 0; i < 10; i++)
		strbuf_addstr(&sb, "\xE2\x82\xAC");
	strbuf_addstr(&sb, "\",\"multi\\nline\\tfp\"]}");
	struct verdict v = VERDICT_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(parse(strbuf_str(&sb), NULL, &v, &err), VERDICT_FILE_FOUND);
	CHECK_INT(v.reasons.n, VERDICT_MAX_ITEMS);
	CHECK_STR(v.reasons.v[49], "reason 49");
	CHECK_INT(v.fingerprints.n, 3);
	CHECK_STR(v.fingerprints.v[0], "multi line fp");
	CHECK_INT(strlen(v.fingerprints.v[1]), 500);
	CHECK(!strcmp(v.fingerprints.v[1] + 497, "\xE2\x80\xA6"));
	CHECK(strlen(v.fingerprints.v[2]) <= 500);
	/* cut at a character boundary: 496 'y', then whole euro signs, then the ellipsis */
	const char *y = v.fingerprints.v[2];
	size_t l = strlen(y);
	CHECK(!strcmp(y + l - 3, "\xE2\x80\xA6"));
	CHECK((l - 3 - 496) % 3 == 0);
	verdict_release(&v);
	strbuf_release(&sb);

	/* files over 1 MiB are refused */
	char *p = tmp_path("huge.verdict");
	struct strbuf big = STRBUF_INIT;
	strbuf_addstr(&big, "PASS\n");
	while (big.len <= VERDICT_MAX_FILE_BYTES)
		strbuf_addstr(&big, "padding padding padding padding padding padding padding padding\n");
	CHECK(fs_write_atomic(p, big.buf, big.len, &err) == 0);
	CHECK_INT(verdict_read_decision_file(p, "c", 0, &v, &err), VERDICT_FILE_INVALID);
	CHECK_CONTAINS(err.msg, "huge.verdict");
	verdict_release(&v);
	strbuf_release(&big);
	free(p);
}

static void test_stale(void)
{
	char *p = tmp_path("review.verdict");
	struct verdict v = VERDICT_INIT;
	struct wl_err err = WL_ERR_INIT;
	int64_t now = time_wall_ms();

	CHECK_INT(verdict_read_decision_file(p, "c1", now, &v, &err), VERDICT_FILE_MISSING);

	/* by mtime: written 5 s before the check started */
	write_file(p, "{\"decision\":\"complete\",\"check_id\":\"c1\"}");
	set_mtime(p, now - 5000);
	CHECK_INT(verdict_read_decision_file(p, "c1", now, &v, &err), VERDICT_FILE_STALE);
	CHECK_CONTAINS(err.msg, "is stale: written 5000 ms before this check started");
	CHECK_INT(v.decision, VERDICT_NONE);
	/* the same file is fresh for a check that started before it */
	CHECK_INT(verdict_read_decision_file(p, "c1", now - 6000, &v, &err), VERDICT_FILE_FOUND);
	CHECK_INT(v.decision, VERDICT_COMPLETE);
	verdict_release(&v);

	/* by check_id */
	write_file(p, "{\"decision\":\"complete\",\"check_id\":\"other-check\"}");
	CHECK_INT(verdict_read_decision_file(p, "c1", now - 1000, &v, &err), VERDICT_FILE_STALE);
	CHECK_CONTAINS(err.msg, "check_id 'other-check' is not this check's 'c1'");
	CHECK_INT(v.decision, VERDICT_NONE);
	verdict_release(&v);

	/* discard */
	CHECK(verdict_discard_decision_file(p, &err) == 0);
	CHECK(!fs_exists(p));
	CHECK(verdict_discard_decision_file(p, &err) == 0);
	free(p);
}

static const char wait_failure_json[] =
	"{\"schema\":\"waitloop.wait-failure.v1\",\"check_id\":\"c1\",\"phase\":\"standalone\","
	"\"target\":\"crd/widgets.example.io\",\"reason\":\"terminal_fail\","
	"\"fingerprints\":[\"kest/control/helmrelease-failed/capi\",\"kest/control/crd-missing/widgets\"],"
	"\"elapsed_s\":12.5,\"message\":\"HelmRelease capi failed: InstallFailed\","
	"\"hints\":[\"check the chart version\"]}";

static void test_wait_failure_merge(void)
{
	char *p = tmp_path("wait-failure.json");
	struct wl_err err = WL_ERR_INIT;
	struct verdict v = VERDICT_INIT;
	v.decision = VERDICT_INCOMPLETE;
	verdict_list_add(&v.reasons, "tests fail");
	CHECK_INT(verdict_merge_wait_failure(&v, p, 0, &err), 0);   /* missing */

	write_file(p, wait_failure_json);
	int64_t now = time_wall_ms();
	set_mtime(p, now - 10000);
	CHECK_INT(verdict_merge_wait_failure(&v, p, now, &err), 0);  /* older than the check */
	CHECK_INT(v.fingerprints.n, 0);
	CHECK_INT(verdict_merge_wait_failure(&v, p, now - 20000, &err), 1);
	CHECK_INT(v.reasons.n, 2);
	CHECK_STR(v.reasons.v[1], "HelmRelease capi failed: InstallFailed");
	CHECK_INT(v.fingerprints.n, 2);
	CHECK_STR(v.fingerprints.v[0], "kest/control/crd-missing/widgets");
	CHECK_STR(v.hints.v[0], "check the chart version");
	verdict_release(&v);

	/* never into a complete decision */
	v.decision = VERDICT_COMPLETE;
	CHECK_INT(verdict_merge_wait_failure(&v, p, 0, &err), 0);
	CHECK_INT(v.fingerprints.n, 0);
	verdict_release(&v);

	write_file(p, "{\"schema\":\"something-else\"}");
	v.decision = VERDICT_INCOMPLETE;
	CHECK_INT(verdict_merge_wait_failure(&v, p, 0, &err), -1);
	CHECK_CONTAINS(err.msg, "is not a wait-failure.json");
	verdict_release(&v);
	free(p);
}

static void evidence(struct verdict_evidence *e, const char *reason, const char *msg, const char *fp)
{
	e->reason = xstrdup(reason);
	e->message = xstrdup(msg);
	verdict_list_add(&e->reasons, msg);
	verdict_list_add(&e->fingerprints, fp);
	verdict_list_add(&e->hints, "look at the HelmRelease");
}

/* roboppi: a CUSTOM check decides by exit code; only JSON naming this check_id overrides it;
 * a timed-out check fails. */
static void test_custom_check_exit_code_decides(void)
{
	struct verdict marker = VERDICT_INIT;
	marker.decision = VERDICT_COMPLETE;
	marker.source = VERDICT_SRC_MARKER;
	struct verdict_inputs in = VERDICT_INPUTS_INIT;
	in.check_id = "c1";
	in.iteration = 1;
	in.file_status = VERDICT_FILE_FOUND;
	in.file = &marker;
	in.exit_code = 1;
	in.exit_code_decides = 1;
	struct verdict v = VERDICT_INIT;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	CHECK_STR(verdict_source_name(v.source), "exit_code");
	verdict_release(&v);

	struct verdict json = VERDICT_INIT;
	json.decision = VERDICT_COMPLETE;
	json.source = VERDICT_SRC_DECISION_FILE;
	in.file = &json;
	verdict_decide(&in, &v);   /* JSON without this check's id: still the exit code */
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	verdict_release(&v);
	json.check_id_matched = 1;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_COMPLETE);
	CHECK_STR(verdict_source_name(v.source), "decision_file");
	verdict_release(&v);

	in.file_status = VERDICT_FILE_MISSING;
	in.exit_code = VERDICT_NO_EXIT_CODE;
	in.timed_out = 1;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_FAILED);
	CHECK_STR(v.message, "the completion check timed out");
	verdict_release(&v);
	verdict_release(&marker);
	verdict_release(&json);
}

static void test_decide_order(void)
{
	struct verdict_evidence guard = VERDICT_EVIDENCE_INIT, inner = VERDICT_EVIDENCE_INIT;
	evidence(&guard, "stalled", "no progress for 6 observations on crd/x", "p/stalled/no-progress");
	evidence(&inner, "terminal_fail", "HelmRelease capi failed", "p/helmrelease-failed/capi");
	struct verdict file = VERDICT_INIT;
	file.decision = VERDICT_COMPLETE;
	file.source = VERDICT_SRC_DECISION_FILE;
	verdict_list_add(&file.reasons, "all tests pass");

	/* 1. guard abort wins over a file saying complete and exit 0 → incomplete */
	struct verdict_inputs in = VERDICT_INPUTS_INIT;
	in.check_id = "c1";
	in.iteration = 3;
	in.guard_outcome = WAIT_STALLED;
	in.guard = &guard;
	in.file_status = VERDICT_FILE_FOUND;
	in.file = &file;
	in.exit_code = 0;
	struct verdict v = VERDICT_INIT;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	CHECK_STR(verdict_source_name(v.source), "wait_policy");
	CHECK_STR(v.check_id, "c1");
	CHECK_INT(v.iteration, 3);
	CHECK_STR(v.message, "no progress for 6 observations on crd/x");
	CHECK_STR(v.fingerprints.v[0], "p/stalled/no-progress");
	CHECK_INT(v.hints.n, 1);
	verdict_release(&v);

	/* on_terminal: fail → FAILED */
	in.guard_outcome = WAIT_TERMINAL_FAIL;
	in.guard_on_abort = ON_ABORT_FAIL;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_FAILED);
	CHECK_INT(v.source, VERDICT_SRC_WAIT_POLICY);
	CHECK_STR(v.reasons.v[0], "no progress for 6 observations on crd/x");   /* the wait's words first */
	CHECK_CONTAINS(v.reasons.v[v.reasons.n - 1], "on_terminal: fail");
	verdict_release(&v);

	/* 2. no guard abort: the file decides over the exit code */
	in.guard_outcome = WAIT_MET;
	in.guard_on_abort = ON_ABORT_UNSET;
	in.exit_code = 1;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_COMPLETE);
	CHECK_STR(verdict_source_name(v.source), "decision_file");
	CHECK_STR(v.reasons.v[0], "all tests pass");
	verdict_release(&v);
	file.source = VERDICT_SRC_MARKER;
	verdict_decide(&in, &v);
	CHECK_STR(verdict_source_name(v.source), "marker");
	verdict_release(&v);

	/* 3. stale file: the exit code decides */
	in.file_status = VERDICT_FILE_STALE;
	in.file_note = "decision file is stale";
	in.exit_code = 0;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_COMPLETE);
	CHECK_STR(verdict_source_name(v.source), "exit_code");
	CHECK_INT(v.reasons.n, 0);
	verdict_release(&v);
	in.exit_code = 1;
	in.inner_wait = &inner;   /* 4. adds its evidence */
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	CHECK_INT(v.source, VERDICT_SRC_EXIT_CODE);
	/* the wait that ended the check is the cause: it leads, the exit status follows */
	CHECK_STR(v.message, "HelmRelease capi failed");
	CHECK_STR(v.reasons.v[0], "HelmRelease capi failed");
	CHECK_STR(v.reasons.v[1], "the completion check exited with status 1 after its wait gave up (terminal_fail)");
	CHECK_STR(v.fingerprints.v[0], "p/helmrelease-failed/capi");
	verdict_release(&v);
	in.exit_code = 0;   /* a complete decision gets no wait evidence */
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_COMPLETE);
	CHECK_INT(v.fingerprints.n, 0);
	verdict_release(&v);

	/* exit 3 after its own `waitloop wait` stalled: incomplete, not a broken check */
	in.exit_code = 3;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	CHECK_STR(verdict_source_name(v.source), "wait_policy");
	CHECK_STR(v.reasons.v[0], "HelmRelease capi failed");
	CHECK_STR(v.reasons.v[1], "the completion check exited with status 3 after its wait gave up (terminal_fail)");
	verdict_release(&v);

	/* several named waits: the last one (it ended the check) leads, each is listed by name and command */
	{
		struct verdict_evidence w[3] = {VERDICT_EVIDENCE_INIT, VERDICT_EVIDENCE_INIT, VERDICT_EVIDENCE_INIT};
		evidence(&w[0], "timeout", "timeout after 3 observations (2.0s): max_wait 2.0s reached", "timeout");
		evidence(&w[1], "timeout", "timeout after 2 observations (1.0s): max_wait 1.0s reached", "timeout");
		evidence(&w[2], "terminal_fail", "terminal_fail after 1 observation (0.1s): HelmRelease capi Failed: chart not found",
			 "kest/helmrelease-failed/capi");
		const char *names[3] = {"crd-a", "crd-b", "crd-k0smotron"};
		for (int i = 0; i < 3; i++) {
			w[i].name = xstrdup(names[i]);
			w[i].command = xasprintf("kubectl get crd %c", 'a' + i);
		}
		in.inner_wait = w;
		in.n_inner_waits = 3;
		in.exit_code = 1;
		verdict_decide(&in, &v);
		CHECK_INT(v.decision, VERDICT_INCOMPLETE);
		CHECK_STR(v.message, "wait `crd-k0smotron` (kubectl get crd c): terminal_fail after 1 observation (0.1s): "
				     "HelmRelease capi Failed: chart not found");
		CHECK_STR(v.reasons.v[0], v.message);
		CHECK_STR(v.reasons.v[1], "wait `crd-a` (kubectl get crd a): timeout after 3 observations (2.0s): max_wait 2.0s reached");
		CHECK_STR(v.reasons.v[2], "wait `crd-b` (kubectl get crd b): timeout after 2 observations (1.0s): max_wait 1.0s reached");
		CHECK_STR(v.reasons.v[3], "the completion check exited with status 1 after its wait gave up (terminal_fail)");
		verdict_release(&v);
		for (int i = 0; i < 3; i++)
			verdict_evidence_release(&w[i]);
		in.inner_wait = &inner;
		in.n_inner_waits = 0;
		in.exit_code = 3;
	}
	/* a long command is cut (at a character boundary) so the headline stays one readable line */
	{
		struct verdict_evidence e = VERDICT_EVIDENCE_INIT;
		e.name = xstrdup("w");
		e.message = xstrdup("timeout after 1 observation (0.0s)");
		struct strbuf cmd = STRBUF_INIT;
		for (int i = 0; i < 60; i++)
			strbuf_addstr(&cmd, "é");   /* 2 bytes each */
		e.command = strbuf_detach(&cmd);
		char *h = verdict_wait_headline(&e);
		CHECK(strlen(h) < 160);
		CHECK_CONTAINS(h, "…): timeout after 1 observation");
		CHECK(strstr(h, "é…") != NULL);
		free(h);
		free(e.name);
		e.name = NULL;
		h = verdict_wait_headline(&e);   /* unnamed: the message alone */
		CHECK_STR(h, "timeout after 1 observation (0.0s)");
		free(h);
		verdict_evidence_release(&e);
	}
	/* exit 2 without a wait failure: the check is broken → FAILED */
	in.inner_wait = NULL;
	in.exit_code = 2;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_FAILED);
	CHECK_STR(verdict_source_name(v.source), "check_failed");
	CHECK_STR(v.message, "the completion check failed: exit status 2 (0 = complete, 1 = incomplete)");
	verdict_release(&v);

	/* undecidable: killed, no file; the second in a row fails the step */
	in.exit_code = VERDICT_NO_EXIT_CODE;
	in.exit_note = "killed by SIGKILL";
	in.file_status = VERDICT_FILE_MISSING;
	in.file_note = NULL;
	int streak = 0;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_INCOMPLETE);
	CHECK_STR(verdict_source_name(v.source), "undecidable");
	CHECK_STR(v.message, "the completion check gave no decision: no decision file and no exit code (killed by SIGKILL)");
	streak = verdict_undecidable_streak(streak, &v);
	CHECK_INT(streak, 1);
	verdict_release(&v);
	in.undecidable_before = streak;
	verdict_decide(&in, &v);
	CHECK_INT(v.decision, VERDICT_FAILED);
	CHECK_INT(v.source, VERDICT_SRC_UNDECIDABLE);
	CHECK_CONTAINS(v.message, "two undecidable iterations in a row fail the step");
	CHECK_INT(verdict_undecidable_streak(streak, &v), 2);
	verdict_release(&v);
	/* a decided iteration resets the streak */
	in.exit_code = 1;
	verdict_decide(&in, &v);
	CHECK_INT(verdict_undecidable_streak(1, &v), 0);
	verdict_release(&v);

	verdict_evidence_release(&guard);
	verdict_evidence_release(&inner);
	verdict_release(&file);
}

static void test_write(void)
{
	char *p = tmp_path("out/review.verdict");
	struct wl_err err = WL_ERR_INIT;
	char *dir = tmp_path("out");
	CHECK(fs_mkdir_p(dir, &err) == 0);
	struct verdict v = VERDICT_INIT;
	v.decision = VERDICT_INCOMPLETE;
	v.source = VERDICT_SRC_WAIT_POLICY;
	v.check_id = xstrdup("run1-build-check");
	v.iteration = 2;
	verdict_list_add(&v.reasons, "crd missing");
	verdict_list_add(&v.reasons, "login with password=hunter2hunter2 failed");
	verdict_list_add(&v.fingerprints, "k/crd-missing/x");
	CHECK(verdict_write(p, &v, "run1", "build", 1700000000000LL, 1700000001500LL, NULL, &err) == 0);
	cJSON *j = json_read_file(p, 1 << 20, &err);
	CHECK(j != NULL);
	CHECK_STR(json_get_string(j, "schema"), "waitloop.verdict.v1");
	CHECK_STR(json_get_string(j, "decision"), "incomplete");
	CHECK_STR(json_get_string(j, "source"), "wait_policy");
	CHECK_STR(json_get_string(j, "check_id"), "run1-build-check");
	CHECK_STR(json_get_string(j, "step"), "build");
	CHECK_STR(json_get_string(j, "run_id"), "run1");
	CHECK_STR(json_get_string(j, "decided_at"), "2023-11-14T22:13:21.500Z");
	CHECK_INT(cJSON_GetObjectItem(j, "iteration")->valueint, 2);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "fingerprints")), 1);
	cJSON_Delete(j);
	struct strbuf raw = STRBUF_INIT;
	CHECK(fs_read_file(p, 1 << 20, &raw, &err) == 0);
	CHECK(!strstr(strbuf_str(&raw), "hunter2hunter2"));
	CHECK_CONTAINS(strbuf_str(&raw), "[REDACTED]");
	strbuf_release(&raw);
	/* and the runner's own file reads back as this check's decision */
	struct verdict back = VERDICT_INIT;
	CHECK_INT(verdict_read_decision_file(p, "run1-build-check", 0, &back, &err), VERDICT_FILE_FOUND);
	CHECK_INT(back.decision, VERDICT_INCOMPLETE);
	CHECK_STR(back.reasons.v[0], "crd missing");
	verdict_release(&back);
	verdict_release(&v);
	free(p);
	free(dir);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_json_decision);
	TEST(test_markers);
	TEST(test_decision_words);
	TEST(test_bounds);
	TEST(test_stale);
	TEST(test_wait_failure_merge);
	TEST(test_decide_order);
	TEST(test_custom_check_exit_code_decides);
	TEST(test_write);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
