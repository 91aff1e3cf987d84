/* redact: every kind of secret of SPEC §7 is removed, ordinary text survives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "redact.h"
#include "strbuf.h"
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

static void test_builtins_compile(void)
{
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(redact_builtins_check(&err), 0);
	if (err.msg[0])
		fprintf(stderr, "  %s\n", err.msg);
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

/* Item 8 of issue 15: each built-in kind, in a realistic line. */
static void test_more_kinds(void)
{
	struct redactor *r = mk();
	check(r, "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx posted",
	      S("xoxb-123456789012", "AbCdEfGhIjKlMnOp"), S("slack", "posted"));
	check(r, "user token xoxp-2222222222-3333333333-abcdefabcdef", S("xoxp-2222222222"), S("user"));
	check(r, "stripe sk_live_51HqLyjWDarjtT1zdp7dc charge", S("sk_live_51HqLyjWDarjtT1zdp7dc"), S("charge"));
	check(r, "restricted rk_live_51HqLyjWDarjtT1zdp7dcXY", S("rk_live_51HqLyjWD"), S("restricted"));
	check(r, "//registry.npmjs.org/:_authToken npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
	      S("npm_AbCdEfGhIjKlMnOp"), S("registry.npmjs.org"));
	check(r, "connect postgres://app:Pg-S3cret-Pass@db.internal:5432/app ok", S("Pg-S3cret-Pass"),
	      S("postgres://app:", "@db.internal:5432/app", "ok"));
	check(r, "REDIS_URL=redis://:R3disPassw0rd@cache:6379/0", S("R3disPassw0rd"), S("@cache:6379"));
	check(r, "git clone https://deploy:GitPassw0rd99@git.example.com/x.git", S("GitPassw0rd99"),
	      S("git.example.com/x.git"));
	check(r, "psql --password Hunter2Pass --host db", S("Hunter2Pass"), S("--host db"));
	check(r, "tool --password=Hunter3Pass -v", S("Hunter3Pass"), S("-v"));
	check(r, "mysql -u root -pMyS3cretPw -h db app", S("MyS3cretPw"), S("mysql -u root", "-h db app"));
	check(r, "curl -fsS -u admin:CurlPassw0rd https://api.example.com/x", S("CurlPassw0rd"),
	      S("https://api.example.com/x"));
	check(r, "Cookie: session=Zm9vYmFyc2Vzc2lvbg; theme=dark\nnext", S("Zm9vYmFyc2Vzc2lvbg"), S("next"));
	check(r, "Set-Cookie: sid=AbC123sessionXyZ; Path=/; HttpOnly", S("AbC123sessionXyZ"), S("Set-Cookie:"));
	check(r, "gitlab glpat-AbCdEfGhIjKlMnOpQrSt12 push", S("glpat-AbCdEfGhIjKlMnOpQrSt12"), S("push"));
	check(r, "maps key AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW end", S("AIzaSyA1b2C3d4E5f6G7h8I9j0"), S("end"));
	check(r, "openai sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234 anthropic sk-ant-api03-AbCdEfGhIjKlMnOpQrSt-xyz",
	      S("sk-proj-AbCdEfGhIjKlMnOp", "sk-ant-api03-AbCdEf"), S("openai", "anthropic"));
	check(r, "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=QmFzZTY0QWNjb3VudEtleQ==;EndpointSuffix=core.windows.net",
	      S("QmFzZTY0QWNjb3VudEtleQ=="), S("AccountName=acct", "EndpointSuffix=core.windows.net"));
	redactor_free(r);
}

static void test_pem_kinds(void)
{
	struct redactor *r = mk();
	const char *kinds[] = {"RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY",
			       "ENCRYPTED PRIVATE KEY", "PRIVATE KEY", "PGP PRIVATE KEY BLOCK"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char *t = NULL;
		if (asprintf(&t, "a\n-----BEGIN %s-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQUJDREVGR0hJ\n-----END %s-----\nz",
			     kinds[i], kinds[i]) < 0)
			abort();
		check(r, t, S("b3BlbnNzaC1rZXktdjEAAAAA", "QUJDREVGR0hJ"), S("a\n", "\nz"));
		free(t);
	}
	/* lower-cased and dashed (a normalised fingerprint) */
	check(r, "terminal/-----begin-rsa-private-key-----mIIEowIBAAKCAQEA", S("miieowibaakcaqea", "mIIEowIBAAKCAQEA"),
	      S("terminal/"));
	/* a tail that starts inside a block */
	check(r, "QUJDREVGR0hJ\nS0xNTk9QUVJT\n-----END RSA PRIVATE KEY-----\nafter", S("QUJDREVGR0hJ", "S0xNTk9QUVJT"),
	      S("after"));
	/* public material is not a secret */
	char *o = redact_text(r, "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----");
	CHECK_CONTAINS(o, "MIIBcert");
	free(o);
	redactor_free(r);
}

/* Ordinary words, hashes, UUIDs, git SHAs, resourceVersions survive. */
static void test_false_positives(void)
{
	struct redactor *r = mk();
	const char *plain[] = {
		"commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"uid 123e4567-e89b-12d3-a456-426614174000 ready",
		"\"resourceVersion\": \"184467440737\", \"generation\": 12",
		"metadata.resourceVersion=52771 observedGeneration=3",
		"task-runner-disk-pressure-evaluation-controller started",
		"the quick brown fox jumps over the lazy dog; keys rotated; passwords are hashed",
		"docker run -u 1000:1000 image:tag",
		"see https://example.com:8443/path?q=1 and ssh://git@github.com/o/r.git",
		"ask-questions-and-explore-the-repository-layout",
		"pod/web-5d8f7c9b6d-x7k2p Running 0 restarts",
		"",
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *out = redact_text(r, plain[i]);
		CHECK_STR(out, plain[i]);
		free(out);
	}
	redactor_free(r);
}

/* Literals match whatever the case and with '-' for spaces (derived, normalised text). */
static void test_literal_normalised(void)
{
	struct strvec env = STRVEC_INIT;
	strvec_push(&env, "STEP_TOKEN=Tr0ub4dor3Secret");
	strvec_push(&env, "PASSPHRASE_SECRET=Correct Horse Battery");
	strvec_push(&env, "PIN_SECRET=12345678");
	struct redactor *r = redactor_new(NULL, &env, NULL);
	check(r, "terminal/login-rejected:-pw-tr0ub4dor3secret-", S("tr0ub4dor3secret"), S("login-rejected"));
	check(r, "fp correct-horse-battery end", S("correct-horse-battery"), S("end"));
	check(r, "pin 12345678 ok", S("12345678"), S("ok"));
	strvec_clear(&env);
	redactor_free(r);
}

/* Leak 2: two steps with one secret-named variable: both values are secrets. */
static void test_env_all_values(void)
{
	struct strvec env = STRVEC_INIT;
	strvec_push(&env, "DEPLOY_TOKEN=first-step-value-1");
	strvec_push(&env, "DEPLOY_TOKEN=second-step-value-2");
	struct redactor *r = redactor_new(NULL, &env, NULL);
	check(r, "a first-step-value-1 b second-step-value-2", S("first-step-value-1", "second-step-value-2"), S("a", "b"));
	strvec_clear(&env);
	redactor_free(r);
}

/* Leak 6: any value type under a secret-named key; key names kept. */
static void test_json_values_and_keys(void)
{
	struct redactor *r = mk();
	cJSON *j = cJSON_Parse("{\"password\":[\"hunter2hunter2\"],\"token\":{\"value\":\"tok-9876543\"},"
			       "\"secret\":true,\"name\":\"web\",\"creds\":null}");
	redact_json(r, j);
	char *s = cJSON_PrintUnformatted(j);
	CHECK(!strstr(s, "hunter2hunter2"));
	CHECK(!strstr(s, "tok-9876543"));
	CHECK_CONTAINS(s, "\"password\":\"" REDACTED "\"");
	CHECK_CONTAINS(s, "\"token\":\"" REDACTED "\"");
	CHECK_CONTAINS(s, "\"name\":\"web\"");
	CHECK(!strstr(s, "\"\":"));
	free(s);
	cJSON_Delete(j);
	redactor_free(r);
}

/* Feed text to a stream in pieces of n bytes; return everything emitted. */
static char *stream_in_pieces(const struct redactor *r, const char *text, size_t n)
{
	struct redact_stream *rs = redact_stream_new(r);
	struct strbuf out = STRBUF_INIT;
	size_t len = strlen(text);
	for (size_t i = 0; i < len; i += n)
		redact_stream_feed(rs, text + i, len - i < n ? len - i : n, &out);
	redact_stream_flush(rs, &out);
	redact_stream_free(rs);
	return strbuf_detach(&out);
}

/* Leak 3: a PEM block stays redacted whatever the cuts; lines survive. */
static void test_stream_pem_and_cuts(void)
{
	struct redactor *r = mk();
	struct strbuf t = STRBUF_INIT;
	strbuf_addstr(&t, "start\n-----BEGIN OPENSSH PRIVATE KEY-----\n");
	for (int i = 0; i < 70; i++)
		strbuf_addf(&t, "KEYLINE%02dAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij\n", i);
	strbuf_addstr(&t, "-----END OPENSSH PRIVATE KEY-----\nmiddle token=zzSecretzz\nend\n");
	size_t sizes[] = {1, 2, 3, 7, 64, 4096, 100000};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char *o = stream_in_pieces(r, t.buf, sizes[k]);
		CHECK(!strstr(o, "KEYLINE"));
		CHECK(!strstr(o, "zzSecretzz"));
		CHECK_CONTAINS(o, "start\n");
		CHECK_CONTAINS(o, "middle token=" REDACTED);
		CHECK_CONTAINS(o, "end\n");
		free(o);
	}
	strbuf_release(&t);
	/* a line far over the line limit with a secret straddling every possible cut */
	struct strbuf big = STRBUF_INIT;
	for (int i = 0; i < 20000; i++)
		strbuf_addstr(&big, i % 7 == 3 ? "AKIAIOSFODNN7EXAMPLE " : "word ");
	strbuf_addstr(&big, "\n");
	size_t bs[] = {1000, 4096, 65536};
	for (size_t k = 0; k < 3; k++) {
		char *o = stream_in_pieces(r, big.buf, bs[k]);
		CHECK(!strstr(o, "AKIA"));
		CHECK_CONTAINS(o, "word " REDACTED " word");
		free(o);
	}
	strbuf_release(&big);
	redactor_free(r);
}

/* Leak 5: the run hands its redaction to waitloop commands it runs. */
static void test_export_import(void)
{
	struct strvec pats = STRVEC_INIT;
	strvec_push(&pats, "corp-[0-9]{6}");
	struct redactor *r = redactor_new(&pats, NULL, NULL);
	redactor_add_literal(r, "set-value-abcdef");
	char *exp = redactor_export(r);
	struct redactor *r2 = redactor_import(exp, NULL, NULL);
	check(r2, "x corp-123456 y set-value-abcdef", S("corp-123456", "set-value-abcdef"), S("x ", " y "));
	free(exp);
	redactor_free(r);
	redactor_free(r2);
	strvec_clear(&pats);
}

/* Texts found clean are remembered (a cache): the same text is clean again,
 * until the redactor learns a literal it contains; a redacted text is never
 * remembered as clean. */
static void test_clean_cache(void)
{
	struct redactor *r = redactor_new(NULL, NULL, NULL);
	const char *text = "deploy to staging-box-4711 now";
	for (int i = 0; i < 3; i++) {
		char *out = redact_text(r, text);
		CHECK_STR(out, text);
		free(out);
	}
	redactor_add_literal(r, "staging-box-4711");
	check(r, text, S("staging-box-4711"), S("deploy to ", " now"));
	check(r, text, S("staging-box-4711"), S("deploy to ", " now"));
	/* in JSON too: the same strings, before and after the new literal */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "where", "host-zz-9981");
	redact_json(r, o);
	CHECK_STR(cJSON_GetObjectItem(o, "where")->valuestring, "host-zz-9981");
	redactor_add_literal(r, "host-zz-9981");
	redact_json(r, o);
	CHECK(strstr(cJSON_GetObjectItem(o, "where")->valuestring, "host-zz-9981") == NULL);
	cJSON_Delete(o);
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
	TEST(test_builtins_compile);
	TEST(test_large_text);
	TEST(test_more_kinds);
	TEST(test_pem_kinds);
	TEST(test_false_positives);
	TEST(test_literal_normalised);
	TEST(test_env_all_values);
	TEST(test_json_values_and_keys);
	TEST(test_stream_pem_and_cuts);
	TEST(test_export_import);
	TEST(test_clean_cache);
	return tests_done();
}
