"""The EKS control-plane metrics API's text, parsed and judged (probes/eksmetrics.py; issue 10).

The expositions below are written in the format kube-controller-manager and kube-scheduler
export (client-go workqueue metrics, scheduler metrics, leader election), with the series the
rules do not read left in, so the line filter is tested too. Each rule has the rows where only
it decides; the last section adds, for mutation testing (issue 12), the smallest counts (one
item, one pod), the series that are not a queue, and several queues at once.
"""

from __future__ import annotations

import pytest

from cpwatch.probes.eksmetrics import (
    ControllerManagerLook,
    MetricsTextError,
    SchedulerLook,
    WorkQueue,
    hung_workers,
    idle_workers,
    parse_controller_manager,
    parse_scheduler,
    scheduler_stalled,
    waiting_without_workers,
)

KCM = """\
# HELP leader_election_master_status [ALPHA] Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.
# TYPE leader_election_master_status gauge
leader_election_master_status{name="kube-controller-manager"} 1
# HELP rest_client_requests_total [ALPHA] Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="10.0.0.1:443",method="GET"} 81234
# HELP workqueue_adds_total [ALPHA] Total number of adds handled by workqueue
# TYPE workqueue_adds_total counter
workqueue_adds_total{name="job"} 17
workqueue_adds_total{name="node_lifecycle_controller"} 412
# HELP workqueue_depth [ALPHA] Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{name="job"} 0
workqueue_depth{name="node_lifecycle_controller"} 6
# HELP workqueue_longest_running_processor_seconds [ALPHA] How many seconds has the longest running processor for workqueue been running.
# TYPE workqueue_longest_running_processor_seconds gauge
workqueue_longest_running_processor_seconds{name="job"} 0
workqueue_longest_running_processor_seconds{name="node_lifecycle_controller"} 734.2
# HELP workqueue_queue_duration_seconds [ALPHA] How long in seconds an item stays in workqueue before being requested.
# TYPE workqueue_queue_duration_seconds histogram
workqueue_queue_duration_seconds_bucket{name="job",le="1e-08"} 0
workqueue_queue_duration_seconds_bucket{name="job",le="+Inf"} 17
workqueue_queue_duration_seconds_sum{name="job"} 0.0121
workqueue_queue_duration_seconds_count{name="job"} 17
workqueue_queue_duration_seconds_bucket{name="node_lifecycle_controller",le="1e-08"} 0
workqueue_queue_duration_seconds_bucket{name="node_lifecycle_controller",le="+Inf"} 406
workqueue_queue_duration_seconds_sum{name="node_lifecycle_controller"} 0.93
workqueue_queue_duration_seconds_count{name="node_lifecycle_controller"} 406
# HELP workqueue_unfinished_work_seconds [ALPHA] How many seconds of work has done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.
# TYPE workqueue_unfinished_work_seconds gauge
workqueue_unfinished_work_seconds{name="job"} 0
workqueue_unfinished_work_seconds{name="node_lifecycle_controller"} 734.2
# HELP workqueue_work_duration_seconds [ALPHA] How long in seconds processing an item from workqueue takes.
# TYPE workqueue_work_duration_seconds histogram
workqueue_work_duration_seconds_bucket{name="job",le="+Inf"} 17
workqueue_work_duration_seconds_sum{name="job"} 0.2
workqueue_work_duration_seconds_count{name="job"} 17
"""

KSH = """\
# HELP leader_election_master_status [ALPHA] Gauge of if the reporting system is master of the relevant lease.
# TYPE leader_election_master_status gauge
leader_election_master_status{name="kube-scheduler"} 0
# HELP scheduler_pending_pods [STABLE] Number of pending pods, by the queue type.
# TYPE scheduler_pending_pods gauge
scheduler_pending_pods{queue="active"} 3
scheduler_pending_pods{queue="backoff"} 1
scheduler_pending_pods{queue="gated"} 2
scheduler_pending_pods{queue="unschedulable"} 7
# HELP scheduler_schedule_attempts_total [STABLE] Number of attempts to schedule pods, by the result.
# TYPE scheduler_schedule_attempts_total counter
scheduler_schedule_attempts_total{profile="default-scheduler",result="error"} 1
scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"} 120
scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"} 40
scheduler_schedule_attempts_total{profile="batch",result="scheduled"} 9
# HELP scheduler_scheduling_attempt_duration_seconds [STABLE] Scheduling attempt latency in seconds.
# TYPE scheduler_scheduling_attempt_duration_seconds histogram
scheduler_scheduling_attempt_duration_seconds_count{profile="default-scheduler",result="scheduled"} 120
"""


def test_controller_manager_queues_are_read_per_controller():
    look = parse_controller_manager(KCM)
    assert look.leader is True
    assert look.queues == {
        "job": WorkQueue("job", depth=0, adds=17, taken=17, unfinished_s=0, longest_running_s=0),
        "node_lifecycle_controller": WorkQueue("node_lifecycle_controller", depth=6, adds=412, taken=406,
                                               unfinished_s=734.2, longest_running_s=734.2),
    }


def test_scheduler_queues_and_attempts_of_every_profile_and_result():
    look = parse_scheduler(KSH)
    assert look.leader is False
    assert look.pending == {"active": 3, "backoff": 1, "unschedulable": 7, "gated": 2}
    assert look.attempts == 170


def test_leadership_is_unknown_when_not_exported():
    assert parse_scheduler("scheduler_pending_pods{queue=\"active\"} 1\n").leader is None
    assert parse_controller_manager("workqueue_depth{name=\"job\"} 1\n").leader is None
    other = 'leader_election_master_status{name="cloud-controller-manager"} 1\n'
    assert parse_controller_manager(other).leader is None


def test_a_missing_queue_of_the_scheduler_reads_as_empty():
    assert parse_scheduler("").pending == {"active": 0, "backoff": 0, "unschedulable": 0, "gated": 0}


@pytest.mark.parametrize("text", ['workqueue_depth{name="job" 1\n', "workqueue_depth{name=\"job\"} many\n",
                                  "scheduler_pending_pods{queue=\"active} 1\n"])
def test_text_that_is_not_an_exposition_is_an_error(text):
    with pytest.raises(MetricsTextError, match="not Prometheus text"):
        parse_controller_manager(text) if text.startswith("workqueue") else parse_scheduler(text)


def test_an_html_page_has_no_series_and_is_no_error():
    assert parse_controller_manager("<html><body>Service Unavailable</body></html>").queues == {}


# --- rule 1: a worker on one item for controller_stuck_after_s ------------------------------------

def queue(name="node_lifecycle_controller", depth=0.0, taken=10.0, unfinished=0.0, longest=0.0) -> WorkQueue:
    return WorkQueue(name, depth=depth, adds=taken + depth, taken=taken, unfinished_s=unfinished,
                     longest_running_s=longest)


def look(*queues: WorkQueue) -> ControllerManagerLook:
    return ControllerManagerLook(True, {q.name: q for q in queues})


@pytest.mark.parametrize(("longest", "hung"), [(299.9, False), (300.0, True), (734.2, True), (0.0, False)])
def test_a_worker_hangs_from_the_threshold(longest, hung):
    found = hung_workers(look(queue(longest=longest, unfinished=longest)), stuck_after_s=300.0)
    assert [(s.queue.name, s.rule) for s in found] == ([("node_lifecycle_controller", "worker-hung")] if hung else [])


def test_unfinished_work_of_many_short_items_is_not_a_hung_worker():
    # ten workers each 40 s into an item: 400 s of unfinished work, none of them hung
    assert hung_workers(look(queue(unfinished=400.0, longest=40.0)), stuck_after_s=300.0) == []


# --- rule 2: ready items, nothing taken, no worker busy, at two looks --------------------------

IDLE_ROWS = [
    ("items wait, none taken, no worker busy: workers do not run", queue(depth=3), queue(depth=5), True),
    ("same depth, none taken: still stuck", queue(depth=3), queue(depth=3), True),
    ("an item was taken in between", queue(depth=3), queue(depth=5, taken=11), False),
    ("fewer items at the second look", queue(depth=3), queue(depth=2), False),
    ("drained at the second look", queue(depth=3), queue(depth=0), False),
    ("a worker busy at the second look: rule 1's business", queue(depth=3), queue(depth=4, unfinished=2, longest=2),
     False),
    ("a worker busy at the first look", queue(depth=3, unfinished=1, longest=1), queue(depth=4), False),
    ("nothing waiting at the first look", queue(depth=0), queue(depth=2), False),
]


@pytest.mark.parametrize(("name", "first", "second", "stuck"), IDLE_ROWS, ids=[r[0] for r in IDLE_ROWS])
def test_idle_workers(name, first, second, stuck):
    found = idle_workers(look(first), look(second))
    assert [(s.queue.name, s.rule, s.first_depth) for s in found] == (
        [("node_lifecycle_controller", "workers-idle", first.depth)] if stuck else [])


def test_a_queue_gone_at_the_second_look_is_not_judged():
    assert idle_workers(look(queue(depth=3)), look()) == []


def test_only_waiting_queues_without_busy_workers_ask_for_a_second_look():
    waiting = queue("job", depth=2)
    assert waiting_without_workers(look(waiting, queue(depth=4, unfinished=3, longest=3), queue("x"))) == [waiting]


# --- scheduler: the active queue not popped ---------------------------------------------------

def sched(active: float, attempts: float) -> SchedulerLook:
    return SchedulerLook(True, {"active": active, "backoff": 0, "unschedulable": 4, "gated": 1}, attempts)


@pytest.mark.parametrize(("first", "second", "stalled"), [
    (sched(2, 50), sched(2, 50), True),
    (sched(2, 50), sched(3, 50), True),
    (sched(2, 50), sched(2, 51), False),  # an attempt was made
    (sched(2, 50), sched(0, 50), False),  # the active queue drained (pods deleted or bound elsewhere)
    (sched(0, 50), sched(2, 50), False),  # nothing ready at the first look
    (sched(2, 50), sched(2, 3), False),   # the counter restarted: a new process, not a stalled one
    (sched(0, 50), sched(0, 50), False),  # only unschedulable and gated pods wait: as they should
])
def test_scheduler_stalled(first, second, stalled):
    assert scheduler_stalled(first, second) is stalled


# --- each rule at its edge: one item, one pod, series that are not a queue, several queues ------


def only_ready(active: float, attempts: float) -> SchedulerLook:
    """A scheduler whose only pending pods are `active` pods ready to schedule."""
    return SchedulerLook(True, {"active": active, "backoff": 0, "unschedulable": 0, "gated": 0}, attempts)


def test_a_work_queue_series_without_a_queue_name_is_no_queue():
    # client-go exports no metrics for an unnamed queue; such a series names nothing to judge
    text = ('workqueue_depth 4\nworkqueue_depth{name=""} 5\nworkqueue_depth{controller="x"} 6\n'
            'workqueue_depth{name="job"} 1\n')
    assert parse_controller_manager(text).queues == {"job": WorkQueue("job", depth=1)}


def test_a_pending_pods_series_without_a_queue_is_not_counted():
    text = 'scheduler_pending_pods 9\nscheduler_pending_pods{queue="active"} 2\n'
    assert parse_scheduler(text).pending == {"active": 2, "backoff": 0, "unschedulable": 0, "gated": 0}


def test_a_queue_of_the_scheduler_not_known_today_is_read_and_series_of_one_queue_add_up():
    text = ('scheduler_pending_pods{queue="active",profile="a"} 2\nscheduler_pending_pods{queue="active",profile="b"} 1\n'
            'scheduler_pending_pods{queue="flushing"} 4\n')
    assert parse_scheduler(text).pending == {"active": 3, "backoff": 0, "unschedulable": 0, "gated": 0,
                                             "flushing": 4}


def test_the_parser_error_is_named_and_capped():
    with pytest.raises(MetricsTextError) as short:
        parse_controller_manager('workqueue_depth{name="job" 1\n')
    assert str(short.value) == "not Prometheus text: could not convert string to float: '{name=\"job\"'"
    with pytest.raises(MetricsTextError) as long:
        parse_controller_manager('workqueue_depth{name="' + "j" * 300 + '" 1\n')
    assert len(str(long.value)) == len("not Prometheus text: ") + 120


def test_a_hung_worker_keeps_the_depth_it_was_seen_with():
    [stuck] = hung_workers(look(queue("job", depth=4, unfinished=400, longest=400)), stuck_after_s=300)
    assert (stuck.queue.name, stuck.rule, stuck.first_depth) == ("job", "worker-hung", 4)


def test_one_ready_item_without_a_busy_worker_asks_for_a_second_look():
    one = queue("job", depth=1)
    assert waiting_without_workers(look(one)) == [one]


def test_one_item_left_at_both_looks_is_idle_workers():
    [stuck] = idle_workers(look(queue("job", depth=1)), look(queue("job", depth=1)))
    assert (stuck.queue.name, stuck.first_depth) == ("job", 1)


def test_any_work_in_progress_at_the_second_look_is_not_idle():
    # half a second of unfinished work: a worker took an item in between
    assert idle_workers(look(queue("job", depth=3)), look(queue("job", depth=3, unfinished=0.5, longest=0.5))) == []


def test_every_idle_queue_is_found_past_one_that_is_not():
    first = look(queue("deployment", depth=2), queue("job", depth=3), queue("namespace", depth=1))
    second = look(queue("deployment", depth=2, unfinished=1, longest=1), queue("job", depth=3),
                  queue("namespace", depth=1))
    assert [s.queue.name for s in idle_workers(first, second)] == ["job", "namespace"]


@pytest.mark.parametrize(("first", "second", "stalled"), [
    (only_ready(1, 7), only_ready(1, 7), True),   # one pod ready at both looks, no attempt
    (only_ready(1, 7), only_ready(0, 7), False),
    (only_ready(0, 7), only_ready(1, 7), False),
])
def test_one_ready_pod_not_attempted_is_a_stalled_scheduler(first, second, stalled):
    assert scheduler_stalled(first, second) is stalled
