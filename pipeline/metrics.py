"""Every metric rnnstream exports, created once per registry.

Components take a ``registry`` (default: a fresh one owned by the pipeline, never the
global default, so tests and embedded uses stay isolated) and call :func:`get_metrics`.
No metric is ever labelled with a stream key: key cardinality is unbounded. Names follow
Prometheus conventions: base units (``_seconds``, ``_bytes``, ``_ratio``), counters exported
with ``_total``, identity as ``_info`` gauges of value 1. The registry also carries the
standard ``process_*`` families (CPU, memory, file descriptors, start time).

>>> from prometheus_client import CollectorRegistry
>>> reg = CollectorRegistry()
>>> get_metrics(reg) is get_metrics(reg)
True
>>> get_metrics(reg).events_in.labels("sensors").inc()
>>> reg.get_sample_value("rnnstream_events_in_total", {"source": "sensors"})
1.0
"""

from __future__ import annotations

import platform
import weakref

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

__all__ = ["Metrics", "get_metrics", "LATENCY_BUCKETS", "BATCH_BUCKETS"]

# 0.1 ms .. 5 s, roughly x2.5 per step: per-call inference sits at the low end, end-to-end
# latency with batching waits and slow sinks at the high end.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)

_cache: "weakref.WeakKeyDictionary[CollectorRegistry, Metrics]" = weakref.WeakKeyDictionary()


class Metrics:
    """The metric families, registered on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.registry = registry
        # -- flow ------------------------------------------------------------------------
        self.events_in = Counter("rnnstream_events_in", "Records decoded by a source.", ["source"], registry=r)
        self.events_out = Counter("rnnstream_events_out", "Records written by a sink.", ["sink"], registry=r)
        self.events_dropped = Counter(
            "rnnstream_events_dropped", "Records dropped, by stage and reason.", ["stage", "reason"], registry=r
        )
        self.dead_letters = Counter(
            "rnnstream_dead_letters", "Bad records sent to the dead-letter path.", ["source", "reason"], registry=r
        )
        self.queue_depth = Gauge("rnnstream_queue_depth", "Records waiting in a stage.", ["stage"], registry=r)
        self.stage_seconds = Counter(
            "rnnstream_stage_seconds",
            "Wall time the loop spent per stage (poll, decode, model, encode, produce, commit) and state.",
            ["stage", "state"],
            registry=r,
        )
        self.batch_wait = Histogram(
            "rnnstream_batch_wait_seconds",
            "How long the oldest record of a micro-batch waited for it (the wait stage; bounded by max_wait_ms).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # -- batching and inference -------------------------------------------------------
        self.batch_size = Histogram(
            "rnnstream_batch_size", "Keys per ONNX Runtime call.", ["operator"], buckets=BATCH_BUCKETS, registry=r
        )
        self.inference_seconds = Histogram(
            "rnnstream_inference_seconds",
            "Time in one operator step (one ONNX Runtime call plus feature work).",
            ["operator"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.e2e_latency = Histogram(
            "rnnstream_end_to_end_latency_seconds",
            "From a record's decode at the source to its write at a sink.",
            ["sink"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # -- state ----------------------------------------------------------------------
        self.live_keys = Gauge("rnnstream_live_keys", "Keys with state.", ["operator"], registry=r)
        self.state_bytes = Gauge("rnnstream_state_bytes", "Bytes held by state slabs.", ["operator"], registry=r)
        self.evictions = Counter(
            "rnnstream_evictions", "Keys whose state was dropped, by reason.", ["operator", "reason"], registry=r
        )
        self.restore_progress = Gauge(
            "rnnstream_restore_progress_ratio", "Fraction of state restored, per source.", ["source"], registry=r
        )
        self.checkpoints = Counter("rnnstream_checkpoints", "State checkpoints committed.", registry=r)
        self.checkpoint_seconds = Histogram(
            "rnnstream_checkpoint_seconds", "Time to write one checkpoint.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.last_commit = Gauge(
            "rnnstream_last_commit_timestamp_seconds", "Unix time of the last committed checkpoint.", registry=r
        )
        # -- sources ---------------------------------------------------------------------
        self.kafka_lag = Gauge(
            "rnnstream_kafka_consumer_lag", "Messages behind the log end.", ["topic", "partition"], registry=r
        )
        self.offset_resets = Counter(
            "rnnstream_offset_out_of_range", "Committed offsets that fell out of retention.", ["topic"], registry=r
        )
        self.audio_overflows = Counter(
            "rnnstream_audio_overflows", "Audio blocks lost because the ring buffer was full.", ["device"], registry=r
        )
        self.asr_rtf = Gauge("rnnstream_asr_real_time_factor", "Processing time / audio time.", ["operator"], registry=r)
        self.anomaly_alerts = Counter("rnnstream_anomaly_alerts", "Events flagged as anomalous.", ["operator"], registry=r)
        # -- daemon: partitioned state, rebalances, recovery (appended by the Kafka/daemon work) --
        self.commit_failures = Counter(
            "rnnstream_commit_failures", "Commits (sinks, changelog, offsets) that failed and were retried.", registry=r
        )
        self.recoveries = Counter(
            "rnnstream_recoveries",
            "Times the pipeline went back to its last durable state after a connector failure.",
            ["source"],
            registry=r,
        )
        self.rebalances = Counter(
            "rnnstream_rebalances", "Partition assignment changes, by kind.", ["source", "kind"], registry=r
        )
        self.partitions_assigned = Gauge(
            "rnnstream_partitions_assigned", "Input partitions this member owns.", ["source"], registry=r
        )
        self.changelog_bytes = Counter(
            "rnnstream_changelog_bytes", "State bytes written to the changelog.", ["source"], registry=r
        )
        # -- identity ----------------------------------------------------------------------
        self.model_info = Gauge(
            "rnnstream_model_info", "Loaded model (value is 1).", ["operator", "model", "sha256", "provider"], registry=r
        )
        self.build_info = Gauge("rnnstream_build_info", "rnnstream build (value is 1).", ["version", "python"], registry=r)
        from rnnstream import __version__

        self.build_info.labels(__version__, platform.python_version()).set(1)
        # A private registry does not get the client's default process collector; the
        # dashboard's CPU and memory panels need it.
        ProcessCollector(registry=r)


def get_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """The :class:`Metrics` of ``registry`` (created on first use); a fresh registry if None."""
    registry = registry if registry is not None else CollectorRegistry()
    m = _cache.get(registry)
    if m is None:
        m = _cache[registry] = Metrics(registry)
    return m
