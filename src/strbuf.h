/*
 * strbuf: a growable, always NUL-terminated byte string (after git's strbuf).
 *
 *   struct strbuf sb = STRBUF_INIT;
 *   strbuf_addf(&sb, "%s=%d", key, n);
 *   use(sb.buf ? sb.buf : "")  -- or strbuf_str(&sb), never NULL
 *   strbuf_release(&sb);       -- or char *s = strbuf_detach(&sb) (caller frees)
 *
 * The buffer owns its memory; buf is NULL until something is added.
 */
#ifndef WAITLOOP_STRBUF_H
#define WAITLOOP_STRBUF_H
#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};
#define STRBUF_INIT {0}

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
char *strbuf_detach(struct strbuf *sb);           /* never NULL; caller frees */
const char *strbuf_str(const struct strbuf *sb);  /* "" when empty */
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void strbuf_setlen(struct strbuf *sb, size_t len);
void strbuf_trim(struct strbuf *sb);              /* strip leading/trailing whitespace */
/* Keep only the last max bytes (for output tails). */
void strbuf_keep_tail(struct strbuf *sb, size_t max);

/* Plain strings. How many of the len bytes of s to keep for at most max:
 * len when it fits, else a cut at a UTF-8 character boundary. */
size_t str_utf8_cut(const char *s, size_t len, size_t max);
/* FNV-1a of a NUL-terminated string (64-bit), for hash tables. */
size_t str_hash(const char *s);
/* Newlines, carriage returns and tabs become spaces: one line. */
void str_oneline(char *s);

#endif
