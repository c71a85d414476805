"""Regenerate the studio screenshots of the README with a real server and browser.

    python docs/make_studio_screenshots.py

Starts the studio on a free local port with a temporary data folder, fills its gallery
with a dozen Shapes World images, and saves docs/images/studio-generate.png and
docs/images/studio-gallery.png (1280x800), taken with Debian's Chromium through
Playwright (`apt-get install chromium`).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from genlab.web.app import create_app
from genlab.web.settings import Settings

OUT = Path(__file__).parent / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
# Twelve scenes in Shapes World's own words, so every one draws what it says.
GALLERY_PROMPTS = (
    "a large red circle left of a small blue square at golden hour",
    "two small yellow stars above a large purple hexagon at night",
    "a green triangle below an orange heart on a white background",
    "three small pink hearts on a blue background, watercolour style",
    "a large cyan hexagon right of a small black star at sunset",
    "a purple square above a yellow circle, outlined style",
    "two large orange triangles on a green background at noon",
    "a small white star over a large blue circle at night",
    "a red heart left of a cyan square in overcast light",
    "a large yellow hexagon below two small red circles, flat style",
    "a brown square right of a pink triangle at golden hour",
    "three small blue stars on a yellow background, watercolour style",
)


@contextmanager
def serve(data_dir: Path, token: str | None = None) -> Iterator[str]:
    """The studio on a free local port, in a thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(Settings(data_dir=data_dir, port=port, token=token))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the studio server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def fill_gallery(page: Page, base: str) -> None:
    """Queue the scenes through the JSON API and wait until all are in the gallery."""
    for seed, prompt in enumerate(GALLERY_PROMPTS):
        body = {"kind": "generate", "prompt": prompt, "model": "procedural", "seed": seed}
        body.update(width=256, height=256)
        response = page.request.post(f"{base}/api/jobs", data=body)
        assert response.ok, response.text()
    deadline = time.monotonic() + 120
    while page.request.get(f"{base}/api/images?limit=1").json()["total"] < len(GALLERY_PROMPTS):
        if time.monotonic() > deadline:
            raise RuntimeError("the gallery did not fill in two minutes")
        time.sleep(0.2)


def generate_page(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    page.select_option("#model", "procedural")
    page.fill("#prompt", "two small yellow stars above a large purple hexagon")
    page.click("button[data-descriptor='at golden hour']")
    page.fill("#width", "256")
    page.fill("#height", "256")
    page.fill("#seed", "42")
    page.fill("#batch_size", "4")
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#jobs .job[data-state=done] .thumbs img")).to_have_count(4, timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=OUT / "studio-generate.png")


def gallery_page(page: Page, base: str) -> None:
    page.goto(f"{base}/gallery")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / "studio-gallery.png")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as folder,
        serve(Path(folder) / "data") as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        fill_gallery(page, base)
        gallery_page(page, base)
        generate_page(page, base)
        browser.close()
    print(f"wrote {OUT / 'studio-generate.png'} and {OUT / 'studio-gallery.png'}")


if __name__ == "__main__":
    main()
