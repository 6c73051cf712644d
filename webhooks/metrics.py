"""Webhook metrics. Event types are limited to Lidarr's own names ("unknown" otherwise),
because the body is untrusted input and each label value is a new time series."""

from prometheus_client import Counter, Histogram

EVENTS = Counter(
    "kima_webhook_events_total",
    "Lidarr webhook events by type and outcome: accepted, duplicate, spooled, ignored, "
    "rejected, invalid at intake; processed, failed, dead when processed.",
    ["event_type", "outcome"],
)
PROCESSING_SECONDS = Histogram(
    "kima_webhook_processing_duration_seconds",
    "Time to process one webhook event.",
    ["event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def count(event_type: str, outcome: str) -> None:
    EVENTS.labels(event_type, outcome).inc()
