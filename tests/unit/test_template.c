#include "harness.h"

#include <stdlib.h>

#include "template.h"

static void test_expand_known_only(void)
{
	struct template_vars v = TEMPLATE_VARS_INIT;
	template_set(&v, "step", "build");
	template_setf(&v, "iteration", "%d", 3);
	char *out = template_expand("{{step}}#{{ iteration }} {{.metadata.name}} {{unknown}} {{step}}", &v);
	CHECK_STR(out, "build#3 {{.metadata.name}} {{unknown}} build");
	free(out);
	out = template_expand("kubectl -o go-template='{{range .items}}{{.metadata.name}}{{end}}'", &v);
	CHECK_STR(out, "kubectl -o go-template='{{range .items}}{{.metadata.name}}{{end}}'");
	free(out);
	out = template_expand("unclosed {{step", &v);
	CHECK_STR(out, "unclosed {{step");
	free(out);
	out = template_expand("{{{step}}}", &v);
	CHECK_STR(out, "{build}");
	free(out);
	template_vars_release(&v);
}

static void test_roboppi_check_id(void)
{
	char *out = template_roboppi_check_id(
		"id=$ROBOPPI_COMPLETION_CHECK_ID x=${ROBOPPI_COMPLETION_CHECK_ID} y=$ROBOPPI_COMPLETION_CHECK_IDS", "c-1");
	CHECK_STR(out, "id=c-1 x=c-1 y=$ROBOPPI_COMPLETION_CHECK_IDS");
	free(out);
}

int main(void)
{
	TEST(test_expand_known_only);
	TEST(test_roboppi_check_id);
	return tests_done();
}
