"""Metrics against a fresh registry per test, and the /metrics and /healthz endpoint on a free port."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamer.errors import ConfigError
from streamer.http import HttpServer
from streamer.metrics import DROP_REASONS, Metrics, Rendering, serve_metrics
from streamer.records import StreamState


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry(), process=False)


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_a_new_stream_has_every_series_at_zero_and_is_connecting(metrics: Metrics) -> None:
    metrics.add_stream("door")
    for name in ("captured", "processed"):
        assert value(metrics, f"streamer_frames_{name}_total", stream="door") == 0.0
    assert value(metrics, "streamer_messages_published_total", stream="door") == 0.0
    assert value(metrics, "streamer_stream_reconnects_total", stream="door") == 0.0
    for reason in DROP_REASONS:
        assert value(metrics, "streamer_frames_dropped_total", stream="door", reason=reason) == 0.0
    states = {s.value: value(metrics, "streamer_stream_state", stream="door", state=s.value) for s in StreamState}
    assert states == {s.value: (1.0 if s is StreamState.CONNECTING else 0.0) for s in StreamState}
    assert value(metrics, "streamer_stream_up", stream="door") == 0.0


@pytest.mark.parametrize("state", list(StreamState))
def test_state_is_one_hot_and_up_only_when_up(metrics: Metrics, state: StreamState) -> None:
    metrics.add_stream("door")
    metrics.set_state("door", state)
    for s in StreamState:
        assert value(metrics, "streamer_stream_state", stream="door", state=s.value) == (1.0 if s is state else 0.0)
    assert value(metrics, "streamer_stream_up", stream="door") == (1.0 if state is StreamState.UP else 0.0)


def test_removing_a_stream_forgets_its_series_and_keeps_the_others(metrics: Metrics) -> None:
    for name in ("door", "yard"):
        metrics.add_stream(name)
        metrics.frames_captured.labels(name).inc(3)
        metrics.latency.labels(name).observe(0.01)
        metrics.frames_dropped.labels(name, "superseded").inc()
    metrics.remove_stream("door")
    text = metrics_text(metrics)
    assert 'stream="door"' not in text
    assert value(metrics, "streamer_frames_captured_total", stream="yard") == 3.0
    assert value(metrics, "streamer_latency_seconds_count", stream="yard") == 1.0
    assert value(metrics, "streamer_frames_dropped_total", stream="yard", reason="superseded") == 1.0
    metrics.remove_stream("never-added")  # forgetting an unknown stream is harmless


def test_reload_results_exist_before_the_first_reload(metrics: Metrics) -> None:
    assert value(metrics, "streamer_config_reloads_total", result="ok") == 0.0
    assert value(metrics, "streamer_config_reloads_total", result="error") == 0.0


def test_histograms_count_what_they_observe(metrics: Metrics) -> None:
    for seconds, batch in ((0.003, 4), (0.0015, 1)):
        metrics.inference_seconds.labels("cnn").observe(seconds)
        metrics.batch_size.labels("cnn").observe(batch)
    assert value(metrics, "streamer_inference_seconds_count", model="cnn") == 2.0
    assert value(metrics, "streamer_inference_seconds_sum", model="cnn") == pytest.approx(0.0045)
    assert value(metrics, "streamer_inference_seconds_bucket", model="cnn", le="0.002") == 1.0
    assert value(metrics, "streamer_batch_size_sum", model="cnn") == 5.0


def test_two_daemons_in_one_process_do_not_share_series() -> None:
    a, b = Metrics(CollectorRegistry(), process=False), Metrics(CollectorRegistry(), process=False)
    a.add_stream("door")
    a.frames_captured.labels("door").inc()
    assert value(a, "streamer_frames_captured_total", stream="door") == 1.0
    assert value(b, "streamer_frames_captured_total", stream="door") is None


def test_process_collectors_only_when_asked() -> None:
    without = Metrics(CollectorRegistry(), process=False)
    assert "python_info" not in metrics_text(without)
    with_process = Metrics(CollectorRegistry(), process=True)
    assert "python_info" in metrics_text(with_process)


def test_names_follow_prometheus_conventions(metrics: Metrics) -> None:
    metrics.add_stream("door")
    metrics.build.info({"version": "1", "onnxruntime": "1", "providers": "CPUExecutionProvider"})
    families = {f.name: f for f in text_string_to_metric_families(metrics_text(metrics))}
    assert families, "no metrics exported"
    for name, family in families.items():
        assert name.startswith("streamer_"), name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
    histograms = {name for name, f in families.items() if f.type == "histogram"}
    assert histograms == {"streamer_inference_seconds", "streamer_latency_seconds", "streamer_batch_size"}
    build = families["streamer_build_info"]  # an Info is a gauge of 1 with the facts as labels
    assert [(s.labels["providers"], s.value) for s in build.samples] == [("CPUExecutionProvider", 1.0)]


def metrics_text(m: Metrics) -> str:
    return generate_latest(m.registry).decode()


# -- the HTTP endpoint ---------------------------------------------------------------------------


class Health:
    def __init__(self) -> None:
        self.ok = True

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        return self.ok, {"streams": {"door": {"ok": self.ok}}}


@pytest.fixture
def served(metrics: Metrics) -> Iterator[tuple[HttpServer, Health]]:
    health = Health()
    server = HttpServer("127.0.0.1", 0, metrics)
    serve_metrics(server, metrics.registry, health)
    server.start()
    yield server, health
    server.stop()


def get(server: HttpServer, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_metrics_endpoint_serves_the_registry(metrics: Metrics, served: tuple[HttpServer, Health]) -> None:
    server, _ = served
    metrics.add_stream("door")
    metrics.frames_processed.labels("door").inc(7)
    code, ctype, body = get(server, "/metrics")
    assert code == 200
    assert ctype.startswith("text/plain")
    assert 'streamer_frames_processed_total{stream="door"} 7.0' in body


def test_healthz_follows_the_health_callback(served: tuple[HttpServer, Health]) -> None:
    server, health = served
    code, ctype, body = get(server, "/healthz")
    assert (code, ctype) == (200, "application/json")
    assert json.loads(body) == {"healthy": True, "streams": {"door": {"ok": True}}}
    health.ok = False
    code, _, body = get(server, "/healthz?verbose=1")
    assert code == 503
    assert json.loads(body)["healthy"] is False


def test_unknown_paths_are_404(served: tuple[HttpServer, Health]) -> None:
    server, _ = served
    code, _, body = get(server, "/")
    assert code == 404
    assert "/metrics" in body


def test_a_port_in_use_is_a_config_error_naming_the_key(metrics: Metrics, served: tuple[HttpServer, Health]) -> None:
    server, health = served
    second = HttpServer("127.0.0.1", server.port, metrics)
    serve_metrics(second, metrics.registry, health)
    with pytest.raises(ConfigError, match=r"^metrics\.listen: cannot listen on 127\.0\.0\.1:\d+"):
        second.start()


def test_renderings_are_fresh_for_a_scraper_and_shared_in_a_flood() -> None:
    count = 0

    def render() -> bytes:
        nonlocal count
        count += 1
        time.sleep(0.01)
        return b"text %d" % count

    rendering = Rendering(render, window_s=0.3, fresh=2)
    assert rendering() == b"text 1"
    assert rendering() == b"text 2"  # read, act, read again: fresh
    with ThreadPoolExecutor(8) as pool:  # a flood within the same window shares the latest
        texts = set(pool.map(lambda _: rendering(), range(40)))
    assert texts == {b"text 2"} and rendering.renders == 2
    time.sleep(0.35)
    assert rendering() == b"text 3"  # a new window: fresh again
