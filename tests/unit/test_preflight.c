/*
 * preflight: every kind of check against real files, environments, PATH
 * lookups and shell processes in a temp directory.
 */
/* timeout: 60 */
#include "harness.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "events.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "preflight.h"
#include "timeutil.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-preflight.XXXXXX";

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char *p = fs_join(tmpdir, rel);
	CHECK_INT(fs_write_atomic(p, text, strlen(text), NULL), 0);
	chmod(p, mode);
	free(p);
}

static void env_init(struct strvec *env)
{
	char *bin = fs_join(tmpdir, "bin");
	strvec_pushf(env, "PATH=%s:/usr/bin:/bin", bin);
	strvec_push(env, "WL_TEST_SET=yes");
	strvec_push(env, "WL_TEST_EMPTY=");
	free(bin);
}

/* A preflight entry; strings owned by the workflow (freed by workflow_free). */
static struct wl_preflight *add_entry(struct wl_workflow *wf, enum wl_preflight_kind kind)
{
	wf->preflight = xrealloc(wf->preflight, (wf->npreflight + 1) * sizeof(*wf->preflight));
	struct wl_preflight *p = &wf->preflight[wf->npreflight++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->timeout = WL_UNSET;
	p->pos.line = (int)wf->npreflight;
	return p;
}

static struct wl_preflight *add_check(struct wl_workflow *wf, const char *name, const char *command,
				      int64_t timeout, const char *fingerprint)
{
	struct wl_preflight *p = add_entry(wf, PREFLIGHT_CHECK);
	p->name = xstrdup(name);
	p->command = xstrdup(command);
	p->timeout = timeout;
	p->fingerprint = xstrdup(fingerprint);
	return p;
}

static const struct preflight_result *find(const struct preflight_report *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->results[i].name, name))
			return &r->results[i];
	return NULL;
}

static void test_preflight_collects_every_failure(void)
{
	struct wl_workflow *wf = xcalloc(1, sizeof(*wf));   /* workflow_free() frees it */
	struct wl_preflight *p = add_entry(wf, PREFLIGHT_COMMANDS);
	strvec_push(&p->items, "sh");
	strvec_push(&p->items, "waitloop-no-such-tool");
	strvec_push(&p->items, "./tools/local-tool.sh");
	write_file("local-tool.sh", "#!/bin/sh\n", 0755);   /* not under tools/: missing */
	p = add_entry(wf, PREFLIGHT_ENV);
	strvec_push(&p->items, "WL_TEST_SET");
	strvec_push(&p->items, "WL_TEST_UNSET");
	strvec_push(&p->items, "WL_TEST_EMPTY");
	p = add_entry(wf, PREFLIGHT_FILES);
	strvec_push(&p->items, "request.md");
	strvec_push(&p->items, "present.txt");
	p->fingerprint = xstrdup("inputs/missing");
	write_file("present.txt", "x\n", 0644);
	add_check(wf, "passes", "test -f present.txt", WL_UNSET, NULL);
	add_check(wf, "fails", "echo some output; exit 4", WL_UNSET, NULL);

	struct strvec env = STRVEC_INIT;
	env_init(&env);
	struct preflight_report rep = PREFLIGHT_REPORT_INIT;
	CHECK_INT(preflight_run(wf, &env, tmpdir, &rep), 6);
	CHECK_INT(rep.nfailed, 6);
	CHECK_INT(rep.n, 10);
	CHECK_INT(rep.interrupted, 0);
	const struct preflight_result *r;
	CHECK((r = find(&rep, "sh")) && r->ok && !r->fingerprint);
	r = find(&rep, "waitloop-no-such-tool");
	CHECK(r && !r->ok);
	if (r) {
		CHECK_STR(r->fingerprint, "preflight/command-missing/waitloop-no-such-tool");
		CHECK_STR(r->message, "command 'waitloop-no-such-tool' not found in PATH");
		CHECK_INT(r->kind, PREFLIGHT_COMMANDS);
		CHECK_INT(r->pos.line, 1);
	}
	r = find(&rep, "./tools/local-tool.sh");
	CHECK(r && !r->ok);
	if (r)
		CHECK_STR(r->fingerprint, "preflight/command-missing/./tools/local-tool.sh");
	CHECK((r = find(&rep, "WL_TEST_SET")) && r->ok);
	r = find(&rep, "WL_TEST_UNSET");
	CHECK(r && !r->ok);
	if (r) {
		CHECK_STR(r->fingerprint, "preflight/env-missing/WL_TEST_UNSET");
		CHECK_STR(r->message, "environment variable 'WL_TEST_UNSET' is not set");
	}
	r = find(&rep, "WL_TEST_EMPTY");
	CHECK(r && !r->ok);
	if (r)
		CHECK_STR(r->message, "environment variable 'WL_TEST_EMPTY' is empty");
	r = find(&rep, "request.md");
	CHECK(r && !r->ok);
	if (r) {
		CHECK_STR(r->fingerprint, "inputs/missing");   /* given fingerprint wins */
		CHECK_STR(r->message, "file 'request.md' not found");
	}
	CHECK((r = find(&rep, "present.txt")) && r->ok);
	CHECK((r = find(&rep, "passes")) && r->ok);
	r = find(&rep, "fails");
	CHECK(r && !r->ok);
	if (r) {
		CHECK_STR(r->fingerprint, "preflight/check-failed/fails");
		CHECK_STR(r->message, "check 'fails' failed (exit 4)");
		CHECK_CONTAINS(r->output, "some output");
	}
	/* results come in workflow order */
	CHECK_STR(rep.results[0].name, "sh");
	CHECK_STR(rep.results[9].name, "fails");
	preflight_report_release(&rep);
	strvec_clear(&env);
	workflow_free(wf);
}

static void test_preflight_fake_kubectl_empty_data(void)
{
	/* kubectl answers, but the ConfigMap has no data: the check must fail fast */
	write_file("bin/kubectl", "#!/bin/sh\nexit 0\n", 0755);
	struct wl_workflow *wf = xcalloc(1, sizeof(*wf));   /* workflow_free() frees it */
	add_check(wf, "agent-templates-present",
		  "kubectl get configmap controller-agent-templates -o jsonpath='{.data}' | grep -q .", 600000,
		  "preflight/configmap-missing");
	struct wl_preflight *p = add_entry(wf, PREFLIGHT_COMMANDS);
	strvec_push(&p->items, "kubectl");
	struct strvec env = STRVEC_INIT;
	env_init(&env);
	struct preflight_report rep = PREFLIGHT_REPORT_INIT;
	int64_t t0 = time_now_ms();
	CHECK_INT(preflight_run(wf, &env, tmpdir, &rep), 1);
	int64_t took = time_now_ms() - t0;
	fprintf(stderr, "  fake kubectl: check failed after %lld ms\n", (long long)took);
	CHECK(took < 60000);   /* failed, not timed out: well before its 10 min timeout */
	const struct preflight_result *r = find(&rep, "agent-templates-present");
	CHECK(r && !r->ok);
	if (r) {
		CHECK_STR(r->fingerprint, "preflight/configmap-missing");
		CHECK_STR(r->message, "check 'agent-templates-present' failed (exit 1)");
	}
	CHECK((r = find(&rep, "kubectl")) && r->ok);   /* found on PATH from env */
	preflight_report_release(&rep);

	/* the same check passes once the ConfigMap has data */
	write_file("bin/kubectl", "#!/bin/sh\nprintf '{\"implement.md\":\"...\"}'\n", 0755);
	memset(&rep, 0, sizeof(rep));
	CHECK_INT(preflight_run(wf, &env, tmpdir, &rep), 0);
	CHECK((r = find(&rep, "agent-templates-present")) && r->ok);
	preflight_report_release(&rep);
	strvec_clear(&env);
	workflow_free(wf);
}

static void test_preflight_checks_parallel_and_timeout(void)
{
	struct wl_workflow *wf = xcalloc(1, sizeof(*wf));   /* workflow_free() frees it */
	/* A barrier: each check succeeds only if it sees the other two running
	 * (their files) within 60 s; in sequence the first would fail. */
#define BARRIER(me) "touch pf-bar-" me "; for i in $(seq 600); do [ -e pf-bar-a ] && [ -e pf-bar-b ] && " \
		    "[ -e pf-bar-c ] && exit 0; sleep 0.1; done; exit 1"
	add_check(wf, "slow-a", BARRIER("a"), 120000, NULL);
	add_check(wf, "slow-b", BARRIER("b"), 120000, NULL);
	add_check(wf, "slow-c", BARRIER("c"), 120000, NULL);
#undef BARRIER
	add_check(wf, "hangs", "trap '' INT; sleep 600", 300, NULL);
	struct strvec env = STRVEC_INIT;
	env_init(&env);
	struct preflight_report rep = PREFLIGHT_REPORT_INIT;
	CHECK_INT(preflight_run(wf, &env, tmpdir, &rep), 1);
	fprintf(stderr, "  3 checks meeting at a barrier + a hanging check (timeout 300ms): %lld ms\n",
		(long long)rep.elapsed_ms);
	const struct preflight_result *r = find(&rep, "hangs");
	CHECK(r && !r->ok);
	if (r) {
		CHECK_STR(r->message, "check 'hangs' timed out after 300ms");
		CHECK_STR(r->fingerprint, "preflight/check-failed/hangs");
	}
	CHECK((r = find(&rep, "slow-a")) && r->ok);
	CHECK((r = find(&rep, "slow-b")) && r->ok);
	CHECK((r = find(&rep, "slow-c")) && r->ok);
	preflight_report_release(&rep);
	strvec_clear(&env);
	workflow_free(wf);
}

static void test_preflight_missing_shell(void)
{
	struct wl_workflow *wf = xcalloc(1, sizeof(*wf));   /* workflow_free() frees it */
	wf->shell = xstrdup("waitloop-no-such-shell");
	add_check(wf, "x", "true", 5000, NULL);
	struct strvec env = STRVEC_INIT;
	env_init(&env);
	struct preflight_report rep = PREFLIGHT_REPORT_INIT;
	CHECK_INT(preflight_run(wf, &env, tmpdir, &rep), 1);
	CHECK(rep.n == 1 && !rep.results[0].ok);
	if (rep.n == 1)
		CHECK_CONTAINS(rep.results[0].message, "check 'x' could not start: ");
	preflight_report_release(&rep);
	strvec_clear(&env);
	workflow_free(wf);
}

static void test_preflight_event_data(void)
{
	struct preflight_result r = {PREFLIGHT_ENV, (char *)(uintptr_t)"KUBECONFIG", 0,
				     (char *)(uintptr_t)"preflight/env-missing/KUBECONFIG",
				     (char *)(uintptr_t)"environment variable 'KUBECONFIG' is not set", NULL, 0, {3, 5}};
	cJSON *d = preflight_event_data(&r);
	char *s = json_compact(d);
	CHECK_STR(s, "{\"kind\":\"require_env\",\"name\":\"KUBECONFIG\",\"ok\":false,"
		     "\"fingerprint\":\"preflight/env-missing/KUBECONFIG\","
		     "\"message\":\"environment variable 'KUBECONFIG' is not set\"}");
	/* as an event line it matches schema/event.schema.json */
	struct wl_event ev = {EV_PREFLIGHT, time_wall_ms(), "run-1", NULL, 0, 0, d, CLASS_UNSET};
	cJSON *o = event_to_json(&ev);
	char *line = json_compact(o);
	char *path = fs_join(tmpdir, "preflight-event.json");
	CHECK_INT(fs_write_atomic(path, line, strlen(line), NULL), 0);
	const char *root = getenv("WAITLOOP_ROOT");
	char *cmd = xasprintf("/usr/bin/python3 -c 'import json,sys\n"
			      "from jsonschema import Draft202012Validator as V\n"
			      "V(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))' "
			      "'%s/schema/event.schema.json' '%s'",
			      root ? root : ".", path);
	int rc = system(cmd);
	CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	free(cmd);
	free(path);
	free(line);
	cJSON_Delete(o);
	free(s);
	cJSON_Delete(d);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 2;
	char *bin = fs_join(tmpdir, "bin");
	fs_mkdir_p(bin, NULL);
	free(bin);
	TEST(test_preflight_collects_every_failure);
	TEST(test_preflight_fake_kubectl_empty_data);
	TEST(test_preflight_checks_parallel_and_timeout);
	TEST(test_preflight_missing_shell);
	TEST(test_preflight_event_data);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
