#include "alert.h"

void alert_init(struct alert_tracker *t, int threshold)
{
	t->threshold = threshold > 0 ? threshold : 0;
	t->consecutive = 0;
	t->alerted = 0;
	t->alerts = 0;
}

int alert_record(struct alert_tracker *t, int failed)
{
	if (!failed) {
		t->consecutive = 0;
		t->alerted = 0;
		return 0;
	}
	if (t->consecutive < 1000000000)
		t->consecutive++;
	if (t->threshold <= 0 || t->alerted || t->consecutive < t->threshold)
		return 0;
	t->alerted = 1;
	t->alerts++;
	return 1;
}

int alert_consecutive(const struct alert_tracker *t)
{
	return t->consecutive;
}

cJSON *alert_event_data(const struct alert_tracker *t, const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "consecutive_failures", t->consecutive);
	cJSON_AddNumberToObject(o, "threshold", t->threshold);
	if (reason)
		cJSON_AddStringToObject(o, "reason", reason);
	return o;
}
