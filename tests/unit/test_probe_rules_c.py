"""The EKS control-plane metrics rules (probes/eksmetrics.py), each at the edge where only it
decides (issue 12, mutation testing). test_eksmetrics.py holds the main rows; these add the
smallest counts (one item, one pod), the series that are not a queue, and several queues at once.
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


def queue(name: str, depth: float = 0.0, taken: float = 10.0, unfinished: float = 0.0, longest: float = 0.0) -> WorkQueue:
    return WorkQueue(name, depth=depth, adds=taken + depth, taken=taken, unfinished_s=unfinished,
                     longest_running_s=longest)


def look(*queues: WorkQueue) -> ControllerManagerLook:
    return ControllerManagerLook(True, {q.name: q for q in queues})


def sched(active: float, attempts: float) -> SchedulerLook:
    return SchedulerLook(True, {"active": active, "backoff": 0, "unschedulable": 0, "gated": 0}, attempts)


# --- parsing ---------------------------------------------------------------------------------


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


# --- rules at their smallest counts ----------------------------------------------------------


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
    (sched(1, 7), sched(1, 7), True),   # one pod ready at both looks, no attempt
    (sched(1, 7), sched(0, 7), False),
    (sched(0, 7), sched(1, 7), False),
])
def test_one_ready_pod_not_attempted_is_a_stalled_scheduler(first, second, stalled):
    assert scheduler_stalled(first, second) is stalled
