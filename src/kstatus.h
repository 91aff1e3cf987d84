/*
 * kstatus: the status of one Kubernetes object, computed the way kstatus
 * (sigs.k8s.io/cli-utils/pkg/kstatus) computes it, over the object as
 * `kubectl get KIND NAME -o json` prints it (SPEC §4.4.3,
 * docs/wait_policy.md "Status of raw objects" lists every rule and its source).
 *
 * Order, first decision wins:
 *   1. generic: metadata.deletionTimestamp -> Terminating;
 *      status.observedGeneration < metadata.generation -> InProgress;
 *      Stalled=True -> Failed; Reconciling=True -> InProgress;
 *   2. the kind's own rules (Deployment, StatefulSet, DaemonSet, ReplicaSet,
 *      Job, Pod, PersistentVolumeClaim, Service, CustomResourceDefinition,
 *      Sveltos ClusterSummary, cert-manager Certificate);
 *   3. the Ready condition: True -> Current; False with a reason ending in
 *      "Failed" -> Failed; otherwise -> InProgress;
 *   4. no Ready condition: Flux and cert-manager kinds -> InProgress (their
 *      controller has not reported yet); any other kind -> Current.
 *
 * Calling sequence:
 *   struct kstatus k = KSTATUS_INIT;
 *   if (kstatus_is_object(obj)) kstatus_compute(obj, redactor, &k);
 *   ... k.status, k.kind, k.ns, k.name, k.reason, k.message, deadline fields ...
 *   kstatus_release(&k);
 * kstatus_from_summary() reads the summarized form of a probe's
 * dependencies[] entry ({kind, name, namespace, status, reason, message}).
 *
 * Ownership: obj and the redactor are borrowed; struct kstatus owns its
 * strings (kstatus_release()). Pure: no clock, no I/O.
 */
#ifndef WAITLOOP_KSTATUS_H
#define WAITLOOP_KSTATUS_H
#include <cjson/cJSON.h>
#include <stdint.h>

struct redactor;

enum kstatus_status {
	KSTATUS_UNKNOWN = 0,
	KSTATUS_CURRENT,
	KSTATUS_IN_PROGRESS,
	KSTATUS_FAILED,
	KSTATUS_TERMINATING,
	KSTATUS_NOT_FOUND,
};

struct kstatus {
	enum kstatus_status status;
	char *kind;                 /* "Deployment"; never NULL after compute */
	char *ns;                   /* NULL for cluster-scoped objects */
	char *name;                 /* never NULL after compute */
	char *reason;               /* CamelCase: "ProgressDeadlineExceeded", "CrashLoopBackOff", ... */
	char *message;              /* redacted, at most 300 bytes */
	/* How long InProgress may last, when the object says so itself: */
	int64_t timeout_ms;         /* -1: none (e.g. HelmRelease spec.timeout, Flux default 5m) */
	const char *timeout_source; /* "spec.timeout", "spec.interval", "Flux default" (static) */
	int64_t since_wall_ms;      /* since when InProgress: the Ready/Reconciling lastTransitionTime; -1 unknown */
	int controller_deadline;    /* the controller reports a missed deadline itself (Deployment, Job with activeDeadlineSeconds) */
	const char *state;          /* borrowed: resourceVersion when known (progress of this object), or NULL */
};
#define KSTATUS_INIT {KSTATUS_UNKNOWN, NULL, NULL, NULL, NULL, NULL, -1, NULL, -1, 0, NULL}

const char *kstatus_name(enum kstatus_status s);  /* "Current", "InProgress", "Failed", ... */
/* Does j look like a Kubernetes object (string kind, object metadata)? */
int kstatus_is_object(const cJSON *j);
/* Does j look like a List (kind ending in "List" with an items array)? */
int kstatus_is_list(const cJSON *j);
/* Compute the status of a raw object. */
void kstatus_compute(const cJSON *obj, const struct redactor *red, struct kstatus *out);
/* The summarized form: status Failed|Progressing|Ready|NotFound|Missing|Absent|Unknown. */
void kstatus_from_summary(const cJSON *d, const struct redactor *red, struct kstatus *out);
void kstatus_release(struct kstatus *k);
/* RFC 3339 ("2026-11-30T21:00:00Z", fractions and offsets allowed) to ms since the epoch; -1 if invalid. */
int64_t kstatus_parse_time(const char *s);

#endif
