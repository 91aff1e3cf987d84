#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bgwrite.h"
#include "error.h"
#include "fsutil.h"
#include "pattern.h"
#include "strbuf.h"
#include "strvec.h"
#include "suggest.h"
#include "timeutil.h"
#include "xalloc.h"

static void test_duration_parse(void)
{
	int64_t ms = 0;
	CHECK(duration_parse("200ms", &ms) == 0 && ms == 200);
	CHECK(duration_parse("10s", &ms) == 0 && ms == 10000);
	CHECK(duration_parse("1h30m", &ms) == 0 && ms == 5400000);
	CHECK(duration_parse("1m30s500ms", &ms) == 0 && ms == 90500);
	CHECK(duration_parse("0s", &ms) == 0 && ms == 0);
	CHECK(duration_parse("", &ms) < 0);
	CHECK(duration_parse("10", &ms) < 0);
	CHECK(duration_parse("s", &ms) < 0);
	CHECK(duration_parse("10 s", &ms) < 0);
	CHECK(duration_parse("1.5s", &ms) < 0);
	CHECK(duration_parse("10d", &ms) < 0);
	CHECK(duration_parse("-1s", &ms) < 0);
	CHECK(duration_parse("99999999999999999999h", &ms) < 0);
}

static void test_duration_format(void)
{
	char buf[32];
	duration_format(90000, buf, sizeof(buf));
	CHECK_STR(buf, "1m30s");
	duration_format(200, buf, sizeof(buf));
	CHECK_STR(buf, "200ms");
	duration_format(0, buf, sizeof(buf));
	CHECK_STR(buf, "0s");
	duration_format(3600000 + 1, buf, sizeof(buf));
	CHECK_STR(buf, "1h1ms");
	/* seconds for people (history, show, stats) */
	duration_format_seconds(12.34, buf, sizeof(buf));
	CHECK_STR(buf, "12.3s");
	duration_format_seconds(90.4, buf, sizeof(buf));
	CHECK_STR(buf, "1m30s");
	duration_format_seconds(59.96, buf, sizeof(buf));
	CHECK_STR(buf, "60.0s");
}

static void test_strbuf(void)
{
	struct strbuf sb = STRBUF_INIT;
	CHECK_STR(strbuf_str(&sb), "");
	strbuf_addf(&sb, "%s-%d", "a", 42);
	strbuf_addch(&sb, '!');
	CHECK_STR(sb.buf, "a-42!");
	strbuf_keep_tail(&sb, 3);
	CHECK_STR(sb.buf, "42!");
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "  x y \n");
	strbuf_trim(&sb);
	CHECK_STR(sb.buf, "x y");
	strbuf_release(&sb);
}

static void test_str_hash(void)
{
	/* FNV-1a 64: the published vectors */
	CHECK(str_hash("") == (size_t)0xcbf29ce484222325ULL);
	CHECK(str_hash("a") == (size_t)0xaf63dc4c8601ec8cULL);
	CHECK(str_hash("foobar") == (size_t)0x85944171f73967e8ULL);
}

static void test_str_utf8_cut_oneline(void)
{
	const char *s = "ab\xC3\xA9" "cd";   /* "abécd": é is 2 bytes at 2..3 */
	CHECK_INT(str_utf8_cut(s, 6, 10), 6);   /* fits */
	CHECK_INT(str_utf8_cut(s, 6, 6), 6);
	CHECK_INT(str_utf8_cut(s, 6, 4), 4);    /* after é */
	CHECK_INT(str_utf8_cut(s, 6, 3), 2);    /* not inside é */
	CHECK_INT(str_utf8_cut(s, 6, 2), 2);
	CHECK_INT(str_utf8_cut(s, 6, 0), 0);
	const char *euro = "\xE2\x82\xAC\xE2\x82\xAC";   /* two 3-byte characters */
	CHECK_INT(str_utf8_cut(euro, 6, 5), 3);
	CHECK_INT(str_utf8_cut(euro, 6, 1), 0);
	char line[] = "a\nb\r\tc";
	str_oneline(line);
	CHECK_STR(line, "a b  c");
}

static void test_strvec(void)
{
	struct strvec v = STRVEC_INIT;
	strvec_push(&v, "b");
	strvec_push(&v, "a");
	strvec_push(&v, "b");
	strvec_sort_unique(&v);
	CHECK_INT(v.n, 2);
	CHECK_STR(v.v[0], "a");
	CHECK(v.v[2] == NULL);
	strvec_setenv(&v, "K", "1");
	strvec_setenv(&v, "K", "2");
	CHECK_STR(strvec_getenv(&v, "K"), "2");
	CHECK(strvec_getenv(&v, "Q") == NULL);
	size_t n = v.n;
	strvec_unsetenv(&v, "K");
	strvec_unsetenv(&v, "Q");   /* absent: nothing changes */
	CHECK_INT(v.n, n - 1);
	CHECK(strvec_getenv(&v, "K") == NULL);
	CHECK(v.v[v.n] == NULL);
	CHECK_STR(v.v[0], "a");
	strvec_clear(&v);
}

static void test_pattern(void)
{
	struct pattern p;
	struct wl_err err = WL_ERR_INIT;
	CHECK(pattern_compile(&p, "(?i)chart NOT found", &err) == 0);
	CHECK(pattern_match(&p, "Error: chart not found", NULL, 0));
	pattern_free(&p);
	CHECK(pattern_compile(&p, "Error from server \\((Forbidden|Unauthorized)\\)", &err) == 0);
	regmatch_t m[2];
	CHECK(pattern_match(&p, "Error from server (Forbidden): x", m, 2));
	CHECK_INT(m[1].rm_eo - m[1].rm_so, 9);
	pattern_free(&p);
	/* Stacked quantifiers made glibc's regcomp exponential (found by fuzzing,
	 * kept in the corpus): PCRE2 refuses "z**" and reads "*+"/"*?" as
	 * possessive/lazy; huge repetition counts are refused, not expanded. */
	CHECK(pattern_compile(&p, "z****************************************+++", &err) < 0);
	CHECK_CONTAINS(err.msg, "invalid regular expression");
	CHECK(pattern_compile(&p, "((a{999}){999}){999}", &err) < 0 ||
	      (pattern_free(&p), 1)); /* compiles or not, but returns at once */
	CHECK(pattern_compile(&p, "(a*)*b+c?[*+]{2,3}\\*", &err) == 0);
	pattern_free(&p);
	CHECK(pattern_compile(&p, "a(b", &err) < 0);
	CHECK_CONTAINS(err.msg, "invalid regular expression 'a(b'");
}

/* PCRE2 under limits: adversarial patterns end fast as PATTERN_LIMIT (the
 * glibc engine ran for minutes or grew to gigabytes on these). */
static void test_pattern_limits(void)
{
	struct pattern p;
	struct wl_err err = WL_ERR_INIT;
	size_t n = 61440;
	char *text = xmalloc(n + 3);
	memset(text, 'a', n);
	memcpy(text + n, "cb", 3);
	const char *const bad[] = {"(a|a)*(a|a)*b", "(a{1,200}){1,200}b", "([a-z]+)\\1b", "(.*a){20}",
				   "a{0,1000}a{0,1000}b", "(x+x+)+y"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK(pattern_compile(&p, bad[i], &err) == 0);
		if (i < 5) {
			CHECK_INT(pattern_exec(&p, text, n + 2, 0, NULL, 0), PATTERN_LIMIT);
			CHECK_INT(pattern_match(&p, text, NULL, 0), 0);   /* a limit is no match */
		}
		/* validate's probe warns about the catastrophic ones (not about
		 * a{0,1000}a{0,1000}b, which is only slow on one long run) */
		if (i != 4)
			CHECK_INT(pattern_probe_limits(&p), PATTERN_LIMIT);
		pattern_free(&p);
	}
	free(text);
	/* ordinary patterns do not trip the validate probe */
	const char *const good[] = {"(?i)chart not found", "^Error: .*$", "[[:alpha:]]+ [0-9]{3}", "[ab]*c",
				    "[a-z]+ failed", "(?i)x509|tls: |tls handshake|failed calling webhook",
				    "(Error from server|You must be logged in) \\((Forbidden|Unauthorized)\\)"};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		CHECK(pattern_compile(&p, good[i], &err) == 0);
		CHECK_INT(pattern_probe_limits(&p), PATTERN_NOMATCH);
		pattern_free(&p);
	}
}

/* What POSIX ERE workflows relied on keeps its meaning. */
static void test_pattern_posix_compat(void)
{
	struct pattern p;
	struct wl_err err = WL_ERR_INIT;
	regmatch_t m[2];
	/* a backslash inside brackets is a literal backslash */
	CHECK(pattern_compile(&p, "\"([^\"\\]*)\"", &err) == 0);
	CHECK(pattern_match(&p, "x=\"ab\"", m, 2));
	CHECK_INT(m[1].rm_eo - m[1].rm_so, 2);
	CHECK(!pattern_match(&p, "\"a\\b\"", m, 2));
	pattern_free(&p);
	/* glibc's word boundaries */
	CHECK(pattern_compile(&p, "\\<fail\\>", &err) == 0);
	CHECK(pattern_match(&p, "it did fail.", NULL, 0));
	CHECK(!pattern_match(&p, "it failed", NULL, 0));
	pattern_free(&p);
	/* . matches a newline; ^ and $ anchor the whole text */
	CHECK(pattern_compile(&p, "^begin.*end$", &err) == 0);
	CHECK(pattern_match(&p, "begin\nmiddle\nend", NULL, 0));
	CHECK(!pattern_match(&p, "x\nbegin end\n", NULL, 0));
	pattern_free(&p);
	/* (?i), POSIX classes, \w \s \b */
	CHECK(pattern_compile(&p, "(?i)[[:upper:]]+\\s\\bNOT\\w+", &err) == 0);
	CHECK(pattern_match(&p, "chart not_found", NULL, 0));
	pattern_free(&p);
	/* NUL bytes: pattern_exec sees past them */
	CHECK(pattern_compile(&p, "after", &err) == 0);
	CHECK_INT(pattern_exec(&p, "before\0after", 12, 0, NULL, 0), PATTERN_MATCH);
	pattern_free(&p);
}

static void test_suggest(void)
{
	const char *const keys[] = {"timeout", "steps", "concurrency", "depends_on", NULL};
	CHECK_STR(suggest_closest("timout", keys), "timeout");
	CHECK_STR(suggest_closest("depend_on", keys), "depends_on");
	CHECK(suggest_closest("zzzzzz", keys) == NULL);
}

static void test_fs(void)
{
	char dir[] = "/tmp/wl-test-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char *p = fs_join(dir, "a/b/c");
	struct wl_err err = WL_ERR_INIT;
	CHECK(fs_mkdir_p(p, &err) == 0);
	char *f = fs_join(p, "x.json");
	CHECK(fs_write_atomic(f, "{}", 2, &err) == 0);
	struct strbuf sb = STRBUF_INIT;
	CHECK(fs_read_file(f, 100, &sb, &err) == 0);
	CHECK_STR(sb.buf, "{}");
	CHECK(fs_read_file(f, 1, &sb, &err) < 0);
	CHECK_CONTAINS(err.msg, "is larger than 1 bytes");
	/* the kind, not the message, tells the failure apart; context keeps it */
	CHECK(err.kind == WL_ERR_TOO_LARGE);
	err_prefix(&err, "reading rules");
	CHECK(err.kind == WL_ERR_TOO_LARGE);
	CHECK(fs_read_file("/nonexistent/wl-x", 100, &sb, &err) < 0);
	CHECK(err.kind == WL_ERR_OTHER);
	char *abs = fs_abspath("/a/./b/../c//d");
	CHECK_STR(abs, "/a/c/d");
	free(abs);
	free(f);
	free(p);
	strbuf_release(&sb);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	free(cmd);
}

static char *read_all(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	if (fs_read_file(path, 1 << 20, &sb, NULL) < 0) {
		strbuf_release(&sb);
		return xstrdup("(unreadable)");
	}
	return strbuf_detach(&sb);
}

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

#define CHECK_FILE(path, want)                 \
	do {                                   \
		char *got_ = read_all(path);   \
		CHECK_STR(got_, want);         \
		free(got_);                    \
	} while (0)

/* One file under two names (_meta.json and _resolved.json): created once,
 * both names replaced atomically by later writes, a failed alias never
 * loses the main name, and a leftover temporary name is never written
 * through. */
static void test_fs_write_atomic_linked(void)
{
	char tmpl[] = "/tmp/wl-linked.XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir)
		return;
	char *p = xasprintf("%s/_meta.json", dir), *alias = xasprintf("%s/_resolved.json", dir);
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(fs_write_atomic_linked(p, alias, "one\n", 4, &err), 0);
	CHECK(same_file(p, alias));
	CHECK_FILE(alias, "one\n");
	struct stat st;
	CHECK(stat(p, &st) == 0 && st.st_nlink == 2);
	/* a rewrite: the alias exists and is replaced too, still one file */
	CHECK_INT(fs_write_atomic_linked(p, alias, "two\n", 4, &err), 0);
	CHECK(same_file(p, alias));
	CHECK_FILE(p, "two\n");
	CHECK_FILE(alias, "two\n");
	CHECK(stat(p, &st) == 0 && st.st_nlink == 2);
	/* a rewrite without the alias leaves it as it was */
	CHECK_INT(fs_write_atomic(p, "three\n", 6, &err), 0);
	CHECK(!same_file(p, alias));
	CHECK_FILE(alias, "two\n");
	/* leftover temporary names of a killed runner of this pid: the one of
	 * the alias is only a name (replaced); the one of path may be another
	 * name of a live file, which must not be written through */
	char *tmp = xasprintf("%s.tmp.%ld", p, (long)getpid());
	char *tmp2 = xasprintf("%s.tmp.%ld", alias, (long)getpid());
	CHECK(link(alias, tmp) == 0);
	CHECK(link(alias, tmp2) == 0);
	CHECK_INT(fs_write_atomic_linked(p, alias, "four\n", 5, &err), 0);
	CHECK(same_file(p, alias));
	CHECK_FILE(alias, "four\n");
	CHECK(access(tmp, F_OK) < 0 && access(tmp2, F_OK) < 0);
	char *other = xasprintf("%s/other", dir);
	CHECK_INT(fs_write_atomic(other, "keep\n", 5, &err), 0);
	CHECK(link(other, tmp) == 0);
	CHECK_INT(fs_write_atomic(p, "five\n", 5, &err), 0);
	CHECK_FILE(other, "keep\n");
	CHECK_FILE(p, "five\n");
	/* the alias cannot be written (a directory in its place): path is
	 * written all the same, 1 and the alias named in err */
	CHECK(unlink(alias) == 0);
	char *blocker = xasprintf("%s/x", alias);
	CHECK(fs_mkdir_p(blocker, &err) == 0);
	CHECK_INT(fs_write_atomic_linked(p, alias, "six\n", 4, &err), 1);
	CHECK_FILE(p, "six\n");
	CHECK_CONTAINS(err.msg, "cannot write '");
	CHECK_CONTAINS(err.msg, "_resolved.json': Is a directory");
	CHECK(access(tmp, F_OK) < 0 && access(tmp2, F_OK) < 0);
	/* path cannot be written: -1, nothing left behind */
	char *missing = xasprintf("%s/no/such/dir/_meta.json", dir);
	CHECK_INT(fs_write_atomic_linked(missing, alias, "x", 1, &err), -1);
	CHECK_CONTAINS(err.msg, "no/such/dir/_meta.json': No such file or directory");
	free(missing);
	free(blocker);
	free(other);
	free(tmp2);
	free(tmp);
	free(alias);
	free(p);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	free(cmd);
}

/* The one PATH search: execvp's order, empty element = cwd, EACCES only
 * when nothing executable matched, default PATH when none. */
static void test_find_command(void)
{
	char tmpl[] = "/tmp/wl-findcmd.XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir)
		return;
	char *a = xasprintf("%s/a", dir), *b = xasprintf("%s/b", dir);
	struct wl_err err = WL_ERR_INIT;
	CHECK(fs_mkdir_p(a, &err) == 0);
	CHECK(fs_mkdir_p(b, &err) == 0);
	char *noexec = xasprintf("%s/tool", a), *exe = xasprintf("%s/tool", b);
	CHECK(fs_write_atomic(noexec, "x", 1, &err) == 0);
	CHECK(fs_write_atomic(exe, "x", 1, &err) == 0);
	CHECK(chmod(noexec, 0644) == 0);
	CHECK(chmod(exe, 0755) == 0);
	char *path = xasprintf("%s:%s", a, b);
	int e = 0;
	char *got = fs_find_command("tool", path, NULL, &e);
	CHECK_STR(got, exe);   /* the non-executable one earlier in PATH is passed over */
	free(got);
	got = fs_find_command("tool", a, NULL, &e);
	CHECK(got == NULL);
	CHECK_INT(e, EACCES);
	got = fs_find_command("no-such-tool", path, NULL, &e);
	CHECK(got == NULL);
	CHECK_INT(e, ENOENT);
	got = fs_find_command("tool", ":/nonexistent", b, &e);   /* empty element: the cwd */
	CHECK(got != NULL && strstr(got, "/tool") != NULL);
	free(got);
	got = fs_find_command("b/tool", "/nonexistent", dir, &e);   /* a '/': from cwd, no search */
	CHECK(got != NULL);
	free(got);
	got = fs_find_command("sh", NULL, NULL, &e);   /* no PATH: FS_DEFAULT_PATH */
	CHECK(got != NULL);
	free(got);
	got = fs_find_command("", path, NULL, &e);
	CHECK(got == NULL);
	free(path);
	free(noexec);
	free(exe);
	free(a);
	free(b);
	CHECK(fs_remove_tree(dir, &err) == 0);
}

/* time_format_rfc3339 computes the civil date itself: every date from 1970
 * to 9999 (leap days, century years), truncation and pre-1970 or later
 * times still format as gmtime_r + strftime would. */
static void test_rfc3339(void)
{
	int64_t times[2000] = {0, 999, 1000, 1796097925841LL, 1796097925842LL, 1796097926000LL, 1796097925999LL,
			       951782400000LL, 951868799999LL, 4102444799999LL, 4107542400000LL, 253402300799999LL,
			       253402300800000LL, -1, -1500, -86400001LL, 1796097925841LL};
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 17; i < sizeof(times) / sizeof(times[0]); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		times[i] = (int64_t)(x % 253402300800000ULL);   /* 1970 .. 9999 */
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		time_t secs = (time_t)(times[i] / 1000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		char base[32], want[40], got[40];
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want, sizeof(want), "%s.%03dZ", base, (int)(times[i] % 1000));
		time_format_rfc3339(times[i], got, sizeof(got));
		CHECK_STR(got, want);
		char small[12];   /* cut short, NUL-terminated, as snprintf does */
		time_format_rfc3339(times[i], small, sizeof(small));
		want[sizeof(small) - 1] = '\0';
		CHECK_STR(small, want);
	}
}

/* bgwrite: jobs run in the order given (the last of 40 rewrites of one
 * file wins, its alias with it), a failed write comes back once through
 * drain -- its name removed, not left stale -- and drain(wait) returns
 * only when everything given is written. */
static int bg_errors;
static void bg_on_error(void *arg, const char *msg)
{
	(void)arg;
	bg_errors++;
	CHECK_CONTAINS(msg, "cannot write");
}
static int bg_calls, bg_out_of_order;

static void bg_call(void *arg)
{
	if ((intptr_t)arg != bg_calls)
		bg_out_of_order++;
	bg_calls++;
}

static void test_bgwrite(void)
{
	char tmpl[] = "/tmp/wl-bgwrite.XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir)
		return;
	struct bgwrite *b = bgwrite_new();
	CHECK(b != NULL);
	if (!b)
		return;
	char *p = xasprintf("%s/_meta.json", dir), *alias = xasprintf("%s/_resolved.json", dir);
	for (int i = 0; i < 40; i++) {
		char *body = xasprintf("%d\n", i);
		bgwrite_linked(b, xstrdup(p), i % 2 ? xstrdup(alias) : NULL, body, strlen(body));
	}
	char *bad = xasprintf("%s/no-such-dir/_meta.json", dir);
	bgwrite_linked(b, bad, NULL, xstrdup("x\n"), 2);
	bg_errors = 0;
	bgwrite_drain(b, 1, bg_on_error, NULL);
	CHECK_FILE(p, "39\n");
	CHECK(same_file(p, alias));
	CHECK_INT(bg_errors, 1);
	bgwrite_drain(b, 1, bg_on_error, NULL);
	CHECK_INT(bg_errors, 1);   /* handed back once */
	/* calls run in the order given, files and calls alike; a ticket's
	 * wait covers its job and every one before it */
	bg_calls = 0;
	unsigned long t = 0;
	for (int i = 0; i < 20; i++)
		t = bgwrite_call(b, bg_call, (void *)(intptr_t)i);
	bgwrite_wait(b, t);
	CHECK_INT(bg_calls, 20);
	CHECK_INT(bg_out_of_order, 0);
	bgwrite_linked(b, xstrdup(p), NULL, xstrdup("last\n"), 5);
	bgwrite_free(b);           /* waits for it */
	CHECK_FILE(p, "last\n");
	unlink(p);
	unlink(alias);
	rmdir(dir);
	free(p);
	free(alias);
}

int main(void)
{
	TEST(test_duration_parse);
	TEST(test_rfc3339);
	TEST(test_duration_format);
	TEST(test_strbuf);
	TEST(test_str_utf8_cut_oneline);
	TEST(test_str_hash);
	TEST(test_strvec);
	TEST(test_pattern);
	TEST(test_pattern_limits);
	TEST(test_pattern_posix_compat);
	TEST(test_suggest);
	TEST(test_fs);
	TEST(test_fs_write_atomic_linked);
	TEST(test_bgwrite);
	TEST(test_find_command);
	return tests_done();
}
