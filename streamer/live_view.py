"""The live view's HTTP routes: the page, the streams' states and newest results, MJPEG and JPEG pictures.

``GET /`` the page; ``GET /streams.json`` every stream with its state and newest result;
``GET /streams/<name>.mjpg`` the annotated picture as ``multipart/x-mixed-replace``;
``GET /streams/<name>.jpg`` the newest annotated picture. Pictures come from the current
pipeline's :class:`~streamer.preview.PreviewHub` (it changes on reload, hence ``hub_of``); each is
encoded once, on a worker thread, whoever asks first, and each viewer gets the newest one at its
own pace: a viewer that stops reading is dropped by the HTTP layer's write timeout, and never
slows the pipeline or another viewer. With a token configured every route wants ``?token=``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from collections.abc import AsyncIterator, Callable
from importlib import resources

from streamer.codec import result_dict
from streamer.http import HttpServer, Query, Reply, Streamed
from streamer.preview import PreviewHub

BOUNDARY = "frame"
MJPEG = f"multipart/x-mixed-replace; boundary={BOUNDARY}"

HubOf = Callable[[], PreviewHub | None]


class LiveView:
    def __init__(self, hub_of: HubOf, max_viewers: int, token: str | None = None) -> None:
        self.hub_of = hub_of
        self.max_viewers = max_viewers
        self.token = token
        self.viewers = 0
        self._lock = threading.Lock()
        self._page = resources.files("streamer").joinpath("web", "index.html").read_bytes()

    def register(self, server: HttpServer) -> None:
        server.add_route("/", self.page)
        server.add_route("/streams.json", self.streams)
        server.add_prefix("/streams/", self.picture)

    def _refused(self, query: Query) -> Reply | None:
        if self.hub_of() is None:
            return Reply(404, "text/plain", b"the live view is off: set [preview] enabled = true\n")
        if self.token is not None and not hmac.compare_digest(query.get("token", ""), self.token):
            return Reply(401, "text/plain", b"this live view wants ?token=\n")
        return None

    def page(self, query: Query) -> Reply:
        return self._refused(query) or Reply(200, "text/html; charset=utf-8", self._page)

    def streams(self, query: Query) -> Reply:
        refused = self._refused(query)
        hub = self.hub_of()
        if refused is not None or hub is None:
            return refused or Reply(404, "text/plain", b"")
        body = []
        for name in sorted(hub.streams()):
            newest = hub.newest(name)
            result = None if newest is None else result_dict(newest, 0.0)
            body.append({"name": name, "state": hub.state(name), "result": result})
        return Reply(200, "application/json", json.dumps({"streams": body}).encode())

    def picture(self, rest: str, query: Query) -> Reply | Streamed:
        refused = self._refused(query)
        hub = self.hub_of()
        if refused is not None or hub is None:
            return refused or Reply(404, "text/plain", b"")
        name, dot, kind = rest.rpartition(".")
        if not dot or kind not in ("mjpg", "jpg") or hub.state(name) is None:
            return Reply(404, "text/plain", f"no stream {name or rest!r}; see /streams.json\n".encode())
        if kind == "jpg":
            picture = hub.picture(name)  # encodes on the loop once; a viewer polling .jpg is rare and small
            if picture is None:
                return Reply(503, "text/plain", b"no picture yet\n")
            return Reply(200, "image/jpeg", picture.jpeg)
        with self._lock:  # the slot is taken here and given back when the reply ends, however it ends
            if self.viewers >= self.max_viewers:
                return Reply(503, "text/plain", b"too many viewers ([preview] max_viewers)\n")
            self.viewers += 1
        return Streamed(MJPEG, self._mjpeg(hub, name), done=self._viewer_left)

    def _viewer_left(self) -> None:
        with self._lock:
            self.viewers -= 1

    async def _mjpeg(self, hub: PreviewHub, name: str) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        version = -1
        while hub.state(name) is not None:  # the stream was removed: the viewer's reply ends
            picture = await loop.run_in_executor(None, hub.picture, name)
            if picture is not None and picture.version != version:
                version = picture.version
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(picture.jpeg)}\r\n\r\n"
                yield head.encode() + picture.jpeg + b"\r\n"
            await asyncio.sleep(1.0 / hub.settings.fps / 2)
