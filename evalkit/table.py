"""The short results table `evalkit run` prints."""

from __future__ import annotations

from typing import Any, Sequence


def _fmt(stat: dict[str, Any] | None) -> str:
    if not stat or stat.get("value") is None:
        return "-"
    v, lo, hi = stat["value"], stat.get("ci_low"), stat.get("ci_high")
    if lo is None or hi is None or lo != lo:
        return f"{100 * v:.1f}"
    return f"{100 * v:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def results_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per task and model: avg@n, pass@k and maj@k at the largest k (in %, 95% CI)."""
    header = ["task", "model", "problems", "n", "avg@n", "pass@k", "maj@k", "trunc", "unjudged"]
    rows = [header]
    partial = False
    names = short_names([r["model"] for r in results])
    for r in results:
        metrics = r.get("metrics", {})
        ks = [int(k.split("@")[1]) for k in metrics if k.startswith("pass@")]
        k = max(ks) if ks else None
        # pass@k needs k judged samples: with fewer on some problems it covers only the rest
        star = ""
        if k and metrics[f"pass@{k}"].get("n_problems", r["n_problems"]) < r["n_problems"]:
            star, partial = "*", True
        rows.append([
            r["task"], names[r["model"]], str(r["n_problems"]), str(r.get("samples_per_problem", "")),
            _fmt(metrics.get("avg@n")),
            f"@{k} {_fmt(metrics.get(f'pass@{k}'))}{star}" if k else "-",
            f"@{k} {_fmt(metrics.get(f'maj@{k}'))}{star}" if k and f"maj@{k}" in metrics else "-",
            str(r.get("n_truncated", 0)), str(r.get("n_unjudged", 0)),
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if partial:
        lines.append("* over the problems with at least k judged samples")
    return "\n".join(lines)


def short_names(models: Sequence[str], width: int = 40) -> dict[str, str]:
    """Each model's name for a table: its last `width` characters (`…` marking the cut), or the whole
    name where cutting would leave two models looking alike (checkpoints of one run)."""
    cut = {m: m if len(m) <= width else "…" + m[-(width - 1):] for m in set(models)}
    seen: dict[str, int] = {}
    for shown in cut.values():
        seen[shown] = seen.get(shown, 0) + 1
    return {m: shown if seen[shown] == 1 else m for m, shown in cut.items()}
