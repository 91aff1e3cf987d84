/*
 * alert: the consecutive-failure tracker behind `alert_after_failures: N`
 * (SPEC §4.3).
 *
 * One tracker per step. Feed it every finished attempt or iteration of that
 * step (the runner decides which outcome counts as a failure: a FAILED or
 * timed-out attempt, an incomplete iteration); it answers when an alert is
 * due: on the N-th failure in a row, exactly once per streak. A success ends
 * the streak and re-arms the tracker. The run goes on either way; the
 * runner emits EV_ALERT (data from alert_event_data()) which feeds the
 * notifications and waitloop_alerts_total.
 *
 *   struct alert_tracker t;
 *   alert_init(&t, step->alert_after_failures);     -- WL_UNSET/<= 0: never alerts
 *   if (alert_record(&t, failed)) emit EV_ALERT with alert_event_data(&t, reason);
 *   alert_consecutive(&t)                            -- for waitloop_consecutive_failures
 *
 * Plain data, no allocation; the runner owns the struct.
 */
#ifndef WAITLOOP_ALERT_H
#define WAITLOOP_ALERT_H
#include <cjson/cJSON.h>

struct alert_tracker {
	int threshold;      /* N; <= 0 = alerts off (the count is still kept) */
	int consecutive;    /* failures in a row so far */
	int alerted;        /* an alert was raised for the current streak */
	int alerts;         /* alerts raised over the tracker's life */
};
#define ALERT_TRACKER_INIT {0, 0, 0, 0}

void alert_init(struct alert_tracker *t, int threshold);
/* Record one outcome (failed != 0: a failure). Returns 1 when this outcome
 * raises the alert (the streak just reached the threshold), else 0. */
int alert_record(struct alert_tracker *t, int failed);
/* Failures in a row right now (0 after a success). */
int alert_consecutive(const struct alert_tracker *t);
/* EV_ALERT data: {consecutive_failures, threshold, reason}; reason may be
 * NULL (omitted). Caller deletes. */
cJSON *alert_event_data(const struct alert_tracker *t, const char *reason);

#endif
