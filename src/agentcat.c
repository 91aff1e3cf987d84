/*
 * agentcat: roboppi agent catalogs applied to a loaded workflow (agentcat.h).
 */
#include "agentcat.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "strbuf.h"
#include "suggest.h"
#include "timeutil.h"
#include "xalloc.h"
#include "yamlnode.h"

struct profile {
	char *name;
	const char *file;             /* borrowed from the catalog's file list */
	int line, col;
	char *description;
	enum wl_worker worker;
	struct strvec default_args;
	int has_default_args;
	char *model, *variant;
	char *base_instructions;      /* NULL = not given */
	struct strvec capabilities;
	int has_capabilities;
	char *workspace;
	int64_t timeout;              /* WL_UNSET = not given */
};

struct catalog {
	struct profile *p;
	size_t n;
	struct strvec files;          /* the files read, for positions */
	struct errlist *diags;
	size_t errors;
};

static const char *const PROFILE_KEYS[] = {
	"description", "worker", "defaultArgs", "mcp_configs", "mcp_servers", "strict_mcp_config",
	"model", "variant", "base_instructions", "capabilities", "workspace", "timeout", "max_steps",
	"max_command_time", NULL};
/* roboppi fields waitloop reads but does not act on (a warning each). */
static const char *const PROFILE_IGNORED[] = {
	"mcp_configs", "mcp_servers", "strict_mcp_config", "max_steps", "max_command_time", NULL};
static const char *const CAPABILITIES[] = {"READ", "EDIT", "RUN_TESTS", "RUN_COMMANDS", "MAILBOX", "TASKS", NULL};

static void cat_err(struct catalog *c, const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void cat_err(struct catalog *c, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errlist_vadd(c->diags, DIAG_ERROR, file, line, col, fmt, ap);
	va_end(ap);
	c->errors++;
}

static int is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static void profile_release(struct profile *p)
{
	free(p->name);
	free(p->description);
	strvec_clear(&p->default_args);
	free(p->model);
	free(p->variant);
	free(p->base_instructions);
	strvec_clear(&p->capabilities);
	free(p->workspace);
}

static struct profile *find_profile(struct catalog *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->p[i].name, name))
			return &c->p[i];
	return NULL;
}

/* A string field; empty_ok for base_instructions (roboppi: "" clears it). */
static char *get_string(struct catalog *c, const char *file, const char *agent, const struct ynode *k,
			const struct ynode *v, int empty_ok)
{
	if (!v || v->kind != YNODE_SCALAR || v->type != YSCALAR_STR || (!empty_ok && !v->value[0])) {
		cat_err(c, file, v ? v->line : k->line, v ? v->col : k->col,
			"'agents.%s.%s' must be a %sstring", agent, k->value, empty_ok ? "" : "non-empty ");
		return NULL;
	}
	return xstrdup(v->value);
}

static int get_list(struct catalog *c, const char *file, const char *agent, const struct ynode *k,
		    const struct ynode *v, const char *const *allowed, struct strvec *out)
{
	if (!v || v->kind != YNODE_SEQUENCE) {
		cat_err(c, file, v ? v->line : k->line, v ? v->col : k->col, "'agents.%s.%s' must be a list",
			agent, k->value);
		return 0;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		if (it->kind != YNODE_SCALAR || it->type == YSCALAR_NULL) {
			cat_err(c, file, it->line, it->col, "'agents.%s.%s' must contain only strings", agent,
				k->value);
			continue;
		}
		if (allowed && !is_one_of(it->value, allowed)) {
			const char *s = suggest_closest(it->value, allowed);
			cat_err(c, file, it->line, it->col,
				"invalid capability '%s' in 'agents.%s.capabilities'%s%s%s (valid: READ, EDIT, RUN_TESTS, RUN_COMMANDS, MAILBOX, TASKS)",
				it->value, agent, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
			continue;
		}
		strvec_push(out, it->value);
	}
	return 1;
}

static void load_profile(struct catalog *c, const char *file, const struct ynode *key, const struct ynode *v)
{
	const char *agent = key->value;
	if (!agent[0] || strspn(agent, " \t") == strlen(agent)) {
		cat_err(c, file, key->line, key->col, "'agents' must not contain an empty key");
		return;
	}
	if (!v || v->kind != YNODE_MAPPING) {
		cat_err(c, file, v ? v->line : key->line, v ? v->col : key->col, "'agents.%s' must be a mapping",
			agent);
		return;
	}
	struct profile *p = find_profile(c, agent);
	if (p) {   /* a later file wins, as roboppi's object spread */
		profile_release(p);
	} else {
		c->p = xrealloc(c->p, (c->n + 1) * sizeof(*c->p));
		p = &c->p[c->n++];
	}
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(agent);
	p->file = file;
	p->line = key->line;
	p->col = key->col;
	p->timeout = WL_UNSET;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *k = v->keys[i], *fv = v->items[i];
		const char *f = k->value;
		if (!strcmp(f, "description")) {
			p->description = get_string(c, file, agent, k, fv, 0);
		} else if (!strcmp(f, "worker")) {
			char *w = get_string(c, file, agent, k, fv, 0);
			if (w && worker_parse(w, &p->worker) < 0)
				cat_err(c, file, fv->line, fv->col,
					"'agents.%s.worker' must be one of CUSTOM, CLAUDE_CODE, CODEX_CLI, OPENCODE (got '%s')",
					agent, w);
			free(w);
		} else if (!strcmp(f, "defaultArgs")) {
			p->has_default_args = get_list(c, file, agent, k, fv, NULL, &p->default_args);
		} else if (!strcmp(f, "model")) {
			p->model = get_string(c, file, agent, k, fv, 0);
		} else if (!strcmp(f, "variant")) {
			p->variant = get_string(c, file, agent, k, fv, 0);
		} else if (!strcmp(f, "base_instructions")) {
			p->base_instructions = get_string(c, file, agent, k, fv, 1);
		} else if (!strcmp(f, "capabilities")) {
			p->has_capabilities = get_list(c, file, agent, k, fv, CAPABILITIES, &p->capabilities);
		} else if (!strcmp(f, "workspace")) {
			p->workspace = get_string(c, file, agent, k, fv, 0);
		} else if (!strcmp(f, "timeout")) {
			char *d = get_string(c, file, agent, k, fv, 0);
			if (d && duration_parse(d, &p->timeout) < 0)
				cat_err(c, file, fv->line, fv->col,
					"invalid duration '%s' for 'agents.%s.timeout' (expected e.g. 10s, 5m, 1h)", d, agent);
			free(d);
		} else if (is_one_of(f, PROFILE_IGNORED)) {
			errlist_add(c->diags, DIAG_WARNING, file, k->line, k->col,
				    "'agents.%s.%s' is a roboppi feature waitloop does not implement; ignored", agent, f);
		} else {
			const char *s = suggest_closest(f, PROFILE_KEYS);
			cat_err(c, file, k->line, k->col, "unknown key '%s' in 'agents.%s'%s%s%s", f, agent,
				s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
		}
	}
}

static void load_file(struct catalog *c, const char *file)
{
	size_t before = c->diags->nerrors;
	struct ydoc *doc = ydoc_load_file(file, c->diags);
	if (!doc) {
		c->errors += c->diags->nerrors - before;
		return;
	}
	const struct ynode *root = ydoc_root(doc);
	const struct ynode *ver = ynode_get(root, "version");
	const struct ynode *agents = ynode_get(root, "agents");
	if (!root || root->kind != YNODE_MAPPING) {
		cat_err(c, file, 1, 1, "an agent catalog must be a mapping with 'version: \"1\"' and 'agents:'");
	} else if (!ver || ver->kind != YNODE_SCALAR || ver->type != YSCALAR_STR || strcmp(ver->value, "1")) {
		const struct ynode *at = ver ? ver : root;
		cat_err(c, file, at->line, at->col, "agent catalog 'version' must be the string \"1\"");
	} else if (!agents || agents->kind != YNODE_MAPPING) {
		const struct ynode *at = agents ? agents : root;
		cat_err(c, file, at->line, at->col, "agent catalog 'agents' must be a mapping of agent names");
	} else {
		for (size_t i = 0; i < root->n; i++)
			if (strcmp(root->keys[i]->value, "version") && strcmp(root->keys[i]->value, "agents"))
				cat_err(c, file, root->keys[i]->line, root->keys[i]->col,
					"unknown key '%s' in an agent catalog (expected 'version' and 'agents')",
					root->keys[i]->value);
		for (size_t i = 0; i < agents->n; i++)
			load_profile(c, file, agents->keys[i], agents->items[i]);
	}
	ydoc_free(doc);
}

/* roboppi's combineInstructions(): both trimmed, joined by a blank line. */
static char *trimmed(const char *s, size_t *len)
{
	if (!s) {
		*len = 0;
		return NULL;
	}
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	*len = n;
	return n ? xstrndup(s, n) : NULL;
}

static char *combine(const char *base, const char *specific)
{
	size_t bl, sl;
	char *b = trimmed(base, &bl), *s = trimmed(specific, &sl);
	char *out;
	if (b && s)
		out = xasprintf("%s\n\n%s", b, s);
	else
		out = s ? xstrdup(s) : b ? xstrdup(b) : NULL;
	free(b);
	free(s);
	return out;
}

struct target {
	const char *what;                 /* "step 'x'" / "completion_check of step 'x'" */
	struct wl_agent_ref *ag;
	char **description;               /* NULL for checks */
	enum wl_worker *worker;
	char **instructions;
	const char *instructions_file;
	struct strvec *capabilities;
	char **workspace;                 /* NULL for checks */
	int64_t *timeout;
	struct wl_pos pos;
};

static void apply_one(struct catalog *c, const char *wf_file, const struct target *t)
{
	const struct profile *p = find_profile(c, t->ag->agent);
	if (!p) {
		const char **names = xcalloc(c->n + 1, sizeof(*names));
		for (size_t i = 0; i < c->n; i++)
			names[i] = c->p[i].name;
		const char *s = suggest_closest(t->ag->agent, names);
		cat_err(c, wf_file, t->ag->agent_pos.line, t->ag->agent_pos.col,
			"%s: unknown agent '%s'%s%s%s (the catalog is %s)", t->what, t->ag->agent,
			s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "", c->files.v[0]);
		free(names);
		return;
	}
	if (t->description && !*t->description && p->description)
		*t->description = xstrdup(p->description);
	if (*t->worker == WORKER_UNSET)
		*t->worker = p->worker;
	if (!t->ag->default_args.n && p->has_default_args)
		strvec_copy(&t->ag->default_args, &p->default_args);
	if (!t->ag->model && p->model)
		t->ag->model = xstrdup(p->model);
	if (!t->ag->variant && p->variant)
		t->ag->variant = xstrdup(p->variant);
	if (!t->capabilities->n && p->has_capabilities)
		strvec_copy(t->capabilities, &p->capabilities);
	if (t->workspace && !*t->workspace && p->workspace)
		*t->workspace = xstrdup(p->workspace);
	if (*t->timeout == WL_UNSET && p->timeout != WL_UNSET)
		*t->timeout = p->timeout;
	if (p->base_instructions) {
		if (t->instructions_file) {
			cat_err(c, wf_file, t->pos.line, t->pos.col,
				"%s: agent '%s' has base_instructions, which cannot be put before an 'instructions_file'; use 'instructions'",
				t->what, p->name);
			return;
		}
		char *merged = combine(p->base_instructions, *t->instructions);
		if (merged) {
			free(*t->instructions);
			*t->instructions = merged;
		}
	}
	if (*t->worker == WORKER_UNSET)
		cat_err(c, wf_file, t->pos.line, t->pos.col,
			"%s: agent '%s' has no 'worker' and the step gives none", t->what, p->name);
	if (!*t->instructions && !t->instructions_file)
		cat_err(c, wf_file, t->pos.line, t->pos.col,
			"missing required field 'instructions' in %s (agent '%s' has no base_instructions)", t->what,
			p->name);
}

static int uses_agents(const struct wl_workflow *wf)
{
	for (size_t i = 0; i < wf->nsteps; i++)
		if (wf->steps[i].ag.agent || wf->steps[i].check.ag.agent)
			return 1;
	return 0;
}

/* The catalog files, in the order they are read (later entries win):
 * the parent's (a subworkflow), then agents_files or the colocated file. */
static void find_files(struct catalog *c, const char *wf_path, const struct strvec *agents_files,
		       const struct strvec *inherited)
{
	for (size_t i = 0; inherited && i < inherited->n; i++)
		if (fs_exists(inherited->v[i]))   /* the parent read it a moment ago */
			strvec_push(&c->files, inherited->v[i]);
	if (agents_files && agents_files->n) {
		for (size_t i = 0; i < agents_files->n; i++) {
			if (fs_exists(agents_files->v[i]))
				strvec_push(&c->files, agents_files->v[i]);
			else
				cat_err(c, agents_files->v[i], 1, 1,
					"agent catalog not found (given by --agents or ROBOPPI_AGENTS_FILE)");
		}
	} else if (wf_path) {
		const char *slash = strrchr(wf_path, '/');
		char *dir = slash ? xstrndup(wf_path, (size_t)(slash - wf_path + (slash == wf_path))) : xstrdup(".");
		static const char *const names[] = {"agents.yaml", "agents.yml", NULL};
		for (size_t i = 0; names[i]; i++) {
			char *f = fs_join(dir, names[i]);
			if (fs_exists(f))
				strvec_push(&c->files, f);
			free(f);
		}
		free(dir);
	}
}

int agentcat_apply(struct wl_workflow *wf, const char *wf_path, const struct strvec *agents_files,
		   const struct strvec *inherited, struct errlist *diags)
{
	struct catalog c = {.diags = diags};
	find_files(&c, wf_path, agents_files, inherited);
	for (size_t i = 0; i < c.files.n; i++)
		strvec_push_owned(&wf->agent_catalogs, fs_abspath(c.files.v[i]));
	int explicit = agents_files && agents_files->n;
	if (!explicit && !uses_agents(wf)) {
		strvec_clear(&c.files);
		return (int)c.errors;
	}
	for (size_t i = 0; i < c.files.n; i++)
		load_file(&c, c.files.v[i]);
	for (size_t i = 0; i < wf->nsteps && !c.errors; i++) {
		struct wl_step *s = &wf->steps[i];
		char *what = xasprintf("step '%s'", s->id);
		char *cwhat = xasprintf("completion_check of step '%s'", s->id);
		const char *wfile = wf_path ? wf_path : wf->file;
		if ((s->ag.agent || s->check.ag.agent) && !c.files.n) {
			const struct wl_pos at = s->ag.agent ? s->ag.agent_pos : s->check.ag.agent_pos;
			cat_err(&c, wfile, at.line, at.col,
				"%s: 'agent: %s' needs an agent catalog: put agents.yaml next to the workflow or give --agents FILE",
				s->ag.agent ? what : cwhat, s->ag.agent ? s->ag.agent : s->check.ag.agent);
		} else {
			if (s->ag.agent) {
				struct target t = {what, &s->ag, &s->description, &s->worker, &s->instructions,
						   s->instructions_file, &s->capabilities, &s->workspace, &s->timeout,
						   s->pos};
				apply_one(&c, wfile, &t);
			}
			if (s->check.ag.agent) {
				struct wl_check *k = &s->check;
				struct target t = {cwhat, &k->ag, NULL, &k->worker, &k->instructions,
						   k->instructions_file, &k->capabilities, NULL, &k->timeout, k->pos};
				apply_one(&c, wfile, &t);
			}
		}
		free(what);
		free(cwhat);
	}
	for (size_t i = 0; i < c.n; i++)
		profile_release(&c.p[i]);
	free(c.p);
	strvec_clear(&c.files);
	return (int)c.errors;
}

/* Drop "--name X" and "--name=X" from args (roboppi: the task-level value wins). */
static void push_without(struct strvec *out, const struct strvec *args, const char *name, const char *name2)
{
	size_t nl = strlen(name), n2 = name2 ? strlen(name2) : 0;
	for (size_t i = 0; i < args->n; i++) {
		const char *a = args->v[i];
		if (!strcmp(a, name) || (name2 && !strcmp(a, name2))) {
			i++;   /* and its value */
			continue;
		}
		if ((!strncmp(a, name, nl) && a[nl] == '=') || (name2 && !strncmp(a, name2, n2) && a[n2] == '='))
			continue;
		strvec_push(out, a);
	}
}

void agentcat_cli_args(enum wl_worker kind, const struct wl_agent_ref *a, struct strvec *out)
{
	int variant = kind == WORKER_OPENCODE && a->variant;
	struct strvec tmp = STRVEC_INIT;
	if (a->model)
		push_without(&tmp, &a->default_args, "--model", NULL);
	else
		strvec_copy(&tmp, &a->default_args);
	if (variant)
		push_without(out, &tmp, "--variant", NULL);
	else
		strvec_copy(out, &tmp);
	strvec_clear(&tmp);
	if (a->model) {
		strvec_push(out, "--model");
		strvec_push(out, a->model);
	}
	if (variant) {
		strvec_push(out, "--variant");
		strvec_push(out, a->variant);
	}
}
