"""The audit page: one HTML file that works from disk, in a real headless Chromium; real
images of a restricted source stay out unless asked for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory.cli import build_app
from factory.ingest.sources.terms import adapter_terms
from factory.package.audit import build_report, real_choice
from factory.package.dataset import read_rows

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium` (scripts/setup.sh)
SCREENSHOT_COPY = Path("/tmp/factory-audit-screenshot.png")


def restricted(set_dir: Path) -> None:
    """Make the set's recorded source INbreast (no redistribution)."""
    path = set_dir / "lineage.json"
    lineage = json.loads(path.read_text())
    lineage["source"]["record"] = {
        "adapter": "inbreast",
        "dataset": {"id": "inbreast", "name": "INbreast", "synthetic": False, "marker": None},
        "terms": adapter_terms("inbreast").as_dict(),
    }
    path.write_text(json.dumps(lineage))


def test_real_images_only_when_the_terms_or_the_user_allow(packaged, upstream, tmp_path):
    set_dir, _ = packaged
    ingest = upstream.root / "outputs" / "ingest"
    page = build_report(set_dir, tmp_path / "open.html", real=ingest).read_text()
    assert 'class="grid real"' in page and "allows redistribution" in page  # the phantom
    restricted(set_dir)
    page = build_report(set_dir, tmp_path / "shared.html", real=ingest).read_text()
    assert 'class="grid real"' not in page
    assert "No real image is embedded: the source &#x27;INbreast&#x27; does not allow" in page
    page = build_report(
        set_dir, tmp_path / "private.html", real=ingest, embed_restricted_real=True
    ).read_text()
    assert 'class="grid real"' in page and "embedded on request" in page
    page = build_report(set_dir, tmp_path / "none.html").read_text()
    assert 'class="grid real"' not in page and "no ingest folder was given" in page


def test_real_choice_without_recorded_terms_embeds_nothing(tmp_path):
    choice = real_choice(None, tmp_path, asked=True)
    assert not choice.embed and "records no source terms" in choice.why


def test_page_is_self_contained(packaged, tmp_path):
    set_dir, lineage = packaged
    result = CliRunner().invoke(
        build_app(), ["report", str(set_dir), "--out", str(tmp_path / "a.html")]
    )
    assert result.exit_code == 0, result.output
    page = (tmp_path / "a.html").read_text()
    for external in ("http://", "https://", "<link", 'src="http'):
        assert external not in page.replace(lineage["source"]["record"]["terms"]["url"], "")
    assert page.count("data:image/png;base64,") >= min(lineage["set"]["rows"], 8)


def test_audit_page_in_headless_chromium(packaged, upstream, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    set_dir, lineage = packaged
    acceptance = tmp_path / "acceptance.json"
    acceptance.write_text(
        json.dumps({"accepted": False, "rule_text": "gain CI above 0", "reasons": ["CI crosses 0"]})
    )
    page_file = build_report(
        set_dir,
        tmp_path / "audit.html",
        acceptance=acceptance,
        real=upstream.root / "outputs" / "ingest",
    )
    rows = read_rows(set_dir).sort_values("image_id")
    one = rows.iloc[len(rows) // 2]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        assert page.inner_text("#gate-verdict") == "Gate: passed"
        assert page.inner_text("#benchmark-verdict") == "Benchmark: rejected"
        assert "CI crosses 0" in page.inner_text("body")
        visible = "#images tbody tr:not([hidden])"
        assert page.locator(visible).count() == lineage["set"]["rows"]
        # filter by text, then by class
        page.fill("#filter", one["image_id"])
        assert page.locator(visible).count() == 1
        page.fill("#filter", "")
        cls = lineage["set"]["classes"][int(one["label"])]
        page.select_option("#class-filter", cls)
        assert page.locator(visible).count() == lineage["set"]["per_class"][cls]
        assert page.inner_text("#shown") == str(lineage["set"]["per_class"][cls])
        page.select_option("#class-filter", "")
        # sort by nearest-real NCC distance: the first row is the smallest
        page.click("#images th:nth-child(5)")
        first = page.locator("#images tbody tr").first.get_attribute("data-id")
        assert first == rows.sort_values("nearest_real_ncc").iloc[0]["image_id"]
        # one image's lineage, up to the source data set and its licence
        page.fill("#filter", one["image_id"])
        page.click(f'#images tbody tr[data-id="{one["image_id"]}"]')
        panel = page.inner_text("#lineage")
        assert f"Lineage of {one['image_id']}" in panel
        assert f"seed {int(one['seed'])}" in panel
        assert lineage["model"]["model_hash"] in panel
        assert "embedded phantom (synthetic, INbreast layout)" in panel and "apache-2.0" in panel
        shot = tmp_path / "audit.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not errors, errors
    assert shot.stat().st_size > 10_000
    shutil.copyfile(shot, SCREENSHOT_COPY)  # for a person to look at
