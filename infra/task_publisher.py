"""How the gateway and the bot queue a task: Celery's own message and producer, without
`send_task`'s extras.

`Celery.send_task` looks up the route, declares the queue and builds a result object nobody
reads for every message; that was the largest single cost of a postback in the gateway's
profile, and about 1 ms of each plan tap in a rush on the bot (bench/). This keeps what Celery
makes — the message (`amqp.create_task_message`), the route (`amqp.router`, cached per task
name), the publish (`amqp.send_task_message` on a producer of `producer_pool`) — and drops the
rest. The producer goes back to the pool after every message, whatever the caller's threading:
a producer kept per thread would leak one pooled connection per request thread under a
thread-per-request server, until every publish waits forever for the pool
(`broker_pool_limit`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.utils.uuid import uuid


class TaskPublisher:
    """`send_task(name, args=...)` through Celery's producer pool."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self._routes: dict[str, dict[str, Any]] = {}

    def _route(self, name: str, args: list[Any]) -> dict[str, Any]:
        # Routes depend on the task name only (infra/celery_config.py ROUTES).
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = self.celery.amqp.router.route({}, name, args, {})
        return route

    def send_task(self, name: str, *, args: list[Any], retry: bool | None = None) -> str:
        """Queue task `name` with positional `args`; return its id. Raises if the broker fails
        (after the app's publish retry policy, unless `retry` says otherwise)."""
        amqp, task_id = self.celery.amqp, uuid()
        message = amqp.create_task_message(
            task_id, name, args, {}, reply_to=self.celery.thread_oid,
            create_sent_event=self.celery.conf.task_send_sent_event,
            argsrepr=repr(args), kwargsrepr="{}", ignore_result=None,
        )
        with self.celery.producer_pool.acquire(block=True) as producer, \
                producer.connection._reraise_as_library_errors():
            # No queue declaration: a Redis list needs none, and the workers declare theirs.
            amqp.send_task_message(producer, name, message, retry=retry, declare=[],
                                   **self._route(name, args))
        return task_id
