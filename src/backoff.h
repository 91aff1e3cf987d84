/*
 * backoff: the one rule for growing delays -- a step's retry delay
 * (retry.backoff, roboppi's on_failure: retry) and a wait's observation
 * interval (wait_policy backoff_factor / backoff_max_interval) both grow
 * by a factor per step, capped.
 *
 *   backoff_delay(1000, 2.0, 60000, 3)  -> 8000
 *   backoff_retry_delay(step, ...)      -> the delay before the next attempt
 */
#ifndef WAITLOOP_BACKOFF_H
#define WAITLOOP_BACKOFF_H
#include <stdint.h>

#include "workflow.h"

/* base * factor^n, capped at cap (which it never exceeds). */
int64_t backoff_delay(int64_t base, double factor, int64_t cap, int n);

/* backoff_retry_delay(): no retry because retry.max_duration would be exceeded. */
#define BACKOFF_BUDGET_SPENT (-2)

/* Delay before the next attempt of step s after a failed one, or -1 when the
 * failure is final (BACKOFF_BUDGET_SPENT when retry.max_duration is spent).
 * retries_used: attempts of this iteration so far minus one; start_mono: when
 * the step started (time_now_ms clock, 0 = unknown); now_mono: the time now. */
int64_t backoff_retry_delay(const struct wl_step *s, int retries_used, int64_t start_mono, int64_t now_mono,
			    int timed_out, int have_exit, int exit_code);

#endif
