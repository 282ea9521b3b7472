"""The dashboard, as data: rows of panels of queries, rendered to PromQL or evaluated locally.

One definition feeds both the Grafana dashboard JSON (``rnnstream dashboard --grafana-json``)
and the matplotlib snapshot, so what an operator sees in Grafana and in a snapshot agree.
Each :class:`Query` is one of a few shapes that a scrape of ``/metrics`` can also evaluate
without Prometheus (see :mod:`rnnstream.apps.dashboard.local`).

>>> print(Query("rate", "rnnstream_events_in_total", by=("source",)).promql(rate="1m"))
sum by (source) (rate(rnnstream_events_in_total{job=~"$job",instance=~"$instance"}[1m]))
>>> print(Query("quantile", "rnnstream_inference_seconds", by=("operator",), q=0.99).promql(rate="1m", sel=""))
histogram_quantile(0.99, sum by (operator, le) (rate(rnnstream_inference_seconds_bucket[1m])))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnstream.errors import RnnstreamError

__all__ = ["Query", "Panel", "ROWS", "PANELS", "SELECTOR", "snapshot_panels"]

SELECTOR = 'job=~"$job",instance=~"$instance"'
KINDS = ("rate", "increase", "quantile", "ratio", "gauge", "age", "info")


@dataclass(frozen=True)
class Query:
    """One series family on a panel.

    Kinds: ``rate`` (per-second rate of a counter), ``increase`` (counter increase over the
    whole time range), ``quantile`` (``q`` of a histogram), ``ratio`` (rate of ``metric``
    over rate of ``denom``, e.g. a histogram's ``_sum`` over its ``_count``), ``gauge``
    (``agg`` of a gauge), ``age`` (now minus a timestamp gauge), ``info`` (label sets of an
    ``_info`` gauge).
    """

    kind: str
    metric: str
    by: tuple[str, ...] = ()
    legend: str = ""
    q: float | None = None
    agg: str = "sum"
    denom: str | None = None
    selector: str | None = None  # None: the dashboard's job/instance selector

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RnnstreamError(f"dashboard query: unknown kind {self.kind!r} (have {', '.join(KINDS)})")
        if self.kind == "quantile" and not (self.q is not None and 0 < self.q < 1):
            raise RnnstreamError("dashboard query: a quantile needs 0 < q < 1")
        if (self.kind == "ratio") != (self.denom is not None):
            raise RnnstreamError("dashboard query: denom goes with kind ratio, and only with it")

    def promql(self, *, rate: str = "$__rate_interval", span: str = "$__range", sel: str | None = None) -> str:
        """The PromQL text; ``rate``/``span`` are range windows, ``sel`` a label selector body."""
        sel = (self.selector if self.selector is not None else SELECTOR) if sel is None else sel
        braces = "{" + sel + "}" if sel else ""
        by = ", ".join(self.by)
        if self.kind == "rate":
            return f"sum by ({by}) (rate({self.metric}{braces}[{rate}]))"
        if self.kind == "increase":
            return f"sum by ({by}) (increase({self.metric}{braces}[{span}]))"
        if self.kind == "quantile":
            by_le = ", ".join((*self.by, "le"))
            return f"histogram_quantile({self.q}, sum by ({by_le}) (rate({self.metric}_bucket{braces}[{rate}])))"
        if self.kind == "ratio":
            num = f"sum by ({by}) (rate({self.metric}{braces}[{rate}]))"
            den = f"sum by ({by}) (rate({self.denom}{braces}[{rate}]))"
            return f"{num} / {den}"
        if self.kind == "gauge":
            return f"{self.agg} by ({by}) ({self.metric}{braces})"
        if self.kind == "age":
            return f"time() - max by ({by}) ({self.metric}{braces})"
        return f"max by ({by}) ({self.metric}{braces})"

    def label(self, labels: dict[str, str]) -> str:
        """The legend text for one series, Grafana-style ``{{name}}`` templates filled in."""
        text = self.legend or " ".join(labels.get(b, "") for b in self.by) or self.metric
        for k, v in labels.items():
            text = text.replace("{{" + k + "}}", v)
        return text

    def grafana_legend(self) -> str:
        return self.legend or " ".join("{{" + b + "}}" for b in self.by)


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # a Grafana unit id: short, s, bytes, Bps, percentunit, ops
    queries: tuple[Query, ...]
    description: str = ""
    kind: str = "timeseries"  # or "table", "stat"
    snapshot: bool = False  # one of the main panels drawn by `rnnstream dashboard --snapshot`
    threshold: float | None = None  # a line (and Grafana threshold) at this value
    stack: bool = False


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _q(kind: str, metric: str, *by: str, **kw) -> Query:
    return Query(kind, metric, tuple(by), **kw)


# The objective the p99 latency panel draws and the alert rule uses (deploy/prometheus/rules).
LATENCY_OBJECTIVE_S = 0.25

ROWS: tuple[Row, ...] = (
    Row("Throughput", (
        Panel("Events in and out per second", "ops", (
            _q("rate", "rnnstream_events_in_total", "source", legend="in {{source}}"),
            _q("rate", "rnnstream_events_out_total", "sink", legend="out {{sink}}"),
        ), "Records decoded by each source and written by each sink.", snapshot=True),
        Panel("Dead-lettered per second, by reason", "ops", (
            _q("rate", "rnnstream_dead_letters_total", "source", "reason", legend="{{source}} {{reason}}"),
        ), "Bad records sent to the dead-letter path instead of the operators.", snapshot=True),
        Panel("Dropped per second", "ops", (
            _q("rate", "rnnstream_events_dropped_total", "stage", "reason", legend="{{stage}} {{reason}}"),
        ), "Records lost without a dead-letter record (a connector that cannot deliver)."),
        Panel("Queue depth", "short", (
            _q("gauge", "rnnstream_queue_depth", "stage", agg="max", legend="{{stage}}"),
        ), "Records waiting in each stage.", snapshot=True),
    )),
    Row("Stages", (
        Panel("Loop time per stage", "percentunit", (
            _q("rate", "rnnstream_stage_seconds_total", "stage", "state", legend="{{stage}} {{state}}"),
        ), "Share of the loop's wall time in poll, decode, model, encode, produce and commit (1 = all of it).",
            stack=True),
        Panel("Wait for a batch p50 / p99", "s", (
            _q("quantile", "rnnstream_batch_wait_seconds", q=0.5, legend="p50"),
            _q("quantile", "rnnstream_batch_wait_seconds", q=0.99, legend="p99"),
        ), "How long the oldest record of each micro-batch waited for it; max_wait_ms bounds it."),
    )),
    Row("Latency", (
        Panel("End-to-end latency p50 / p99", "s", (
            _q("quantile", "rnnstream_end_to_end_latency_seconds", "sink", q=0.5, legend="p50 {{sink}}"),
            _q("quantile", "rnnstream_end_to_end_latency_seconds", "sink", q=0.99, legend="p99 {{sink}}"),
        ), "From decode at the source to the write at a sink; the dashed line is the objective.",
            snapshot=True, threshold=LATENCY_OBJECTIVE_S),
        Panel("Inference latency p50 / p99 per call", "s", (
            _q("quantile", "rnnstream_inference_seconds", "operator", q=0.5, legend="p50 {{operator}}"),
            _q("quantile", "rnnstream_inference_seconds", "operator", q=0.99, legend="p99 {{operator}}"),
        ), "One ONNX Runtime call (all the keys of one batch) plus feature work.", snapshot=True),
        Panel("Checkpoint duration p99", "s", (
            _q("quantile", "rnnstream_checkpoint_seconds", q=0.99, legend="p99"),
        ), "Time to make state and positions durable."),
    )),
    Row("Batching efficiency", (
        Panel("Keys per ONNX Runtime call (mean)", "short", (
            _q("ratio", "rnnstream_batch_size_sum", "operator", denom="rnnstream_batch_size_count",
               legend="{{operator}}"),
        ), "Cross-key batching at work: higher means fewer, larger calls.", snapshot=True),
        Panel("Keys per call p50 / p99", "short", (
            _q("quantile", "rnnstream_batch_size", "operator", q=0.5, legend="p50 {{operator}}"),
            _q("quantile", "rnnstream_batch_size", "operator", q=0.99, legend="p99 {{operator}}"),
        )),
        Panel("ONNX Runtime calls per second", "ops", (
            _q("rate", "rnnstream_batch_size_count", "operator", legend="{{operator}}"),
        )),
        Panel("Operator time per key-step", "s", (
            _q("ratio", "rnnstream_inference_seconds_sum", "operator", denom="rnnstream_batch_size_sum",
               legend="{{operator}}"),
        ), "Seconds in operator calls per key advanced by one step: what batching buys."),
    )),
    Row("State", (
        Panel("Live keys", "short", (
            _q("gauge", "rnnstream_live_keys", "operator", legend="{{operator}}"),
        ), snapshot=True),
        Panel("State bytes", "bytes", (
            _q("gauge", "rnnstream_state_bytes", "operator", legend="{{operator}}"),
        )),
        Panel("Evictions per second", "ops", (
            _q("rate", "rnnstream_evictions_total", "operator", "reason", legend="{{operator}} {{reason}}"),
        ), "Keys whose state was dropped (ttl, max_bytes, end of stream)."),
        Panel("Restore progress", "percentunit", (
            _q("gauge", "rnnstream_restore_progress_ratio", "source", agg="min", legend="{{source}}"),
        ), "Fraction of the state restored before a source's first event (1 = done)."),
        Panel("Checkpoints per second", "ops", (
            _q("rate", "rnnstream_checkpoints_total", "instance", legend="{{instance}}"),
        )),
    )),
    Row("Kafka and commits", (
        Panel("Consumer lag per partition", "short", (
            _q("gauge", "rnnstream_kafka_consumer_lag", "topic", "partition", agg="max",
               legend="{{topic}}/{{partition}}"),
        ), "Messages between the committed position and the log end.", snapshot=True),
        Panel("Consumer lag per topic", "short", (
            _q("gauge", "rnnstream_kafka_consumer_lag", "topic", legend="{{topic}}"),
        )),
        Panel("Age of the last commit", "s", (
            _q("age", "rnnstream_last_commit_timestamp_seconds", "instance", legend="{{instance}}"),
        ), "Seconds since state and positions were last committed together.", snapshot=True),
        Panel("Offsets out of retention", "short", (
            _q("increase", "rnnstream_offset_out_of_range_total", "topic", legend="{{topic}}"),
        ), "Committed offsets the broker had already deleted, over the time range.", kind="stat"),
        Panel("Partitions assigned", "short", (
            _q("gauge", "rnnstream_partitions_assigned", "instance", "source", legend="{{instance}} {{source}}"),
        ), "Input partitions each member of the consumer group owns."),
        Panel("Rebalances per second", "ops", (
            _q("rate", "rnnstream_rebalances_total", "source", "kind", legend="{{source}} {{kind}}"),
        )),
        Panel("Changelog writes", "Bps", (
            _q("rate", "rnnstream_changelog_bytes_total", "source", legend="{{source}}"),
        ), "State bytes per second committed to the compacted changelog topic."),
        Panel("Commit failures and recoveries per second", "ops", (
            _q("rate", "rnnstream_commit_failures_total", "instance", legend="commit failures {{instance}}"),
            _q("rate", "rnnstream_recoveries_total", "source", legend="recoveries {{source}}"),
        ), "Failed commits are retried; a recovery rewinds to the last durable state."),
    )),
    Row("Audio and ASR", (
        Panel("Audio overflows per second", "ops", (
            _q("rate", "rnnstream_audio_overflows_total", "device", legend="{{device}}"),
        ), "Audio blocks lost because the capture ring buffer was full. Must stay 0."),
        Panel("ASR real-time factor", "short", (
            _q("gauge", "rnnstream_asr_real_time_factor", "operator", agg="max", legend="{{operator}}"),
        ), "Processing time per second of audio; above 1 it falls behind.", threshold=1.0),
    )),
    Row("Anomalies", (
        Panel("Anomaly alerts per second", "ops", (
            _q("rate", "rnnstream_anomaly_alerts_total", "operator", legend="{{operator}}"),
        ), snapshot=True),
        Panel("Anomaly alerts in range", "short", (
            _q("increase", "rnnstream_anomaly_alerts_total", "operator", legend="{{operator}}"),
        ), kind="stat"),
    )),
    Row("Process and build", (
        Panel("Targets up", "short", (
            _q("gauge", "up", "instance", agg="max", legend="{{instance}}", selector='job=~"$job"'),
        )),
        Panel("CPU (cores)", "short", (
            _q("rate", "process_cpu_seconds_total", "instance", legend="{{instance}}"),
        ), snapshot=True),
        Panel("Resident memory", "bytes", (
            _q("gauge", "process_resident_memory_bytes", "instance", legend="{{instance}}"),
        ), snapshot=True),
        Panel("Models", "short", (
            _q("info", "rnnstream_model_info", "instance", "operator", "model", "sha256", "provider"),
        ), kind="table"),
        Panel("Build", "short", (
            _q("info", "rnnstream_build_info", "instance", "version", "python"),
        ), kind="table"),
    )),
)

PANELS: tuple[Panel, ...] = tuple(p for row in ROWS for p in row.panels)


def snapshot_panels() -> tuple[Panel, ...]:
    """The main panels, in drawing order.

    >>> [p.title for p in snapshot_panels()][:2]
    ['Events in and out per second', 'Dead-lettered per second, by reason']
    """
    return tuple(p for p in PANELS if p.snapshot)
