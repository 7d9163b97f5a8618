"""How the gateway queues a task: Celery's own message and producer, the producer kept.

`Celery.send_task` acquires a producer from the pool and releases it again for every message,
looks up the route and builds a result object nobody reads; in the gateway's profile that was
the largest single cost of a postback (bench/: about 0.45 of 1.3 ms of CPU). This keeps what
Celery makes — the message (`amqp.create_task_message`), the route (`amqp.router`), the publish
(`amqp.send_task_message` on a producer of `producer_pool`) — and only holds the producer for
the next message of the same thread. A publish that fails gives the producer back to the pool
and raises, exactly as `send_task` does, so the next one starts from a fresh acquire.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from kombu.utils.uuid import uuid


class KeptProducer:
    """`send_task(name, args=...)` for the gateway, through a producer kept per thread."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self._local = threading.local()
        self._routes: dict[str, dict[str, Any]] = {}

    def _route(self, name: str, args: list[Any]) -> dict[str, Any]:
        # Routes depend on the task name only (infra/celery_config.py ROUTES).
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = self.celery.amqp.router.route({}, name, args, {})
        return route

    def send_task(self, name: str, *, args: list[Any], retry: bool = False) -> str:
        """Queue task `name` with positional `args`; return its id. Raises if the broker fails."""
        amqp, task_id = self.celery.amqp, uuid()
        message = amqp.create_task_message(
            task_id, name, args, {}, reply_to=self.celery.thread_oid,
            create_sent_event=self.celery.conf.task_send_sent_event,
            argsrepr=repr(args), kwargsrepr="{}", ignore_result=None,
        )
        producer = getattr(self._local, "producer", None)
        if producer is None:
            producer = self.celery.producer_pool.acquire(block=True)
        try:
            with producer.connection._reraise_as_library_errors():
                # No queue declaration: a Redis list needs none, and the workers declare theirs.
                amqp.send_task_message(producer, name, message, retry=retry, declare=[],
                                       **self._route(name, args))
        except BaseException:
            self._local.producer = None
            producer.release()
            raise
        self._local.producer = producer
        return task_id

    def close(self) -> None:
        """Give this thread's producer back to the pool."""
        producer = getattr(self._local, "producer", None)
        self._local.producer = None
        if producer is not None:
            producer.release()
