#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

__attribute__((format(printf, 3, 0)))
static int err_vset(struct wl_err *err, enum wl_err_kind kind, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	err->kind = kind;
	return -1;
}

int err_set(struct wl_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, WL_ERR_OTHER, fmt, ap);
	va_end(ap);
	return -1;
}

int err_set_kind(struct wl_err *err, enum wl_err_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, kind, fmt, ap);
	va_end(ap);
	return -1;
}

int err_prefix(struct wl_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addstr(&sb, ": ");
	strbuf_addstr(&sb, err->msg);
	size_t n = sb.len < sizeof(err->msg) - 1 ? sb.len : sizeof(err->msg) - 1;
	memcpy(err->msg, sb.buf, n);
	err->msg[n] = '\0';
	strbuf_release(&sb);
	return -1;
}

void errlist_vadd(struct errlist *el, enum diag_level level, const char *file, int line, int col,
		  const char *fmt, va_list ap)
{
	XGROW(el->items, el->n + 1, el->alloc);
	struct diag *d = &el->items[el->n++];
	d->level = level;
	d->file = xstrdup(file ? file : "<input>");
	d->line = line;
	d->col = col;
	if (vasprintf(&d->msg, fmt, ap) < 0)
		d->msg = xstrdup("(unprintable message)");
	if (level == DIAG_ERROR)
		el->nerrors++;
	else
		el->nwarnings++;
}

void errlist_add(struct errlist *el, enum diag_level level, const char *file, int line, int col,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errlist_vadd(el, level, file, line, col, fmt, ap);
	va_end(ap);
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x < y ? -1 : (x > y);
}

void errlist_sort(struct errlist *el)
{
	if (el->n > 1)
		qsort(el->items, el->n, sizeof(*el->items), diag_cmp);
}

void errlist_print(const struct errlist *el, void *stream)
{
	FILE *f = stream;
	for (size_t i = 0; i < el->n; i++) {
		const struct diag *d = &el->items[i];
		const char *level = d->level == DIAG_ERROR ? "error" : "warning";
		if (d->line > 0)   /* line 0: about the whole file (cannot open, too large) */
			fprintf(f, "%s:%d:%d: %s: %s\n", d->file, d->line, d->col, level, d->msg);
		else
			fprintf(f, "%s: %s: %s\n", d->file, level, d->msg);
	}
}

void errlist_release(struct errlist *el)
{
	for (size_t i = 0; i < el->n; i++) {
		free(el->items[i].file);
		free(el->items[i].msg);
	}
	free(el->items);
	memset(el, 0, sizeof(*el));
}
