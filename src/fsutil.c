#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "<path>.tmp.<pid>": the temporary name of path in its own directory. */
static char *temp_name(const char *path)
{
	return xasprintf("%s.tmp.%ld", path, (long)getpid());
}

/*
 * data in a new file named tmp. A file already there (a runner of the same
 * pid was killed before its rename) is removed, never written through: one
 * left by fs_write_atomic_linked() is also the file of a live alias.
 */
static int write_temp(const char *tmp, const char *path, const void *data, size_t len, struct wl_err *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(err, "cannot write '%s': %s", path, strerror(errno));
	if (fs_write_all(fd, data, len)) {
		err_set(err, "cannot write '%s': %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		err_set(err, "cannot write '%s': %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, struct wl_err *err)
{
	return fs_write_atomic_linked(path, NULL, data, len, err);
}

/* Give the file tmp the name alias too, replacing an existing alias by
 * rename (never unlink + link: a reader would find no file in between).
 * 0, or an errno. */
static int link_alias(const char *tmp, const char *alias)
{
	if (link(tmp, alias) == 0)
		return 0;
	if (errno != EEXIST)
		return errno;
	char *tmp2 = temp_name(alias);
	int e = 0;
	if (link(tmp, tmp2) < 0 && (errno != EEXIST || unlink(tmp2) < 0 || link(tmp, tmp2) < 0))
		e = errno;   /* a leftover tmp2 is only ever a name, removed above */
	else if (rename(tmp2, alias) < 0) {
		e = errno;
		unlink(tmp2);
	}
	free(tmp2);
	return e;
}

/* link(2) refused for want of hard links in this file system (vfat, some
 * network and FUSE file systems; EMLINK: too many), not for the names. */
static int no_hard_links(int e)
{
	return e == EPERM || e == EOPNOTSUPP || e == EMLINK || e == ENOSYS;
}

int fs_write_atomic_linked(const char *path, const char *alias, const void *data, size_t len,
			   struct wl_err *err)
{
	char *tmp = temp_name(path);
	if (write_temp(tmp, path, data, len, err) < 0) {
		free(tmp);
		return -1;
	}
	int alias_errno = alias ? link_alias(tmp, alias) : 0;
	struct wl_err copy_err = WL_ERR_INIT;
	if (alias_errno && no_hard_links(alias_errno) && fs_write_atomic(alias, data, len, &copy_err) == 0)
		alias_errno = 0;   /* a file of its own then: two creates, the same document */
	if (rename(tmp, path) < 0) {
		err_set(err, "cannot write '%s': %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	if (!alias_errno)
		return 0;
	if (copy_err.msg[0])
		err_set(err, "%s", copy_err.msg);
	else
		err_set(err, "cannot write '%s': %s", alias, strerror(alias_errno));
	return 1;
}

int fs_append_line(const char *path, const char *line, struct wl_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(err, "cannot open '%s': %s", path, strerror(errno));
	size_t n = strlen(line);
	char *buf = xmalloc(n + 1);
	memcpy(buf, line, n);
	buf[n] = '\n';
	struct stat st;
	off_t before = fstat(fd, &st) == 0 ? st.st_size : -1;
	int r = fs_write_all(fd, buf, n + 1) ? -1 : 0;
	int saved = errno;
	if (r < 0 && before >= 0 && ftruncate(fd, before) < 0)   /* whole lines or nothing */
		saved = errno;
	free(buf);
	if (close(fd) < 0 && r == 0) {
		r = -1;
		saved = errno;
	}
	if (r < 0)
		return err_set(err, "cannot write '%s': %s", path, strerror(saved));
	return 0;
}

int fs_read_file(const char *path, size_t max, struct strbuf *sb, struct wl_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, "cannot open '%s': %s", path, strerror(errno));
	char buf[65536];
	size_t total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return err_set(err, "cannot read '%s': %s", path, strerror(e));
		}
		if (r == 0)
			break;
		total += (size_t)r;
		if (total > max) {
			close(fd);
			return err_set_kind(err, WL_ERR_TOO_LARGE, "'%s' is larger than %zu bytes", path, max);
		}
		strbuf_add(sb, buf, (size_t)r);
	}
	close(fd);
	return 0;
}

int fs_mkdir_p(const char *path, struct wl_err *err)
{
	/* The common cases in one call: the directory is new and its parent
	 * exists (a step's directory), or it exists already (the workspace). */
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno == EEXIST) {
		if (!fs_is_dir(path))
			return err_set(err, "'%s' exists and is not a directory", path);
		return 0;
	}
	if (errno != ENOENT)
		return err_set(err, "cannot create directory '%s': %s", path, strerror(errno));
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			err_set(err, "cannot create directory '%s': %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST) {
		err_set(err, "cannot create directory '%s': %s", p, strerror(errno));
		free(p);
		return -1;
	}
	free(p);
	if (!fs_is_dir(path))
		return err_set(err, "'%s' exists and is not a directory", path);
	return 0;
}

int fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int fs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int copy_file(const char *src, const char *dst, mode_t mode, struct wl_err *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_set(err, "cannot open '%s': %s", src, strerror(errno));
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777);
	if (out < 0) {
		close(in);
		return err_set(err, "cannot create '%s': %s", dst, strerror(errno));
	}
	char buf[65536];
	int rc = 0;
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(err, "cannot read '%s': %s", src, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (fs_write_all(out, buf, (size_t)r)) {
			rc = err_set(err, "cannot write '%s': %s", dst, strerror(errno));
			break;
		}
	}
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = err_set(err, "cannot write '%s': %s", dst, strerror(errno));
	return rc;
}

int fs_copy_tree(const char *src, const char *dst, struct wl_err *err)
{
	struct stat st;
	if (lstat(src, &st) < 0)
		return err_set(err, "cannot copy '%s': %s", src, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			return err_set(err, "cannot read link '%s': %s", src, strerror(errno));
		target[n] = '\0';
		unlink(dst);
		if (symlink(target, dst) < 0)
			return err_set(err, "cannot create link '%s': %s", dst, strerror(errno));
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return copy_file(src, dst, st.st_mode, err);
	if (fs_mkdir_p(dst, err) < 0)
		return -1;
	DIR *d = opendir(src);
	if (!d)
		return err_set(err, "cannot open directory '%s': %s", src, strerror(errno));
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *s = fs_join(src, de->d_name), *t = fs_join(dst, de->d_name);
		rc = fs_copy_tree(s, t, err);
		free(s);
		free(t);
	}
	closedir(d);
	return rc;
}

char *fs_join(const char *a, const char *b)
{
	if (!a || !*a || b[0] == '/')
		return xstrdup(b);
	size_t la = strlen(a);
	if (a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

char *fs_abspath(const char *path)
{
	struct strbuf in = STRBUF_INIT;
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)))
			strbuf_addstr(&in, cwd);
		strbuf_addch(&in, '/');
	}
	strbuf_addstr(&in, path);
	/* Normalise: drop "." and empty parts, resolve "..". */
	char **parts = NULL;
	size_t n = 0, alloc = 0;
	char *save = NULL;
	for (char *tok = strtok_r(in.buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (n)
				n--;
			continue;
		}
		XGROW(parts, n + 1, alloc);
		parts[n++] = tok;
	}
	struct strbuf out = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		strbuf_addch(&out, '/');
		strbuf_addstr(&out, parts[i]);
	}
	if (!n)
		strbuf_addch(&out, '/');
	free(parts);
	strbuf_release(&in);
	return strbuf_detach(&out);
}

long long fs_mtime_ms(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	return (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
	return rc < 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path, struct wl_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_set(err, "cannot remove '%s': %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_set(err, "cannot remove '%s': %s", path, strerror(errno));
		return 0;
	}
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return err_set(err, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

char *fs_path_in(const char *base, const char *p)
{
	char *j = fs_join(base, p);
	char *abs = fs_abspath(j);
	free(j);
	return abs;
}

char *fs_dir_of(const char *path)
{
	char *abs = fs_abspath(path);
	char *slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	return abs;
}

/* 1 executable regular file, 0 absent, -1 present but not executable. */
static int executable_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return access(path, X_OK) == 0 ? 1 : -1;
}

char *fs_find_command(const char *cmd, const char *path, const char *cwd, int *err_no)
{
	int eacces = 0;
	if (!*cmd) {
		*err_no = ENOENT;
		return NULL;
	}
	if (strchr(cmd, '/')) {
		char *p = cwd && cmd[0] != '/' ? fs_join(cwd, cmd) : xstrdup(cmd);
		int ok = executable_file(p);
		if (ok > 0)
			return p;
		free(p);
		*err_no = ok < 0 ? EACCES : ENOENT;
		return NULL;
	}
	if (!path)
		path = FS_DEFAULT_PATH;
	for (const char *dir = path; dir;) {
		const char *colon = strchr(dir, ':');
		size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
		char *rel = len ? xasprintf("%.*s/%s", (int)len, dir, cmd) : xasprintf("./%s", cmd);
		char *p = cwd && rel[0] != '/' ? fs_join(cwd, rel) : xstrdup(rel);
		free(rel);
		int ok = executable_file(p);
		if (ok > 0)
			return p;
		eacces |= ok < 0;
		free(p);
		dir = colon ? colon + 1 : NULL;
	}
	*err_no = eacces ? EACCES : ENOENT;
	return NULL;
}
