"""Prometheus metrics (served at ``/metrics``).

With several workers (``semsearch serve --workers N``) a scrape reaches one of them, so
the metrics run in prometheus_client's multiprocess mode: ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start, each worker
writes its values there, and whichever worker answers a scrape sums them all. The share
of 'none' answers is then computed from the summed counters, not per worker.
"""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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
_NONE_SHARE_NAME = "semsearch_top_hit_none_share"
_NONE_SHARE_HELP = "Share of queries whose best hit is 'none' (or that found nothing)"
# One process: a plain gauge. Several: derived at scrape time from the summed counters.
NONE_SHARE = None if MULTIPROCESS else Gauge(_NONE_SHARE_NAME, _NONE_SHARE_HELP)

_none = 0
_total = 0


def record_top_band(band: str | None) -> None:
    """Count one query's best band; ``None`` when nothing was found."""
    global _none, _total
    band = band or "none"
    HITS_BY_BAND.labels(band).inc()
    QUERIES.inc()
    _total += 1
    _none += band == "none"
    if NONE_SHARE is not None:
        NONE_SHARE.set(_none / _total)


class _AllWorkers:
    """Every worker's values summed, plus the none share computed from the sums."""

    def collect(self):  # type: ignore[no-untyped-def]
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.multiprocess import MultiProcessCollector

        none = total = 0.0
        for family in MultiProcessCollector(None).collect():
            for sample in family.samples:
                if sample.name == "semsearch_top_hit_band_total" and sample.labels.get("band") == "none":
                    none += sample.value
                elif sample.name == "semsearch_queries_total":
                    total += sample.value
            yield family
        yield GaugeMetricFamily(_NONE_SHARE_NAME, _NONE_SHARE_HELP,
                                value=none / total if total else 0.0)


def render() -> bytes:
    """The exposition text: this process's metrics, or all workers' in multiprocess mode."""
    if not MULTIPROCESS:
        return generate_latest()
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(_AllWorkers())
    return generate_latest(registry)
