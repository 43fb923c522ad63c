"""Files: line readers (gzip or plain), Binance captures, mdx's recording format, and the recorder.

``read_capture`` reads any of them; ``write_recording`` / ``RecordingWriter`` write recordings.
"""

from __future__ import annotations

from .capture import read_capture
from .recording import RecordingWriter, read_recording, write_recording

__all__ = ["RecordingWriter", "read_capture", "read_recording", "write_recording"]
