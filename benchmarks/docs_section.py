"""Replace (or append) one ``## `` section of a Markdown file, keeping the others: the one helper for
benchmarks that write their table into docs/benchmarks.md."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: str | Path, heading: str, text: str) -> None:
    """Put ``text`` (which starts with the ``heading`` line, e.g. ``## Speaker adaptation``) in ``path``.

    The old section (from its heading to the next ``## `` heading) is replaced; a new one is appended.
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n\n"
    pat = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pat.sub(lambda _: text.rstrip("\n") + "\n\n", old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")
