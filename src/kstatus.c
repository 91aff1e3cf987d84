/*
 * kstatus: Kubernetes object status the way kstatus computes it. See
 * kstatus.h for the order of the rules; docs/wait_policy.md has the table
 * with the source of each rule.
 */
#include "kstatus.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

#define MESSAGE_CAP 300
#define FLUX_DEFAULT_TIMEOUT_MS (5 * 60 * 1000)

const char *kstatus_name(enum kstatus_status s)
{
	static const char *const names[] = {"Unknown", "Current", "InProgress", "Failed", "Terminating", "NotFound"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "Unknown";
}

void kstatus_release(struct kstatus *k)
{
	free(k->kind);
	free(k->ns);
	free(k->name);
	free(k->reason);
	free(k->message);
	*k = (struct kstatus)KSTATUS_INIT;
}

/* --- small JSON helpers ------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* o[key] as an integer (JSON number or numeric string), else def. */
static long num(const cJSON *o, const char *key, long def)
{
	const cJSON *v = get(o, key);
	if (cJSON_IsNumber(v))
		return (long)v->valuedouble;
	if (cJSON_IsString(v) && v->valuestring && *v->valuestring) {
		char *end;
		long n = strtol(v->valuestring, &end, 10);
		if (!*end)
			return n;
	}
	return def;
}

static int has(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	return v && !cJSON_IsNull(v);
}

static int eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* status.conditions[type == t], or NULL. */
static const cJSON *condition(const cJSON *obj, const char *t)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, get(get(obj, "status"), "conditions")) {
		if (eq(str(c, "type"), t))
			return c;
	}
	return NULL;
}

static int cond_is(const cJSON *obj, const char *t, const char *status)
{
	return eq(str(condition(obj, t), "status"), status);
}

int kstatus_is_object(const cJSON *j)
{
	return cJSON_IsObject(j) && str(j, "kind") && cJSON_IsObject(get(j, "metadata"));
}

int kstatus_is_list(const cJSON *j)
{
	return cJSON_IsObject(j) && ends_with(str(j, "kind"), "List") && cJSON_IsArray(get(j, "items"));
}

int64_t kstatus_parse_time(const char *s)
{
	if (!s)
		return -1;
	int Y, M, D, h, m, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n < 19)
		return -1;
	const char *p = s + n;
	int64_t ms = 0;
	if (*p == '.') {
		int64_t scale = 100;
		for (p++; isdigit((unsigned char)*p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		off = (*p == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
		p += 6;
	} else
		return -1;
	if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	struct tm tm = {0};
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return ((int64_t)t - off) * 1000 + ms;
}

/* --- results ------------------------------------------------------------------ */

struct ctx {
	const cJSON *obj;
	const struct redactor *red;
	struct kstatus *out;
};

static void set_message(struct ctx *x, const char *msg)
{
	free(x->out->message);
	x->out->message = NULL;
	if (!msg || !*msg)
		return;
	char *r = redact_text(x->red, msg);
	str_oneline(r);
	r[str_utf8_cut(r, strlen(r), MESSAGE_CAP)] = '\0';
	x->out->message = r;
}

/* Decide: status, reason and a printf-style message. Returns 1 (decided). */
static int result(struct ctx *x, enum kstatus_status st, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int result(struct ctx *x, enum kstatus_status st, const char *reason, const char *fmt, ...)
{
	x->out->status = st;
	free(x->out->reason);
	x->out->reason = xstrdup(reason && *reason ? reason : kstatus_name(st));
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	set_message(x, buf);
	return 1;
}

/* A condition decides: its reason (else the fallback) and its message. */
static int from_condition(struct ctx *x, enum kstatus_status st, const cJSON *c, const char *fallback)
{
	const char *reason = str(c, "reason");
	const char *msg = str(c, "message");
	return result(x, st, reason && *reason ? reason : fallback, "%s", msg ? msg : "");
}

/* --- generic rules ---------------------------------------------------------------- */

static int generic_rules(struct ctx *x)
{
	const cJSON *obj = x->obj, *meta = get(obj, "metadata"), *status = get(obj, "status");
	if (str(meta, "deletionTimestamp") && *str(meta, "deletionTimestamp"))
		return result(x, KSTATUS_TERMINATING, "Terminating", "scheduled for deletion since %s",
			      str(meta, "deletionTimestamp"));
	if (has(status, "observedGeneration") && has(meta, "generation")) {
		long og = num(status, "observedGeneration", 0), g = num(meta, "generation", 0);
		if (og < g)
			return result(x, KSTATUS_IN_PROGRESS, "ObservedGenerationLagging",
				      "the controller has observed generation %ld of %ld", og, g);
	}
	const cJSON *stalled = condition(obj, "Stalled");
	if (eq(str(stalled, "status"), "True"))
		return from_condition(x, KSTATUS_FAILED, stalled, "Stalled");
	const cJSON *rec = condition(obj, "Reconciling");
	if (eq(str(rec, "status"), "True")) {
		from_condition(x, KSTATUS_IN_PROGRESS, rec, "Reconciling");
		const char *rmsg = str(condition(obj, "Ready"), "message");
		if (!x->out->message && rmsg)   /* Flux puts the action ("Running 'install' ...") on Ready */
			set_message(x, rmsg);
		return 1;
	}
	return 0;
}

/* --- kind rules --------------------------------------------------------------------- */

static int deployment(struct ctx *x)
{
	const cJSON *spec = get(x->obj, "spec"), *st = get(x->obj, "status");
	x->out->controller_deadline = 1;   /* progressDeadlineSeconds (default 600) */
	const cJSON *prog = condition(x->obj, "Progressing");
	if (eq(str(prog, "reason"), "ProgressDeadlineExceeded"))
		return from_condition(x, KSTATUS_FAILED, prog, "ProgressDeadlineExceeded");
	long want = num(spec, "replicas", 1), have = num(st, "replicas", 0), updated = num(st, "updatedReplicas", 0),
	     ready = num(st, "readyReplicas", 0), available = num(st, "availableReplicas", 0);
	if (want > have)
		return result(x, KSTATUS_IN_PROGRESS, "LessReplicas", "replicas: %ld/%ld", have, want);
	if (want > updated)
		return result(x, KSTATUS_IN_PROGRESS, "LessUpdated", "updated: %ld/%ld", updated, want);
	if (have > want)
		return result(x, KSTATUS_IN_PROGRESS, "ExtraPods", "pending termination: %ld", have - want);
	if (updated > available)
		return result(x, KSTATUS_IN_PROGRESS, "LessAvailable", "available: %ld/%ld", available, updated);
	if (want > ready)
		return result(x, KSTATUS_IN_PROGRESS, "LessReady", "ready: %ld/%ld", ready, want);
	if (!(eq(str(prog, "status"), "True") && eq(str(prog, "reason"), "NewReplicaSetAvailable")))
		return result(x, KSTATUS_IN_PROGRESS, "ReplicaSetNotAvailable", "the new ReplicaSet is not available yet");
	if (!cond_is(x->obj, "Available", "True"))
		return result(x, KSTATUS_IN_PROGRESS, "DeploymentNotAvailable", "the Deployment is not available yet");
	return result(x, KSTATUS_CURRENT, "Available", "Deployment is available, replicas: %ld", want);
}

static int statefulset(struct ctx *x)
{
	const cJSON *spec = get(x->obj, "spec"), *st = get(x->obj, "status");
	if (eq(str(get(spec, "updateStrategy"), "type"), "OnDelete"))
		return result(x, KSTATUS_CURRENT, "OnDelete", "updateStrategy OnDelete: rollout is manual");
	long want = num(spec, "replicas", 1), have = num(st, "replicas", 0), ready = num(st, "readyReplicas", 0),
	     current = num(st, "currentReplicas", 0), updated = num(st, "updatedReplicas", 0);
	if (want > have)
		return result(x, KSTATUS_IN_PROGRESS, "LessReplicas", "replicas: %ld/%ld", have, want);
	if (want > ready)
		return result(x, KSTATUS_IN_PROGRESS, "LessReady", "ready: %ld/%ld", ready, want);
	const cJSON *ru = get(get(spec, "updateStrategy"), "rollingUpdate");
	if (has(ru, "partition")) {
		long part = num(ru, "partition", 0);
		if (updated < want - part)
			return result(x, KSTATUS_IN_PROGRESS, "PartitionRollout", "updated: %ld/%ld (partition %ld)",
				      updated, want - part, part);
		return result(x, KSTATUS_CURRENT, "PartitionRolloutComplete", "partitioned rollout complete");
	}
	const char *cur = str(st, "currentRevision"), *upd = str(st, "updateRevision");
	if (cur && upd && strcmp(cur, upd))
		return result(x, KSTATUS_IN_PROGRESS, "RevisionMismatch", "waiting for revision %s (at %s)", upd, cur);
	if (want > current)
		return result(x, KSTATUS_IN_PROGRESS, "LessCurrent", "current: %ld/%ld", current, want);
	return result(x, KSTATUS_CURRENT, "AllReplicasReady", "all replicas ready: %ld", want);
}

static int daemonset(struct ctx *x)
{
	const cJSON *st = get(x->obj, "status");
	if (!has(st, "desiredNumberScheduled"))
		return result(x, KSTATUS_IN_PROGRESS, "NoDesiredNumber", "the controller has not reported yet");
	long want = num(st, "desiredNumberScheduled", 0), cur = num(st, "currentNumberScheduled", 0),
	     upd = num(st, "updatedNumberScheduled", 0), avail = num(st, "numberAvailable", 0),
	     ready = num(st, "numberReady", 0);
	if (want > cur)
		return result(x, KSTATUS_IN_PROGRESS, "LessCurrent", "scheduled: %ld/%ld", cur, want);
	if (want > upd)
		return result(x, KSTATUS_IN_PROGRESS, "LessUpdated", "updated: %ld/%ld", upd, want);
	if (want > avail)
		return result(x, KSTATUS_IN_PROGRESS, "LessAvailable", "available: %ld/%ld", avail, want);
	if (want > ready)
		return result(x, KSTATUS_IN_PROGRESS, "LessReady", "ready: %ld/%ld", ready, want);
	return result(x, KSTATUS_CURRENT, "AllScheduled", "all %ld pods scheduled and ready", want);
}

static int replicaset(struct ctx *x)
{
	const cJSON *spec = get(x->obj, "spec"), *st = get(x->obj, "status");
	const cJSON *rf = condition(x->obj, "ReplicaFailure");
	if (eq(str(rf, "status"), "True"))
		return from_condition(x, KSTATUS_IN_PROGRESS, rf, "ReplicaFailure");
	long want = num(spec, "replicas", 1), have = num(st, "replicas", 0),
	     labeled = num(st, "fullyLabeledReplicas", 0), ready = num(st, "readyReplicas", 0),
	     avail = num(st, "availableReplicas", 0);
	if (want > labeled)
		return result(x, KSTATUS_IN_PROGRESS, "LessLabelled", "labelled: %ld/%ld", labeled, want);
	if (want > avail)
		return result(x, KSTATUS_IN_PROGRESS, "LessAvailable", "available: %ld/%ld", avail, want);
	if (want > ready)
		return result(x, KSTATUS_IN_PROGRESS, "LessReady", "ready: %ld/%ld", ready, want);
	if (have > want)
		return result(x, KSTATUS_IN_PROGRESS, "ExtraPods", "pending termination: %ld", have - want);
	return result(x, KSTATUS_CURRENT, "AllReady", "all %ld replicas ready", want);
}

static int job(struct ctx *x)
{
	const cJSON *spec = get(x->obj, "spec"), *st = get(x->obj, "status");
	if (has(spec, "activeDeadlineSeconds"))
		x->out->controller_deadline = 1;   /* the controller fails it with DeadlineExceeded */
	const cJSON *failed = condition(x->obj, "Failed");
	if (eq(str(failed, "status"), "True"))
		return from_condition(x, KSTATUS_FAILED, failed, "JobFailed");
	const cJSON *complete = condition(x->obj, "Complete");
	if (eq(str(complete, "status"), "True"))
		return result(x, KSTATUS_CURRENT, "JobComplete", "Job completed: %ld succeeded", num(st, "succeeded", 0));
	if (!has(st, "startTime"))
		return result(x, KSTATUS_IN_PROGRESS, "JobNotStarted", "Job not started");
	return result(x, KSTATUS_IN_PROGRESS, "JobInProgress", "Job in progress: active %ld, succeeded %ld, failed %ld",
		      num(st, "active", 0), num(st, "succeeded", 0), num(st, "failed", 0));
}

static const char *const pod_failures[] = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
					   "CreateContainerConfigError", "InvalidImageName"};

/* A container status that means the Pod failed: fills out and returns 1. */
static int pod_container_failed(struct ctx *x, const cJSON *cs)
{
	const cJSON *waiting = get(get(cs, "state"), "waiting");
	const char *wr = str(waiting, "reason");
	for (size_t i = 0; wr && i < sizeof(pod_failures) / sizeof(pod_failures[0]); i++)
		if (!strcmp(wr, pod_failures[i]))
			return result(x, KSTATUS_FAILED, wr, "container %s: %s", str(cs, "name") ? str(cs, "name") : "?",
				      str(waiting, "message") ? str(waiting, "message") : wr);
	const char *tr = str(get(get(cs, "state"), "terminated"), "reason");
	const char *lr = str(get(get(cs, "lastState"), "terminated"), "reason");
	if (eq(tr, "OOMKilled") || eq(lr, "OOMKilled"))
		return result(x, KSTATUS_FAILED, "OOMKilled", "container %s was OOMKilled (restarts: %ld)",
			      str(cs, "name") ? str(cs, "name") : "?", num(cs, "restartCount", 0));
	return 0;
}

static int pod(struct ctx *x)
{
	const cJSON *st = get(x->obj, "status");
	const char *phase = str(st, "phase");
	if (eq(phase, "Succeeded"))
		return result(x, KSTATUS_CURRENT, "PodCompleted", "Pod has completed successfully");
	if (eq(phase, "Failed"))
		return result(x, KSTATUS_FAILED, str(st, "reason") ? str(st, "reason") : "PodFailed", "%s",
			      str(st, "message") ? str(st, "message") : "Pod has failed");
	const char *lists[] = {"initContainerStatuses", "containerStatuses"};
	const char *waiting_reason = NULL;
	for (int l = 0; l < 2; l++) {
		const cJSON *cs;
		cJSON_ArrayForEach(cs, get(st, lists[l])) {
			if (pod_container_failed(x, cs))
				return 1;
			const char *wr = str(get(get(cs, "state"), "waiting"), "reason");
			if (wr && !waiting_reason)
				waiting_reason = wr;
		}
	}
	if (cond_is(x->obj, "Ready", "True"))
		return result(x, KSTATUS_CURRENT, "PodReady", "Pod is ready");
	const cJSON *sched = condition(x->obj, "PodScheduled");
	if (eq(str(sched, "status"), "False"))
		return from_condition(x, KSTATUS_IN_PROGRESS, sched, "PodNotScheduled");
	if (waiting_reason)
		return result(x, KSTATUS_IN_PROGRESS, waiting_reason, "container waiting: %s", waiting_reason);
	return result(x, KSTATUS_IN_PROGRESS, "PodNotReady", "Pod phase %s, not ready", phase ? phase : "unknown");
}

static int pvc(struct ctx *x)
{
	const char *phase = str(get(x->obj, "status"), "phase");
	if (eq(phase, "Bound"))
		return result(x, KSTATUS_CURRENT, "Bound", "PVC is bound");
	if (eq(phase, "Lost"))
		return result(x, KSTATUS_FAILED, "ClaimLost", "the PVC lost its volume");
	return result(x, KSTATUS_IN_PROGRESS, "NotBound", "PVC is %s", phase ? phase : "not bound yet");
}

static int service(struct ctx *x)
{
	if (!eq(str(get(x->obj, "spec"), "type"), "LoadBalancer"))
		return result(x, KSTATUS_CURRENT, "ServiceReady", "Service is ready");
	const cJSON *ing = get(get(get(x->obj, "status"), "loadBalancer"), "ingress");
	if (!cJSON_GetArraySize(ing))
		return result(x, KSTATUS_IN_PROGRESS, "NoIngress", "waiting for the load balancer's address");
	return result(x, KSTATUS_CURRENT, "LoadBalancerReady", "load balancer has an address");
}

static int crd(struct ctx *x)
{
	const cJSON *na = condition(x->obj, "NamesAccepted");
	if (eq(str(na, "status"), "False"))
		return from_condition(x, KSTATUS_FAILED, na, "NamesNotAccepted");
	if (cond_is(x->obj, "Established", "True"))
		return result(x, KSTATUS_CURRENT, "Established", "CRD is established");
	const cJSON *es = condition(x->obj, "Established");
	return es ? from_condition(x, KSTATUS_IN_PROGRESS, es, "NotEstablished")
		  : result(x, KSTATUS_IN_PROGRESS, "NotEstablished", "CRD is not established yet");
}

static int clustersummary(struct ctx *x)
{
	const cJSON *fs = get(get(x->obj, "status"), "featureSummaries");
	const cJSON *f;
	int n = 0;
	const cJSON *pending = NULL;
	cJSON_ArrayForEach(f, fs) {
		n++;
		const char *st = str(f, "status");
		if (eq(st, "Failed") || eq(st, "FailedNonRetriable")) {
			char *reason = xasprintf("%s%s", str(f, "featureID") ? str(f, "featureID") : "", st);
			result(x, KSTATUS_FAILED, reason, "%s", str(f, "failureMessage") ? str(f, "failureMessage") : st);
			free(reason);
			return 1;
		}
		if (!eq(st, "Provisioned") && !pending)
			pending = f;
	}
	if (!n)
		return result(x, KSTATUS_IN_PROGRESS, "NoFeatures", "no feature reported yet");
	if (pending) {
		char *reason = xasprintf("%s%s", str(pending, "featureID") ? str(pending, "featureID") : "",
					 str(pending, "status") ? str(pending, "status") : "Pending");
		result(x, KSTATUS_IN_PROGRESS, reason, "feature %s is %s", str(pending, "featureID") ? str(pending, "featureID") : "?",
		       str(pending, "status") ? str(pending, "status") : "pending");
		free(reason);
		return 1;
	}
	return result(x, KSTATUS_CURRENT, "Provisioned", "all %d features provisioned", n);
}

static int certificate(struct ctx *x)
{
	const cJSON *issuing = condition(x->obj, "Issuing");
	if (eq(str(issuing, "status"), "False") && eq(str(issuing, "reason"), "Failed"))
		return from_condition(x, KSTATUS_FAILED, issuing, "IssuanceFailed");
	if (cond_is(x->obj, "Ready", "True"))
		return 0;   /* the Ready rule */
	if (eq(str(issuing, "status"), "True"))
		return from_condition(x, KSTATUS_IN_PROGRESS, issuing, "Issuing");
	return 0;
}

/* Flux: how long a reconciliation may take (spec.timeout; Kustomization: else spec.interval; default 5m). */
static void flux_timeout(struct ctx *x, int kustomization)
{
	const cJSON *spec = get(x->obj, "spec");
	int64_t ms;
	if (str(spec, "timeout") && duration_parse(str(spec, "timeout"), &ms) == 0 && ms > 0) {
		x->out->timeout_ms = ms;
		x->out->timeout_source = "spec.timeout";
	} else if (kustomization && str(spec, "interval") && duration_parse(str(spec, "interval"), &ms) == 0 && ms > 0) {
		x->out->timeout_ms = ms;
		x->out->timeout_source = "spec.interval";
	} else {
		x->out->timeout_ms = FLUX_DEFAULT_TIMEOUT_MS;
		x->out->timeout_source = "Flux default";
	}
}

static const char *const flux_kinds[] = {"HelmRelease", "Kustomization", "GitRepository", "OCIRepository",
					 "HelmRepository", "HelmChart", "Bucket"};

static int is_flux(const char *kind)
{
	for (size_t i = 0; i < sizeof(flux_kinds) / sizeof(flux_kinds[0]); i++)
		if (eq(kind, flux_kinds[i]))
			return 1;
	return 0;
}

static int kind_rules(struct ctx *x, const char *kind)
{
	if (eq(kind, "Deployment"))
		return deployment(x);
	if (eq(kind, "StatefulSet"))
		return statefulset(x);
	if (eq(kind, "DaemonSet"))
		return daemonset(x);
	if (eq(kind, "ReplicaSet"))
		return replicaset(x);
	if (eq(kind, "Job"))
		return job(x);
	if (eq(kind, "Pod"))
		return pod(x);
	if (eq(kind, "PersistentVolumeClaim"))
		return pvc(x);
	if (eq(kind, "Service"))
		return service(x);
	if (eq(kind, "CustomResourceDefinition"))
		return crd(x);
	if (eq(kind, "ClusterSummary"))
		return clustersummary(x);
	if (eq(kind, "Certificate"))
		return certificate(x);
	return 0;
}

/* The Ready condition, for any kind (Flux, cert-manager, most operators). */
static int ready_rule(struct ctx *x, const char *kind)
{
	const cJSON *ready = condition(x->obj, "Ready");
	const char *s = str(ready, "status");
	if (eq(s, "True"))
		return from_condition(x, KSTATUS_CURRENT, ready, "Ready");
	if (eq(s, "False") && ends_with(str(ready, "reason"), "Failed"))
		return from_condition(x, KSTATUS_FAILED, ready, "Failed");
	if (ready)
		return from_condition(x, KSTATUS_IN_PROGRESS, ready, eq(s, "False") ? "NotReady" : "Progressing");
	if (is_flux(kind) || eq(kind, "Certificate") || eq(kind, "Issuer") || eq(kind, "ClusterIssuer"))
		return result(x, KSTATUS_IN_PROGRESS, "NoReadyCondition", "the controller has not reported a Ready condition yet");
	return result(x, KSTATUS_CURRENT, "Current", "no status conditions to wait for");
}

/* Since when the object is InProgress, as its controller tells it. */
static void since_of(struct ctx *x)
{
	const char *types[] = {"Reconciling", "Ready"};
	for (int i = 0; i < 2; i++) {
		const cJSON *c = condition(x->obj, types[i]);
		if (!c || (i == 0 && !eq(str(c, "status"), "True")))
			continue;
		int64_t t = kstatus_parse_time(str(c, "lastTransitionTime"));
		if (t >= 0) {
			x->out->since_wall_ms = t;
			return;
		}
	}
}

void kstatus_compute(const cJSON *obj, const struct redactor *red, struct kstatus *out)
{
	kstatus_release(out);
	const cJSON *meta = get(obj, "metadata");
	const char *kind = str(obj, "kind");
	out->kind = xstrdup(kind ? kind : "Object");
	out->name = xstrdup(str(meta, "name") ? str(meta, "name") : "?");
	out->ns = str(meta, "namespace") ? xstrdup(str(meta, "namespace")) : NULL;
	out->state = str(meta, "resourceVersion");
	struct ctx x = {obj, red, out};
	if (eq(kind, "HelmRelease"))
		flux_timeout(&x, 0);
	else if (eq(kind, "Kustomization"))
		flux_timeout(&x, 1);
	if (!generic_rules(&x) && !kind_rules(&x, kind))
		ready_rule(&x, kind);
	if (out->status == KSTATUS_IN_PROGRESS && out->timeout_ms >= 0) {
		/* waiting on a dependency is not the release's own reconciliation */
		if (eq(out->reason, "DependencyNotReady")) {
			out->timeout_ms = -1;
			out->timeout_source = NULL;
		} else
			since_of(&x);
	}
}

void kstatus_from_summary(const cJSON *d, const struct redactor *red, struct kstatus *out)
{
	kstatus_release(out);
	const char *kind = str(d, "kind"), *st = str(d, "status");
	out->kind = xstrdup(kind ? kind : "Dependency");
	out->name = xstrdup(str(d, "name") ? str(d, "name") : "?");
	out->ns = str(d, "namespace") && *str(d, "namespace") ? xstrdup(str(d, "namespace")) : NULL;
	out->state = str(d, "resourceVersion");
	struct ctx x = {d, red, out};
	enum kstatus_status s = KSTATUS_UNKNOWN;
	if (eq(st, "Failed"))
		s = KSTATUS_FAILED;
	else if (eq(st, "Progressing") || eq(st, "InProgress"))
		s = KSTATUS_IN_PROGRESS;
	else if (eq(st, "Ready") || eq(st, "Current"))
		s = KSTATUS_CURRENT;
	else if (eq(st, "Terminating"))
		s = KSTATUS_TERMINATING;
	else if (eq(st, "NotFound") || eq(st, "Missing") || eq(st, "Absent"))
		s = KSTATUS_NOT_FOUND;
	/* a reason naming a pod/rollout failure means Failed, whatever the summary's status says */
	for (size_t i = 0; str(d, "reason") && s != KSTATUS_NOT_FOUND && i < sizeof(pod_failures) / sizeof(pod_failures[0]); i++)
		if (strstr(str(d, "reason"), pod_failures[i]))
			s = KSTATUS_FAILED;
	if (str(d, "reason") && (strstr(str(d, "reason"), "OOMKilled") || strstr(str(d, "reason"), "ProgressDeadlineExceeded")))
		s = KSTATUS_FAILED;
	result(&x, s, str(d, "reason") ? str(d, "reason") : (st ? st : "Unknown"), "%s",
	       str(d, "message") ? str(d, "message") : "");
	if (s == KSTATUS_IN_PROGRESS) {
		int64_t ms;
		if (str(d, "timeout") && duration_parse(str(d, "timeout"), &ms) == 0 && ms > 0) {
			out->timeout_ms = ms;
			out->timeout_source = "spec.timeout";
		}
		out->since_wall_ms = kstatus_parse_time(str(d, "lastTransitionTime"));
		if (out->timeout_ms < 0 && out->since_wall_ms >= 0 && (eq(kind, "HelmRelease") || eq(kind, "Kustomization"))) {
			out->timeout_ms = FLUX_DEFAULT_TIMEOUT_MS;
			out->timeout_source = "Flux default";
		}
	}
}
