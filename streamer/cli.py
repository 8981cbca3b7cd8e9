"""The ``streamer`` command: run, check, subscribe, bench, schema.

Exit codes: 0 ok, 2 bad configuration or usage (one line naming the key, no traceback),
1 runtime failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path

from streamer import __version__
from streamer.errors import ConfigError, StreamerError

logger = logging.getLogger("streamer")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _default_config() -> str:
    return os.environ.get("STREAMER_CONFIG", "config.toml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamer", description="Real-time video analytics daemon.")
    parser.add_argument("--version", action="version", version=f"streamer {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("STREAMER_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (stderr); default INFO",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument(
        "--config", default=_default_config(), help="config file (default: $STREAMER_CONFIG or config.toml)"
    )
    run.add_argument("--print", action="store_true", help="also print a line per published message to stdout")
    check = sub.add_parser("check", help="validate config and models, print the plan")
    check.add_argument("--config", default=_default_config())
    check.add_argument(
        "--model", type=Path, default=None, help="describe an ONNX model and the config keys it needs (no config read)"
    )
    subp = sub.add_parser("subscribe", help="print published messages as JSON lines")
    subp.add_argument("--endpoint", default=None, help="publisher endpoint (default: the default publish endpoint)")
    subp.add_argument("--stream", default=None, help="only this stream's results")
    subp.add_argument("--count", type=int, default=None, help="exit after this many messages")
    subp.add_argument("--timeout", type=float, default=None, help="exit after this many seconds")
    subp.add_argument("--no-status", action="store_true", help="skip status messages")
    subp.add_argument("--curve-server-key", type=Path, default=None, help="server public key file (CURVE)")
    subp.add_argument("--curve-client-cert", type=Path, default=None, help="client secret key file (CURVE)")
    bench = sub.add_parser("bench", help="measure decode, preprocess, inference and the pipeline; cameras per box")
    bench.add_argument("--config", default=_default_config(), help="config whose models and first file stream to use")
    bench.add_argument("--model", action="append", help="an ONNX model instead of a config (repeatable)")
    bench.add_argument("--clip", default=None, help="video file to decode (default: the config's first file stream)")
    bench.add_argument(
        "--make-clip",
        default=None,
        metavar="PRESET",
        help="encode (once, cached) and use a reference H.264 clip: 720p, 1080p or 4k (needs ffmpeg)",
    )
    bench.add_argument("--streams", default="1,2,4", help="pipeline stream counts, comma-separated; 0 skips")
    bench.add_argument("--batches", default="", help="inference batch sizes (default: powers of two to max_batch)")
    bench.add_argument("--max-batch", type=int, default=None, help="override pipeline.max_batch")
    bench.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement (default 3)")
    bench.add_argument("--rounds", type=int, default=1, help="repeat every measurement, report medians (default 1)")
    bench.add_argument("--workers", default=None, help='[capture] workers for the pipeline runs: N or "auto"')
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    schema = sub.add_parser("schema", help="print the JSON Schema of published messages")
    schema.add_argument("kind", nargs="?", default="result", choices=["result", "status", "event"])
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    # Handlers first: the imports below (pydantic, OpenCV, ONNX Runtime) and loading the models take
    # a while, and a SIGTERM or SIGHUP meanwhile must not kill the process with the default action.
    from streamer.signals import SignalQueue

    signals = SignalQueue().install()
    from streamer.app import run
    from streamer.config import load_config

    path = Path(args.config)
    if args.print:
        config = load_config(path)
        _print_in_background(config.publish.endpoint)
    return run(path, signals)


def _print_in_background(endpoint: str) -> None:
    from streamer.subscribe import open_sub, receive, summary_lines

    def loop() -> None:
        # The daemon binds only once it starts: retry every 5 ms (not ZeroMQ's 100 ms), so this
        # subscription is in place while the models load and the first results are not missed.
        local = endpoint.replace("://*", "://127.0.0.1").replace("0.0.0.0", "127.0.0.1")
        sock = open_sub(local, None, retry_ms=5)
        receive(sock, None, summary_lines())

    threading.Thread(target=loop, name="print", daemon=True).start()


def _cmd_check(args: argparse.Namespace) -> int:
    if args.model is not None:
        from streamer.graph import read_graph
        from streamer.modelinfo import describe
        from streamer.runtime import inspect

        for line in describe(args.model, inspect(args.model), read_graph(args.model)):
            print(line)
        return EXIT_OK
    from streamer.check import plan
    from streamer.config import load_config

    path = Path(args.config)
    for line in plan(load_config(path), path):
        print(line)
    print("ok")
    return EXIT_OK


def _cmd_subscribe(args: argparse.Namespace) -> int:
    from streamer.config import DEFAULT_ENDPOINT
    from streamer.subscribe import json_lines, open_sub, receive

    sock = open_sub(
        args.endpoint or DEFAULT_ENDPOINT,
        args.stream,
        server_key=args.curve_server_key,
        client_cert=args.curve_client_cert,
    )
    try:
        receive(
            sock, args.stream, json_lines(), count=args.count, timeout_s=args.timeout, include_status=not args.no_status
        )
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from streamer.codec import schema

    print(json.dumps(schema(args.kind), indent=2))
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from streamer.bench import bench_from_args, format_report, run_bench

    report = run_bench(bench_from_args(args))
    print(json.dumps(report.to_json(), indent=2) if args.json else format_report(report))
    return EXIT_OK


COMMANDS = {
    "run": _cmd_run,
    "bench": _cmd_bench,
    "check": _cmd_check,
    "subscribe": _cmd_subscribe,
    "schema": _cmd_schema,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StreamerError as exc:
        print(f"streamer: failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
