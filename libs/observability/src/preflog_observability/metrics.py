"""Every Prometheus metric in one place, so names cannot drift between services."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase


class Children:
    """A labelled metric's children, each looked up once: ``labels()`` takes a lock and builds
    a key on every call, which hot paths (every service call, every HTTP request) pay."""

    def __init__(self, metric: MetricWrapperBase) -> None:
        self.metric = metric
        self._found: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        found = self._found.get(labels)
        if found is None:
            found = self._found[labels] = self.metric.labels(*labels)
        return found


RPC_REQUESTS = Counter(
    "preflog_rpc_requests_total", "Service calls handled", ["service", "operation", "outcome"]
)
RPC_LATENCY = Histogram(
    "preflog_rpc_latency_seconds",
    "Service call handling time",
    ["service", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
RPC_CLIENT_LATENCY = Histogram(
    "preflog_rpc_client_latency_seconds",
    "Service calls as their caller waits for them (handling, NATS both ways, both event loops)",
    ["service", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
RPC_AFFINITY_FALLBACKS = Counter(
    "preflog_rpc_affinity_fallbacks_total",
    "Calls with an affinity key sent to the service's queue group: no instance heard from yet,"
    " or the key's instance had gone",
    ["service"],
)
HTTP_REQUESTS = Counter("preflog_http_requests_total", "Gateway HTTP requests", ["route", "status"])
HTTP_LATENCY = Histogram(
    "preflog_http_latency_seconds",
    "Gateway HTTP latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
PROJECTION_LAG_SECONDS = Gauge(
    "preflog_projection_lag_seconds", "Age of the newest event a projection applied", ["projection"]
)
RELAY_LAG_SECONDS = Gauge(
    "preflog_relay_lag_seconds", "Age of the newest event the relay published"
)
RELAY_PUBLISHED = Counter("preflog_relay_published_total", "Events published to JetStream")
CONSUMER_EVENTS = Counter(
    "preflog_consumer_events_total",
    "Events handled by JetStream consumers",
    ["consumer", "outcome"],
)
CONSUMER_REDELIVERIES = Counter(
    "preflog_consumer_redeliveries_total", "Redelivered JetStream messages", ["consumer"]
)
LOOP_RESTARTS = Counter(
    "preflog_loop_restarts_total",
    "Service loops (projections, consumers, sweepers, the relay) started again after a failure",
    ["loop", "cause"],  # cause: database (a lost connection) or error
)
EVENT_LOOP_LAG = Histogram(
    "preflog_event_loop_lag_seconds",
    "How late the process's event loop ran a timer: time it spent on other work in one go",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
