/* Unit tests for gitwork (src/gitwork.c) on real repositories made with the git CLI. */
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "fsutil.h"
#include "gitwork.h"
#include "strbuf.h"
#include "strvec.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-gitwork-test.XXXXXX";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct strbuf cmd = STRBUF_INIT;
	strbuf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	int rc = system(cmd.buf);
	if (rc != 0)
		fprintf(stderr, "  command failed (%d): %s\n", rc, cmd.buf);
	strbuf_release(&cmd);
	return rc;
}

static void put(const char *dir, const char *name, const char *text)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = fs_join(dir, name);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	fs_mkdir_p(path, &err);
	*slash = '/';
	if (fs_write_atomic(path, text, strlen(text), &err) < 0)
		fprintf(stderr, "  %s\n", err.msg);
	free(path);
}

/* A fresh repository with one commit of the given files (name, text, ...). */
static char *make_repo(const char *name, ...)
{
	char *dir = fs_join(tmpdir, name);
	sh("git -c init.defaultBranch=main init -q '%s'", dir);
	va_list ap;
	va_start(ap, name);
	const char *file;
	while ((file = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);
		put(dir, file, text);
	}
	va_end(ap);
	sh("cd '%s' && git add -A && git -c user.name=t -c user.email=t@example.com commit -qm init", dir);
	return dir;
}

static const struct git_file_change *find(const struct git_changes *ch, const char *path)
{
	for (size_t i = 0; i < ch->nfiles; i++)
		if (!strcmp(ch->files[i].path, path))
			return &ch->files[i];
	return NULL;
}

static void dump(const struct git_changes *ch)
{
	cJSON *j = gitwork_changes_to_json(ch);
	char *t = cJSON_PrintUnformatted(j);
	fprintf(stderr, "  changes: %s\n", t);
	free(t);
	cJSON_Delete(j);
}

static void test_not_a_repo(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *dir = fs_join(tmpdir, "plain");
	fs_mkdir_p(dir, &err);
	struct gitwork *gw = gitwork_open(dir, &err);
	CHECK(gw == NULL);
	CHECK(gitwork_err_is_not_repo(&err));
	char *want = xasprintf("not a git repository: '%s'", dir);
	CHECK_STR(err.msg, want);
	free(want);
	/* the kind survives added context (the message no longer starts with it) */
	err_prefix(&err, "workspace");
	CHECK(gitwork_err_is_not_repo(&err));
	/* A missing directory is a different error. */
	char *missing = fs_join(tmpdir, "missing");
	gw = gitwork_open(missing, &err);
	CHECK(gw == NULL);
	CHECK(!gitwork_err_is_not_repo(&err));
	CHECK_CONTAINS(err.msg, "cannot open workspace");
	free(missing);
	free(dir);
}

static void test_worktree_changes(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *repo = make_repo("basic", "a.txt", "1\n2\n3\n", "b.txt", "x\ny\n", ".gitignore", "*.log\n", NULL);
	sh("cd '%s' && git status --porcelain > ../basic-status-before && cp .git/index ../basic-index-before", repo);
	struct gitwork *gw = gitwork_open(repo, &err);
	CHECK(gw != NULL);
	if (!gw) {
		fprintf(stderr, "  %s\n", err.msg);
		free(repo);
		return;
	}
	gitwork_exclude(gw, "context");
	gitwork_exclude(gw, ".waitloop");
	struct git_snapshot *before = NULL;
	CHECK(gitwork_snapshot(gw, &before, &err) == 0);

	put(repo, "a.txt", "1\ntwo\n3\n4\n");             /* uncommitted edit: +2 -1 */
	put(repo, "new.txt", "n1\nn2\n");                 /* untracked */
	sh("rm '%s/b.txt'", repo);                        /* deletion */
	put(repo, "build.log", "ignored\n");              /* .gitignored */
	put(repo, "context/step/_meta.json", "{}\n");     /* excluded context dir */
	put(repo, ".waitloop/history.db", "x\n");        /* excluded */

	struct git_changes ch = GIT_CHANGES_INIT;
	CHECK(gitwork_changes(gw, before, &ch, &err) == 0);
	CHECK_INT(ch.nfiles, 3);
	if (ch.nfiles != 3)
		dump(&ch);
	const struct git_file_change *a = find(&ch, "a.txt"), *b = find(&ch, "b.txt"), *n = find(&ch, "new.txt");
	CHECK(a && a->kind == GIT_CHANGE_MODIFIED && a->insertions == 2 && a->deletions == 1);
	CHECK(b && b->kind == GIT_CHANGE_DELETED && b->deletions == 2);
	CHECK(n && n->kind == GIT_CHANGE_ADDED && n->insertions == 2);
	CHECK_INT(ch.insertions, 4);
	CHECK_INT(ch.deletions, 3);
	CHECK(strlen(ch.head_before) == 40);
	CHECK_STR(ch.head_before, ch.head_after);
	CHECK_STR(ch.branch, "main");

	cJSON *j = gitwork_changes_to_json(&ch);
	char *txt = cJSON_PrintUnformatted(j);
	CHECK_CONTAINS(txt, "{\"path\":\"a.txt\",\"status\":\"modified\",\"insertions\":2,\"deletions\":1}");
	CHECK_CONTAINS(txt, "\"branch\":\"main\"");
	free(txt);
	cJSON_Delete(j);
	gitwork_changes_release(&ch);
	gitwork_snapshot_free(before);

	/* Nothing changed since the last snapshot: no files. */
	CHECK(gitwork_snapshot(gw, &before, &err) == 0);
	CHECK(gitwork_changes(gw, before, &ch, &err) == 0);
	CHECK_INT(ch.nfiles, 0);
	gitwork_changes_release(&ch);

	/* The user's index and status are untouched. */
	CHECK(sh("cd '%s' && cmp -s .git/index ../basic-index-before", repo) == 0);
	CHECK(sh("cd '%s' && git status --porcelain | grep -q '^ M a.txt' && git status --porcelain | grep -q '^ D b.txt'"
		 " && git status --porcelain | grep -q '^?? new.txt'",
		 repo) == 0);

	/* A committed base ref: everything since HEAD. */
	struct git_snapshot *base = NULL;
	CHECK(gitwork_snapshot_ref(gw, "HEAD", &base, &err) == 0);
	if (base) {
		CHECK(gitwork_changes(gw, base, &ch, &err) == 0);
		CHECK_INT(ch.nfiles, 3);
		gitwork_changes_release(&ch);
		gitwork_snapshot_free(base);
	}
	CHECK(gitwork_snapshot_ref(gw, "no-such-branch", &base, &err) < 0);
	CHECK(base == NULL);
	CHECK_CONTAINS(err.msg, "cannot resolve git revision 'no-such-branch'");
	gitwork_snapshot_free(before);
	gitwork_close(gw);
	free(repo);
}

static void test_commit_during_iteration(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *repo = make_repo("commits", "a.txt", "1\n", NULL);
	struct gitwork *gw = gitwork_open(repo, &err);
	CHECK(gw != NULL);
	if (!gw) {
		free(repo);
		return;
	}
	struct git_snapshot *before = NULL;
	CHECK(gitwork_snapshot(gw, &before, &err) == 0);
	put(repo, "a.txt", "1\n2\n");
	put(repo, "c.txt", "c\n");
	sh("cd '%s' && git add -A && git -c user.name=t -c user.email=t@example.com commit -qm change"
	   " && git checkout -q -b feature",
	   repo);
	struct git_changes ch = GIT_CHANGES_INIT;
	CHECK(gitwork_changes(gw, before, &ch, &err) == 0);
	CHECK_INT(ch.nfiles, 2);
	CHECK(find(&ch, "a.txt") && find(&ch, "a.txt")->insertions == 1);
	CHECK(find(&ch, "c.txt") && find(&ch, "c.txt")->kind == GIT_CHANGE_ADDED);
	CHECK(strlen(ch.head_before) == 40 && strlen(ch.head_after) == 40);
	CHECK(strcmp(ch.head_before, ch.head_after) != 0);
	CHECK_STR(ch.branch, "feature");
	gitwork_changes_release(&ch);
	gitwork_snapshot_free(before);
	gitwork_close(gw);
	free(repo);
}

static void test_subdirectory_workspace(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *repo = make_repo("mono", "svc/x.c", "x\n", "other/y.c", "y\n", NULL);
	char *ws = fs_join(repo, "svc");
	struct gitwork *gw = gitwork_open(ws, &err);
	CHECK(gw != NULL);
	if (!gw) {
		fprintf(stderr, "  %s\n", err.msg);
		goto out;
	}
	gitwork_exclude(gw, "ctx");                          /* relative to the workspace */
	char *abs_excl = fs_join(ws, "decision.json");
	gitwork_exclude(gw, abs_excl);                       /* absolute */
	free(abs_excl);
	gitwork_exclude(gw, "/somewhere/else");              /* outside: ignored */
	struct git_snapshot *before = NULL;
	CHECK(gitwork_snapshot(gw, &before, &err) == 0);
	put(repo, "svc/x.c", "x\nx2\n");
	put(repo, "svc/sub/new.c", "n\n");
	put(repo, "svc/ctx/log", "l\n");
	put(repo, "svc/decision.json", "{}\n");
	put(repo, "other/y.c", "y\ny2\n");
	put(repo, "top.txt", "t\n");
	struct git_changes ch = GIT_CHANGES_INIT;
	CHECK(gitwork_changes(gw, before, &ch, &err) == 0);
	CHECK_INT(ch.nfiles, 2);
	if (ch.nfiles != 2)
		dump(&ch);
	CHECK(find(&ch, "x.c") != NULL);
	CHECK(find(&ch, "sub/new.c") != NULL);
	gitwork_changes_release(&ch);
	gitwork_snapshot_free(before);
	gitwork_close(gw);
out:
	free(ws);
	free(repo);
}

static void test_unborn_branch(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *dir = fs_join(tmpdir, "unborn");
	sh("git -c init.defaultBranch=trunk init -q '%s'", dir);
	struct gitwork *gw = gitwork_open(dir, &err);
	CHECK(gw != NULL);
	if (gw) {
		struct git_snapshot *before = NULL;
		CHECK(gitwork_snapshot(gw, &before, &err) == 0);
		put(dir, "first.txt", "1\n");
		struct git_changes ch = GIT_CHANGES_INIT;
		CHECK(gitwork_changes(gw, before, &ch, &err) == 0);
		CHECK_INT(ch.nfiles, 1);
		CHECK_STR(ch.head_before, "");
		CHECK_STR(ch.branch, "trunk");
		cJSON *j = gitwork_changes_to_json(&ch);
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "head_before")));
		cJSON_Delete(j);
		gitwork_changes_release(&ch);
		gitwork_snapshot_free(before);
		gitwork_close(gw);
	}
	free(dir);
}

static void test_path_match(void)
{
	CHECK(gitwork_path_match("src/*.c", "src/a.c"));
	CHECK(!gitwork_path_match("src/*.c", "src/sub/a.h"));
	CHECK(gitwork_path_match("src/**", "src/sub/deep/a.h"));
	CHECK(gitwork_path_match("src", "src/a.c"));
	CHECK(gitwork_path_match("src/", "src/sub/a.c"));
	CHECK(gitwork_path_match("./src", "src/a.c"));
	CHECK(!gitwork_path_match("src", "srcx/a.c"));
	CHECK(gitwork_path_match("**/*.md", "README.md"));
	CHECK(gitwork_path_match("**/*.md", "docs/a/b.md"));
	CHECK(!gitwork_path_match("**/*.md", "docs/a/b.mdx"));
	CHECK(gitwork_path_match("docs/**/*.md", "docs/x.md"));
	CHECK(gitwork_path_match("file?.[ch]", "file1.c"));
	CHECK(!gitwork_path_match("file?.[ch]", "file1.o"));
	CHECK(gitwork_path_match("[!a]*", "b"));
	CHECK(!gitwork_path_match("*.c", "dir/a.c"));
}

static void test_check_scope(void)
{
	struct git_changes ch = GIT_CHANGES_INIT;
	const char *paths[] = {"src/a.c", "src/b.c", "README.md", "vendor/lib.c"};
	for (size_t i = 0; i < 4; i++) {
		XGROW(ch.files, ch.nfiles + 1, ch.alloc);
		ch.files[ch.nfiles++] = (struct git_file_change){xstrdup(paths[i]), GIT_CHANGE_MODIFIED, 1, 0, 0};
	}
	struct strvec allowed = STRVEC_INIT, ignored = STRVEC_INIT, fps = STRVEC_INIT;
	strvec_push(&allowed, "src/**");
	strvec_push(&ignored, "vendor");
	CHECK_INT(gitwork_check_scope(&ch, &allowed, &ignored, 2, &fps), 3);
	CHECK_INT(fps.n, 3);
	CHECK(strvec_contains(&fps, "scope/outside-allowed-paths"));
	CHECK(strvec_contains(&fps, "scope/file/README.md"));
	CHECK(strvec_contains(&fps, "diff-budget/exceeded"));
	strvec_clear(&fps);
	/* No allowed list, budget not given: nothing to say. */
	CHECK_INT(gitwork_check_scope(&ch, NULL, NULL, -1, &fps), 4);
	CHECK_INT(fps.n, 0);
	CHECK_INT(gitwork_check_scope(&ch, NULL, NULL, 4, &fps), 4);
	CHECK_INT(fps.n, 0);
	strvec_clear(&allowed);
	strvec_clear(&ignored);
	gitwork_changes_release(&ch);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	/* Keep the developer's own git configuration out of the way. */
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	TEST(test_not_a_repo);
	TEST(test_worktree_changes);
	TEST(test_commit_during_iteration);
	TEST(test_subdirectory_workspace);
	TEST(test_unborn_branch);
	TEST(test_path_match);
	TEST(test_check_scope);
	sh("rm -rf '%s'", tmpdir);
	return tests_done();
}
