"""The static HTML leaderboard (`bench leaderboard --html`): written, self-contained, deterministic,
Chinese prompt texts present; and, with headless Chromium (marker `browser`), loaded from file://
without console errors or network requests, sortable by clicking a header, screenshotted."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from test_leaderboard import LP, write_lp_grid, write_record
from vlpbench.app.cli import main
from vlpbench.report.fonts import CSS_FONT_FAMILY, cjk_font, cjk_rc
from vlpbench.report.leaderboard import build_leaderboards

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshot_site.py"
PROTOCOL_GAIN = {"term": 0.0, "template-ensemble": 1.5, "knowledge": -1.0}
ZSC_GAIN = {"random-init": -15.0, "clip": 0.0, "wsc-sa": 0.1, "wsc": 2.0, "clip-be": -16.0}


def _screenshot_module():
    spec = importlib.util.spec_from_file_location("screenshot_site", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


screenshot_site = _screenshot_module()


def write_records(root: Path, shuffle: int | None = None) -> None:
    """linear-probe (3 strategies × 2 datasets × 5 seeds) and ood-zsc with the three prompt
    protocols (5 strategies × 2 datasets × 3 seeds, text language zh; the same noise per (dataset,
    seed) for every strategy, and wsc-sa's own jitter: wsc-sa is equivalent to clip, not significantly different;
    clip-be below random-init)."""
    write_lp_grid(root)
    rng = np.random.default_rng(0)
    noise = {(d, seed): rng.normal(0.0, 1.0, size=3) for d in ("syn-fives", "syn-refuge") for seed in range(3)}
    jitter = dict(zip(noise, [0.3, -0.2, -0.25, 0.2, 0.1, -0.15]))
    items = [(s, d, seed, noise[(d, seed)]) for s in ZSC_GAIN for (d, seed) in noise]
    if shuffle is not None:
        random.Random(shuffle).shuffle(items)
    for s, d, seed, noise in items:
        base = 70.0 + ZSC_GAIN[s] + noise[0] + (jitter[(d, seed)] if s == "wsc-sa" else 0.0)
        protocols = {p: {"auc": base + gain + noise[1], "map": base - 30 + noise[2]} for p, gain in PROTOCOL_GAIN.items()}
        write_record(root, s, "ood-zsc", d, seed, dict(protocols["term"]), extra={"protocols": protocols, "protocol": "term"},
                     config={"seed": seed, "encoders": {"text": {"language": "zh"}}})


def write_tsne(out: Path) -> None:
    """A t-SNE PNG as `bench plot tsne` leaves it in the leaderboard folder."""
    (out / "figures").mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), 128, dtype=np.uint8)).save(out / "figures" / "tsne-clip-syn-fives.png")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The same records written twice (the second time in another order), each built with --html."""
    root = tmp_path_factory.mktemp("site")
    write_tsne(root / "lb-a")
    write_tsne(root / "lb-b")
    write_records(root / "a")
    assert main(["leaderboard", "--results", str(root / "a"), "--out", str(root / "lb-a"), "--html", str(root / "site-a")]) == 0
    write_records(root / "b", shuffle=1)
    paths = build_leaderboards(root / "b", root / "lb-b", html=root / "site-b")
    return root, paths


def _html_files(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [(tag, name, value) for name, value in attrs.items() if name in ("src", "href", "srcset", "data") and value]
        if tag == "script":
            self.scripts.append(attrs)


def _links(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_site_is_written(built):
    root, paths = built
    site = root / "site-b"
    names = {p.relative_to(site).as_posix() for p in paths if site in p.parents}
    assert {"index.html", "linear-probe.html", "ood-zsc.html", "prompt-sensitivity.html"} <= names
    assert {"figures/cd-linear-probe.svg", "figures/winrate-linear-probe.svg", "figures/cd-ood-zsc.svg"} <= names
    assert {"data/linear-probe.csv", "data/linear-probe-statistics.csv", "data/linear-probe-pairwise.csv",
            "data/ood-zsc.csv", "data/prompt-sensitivity.csv"} <= names
    assert not list((root / "lb-b").rglob("*.html"))  # the markdown folder gets no HTML
    for csv in site.glob("data/*.csv"):  # the downloads are the CSVs of the markdown build
        assert csv.read_bytes() == (root / "lb-b" / csv.name).read_bytes()
    page = (site / "linear-probe.html").read_text(encoding="utf-8")
    assert "<details>" in page and "syn-odir" in page and 'data-v="' in page  # per-dataset drill-down, sort keys
    assert "†" in page and "Mean rank [95 % CI]" in page and "Verdict vs clip" in page
    zsc = (site / "ood-zsc.html").read_text(encoding="utf-8")
    assert "▽" in zsc  # clip-be is below random-init
    assert zsc.count('class="mark eq"') == 1 and "≡ equivalent" in zsc  # wsc-sa vs clip, on Avg AUC
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "- profile" not in index and "profile: quick" in index and "config hash: ab12cd34ef56" in index
    assert "git abc1234" in index and "date: 2026-11-24" in index
    for name in ("mae", "clip", "wsc", "random-init", "clip-be"):  # one overview row per strategy
        assert f'class="name">{name}</td>' in index
    assert 'href="linear-probe.html"' in index and 'href="data/linear-probe.csv"' in index
    # the overview leads with a headline per task, then the cost-against-rank scatter; figures sit on their task's page
    assert index.index('id="headline"') < index.index('id="pareto"') < index.index("<h2>Overview</h2>")
    assert index.index('id="headline"') < index.index('class="provenance"')  # the answer first, then where it came from
    headline = index[index.index('id="headline"'):index.index('id="pareto"')]
    assert "<strong>Linear probing</strong> (<code>linear-probe</code>): best <code>wsc</code>" in headline
    assert "Δ vs <code>clip</code> +1.00 [+0.79, +1.21]: better" in headline and "What this grid can detect" in headline
    assert 'src="figures/pareto.svg"' in index and (site / "figures" / "pareto.svg").is_file()
    assert "tsne-clip-syn-fives.png" not in index and 'src="figures/tsne-clip-syn-fives.png"' in zsc  # syn-fives: ood-zsc


def test_site_is_self_contained(built):
    root, _ = built
    _assert_self_contained(root / "site-a", root)
    assert "WenQuanYi Micro Hei" in (root / "site-a" / "index.html").read_text(encoding="utf-8")  # CJK fallback font in the CSS


def _assert_self_contained(site: Path, root: Path) -> None:
    """One inline script, no stylesheet or URL outside the folder, every link resolving in it."""
    for page in _html_files(site):
        parsed = _links(page)
        assert parsed.scripts == [{}], f"{page.name}: only the one inline script"
        text = page.read_text(encoding="utf-8")
        assert str(root) not in text, f"{page.name}: an absolute path of this machine"
        assert "<link rel=\"stylesheet\"" not in text and "@import" not in text and "url(" not in text
        for tag, attribute, value in parsed.links:
            assert not value.startswith(("http:", "https:", "//", "file:", "/")), f"{page.name}: <{tag} {attribute}={value}>"
            if value.startswith(("#", "data:")):
                continue
            target = site / unquote(urlparse(value).path)
            assert target.is_file(), f"{page.name}: <{tag} {attribute}={value}> does not resolve in the site folder"


def test_site_is_byte_identical_on_a_second_build(built):
    root, _ = built
    a = {p.relative_to(root / "site-a"): p.read_bytes() for p in sorted((root / "site-a").rglob("*")) if p.is_file()}
    b = {p.relative_to(root / "site-b"): p.read_bytes() for p in sorted((root / "site-b").rglob("*")) if p.is_file()}
    assert list(a) == list(b)
    assert [name for name in a if a[name] != b[name]] == []


def test_prompt_sensitivity_page_has_chinese_prompts(built):
    root, _ = built
    page = (root / "site-a" / "prompt-sensitivity.html").read_text(encoding="utf-8")
    assert "Prompt texts (zh)" in page
    for text in ("正常眼底", "糖尿病视网膜病变", "青光眼", "眼底可见{}", "诊断：{}"):
        assert text in page
    assert 'lang="zh"' in page
    assert page.index(">term<") < page.index(">template-ensemble<") < page.index(">knowledge<")  # protocol order
    assert "syn-fives" in page and "syn-refuge" in page  # per-dataset drill-down


# ---------------------------------------------------------------- released models


def write_model_records(root: Path) -> None:
    """Released-model records beside the strategies': `retfound-mae` (image-only) on linear-probe
    (5 seeds) and ood-zsc (n/a), `vilref-rn50` on ood-zsc (deterministic: one record per dataset)."""
    retfound = {"family": "retfound-mae", "title": "RETFound (CFP)", "source": "https://huggingface.co/YukunZhou/RETFound_mae_natureCFP",
                "licence": "CC BY-NC 4.0", "backbone": "ViT-L/16 (1024-d) @224px", "input_size": 224, "language": ""}
    vilref = {"family": "vilref-rn50", "title": "ViLReF (RN50)", "source": "https://github.com/T6Yang/ViLReF", "licence": "not stated",
              "backbone": "ResNet50 (2048-d) @224px", "input_size": 224, "language": "zh"}
    image = [{"tower": "image", "file": "RETFound_mae_natureCFP.pth", "fraction": 1.0, "unused_release_tensors": 30}]
    both = [{**image[0], "file": "ViLReF_RN50.pt", "unused_release_tensors": 2}, {"tower": "text", "file": "ViLReF_RN50.pt", "fraction": 0.98}]
    for d in ("syn-odir", "syn-rfmid"):
        for seed in range(5):
            write_record(root, "retfound-mae", "linear-probe", d, seed, {"auc": 80.0 + seed, "map": 50.0}, external=retfound, weights_loaded=image)
    for d in ("syn-fives", "syn-refuge"):
        write_record(root, "retfound-mae", "ood-zsc", d, 0, {}, status="n/a", external=retfound, weights_loaded=image)
        write_record(root, "vilref-rn50", "ood-zsc", d, 0, {"auc": 64.5, "map": 30.0}, external=vilref, weights_loaded=both)


@pytest.fixture(scope="module")
def with_models(tmp_path_factory):
    """The `built` records plus released-model records, built with --html."""
    root = tmp_path_factory.mktemp("site-models")
    write_records(root / "r")
    write_model_records(root / "r")
    assert main(["leaderboard", "--results", str(root / "r"), "--out", str(root / "lb"), "--html", str(root / "site")]) == 0
    return root


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end, page.index(start))]


def test_released_models_have_their_own_section_on_each_task_page(with_models, built):
    site, plain = with_models / "site", built[0] / "site-a"
    lp = (site / "linear-probe.html").read_text(encoding="utf-8")
    released = _section(lp, '<h2 id="released">', "<h2>Statistics")
    for text in ("RETFound (CFP)", "<code>retfound-mae</code>", "ViT-L/16 (1024-d) @224px", "82.00 (1.58)", "CC BY-NC 4.0",
                 "https://huggingface.co/YukunZhou/RETFound_mae_natureCFP", "image 100%", 'href="foundation-models.html"'):
        assert text in released, text
    zsc = _section((site / "ood-zsc.html").read_text(encoding="utf-8"), '<h2 id="released">', "<h2>Statistics")
    assert "ViLReF (RN50)" in zsc and "64.50" in zsc and "image 100%, text 98%" in zsc and ">n/a<" in zsc
    for name in ("linear-probe.html", "ood-zsc.html"):  # the strategies' table is the site's without released models
        ours, theirs = ((folder / name).read_text(encoding="utf-8") for folder in (site, plain))
        assert _section(ours, "<h2>Leaderboard</h2>", "<dl") == _section(theirs, "<h2>Leaderboard</h2>", "<dl")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "retfound-mae" not in index.split('id="downloads"')[0]  # not a row of the overview
    assert 'href="data/foundation-models.md"' in index and 'href="foundation-models.html"' in index


def test_foundation_models_page_is_the_markdown_tables(with_models):
    site = with_models / "site"
    page = (site / "foundation-models.html").read_text(encoding="utf-8")
    assert "<h1>Released foundation models and vlpbench strategies (ViLReF Tables VI–VIII layout)</h1>" in page
    assert "<h2>Table VII layout — prompt-based OOD zero-shot classification (%) (<code>ood-zsc</code>)</h2>" in page
    assert "ViLReF (RN50)" in page and "wsc (vlpbench)" in page and 'aria-current="page">Released models<' in page
    assert (site / "data" / "foundation-models.md").read_bytes() == (with_models / "lb" / "foundation-models.md").read_bytes()
    _assert_self_contained(site, with_models)


def test_no_released_models_no_foundation_page(built):
    site = built[0] / "site-a"
    assert not (site / "foundation-models.html").exists()
    assert all("Released" not in page.read_text(encoding="utf-8") for page in _html_files(site))


def test_html_is_off_by_default_and_adds_to_the_markdown(tmp_path):
    write_lp_grid(tmp_path / "r")
    markdown = build_leaderboards(tmp_path / "r", tmp_path / "md")
    assert not [p for p in markdown if p.suffix == ".html"] and not list(tmp_path.rglob("*.html"))
    both = build_leaderboards(tmp_path / "r", tmp_path / "lb", html=tmp_path / "lb")  # the site folder may be --out
    assert (tmp_path / "lb" / "index.html").is_file() and (tmp_path / "lb" / "figures" / "cd-linear-probe.svg").is_file()
    for path in markdown:  # the markdown build's files are unchanged by the site
        assert (tmp_path / "lb" / path.relative_to(tmp_path / "md")).read_bytes() == path.read_bytes()
    assert set(markdown) < {tmp_path / "md" / p.relative_to(tmp_path / "lb") for p in both}


# ---------------------------------------------------------------- fonts


def test_ascii_figures_are_unchanged_by_the_cjk_fallback():
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def svg(rc: dict) -> bytes:
        with matplotlib.rc_context({"svg.hashsalt": "t", "svg.fonttype": "path", **rc}):
            figure, axis = plt.subplots(figsize=(2, 1))
            axis.set_title("clip 0.5")
            out = io.BytesIO()
            figure.savefig(out, format="svg", metadata={"Date": None})
            plt.close(figure)
        return out.getvalue()

    assert svg(cjk_rc()) == svg({})


@pytest.mark.skipif(cjk_font() is None, reason="no CJK font installed (apt-get install fonts-wqy-microhei)")
def test_chinese_renders_in_matplotlib_with_the_cjk_font():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert cjk_font() in CSS_FONT_FAMILY
    with warnings.catch_warnings(record=True) as caught, matplotlib.rc_context(cjk_rc()):
        warnings.simplefilter("always")
        figure, axis = plt.subplots(figsize=(2, 1))
        axis.set_title("正常眼底 normal")
        figure.canvas.draw()
        plt.close(figure)
    assert not [w for w in caught if "missing from" in str(w.message)]


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def driver():
    reason = screenshot_site.missing()
    if reason:
        pytest.skip(f"browser tests need headless Chromium: {reason}")
    browser = screenshot_site.headless_chromium()
    yield browser
    browser.quit()


def _load(driver, page: Path) -> tuple[list[dict], list[str]]:
    """Open `page` from disk; its console entries and the URLs it requested."""
    for log in ("browser", "performance"):  # drop what earlier pages logged
        driver.get_log(log)
    driver.get(page.resolve().as_uri())
    console = driver.get_log("browser")
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return console, urls


def _first_column(driver, table_id: str) -> list[str]:
    rows = driver.find_elements("css selector", f"#{table_id} tbody tr")
    return [row.find_element("css selector", "td").text for row in rows]


@pytest.mark.browser
@pytest.mark.parametrize("name", ["index.html", "linear-probe.html", "ood-zsc.html", "prompt-sensitivity.html"])
def test_pages_load_from_disk_without_errors_or_network(built, driver, name):
    root, _ = built
    console, urls = _load(driver, root / "site-a" / name)
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    assert any(url.startswith("file://") and url.endswith(name) for url in urls)
    assert [url for url in urls if not url.startswith(("file://", "data:"))] == []
    images = driver.execute_script("return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
    assert all(ok for _, ok in images), images
    if name == "index.html":  # the headline per task and the Pareto scatter are shown, before the overview table
        assert driver.find_element("css selector", "#headline").is_displayed()
        assert "best wsc" in driver.find_element("css selector", ".headline").text
        assert ["figures/pareto.svg", True] in images


@pytest.mark.browser
@pytest.mark.parametrize("name", ["linear-probe.html", "foundation-models.html"])
def test_pages_with_released_models_load_without_errors_or_network(with_models, driver, name):
    console, urls = _load(driver, with_models / "site" / name)
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    assert [url for url in urls if not url.startswith(("file://", "data:"))] == []


@pytest.mark.browser
def test_clicking_a_header_sorts_the_rows(built, driver):
    root, _ = built
    _load(driver, root / "site-a" / "linear-probe.html")
    assert _first_column(driver, "leaderboard") == ["mae", "clip", "wsc"]  # registry order
    header = next(th for th in driver.find_elements("css selector", "#leaderboard thead th") if th.text.startswith("Avg AUC"))
    header.click()  # first click on a score: best first
    assert _first_column(driver, "leaderboard") == ["wsc", "clip", "mae"]
    assert header.get_attribute("aria-sort") == "descending"
    header.click()
    assert _first_column(driver, "leaderboard") == ["mae", "clip", "wsc"]
    rank = next(th for th in driver.find_elements("css selector", "#leaderboard thead th") if th.text.startswith("Mean rank"))
    rank.click()  # first click on a rank: rank 1 first
    assert _first_column(driver, "leaderboard") == ["wsc", "clip", "mae"]
    _load(driver, root / "site-a" / "index.html")
    before = _first_column(driver, "overview")
    rank = next(th for th in driver.find_elements("css selector", "#overview thead tr:last-child th") if th.text.startswith("rank"))
    rank.click()
    after = _first_column(driver, "overview")
    assert after != before and sorted(after) == sorted(before)
    means = {s: np.mean([np.mean(LP[(s, d)]["auc"]) for d in ("syn-odir", "syn-rfmid")]) for s in ("mae", "clip", "wsc")}
    assert [s for s in after if s in means] == sorted(means, key=means.get, reverse=True)  # linear-probe ranks follow the AUC


@pytest.mark.browser
def test_screenshot_of_the_overview(built, driver, tmp_path):
    root, _ = built
    out = Path(os.environ.get("VLPBENCH_SITE_SCREENSHOT", tmp_path / "overview.png"))
    screenshot_site.screenshot(root / "site-a", out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
