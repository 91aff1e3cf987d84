#include "preflight.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "evloop.h"
#include "proc.h"
#include "timeutil.h"
#include "xalloc.h"

#define CHECK_GRACE_MS 1000
#define OUTPUT_TAIL 1024

const char *preflight_kind_name(enum wl_preflight_kind kind)
{
	switch (kind) {
	case PREFLIGHT_COMMANDS:
		return "require_commands";
	case PREFLIGHT_ENV:
		return "require_env";
	case PREFLIGHT_FILES:
		return "require_files";
	case PREFLIGHT_CHECK:
		return "check";
	}
	return "unknown";
}

static struct preflight_result *add_result(struct preflight_report *out, const struct wl_preflight *p,
					   const char *name)
{
	XGROW(out->results, out->n + 1, out->alloc);
	struct preflight_result *r = &out->results[out->n++];
	memset(r, 0, sizeof(*r));
	r->kind = p->kind;
	r->name = xstrdup(name ? name : "");
	r->pos = p->pos;
	r->ok = 1;
	return r;
}

static void fail(struct preflight_report *out, struct preflight_result *r, const struct wl_preflight *p,
		 const char *default_kind, char *message)
{
	r->ok = 0;
	r->message = message;
	r->fingerprint = p->fingerprint ? xstrdup(p->fingerprint)
					: xasprintf("preflight/%s/%s", default_kind, r->name);
	out->nfailed++;
}

static const char *env_get(const struct strvec *env, const char *name)
{
	return env ? strvec_getenv(env, name) : getenv(name);
}

/* The command of a preflight check, found as the child would find it
 * (relative names and PATH elements from the check's cwd). */
static int command_found(const char *cmd, const struct strvec *env, const char *cwd)
{
	int e = 0;
	char *p = fs_find_command(cmd, env_get(env, "PATH"), cwd, &e);
	int found = p != NULL;
	free(p);
	return found;
}

/* One named check in flight on the private loop. */
struct running {
	struct preflight_report *out;
	size_t idx;               /* into out->results (the array does not move once checks start) */
	const struct wl_preflight *p;
	struct proc *proc;
	int done;
	int *left;
};

static void on_check_exit(void *arg, const struct proc_result *res)
{
	struct running *c = arg;
	struct preflight_result *r = &c->out->results[c->idx];
	char tmo[32];
	int64_t timeout = c->p->timeout > 0 ? c->p->timeout : PREFLIGHT_DEFAULT_TIMEOUT_MS;
	duration_format(timeout, tmo, sizeof(tmo));
	r->duration_ms = res->end_ms - res->start_ms;
	c->done = 1;
	c->proc = NULL;
	(*c->left)--;
	if (res->exited && res->exit_code == 0 && !res->timed_out && !res->stopped)
		return;
	char *msg;
	if (res->exec_failed)
		msg = xasprintf("check '%s' could not start: %s", r->name, res->exec_error);
	else if (res->timed_out)
		msg = xasprintf("check '%s' timed out after %s", r->name, tmo);
	else if (res->stopped)
		msg = xasprintf("check '%s' was interrupted", r->name);
	else if (res->exited)
		msg = xasprintf("check '%s' failed (exit %d)", r->name, res->exit_code);
	else
		msg = xasprintf("check '%s' killed by signal %d", r->name, res->signo);
	fail(c->out, r, c->p, "check-failed", msg);
	if (res->tail_len)
		r->output = xstrndup(res->tail, res->tail_len);
}

struct check_run {
	struct running *c;
	size_t n;
	struct preflight_report *out;
};

static void on_signal(void *arg, int signo)
{
	struct check_run *cr = arg;
	if (!cr->out->interrupted)
		cr->out->interrupted = signo;
	for (size_t i = 0; i < cr->n; i++)
		if (cr->c[i].proc)
			proc_stop(cr->c[i].proc);
}

static void run_checks(const struct wl_workflow *wf, const struct strvec *env, const char *cwd,
		       struct preflight_report *out, size_t *idx, const struct wl_preflight **which, size_t n)
{
	struct evloop *l = evloop_new();
	struct running *c = xcalloc(n, sizeof(*c));
	struct check_run cr = {c, n, out};
	static const int stop_on[] = {SIGINT, SIGTERM, SIGHUP};
	int left = 0;
	const char *shell = wf->shell ? wf->shell : "bash";
	for (size_t i = 0; i < 3; i++)
		evloop_on_signal(l, stop_on[i], on_signal, &cr);
	for (size_t i = 0; i < n; i++) {
		const struct wl_preflight *p = which[i];
		c[i] = (struct running){out, idx[i], p, NULL, 0, &left};
		char *argv[] = {(char *)(uintptr_t)shell, (char *)(uintptr_t)"-e", (char *)(uintptr_t)"-c",
				p->command, NULL};
		struct proc_spec spec = PROC_SPEC_INIT;
		spec.argv = argv;
		spec.env = env ? env->v : NULL;
		spec.cwd = cwd;
		spec.capture_tail = OUTPUT_TAIL;
		spec.tail_redactor = out->rd;
		spec.timeout_ms = p->timeout > 0 ? p->timeout : PREFLIGHT_DEFAULT_TIMEOUT_MS;
		spec.grace_ms = CHECK_GRACE_MS;
		spec.linger_ms = 200;
		spec.on_exit = on_check_exit;
		spec.arg = &c[i];
		struct wl_err err = WL_ERR_INIT;
		left++;
		c[i].proc = proc_start(l, &spec, &err);
		if (!c[i].proc && !c[i].done) {
			left--;
			c[i].done = 1;
			struct preflight_result *r = &out->results[idx[i]];
			fail(out, r, p, "check-failed", xasprintf("check '%s' could not start: %s", r->name, err.msg));
		}
	}
	while (left > 0)
		evloop_run_once(l);
	for (size_t i = 0; i < 3; i++)
		evloop_off_signal(l, stop_on[i], on_signal, &cr);
	evloop_free(l);
	free(c);
}

int preflight_run(const struct wl_workflow *wf, const struct strvec *env, const char *cwd,
		  struct preflight_report *out)
{
	int64_t t0 = time_now_ms();
	size_t *idx = xcalloc(wf->npreflight ? wf->npreflight : 1, sizeof(*idx));
	const struct wl_preflight **which = xcalloc(wf->npreflight ? wf->npreflight : 1, sizeof(*which));
	size_t nchecks = 0;
	for (size_t i = 0; i < wf->npreflight; i++) {
		const struct wl_preflight *p = &wf->preflight[i];
		switch (p->kind) {
		case PREFLIGHT_COMMANDS:
			for (size_t k = 0; k < p->items.n; k++) {
				struct preflight_result *r = add_result(out, p, p->items.v[k]);
				if (!command_found(r->name, env, cwd))
					fail(out, r, p, "command-missing",
					     xasprintf(strchr(r->name, '/') ? "command '%s' not found or not executable"
									: "command '%s' not found in PATH",
						       r->name));
			}
			break;
		case PREFLIGHT_ENV:
			for (size_t k = 0; k < p->items.n; k++) {
				struct preflight_result *r = add_result(out, p, p->items.v[k]);
				const char *v = env_get(env, r->name);
				if (!v || !*v)
					fail(out, r, p, "env-missing",
					     xasprintf(v ? "environment variable '%s' is empty"
							 : "environment variable '%s' is not set",
						       r->name));
			}
			break;
		case PREFLIGHT_FILES:
			for (size_t k = 0; k < p->items.n; k++) {
				struct preflight_result *r = add_result(out, p, p->items.v[k]);
				char *path = cwd ? fs_join(cwd, r->name) : xstrdup(r->name);
				if (!fs_exists(path))
					fail(out, r, p, "file-missing", xasprintf("file '%s' not found", r->name));
				free(path);
			}
			break;
		case PREFLIGHT_CHECK: {
			add_result(out, p, p->name ? p->name : p->command);
			idx[nchecks] = out->n - 1;
			which[nchecks++] = p;
			break;
		}
		}
	}
	if (nchecks)
		run_checks(wf, env, cwd, out, idx, which, nchecks);
	free(idx);
	free(which);
	out->elapsed_ms = time_now_ms() - t0;
	return (int)out->nfailed;
}

void preflight_report_release(struct preflight_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->results[i].name);
		free(r->results[i].fingerprint);
		free(r->results[i].message);
		free(r->results[i].output);
	}
	free(r->results);
	memset(r, 0, sizeof(*r));
}

cJSON *preflight_event_data(const struct preflight_result *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", preflight_kind_name(r->kind));
	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddBoolToObject(o, "ok", r->ok);
	if (r->fingerprint)
		cJSON_AddStringToObject(o, "fingerprint", r->fingerprint);
	cJSON_AddStringToObject(o, "message", r->message ? r->message : "ok");
	if (r->kind == PREFLIGHT_CHECK)
		cJSON_AddNumberToObject(o, "duration_s", (double)r->duration_ms / 1000.0);
	return o;
}
