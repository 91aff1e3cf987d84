/* alert_after_failures tracking: once per streak, reset by a success. */
/* timeout: 30 */
#include "harness.h"

#include <stdlib.h>

#include "alert.h"
#include "jsonutil.h"
#include "workflow.h"

static void test_alert_fires_once_per_streak(void)
{
	struct alert_tracker t;
	alert_init(&t, 3);
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_consecutive(&t), 2);
	CHECK_INT(alert_record(&t, 1), 1);       /* third in a row */
	CHECK_INT(alert_consecutive(&t), 3);
	CHECK_INT(alert_record(&t, 1), 0);       /* same streak: no second alert */
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_consecutive(&t), 5);
	CHECK_INT(t.alerts, 1);
}

static void test_alert_success_resets(void)
{
	struct alert_tracker t;
	alert_init(&t, 2);
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_record(&t, 0), 0);       /* success breaks the streak */
	CHECK_INT(alert_consecutive(&t), 0);
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_record(&t, 1), 1);
	CHECK_INT(alert_record(&t, 0), 0);
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_record(&t, 1), 1);       /* a new streak alerts again */
	CHECK_INT(t.alerts, 2);
}

static void test_alert_threshold_one(void)
{
	struct alert_tracker t;
	alert_init(&t, 1);
	CHECK_INT(alert_record(&t, 1), 1);
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_record(&t, 0), 0);
	CHECK_INT(alert_record(&t, 1), 1);
}

static void test_alert_off_still_counts(void)
{
	struct alert_tracker t;
	alert_init(&t, WL_UNSET);
	for (int i = 0; i < 50; i++)
		CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(alert_consecutive(&t), 50);
	alert_init(&t, 0);
	CHECK_INT(alert_record(&t, 1), 0);
	CHECK_INT(t.alerts, 0);
}

static void test_alert_event_data(void)
{
	struct alert_tracker t;
	alert_init(&t, 2);
	alert_record(&t, 1);
	alert_record(&t, 1);
	cJSON *d = alert_event_data(&t, "attempt failed (exit 1)");
	char *s = json_compact(d);
	CHECK_STR(s, "{\"consecutive_failures\":2,\"threshold\":2,\"reason\":\"attempt failed (exit 1)\"}");
	free(s);
	cJSON_Delete(d);
	d = alert_event_data(&t, NULL);
	CHECK(json_get_string(d, "reason") == NULL);
	cJSON_Delete(d);
}

int main(void)
{
	TEST(test_alert_fires_once_per_streak);
	TEST(test_alert_success_resets);
	TEST(test_alert_threshold_one);
	TEST(test_alert_off_still_counts);
	TEST(test_alert_event_data);
	return tests_done();
}
