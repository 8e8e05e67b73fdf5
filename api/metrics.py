"""Prometheus metrics (served at ``/metrics``)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("semsearch_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram("semsearch_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
BATCH_SIZE = Histogram("semsearch_encode_batch_size", "Texts per encoder forward pass",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
QUEUE_DEPTH = Gauge("semsearch_encode_queue_depth", "Requests waiting to be encoded")
REJECTED = Counter("semsearch_overloaded_total", "Requests refused with 429")
INDEX_SIZE = Gauge("semsearch_index_vectors", "Vectors served", ["collection"])
HITS_BY_BAND = Counter("semsearch_top_hit_band_total", "Best hit of each query, by band", ["band"])
QUERIES = Counter("semsearch_queries_total", "Search queries answered")
NONE_SHARE = Gauge("semsearch_top_hit_none_share",
                   "Share of queries whose best hit is 'none' (or that found nothing)")

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
    NONE_SHARE.set(_none / _total)
