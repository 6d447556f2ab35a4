"""Prometheus metrics of one server (``prometheus_client``, its own registry per server).

Counters and histograms are updated where the action happens (after its transaction commits);
gauges are read at scrape time from what the engine already keeps: held polls from the poll
counter, chats by state from the counts the journal keeps per transition, queue lengths from the
storage's per-queue counters (``refresh_queues``, one indexed read per queue). Nothing here walks
the chats. docs/operations.md lists every family with an example alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STORAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
EWT_ERROR_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0)
TIMER_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0)
POLL_OUTCOMES = ("events", "empty", "superseded", "disconnected", "drained", "gone")
OFFER_OUTCOMES = ("offered", "accepted", "rejected", "timeout", "withdrawn")
SHED_KINDS = ("new_chat", "customer_events", "customer_upload", "agent_send")  # frontdesk.api.overload


class Metrics:
    """Every metric family of frontdesk, registered in ``registry``."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the text and no alert uses them
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.events_appended = Counter("frontdesk_events_appended", "Events appended to chat logs, by origin",
                                       ["origin"], registry=r)
        self.events_delivered = Counter("frontdesk_events_delivered",
                                        "Events delivered: to a customer (a completed poll answer) or to an agent "
                                        "desktop (sent on its WebSocket)", ["to"], registry=r)
        self.delivery_latency = Histogram("frontdesk_delivery_latency_seconds",
                                          "From an event's append to its receipt by the customer (completed poll "
                                          "answer) or an agent (WebSocket send)", ["to"], buckets=LATENCY_BUCKETS,
                                          registry=r)
        self.poll_outcomes = Counter("frontdesk_poll_outcomes", "How customer long polls ended", ["outcome"],
                                     registry=r)
        self.held_polls = Gauge("frontdesk_held_polls", "Customer long polls held now", registry=r)
        self.chats = Gauge("frontdesk_chats", "Chats not yet ended, by tenant and state", ["tenant", "state"],
                           registry=r)
        self.queue_length = Gauge("frontdesk_queue_length", "Chats waiting in a queue", ["tenant", "queue"],
                                  registry=r)
        self.queue_wait = Gauge("frontdesk_queue_longest_wait_seconds",
                                "How long the chat next in line of a queue has waited (0: none waits)",
                                ["tenant", "queue"], registry=r)
        self.ewt_error = Histogram("frontdesk_ewt_error_seconds",
                                   "How far a chat's estimated wait (first estimate) was from its actual wait "
                                   "until an agent connected", buckets=EWT_ERROR_BUCKETS, registry=r)
        self.timer_lag = Histogram("frontdesk_timer_lag_seconds", "How late timers fired after their due time",
                                   ["kind"], buckets=TIMER_LAG_BUCKETS, registry=r)
        self.storage_latency = Histogram("frontdesk_storage_seconds",
                                         "Storage transactions from request to end (lock wait included), by kind",
                                         ["kind"], buckets=STORAGE_BUCKETS, registry=r)
        self.storage_errors = Counter("frontdesk_storage_errors", "Storage transactions that failed", ["kind"],
                                      registry=r)
        self.logins = Counter("frontdesk_logins", "Agent logins that succeeded", registry=r)
        self.logins_refused = Counter("frontdesk_logins_refused", "Agent logins refused, by reason", ["reason"],
                                      registry=r)
        self.offers = Counter("frontdesk_offers", "Chat offers to agents and how they ended", ["outcome"],
                              registry=r)
        # overload shedding (frontdesk.api.overload)
        self.requests_shed = Counter("frontdesk_requests_shed", "Requests refused with 503 because the server was "
                                     "overloaded, by the kind of work they would have created", ["kind"], registry=r)
        self.overloaded = Gauge("frontdesk_overloaded", "1 while the server sheds new work, else 0", registry=r)
        self.loop_lag = Gauge("frontdesk_event_loop_lag_seconds",
                              "How late the event loop ran a timer, the largest of the last second", registry=r)
        self.load_queue_age = Gauge("frontdesk_load_queue_age_seconds",
                                    "How long the 4th-oldest new chat or send in progress has waited for its answer",
                                    registry=r)
        self.delivery_lag = Gauge("frontdesk_delivery_lag_seconds",
                                  "How long after their events were there poll answers were written, the median "
                                  "of the last second's", registry=r)
        self.polls_withheld_late = Counter("frontdesk_polls_withheld_late",
                                           "Poll answers with events withheld (answered empty, nothing committed) "
                                           "because they were reached too late for the client", registry=r)
        for outcome in POLL_OUTCOMES:
            self.poll_outcomes.labels(outcome)
        for outcome in OFFER_OUTCOMES:
            self.offers.labels(outcome)
        for kind in SHED_KINDS:
            self.requests_shed.labels(kind)
        for reason in ("credentials", "throttled"):
            self.logins_refused.labels(reason)
        for kind in ("write", "read"):
            self.storage_latency.labels(kind)
            self.storage_errors.labels(kind)
        for to in ("customer", "agent"):
            self.events_delivered.labels(to)
            self.delivery_latency.labels(to)

    def count_held_polls(self, read: Callable[[], int]) -> None:
        """The held-polls gauge reads ``read()`` at scrape time."""
        self.held_polls.set_function(lambda: float(read()))

    def chat_moved(self, before: tuple[str, str] | None, after: tuple[str, str] | None) -> None:
        """A chat changed state: ``(tenant, state)`` before and after; None: not live (new or ended)."""
        if before == after:
            return
        if before is not None:
            self.chats.labels(*before).dec()
        if after is not None:
            self.chats.labels(*after).inc()

    def seed_chats(self, counts: Iterable[tuple[tuple[str, str], int]]) -> None:
        """The live chats found at start, per ``(tenant, state)``."""
        self.chats.clear()
        for labels, count in counts:
            self.chats.labels(*labels).set(count)

    def set_queues(self, rows: Iterable[tuple[str, str, int, float]]) -> None:
        """``(tenant, queue, length, longest wait)`` of every configured queue, read at scrape time."""
        self.queue_length.clear()
        self.queue_wait.clear()
        for tenant, queue, length, wait in rows:
            self.queue_length.labels(tenant, queue).set(length)
            self.queue_wait.labels(tenant, queue).set(wait)

    def render(self) -> bytes:
        return generate_latest(self.registry)
