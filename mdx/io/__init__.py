"""Files: line readers (gzip or plain), Binance captures, mdx's recording format, and the recorder.

``read_capture`` reads any of them (``check_capture`` says why a file yields no events);
``write_recording`` / ``RecordingWriter`` write recordings. Every reader applies the value rule of each
event kind (``EventKind.check`` in ``mdx.events``).
"""

from __future__ import annotations

from .capture import check_capture, read_capture
from .recording import RecordingWriter, read_recording, write_recording

__all__ = ["RecordingWriter", "check_capture", "read_capture", "read_recording", "write_recording"]
