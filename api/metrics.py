"""Prometheus metrics (served at ``/metrics``).

With several workers (``semsearch serve --workers N``) a scrape reaches one of them, so
the metrics run in prometheus_client's multiprocess mode: ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start, each worker
writes its values there, and whichever worker answers a scrape sums them all. The share
of 'none' answers is computed at scrape time from the (summed) counters.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter("semsearch_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram("semsearch_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BATCH_SIZE = Histogram("semsearch_encode_batch_size", "Texts per encoder forward pass",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
QUEUE_DEPTH = Gauge("semsearch_encode_queue_depth", "Requests waiting to be encoded",
                    multiprocess_mode="livesum")
REJECTED = Counter("semsearch_overloaded_total", "Requests refused with 429")
INDEX_SIZE = Gauge("semsearch_index_vectors", "Vectors served", ["collection"],
                   multiprocess_mode="max")  # every worker serves the same builds
HITS_BY_BAND = Counter("semsearch_top_hit_band_total", "Best hit of each query, by band", ["band"])
QUERIES = Counter("semsearch_queries_total", "Search queries answered")
SEARCH_LOG_DROPPED = Counter("semsearch_search_log_dropped_total",
                             "Searches not logged because the log's queue was full")


def record_top_band(band: str | None) -> None:
    """Count one query's best band; ``None`` when nothing was found."""
    HITS_BY_BAND.labels(band or "none").inc()
    QUERIES.inc()


class _WithNoneShare:
    """The metrics of ``source`` plus the share of 'none' answers, derived from the band and
    query counters at scrape time (so it is right for one process and for summed workers)."""

    def __init__(self, source: Collector) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        none = total = 0.0
        for family in self.source.collect():
            for sample in family.samples:
                if sample.name == "semsearch_top_hit_band_total" and sample.labels.get("band") == "none":
                    none += sample.value
                elif sample.name == "semsearch_queries_total":
                    total += sample.value
            yield family
        yield GaugeMetricFamily("semsearch_top_hit_none_share",
                                "Share of queries whose best hit is 'none' (or that found nothing)",
                                value=none / total if total else 0.0)


def render() -> bytes:
    """The exposition text: this process's metrics, or all workers' in multiprocess mode."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_WithNoneShare(MultiProcessCollector(None) if MULTIPROCESS else REGISTRY))
    return generate_latest(registry)
