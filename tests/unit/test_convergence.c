/* timeout: 60 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convergence.h"
#include "fsutil.h"
#include "harness.h"
#include "jsonutil.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-test-conv.XXXXXX";

static void cfg_init(struct wl_convergence *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->present = 1;
	cfg->enabled = WL_UNSET;
	cfg->stall_threshold = WL_UNSET;
	cfg->max_stage = WL_UNSET;
	cfg->fail_on_max_stage = WL_UNSET;
	cfg->max_changed_files = WL_UNSET;
	cfg->no_change_limit = WL_UNSET;
}

static void set_of(struct strvec *sv, const char *a, const char *b)
{
	strvec_clear(sv);
	if (a)
		strvec_push(sv, a);
	if (b)
		strvec_push(sv, b);
}

/* Validate a JSON file against schema/<name>.schema.json with python3-jsonschema. */
static int schema_valid(const char *name, const char *file)
{
	char *cmd = xasprintf("/usr/bin/python3 -c 'import json,sys; from jsonschema import Draft202012Validator as V; "
			      "s=json.load(open(sys.argv[1])); V.check_schema(s); "
			      "e=list(V(s).iter_errors(json.load(open(sys.argv[2])))); [print(list(x.path), x.message) for x in e]; "
			      "sys.exit(1 if e else 0)' schema/%s.schema.json '%s'", name, file);
	int rc = system(cmd);
	free(cmd);
	return rc == 0;
}

static void test_repeating_stops_at_max_stage(void)
{
	struct wl_convergence cfg;
	cfg_init(&cfg);
	char *path = fs_join(tmpdir, "convergence.json");
	struct convergence *c = convergence_new(&cfg, "build", path);
	struct strvec fps = STRVEC_INIT;
	struct wl_err err = WL_ERR_INIT;
	/* unsorted, duplicated input: the set is what counts */
	set_of(&fps, "k/crd-missing/x", "k/helmrelease-failed/capi");
	CHECK_INT(convergence_stage(c), 1);
	CHECK(convergence_append_instructions(c) == NULL);
	CHECK_INT(convergence_observe(c, 1, &fps), CONVERGENCE_CONTINUE);
	set_of(&fps, "k/helmrelease-failed/capi", "k/crd-missing/x");
	CHECK_INT(convergence_observe(c, 2, &fps), CONVERGENCE_STAGE_UP);
	CHECK_INT(convergence_stage(c), 2);
	CHECK_CONTAINS(convergence_append_instructions(c), "stage 2");
	CHECK_INT(convergence_observe(c, 3, &fps), CONVERGENCE_STAGE_UP);
	CHECK_INT(convergence_stage(c), 3);
	CHECK_CONTAINS(convergence_append_instructions(c), "stage 3");
	CHECK(convergence_diagnosis(c) == NULL);
	CHECK(convergence_write(c, &err) == 0);
	CHECK(schema_valid("convergence", path));
	CHECK_INT(convergence_observe(c, 4, &fps), CONVERGENCE_STOP);
	CHECK(convergence_stopped(c));
	CHECK_STR(convergence_stop_fingerprint(c), "loop/not-converging");
	CHECK_STR(convergence_diagnosis(c),
		  "not converging: the same failure (k/crd-missing/x, k/helmrelease-failed/capi) repeated 2 iterations "
		  "in a row at every stage up to max_stage 3; stopped at iteration 4");
	/* stays stopped */
	set_of(&fps, "other", NULL);
	CHECK_INT(convergence_observe(c, 5, &fps), CONVERGENCE_STOP);
	CHECK(convergence_write(c, &err) == 0);
	CHECK(schema_valid("convergence", path));

	cJSON *j = json_read_file(path, 1 << 20, &err);
	CHECK(j != NULL);
	CHECK_STR(json_get_string(j, "status"), "stopped");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "transitions")), 2);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "iterations")), 4);
	const cJSON *d = cJSON_GetObjectItem(j, "diagnosis");
	CHECK_STR(json_get_string(d, "fingerprint"), "loop/not-converging");
	CHECK_INT(cJSON_GetObjectItem(d, "iteration")->valueint, 4);
	const cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "transitions"), 0);
	CHECK_INT(cJSON_GetObjectItem(t0, "iteration")->valueint, 2);
	CHECK_INT(cJSON_GetObjectItem(t0, "to_stage")->valueint, 2);
	cJSON_Delete(j);
	strvec_clear(&fps);
	convergence_free(c);
	free(path);
}

static void test_changing_never_stops(void)
{
	struct wl_convergence cfg;
	cfg_init(&cfg);
	struct convergence *c = convergence_new(&cfg, "build", NULL);
	struct strvec fps = STRVEC_INIT;
	for (int i = 1; i <= 40; i++) {
		char fp[32];
		snprintf(fp, sizeof(fp), "tests/failing-%d", i % 4);  /* sets cycle; no two in a row are equal */
		set_of(&fps, fp, i % 3 ? "lint" : NULL);
		CHECK_INT(convergence_observe(c, i, &fps), CONVERGENCE_CONTINUE);
	}
	CHECK_INT(convergence_stage(c), 1);
	CHECK(!convergence_stopped(c));
	/* empty sets carry no evidence of repetition */
	for (int i = 41; i <= 50; i++)
		CHECK_INT(convergence_observe(c, i, NULL), CONVERGENCE_CONTINUE);
	CHECK_INT(convergence_stage(c), 1);
	strvec_clear(&fps);
	convergence_free(c);
}

static void test_settings_and_stages(void)
{
	struct wl_convergence cfg;
	cfg_init(&cfg);
	struct wl_stage stages[] = {{2, (char *)"Try a different library."}};
	cfg.stages = stages;
	cfg.nstages = 1;
	cfg.stall_threshold = 3;
	cfg.max_stage = 2;
	cfg.fail_on_max_stage = 0;
	struct convergence *c = convergence_new(&cfg, "s", NULL);
	struct strvec fps = STRVEC_INIT;
	set_of(&fps, "a", NULL);
	CHECK_INT(convergence_observe(c, 1, &fps), CONVERGENCE_CONTINUE);
	CHECK_INT(convergence_observe(c, 2, &fps), CONVERGENCE_CONTINUE);
	CHECK_INT(convergence_observe(c, 3, &fps), CONVERGENCE_STAGE_UP);
	CHECK_STR(convergence_append_instructions(c), "Try a different library.");
	CHECK_INT(convergence_observe(c, 4, &fps), CONVERGENCE_CONTINUE);
	/* fail_on_max_stage: false → diagnosis but no stop */
	CHECK_INT(convergence_observe(c, 5, &fps), CONVERGENCE_CONTINUE);
	CHECK(!convergence_stopped(c));
	CHECK_CONTAINS(convergence_diagnosis(c), "going on because fail_on_max_stage is false");
	CHECK_INT(convergence_stage(c), 2);
	convergence_free(c);

	/* disabled: never escalates, appends nothing */
	cfg.enabled = 0;
	c = convergence_new(&cfg, "s", NULL);
	for (int i = 1; i <= 10; i++)
		CHECK_INT(convergence_observe(c, i, &fps), CONVERGENCE_CONTINUE);
	CHECK(convergence_append_instructions(c) == NULL);
	convergence_free(c);
	/* absent block: the same */
	c = convergence_new(NULL, "s", NULL);
	for (int i = 1; i <= 10; i++)
		CHECK_INT(convergence_observe(c, i, &fps), CONVERGENCE_CONTINUE);
	convergence_free(c);
	/* built-in texts */
	CHECK(convergence_stage_instructions(NULL, 1) == NULL);
	CHECK_CONTAINS(convergence_stage_instructions(NULL, 7), "stage 3");
	strvec_clear(&fps);
}

static void test_no_change(void)
{
	struct wl_convergence cfg;
	cfg_init(&cfg);
	cfg.no_change_limit = 2;
	char *path = fs_join(tmpdir, "nc.json");
	struct convergence *c = convergence_new(&cfg, "impl", path);
	struct strvec fps = STRVEC_INIT;
	struct wl_err err = WL_ERR_INIT;
	set_of(&fps, "a", NULL);
	CHECK_INT(convergence_observe(c, 1, &fps), CONVERGENCE_CONTINUE);
	CHECK_INT(convergence_note_changes(c, 1, 0), CONVERGENCE_CONTINUE);
	set_of(&fps, "b", NULL);
	CHECK_INT(convergence_observe(c, 2, &fps), CONVERGENCE_CONTINUE);
	CHECK_INT(convergence_note_changes(c, 2, 3), CONVERGENCE_CONTINUE);   /* resets */
	set_of(&fps, "c", NULL);
	CHECK_INT(convergence_observe(c, 3, &fps), CONVERGENCE_CONTINUE);
	CHECK_INT(convergence_note_changes(c, 3, 0), CONVERGENCE_CONTINUE);
	CHECK_INT(convergence_note_changes(c, 4, -1), CONVERGENCE_CONTINUE);  /* unknown: neutral */
	CHECK_INT(convergence_note_changes(c, 5, 0), CONVERGENCE_STOP);
	CHECK_STR(convergence_stop_fingerprint(c), "loop/no-change");
	CHECK_CONTAINS(convergence_diagnosis(c), "changed no file in the workspace for 2 iterations in a row");
	CHECK(convergence_write(c, &err) == 0);
	CHECK(schema_valid("convergence", path));
	strvec_clear(&fps);
	convergence_free(c);
	free(path);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_repeating_stops_at_max_stage);
	TEST(test_changing_never_stops);
	TEST(test_settings_and_stages);
	TEST(test_no_change);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
