/* Unit tests for json_print_sb() (src/jsonutil.c): byte for byte what
 * cJSON_Print and cJSON_PrintUnformatted give, on chosen and random values. */
#include "harness.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "events.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "strbuf.h"

static int mismatches;

/* Compare both forms of v with cJSON's; report the first few differences. */
static void same_as_cjson(const cJSON *v)
{
	for (int fmt = 0; fmt < 2; fmt++) {
		char *want = fmt ? cJSON_Print(v) : cJSON_PrintUnformatted(v);
		char *got = json_print(v, fmt);
		int same = (!want && !got) || (want && got && !strcmp(want, got));
		if (!same && mismatches++ < 5)
			fprintf(stderr, "  fmt=%d want <%s> got <%s>\n", fmt, want ? want : "(null)",
				got ? got : "(null)");
		CHECK(same);
		cJSON_free(want);
		free(got);
	}
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)   /* xorshift64: the same values every run */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double random_double(void)
{
	switch (next_rand() % 6) {
	case 0: {   /* any bit pattern (NaN and infinities included) */
		uint64_t bits = next_rand();
		double d;
		memcpy(&d, &bits, sizeof(d));
		return d;
	}
	case 1:     /* integers of every size around the 1e15 and 2^53 edges */
		return (double)(int64_t)(next_rand() >> (next_rand() % 64)) * ((next_rand() & 1) ? -1 : 1);
	case 2:
		return 1e15 + (double)(int64_t)(next_rand() % 2001) - 1000;
	case 3:     /* short decimals: durations, ratios */
		return (double)(int64_t)(next_rand() % 1000000) / 1000.0;
	case 4:
		return (double)(next_rand() % 100000) / (double)(next_rand() % 997 + 1);
	default:
		return ldexp((double)(next_rand() % 1000003), (int)(next_rand() % 200) - 100);
	}
}

static void test_numbers(void)
{
	const double chosen[] = {0.0, -0.0, 1, -1, 0.1, 0.014, 1.5, -2.25, 1e15, 1e15 - 1, -1e15, -1e15 + 1,
				 999999999999999.0, 1e16, 9007199254740992.0, 9007199254740993.0, 1e21, 1e300,
				 1e-300, 5e-324, DBL_MAX, -DBL_MAX, DBL_MIN, 1.0 / 3, 2.0 / 3, 1796097926628.0,
				 (double)INT_MAX, (double)INT_MAX + 1, (double)INT_MIN, (double)INT_MIN - 1,
				 123456789012345.6, 0.1 + 0.2, NAN, INFINITY, -INFINITY};
	for (size_t i = 0; i < sizeof(chosen) / sizeof(chosen[0]); i++) {
		cJSON *n = cJSON_CreateNumber(chosen[i]);
		same_as_cjson(n);
		cJSON_Delete(n);
	}
	for (int i = 0; i < 20000; i++) {
		cJSON *n = cJSON_CreateNumber(random_double());
		same_as_cjson(n);
		cJSON_Delete(n);
	}
}

static void test_strings(void)
{
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	const char *chosen[] = {"", "plain", "q\"uote", "back\\slash", "\b\f\n\r\t", "\x01\x1f\x7f", "é ☃ \xff",
				"/slash/", all};
	for (size_t i = 0; i < sizeof(chosen) / sizeof(chosen[0]); i++) {
		cJSON *s = cJSON_CreateString(chosen[i]);
		same_as_cjson(s);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, chosen[i], 1);   /* as a key too */
		same_as_cjson(o);
		cJSON_Delete(o);
		cJSON_Delete(s);
	}
	cJSON *s = cJSON_CreateString("x");   /* a string without text prints as "" */
	cJSON_free(s->valuestring);
	s->valuestring = NULL;
	same_as_cjson(s);
	cJSON_Delete(s);
}

static cJSON *random_tree(int depth)
{
	unsigned k = (unsigned)(next_rand() % (depth > 4 ? 5 : 8));
	switch (k) {
	case 0: return cJSON_CreateNull();
	case 1: return cJSON_CreateBool(next_rand() & 1);
	case 2: return cJSON_CreateNumber(random_double());
	case 3: {
		char buf[8];
		for (size_t i = 0; i < sizeof(buf) - 1; i++)
			buf[i] = (char)(next_rand() % 127 + 1);
		buf[next_rand() % sizeof(buf)] = '\0';
		return cJSON_CreateString(buf);
	}
	case 4: return cJSON_CreateRaw("{\"raw\": 1}");
	case 5:
	case 6: {
		cJSON *a = cJSON_CreateArray();
		for (unsigned n = (unsigned)(next_rand() % 4); n > 0; n--)
			cJSON_AddItemToArray(a, random_tree(depth + 1));
		return a;
	}
	default: {
		cJSON *o = cJSON_CreateObject();
		for (unsigned n = (unsigned)(next_rand() % 5); n > 0; n--) {
			char key[4] = {(char)('a' + next_rand() % 26), (char)('a' + next_rand() % 26), 0, 0};
			cJSON_AddItemToObject(o, key, random_tree(depth + 1));
		}
		return o;
	}
	}
}

static void test_trees(void)
{
	cJSON *empty_o = cJSON_CreateObject(), *empty_a = cJSON_CreateArray();
	same_as_cjson(empty_o);
	same_as_cjson(empty_a);
	cJSON_Delete(empty_o);
	cJSON_Delete(empty_a);
	const char *chosen = "{\"step\":\"s1\",\"n\":null,\"deps\":[\"a\",\"b\"],\"arts\":[{\"name\":\"x\","
			     "\"in\":{\"deep\":[[],{}]}}],\"e\":{},\"t\":true,\"f\":false,\"d\":0.014}";
	cJSON *c = cJSON_Parse(chosen);
	CHECK(c != NULL);
	same_as_cjson(c);
	cJSON_Delete(c);
	for (int i = 0; i < 3000; i++) {
		cJSON *t = random_tree(0);
		same_as_cjson(t);
		cJSON_Delete(t);
	}
	/* where cJSON fails, json_print fails too */
	cJSON *bad = cJSON_CreateArray();
	cJSON *inv = cJSON_CreateNull();
	inv->type = cJSON_Invalid;
	cJSON_AddItemToArray(bad, inv);
	same_as_cjson(bad);
	cJSON_Delete(bad);
}

/* event_to_line() is the events.jsonl line: json_compact(event_to_json())
 * and a newline, with the envelope's keys first and a data key that repeats
 * one of them (or an earlier data key) left out. */
static void test_event_line(void)
{
	const char *datas[] = {NULL, "{}", "{\"status\":\"RUNNING\",\"reason\":null}",
			       "{\"type\":\"x\",\"ts\":1,\"step\":\"other\",\"attempt\":9,\"a\":1,\"a\":2}",
			       "{\"iteration\":3,\"run_id\":\"r\",\"exit_code\":0,\"signals_sent\":[],"
			       "\"duration_s\":0.001,\"nested\":{\"k\":[1,2.5,\"q\\\"\"]}}"};
	const char *steps[] = {NULL, "s1", "we\"ird\n"};
	int n = 0;
	for (size_t d = 0; d < sizeof(datas) / sizeof(datas[0]); d++)
		for (size_t st = 0; st < 3; st++)
			for (int it = 0; it < 2; it++) {
				struct wl_event ev = {(enum ev_type)(n % EV__COUNT), 1796097926628LL + n,
						      (n % 3) ? "20261201-040525-40d239" : NULL, steps[st], it * 2,
						      (n % 2) * 3, datas[d] ? cJSON_Parse(datas[d]) : NULL, CLASS_UNSET};
				n++;
				cJSON *o = event_to_json(&ev);
				char *c = json_compact(o);
				struct strbuf want = STRBUF_INIT, got = STRBUF_INIT;
				strbuf_addstr(&want, c);
				strbuf_addch(&want, '\n');
				strbuf_addstr(&got, "prefix:");   /* appends */
				event_to_line(&got, &ev);
				CHECK(!strncmp(got.buf, "prefix:", 7));
				CHECK_STR(got.buf + 7, want.buf);
				strbuf_release(&want);
				strbuf_release(&got);
				free(c);
				cJSON_Delete(o);
				cJSON_Delete(ev.data);
			}
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* events.jsonl by turns (event_file): lines wait in the buffer until a
 * flush, which appends them all, byte for byte event_to_line()'s; close
 * flushes what is left; a write error is reported with the path. */
static void test_event_file(void)
{
	char dir[] = "/tmp/wl-evfile.XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	char *path = fs_join(dir, "events.jsonl");
	struct wl_err err = WL_ERR_INIT;
	struct event_file *f = event_file_open(path, &err);
	CHECK(f != NULL);
	if (!f) {
		free(path);
		return;
	}
	struct strbuf want = STRBUF_INIT;
	for (int i = 1; i <= 3; i++) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "status", i == 3 ? "SUCCEEDED" : "RUNNING");
		struct wl_event ev = {.type = EV_STEP_STATE, .ts_ms = 1796115203171 + i, .run_id = "r1",
				      .step = "s1", .data = d};
		CHECK_INT(event_file_add(f, &ev, &err), 0);
		event_to_line(&want, &ev);
		cJSON_Delete(d);
		if (i == 2) {
			CHECK_INT(file_size(path), 0);   /* nothing written before the flush */
			CHECK_INT(event_file_flush(f, &err), 0);
			CHECK_INT(file_size(path), (off_t)want.len);
			CHECK_INT(event_file_flush(f, &err), 0);   /* nothing left: nothing written */
			CHECK_INT(file_size(path), (off_t)want.len);
		}
	}
	CHECK_INT(event_file_close(f, &err), 0);   /* the third line */
	struct strbuf got = STRBUF_INIT;
	CHECK(fs_read_file(path, 1 << 20, &got, &err) == 0);
	CHECK_STR(got.buf, want.buf);
	strbuf_release(&got);
	unlink(path);

	/* a turn past EVENT_FILE_MAX is written at once, in whole lines */
	f = event_file_open(path, &err);
	CHECK(f != NULL);
	size_t added = 0, line = 0;
	while (f && added <= EVENT_FILE_MAX) {
		struct wl_event ev = {.type = EV_RUN_STARTED, .ts_ms = 1, .run_id = "r1"};
		struct strbuf one = STRBUF_INIT;
		event_to_line(&one, &ev);
		line = one.len;
		added += line;
		strbuf_release(&one);
		CHECK_INT(event_file_add(f, &ev, &err), 0);
	}
	off_t before_close = file_size(path);
	CHECK(before_close >= (off_t)EVENT_FILE_MAX);
	CHECK(line > 0 && before_close % (off_t)line == 0);
	CHECK_INT(event_file_close(f, &err), 0);
	CHECK_INT(file_size(path), (off_t)added);
	unlink(path);
	rmdir(dir);
	free(path);

	/* a full device: the error names the file, the lines are dropped */
	if (access("/dev/full", W_OK) == 0) {
		f = event_file_open("/dev/full", &err);
		CHECK(f != NULL);
		if (f) {
			cJSON *d = cJSON_CreateObject();
			struct wl_event ev = {.type = EV_RUN_STARTED, .ts_ms = 1, .run_id = "r1", .data = d};
			CHECK_INT(event_file_add(f, &ev, &err), 0);
			CHECK_INT(event_file_flush(f, &err), -1);
			CHECK_STR(err.msg, "cannot write '/dev/full': No space left on device");
			CHECK_INT(event_file_close(f, &err), 0);   /* dropped: nothing to write */
			cJSON_Delete(d);
		}
	}
	strbuf_release(&want);
}

int main(void)
{
	TEST(test_numbers);
	TEST(test_strings);
	TEST(test_trees);
	TEST(test_event_line);
	TEST(test_event_file);
	return tests_done();
}
