/*
 * gitwork: work-tree snapshots and per-iteration changes with libgit2.
 * See gitwork.h. Snapshots go through a private in-memory index seeded from
 * the user's index (so unchanged files are recognised by their stat data
 * and not re-hashed), installed as the repository handle's index; the
 * on-disk index is never written.
 */
#include "gitwork.h"

#include <dlfcn.h>
#include <fnmatch.h>
#include <git2.h>
#include <git2/sys/repository.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "xalloc.h"

#define NOT_REPO_PREFIX "not a git repository: "

/*
 * libgit2 is loaded with dlopen() the first time git tracking is used, not
 * linked: the libraries it pulls in (OpenSSL, Kerberos, mbedTLS, libssh2)
 * cost ~3 MB of resident memory at start-up in every run, git or not
 * (docs/benchmarks.md). The pointers keep the exact types of git2.h; the
 * handle is a process-wide cache, set once and never released.
 */
#ifndef LIBGIT2_SONAME
#define LIBGIT2_SONAME "libgit2.so"
#endif
#define LG2_FUNCTIONS(X) \
	X(git_buf_dispose) \
	X(git_commit_free) \
	X(git_commit_id) \
	X(git_commit_tree_id) \
	X(git_diff_free) \
	X(git_diff_get_delta) \
	X(git_diff_num_deltas) \
	X(git_diff_options_init) \
	X(git_diff_tree_to_tree) \
	X(git_error_clear) \
	X(git_error_last) \
	X(git_index_add) \
	X(git_index_add_all) \
	X(git_index_entrycount) \
	X(git_index_free) \
	X(git_index_get_byindex) \
	X(git_index_new) \
	X(git_index_update_all) \
	X(git_index_write_tree) \
	X(git_libgit2_init) \
	X(git_libgit2_shutdown) \
	X(git_object_free) \
	X(git_object_peel) \
	X(git_oid_cpy) \
	X(git_oid_tostr) \
	X(git_patch_free) \
	X(git_patch_from_diff) \
	X(git_patch_get_delta) \
	X(git_patch_line_stats) \
	X(git_reference_free) \
	X(git_reference_lookup) \
	X(git_reference_name_to_id) \
	X(git_reference_symbolic_target) \
	X(git_repository_discover) \
	X(git_repository_free) \
	X(git_repository_index) \
	X(git_repository_is_bare) \
	X(git_repository_open) \
	X(git_repository_set_index) \
	X(git_repository_workdir) \
	X(git_revparse_single) \
	X(git_tree_free) \
	X(git_tree_lookup)
#define LG2_POINTER(f) __typeof__(&f) f;
static struct {
	LG2_FUNCTIONS(LG2_POINTER)
} lg2;
#define LG2(f) (lg2.f)

static int lg2_load(struct wl_err *err)
{
	static void *handle;
	if (handle)
		return 0;
	void *h = dlopen(LIBGIT2_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return err_set(err, "cannot load libgit2 ('%s'): %s", LIBGIT2_SONAME, dlerror());
#define LG2_RESOLVE(f)                                                                             \
	if (!(lg2.f = (__typeof__(lg2.f))dlsym(h, #f))) {                                         \
		dlclose(h);                                                                        \
		return err_set(err, "cannot load libgit2 ('%s'): no symbol '%s'", LIBGIT2_SONAME, #f); \
	}
	LG2_FUNCTIONS(LG2_RESOLVE)
#undef LG2_RESOLVE
	handle = h;
	return 0;
}

struct gitwork {
	git_repository *repo;
	git_index *index;        /* private, in-memory */
	char *root;              /* work tree, realpath, no trailing slash */
	char *workspace;         /* realpath */
	char *prefix;            /* workspace relative to root, "" or "sub/dir" */
	struct strvec excluded;  /* repository-relative paths */
};

struct git_snapshot {
	git_oid tree;
	char head[41];
	char *branch;
};

/* Translate the last libgit2 error now: the next failure overwrites it. */
static int git_err(struct wl_err *err, const char *what, const char *subject)
{
	const git_error *e = LG2(git_error_last)();
	return err_set(err, "%s '%s': %s", what, subject, e && e->message ? e->message : "unknown libgit2 error");
}

int gitwork_err_is_not_repo(const struct wl_err *err)
{
	return err && err->kind == WL_ERR_NOT_REPO;
}

static char *real_dir(const char *path)
{
	char buf[PATH_MAX];
	if (!realpath(path, buf))
		return NULL;
	return xstrdup(buf);
}

struct gitwork *gitwork_open(const char *workspace, struct wl_err *err)
{
	char *ws = real_dir(workspace);
	if (!ws || !fs_is_dir(ws)) {
		err_set(err, "cannot open workspace '%s': not a directory", workspace);
		free(ws);
		return NULL;
	}
	if (lg2_load(err) < 0) {
		free(ws);
		return NULL;
	}
	LG2(git_libgit2_init)();
	struct gitwork *gw = xcalloc(1, sizeof(*gw));
	gw->workspace = ws;
	git_buf found = {0};
	git_index *user_index = NULL;
	int rc = LG2(git_repository_discover)(&found, ws, 0, NULL);
	if (rc == GIT_ENOTFOUND) {
		err_set_kind(err, WL_ERR_NOT_REPO, NOT_REPO_PREFIX "'%s'", workspace);
		goto fail;
	}
	if (rc < 0 || LG2(git_repository_open)(&gw->repo, found.ptr) < 0) {
		git_err(err, "cannot open git repository for", workspace);
		goto fail;
	}
	if (LG2(git_repository_is_bare)(gw->repo) || !LG2(git_repository_workdir)(gw->repo)) {
		err_set_kind(err, WL_ERR_NOT_REPO, NOT_REPO_PREFIX "'%s' (bare repository)", workspace);
		goto fail;
	}
	gw->root = real_dir(LG2(git_repository_workdir)(gw->repo));
	size_t n = gw->root ? strlen(gw->root) : 0;
	if (!gw->root || strncmp(ws, gw->root, n) || (ws[n] && ws[n] != '/')) {
		err_set_kind(err, WL_ERR_NOT_REPO, NOT_REPO_PREFIX "'%s' (outside the work tree)", workspace);
		goto fail;
	}
	gw->prefix = xstrdup(ws[n] == '/' ? ws + n + 1 : "");

	/* Seed the private index with the user's entries (stat data included). */
	if (LG2(git_repository_index)(&user_index, gw->repo) < 0 || LG2(git_index_new)(&gw->index) < 0) {
		git_err(err, "cannot read the git index of", gw->root);
		goto fail;
	}
	size_t count = LG2(git_index_entrycount)(user_index);
	for (size_t i = 0; i < count; i++) {
		const git_index_entry *e = LG2(git_index_get_byindex)(user_index, i);
		if (e && GIT_INDEX_ENTRY_STAGE(e) == 0 && LG2(git_index_add)(gw->index, e) < 0) {
			git_err(err, "cannot copy the git index of", gw->root);
			goto fail;
		}
	}
	LG2(git_index_free)(user_index);
	user_index = NULL;
	if (LG2(git_repository_set_index)(gw->repo, gw->index) < 0) {
		git_err(err, "cannot use a private index in", gw->root);
		goto fail;
	}
	LG2(git_buf_dispose)(&found);
	return gw;
fail:
	LG2(git_index_free)(user_index);
	LG2(git_buf_dispose)(&found);
	gitwork_close(gw);
	return NULL;
}

void gitwork_close(struct gitwork *gw)
{
	if (!gw)
		return;
	LG2(git_index_free)(gw->index);
	LG2(git_repository_free)(gw->repo);
	free(gw->root);
	free(gw->workspace);
	free(gw->prefix);
	strvec_clear(&gw->excluded);
	free(gw);
	LG2(git_libgit2_shutdown)();
}

const char *gitwork_root(const struct gitwork *gw)
{
	return gw->root;
}

void gitwork_exclude(struct gitwork *gw, const char *path)
{
	if (!gw || !path || !*path)
		return;
	char *joined = fs_join(gw->workspace, path);
	/* Resolve symlinks where the path exists; fall back to a lexical form. */
	char *abs = real_dir(joined);
	if (!abs)
		abs = fs_abspath(joined);
	free(joined);
	size_t n = strlen(gw->root);
	if (abs && !strncmp(abs, gw->root, n) && abs[n] == '/' && abs[n + 1])
		strvec_push(&gw->excluded, abs + n + 1);
	free(abs);
}

static int is_excluded(const struct gitwork *gw, const char *repo_path)
{
	for (size_t i = 0; i < gw->excluded.n; i++) {
		size_t n = strlen(gw->excluded.v[i]);
		if (!strncmp(repo_path, gw->excluded.v[i], n) && (repo_path[n] == '\0' || repo_path[n] == '/'))
			return 1;
	}
	return 0;
}

static int in_workspace(const struct gitwork *gw, const char *repo_path)
{
	size_t n = strlen(gw->prefix);
	return n == 0 || (!strncmp(repo_path, gw->prefix, n) && repo_path[n] == '/');
}

/* add_all / update_all callback: 0 = take the path, > 0 = skip it. */
static int snapshot_filter(const char *path, const char *matched_pathspec, void *payload)
{
	const struct gitwork *gw = payload;
	return !in_workspace(gw, path) || is_excluded(gw, path) ? 1 : 0;
}

static void read_head(struct gitwork *gw, struct git_snapshot *snap)
{
	git_oid oid;
	if (LG2(git_reference_name_to_id)(&oid, gw->repo, "HEAD") == 0)
		LG2(git_oid_tostr)(snap->head, sizeof(snap->head), &oid);
	git_reference *head = NULL;
	if (LG2(git_reference_lookup)(&head, gw->repo, "HEAD") == 0) {
		const char *target = LG2(git_reference_symbolic_target)(head);
		if (target && !strncmp(target, "refs/heads/", 11))
			snap->branch = xstrdup(target + 11);
		LG2(git_reference_free)(head);
	}
	LG2(git_error_clear)();
}

int gitwork_snapshot(struct gitwork *gw, struct git_snapshot **out, struct wl_err *err)
{
	*out = NULL;
	char *spec[1] = {gw->prefix};
	git_strarray paths = {spec, *gw->prefix ? 1 : 0};
	if (LG2(git_index_update_all)(gw->index, &paths, snapshot_filter, gw) < 0 ||
	    LG2(git_index_add_all)(gw->index, &paths, GIT_INDEX_ADD_DEFAULT, snapshot_filter, gw) < 0)
		return git_err(err, "cannot snapshot the work tree", gw->workspace);
	struct git_snapshot *snap = xcalloc(1, sizeof(*snap));
	if (LG2(git_index_write_tree)(&snap->tree, gw->index) < 0) {
		git_err(err, "cannot snapshot the work tree", gw->workspace);
		free(snap);
		return -1;
	}
	read_head(gw, snap);
	*out = snap;
	return 0;
}

int gitwork_snapshot_ref(struct gitwork *gw, const char *ref, struct git_snapshot **out, struct wl_err *err)
{
	*out = NULL;
	git_object *obj = NULL;
	git_commit *commit = NULL;
	if (LG2(git_revparse_single)(&obj, gw->repo, ref) < 0)
		return git_err(err, "cannot resolve git revision", ref);
	int rc = LG2(git_object_peel)((git_object **)&commit, obj, GIT_OBJECT_COMMIT);
	LG2(git_object_free)(obj);
	if (rc < 0)
		return git_err(err, "cannot resolve git revision", ref);
	struct git_snapshot *snap = xcalloc(1, sizeof(*snap));
	LG2(git_oid_cpy)(&snap->tree, LG2(git_commit_tree_id)(commit));
	LG2(git_oid_tostr)(snap->head, sizeof(snap->head), LG2(git_commit_id)(commit));
	LG2(git_commit_free)(commit);
	*out = snap;
	return 0;
}

void gitwork_snapshot_free(struct git_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->branch);
	free(snap);
}

const char *gitwork_change_kind_name(enum git_change_kind k)
{
	switch (k) {
	case GIT_CHANGE_ADDED:
		return "added";
	case GIT_CHANGE_DELETED:
		return "deleted";
	case GIT_CHANGE_MODIFIED:
		break;
	}
	return "modified";
}

static int add_delta(struct gitwork *gw, git_diff *diff, size_t i, struct git_changes *out, struct wl_err *err)
{
	const git_diff_delta *d = LG2(git_diff_get_delta)(diff, i);
	const char *path = d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path;
	if (!in_workspace(gw, path) || is_excluded(gw, path))
		return 0;
	struct git_file_change fc = {0};
	size_t n = strlen(gw->prefix);
	fc.path = xstrdup(n ? path + n + 1 : path);
	fc.kind = d->status == GIT_DELTA_ADDED     ? GIT_CHANGE_ADDED
		  : d->status == GIT_DELTA_DELETED ? GIT_CHANGE_DELETED
						   : GIT_CHANGE_MODIFIED;
	git_patch *patch = NULL;
	if (LG2(git_patch_from_diff)(&patch, diff, i) < 0) {
		free(fc.path);
		return git_err(err, "cannot diff", path);
	}
	size_t adds = 0, dels = 0;
	if (patch)
		LG2(git_patch_line_stats)(NULL, &adds, &dels, patch);
	fc.binary = (LG2(git_patch_get_delta)(patch) ? LG2(git_patch_get_delta)(patch)->flags : d->flags) & GIT_DIFF_FLAG_BINARY
			    ? 1
			    : 0;
	LG2(git_patch_free)(patch);
	fc.insertions = (int)adds;
	fc.deletions = (int)dels;
	XGROW(out->files, out->nfiles + 1, out->alloc);
	out->files[out->nfiles++] = fc;
	out->insertions += fc.insertions;
	out->deletions += fc.deletions;
	return 0;
}

int gitwork_changes(struct gitwork *gw, const struct git_snapshot *before, struct git_changes *out,
		    struct wl_err *err)
{
	struct git_snapshot *after = NULL;
	git_tree *t1 = NULL, *t2 = NULL;
	git_diff *diff = NULL;
	int ret = -1;
	if (gitwork_snapshot(gw, &after, err) < 0)
		return -1;
	if (LG2(git_tree_lookup)(&t1, gw->repo, &before->tree) < 0 || LG2(git_tree_lookup)(&t2, gw->repo, &after->tree) < 0) {
		git_err(err, "cannot read snapshot trees of", gw->workspace);
		goto out;
	}
	git_diff_options opts;
	LG2(git_diff_options_init)(&opts, GIT_DIFF_OPTIONS_VERSION);
	char *spec[1] = {gw->prefix};
	if (*gw->prefix) {
		opts.pathspec.strings = spec;
		opts.pathspec.count = 1;
	}
	if (LG2(git_diff_tree_to_tree)(&diff, gw->repo, t1, t2, &opts) < 0) {
		git_err(err, "cannot diff the work tree", gw->workspace);
		goto out;
	}
	size_t n = LG2(git_diff_num_deltas)(diff);
	for (size_t i = 0; i < n; i++)
		if (add_delta(gw, diff, i, out, err) < 0)
			goto out;
	snprintf(out->head_before, sizeof(out->head_before), "%s", before->head);
	snprintf(out->head_after, sizeof(out->head_after), "%s", after->head);
	free(out->branch);
	out->branch = xstrdup(after->branch);
	ret = 0;
out:
	LG2(git_diff_free)(diff);
	LG2(git_tree_free)(t1);
	LG2(git_tree_free)(t2);
	gitwork_snapshot_free(after);
	return ret;
}

void gitwork_changes_release(struct git_changes *ch)
{
	for (size_t i = 0; i < ch->nfiles; i++)
		free(ch->files[i].path);
	free(ch->files);
	free(ch->branch);
	struct git_changes empty = GIT_CHANGES_INIT;
	*ch = empty;
}

cJSON *gitwork_changes_to_json(const struct git_changes *ch)
{
	cJSON *o = cJSON_CreateObject();
	if (*ch->head_before)
		cJSON_AddStringToObject(o, "head_before", ch->head_before);
	else
		cJSON_AddNullToObject(o, "head_before");
	if (*ch->head_after)
		cJSON_AddStringToObject(o, "head_after", ch->head_after);
	else
		cJSON_AddNullToObject(o, "head_after");
	json_add_string_or_null(o, "branch", ch->branch);
	cJSON *files = cJSON_AddArrayToObject(o, "files");
	for (size_t i = 0; i < ch->nfiles; i++) {
		const struct git_file_change *f = &ch->files[i];
		cJSON *fo = cJSON_CreateObject();
		cJSON_AddStringToObject(fo, "path", f->path);
		cJSON_AddStringToObject(fo, "status", gitwork_change_kind_name(f->kind));
		cJSON_AddNumberToObject(fo, "insertions", f->insertions);
		cJSON_AddNumberToObject(fo, "deletions", f->deletions);
		if (f->binary)
			cJSON_AddTrueToObject(fo, "binary");
		cJSON_AddItemToArray(files, fo);
	}
	cJSON_AddNumberToObject(o, "insertions", ch->insertions);
	cJSON_AddNumberToObject(o, "deletions", ch->deletions);
	return o;
}

/* ---- path patterns ------------------------------------------------------ */

static int glob_match(const char *p, const char *s)
{
	for (;;) {
		if (!*p)
			return !*s;
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			if (*p == '/') {        /* double star + slash: zero or more whole directories */
				p++;
				for (const char *t = s;;) {
					if (glob_match(p, t))
						return 1;
					t = strchr(t, '/');
					if (!t)
						return 0;
					t++;
				}
			}
			for (const char *t = s;; t++) {   /* double star elsewhere: anything */
				if (glob_match(p, t))
					return 1;
				if (!*t)
					return 0;
			}
		}
		if (*p == '*') {
			p++;
			for (const char *t = s;; t++) {
				if (glob_match(p, t))
					return 1;
				if (!*t || *t == '/')
					return 0;
			}
		}
		if (!*s)
			return 0;
		if (*p == '?') {
			if (*s == '/')
				return 0;
		} else if (*p == '[') {
			const char *end = p + 1;
			if (*end == '!' || *end == '^')
				end++;
			if (*end == ']')
				end++;
			end = strchr(end, ']');
			if (!end) {
				if (*s != '[')
					return 0;
			} else {
				char cls[256], ch[2] = {*s, 0};
				size_t len = (size_t)(end - p) + 1;
				if (len >= sizeof(cls) || *s == '/')
					return 0;
				memcpy(cls, p, len);
				cls[len] = '\0';
				if (fnmatch(cls, ch, 0) != 0)
					return 0;
				p = end;
			}
		} else {
			if (*p == '\\' && p[1])
				p++;
			if (*p != *s)
				return 0;
		}
		p++;
		s++;
	}
}

int gitwork_path_match(const char *pattern, const char *path)
{
	while (pattern[0] == '.' && pattern[1] == '/')
		pattern += 2;
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	char *pat = xstrdup(pattern);
	size_t n = strlen(pat);
	while (n > 1 && pat[n - 1] == '/')
		pat[--n] = '\0';
	int match = glob_match(pat, path);
	/* A pattern matching a leading directory covers what is below it. */
	char *dir = xstrdup(path);
	for (char *slash = strchr(dir, '/'); !match && slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		match = glob_match(pat, dir);
		*slash = '/';
	}
	free(dir);
	free(pat);
	return match;
}

static int match_any(const struct strvec *patterns, const char *path)
{
	for (size_t i = 0; patterns && i < patterns->n; i++)
		if (gitwork_path_match(patterns->v[i], path))
			return 1;
	return 0;
}

int gitwork_check_scope(const struct git_changes *ch, const struct strvec *allowed_paths,
			const struct strvec *ignored_paths, int max_changed_files, struct strvec *fingerprints)
{
	int counted = 0, outside = 0;
	for (size_t i = 0; i < ch->nfiles; i++) {
		const char *path = ch->files[i].path;
		if (match_any(ignored_paths, path))
			continue;
		counted++;
		if (allowed_paths && allowed_paths->n && !match_any(allowed_paths, path)) {
			if (!outside++)
				strvec_push(fingerprints, "scope/outside-allowed-paths");
			strvec_pushf(fingerprints, "scope/file/%s", path);
		}
	}
	if (max_changed_files >= 0 && counted > max_changed_files)
		strvec_push(fingerprints, "diff-budget/exceeded");
	return counted;
}

void gitwork_head(struct gitwork *gw, char sha[41], char **branch)
{
	struct git_snapshot snap;
	memset(&snap, 0, sizeof(snap));
	read_head(gw, &snap);
	memcpy(sha, snap.head, sizeof(snap.head));
	*branch = snap.branch;
}

int gitwork_rev_commit(struct gitwork *gw, const char *rev, char sha[41], struct wl_err *err)
{
	struct git_snapshot *snap = NULL;
	if (gitwork_snapshot_ref(gw, rev, &snap, err) < 0)
		return -1;
	memcpy(sha, snap->head, sizeof(snap->head));
	gitwork_snapshot_free(snap);
	return 0;
}
