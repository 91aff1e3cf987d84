# Prometheus side of SPEC §6.4: promtool accepts the alert rules, the rules
# fire on the series they are meant for (promtool test rules), and promtool
# accepts a real metrics file produced by src/metrics.c. promtool comes from
# the Debian package prometheus (make test installs it); without it this
# test FAILS.
# timeout: 90
. "${WAITLOOP_ROOT:?run the tests with tests/run.sh}/tests/e2e/lib.sh" || exit 2

RULES=$ROOT/docs/alerts/waitloop.rules.yml
have_promtool() { command -v promtool >/dev/null 2>&1 || { t_fail "promtool not found (install the Debian package 'prometheus'; make test does)"; return 1; }; }

t_begin promtool_check_rules
if have_promtool; then
	promtool check rules "$RULES" >out.txt 2>&1 || { t_fail "promtool check rules failed:"; cat out.txt >&2; }
	expect_contains out.txt "SUCCESS: 10 rules found"
fi
t_end

t_begin promtool_rules_fire_on_their_series
if have_promtool; then
	cat >rules.test.yml <<YML
rule_files: ['$RULES']
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'waitloop_early_aborts_total{job="wl",step="deploy",reason="stalled"}'
        values: '0 1 1 1'
      - series: 'waitloop_early_aborts_total{job="wl",step="deploy",reason="terminal_fail"}'
        values: '0 0 1 2'
      - series: 'waitloop_early_aborts_total{job="wl",step="fine",reason="stalled"}'
        values: '0 0 0 0'
    alert_rule_test:
      - eval_time: 2m
        alertname: WaitloopStepStalled
        exp_alerts:
          - exp_labels: {severity: warning, job: wl, step: deploy, reason: stalled}
            exp_annotations:
              summary: "waitloop step deploy stalled"
              description: "A wait of step deploy ended early with no progress (1 times in the last run). See wait-failure.json in the step's context directory for the fingerprints."
      - eval_time: 2m
        alertname: WaitloopStepEarlyAbortedRepeatedly
        exp_alerts: []
      - eval_time: 3m
        alertname: WaitloopStepEarlyAbortedRepeatedly
        exp_alerts:
          - exp_labels: {severity: critical, job: wl, step: deploy}
            exp_annotations:
              summary: "waitloop step deploy early-aborted 3 times"
              description: "Step deploy was aborted early at least 3 times in one run. The cause is most likely outside the step (missing object, failed dependency, permissions): fix it before retrying."
  - interval: 10m
    input_series:
      - series: 'waitloop_iterations_total{job="wl",step="review"}'
        values: '0 1 2 3 4 5 6'
      - series: 'waitloop_consecutive_failures{job="wl",step="review"}'
        values: '0 1 2 3 4 5 6'
      - series: 'waitloop_iterations_total{job="wl",step="ok"}'
        values: '0 1 2 3 4 5 6'
      - series: 'waitloop_consecutive_failures{job="wl",step="ok"}'
        values: '0 0 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 20m
        alertname: WaitloopLoopNotConverging
        exp_alerts: []
      - eval_time: 60m
        alertname: WaitloopLoopNotConverging
        exp_alerts:
          - exp_labels: {severity: warning, job: wl, step: review}
            exp_annotations:
              summary: "waitloop step review is not converging"
              description: "Step review ran at least 3 more iterations in the last hour and the last 6 attempts/iterations all failed. Check convergence.json and fix.md of the step."
      - eval_time: 40m
        alertname: WaitloopConsecutiveFailures
        exp_alerts: []
      - eval_time: 50m
        alertname: WaitloopConsecutiveFailures
        exp_alerts:
          - exp_labels: {severity: warning, job: wl, step: review}
            exp_annotations:
              summary: "waitloop step review failed 5 times in a row"
              description: "Step review has failed 5 consecutive attempts or iterations."
  - interval: 1m
    input_series:
      - series: 'waitloop_alerts_total{job="wl",step="build"}'
        values: '0 0 1 1'
      - series: 'waitloop_notifications_total{job="wl",target="companion",reason="target_missing"}'
        values: '0 1 2 3'
      - series: 'waitloop_notifications_total{job="wl",target="companion",reason="timed_out"}'
        values: '0 0 0 1'
      - series: 'waitloop_notifications_total{job="wl",target="inbox",reason="delivered"}'
        values: '1 2 3 4'
      - series: 'waitloop_notifications_total{job="wl",target="inbox",reason="duplicate_suppressed"}'
        values: '0 0 2 20'
    alert_rule_test:
      - eval_time: 3m
        alertname: WaitloopAlertRaised
        exp_alerts:
          - exp_labels: {severity: warning, job: wl, step: build}
            exp_annotations:
              summary: "waitloop raised an alert for step build"
              description: "The runner's alert_after_failures threshold was reached for step build."
      - eval_time: 3m
        alertname: WaitloopNotificationsUndelivered
        exp_alerts:
          - exp_labels: {severity: warning, job: wl, target: companion}
            exp_annotations:
              summary: "waitloop notifications to companion were not delivered"
              description: "4 notifications to target companion were not delivered in the last run (target_missing, not_reachable, send_failed or timed_out). Is the peer registered and running?"
      - eval_time: 2m
        alertname: WaitloopDuplicateNotifications
        exp_alerts: []
      - eval_time: 3m
        alertname: WaitloopDuplicateNotifications
        exp_alerts:
          - exp_labels: {severity: info, job: wl, target: inbox, reason: duplicate_suppressed}
            exp_annotations:
              summary: "20 duplicate notifications to inbox suppressed"
              description: "The runner suppressed repeated notifications for the same run, event, step and iteration. Nothing reached the peer twice, but something upstream repeats itself."
  - interval: 30m
    input_series:
      # a run started at t=0 that never finished
      - series: 'waitloop_last_run_timestamp_seconds{job="wl",status="RUNNING"}'
        values: '0x10'
      - series: 'waitloop_run_duration_seconds{job="wl"}'
        values: '4000x10'
      - series: 'waitloop_last_run_timestamp_seconds{job="wl",status="SUCCEEDED"}'
        values: '0x100'
    alert_rule_test:
      - eval_time: 90m
        alertname: WaitloopRunTooLong
        exp_alerts: []
      - eval_time: 150m
        alertname: WaitloopRunTooLong
        exp_alerts:
          - exp_labels: {severity: critical, job: wl, status: RUNNING}
            exp_annotations:
              summary: "a waitloop run has been running for over 2 h"
              description: "The run started 2h 30m 0s ago and has not finished (or the runner died without recording an end)."
      - eval_time: 30m
        alertname: WaitloopRunSlow
        exp_alerts:
          - exp_labels: {severity: info, job: wl}
            exp_annotations:
              summary: "the last waitloop run took 1h 6m 40s"
              description: "The last run took over an hour."
      - eval_time: 23h
        alertname: WaitloopNoRecentSuccess
        exp_alerts: []
      - eval_time: 25h
        alertname: WaitloopNoRecentSuccess
        exp_alerts:
          - exp_labels: {severity: warning, job: wl}
            exp_annotations:
              summary: "no successful waitloop run for 1d 1h 0m 0s"
              description: "The last SUCCEEDED run is more than a day old."
YML
	promtool test rules rules.test.yml >out.txt 2>&1 || { t_fail "promtool test rules failed:"; sed 's/^/      /' out.txt >&2; }
	expect_contains out.txt "SUCCESS"
fi
t_end

t_begin promtool_check_metrics_from_module
if have_promtool; then
	gen=$ROOT/build/tests/test_metrics
	if [ ! -x "$gen" ]; then
		t_fail "$gen not built (make build/tests/test_metrics)"
	else
		mkdir keep
		"$gen" keep >gen.txt 2>&1 || { t_fail "test_metrics failed:"; cat gen.txt >&2; }
		if [ -s keep/waitloop.prom ]; then
			promtool check metrics <keep/waitloop.prom >out.txt 2>&1 || { t_fail "promtool check metrics:"; cat out.txt >&2; }
			[ ! -s out.txt ] || { t_fail "promtool complained:"; cat out.txt >&2; }
			for fam in run_duration_seconds step_duration_seconds iterations_total waits_total wait_seconds \
				early_aborts_total consecutive_failures alerts_total notifications_total last_run_timestamp_seconds; do
				expect_contains keep/waitloop.prom "# TYPE waitloop_$fam "
			done
			expect_contains keep/waitloop.prom 'waitloop_wait_seconds_sum{step="deploy"}'
			expect_contains keep/waitloop.prom 'waitloop_wait_seconds_count{step="deploy"}'
		else
			t_fail "no metrics file produced"
		fi
	fi
fi
t_end

t_begin promtool_check_metrics_rejects_a_broken_file
if have_promtool; then
	# the check above can fail: promtool rejects a malformed exposition
	printf '# TYPE waitloop_alerts_total counter\nwaitloop_alerts_total{step="a" 1\n' >bad.prom
	if promtool check metrics <bad.prom >out.txt 2>&1; then t_fail "promtool accepted a broken file"; fi
fi
t_end
