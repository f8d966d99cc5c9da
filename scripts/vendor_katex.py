"""Vendor KaTeX into the report templates, so report pages render math offline.

    cd /tmp && npm pack katex && tar xzf katex-*.tgz      # the npm package, unpacked in ./package
    python scripts/vendor_katex.py /tmp/package

Writes evalkit/report/templates/katex.min.js, katex-auto-render.min.js, katex.css (the stylesheet
with its woff2 fonts inlined as data: URLs; the woff and ttf fallbacks dropped, every browser that
runs the report reads woff2) and KATEX_LICENSE (MIT), and records the version in katex.css.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "evalkit" / "report" / "templates"


def main(package: str) -> None:
    pkg = Path(package)
    version = json.loads((pkg / "package.json").read_text())["version"]
    css = (pkg / "dist" / "katex.min.css").read_text()

    def inline(m: re.Match) -> str:
        font = (pkg / "dist" / "fonts" / f"{m.group(1)}.woff2").read_bytes()
        return f'src:url(data:font/woff2;base64,{base64.b64encode(font).decode()}) format("woff2")'

    css = re.sub(r'src:url\(fonts/([A-Za-z0-9_-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) format\("[a-z]+"\))*',
                 inline, css)
    if "url(fonts/" in css:
        raise SystemExit("a font reference was left unresolved; the stylesheet's format changed")
    (OUT / "katex.css").write_text(f"/* KaTeX {version} (MIT, see KATEX_LICENSE); fonts inlined */\n{css}\n")
    (OUT / "katex.min.js").write_text((pkg / "dist" / "katex.min.js").read_text())
    (OUT / "katex-auto-render.min.js").write_text((pkg / "dist" / "contrib" / "auto-render.min.js").read_text())
    (OUT / "KATEX_LICENSE").write_text(f"KaTeX {version}, https://katex.org, from the npm package `katex`.\n\n"
                                       + (pkg / "LICENSE").read_text())
    print(f"vendored KaTeX {version} into {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
