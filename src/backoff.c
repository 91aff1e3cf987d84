/*
 * backoff: growing delays (backoff.h).
 */
#include "backoff.h"

#include <stddef.h>

#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000
#define DEFAULT_RETRY_FACTOR 2.0
#define ROBOPPI_RETRY_BASE_MS 100
#define ROBOPPI_RETRY_CAP_MS 5000
#define DEFAULT_MAX_RETRIES 0 /* roboppi: max_retries ?? 0 (executor.ts, docs/guide/workflow.md) */

int64_t backoff_delay(int64_t base, double factor, int64_t cap, int n)
{
	double d = (double)base;
	for (int i = 0; i < n && d < (double)cap; i++)
		d *= factor;
	if (d > (double)cap)
		d = (double)cap;
	return (int64_t)d;
}

int64_t backoff_retry_delay(const struct wl_step *s, int retries_used, int64_t start_mono, int64_t now_mono,
			    int timed_out, int have_exit, int exit_code)
{
	int limit;
	int64_t base = RETRY_BASE_MS, cap = RETRY_CAP_MS;
	double factor = DEFAULT_RETRY_FACTOR;
	int timeout_ok = 0;
	if (s->retry.present) {
		limit = s->retry.limit == WL_UNSET ? 0 : s->retry.limit;
		if (s->retry.backoff_duration != WL_UNSET)
			base = s->retry.backoff_duration;
		if (s->retry.backoff_factor > 0)
			factor = s->retry.backoff_factor;
		if (s->retry.backoff_max_duration != WL_UNSET)
			cap = s->retry.backoff_max_duration;
		timeout_ok = s->retry.on_timeout_retry;
		if (s->retry.n_on_exit_codes) {
			int listed = 0;
			for (size_t i = 0; have_exit && i < s->retry.n_on_exit_codes; i++)
				listed |= s->retry.on_exit_codes[i] == exit_code;
			if (!listed && !timed_out)
				return -1;
		}
	} else if (s->on_failure == ON_FAILURE_RETRY) {
		/* roboppi's executor: every failed attempt (a timed-out one too) is
		 * retried, after 100 ms * 2^n capped at 5 s */
		limit = s->max_retries == WL_UNSET ? DEFAULT_MAX_RETRIES : s->max_retries;
		base = ROBOPPI_RETRY_BASE_MS;
		cap = ROBOPPI_RETRY_CAP_MS;
		timeout_ok = 1;
	} else {
		return -1;
	}
	if (timed_out && !timeout_ok)
		return -1;
	if (retries_used >= limit)
		return -1;
	int64_t d = backoff_delay(base, factor, cap, retries_used);
	/* retry.max_duration: no attempt starts past the step's total budget */
	if (s->retry.present && s->retry.max_duration != WL_UNSET && start_mono &&
	    now_mono + d - start_mono >= s->retry.max_duration)
		return BACKOFF_BUDGET_SPENT;
	return d;
}
