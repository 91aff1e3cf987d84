/*
 * A tiny unit-test harness: TEST(fn) runs one function; CHECK* record
 * failures with file:line; tests_done() prints the summary and returns the
 * exit status. Output lines "PASS name" / "FAIL name" are counted by
 * tests/run.sh.
 *
 *   static void test_x(void) { CHECK(1 + 1 == 2); CHECK_STR(a, "b"); }
 *   int main(void) { TEST(test_x); return tests_done(); }
 */
#ifndef WAITLOOP_HARNESS_H
#define WAITLOOP_HARNESS_H
#include <stdio.h>
#include <string.h>

static int harness_failed_checks;
static int harness_passed, harness_failed;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			harness_failed_checks++;                                      \
		}                                                                     \
	} while (0)

#define CHECK_STR(got, want)                                                          \
	do {                                                                          \
		const char *g_ = (got), *w_ = (want);                                 \
		if (!g_ || !w_ || strcmp(g_, w_)) {                                   \
			fprintf(stderr, "  %s:%d: %s\n    got:  '%s'\n    want: '%s'\n", __FILE__, \
				__LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");      \
			harness_failed_checks++;                                      \
		}                                                                     \
	} while (0)

#define CHECK_INT(got, want)                                                          \
	do {                                                                          \
		long long g_ = (long long)(got), w_ = (long long)(want);              \
		if (g_ != w_) {                                                       \
			fprintf(stderr, "  %s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_); \
			harness_failed_checks++;                                      \
		}                                                                     \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                   \
	do {                                                                          \
		const char *h_ = (hay), *n_ = (needle);                               \
		if (!h_ || !strstr(h_, n_)) {                                         \
			fprintf(stderr, "  %s:%d: '%s' not found in:\n%s\n", __FILE__, __LINE__, n_, h_ ? h_ : "(null)"); \
			harness_failed_checks++;                                      \
		}                                                                     \
	} while (0)

#define TEST(fn)                                                                      \
	do {                                                                          \
		int before_ = harness_failed_checks;                                  \
		fn();                                                                 \
		if (harness_failed_checks == before_) {                               \
			printf("PASS %s\n", #fn);                                     \
			harness_passed++;                                             \
		} else {                                                              \
			printf("FAIL %s\n", #fn);                                     \
			harness_failed++;                                             \
		}                                                                     \
		fflush(stdout);                                                       \
	} while (0)

static inline int tests_done(void)
{
	return harness_failed ? 1 : 0;
}

#endif
