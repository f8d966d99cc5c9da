"""Date windows and release versions: which problems of a living benchmark (LiveCodeBench) a run takes.

A task names the column that dates each problem (`fields.date`, e.g. LiveCodeBench's `contest_date`);
`evalkit run --since 2025-01-01 --until 2025-04-30` keeps the problems dated inside that window (both
ends included). A hub dataset published in releases names the files of each release
(`dataset.config_files`), and `dataset.config` (or `--release`) picks one. Both are part of the run's
identity, so a rerun with another window or release is refused without --overwrite.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any

from evalkit.errors import InputError


@dataclass(frozen=True)
class DateWindow:
    """Problems dated from `since` to `until`, both included; None leaves that end open."""

    since: dt.date | None = None
    until: dt.date | None = None

    def contains(self, day: dt.date) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def to_dict(self) -> dict[str, str | None]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}


def parse_day(value: Any) -> dt.date | None:
    """The calendar day of a date cell: an ISO string (`2024-08-03`, `2024-08-03T00:00:00`,
    `2024-08-03 12:00:00+00:00`), a date or datetime (a timezone-aware one dated by its own offset);
    None for an empty cell. ValueError for anything else (`2025/03/01`, `March 1`, an epoch number,
    `2025-03-01 to 2025-06-30`), so an unreadable date is an error, not a problem left out unseen."""
    if getattr(getattr(value, "dtype", None), "kind", None) == "M":  # numpy's datetime64, NaT included
        value = value.astype("datetime64[D]").tolist()
    if value is None or _unequal_to_itself(value):  # null, or pandas' NaN and NaT
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date such as 2025-01-31, got {type(value).__name__} {value!r}"
                         + (" (an epoch number is ambiguous: write dates in ISO form)"
                            if isinstance(value, (int, float)) and not isinstance(value, bool) else ""))
    text = value.strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    # Python 3.10's fromisoformat reads fewer forms: a day followed by a time part is read by its day
    if len(text) == 10 or (len(text) > 10 and text[10] in "T "
                           and all(c.isdigit() or c in ":.+-Z " for c in text[11:]) and text[11:12].isdigit()):
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
    raise ValueError(f"expected a date such as 2025-01-31, got {value!r}")


def _unequal_to_itself(value: Any) -> bool:
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # an array's comparison has no single truth value
        return False


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMED = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d")


def make_window(since: str | None, until: str | None) -> DateWindow | None:
    """The window the command line asks for; InputError names the option that is not a date."""
    days = {}
    for option, value in (("--since", since), ("--until", until)):
        if value is None:
            continue
        text = value.isoformat() if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else value
        try:  # a day only: a time of day or an offset would be dropped without a word (windows hold whole days)
            day = dt.date.fromisoformat(text.strip()) if isinstance(text, str) and _DAY.fullmatch(text.strip()) else None
        except ValueError:
            day = None
        if day is None:
            raise InputError(f"{option}: expected a date such as 2025-01-31, got {value!r}"
                             + (" (a day, without a time: both ends of a window are whole days)"
                                if isinstance(text, str) and _TIMED.match(text.strip()) else ""))
        days[option] = day
    if not days:
        return None
    window = DateWindow(days.get("--since"), days.get("--until"))
    if window.since and window.until and window.since > window.until:
        raise InputError(f"--since {window.since} is after --until {window.until}")
    return window


def apply_dataset_choices(spec, window: DateWindow | None = None, release: str | None = None):
    """The spec with the run's date window and release; InputError when the task cannot take them."""
    if window is not None:
        if not spec.fields.date:
            raise InputError(f"--since/--until: task {spec.name!r} names no date column "
                             "(add `fields.date` to its spec)")
        spec = replace(spec, window=window)
    if release is not None:
        if not spec.dataset.config_files:
            raise InputError(f"--release: task {spec.name!r} is not published in releases "
                             "(its spec has no `dataset.config_files`)")
        if release not in spec.dataset.config_files:
            raise InputError(f"--release: task {spec.name!r} has no release {release!r} "
                             f"(known: {', '.join(spec.dataset.config_files)})")
        spec = replace(spec, dataset=replace(spec.dataset, config=release, release_chosen=True))
    return spec
