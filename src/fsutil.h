/*
 * fsutil: file helpers with the one write discipline of the project:
 * every artifact is written to a temporary file in the same directory, then
 * renamed over the target, so a reader (or a killed runner) never sees a
 * torn file. There is deliberately no fsync: rename(2) already gives
 * all-or-nothing against a crash of the runner, and an fsync per artifact
 * cost ~8 ms on this disk — 15 ms of overhead per step (docs/benchmarks.md).
 * What must survive a power loss is the run history, and SQLite keeps that
 * database consistent (store.h).
 */
#ifndef WAITLOOP_FSUTIL_H
#define WAITLOOP_FSUTIL_H
#include <stddef.h>

#include "error.h"
#include "strbuf.h"

/* Write all len bytes to fd (retrying short writes and EINTR): 0, or the errno of the
 * failed write (also left in errno; a write of 0 bytes counts as ENOSPC). */
int fs_write_all(int fd, const void *data, size_t len);
/* len bytes of data as the file path, written to "<path>.tmp.<pid>" and
 * renamed over path: a reader sees the old file or the new one, whole. */
int fs_write_atomic(const char *path, const void *data, size_t len, struct wl_err *err);
/*
 * fs_write_atomic(), and the same file under a second name, alias, in the
 * same directory (a hard link: one inode, so one create, for two names of
 * one document). Each name changes atomically: the temporary file is linked
 * as alias (an existing alias is replaced by rename, through a second
 * temporary name), then renamed to path. On a file system without hard
 * links (link(2) fails with EPERM, EOPNOTSUPP, EMLINK or ENOSYS) alias is
 * written as a file of its own, the same bytes. Returns 0; -1 when path
 * could not be written (path unchanged, alias possibly already the new
 * file); 1 when path was written but alias could not be (alias unchanged:
 * it may be stale). err says why. alias NULL: fs_write_atomic().
 */
int fs_write_atomic_linked(const char *path, const char *alias, const void *data, size_t len,
			   struct wl_err *err);
/* Append one line (a '\n' is added) with a single write(2) on an O_APPEND descriptor. */
int fs_append_line(const char *path, const char *line, struct wl_err *err);
/* Read a whole file into sb (appended); fails if larger than max bytes. */
int fs_read_file(const char *path, size_t max, struct strbuf *sb, struct wl_err *err);
int fs_mkdir_p(const char *path, struct wl_err *err);
/* Copy a file or a directory tree (regular files, directories, symlinks). */
int fs_copy_tree(const char *src, const char *dst, struct wl_err *err);
int fs_exists(const char *path);
int fs_is_dir(const char *path);
/* Join two path parts with one '/', or return b when it is absolute. Caller frees. */
char *fs_join(const char *a, const char *b);
/* An absolute, normalised path (no symlink resolution). Caller frees. */
char *fs_abspath(const char *path);
/* Remove a file or a directory tree (symlinks are removed, never followed).
 * A missing path is not an error. */
int fs_remove_tree(const char *path, struct wl_err *err);
/* A user path: absolute as is, else relative to base. Normalised, caller frees. */
char *fs_path_in(const char *base, const char *p);
/* The directory of path, absolute and normalised. Caller frees. */
char *fs_dir_of(const char *path);

/* PATH when the environment has none: what execvp(3) searches then. */
#define FS_DEFAULT_PATH "/bin:/usr/bin"
/*
 * The one PATH search (as execvp(3) does it, and proc.c before exec): cmd
 * with a '/' is taken as is; else each element of path (NULL:
 * FS_DEFAULT_PATH; an empty element is the current directory) is tried and
 * the first executable regular file wins. A relative result is taken
 * relative to cwd when cwd is not NULL. Returns that path (caller frees),
 * or NULL with *err_no = ENOENT, or EACCES when only files that are not
 * executable matched.
 */
char *fs_find_command(const char *cmd, const char *path, const char *cwd, int *err_no);

/* Modification time of path in ms since the epoch, or -1. */
long long fs_mtime_ms(const char *path);

#endif
