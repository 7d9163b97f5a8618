"""The gateway's Prometheus metrics: postbacks by outcome and request latency.

Under gunicorn each worker is a process; when PROMETHEUS_MULTIPROC_DIR is set (the Procfile and
the systemd unit set it) prometheus_client aggregates all workers at scrape time.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

POSTBACKS = Counter(
    "gateway_postbacks_total",
    "CryptoCloud postbacks by outcome (accepted, duplicate, rejected_<status>, unavailable).",
    ["outcome"],
)
LATENCY = Histogram(
    "gateway_request_seconds",
    "Time to answer a request, by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ENQUEUE_FAILURES = Counter(
    "gateway_enqueue_failures_total",
    "Accepted postbacks whose task could not be queued (the inbox relay re-queues them).",
)


def render() -> tuple[bytes, str]:
    """The metrics text and its content type, aggregated across processes when configured."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
