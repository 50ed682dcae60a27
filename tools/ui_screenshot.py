"""Take docs/images/ui.png: the `videovq ui` page on the bundled clip, in headless chromium (Debian's package).

    python tools/ui_screenshot.py [--out docs/images/ui.png] [--preset membrane] [--chromium /usr/bin/chromium]

It copies the bundled clip into a temporary working folder, draws a box around the rocks on frame 33, tracks it
through the clip, turns on the mask preview, inpaints with the chosen preset and shows input and result side by
side, then saves a picture of the whole page. Needs the test extra (playwright) and chromium.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from videovq.data import sample_video_path
from videovq.ui.app import create_app
from videovq.ui.server import BackgroundServer

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
BOX = (278, 86, 154, 50)  # the rocks on the right of the bundled clip, frame 33
FRAME = 33


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/ui.png"))
    parser.add_argument("--preset", default="membrane")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(sample_video_path(), Path(tmp) / sample_video_path().name)
        with BackgroundServer(create_app(tmp)) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(server.url)
            page.wait_for_function("document.getElementById('video').options.length > 1")
            page.select_option("#video", sample_video_path().name)
            page.wait_for_function("document.getElementById('status').textContent.includes('frames')")
            page.locator("#scrub").fill(str(FRAME))
            page.wait_for_function(f"document.getElementById('frame-label').textContent.includes('{FRAME} /')")
            drag(page, BOX)
            page.click("#track-0")
            followed = "document.getElementById('status').textContent.startsWith('followed')"
            page.wait_for_function(followed, timeout=300_000)
            page.check("#preview")
            page.select_option("#preset", args.preset)
            page.click("#run")
            finished = "['done', 'failed'].includes(document.getElementById('job-state').dataset.state)"
            page.wait_for_function(finished, timeout=1_800_000)
            page.wait_for_function("document.getElementById('result-img').naturalWidth > 0")
            page.wait_for_timeout(500)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            print(f"wrote {args.out}; job: {page.text_content('#job-state')}")
            browser.close()


def drag(page, box: tuple[int, int, int, int]) -> None:
    """Drag a box given in video pixels on the (scaled) canvas."""
    canvas = page.locator("#canvas")
    bb = canvas.bounding_box()
    width, height = canvas.evaluate("c => [c.width, c.height]")
    sx, sy = bb["width"] / width, bb["height"] / height
    x, y, w, h = box
    page.mouse.move(bb["x"] + x * sx, bb["y"] + y * sy)
    page.mouse.down()
    page.mouse.move(bb["x"] + (x + w) * sx, bb["y"] + (y + h) * sy, steps=8)
    page.mouse.up()


if __name__ == "__main__":
    main()
