"""Response serialization: operation results (plain dicts) to the bytes each protocol sends.

JSON 1.1 responses drop ``None`` members (AWS omits absent members; botocore would otherwise try to parse
``null`` as the member's type) and private top-level keys starting with ``_``. Timestamps may be floats
(epoch seconds, what the metastore holds) or ``datetime`` objects; both go out as epoch numbers, which
botocore parses for ``timestamp`` shapes. ``bytes`` go out as base64 text (blob shapes).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value if v is not None]
    return value


def dump_json(result: dict[str, Any] | None) -> bytes:
    if not result:
        return b"{}"
    clean = {k: _strip_none(v) for k, v in result.items() if v is not None and not k.startswith("_")}
    return orjson.dumps(clean, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS)


def _xml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"<member>{_xml_value(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return html.escape(str(value), quote=False)


def render_query_response(action: str, result: dict[str, Any], request_id: str, xmlns: str) -> bytes:
    """The query protocol's ``<ActionResponse><ActionResult>...`` document."""
    return (
        f'<{action}Response xmlns="{xmlns}"><{action}Result>{_xml_value(result or {})}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()
