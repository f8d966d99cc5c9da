"""The HTML report: one self-contained page per run, and a page that compares runs.

    write_report(run_dir)            -> run_dir/index.html
    write_compare([run_a, run_b], out) -> out (and each run's index.html, which its links open)

The page needs no network: styles, script and charts (inline SVG, drawn by `_svg`) are in the file, and
per-sample text is embedded compressed and inflated in the browser only when a sample is opened.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2

from evalkit.errors import InputError
from evalkit.outputs import check_outputs, run_files, runs_around, write_whole
from evalkit.report import _compare, _page
from evalkit.report._run import load

__all__ = ["write_compare", "write_report"]

_CHUNKS_HERE = "<!--evalkit:chunks-->"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = lambda v, d=1: "–" if v is None else f"{100 * v:.{d}f}%"
    env.filters["num"] = lambda v, d=0: "–" if v is None else f"{v:,.{d}f}"
    env.filters["tojson_script"] = _page.json_for_script
    # a sign-flip p from 10,000 draws is never below 1/10,001: "< 0.001", not "= 0.000"
    env.filters["pvalue"] = lambda v: "< 0.001" if v < 0.0005 else f"= {v:.3f}"
    return env


def _asset(name: str) -> str:
    return (resources.files("evalkit.report") / "templates" / name).read_text(encoding="utf-8")


def _write_atomic(out: Path, head: str, blobs, tail: str) -> None:
    """Stream the page (the chunks can be tens of MB) to a temp file, then move it into place. A write that
    fails (a full disk) leaves `out` as it was and no temp file, and is an OSError naming `out`."""
    kept = f"the run's files are unchanged and {out.name} is as it was"
    # errors: a file name that is not UTF-8, shown on the page, is written with its odd bytes as escapes
    with write_whole(out, kept, encoding="utf-8", errors="backslashreplace", newline="\n") as f:
        f.write(head)
        for i, blob in enumerate(blobs):
            f.write(f'<script type="application/x-evalkit" id="ek-c{i}" data-n="{blob.n_bytes}">')
            f.write(blob.text)
            f.write("</script>\n")
        f.write(tail)


def _katex() -> _page.Blob:
    """KaTeX (vendored, MIT: templates/KATEX_LICENSE) packed like the sample text: the page inflates
    it when math is first shown, so a report renders math offline and stays one file."""
    from evalkit.report._pack import pack

    text, n = pack({"js": _asset("katex.min.js") + "\n" + _asset("katex-auto-render.min.js"),
                    "css": _asset("katex.css")})
    return _page.Blob(text, n)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Render a run directory's report.

    run_dir: a directory holding samples.jsonl and/or results.json (config.json optional).
    out: the HTML file to write; default `run_dir/index.html`.
    Returns the path written. Raises evalkit.errors.InputError when run_dir is not a run, or when
    `out` is one of its data files (samples.jsonl, results.json, config.json, its replay file).
    """
    run = load(run_dir)
    out = Path(out) if out is not None else run.path / "index.html"
    # another run's index.html is that run's report; this run's own is what a rerun of its report replaces
    theirs = runs_around({"--out": out}, report=out.parent.resolve() != run.path.resolve())
    check_outputs({"--out": out}, {**theirs, **run_files(run.path, run.config)}, "report")
    out.parent.mkdir(parents=True, exist_ok=True)
    view = _page.build(run)
    html = _env().get_template("run.html.j2").render(**view, chunks_here=_CHUNKS_HERE, style_css=_asset("style.css"),
                                                         app_js=_asset("app.js"), katex=_katex())
    head, tail = html.split(_CHUNKS_HERE, 1)
    _write_atomic(out, head, view["chunks"], tail)
    return out


def write_compare(run_dirs, out: str | Path) -> Path:
    """Render a page comparing two or more runs, task by task.

    run_dirs: run directories; the first is the baseline every delta is measured from.
    out: the HTML file to write. Each run's own index.html is rendered when missing, since the
    compare page links to traces in it. InputError when `out` is one of the runs' files (their
    data, as for `write_report`, or their index.html).
    """
    runs = [load(d) for d in run_dirs]
    out = Path(out)
    check_outputs({"--out": out}, {**runs_around({"--out": out}), **{
        p: what for run in runs for p, what in run_files(run.path, run.config, report=True).items()}}, "report")
    seen: dict[Path, str] = {}
    for d in run_dirs:  # one run against itself would read as two runs that agree (p = 1.000)
        where = Path(d).resolve()
        if where in seen:
            raise InputError(f"{d}: the same run as {seen[where]}, given twice; compare a run with another")
        seen[where] = str(d)
    out.parent.mkdir(parents=True, exist_ok=True)
    for run in runs:
        if not (run.path / "index.html").exists():
            write_report(run.path)
    view = _compare.build(runs, out)
    html = _env().get_template("compare.html.j2").render(**view, style_css=_asset("style.css"))
    _write_atomic(out, html, [], "")
    return out
