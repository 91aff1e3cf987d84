/* kstatus: one test per rule of docs/wait_policy.md "Status of raw objects". */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kstatus.h"

static struct kstatus K;

/* Compute the status of one JSON object; returns its status. */
static enum kstatus_status ks(const char *json)
{
	cJSON *o = cJSON_Parse(json);
	CHECK(o != NULL);
	CHECK(kstatus_is_object(o));
	kstatus_compute(o, NULL, &K);
	cJSON_Delete(o);
	return K.status;
}

#define META(kind, extra) "{\"apiVersion\":\"v1\",\"kind\":\"" kind "\",\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\"" extra "},"
#define COND(t, s, r) "{\"type\":\"" t "\",\"status\":\"" s "\",\"reason\":\"" r "\",\"message\":\"m " r "\"}"

static void test_generic_terminating(void)
{
	CHECK_INT(ks(META("ConfigMap", ",\"deletionTimestamp\":\"2026-11-30T10:00:00Z\"") "\"data\":{}}"),
		  KSTATUS_TERMINATING);
	CHECK_STR(K.reason, "Terminating");
	CHECK_STR(K.kind, "ConfigMap");
	CHECK_STR(K.ns, "ns");
	CHECK_STR(K.name, "x");
	kstatus_release(&K);
}

static void test_generic_observed_generation(void)
{
	CHECK_INT(ks(META("HelmRelease", ",\"generation\":3") "\"status\":{\"observedGeneration\":2,\"conditions\":[" COND("Ready", "True", "InstallSucceeded") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "ObservedGenerationLagging");
	CHECK_CONTAINS(K.message, "generation 2 of 3");
	CHECK_INT(ks(META("HelmRelease", ",\"generation\":3") "\"status\":{\"observedGeneration\":3,\"conditions\":[" COND("Ready", "True", "InstallSucceeded") "]}}"),
		  KSTATUS_CURRENT);
	kstatus_release(&K);
}

static void test_generic_stalled_and_reconciling(void)
{
	CHECK_INT(ks(META("Kustomization", "") "\"status\":{\"conditions\":[" COND("Stalled", "True", "BuildFailed") "," COND("Ready", "False", "BuildFailed") "]}}"),
		  KSTATUS_FAILED);
	CHECK_STR(K.reason, "BuildFailed");
	CHECK_INT(ks(META("Widget", "") "\"status\":{\"conditions\":[" COND("Reconciling", "True", "Progressing") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "Progressing");
	kstatus_release(&K);
}

static void test_ready_condition(void)
{
	CHECK_INT(ks(META("Widget", "") "\"status\":{\"conditions\":[" COND("Ready", "True", "Ok") "]}}"), KSTATUS_CURRENT);
	CHECK_INT(ks(META("GitRepository", "") "\"status\":{\"conditions\":[" COND("Ready", "False", "GitOperationFailed") "]}}"),
		  KSTATUS_FAILED);
	CHECK_STR(K.reason, "GitOperationFailed");
	CHECK_INT(ks(META("Kustomization", "") "\"status\":{\"conditions\":[" COND("Ready", "False", "DependencyNotReady") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_INT(K.timeout_ms, -1);   /* waiting on a dependency: not its own reconciliation */
	CHECK_INT(ks(META("Widget", "") "\"status\":{}}"), KSTATUS_CURRENT);         /* unknown kind, no conditions */
	CHECK_INT(ks(META("OCIRepository", "") "\"spec\":{}}"), KSTATUS_IN_PROGRESS); /* Flux: not reported yet */
	kstatus_release(&K);
}

static void test_helmrelease_timeout_and_since(void)
{
	CHECK_INT(ks(META("HelmRelease", "") "\"spec\":{\"timeout\":\"20s\"},\"status\":{\"conditions\":["
		      "{\"type\":\"Reconciling\",\"status\":\"True\",\"reason\":\"Progressing\",\"lastTransitionTime\":\"2026-11-30T10:00:00Z\"},"
		      "{\"type\":\"Ready\",\"status\":\"Unknown\",\"reason\":\"Progressing\",\"message\":\"Running 'install' action with timeout of 20s\",\"lastTransitionTime\":\"2026-11-30T10:00:01Z\"}]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_INT(K.timeout_ms, 20000);
	CHECK_STR(K.timeout_source, "spec.timeout");
	CHECK_INT(K.since_wall_ms, kstatus_parse_time("2026-11-30T10:00:00Z"));
	CHECK_INT(ks(META("HelmRelease", "") "\"status\":{\"conditions\":["
		      "{\"type\":\"Ready\",\"status\":\"Unknown\",\"reason\":\"Progressing\",\"lastTransitionTime\":\"2026-11-30T10:00:01Z\"}]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_INT(K.timeout_ms, 5 * 60 * 1000);
	CHECK_STR(K.timeout_source, "Flux default");
	CHECK_INT(K.since_wall_ms, kstatus_parse_time("2026-11-30T10:00:01Z"));
	CHECK_INT(ks(META("HelmRelease", "") "\"status\":{\"conditions\":[" COND("Ready", "False", "InstallFailed") "]}}"),
		  KSTATUS_FAILED);
	CHECK_CONTAINS(K.message, "InstallFailed");
	CHECK_INT(ks(META("Kustomization", "") "\"spec\":{\"interval\":\"2m\"},\"status\":{\"conditions\":[" COND("Ready", "Unknown", "Progressing") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_INT(K.timeout_ms, 120000);
	CHECK_STR(K.timeout_source, "spec.interval");
	kstatus_release(&K);
}

static void test_deployment(void)
{
	CHECK_INT(ks(META("Deployment", "") "\"spec\":{\"replicas\":2},\"status\":{\"replicas\":2,\"updatedReplicas\":1,\"conditions\":["
		      COND("Progressing", "False", "ProgressDeadlineExceeded") "]}}"),
		  KSTATUS_FAILED);
	CHECK_STR(K.reason, "ProgressDeadlineExceeded");
	CHECK_INT(ks(META("Deployment", "") "\"spec\":{\"replicas\":3},\"status\":{\"replicas\":3,\"updatedReplicas\":3,\"readyReplicas\":1,\"availableReplicas\":1,\"conditions\":["
		      COND("Progressing", "True", "ReplicaSetUpdated") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "LessAvailable");
	CHECK_INT(K.controller_deadline, 1);
	CHECK_INT(ks(META("Deployment", "") "\"spec\":{\"replicas\":1},\"status\":{\"replicas\":1}}"), KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "LessUpdated");
	CHECK_INT(ks(META("Deployment", "") "\"spec\":{\"replicas\":2},\"status\":{\"replicas\":3,\"updatedReplicas\":2}}"), KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "ExtraPods");
	CHECK_INT(ks(META("Deployment", "") "\"spec\":{\"replicas\":2},\"status\":{\"replicas\":2,\"updatedReplicas\":2,\"readyReplicas\":2,\"availableReplicas\":2,\"conditions\":["
		      COND("Progressing", "True", "NewReplicaSetAvailable") "," COND("Available", "True", "MinimumReplicasAvailable") "]}}"),
		  KSTATUS_CURRENT);
	kstatus_release(&K);
}

static void test_statefulset(void)
{
	CHECK_INT(ks(META("StatefulSet", "") "\"spec\":{\"replicas\":3},\"status\":{\"replicas\":3,\"readyReplicas\":2}}"), KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "LessReady");
	CHECK_INT(ks(META("StatefulSet", "") "\"spec\":{\"replicas\":2},\"status\":{\"replicas\":2,\"readyReplicas\":2,\"currentReplicas\":2,\"currentRevision\":\"a\",\"updateRevision\":\"b\"}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "RevisionMismatch");
	CHECK_INT(ks(META("StatefulSet", "") "\"spec\":{\"replicas\":2},\"status\":{\"replicas\":2,\"readyReplicas\":2,\"currentReplicas\":2,\"currentRevision\":\"b\",\"updateRevision\":\"b\"}}"),
		  KSTATUS_CURRENT);
	CHECK_INT(ks(META("StatefulSet", "") "\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\"}},\"status\":{}}"), KSTATUS_CURRENT);
	kstatus_release(&K);
}

static void test_daemonset_and_replicaset(void)
{
	CHECK_INT(ks(META("DaemonSet", "") "\"status\":{}}"), KSTATUS_IN_PROGRESS);
	CHECK_INT(ks(META("DaemonSet", "") "\"status\":{\"desiredNumberScheduled\":3,\"currentNumberScheduled\":3,\"updatedNumberScheduled\":3,\"numberAvailable\":2,\"numberReady\":3}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "LessAvailable");
	CHECK_INT(ks(META("DaemonSet", "") "\"status\":{\"desiredNumberScheduled\":2,\"currentNumberScheduled\":2,\"updatedNumberScheduled\":2,\"numberAvailable\":2,\"numberReady\":2}}"),
		  KSTATUS_CURRENT);
	CHECK_INT(ks(META("ReplicaSet", "") "\"spec\":{\"replicas\":2},\"status\":{\"replicas\":2,\"fullyLabeledReplicas\":2,\"readyReplicas\":1,\"availableReplicas\":2}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "LessReady");
	CHECK_INT(ks(META("ReplicaSet", "") "\"spec\":{\"replicas\":1},\"status\":{\"conditions\":[" COND("ReplicaFailure", "True", "FailedCreate") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "FailedCreate");
	kstatus_release(&K);
}

static void test_job(void)
{
	CHECK_INT(ks(META("Job", "") "\"spec\":{},\"status\":{}}"), KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "JobNotStarted");
	CHECK_INT(ks(META("Job", "") "\"spec\":{},\"status\":{\"startTime\":\"2026-11-30T10:00:00Z\",\"active\":1}}"), KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "JobInProgress");
	CHECK_INT(K.controller_deadline, 0);
	CHECK_INT(ks(META("Job", "") "\"spec\":{\"activeDeadlineSeconds\":60},\"status\":{\"conditions\":[" COND("Failed", "True", "BackoffLimitExceeded") "]}}"),
		  KSTATUS_FAILED);
	CHECK_STR(K.reason, "BackoffLimitExceeded");
	CHECK_INT(K.controller_deadline, 1);
	CHECK_INT(ks(META("Job", "") "\"status\":{\"succeeded\":1,\"conditions\":[" COND("Complete", "True", "") "]}}"), KSTATUS_CURRENT);
	kstatus_release(&K);
}

static void test_pod(void)
{
	static const char *const failing[] = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
					      "CreateContainerConfigError", "InvalidImageName"};
	for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 META("Pod", "") "\"status\":{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"app\",\"ready\":false,"
					 "\"state\":{\"waiting\":{\"reason\":\"%s\",\"message\":\"token=s3cr3tvalue\"}}}]}}",
			 failing[i]);
		CHECK_INT(ks(json), KSTATUS_FAILED);
		CHECK_STR(K.reason, failing[i]);
		CHECK(!strstr(K.message, "s3cr3tvalue"));   /* redacted */
	}
	CHECK_INT(ks(META("Pod", "") "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"running\":{}},"
		      "\"lastState\":{\"terminated\":{\"reason\":\"OOMKilled\"}},\"restartCount\":2}]}}"),
		  KSTATUS_FAILED);
	CHECK_STR(K.reason, "OOMKilled");
	CHECK_INT(ks(META("Pod", "") "\"status\":{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "ContainerCreating");
	CHECK_INT(ks(META("Pod", "") "\"status\":{\"phase\":\"Pending\",\"conditions\":[" COND("PodScheduled", "False", "Unschedulable") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "Unschedulable");
	CHECK_INT(ks(META("Pod", "") "\"status\":{\"phase\":\"Running\",\"conditions\":[" COND("Ready", "True", "") "]}}"), KSTATUS_CURRENT);
	CHECK_INT(ks(META("Pod", "") "\"status\":{\"phase\":\"Succeeded\"}}"), KSTATUS_CURRENT);
	CHECK_INT(ks(META("Pod", "") "\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\"}}"), KSTATUS_FAILED);
	CHECK_STR(K.reason, "Evicted");
	kstatus_release(&K);
}

static void test_pvc_service_crd(void)
{
	CHECK_INT(ks(META("PersistentVolumeClaim", "") "\"status\":{\"phase\":\"Pending\"}}"), KSTATUS_IN_PROGRESS);
	CHECK_INT(ks(META("PersistentVolumeClaim", "") "\"status\":{\"phase\":\"Lost\"}}"), KSTATUS_FAILED);
	CHECK_INT(ks(META("PersistentVolumeClaim", "") "\"status\":{\"phase\":\"Bound\"}}"), KSTATUS_CURRENT);
	CHECK_INT(ks(META("Service", "") "\"spec\":{\"type\":\"LoadBalancer\"},\"status\":{\"loadBalancer\":{}}}"), KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "NoIngress");
	CHECK_INT(ks(META("Service", "") "\"spec\":{\"type\":\"LoadBalancer\"},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"10.0.0.1\"}]}}}"),
		  KSTATUS_CURRENT);
	CHECK_INT(ks(META("Service", "") "\"spec\":{\"type\":\"ClusterIP\"}}"), KSTATUS_CURRENT);
	CHECK_INT(ks(META("CustomResourceDefinition", "") "\"status\":{\"conditions\":[" COND("NamesAccepted", "False", "MultipleNamesNotAllowed") "]}}"),
		  KSTATUS_FAILED);
	CHECK_INT(ks(META("CustomResourceDefinition", "") "\"status\":{\"conditions\":[" COND("NamesAccepted", "True", "NoConflicts") "," COND("Established", "False", "Installing") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_INT(ks(META("CustomResourceDefinition", "") "\"status\":{\"conditions\":[" COND("Established", "True", "InitialNamesAccepted") "]}}"),
		  KSTATUS_CURRENT);
	kstatus_release(&K);
}

static void test_clustersummary_and_certificate(void)
{
	CHECK_INT(ks(META("ClusterSummary", "") "\"status\":{}}"), KSTATUS_IN_PROGRESS);
	CHECK_INT(ks(META("ClusterSummary", "") "\"status\":{\"featureSummaries\":[{\"featureID\":\"Helm\",\"status\":\"Provisioning\"}]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_STR(K.reason, "HelmProvisioning");
	CHECK_INT(ks(META("ClusterSummary", "") "\"status\":{\"featureSummaries\":[{\"featureID\":\"Helm\",\"status\":\"FailedNonRetriable\",\"failureMessage\":\"chart not found\"}]}}"),
		  KSTATUS_FAILED);
	CHECK_STR(K.reason, "HelmFailedNonRetriable");
	CHECK_STR(K.message, "chart not found");
	CHECK_INT(ks(META("ClusterSummary", "") "\"status\":{\"featureSummaries\":[{\"featureID\":\"Helm\",\"status\":\"Provisioned\"}]}}"),
		  KSTATUS_CURRENT);
	CHECK_INT(ks(META("Certificate", "") "\"status\":{\"conditions\":[" COND("Ready", "False", "DoesNotExist") "," COND("Issuing", "True", "DoesNotExist") "]}}"),
		  KSTATUS_IN_PROGRESS);
	CHECK_INT(ks(META("Certificate", "") "\"status\":{\"conditions\":[" COND("Ready", "False", "DoesNotExist") "," COND("Issuing", "False", "Failed") "]}}"),
		  KSTATUS_FAILED);
	CHECK_INT(ks(META("Certificate", "") "\"status\":{\"conditions\":[" COND("Ready", "True", "Ready") "]}}"), KSTATUS_CURRENT);
	kstatus_release(&K);
}

static void test_summary_and_list(void)
{
	cJSON *d = cJSON_Parse("{\"kind\":\"HelmRelease\",\"name\":\"a\",\"namespace\":\"flux-system\",\"status\":\"Progressing\","
			       "\"reason\":\"Progressing\",\"lastTransitionTime\":\"2026-11-30T10:00:00Z\"}");
	kstatus_from_summary(d, NULL, &K);
	CHECK_INT(K.status, KSTATUS_IN_PROGRESS);
	CHECK_INT(K.timeout_ms, 5 * 60 * 1000);
	CHECK(K.since_wall_ms > 0);
	cJSON_Delete(d);
	d = cJSON_Parse("{\"kind\":\"Pod\",\"name\":\"p\",\"status\":\"Progressing\",\"reason\":\"CrashLoopBackOff\"}");
	kstatus_from_summary(d, NULL, &K);
	CHECK_INT(K.status, KSTATUS_FAILED);
	cJSON_Delete(d);
	d = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[]}");
	CHECK(kstatus_is_list(d));
	CHECK(!kstatus_is_object(d));
	cJSON_Delete(d);
	kstatus_release(&K);
}

static void test_parse_time(void)
{
	CHECK_INT(kstatus_parse_time("1970-01-01T00:00:01Z"), 1000);
	CHECK_INT(kstatus_parse_time("1970-01-01T00:00:01.250Z"), 1250);
	CHECK_INT(kstatus_parse_time("1970-01-01T01:00:00+01:00"), 0);
	CHECK_INT(kstatus_parse_time("yesterday"), -1);
	CHECK_INT(kstatus_parse_time("1970-01-01T00:00:01"), -1);
	CHECK_INT(kstatus_parse_time(NULL), -1);
}

int main(void)
{
	TEST(test_generic_terminating);
	TEST(test_generic_observed_generation);
	TEST(test_generic_stalled_and_reconciling);
	TEST(test_ready_condition);
	TEST(test_helmrelease_timeout_and_since);
	TEST(test_deployment);
	TEST(test_statefulset);
	TEST(test_daemonset_and_replicaset);
	TEST(test_job);
	TEST(test_pod);
	TEST(test_pvc_service_crd);
	TEST(test_clustersummary_and_certificate);
	TEST(test_summary_and_list);
	TEST(test_parse_time);
	return tests_done();
}
