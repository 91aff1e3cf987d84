#include "harness.h"

#include "backoff.h"

/* One growth rule: base * factor^n, never past the cap. */
static void test_backoff_delay(void)
{
	CHECK_INT(backoff_delay(1000, 2.0, 60000, 0), 1000);
	CHECK_INT(backoff_delay(1000, 2.0, 60000, 3), 8000);
	CHECK_INT(backoff_delay(1000, 2.0, 60000, 10), 60000);
	CHECK_INT(backoff_delay(100, 1.5, 5000, 1), 150);
	CHECK_INT(backoff_delay(7000, 2.0, 5000, 1), 5000);   /* already past the cap */
	CHECK_INT(backoff_delay(1000, 2.0, 60000, 1000000), 60000);   /* no overflow, no long loop */
}

static void test_retry_delay(void)
{
	struct wl_step s;
	memset(&s, 0, sizeof(s));
	s.on_failure = ON_FAILURE_RETRY;   /* roboppi: 100 ms * 2^n, capped at 5 s */
	s.max_retries = 3;
	s.retry.present = 0;
	CHECK_INT(backoff_retry_delay(&s, 0, 0, 0, 0, 1, 1), 100);
	CHECK_INT(backoff_retry_delay(&s, 2, 0, 0, 1, 0, 0), 400);   /* a timeout is retried too */
	CHECK_INT(backoff_retry_delay(&s, 3, 0, 0, 0, 1, 1), -1);    /* budget of retries used */

	memset(&s, 0, sizeof(s));
	s.retry.present = 1;
	s.retry.limit = 5;
	s.retry.backoff_duration = 1000;
	s.retry.backoff_factor = 3.0;
	s.retry.backoff_max_duration = 5000;
	s.retry.max_duration = WL_UNSET;
	CHECK_INT(backoff_retry_delay(&s, 1, 0, 0, 0, 1, 1), 3000);
	CHECK_INT(backoff_retry_delay(&s, 2, 0, 0, 0, 1, 1), 5000);
	CHECK_INT(backoff_retry_delay(&s, 0, 0, 0, 1, 0, 0), -1);   /* timeouts not retried unless asked */
	s.retry.max_duration = 2500;
	CHECK_INT(backoff_retry_delay(&s, 1, 1000, 1000, 0, 1, 1), BACKOFF_BUDGET_SPENT);
	CHECK_INT(backoff_retry_delay(&s, 0, 1000, 1000, 0, 1, 1), 1000);

	memset(&s, 0, sizeof(s));   /* no retry, on_failure abort: final */
	CHECK_INT(backoff_retry_delay(&s, 0, 0, 0, 0, 1, 1), -1);
}

int main(void)
{
	TEST(test_backoff_delay);
	TEST(test_retry_delay);
	return tests_done();
}
