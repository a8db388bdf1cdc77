"""The static site that mkdocs builds from docs/ (``python -m mkdocs build``), opened in headless
Chromium: every page loads, every figure is displayed (no broken image), and the browser logs no
error (issue 21). A screenshot of one page is kept in ``artifacts/`` (git-ignored) for a person to look at.

Chromium and its driver come from Debian's packages (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them); Selenium drives them, and nothing is downloaded.
"""

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = sorted(path.stem for path in (ROOT / "docs").glob("[0-9][0-9]_*.md"))
BROWSER_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1280,1600")  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built with --strict (a broken link or a missing page is an error), served on localhost."""
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("the site test needs headless Chromium: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_the_site_has_a_page_per_article(site):
    notebooks = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) >= 10 and ARTICLES == notebooks  # one rendered article per notebook, none left over


@pytest.mark.parametrize("page", ["", *ARTICLES])
def test_every_page_loads_with_its_figures_and_no_console_error(site, browser, page):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{site}/{page}/" if page else f"{site}/")
    WebDriverWait(browser, 60).until(lambda b: b.execute_script("return document.readyState") == "complete")
    assert browser.title and "404" not in browser.title
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
    broken = [src for src, shown in images if not shown]
    assert not broken, f"broken images on /{page}: {broken}"
    if page:  # every figure of the article is on the page
        figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8"))
        assert len(images) >= len(figures) > 0
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"console errors on /{page}: {errors}"
    if page == "01_lenet5":  # one screenshot, for a person to look at (not in git)
        (ROOT / "artifacts").mkdir(exist_ok=True)
        browser.save_screenshot(str(ROOT / "artifacts" / "site_01_lenet5.png"))
