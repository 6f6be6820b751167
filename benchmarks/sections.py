"""Sections of docs/benchmarks.md measured by a benchmark that runs on its own.

Some measurements take too long for every `make bench` (a 10-minute input) or need inputs of their
own (VFR copies, two-person composites). Their modules write a section file here —
``benchmarks/sections/<name>.md``, committed — stamped with the command, commit, date and load
they ran under; `benchmarks/run.py` (also with ``--report-only``) puts every section file into
docs/benchmarks.md, so that file stays the one place a reader looks and one program writes it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

SECTIONS_DIR = Path(__file__).resolve().parent / "sections"


def commit_label() -> str:
    """Short HEAD, marked when tracked files have uncommitted changes (what a number was measured on)."""
    root = SECTIONS_DIR.parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout
    except OSError:
        return "?"
    return head.strip() + (" (+ uncommitted changes)" if dirty.strip() else "")


def write(name: str, title: str, body: str, *, argv: list[str]) -> Path:
    """Write section ``name`` (a level-2 heading ``title`` and ``body``) with how it was measured."""
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = (f"*Measured by `{' '.join(argv)}` at commit {commit_label()}, "
             f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}, load average {load} (1/5/15 min).*")
    SECTIONS_DIR.mkdir(parents=True, exist_ok=True)
    path = SECTIONS_DIR / f"{name}.md"
    path.write_text(f"## {title}\n\n{stamp}\n\n{body.rstrip()}\n")
    return path


def all_sections() -> list[str]:
    """Every section file's text, in name order (empty when none has been measured)."""
    return [p.read_text() for p in sorted(SECTIONS_DIR.glob("*.md"))]
