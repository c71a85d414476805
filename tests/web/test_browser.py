"""End to end in a real browser: type a prompt, watch the progress bar move, find the
image in the gallery, open it, "use these settings", regenerate: the same pixels. And a
sweep from its form: the grid fills in cell by cell, then its contact sheet appears.

Headless Chromium (Debian's, driven by Playwright) against a real uvicorn server in a
thread, with a temporary data folder and a token, on the built-in diffusion model. The
server and browser set-up is the one docs/make_studio_screenshots.py uses.
"""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "browser-test-token"
PROMPT = "a large red circle"
TIMEOUT_MS = 180_000  # the first job also loads the model, slowly on a busy CPU

if importlib.util.find_spec("playwright") is None:
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

# Records every value the progress bars of new job cards take.
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  new MutationObserver((changes) => {
    for (const change of changes) {
      window.progressSeen.push(Number(change.target.getAttribute("aria-valuenow")));
    }
  }).observe(document.getElementById("jobs"),
             {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});
}"""


# Records, from the start of every page, how many of a sweep grid's cells hold a picture
# after each change to the page.
RECORD_CELLS = """
window.cellsSeen = [];
new MutationObserver(() => {
  const made = document.querySelectorAll("[data-sweep] td[data-cell] img").length;
  if (window.cellsSeen.at(-1) !== made) window.cellsSeen.push(made);
}).observe(document, {subtree: true, childList: true});
"""


# Records every text each job card's status line shows, by job id, across redraws.
RECORD_STATUSES = """() => {
  window.statusesSeen = {};
  const record = () => {
    for (const card of document.querySelectorAll("#jobs .job")) {
      const status = card.querySelector("[data-role=status]");
      if (!status) continue;
      const texts = (window.statusesSeen[card.dataset.job] ||= []);
      const text = status.textContent.replace(/\\s+/g, " ").trim();
      if (texts.at(-1) !== text) texts.push(text);
    }
  };
  new MutationObserver(record).observe(document.getElementById("jobs"),
    {subtree: true, childList: true, characterData: true});
}"""


def screenshots_script() -> ModuleType:
    path = ROOT / "docs" / "make_studio_screenshots.py"
    spec = importlib.util.spec_from_file_location("make_studio_screenshots", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Page]]:
    """(base URL, page) for a fresh server with a token, already signed in by ?token=."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    setup = screenshots_script()
    errors: list[str] = []
    with setup.serve(tmp_path / "data", token=TOKEN) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=setup.CHROMIUM_ARGS
        )
        page = browser.new_page(viewport=setup.VIEWPORT)
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{base}/?token={TOKEN}")
        yield base, page
        browser.close()
    assert errors == [], errors  # no script error on any page


def generate(page: Page) -> int:
    """Press Generate, wait for the finished card, return its image's id."""
    count = page.locator("#jobs .job").count()
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#jobs .job")).to_have_count(count + 1)
    card = page.locator("#jobs .job").first
    link = card.locator(".thumbs a")
    expect(link).to_have_count(1, timeout=TIMEOUT_MS)
    expect(card).to_have_attribute("data-state", "done")
    return int(link.get_attribute("href").rsplit("/", 1)[1])


def pixels(page: Page, base: str, image_id: int) -> bytes:
    from PIL import Image

    response = page.request.get(f"{base}/api/images/{image_id}/file")
    assert response.ok, response.status
    return Image.open(io.BytesIO(response.body())).convert("RGB").tobytes()


def test_generate_gallery_use_these_settings_same_pixels(studio: tuple[str, Page]) -> None:
    base, page = studio
    # Choosing the model brings its tuned settings.
    page.select_option("#model", "builtin")
    expect(page.locator("#steps")).to_have_value("8")
    expect(page.locator("#sampler option")).to_have_count(2)  # a flow-matching model
    page.fill("#prompt", PROMPT)
    page.fill("#steps", "30")  # steps enough to see the bar pass through
    page.evaluate(WATCH_PROGRESS)
    first = generate(page)

    seen = page.evaluate("window.progressSeen")
    assert any(0 < value < 100 for value in seen), seen
    assert len(set(seen)) >= 3 and seen == sorted(seen), seen

    page.click("nav >> text=Gallery")
    card = page.locator(".grid .card")
    expect(card).to_have_count(1)
    expect(card.locator(".caption")).to_have_text(PROMPT)
    card.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/images/{first}$"))
    expect(page.locator("h1.prompt")).to_have_text(PROMPT)

    page.click("text=Use these settings")
    expect(page.locator("#prompt")).to_have_value(PROMPT)
    expect(page.locator("#model")).to_have_value("builtin")
    expect(page.locator("#steps")).to_have_value("30")
    seed = page.input_value("#seed")
    assert seed.isdigit(), seed  # the random seed, now fixed
    second = generate(page)

    assert second != first
    assert pixels(page, base, second) == pixels(page, base, first)


def test_form_helpers_and_one_line_errors(studio: tuple[str, Page]) -> None:
    _, page = studio
    prompt = page.locator("#prompt")
    chip = page.locator("button[data-descriptor='at night']")
    page.fill("#prompt", "two yellow stars")
    chip.click()
    expect(prompt).to_have_value("two yellow stars, at night")
    expect(chip).to_have_attribute("aria-pressed", "true")
    chip.click()  # a second click takes it out again
    expect(prompt).to_have_value("two yellow stars")

    # Shapes World ignores sampling settings: they are greyed out and not sent.
    page.select_option("#model", "procedural")
    expect(page.locator("#steps")).to_be_disabled()
    expect(page.locator("#ignored-note")).to_be_visible()
    page.select_option("#model", "builtin")
    expect(page.locator("#steps")).to_be_enabled()

    page.fill("#seed", "99999999999")  # past the 32-bit seeds A1111 uses
    page.click("#generate-form button[type=submit]")
    error = page.locator("#form-error .error")
    expect(error).to_contain_text("seed=99999999999 is invalid")
    expect(page.locator("#jobs .job")).to_have_count(0)
    page.click("[data-random-seed]")
    expect(page.locator("#seed")).to_have_value("-1")


def test_sweep_grid_fills_in_cell_by_cell(studio: tuple[str, Page]) -> None:
    base, page = studio
    page.add_init_script(RECORD_CELLS)
    page.goto(f"{base}/sweep")
    page.select_option("#model", "builtin")
    page.fill("#prompt", "a red circle")
    page.fill("#axis-x", "seed=1-3")
    page.fill("#axis-y", "sr=red,blue")
    page.fill("#steps", "10")  # slow enough per cell that the grid is seen part-filled
    page.click("#sweep-form button[type=submit]")

    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    grid = page.locator("[data-sweep]")
    expect(grid.locator("td[data-cell]")).to_have_count(6)
    expect(grid.locator("th[scope=col]")).to_have_text(["Prompt S/R \\ seed", "1", "2", "3"])
    expect(grid.locator("th[scope=row]")).to_have_text(["red", "blue"])
    sheet = page.locator("#jobs .thumbs.sheets img")
    expect(sheet).to_have_count(1, timeout=TIMEOUT_MS)
    # When the job ends the grid is fetched again: each cell links to its gallery image.
    expect(grid.locator("td a[href^='/images/']")).to_have_count(6)

    seen = page.evaluate("window.cellsSeen")
    assert any(0 < made < 6 for made in seen), seen  # filled while running, not at the end
    assert seen == sorted(seen) and seen[-1] == 6, seen


def test_waiting_jobs_move_up_the_queue(studio: tuple[str, Page]) -> None:
    _, page = studio
    page.evaluate(RECORD_STATUSES)
    page.select_option("#model", "builtin")
    page.fill("#prompt", "a small blue square")
    page.fill("#steps", "12")
    for count in (1, 2, 3):
        page.click("#generate-form button[type=submit]")
        expect(page.locator("#jobs .job")).to_have_count(count)
    third = page.locator("#jobs .job").first.get_attribute("data-job")  # newest on top
    expect(page.locator("#jobs .job[data-state=done]")).to_have_count(3, timeout=TIMEOUT_MS)
    # While the second job ran, the third card said it was next, without a reload. (A
    # recorder, not polling: with fast jobs that text may show for well under a second.)
    seen = page.evaluate(f"window.statusesSeen[{third}] || []")
    waiting = [text for text in seen if "in the queue" in text]
    assert any("number 2 in the queue" in text for text in waiting), seen
    assert any("number 1 in the queue" in text for text in waiting), seen
