"""Date windows and release versions: which problems of a living benchmark (LiveCodeBench) a run takes.

A task names the column that dates each problem (`fields.date`, e.g. LiveCodeBench's `contest_date`);
`evalkit run --since 2025-01-01 --until 2025-04-30` keeps the problems dated inside that window (both
ends included). A hub dataset published in releases names the files of each release
(`dataset.config_files`), and `dataset.config` (or `--release`) picks one. Both are part of the run's
identity, so a rerun with another window or release is refused without --overwrite.
"""

from __future__ import annotations

import datetime as dt
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
    """The calendar day of a date cell: an ISO string (`2024-08-03`, `2024-08-03T00:00:00`), a date or
    datetime; None for an empty or unreadable cell."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            return None


def make_window(since: str | None, until: str | None) -> DateWindow | None:
    """The window the command line asks for; InputError names the option that is not a date."""
    days = {}
    for option, value in (("--since", since), ("--until", until)):
        if value is None:
            continue
        day = parse_day(value)
        if day is None:
            raise InputError(f"{option}: expected a date such as 2025-01-31, got {value!r}")
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
