"""Prometheus metrics: requests, tokens in/out, latency, queue depth."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("hanlin_requests_total", "HTTP requests", ["route", "status"],
                                registry=self.registry)
        self.tokens_in = Counter("hanlin_prompt_tokens_total", "Prompt tokens", ["model"], registry=self.registry)
        self.tokens_out = Counter("hanlin_completion_tokens_total", "Completion tokens", ["model"],
                                  registry=self.registry)
        self.latency = Histogram("hanlin_request_latency_seconds", "Request latency", ["route"],
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
                                 registry=self.registry)
        self.in_flight = Gauge("hanlin_requests_in_flight", "Generation requests being served or queued",
                               ["model"], registry=self.registry)
        self.queue_depth = Gauge("hanlin_queue_depth", "Generation requests waiting for a free slot", ["model"],
                                 registry=self.registry)

        # labelled children, looked up once: ``labels()`` checks its arguments and takes a lock on every call, a
        # few of which per request were a measurable share of a gateway's CPU per request. The label values are
        # bounded as prometheus' own children are (routes x statuses, served models).
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request_done(self, route: str, status: int, seconds: float) -> None:
        self._child(self.requests, route, str(status)).inc()
        self._child(self.latency, route).observe(seconds)

    def in_flight_of(self, model: str) -> Any:
        return self._child(self.in_flight, model)

    def record_tokens(self, model: str, prompt: int, completion: int) -> None:
        self._child(self.tokens_in, model).inc(prompt)
        self._child(self.tokens_out, model).inc(completion)

    def render(self) -> bytes:
        return generate_latest(self.registry)
