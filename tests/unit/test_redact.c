/* redact: every kind of secret of SPEC §7 is removed, ordinary text survives. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "redact.h"
#include "strvec.h"

static struct redactor *mk(void)
{
	struct strvec pats = STRVEC_INIT, env = STRVEC_INIT;
	strvec_push(&pats, "corp-[0-9]{6}");
	strvec_push(&env, "API_TOKEN=s3cr3t-env-value");
	strvec_push(&env, "DB_PASSWD=hunter2hunter");
	strvec_push(&env, "HOME=/home/user");          /* not secret-named: kept */
	strvec_push(&env, "MY_KEY=abc");               /* too short: ignored */
	struct wl_err err = WL_ERR_INIT;
	struct redactor *r = redactor_new(&pats, &env, &err);
	strvec_clear(&pats);
	strvec_clear(&env);
	return r;
}

/* text is redacted; none of the secrets survive; every keep string does. */
static void check(const struct redactor *r, const char *text, const char *const *secrets,
		  const char *const *keep)
{
	char *out = redact_text(r, text);
	for (size_t i = 0; secrets[i]; i++)
		if (strstr(out, secrets[i])) {
			fprintf(stderr, "  secret '%s' survived in: %s\n", secrets[i], out);
			harness_failed_checks++;
		}
	for (size_t i = 0; keep && keep[i]; i++)
		if (!strstr(out, keep[i])) {
			fprintf(stderr, "  '%s' lost in: %s\n", keep[i], out);
			harness_failed_checks++;
		}
	CHECK_CONTAINS(out, REDACTED);
	free(out);
}

#define S(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_bearer_and_header(void)
{
	struct redactor *r = mk();
	check(r, "curl -H 'Authorization: Bearer abc.def-ghi' http://x", S("abc.def-ghi"),
	      S("curl -H", "http://x"));
	check(r, "token was bearer Zm9vYmFyYmF6cXV4 ok", S("Zm9vYmFyYmF6cXV4"), S("token was"));
	check(r, "Proxy-Authorization: Basic dXNlcjpwYXNz\nnext line", S("dXNlcjpwYXNz"),
	      S("next line"));
	redactor_free(r);
}

static void test_key_value_forms(void)
{
	struct redactor *r = mk();
	check(r, "password=pa55word user=bob", S("pa55word"), S("user=bob"));
	check(r, "export GITLAB_TOKEN=glt-1234567890 && make", S("glt-1234567890"), S("&& make"));
	check(r, "db:\n  password: my very secret pass\n  host: db.local\n",
	      S("my very secret pass"), S("host: db.local"));
	check(r, "{\"api_key\": \"k-123456\", \"name\": \"web\"}", S("k-123456"), S("\"name\": \"web\""));
	check(r, "{\"clientSecret\":\"shh-abc\\\"def\"}", S("shh-abc"), NULL);
	check(r, "apiKey: 'quoted-key-1'", S("quoted-key-1"), NULL);
	redactor_free(r);
}

static void test_kubeconfig_blob(void)
{
	struct redactor *r = mk();
	const char *kc =
		"apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTkNBREFUQQ==\n"
		"    server: https://10.0.0.1:6443\nusers:\n- name: admin\n  user:\n"
		"    client-certificate-data: LS0tQ0VSVERBVEE=\n    client-key-data: LS0tS0VZREFUQQ==\n"
		"    token: kubetoken123456\n";
	check(r, kc, S("LS0tLS1CRUdJTkNBREFUQQ==", "LS0tQ0VSVERBVEE=", "LS0tS0VZREFUQQ==", "kubetoken123456"),
	      S("server: https://10.0.0.1:6443", "name: admin"));
	redactor_free(r);
}

static void test_pem_jwt_cloud_tokens(void)
{
	struct redactor *r = mk();
	check(r, "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabcdEFGH\n-----END RSA PRIVATE KEY-----\nafter",
	      S("MIIEowIBAAKCAQEAx", "abcdEFGH"), S("before", "after"));
	check(r, "-----BEGIN PRIVATE KEY-----\nMIItruncated", S("MIItruncated"), NULL);
	check(r, "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpM end",
	      S("eyJhbGciOiJIUzI1NiJ9", "SflKxwRJSMeKKF2QT4fwpM"), S("jwt", "end"));
	check(r, "aws AKIAIOSFODNN7EXAMPLE here", S("AKIAIOSFODNN7EXAMPLE"), S("aws", "here"));
	check(r, "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 x", S("ghp_abcdefghijklmnopqrstuvwxyz"), S("gh "));
	check(r, "pat github_pat_11ABCDEFG0123456789_abcdefghij x", S("github_pat_11ABCDEFG"), NULL);
	redactor_free(r);
}

static void test_env_and_custom(void)
{
	struct redactor *r = mk();
	check(r, "connecting with s3cr3t-env-value to hunter2hunter", S("s3cr3t-env-value", "hunter2hunter"),
	      S("connecting with"));
	check(r, "ticket corp-123456 opened", S("corp-123456"), S("ticket", "opened"));
	redactor_add_literal(r, "late-literal-xyz");
	check(r, "value late-literal-xyz", S("late-literal-xyz"), S("value"));
	redactor_free(r);
}

static void test_ordinary_text_untouched(void)
{
	struct redactor *r = mk();
	const char *plain[] = {
		"Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "
		"\"k0smotrondockerclusters.cluster.appthrust.io\" not found",
		"HelmRelease capi-operator: Ready=False InstallFailed: chart not found",
		"Error from server (NotFound): secrets \"db-password\" not found",
		"/home/user/abc and MY_KEY abc",
		"x509: certificate signed by unknown authority",
		"",
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *out = redact_text(r, plain[i]);
		CHECK_STR(out, plain[i]);
		free(out);
	}
	/* NULL redactor: built-ins only. */
	char *out = redact_text(NULL, "password=abc123 ok");
	CHECK_STR(out, "password=" REDACTED " ok");
	free(out);
	/* Idempotent. */
	char *once = redact_text(r, "token: abc\npassword=x1 {\"secret\":\"y\"}");
	char *twice = redact_text(r, once);
	CHECK_STR(twice, once);
	free(once);
	free(twice);
	redactor_free(r);
}

static void test_json(void)
{
	struct redactor *r = mk();
	cJSON *j = cJSON_Parse("{\"target\":{\"kind\":\"CRD\",\"name\":\"x\"},\"token\":\"t-1\","
			       "\"Password\":12345,\"nested\":[{\"client-key-data\":\"abc\"},"
			       "\"Authorization: Bearer zzz\",{\"msg\":\"with s3cr3t-env-value inside\"}],"
			       "\"apikey\":\"k\",\"secretName\":\"ok-but-redacted\"}");
	redact_json(r, j);
	char *s = cJSON_PrintUnformatted(j);
	CHECK(!strstr(s, "t-1"));
	CHECK(!strstr(s, "12345"));
	CHECK(!strstr(s, "\"abc\""));
	CHECK(!strstr(s, "zzz"));
	CHECK(!strstr(s, "s3cr3t-env-value"));
	CHECK(!strstr(s, "\"k\""));
	CHECK_CONTAINS(s, "\"kind\":\"CRD\"");
	CHECK_CONTAINS(s, "with " REDACTED " inside");
	free(s);
	cJSON_Delete(j);
	redactor_free(r);
}

static void test_bad_custom_pattern(void)
{
	struct strvec pats = STRVEC_INIT;
	strvec_push(&pats, "([unclosed");
	struct wl_err err = WL_ERR_INIT;
	struct redactor *r = redactor_new(&pats, NULL, &err);
	CHECK(r == NULL);
	CHECK_CONTAINS(err.msg, "redact pattern 1");
	strvec_clear(&pats);
}

static void test_large_text(void)
{
	struct redactor *r = mk();
	size_t n = 64 * 1024;
	char *big = malloc(n + 64);
	for (size_t i = 0; i < n; i++)
		big[i] = "abcdefgh ijklmnop\n"[i % 18];
	strcpy(big + n, " token=zzsecretzz");
	char *out = redact_text(r, big);
	CHECK(!strstr(out, "zzsecretzz"));
	CHECK(strlen(out) > n);
	free(out);
	free(big);
	redactor_free(r);
}

int main(void)
{
	TEST(test_bearer_and_header);
	TEST(test_key_value_forms);
	TEST(test_kubeconfig_blob);
	TEST(test_pem_jwt_cloud_tokens);
	TEST(test_env_and_custom);
	TEST(test_ordinary_text_untouched);
	TEST(test_json);
	TEST(test_bad_custom_pattern);
	TEST(test_large_text);
	return tests_done();
}
