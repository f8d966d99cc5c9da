"""Which HTTP answers are worth another try, and how long a server asks its clients to wait before
they try again (HTTP Retry-After)."""

from __future__ import annotations

import email.utils
from datetime import datetime, timezone
from typing import Mapping

MAX_RETRY_AFTER_S = 120.0  # the longest a server's Retry-After makes a request wait before its next try
# tried again: a timeout, a conflict, rate limits, and every 5xx but those that say the request itself
# cannot be served (501 Not Implemented, 505 HTTP Version): 529 (overloaded) and a CDN's 52x are transient
RETRY_STATUS = frozenset({408, 409, 429} | set(range(500, 600)) - {501, 505})


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks a retry to wait: Retry-After (seconds or an HTTP date) or retry-after-ms;
    None where it says nothing readable. `headers` is case-insensitive where it is httpx's."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
