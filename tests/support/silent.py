"""A camera that accepts connections and never answers: a host whose RTSP service hangs.

Opening it costs a client its whole open timeout, the worst case for the daemon's capture threads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class SilentCamera:
    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, name=f"silent-{self.port}", daemon=True)
        self._thread.start()

    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/silent"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            self._held.append(conn)  # read nothing, answer nothing, keep it open

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in self._held:
            conn.close()
        self._thread.join(2.0)

    def __enter__(self) -> SilentCamera:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
