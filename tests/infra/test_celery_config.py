"""The Celery configuration keeps the reliability invariants of reference/reliability.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import celery_config, task_names
from infra.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def conf():  # type: ignore[no-untyped-def]
    """The configuration the worker really runs with (the Celery app's own conf)."""
    app = celery_config.create_celery(load_settings(_env_file=None, redis_url="redis://h:1/0"))
    return app.conf


def test_messages_are_acknowledged_late_and_requeued_when_a_worker_dies(conf) -> None:  # type: ignore[no-untyped-def]
    """acks_late + reject_on_worker_lost + prefetch 1: a killed worker loses no task (P1)."""
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result is True
    assert conf.result_backend is None


def test_visibility_timeout_exceeds_every_deliberate_delay(conf) -> None:  # type: ignore[no-untyped-def]
    """Redis never hands a message still being worked on to a second worker (P4)."""
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.visibility_timeout == visibility
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility
    # A retry is held unacknowledged through its countdown, then runs up to the time limit.
    longest_wait = max(celery_config.RETRY_BACKOFF_MAX, celery_config.MAX_COUNTDOWN)
    assert visibility > longest_wait + conf.task_time_limit


def test_a_dead_workers_messages_come_back_within_minutes(conf) -> None:  # type: ignore[no-untyped-def]
    """A worker killed outright strands its messages for the visibility timeout plus the restore
    sweep: at most six minutes, so no subscriber waits half an hour (issue: stranded invites)."""
    options = conf.broker_transport_options
    stranded = options["visibility_timeout"] + (
        options["unacked_restore_interval"] * options["unacked_restore_throttle"])
    assert stranded <= 6 * 60
    # Every periodic task expires within its own interval, so a backlog cannot pile up.
    for entry in conf.beat_schedule.values():
        assert entry["options"]["expires"] <= entry["schedule"].total_seconds()


def test_broker_reads_are_bounded(conf) -> None:  # type: ignore[no-untyped-def]
    """Socket timeouts and keepalive let a worker notice a dead or frozen Redis (P7)."""
    options = conf.broker_transport_options
    assert options["socket_timeout"] > 0
    assert options["socket_connect_timeout"] > 0
    assert options["socket_keepalive"] is True
    assert options["health_check_interval"] > 0
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True


def test_every_task_name_routes_to_a_declared_queue(conf) -> None:  # type: ignore[no-untyped-def]
    """Tasks land on payments, telegram, sweeps, default or bulk, by their explicit names."""
    declared = {queue.name for queue in conf.task_queues}
    assert declared == {"payments", "telegram", "sweeps", "default", "bulk"}
    router = celery_config.create_celery(load_settings(_env_file=None)).amqp.router
    expected = {
        task_names.PROCESS_PAYMENT_EVENT: "payments",
        task_names.POLL_PENDING_INVOICES: "sweeps",
        task_names.EXPIRE_SUBSCRIPTIONS: "sweeps",
        task_names.SEND_RENEWAL_REMINDERS: "sweeps",
        task_names.GRANT_INVITE: "telegram",
        task_names.SEND_MESSAGE: "telegram",
        task_names.SEND_BULK_MESSAGE: "bulk",
        task_names.ADMIN_ACTIVATE: "default",
        task_names.START_TRIAL: "telegram",
    }
    for name, queue in expected.items():
        route = router.route({}, name)
        assert route["queue"].name == queue, name


def test_every_worker_command_consumes_every_queue(conf) -> None:  # type: ignore[no-untyped-def]
    """Procfile and deploy files list every queue, and kombu orders them with BulkLast."""
    assert conf.broker_transport_options["queue_order_strategy"] == (
        "infra.celery_config:BulkLast")
    for path in ("Procfile", "infra/deploy/systemd/paywall-worker.service",
                 "infra/deploy/docker-compose.yml"):
        text = (ROOT / path).read_text()
        assert celery_config.WORKER_QUEUES in text, path


def test_beat_runs_the_contract_tasks(conf) -> None:  # type: ignore[no-untyped-def]
    """The three beat tasks of the contract are scheduled under their explicit names."""
    scheduled = {entry["task"] for entry in conf.beat_schedule.values()}
    assert {
        "sweeps.expire_subscriptions",
        "sweeps.send_renewal_reminders",
        "sweeps.poll_pending_invoices",
    } <= scheduled


def test_the_worker_registers_every_task_under_its_explicit_name() -> None:
    """`celery -A celery_app` loads the worker modules; every task has a dotted name of ours."""
    code = (
        "from celery_app import app; app.loader.import_default_modules();"
        "print('\\n'.join(sorted(n for n in app.tasks if not n.startswith('celery.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json"}, timeout=120,
    )
    registered = set(result.stdout.split())
    assert task_names.PROCESS_PAYMENT_EVENT in registered
    assert task_names.POLL_PENDING_INVOICES in registered
    assert all("." in name for name in registered)


def test_workers_outlast_a_redis_outage_while_producers_fail_fast(conf) -> None:  # type: ignore[no-untyped-def]
    """Workers and beat reconnect without a bound (a bound killed them ~40 s into an outage in
    the chaos run); a publish still gives up within about a second, so the doors never hang."""
    assert conf.broker_connection_max_retries is None
    policy = conf.task_publish_retry_policy
    assert policy["max_retries"] * max(policy["interval_start"] + policy["interval_step"],
                                       policy["interval_max"]) <= 1.0


def test_workers_take_turns_among_queues_but_look_at_bulk_only_last() -> None:
    """Round robin as kombu's own for the others; bulk stays last however the turns go."""
    from kombu.utils.scheduling import cycle_by_name

    # The name the transport options give, resolved as kombu does (kombu is untyped).
    order: Any = cycle_by_name("infra.celery_config:BulkLast")()  # type: ignore[no-untyped-call]
    order.update(list(celery_config.QUEUES))
    assert order.consume(5) == ["payments", "telegram", "sweeps", "default", "bulk"]
    order.rotate("payments")  # a payment was taken: telegram has the next turn
    assert order.consume(5) == ["telegram", "sweeps", "default", "payments", "bulk"]
    order.rotate("bulk")
    order.rotate("telegram")
    assert order.consume(5) == ["sweeps", "default", "payments", "telegram", "bulk"]
    assert isinstance(order, celery_config.BulkLast)
