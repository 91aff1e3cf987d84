/*
 * Errors are values (STYLE.md §4).
 *
 * struct wl_err carries one message for library calls that fail:
 *     struct wl_err err = WL_ERR_INIT;
 *     if (fs_write_atomic(path, data, len, &err) < 0)
 *             return -1;   -- err says why; the caller reports it (only main prints)
 * Messages are lowercase with the subject in quotes: cannot open 'x.yaml': ...
 * A caller that must tell one failure from another reads err.kind (set with
 * err_set_kind()), never the message text.
 *
 * struct errlist collects positioned diagnostics about user input
 * (FILE:LINE:COL: error: message); every error is reported, not only the first.
 */
#ifndef WAITLOOP_ERROR_H
#define WAITLOOP_ERROR_H
#include <stdarg.h>
#include <stddef.h>

/* What failed, for callers that react differently (the message says the rest). */
enum wl_err_kind {
	WL_ERR_OTHER = 0,
	WL_ERR_TOO_LARGE,   /* a file over the caller's size limit (fs_read_file) */
	WL_ERR_NOT_REPO,    /* not inside a git work tree (gitwork_open) */
};

struct wl_err {
	enum wl_err_kind kind;
	char msg[1024];
};
#define WL_ERR_INIT {WL_ERR_OTHER, {0}}

/* Format into err (if not NULL) and return -1, so: return err_set(err, ...).
 * err->kind becomes WL_ERR_OTHER. */
int err_set(struct wl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a kind. */
int err_set_kind(struct wl_err *err, enum wl_err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix an existing message: "context: <old message>". Returns -1. */
int err_prefix(struct wl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum diag_level { DIAG_ERROR, DIAG_WARNING };

struct diag {
	enum diag_level level;
	char *file;       /* owned */
	int line, col;    /* 1-based; 0 when unknown */
	char *msg;        /* owned */
};

struct errlist {
	struct diag *items;
	size_t n, alloc;
	size_t nerrors, nwarnings;
};
#define ERRLIST_INIT {0}

void errlist_add(struct errlist *el, enum diag_level level, const char *file, int line, int col,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The same from a va_list, for a module's own error function. */
void errlist_vadd(struct errlist *el, enum diag_level level, const char *file, int line, int col,
		  const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
/* Sort by file, line, column (stable), as a compiler prints them. */
void errlist_sort(struct errlist *el);
/* Print every diagnostic as FILE:LINE:COL: error|warning: message
 * (FILE: error: message when line is 0, i.e. about the whole file). */
void errlist_print(const struct errlist *el, void *stream /* FILE* */);
void errlist_release(struct errlist *el);

#endif
