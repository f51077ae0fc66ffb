"""Screenshot the overview page of a static leaderboard site (`bench leaderboard --html SITE`).

    .venv/bin/python scripts/screenshot_site.py SITE_DIR OUT.png [--width 1400] [--height 900] [--viewport]

Opens SITE_DIR/index.html from disk in headless Chromium driven by selenium and saves a PNG of the
whole page (`--viewport`: only the first screen). Needs Debian's `chromium` and `chromium-driver`
(`apt-get install -y chromium chromium-driver fonts-wqy-microhei`) and selenium (the `dev`
extras). tests/test_site.py drives the browser through `headless_chromium` below, so the test
and this script share one setup. No network: the driver is the installed chromedriver.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import sys
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver",)
#: the driver logs tests read: console messages and network events
LOGGING = {"browser": "ALL", "performance": "ALL"}


def _first(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def missing() -> str | None:
    """Why headless Chromium cannot be driven here, or None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if _first(BROWSERS) is None:
        return f"no Chromium binary on PATH (tried {', '.join(BROWSERS)}; apt-get install chromium)"
    if _first(DRIVERS) is None:
        return "no chromedriver on PATH (apt-get install chromium-driver)"
    return None


def headless_chromium(width: int = 1400, height: int = 900):
    """A selenium driver for the installed headless Chromium with console and network logging on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    reason = missing()
    if reason:
        raise RuntimeError(reason)
    options = Options()
    options.binary_location = _first(BROWSERS)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                     "--force-device-scale-factor=1", "--hide-scrollbars", "--lang=en-US", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-default-apps"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", LOGGING)
    return webdriver.Chrome(service=Service(executable_path=_first(DRIVERS)), options=options)


def screenshot(site_dir: Path, out: Path, width: int = 1400, height: int = 900, full_page: bool = True) -> Path:
    """Save a PNG of SITE_DIR/index.html (the whole page unless `full_page` is False)."""
    index = Path(site_dir).resolve() / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"{index}: no index.html (write the site with `bench leaderboard --html {site_dir}`)")
    driver = headless_chromium(width, height)
    try:
        driver.get(index.as_uri())
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if full_page:  # the DevTools protocol captures beyond the window
            size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": max(width, size["width"]), "height": max(height, size["height"]), "scale": 1}
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
            out.write_bytes(base64.b64decode(shot["data"]))
        elif not driver.save_screenshot(str(out)):
            raise RuntimeError(f"{out}: chromium returned no screenshot")
    finally:
        driver.quit()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="folder written by `bench leaderboard --html`")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--viewport", action="store_true", help="only the first screen, not the whole page")
    args = parser.parse_args(argv)
    reason = missing()
    if reason:
        print(f"screenshot_site: {reason}", file=sys.stderr)
        return 2
    print(f"wrote {screenshot(args.site, args.out, args.width, args.height, not args.viewport)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
