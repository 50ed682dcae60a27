"""The `videovq ui` page in a real headless browser (Debian's chromium, driven by Playwright): upload a tiny video,
draw a box around its logo, inpaint with the model-free setting, see the result and its download link.

Skipped only where chromium is not installed, and never in CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
from fractions import Fraction

import pytest

from conftest import clip_with_logo
from videovq.io.video import read_video, write_video
from videovq.ui.app import create_app
from videovq.ui.server import BackgroundServer

# What Chromium needs on these machines: no sandbox as root, no GPU, and no background connections (the network
# is closed, and the browser must not phone home anyway).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip

JOB_FINISHED = "['done', 'failed'].includes(document.getElementById('job-state').dataset.state)"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get (chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def test_page_uploads_draws_inpaints_and_shows_the_result(tmp_path, tiny_tokenizer_dir):
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    frames, (x, y, w, h) = clip_with_logo()
    video = write_video(tmp_path / "logo.mkv", frames, Fraction(25))
    workdir = tmp_path / "work"
    app = create_app(workdir, tokenizer=tiny_tokenizer_dir)
    problems: list[str] = []
    with BackgroundServer(app) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith(server.url) else problems.append(f"request {r.url}"))
        page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        page.goto(server.url)

        page.set_input_files("#upload", str(video))
        expect(page.locator("#status")).to_contain_text("12 frames, 64x48", timeout=120_000)
        expect(page.locator("#video")).to_have_value("logo.mkv")

        drag_box(page, x - 1, y - 1, x + w + 1, y + h + 1)
        expect(page.locator("#objects li")).to_have_count(1)
        page.locator("#scrub").fill("6")  # the box holds on other frames
        expect(page.locator("#frame-label")).to_have_text("frame 6 / 11")
        page.check("#preview")

        page.select_option("#preset", "membrane")
        page.click("#run")
        try:  # generous: a loaded 2-core machine is slow; a failed job ends the wait at once
            page.wait_for_function(JOB_FINISHED, timeout=600_000)
        finally:
            job = f"{page.text_content('#job-state')}\n{page.text_content('#log')}"
        assert page.get_attribute("#job-state", "data-state") == "done", job
        expect(page.locator("#download")).to_be_visible()
        expect(page.locator("#compare")).to_be_visible()
        page.wait_for_function("document.getElementById('result-img').naturalWidth === 64", timeout=60_000)
        href = page.get_attribute("#download", "href")
        assert href == "/files?path=results%2Flogo-membrane.mp4"
        browser.close()
    assert problems == []
    result = read_video(workdir / "results" / "logo-membrane.mp4")
    assert result.shape == frames.shape
    assert result[:, y : y + h, x : x + w].mean() < 200  # the white logo was filled in


def drag_box(page, x0: float, y0: float, x1: float, y1: float) -> None:
    """Drag on the canvas from video pixel (x0, y0) to (x1, y1) (the canvas is scaled to the page's width)."""
    canvas = page.locator("#canvas")
    box = canvas.bounding_box()
    width, height = (int(v) for v in canvas.evaluate("c => [c.width, c.height]"))
    sx, sy = box["width"] / width, box["height"] / height
    page.mouse.move(box["x"] + x0 * sx, box["y"] + y0 * sy)
    page.mouse.down()
    page.mouse.move(box["x"] + x1 * sx, box["y"] + y1 * sy, steps=5)
    page.mouse.up()


def test_chromium_is_required_in_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        chromium_path()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        chromium_path()
