"""A small RTSP server for tests: serves H.264 mp4 files on 127.0.0.1, looping without gaps.

Run it with Debian's ``/usr/bin/python3`` (it needs ``gi`` with GstRtspServer, which a venv lacks)::

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 clip.mp4 /door=other.mp4

Positional arguments are ``FILE`` (mounted at ``/cam0``, ``/cam1``, ... by position) or
``/PATH=FILE``. Port 0 picks a free port. Once serving, it prints ``READY <port>`` on stdout.
SIGTERM and SIGINT stop it cleanly.

Files are sent without re-encoding. Looping uses segment seeks on the demuxer: the client's PLAY
seek gets the SEGMENT flag added on its way up, and each SEGMENT_DONE is answered by a SEGMENT seek
to the start (a plain seek on EOS stalls qtdemux), which keeps timestamps running with no gap.
Each client gets its own pipeline, starting at the clip's first frame.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

# gi is Debian's (python3-gi), absent from the project's venv where mypy runs; its names are Any here.
import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

# Before any class below is defined: subclassing GstRTSPMedia registers its signals, whose
# GstMessage parameter type exists only once GStreamer is initialised.
Gst.init(None)

LAUNCH = (
    "( filesrc location={location} ! qtdemux name=d d.video_0 ! h264parse name=parse"
    " ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


class _Looper:
    """Keeps one media pipeline looping: every seek becomes a segment seek, answered at its end."""

    def __init__(self, demux: Gst.Element, parse: Gst.Element) -> None:
        self._demux = demux
        self._parse_sink = parse.get_static_pad("sink")
        self._parse_sink.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_downstream)
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._on_upstream)

    def _on_upstream(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        """The client's PLAY seek (plain FLUSH) goes on to the demuxer as a FLUSH|SEGMENT seek."""
        event = info.get_event()
        if event is None or event.type != Gst.EventType.SEEK:
            return Gst.PadProbeReturn.OK
        rate, fmt, flags, start_type, start, stop_type, stop = event.parse_seek()
        if flags & Gst.SeekFlags.SEGMENT:
            return Gst.PadProbeReturn.OK
        flags |= Gst.SeekFlags.SEGMENT
        self._parse_sink.push_event(Gst.Event.new_seek(rate, fmt, flags, start_type, start, stop_type, stop))
        return Gst.PadProbeReturn.DROP

    def _on_downstream(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        """At the end of each segment, seek back to the start (runs in the demuxer's thread)."""
        event = info.get_event()
        if event is not None and event.type == Gst.EventType.SEGMENT_DONE:
            # From the main loop: a seek made in the demuxer's own streaming thread crashes
            # qtdemux (SIGBUS in its loop function).
            GLib.idle_add(self._seek_to_start)
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    def _seek_to_start(self) -> bool:
        flags = Gst.SeekFlags.SEGMENT
        self._demux.seek(1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1)
        return False  # GLib.SOURCE_REMOVE: run once


class _CameraMedia(GstRtspServer.RTSPMedia):  # type: ignore[misc]
    """A media that does not report its position, so that every PLAY seeks.

    A client's PLAY asks for ``Range: npt=0-``; the server seeks only when its position is known
    to differ. The seek matters: it flushes once the client's transport is attached, so the
    client starts on a keyframe with SPS/PPS (data prerolled before PLAY arrives partly lost, and
    OpenCV then fails its first read about one time in five), and ``_Looper`` turns it into the
    looping seek. With a position at 0 there is no seek; and seeking ourselves from the main loop
    instead races with the PLAY seek, which then fails (503 to the client).
    """

    def do_query_position(self, _position: int) -> bool:
        return False  # unknown; the out-parameter is not writable from Python anyway


def _on_media_configure(_factory: Any, media: GstRtspServer.RTSPMedia) -> None:
    """Install the looping probes on each new media."""
    bin_ = media.get_element()
    media.looper = _Looper(bin_.get_by_name("d"), bin_.get_by_name("parse"))  # lives with the media


def _mounts(specs: list[str]) -> dict[str, str]:
    """Map mount paths to files: ``FILE`` goes to ``/cam<i>``, ``/PATH=FILE`` to ``/PATH``."""
    mounts: dict[str, str] = {}
    for index, spec in enumerate(specs):
        if spec.startswith("/") and "=" in spec:
            path, location = spec.split("=", 1)
        else:
            path, location = f"/cam{index}", spec
        mounts[path] = location
    return mounts


def _quote(value: str) -> str:
    """Quote a property value for a launch string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _auth(user: str, password: str) -> GstRtspServer.RTSPAuth:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    return auth


def _permissions() -> GstRtspServer.RTSPPermissions:
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    return permissions


def main(argv: list[str] | None = None) -> int:
    """Serve the given files until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554, help="TCP port; 0 picks a free one")
    parser.add_argument("--user", help="require RTSP basic auth with this user")
    parser.add_argument("--password", help="password for --user")
    parser.add_argument("clips", nargs="+", help="FILE or /PATH=FILE")
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")

    server = GstRtspServer.RTSPServer(address="127.0.0.1", service=str(args.port))
    if args.user is not None:
        server.set_auth(_auth(args.user, args.password))
    mount_points = server.get_mount_points()
    for path, location in _mounts(args.clips).items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(LAUNCH.format(location=_quote(location)))
        # One pipeline per client: a client joining a shared one would rewind it for everyone.
        factory.set_shared(False)
        factory.set_media_gtype(_CameraMedia.__gtype__)
        factory.connect("media-configure", _on_media_configure)
        if args.user is not None:
            factory.set_permissions(_permissions())
        mount_points.add_factory(path, factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
