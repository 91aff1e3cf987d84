/*
 * gitwork: what an iteration changed in a git workspace (SPEC §9, §4.6).
 * The only module that includes git2.h.
 *
 * Calling sequence in the runner:
 *
 *   struct wl_err err = WL_ERR_INIT;
 *   struct gitwork *gw = gitwork_open(workspace, &err);
 *   if (!gw && gitwork_err_is_not_repo(&err))  -- print one notice, git features off
 *   gitwork_exclude(gw, context_dir);          -- also ".waitloop", relocated decision/fix files
 *   per iteration:
 *     struct git_snapshot *before;
 *     gitwork_snapshot(gw, &before, &err);     -- at iteration start
 *     ... implementer runs ...
 *     struct git_changes ch = GIT_CHANGES_INIT;
 *     gitwork_changes(gw, before, &ch, &err);  -- at iteration end
 *     cJSON *data = gitwork_changes_to_json(&ch);   -- EV_GIT_CHANGES data
 *     gitwork_check_scope(&ch, &allowed, &ignored, max_files, &fingerprints);
 *     gitwork_changes_release(&ch); gitwork_snapshot_free(before);
 *   gitwork_close(gw);
 *
 * A snapshot is a git tree of the work tree as it is — tracked files with
 * their uncommitted edits plus untracked files, .gitignore honoured — built
 * through a private in-memory index. The user's index, HEAD and work tree
 * are never touched; blobs and trees are written into the repository's
 * object database (unreferenced objects, removed by `git gc` in time).
 * So changes = (work tree at the end) - (work tree at the start): edits,
 * new files, deletions, and commits made during the iteration alike.
 *
 * The workspace may be a subdirectory of the repository: only files under
 * it are snapshotted and reported, with paths relative to the workspace.
 * Excluded paths (the runner's own files) are never hashed nor reported.
 *
 * Ownership: the gitwork handle owns the repository; snapshots and
 * git_changes are owned by the caller (free/release below).
 */
#ifndef WAITLOOP_GITWORK_H
#define WAITLOOP_GITWORK_H
#include <cjson/cJSON.h>
#include <stddef.h>

#include "error.h"
#include "strvec.h"

struct gitwork;
struct git_snapshot;

enum git_change_kind { GIT_CHANGE_ADDED, GIT_CHANGE_MODIFIED, GIT_CHANGE_DELETED };

struct git_file_change {
	char *path;                 /* relative to the workspace; owned */
	enum git_change_kind kind;
	int insertions, deletions;  /* lines; 0 for binary files */
	int binary;
};

struct git_changes {
	char head_before[41];       /* hex commit id, "" when the branch is unborn */
	char head_after[41];
	char *branch;               /* short name at the end; NULL when detached; owned */
	struct git_file_change *files;   /* sorted by path */
	size_t nfiles, alloc;
	int insertions, deletions;  /* sums over files */
};
#define GIT_CHANGES_INIT {"", "", NULL, NULL, 0, 0, 0, 0}

/*
 * Open the repository containing workspace (a directory). Not in a git
 * repository (or a bare one): NULL with gitwork_err_is_not_repo(err) true
 * and the message "not a git repository: '<dir>'". Other failures: NULL with
 * the libgit2 message.
 */
struct gitwork *gitwork_open(const char *workspace, struct wl_err *err);
int gitwork_err_is_not_repo(const struct wl_err *err);
void gitwork_close(struct gitwork *gw);
/* The repository's work tree root (absolute, no trailing slash). */
const char *gitwork_root(const struct gitwork *gw);

/* Never count path (a file or directory; absolute or relative to the
 * workspace; it need not exist yet). Paths outside the repository are ignored. */
void gitwork_exclude(struct gitwork *gw, const char *path);
/* HEAD: its commit id ("" when unborn) and branch short name (NULL when
 * detached; caller frees). */
void gitwork_head(struct gitwork *gw, char sha[41], char **branch);
/* The commit id a revision ("main", "HEAD~1", a sha) resolves to; -1 + err. */
int gitwork_rev_commit(struct gitwork *gw, const char *rev, char sha[41], struct wl_err *err);

/* A snapshot of the work tree now. */
int gitwork_snapshot(struct gitwork *gw, struct git_snapshot **out, struct wl_err *err);
/* A snapshot of a committed state (convergence.diff_base_ref), e.g. "main". */
int gitwork_snapshot_ref(struct gitwork *gw, const char *ref, struct git_snapshot **out, struct wl_err *err);
void gitwork_snapshot_free(struct git_snapshot *snap);

/* Changes from before to the work tree now (a new snapshot is taken). */
int gitwork_changes(struct gitwork *gw, const struct git_snapshot *before, struct git_changes *out,
		    struct wl_err *err);
void gitwork_changes_release(struct git_changes *ch);
const char *gitwork_change_kind_name(enum git_change_kind k);   /* "added", "modified", "deleted" */

/* EV_GIT_CHANGES data: {head_before, head_after, branch, files:[{path,
 * status, insertions, deletions[, binary]}], insertions, deletions}.
 * Unknown heads and a detached branch are null. Caller deletes. */
cJSON *gitwork_changes_to_json(const struct git_changes *ch);

/*
 * Path patterns (allowed_paths, ignored_paths): glob with `*` and `?` within
 * one path segment, `[...]` classes, and `**` across segments: "src/STARSTAR",
 * "STARSTAR/NAME.md" (STARSTAR = two asterisks; spelled out because C
 * comments cannot hold them before a slash). A pattern also matches
 * everything below a directory it matches ("docs" and "docs/" cover
 * "docs/a/b.md"). Leading "./" ignored.
 */
int gitwork_path_match(const char *pattern, const char *path);

/*
 * Convergence scope rules over ch. Files matching ignored_paths do not
 * count. If allowed_paths is non-empty, each counted file outside it adds
 * "scope/file/<path>" and, once, "scope/outside-allowed-paths". More counted
 * files than max_changed_files (ignored when < 0, e.g. WL_UNSET) adds
 * "diff-budget/exceeded". Fingerprints are appended to fingerprints (not
 * sorted). Returns the number of counted files. NULL vectors = empty.
 */
int gitwork_check_scope(const struct git_changes *ch, const struct strvec *allowed_paths,
			const struct strvec *ignored_paths, int max_changed_files, struct strvec *fingerprints);

#endif
