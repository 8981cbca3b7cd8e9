"""Fan many streamer instances into one endpoint with a stock ``zmq.proxy`` (XSUB -> XPUB).

    python fanin.py --bind tcp://0.0.0.0:5570 tcp://cam-host-1:5556 tcp://cam-host-1:5557 ...

Subscribers connect to the ``--bind`` endpoint only and see every instance's results; their
subscriptions travel upstream through the proxy, so topic filtering still happens at each publisher
and unwanted streams never cross the network. The proxy holds no state: run one per site, restart
it at will (subscribers and publishers reconnect by themselves).
"""

from __future__ import annotations

import argparse
import contextlib

import zmq


def main() -> None:
    parser = argparse.ArgumentParser(description="Fan streamer instances into one endpoint.")
    parser.add_argument("--bind", default="tcp://127.0.0.1:5570", help="endpoint subscribers connect to")
    parser.add_argument("upstream", nargs="+", help="a streamer [publish] endpoint to collect from")
    args = parser.parse_args()

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    upstream = ctx.socket(zmq.XSUB)
    for endpoint in args.upstream:
        upstream.connect(endpoint)
    downstream = ctx.socket(zmq.XPUB)
    downstream.bind(args.bind)

    # zmq.proxy runs until the process is stopped. It holds nothing worth flushing, so SIGTERM's
    # default action (exit at once) is the right shutdown.
    with contextlib.suppress(KeyboardInterrupt):
        zmq.proxy(upstream, downstream)


if __name__ == "__main__":
    main()
