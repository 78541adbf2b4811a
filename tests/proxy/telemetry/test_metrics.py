"""Prometheus metrics: one registry per proxy, the documented names and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from proxy.telemetry.metrics import ProxyMetrics


def _samples(metrics: ProxyMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_are_counted_by_route_side_and_status_class() -> None:
    metrics = ProxyMetrics()
    metrics.observe_request("GET /a", "new", 200, 0.01)
    metrics.observe_request("GET /a", "new", 204, 0.02)
    metrics.observe_request("GET /a", "legacy", 503, 0.5)
    samples = _samples(metrics)
    key = (("route", "GET /a"), ("side", "new"), ("status_class", "2xx"))
    assert samples[("strangler_requests_total", key)] == 2
    assert (
        samples[
            (
                "strangler_requests_total",
                (("route", "GET /a"), ("side", "legacy"), ("status_class", "5xx")),
            )
        ]
        == 1
    )
    count = ("strangler_request_duration_seconds_count", (("route", "GET /a"), ("side", "new")))
    assert samples[count] == 2


def test_each_proxy_has_its_own_registry() -> None:
    first, second = ProxyMetrics(), ProxyMetrics()
    first.observe_request("GET /a", "new", 200, 0.01)
    assert "strangler_requests_total{" not in second.exposition().decode()


def test_flag_gauges_and_shadow_outcomes() -> None:
    metrics = ProxyMetrics()
    metrics.flag_version.set(7)
    metrics.flag_store_up.set(1)
    metrics.record_shadow("GET /a", "match")
    metrics.record_shadow("GET /a", "match")
    metrics.record_shadow("GET /a", "dropped")
    samples = _samples(metrics)
    assert samples[("strangler_flag_version", ())] == 7
    assert samples[("strangler_flag_store_up", ())] == 1
    assert metrics.shadow_counts() == {
        "GET /a": {"match": 2, "mismatch": 0, "error": 0, "dropped": 1}
    }
