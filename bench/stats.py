"""Percentiles, latency summaries and the delivery check (lost, duplicated, reordered)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# quantiles kept for the CDF plots: dense in the tail
CDF_QUANTILES = tuple(sorted({*(i / 100 for i in range(1, 100)), 0.995, 0.999, 0.9995, 0.9999, 1.0}))


def percentile(sorted_values: Sequence[int] | Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def latency_summary(values_ns: Sequence[int], with_cdf: bool = False) -> dict[str, Any]:
    """p50/p90/p99/p99.9/max/mean in milliseconds of latencies given in nanoseconds."""
    ordered = sorted(values_ns)
    summary: dict[str, Any] = {"count": len(ordered)}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        summary[f"{name}_ms"] = _ms(percentile(ordered, q))
    summary["max_ms"] = _ms(float(ordered[-1])) if ordered else None
    summary["mean_ms"] = _ms(sum(ordered) / len(ordered)) if ordered else None
    if with_cdf and ordered:
        summary["cdf_ms"] = [[q, _ms(percentile(ordered, q))] for q in CDF_QUANTILES]
    return summary


def _ms(value_ns: float) -> float | None:
    return None if math.isnan(value_ns) else round(value_ns / 1e6, 4)


class DeliveryCheck:
    """Per-stream expected sequence numbers versus what arrived, in arrival order.

    A stream is one customer (agent→customer messages) or one chat (customer→agent messages).
    Senders send to a stream one message at a time, so the send order is the sequence order and
    any later arrival of a smaller sequence number is a reordering."""

    def __init__(self) -> None:
        self.sent: dict[int, set[int]] = {}
        self.arrived: dict[int, list[int]] = {}
        self.missing: set[tuple[int, int]] = set()  # sent and acknowledged, not (yet) arrived
        self.arrived_keys: set[tuple[int, int]] = set()

    def on_sent(self, stream: int, seq: int) -> None:
        self.sent.setdefault(stream, set()).add(seq)
        if (stream, seq) not in self.arrived_keys:
            self.missing.add((stream, seq))

    def on_arrived(self, stream: int, seq: int) -> bool:
        """Record an arrival; True when it is the first arrival of this message."""
        self.arrived.setdefault(stream, []).append(seq)
        key = (stream, seq)
        if key in self.arrived_keys:
            return False
        self.arrived_keys.add(key)
        self.missing.discard(key)
        return True

    @property
    def sent_count(self) -> int:
        return sum(len(s) for s in self.sent.values())

    def result(self) -> dict[str, int]:
        lost = duplicated = reordered = unexpected = 0
        for stream, seqs in self.sent.items():
            lost += len(seqs - set(self.arrived.get(stream, ())))
        for stream, arrivals in self.arrived.items():
            sent = self.sent.get(stream, set())
            seen: set[int] = set()
            highest = 0
            for seq in arrivals:
                if seq in seen:
                    duplicated += 1
                    continue
                seen.add(seq)
                if seq not in sent:
                    unexpected += 1
                if seq < highest:
                    reordered += 1
                highest = max(highest, seq)
        return {"sent": self.sent_count, "delivered": len(self.arrived_keys), "lost": lost,
                "duplicated": duplicated, "reordered": reordered, "unexpected": unexpected}
