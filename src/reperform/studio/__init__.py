"""The Studio: a static web page that drives the public ``/v2`` API from a browser.

The page is plain HTML, CSS and JavaScript modules shipped inside the package (no bundler, no CDN),
so ``reperform serve`` can mount :data:`STATIC_DIR` at ``/studio`` and work fully offline. The page
talks only to the same public endpoints any sync.so client uses, with the key the user types in.
"""

from __future__ import annotations

from pathlib import Path

#: Folder holding ``index.html`` and its assets; the server mounts it at ``/studio``.
STATIC_DIR: Path = Path(__file__).resolve().parent / "static"

#: The page the server should open when someone visits ``/studio/``.
INDEX_FILE: Path = STATIC_DIR / "index.html"

__all__ = ["INDEX_FILE", "STATIC_DIR"]
