"""Named factories from built-ins and installed plugins (entry points), found the same way for both."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points

_WARNED: set[tuple[str, str, str]] = set()  # (group, name, value) of plugins already reported as shadowed


def plugin_entry_points(group: str, builtins: dict[str, str]) -> dict[str, EntryPoint]:
    """Every entry point of `group`: the built-ins first, so a plugin cannot replace one by accident.

    A plugin whose name is taken (by a built-in, or by another plugin found first) is left out, and
    said so once on stderr, naming its distribution and entry point: never resolved silently.
    """
    found = {name: EntryPoint(name, value, group) for name, value in builtins.items()}
    for ep in entry_points(group=group):
        first = found.setdefault(ep.name, ep)
        if first is not ep and first.value != ep.value:  # the same entry point seen twice is no clash
            _warn_shadowed(group, ep, first, ep.name in builtins)
    return found


def _warn_shadowed(group: str, ep: EntryPoint, first: EntryPoint, builtin: bool) -> None:
    if (group, ep.name, ep.value) in _WARNED:
        return
    _WARNED.add((group, ep.name, ep.value))
    kind = group.rpartition(".")[2].rstrip("s")  # evalkit.verifiers -> verifier
    winner = "is built in" if builtin else f"is taken by {first.value}{_dist(first)}"
    print(f"evalkit: warning: {group} entry point {ep.name} = {ep.value}{_dist(ep)} is ignored: the {kind} "
          f"name {ep.name!r} {winner}; register the plugin under another name", file=sys.stderr)


def _dist(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f" (distribution {dist.name})" if dist is not None and getattr(dist, "name", None) else ""


def find_entry_point(group: str, builtins: dict[str, str], name: str) -> EntryPoint | None:
    """The entry point called `name`, or None. The installed distributions are scanned even for a
    built-in (tens of milliseconds, once per name: callers keep what they load), so a plugin that
    registers a built-in's name is reported rather than silently ignored."""
    return plugin_entry_points(group, builtins).get(name)


def refuse_builtin_name(kind: str, name: str, factory: object, builtins: dict[str, str]) -> None:
    """ValueError when `factory` is registered under a built-in's name without being that built-in."""
    called = getattr(factory, "__qualname__", repr(factory))
    if name in builtins and f"{getattr(factory, '__module__', '')}:{called}" != builtins[name]:
        raise ValueError(f"{name!r} is a built-in {kind}; register {called} under another name")


def load_entry_point(ep: EntryPoint) -> object:
    """`ep.load()`, with a value that is not `module:attribute` said as such (importlib's own error is an
    AttributeError about None)."""
    if ep.pattern.match(ep.value) is None:
        raise ValueError(f"the entry point's value {ep.value!r} is not 'module:attribute'")
    return ep.load()
