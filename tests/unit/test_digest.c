/* digest and jpath: canonical JSON, ignore_fields, stable hash, paths. */
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "harness.h"
#include "jpath.h"

static void test_canonical_sorts_every_depth(void)
{
	cJSON *a = cJSON_Parse("{\"b\":1,\"a\":{\"z\":[{\"y\":1,\"x\":2}],\"c\":\"s\"}}");
	cJSON *b = cJSON_Parse("{\"a\":{\"c\":\"s\",\"z\":[{\"x\":2,\"y\":1}]},\"b\":1}");
	char *ca = digest_canonical(a, NULL), *cb = digest_canonical(b, NULL);
	CHECK_STR(ca, "{\"a\":{\"c\":\"s\",\"z\":[{\"x\":2,\"y\":1}]},\"b\":1}");
	CHECK_STR(ca, cb);
	char da[DIGEST_HEX_LEN + 1], db[DIGEST_HEX_LEN + 1];
	digest_json(a, NULL, da);
	digest_json(b, NULL, db);
	CHECK_STR(da, db);
	CHECK_INT(strlen(da), 16);
	/* the input is not modified */
	char *orig = cJSON_PrintUnformatted(a);
	CHECK_STR(orig, "{\"b\":1,\"a\":{\"z\":[{\"y\":1,\"x\":2}],\"c\":\"s\"}}");
	free(orig);
	free(ca);
	free(cb);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void test_ignore_fields(void)
{
	cJSON *a = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"managedFields\":[1]},"
			       "\"status\":{\"lastHeartbeatTime\":\"t1\",\"phase\":\"P\"},"
			       "\"items\":[{\"rv\":\"1\",\"k\":1},{\"rv\":\"2\",\"k\":2}]}");
	cJSON *b = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"managedFields\":[2,3]},"
			       "\"status\":{\"lastHeartbeatTime\":\"t2\",\"phase\":\"P\"},"
			       "\"items\":[{\"rv\":\"9\",\"k\":1},{\"rv\":\"8\",\"k\":2}]}");
	struct strvec ign = STRVEC_INIT;
	char da[DIGEST_HEX_LEN + 1], db[DIGEST_HEX_LEN + 1];
	digest_json(a, &ign, da);
	digest_json(b, &ign, db);
	CHECK(strcmp(da, db) != 0);
	strvec_push(&ign, "metadata.managedFields");
	strvec_push(&ign, "status.lastHeartbeatTime");
	strvec_push(&ign, "items[*].rv");
	digest_json(a, &ign, da);
	digest_json(b, &ign, db);
	CHECK_STR(da, db);
	char *c = digest_canonical(a, &ign);
	CHECK_STR(c, "{\"items\":[{\"k\":1},{\"k\":2}],\"metadata\":{\"name\":\"x\"},\"status\":{\"phase\":\"P\"}}");
	free(c);
	strvec_clear(&ign);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void test_fnv_known_values(void)
{
	char h[DIGEST_HEX_LEN + 1];
	digest_hex("", 0, h);
	CHECK_STR(h, "cbf29ce484222325");
	digest_hex("a", 1, h);
	CHECK_STR(h, "af63dc4c8601ec8c");
}

static int collect(void *arg, const cJSON *node, const int *idx, int nidx)
{
	char *v = jpath_scalar_string(node);
	strvec_push(arg, v ? v : "(container)");
	free(v);
	return 0;
}

static void test_jpath(void)
{
	cJSON *j = cJSON_Parse("{\"dependencies\":[{\"name\":\"a\",\"status\":\"Ready\"},"
			       "{\"name\":\"b\",\"status\":\"Failed\",\"n\":3}],\"t\":{\"x\":true}}");
	struct strvec got = STRVEC_INIT;
	jpath_each(j, "dependencies[*].status", collect, &got);
	CHECK_INT(got.n, 2);
	CHECK_STR(got.v[1], "Failed");
	strvec_clear(&got);
	jpath_each(j, "dependencies[1].n", collect, &got);
	CHECK_STR(got.n ? got.v[0] : NULL, "3");
	strvec_clear(&got);
	jpath_each(j, "t.x", collect, &got);
	CHECK_STR(got.n ? got.v[0] : NULL, "true");
	strvec_clear(&got);
	jpath_each(j, "nope[*].x", collect, &got);
	jpath_each(j, "dependencies[", collect, &got);
	CHECK_INT(got.n, 0);
	int bound[1] = {1};
	char *v = jpath_scalar_string(jpath_first(j, "dependencies[*].name", bound, 1));
	CHECK_STR(v, "b");
	free(v);
	v = jpath_scalar_string(jpath_first(j, "dependencies[*].name", NULL, 0));
	CHECK_STR(v, "a");
	free(v);
	jpath_remove(j, "dependencies[*].status");
	char *s = cJSON_PrintUnformatted(j);
	CHECK(!strstr(s, "status"));
	free(s);
	cJSON_Delete(j);
}

int main(void)
{
	TEST(test_canonical_sorts_every_depth);
	TEST(test_ignore_fields);
	TEST(test_fnv_known_values);
	TEST(test_jpath);
	return tests_done();
}
