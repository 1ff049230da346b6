"""Reading a job's log file incrementally, in whole lines, from a stored offset (shared by job controllers)."""

from __future__ import annotations

from pathlib import Path

# CloudWatch Logs caps an event at 256 KB (26 bytes of which are overhead); a longer line is cut, marked so.
MAX_EVENT_CHARS = 256 * 1024 - 26
TRUNCATED = " [truncated by Shipyard]"


def cap_event(message: str, limit: int = MAX_EVENT_CHARS) -> str:
    """``message`` cut to ``limit`` characters (with a marker) when longer."""
    if len(message) <= limit:
        return message
    return message[: limit - len(TRUNCATED)] + TRUNCATED


def read_new_lines(path: str | Path, offset: int, final: bool, max_bytes: int = 4 << 20) -> tuple[list[str], int]:
    """New complete lines after ``offset`` and the offset to resume from. A trailing partial line waits for its
    newline unless ``final`` (the writer has ended) or the buffer is full."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read() if final else f.read(max_bytes)
    except OSError:
        return [], offset
    if not data:
        return [], offset
    end = data.rfind(b"\n") + 1
    if end == 0 and not final and len(data) < max_bytes:
        return [], offset
    if final or end == 0:
        end = len(data)
    lines = [cap_event(ln.rstrip("\r")) for ln in data[:end].decode("utf-8", "replace").split("\n") if ln.strip()]
    return lines, offset + end
