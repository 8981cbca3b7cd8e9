"""Test harness: real RTSP and Prometheus servers, test media, and process helpers."""
