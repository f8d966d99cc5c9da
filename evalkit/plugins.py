"""Named factories from built-ins and installed plugins (entry points), found the same way for both."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points


def plugin_entry_points(group: str, builtins: dict[str, str]) -> dict[str, EntryPoint]:
    """Every entry point of `group`: the built-ins first, so a plugin cannot replace one by accident."""
    found = {name: EntryPoint(name, value, group) for name, value in builtins.items()}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def find_entry_point(group: str, builtins: dict[str, str], name: str) -> EntryPoint | None:
    """The entry point called `name`, or None; a built-in is found without scanning the installed
    distributions (that scan costs tens of milliseconds at start)."""
    if name in builtins:
        return EntryPoint(name, builtins[name], group)
    return plugin_entry_points(group, builtins).get(name)
