"""Prometheus metrics: requests, tokens in/out, latency, queue depth."""

from __future__ import annotations

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

    def record_tokens(self, model: str, prompt: int, completion: int) -> None:
        self.tokens_in.labels(model).inc(prompt)
        self.tokens_out.labels(model).inc(completion)

    def render(self) -> bytes:
        return generate_latest(self.registry)
