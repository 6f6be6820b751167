"""Make docs/studio.png: the Studio on a two-person video, a face clicked and two segments added.

Runs ``reperform studio --no-browser`` with a throwaway data folder, opens the address it prints
in Debian's Chromium (Playwright) and photographs the page before generating (nothing is rendered).
Needs the shared test media beside the checkout (``../shared/media``).

    .venv/bin/python scripts/studio_screenshot.py [--out docs/studio.png]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
ADDRESS = re.compile(r"reperform Studio: (http://\S+)")


def _address(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := ADDRESS.search(line):
            return match.group(1)
    raise SystemExit("reperform studio ended without printing its address")


def _shoot(url: str, video: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme="dark")
        page.goto(url)
        page.wait_for_selector("#key-status.ok")
        page.set_input_files("#video-file", str(video))
        page.wait_for_function("() => document.querySelector('#preview-video').videoWidth > 0")
        page.locator("label", has=page.locator('input[name="speaker"][value="pick"]')).click()
        page.fill("#speaker-frame", "250")
        page.wait_for_timeout(500)  # let the seek land before clicking (a picture, not a test)
        box = page.locator("#preview-video").bounding_box()
        w, h = page.eval_on_selector("#preview-video", "v => [v.videoWidth, v.videoHeight]")
        scale = min(box["width"] / w, box["height"] / h)
        x0, y0 = box["x"] + (box["width"] - w * scale) / 2, box["y"] + (box["height"] - h * scale) / 2
        page.mouse.click(x0 + 480 * scale, y0 + 130 * scale)  # the right-hand person's face
        audios = ("sadtalker_RD_Radio36_000.wav", "echomimic_movie_0_clip_0.wav")
        for i, (start, end, audio) in enumerate([(0.4, 1.8, audios[0]), (2.2, 3.8, audios[1])]):
            page.click("#segment-add")
            row = page.locator("#segments-list .segment").nth(i)
            row.locator(".seg-start").fill(str(start))
            row.locator(".seg-end").fill(str(end))
            row.locator(".seg-audio").set_input_files(str(MEDIA / "audio" / audio))
        page.locator("#segments-list .segment").nth(1).locator(".seg-emotion").select_option("happy")
        page.evaluate("() => document.activeElement.blur()")
        page.mouse.move(0, 0)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "studio.png")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from benchmarks import composites

    with tempfile.TemporaryDirectory() as tmp:
        video = composites.side_by_side(Path(tmp) / "two_people.mp4", MEDIA / "videos", voice=0).path
        proc = subprocess.Popen([sys.executable, "-m", "reperform.cli", "studio", "--no-browser",
                                 "--data-dir", str(Path(tmp) / "data")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        try:
            _shoot(_address(proc), video, args.out)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
