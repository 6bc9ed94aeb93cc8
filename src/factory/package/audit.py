"""The audit page: one self-contained HTML file about a packaged set (`factory report`).

It opens from disk in any browser, with no server and no network: images are inlined as
data URIs, the table's sorting and filtering is a few lines of plain JavaScript, and the
data is one JSON document inside the page. Everything shown is read from the set itself
(lineage.json, the shards) and, when given, the benchmark's acceptance.json and the
ingest folder; a fact that was not recorded is said to be not recorded.

Real images: none is embedded by default. They are embedded only when the user passes the
ingest folder (`--real outputs/ingest`) AND the source's recorded terms allow
redistribution, or the user explicitly asks (`--embed-restricted-real`) for a page that
is to stay with those licensed for the source. The page says which choice was made and
why. A hand-written page rather than a templating or notebook library: the page must be
one file with no external asset, which a dozen lines of HTML and script give directly.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import FactoryError
from factory.io import atomic_write_text
from factory.package.croissant import source_of
from factory.package.dataset import read_rows
from factory.package.lineage import read_lineage, set_chain

REPORT_FILE = "audit.html"
GRID_PER_CLASS = 8
EXTREMES = 6
THUMB = 96


@dataclass(frozen=True)
class RealChoice:
    """Whether real images are embedded, and the sentence that says why."""

    embed: bool
    why: str


def real_choice(record: Mapping[str, Any] | None, real_dir: Path | None, asked: bool) -> RealChoice:
    """The licence decision for embedding real images (see the module docstring)."""
    if real_dir is None:
        return RealChoice(
            False,
            "No real image is embedded: no ingest folder was given (pass --real "
            "outputs/ingest on the machine that holds it to compare real and synthetic).",
        )
    if record is None:
        return RealChoice(
            False,
            "No real image is embedded: the set records no source terms, so nobody can "
            "tell whether its real images may be shown.",
        )
    terms, name = record["terms"], record["dataset"]["name"]
    if terms["redistribution"]:
        return RealChoice(
            True,
            f"Real images are embedded: the source {name!r} allows redistribution "
            f"({terms['license_name']}).",
        )
    if asked:
        return RealChoice(
            True,
            f"Real images of {name!r} are embedded on request (--embed-restricted-real), "
            f"although its terms forbid redistribution ({terms['license_name']}): keep "
            "this page with people licensed for that data set.",
        )
    return RealChoice(
        False,
        f"No real image is embedded: the source {name!r} does not allow redistribution "
        f"({terms['license_name']}), and this page may be shared. Pass "
        "--embed-restricted-real for a page that stays with licensed people.",
    )


def thumbnail(png: bytes, size: int = THUMB) -> str:
    """A 16-bit PNG as an 8-bit PNG data URI (display only; the set keeps 16 bits)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        pixels = np.asarray(im).astype(np.float64)
    hi = float(pixels.max()) or 1.0
    small = Image.fromarray((pixels / hi * 255).astype(np.uint8))
    small.thumbnail((size, size))
    out = io.BytesIO()
    small.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value)
    return f"{value:.{digits}g}"


# -- what the page says ---------------------------------------------------------------------
def gate_verdict(lineage: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The gate's own verdict and its reasons (Contract 1 rows; never re-derived)."""
    gate = lineage.get("gate") or {}
    checks = gate.get("checks") or (gate.get("metrics") or {}).get("checks") or []
    verdict = gate.get("verdict") or ("passed" if gate.get("passed") else "FAILED")
    failed = [c for c in checks if c.get("gated") and not c.get("passed")]
    gated = [c for c in checks if c.get("gated")]
    if failed:
        reasons = [
            f"{c['metric']} ({c['scope']}): {c['compared']} {number(c['compared_value'])} "
            f"against {c['direction']} {number(c['threshold'])}"
            for c in failed
        ]
    elif gated:
        reasons = [f"every gated check passed: {', '.join(c['metric'] for c in gated)}"]
    else:
        reasons = ["no per-check rows recorded" if not checks else "no check was gated"]
    return str(verdict), reasons


def benchmark_verdict(acceptance: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    """The benchmark's verdict in its own words (Contract 4)."""
    if acceptance is None:
        return "not known", [
            "no acceptance.json was given and the set's lineage carries none (pass "
            "--acceptance outputs/benchmark/acceptance.json)"
        ]
    verdict = "accepted" if acceptance.get("accepted") else "rejected"
    lines = [str(acceptance.get("rule_text") or acceptance.get("reason") or "")]
    lines += [str(r) for r in acceptance.get("reasons") or []]
    lines += [str(e) for e in acceptance.get("evidence") or []]
    return verdict, [line for line in lines if line]


def licence_lines(lineage: Mapping[str, Any]) -> list[str]:
    record = source_of(lineage)
    if record is None:
        return ["Source data set and terms: not recorded in this set's lineage."]
    t, d = record["terms"], record["dataset"]
    lines = [
        f"Source data set: {d['name']} (id {d['id']}, read by the {record.get('adapter')} "
        f"adapter; {'synthetic' if d.get('synthetic') else 'real images'}).",
        f"Licence: {t['license_name']} ({t['license']}); redistribution of derived data "
        f"{'allowed' if t['redistribution'] else 'NOT allowed'}. {t.get('url') or ''}",
    ]
    override = ((lineage.get("publication") or {}).get("terms_override")) or None
    if override:
        lines.append(
            f"Published openly by override: decided by {override['decided_by']} "
            f"({override.get('decided_at', 'time not recorded')}): {override['reason']}"
        )
    return lines


def memorization_threshold(lineage: Mapping[str, Any]) -> float | None:
    metrics = (lineage.get("gate") or {}).get("metrics") or {}
    value = ((metrics.get("memorization") or {}).get("ncc_distance") or {}).get("threshold")
    return float(value) if isinstance(value, int | float) else None


def image_rows(rows: pd.DataFrame, lineage: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One dict per image for the table, the lineage panel and the extremes."""
    classes = lineage["set"]["classes"]
    threshold = memorization_threshold(lineage)
    closest = set(rows.nsmallest(EXTREMES, "nearest_real_ncc")["image_id"])
    out = []
    for r in rows.sort_values("image_id").itertuples(index=False):
        flags = []
        if r.image_id in closest:
            flags.append(f"closest-{EXTREMES}-to-real")
        if threshold is not None and r.nearest_real_ncc <= threshold:
            flags.append("below-memorization-threshold")
        elif threshold is not None and r.nearest_real_ncc <= 2 * threshold:
            flags.append("within-2x-memorization-threshold")
        out.append(
            {
                "id": r.image_id,
                "class": classes[int(r.label)],
                "seed": str(int(r.seed)),  # 64-bit: exact as text (JS numbers are doubles)
                "sampler": f"{r.scheduler}, {int(r.steps)} steps, guidance {r.guidance:g}",
                "ncc": float(r.nearest_real_ncc),
                "feature": float(r.nearest_real_feature_distance),
                "flags": flags,
                "sha256": r.image_sha256,
                "shard": r.shard,
                "model": r.model_hash,
            }
        )
    return out


def chain_for_page(lineage: Mapping[str, Any]) -> dict[str, Any]:
    """The set-level links every image shares: model, manifest, source with licence."""
    chain = set_chain(lineage)
    record = source_of(lineage)
    model = chain["model"]
    return {
        "model": {
            k: model.get(k) for k in ("model_hash", "train_steps", "manifest_sha256", "git_commit")
        },
        "manifest": {k: chain["manifest"].get(k) for k in ("sha256", "counts")},
        "source_files": len(chain["source_files"]["sha256"]),
        "source_split": chain["source_files"]["split"],
        "source": None
        if record is None
        else {**record["terms"], **record["dataset"], "adapter": record.get("adapter")},
        "set": chain["set"],
    }


# -- HTML -----------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ddd;padding:.2rem .4rem}
th{background:#f3f3f3;cursor:pointer;user-select:none}tr.pass td.v{color:#176117}
tr.fail td.v{color:#a40000;font-weight:bold}.grid img{margin:2px;border:1px solid #999}
.verdict{font-size:1.1rem;font-weight:bold}.note{color:#555;font-size:.85rem}
#images tbody tr{cursor:pointer}#images tbody tr:hover{background:#eef}
#lineage{border:2px solid #446;padding:.6rem 1rem;margin-top:1rem;background:#f8f8ff}
#lineage ol{margin:.3rem 0}.flag{background:#ffe9a8;border-radius:3px;padding:0 .3rem}
"""

SCRIPT = """
const DATA = JSON.parse(document.getElementById('audit-data').textContent);
const byId = Object.fromEntries(DATA.images.map(i => [i.id, i]));
const table = document.getElementById('images');
const rows = () => Array.from(table.tBodies[0].rows);
function applyFilter() {
  const text = document.getElementById('filter').value.toLowerCase();
  const cls = document.getElementById('class-filter').value;
  let shown = 0;
  for (const tr of rows()) {
    const ok = tr.textContent.toLowerCase().includes(text) && (!cls || tr.dataset.class === cls);
    tr.hidden = !ok; shown += ok;
  }
  document.getElementById('shown').textContent = shown;
}
document.getElementById('filter').addEventListener('input', applyFilter);
document.getElementById('class-filter').addEventListener('change', applyFilter);
table.tHead.addEventListener('click', e => {
  const th = e.target.closest('th'); if (!th) return;
  const col = th.cellIndex, num = th.dataset.type === 'num';
  const dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir > 0 ? 'asc' : 'desc';
  const key = tr => num ? parseFloat(tr.cells[col].dataset.v) : tr.cells[col].textContent;
  const sorted = rows().sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * dir);
  sorted.forEach(tr => table.tBodies[0].appendChild(tr));
});
function li(text) { const e = document.createElement('li'); e.textContent = text; return e; }
function showLineage(id) {
  const im = byId[id], c = DATA.chain, s = c.source, box = document.getElementById('lineage');
  box.hidden = false; box.querySelector('h3').textContent = 'Lineage of ' + id;
  const ol = box.querySelector('ol'); ol.replaceChildren();
  ol.append(li(`image ${im.id} (${im.class}), sha256 ${im.sha256}, in ${im.shard}; ` +
    `nearest real: NCC distance ${im.ncc.toFixed(4)}, feature distance ${im.feature.toFixed(4)}`));
  ol.append(li(`sampler: ${im.sampler}, seed ${im.seed}`));
  ol.append(li(`model: weights sha256 ${im.model}, ${c.model.train_steps} training steps, ` +
    `git ${c.model.git_commit || 'not recorded'}`));
  ol.append(li(`training manifest: sha256 ${c.manifest.sha256}, ${c.source_files} source ` +
    `files (${c.source_split} split), counts ${JSON.stringify(c.manifest.counts)}`));
  const may = s && s.redistribution ? 'allowed' : 'NOT allowed';
  ol.append(li(s ? `source data set: ${s.name} (id ${s.id}, ${s.adapter} adapter), licence ` +
    `${s.license_name} (${s.license}), redistribution ${may}` +
    (s.url ? `, ${s.url}` : '') : 'source data set: not recorded'));
  box.scrollIntoView();
}
table.tBodies[0].addEventListener('click', e => {
  const tr = e.target.closest('tr'); if (tr) showLineage(tr.dataset.id);
});
"""


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def _verdicts(lineage: Mapping[str, Any], acceptance: Mapping[str, Any] | None) -> str:
    gate, gate_why = gate_verdict(lineage)
    bench, bench_why = benchmark_verdict(acceptance)
    return (
        "<h2>Verdicts</h2>"
        f'<p class="verdict" id="gate-verdict">Gate: {esc(gate)}</p>{_list(gate_why)}'
        f'<p class="verdict" id="benchmark-verdict">Benchmark: {esc(bench)}</p>'
        f"{_list(bench_why)}<h2>Source and licence</h2>{_list(licence_lines(lineage))}"
    )


def _checks_table(lineage: Mapping[str, Any]) -> str:
    gate = lineage.get("gate") or {}
    checks = gate.get("checks") or (gate.get("metrics") or {}).get("checks") or []
    if not checks:
        return "<h2>Gate checks</h2><p>No per-check rows recorded.</p>"
    head = (
        "<tr><th>metric</th><th>scope</th><th>synthetic</th><th>real reference</th>"
        "<th>compared</th><th>threshold</th><th>result</th><th>note</th></tr>"
    )
    body = []
    for c in checks:
        result = ("pass" if c["passed"] else "FAIL") if c.get("gated") else "not gated"
        sd, rsd = c.get("value_sd"), c.get("reference_sd")
        body.append(
            f'<tr class="{"pass" if c["passed"] else "fail"}"><td>{esc(c["metric"])}</td>'
            f"<td>{esc(c['scope'])}</td><td>{number(c['value'])}"
            f"{' ± ' + number(sd) if sd is not None else ''}</td><td>{number(c['reference'])}"
            f"{' ± ' + number(rsd) if rsd is not None else ''}</td>"
            f"<td>{esc(c['compared'])} {number(c['compared_value'])}</td>"
            f"<td>{esc(c['direction'])} {number(c['threshold'])}</td>"
            f'<td class="v">{result}</td><td class="note">{esc(c.get("note"))}</td></tr>'
        )
    return (
        "<h2>Gate checks</h2><p class='note'>Each row: the synthetic set against real train, "
        "beside the real reference (real val against real train, same size).</p>"
        f'<table id="checks"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
    )


def _img(uri: str, title: str) -> str:
    return f'<img src="{uri}" title="{esc(title)}" alt="{esc(title)}">'


def _synthetic_grid(rows: pd.DataFrame, classes: list[str]) -> dict[str, list[str]]:
    grid = {}
    for i, name in enumerate(classes):
        part = rows[rows["label"] == i].sort_values("image_id").head(GRID_PER_CLASS)
        grid[name] = [
            _img(thumbnail(r["image"]["bytes"]), r["image_id"]) for _, r in part.iterrows()
        ]
    return grid


def _real_grid(real_dir: Path, classes: list[str]) -> dict[str, list[str]]:
    """Thumbnails of real train images (no identifier is shown: pseudonyms stay local)."""
    from factory.manifest import read_manifest

    manifest = read_manifest(real_dir / "manifest.parquet")
    train = manifest[manifest["split"] == "train"].sort_values("image_id")
    grid = {}
    for name in classes:
        part = train[train["label"] == name].head(GRID_PER_CLASS)
        grid[name] = [
            _img(thumbnail((real_dir / p).read_bytes()), f"real train image ({name})")
            for p in part["path"]
        ]
    return grid


def _grids(
    rows: pd.DataFrame, classes: list[str], choice: RealChoice, real_dir: Path | None
) -> str:
    synthetic = _synthetic_grid(rows, classes)
    real = _real_grid(real_dir, classes) if choice.embed and real_dir is not None else None
    parts = [f'<h2>Real and synthetic</h2><p id="real-choice">{esc(choice.why)}</p>']
    for name in classes:
        parts.append(f"<h3>{esc(name)}</h3>")
        if real is not None:
            parts.append(f'<p>real (train)</p><div class="grid real">{"".join(real[name])}</div>')
        parts.append(
            f'<p>synthetic</p><div class="grid synthetic">{"".join(synthetic[name])}</div>'
        )
    return "".join(parts)


def _extremes(rows: pd.DataFrame, lineage: Mapping[str, Any]) -> str:
    threshold = memorization_threshold(lineage)
    closest = rows.nsmallest(EXTREMES, "nearest_real_ncc")
    limit = (
        f"the gate's memorization threshold (NCC distance) was {threshold:.4g}"
        if threshold is not None
        else "the gate's memorization threshold is not recorded"
    )
    cells = "".join(
        f"<figure>{_img(thumbnail(r['image']['bytes']), r['image_id'])}<figcaption>"
        f"{esc(r['image_id'])}<br>NCC distance {r['nearest_real_ncc']:.4f}</figcaption></figure>"
        for _, r in closest.iterrows()
    )
    detect = [c for c in rows.columns if "detectab" in c]
    detect_text = (
        f"Per-image detectability recorded in column {detect[0]}."
        if detect
        else "Most detectable images: per-image detectability scores are not recorded in "
        "this set (the gate records the set-level detectability AUC, in the checks above)."
    )
    return (
        f"<h2>Most memorization-like images</h2><p>The {EXTREMES} accepted images closest to a "
        f"real training image by NCC distance; {esc(limit)}.</p>"
        f'<div class="grid" id="closest" style="display:flex;gap:8px">{cells}</div>'
        f"<h2>Most detectable images</h2><p>{esc(detect_text)}</p>"
    )


def _images_table(images: list[dict[str, Any]], classes: list[str]) -> str:
    options = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in classes)
    head = (
        "<tr><th>image</th><th>class</th><th data-type='num'>seed</th><th>sampler</th>"
        "<th data-type='num'>nearest real NCC distance</th>"
        "<th data-type='num'>nearest real feature distance</th><th>flags</th></tr>"
    )
    body = "".join(
        f'<tr data-id="{esc(i["id"])}" data-class="{esc(i["class"])}"><td>{esc(i["id"])}</td>'
        f"<td>{esc(i['class'])}</td><td data-v='{i['seed']}'>{i['seed']}</td>"
        f"<td>{esc(i['sampler'])}</td><td data-v='{i['ncc']}'>{i['ncc']:.4f}</td>"
        f"<td data-v='{i['feature']}'>{i['feature']:.4f}</td><td>"
        + " ".join(f'<span class="flag">{esc(f)}</span>' for f in i["flags"])
        + "</td></tr>"
        for i in images
    )
    return (
        f"<h2>Every image</h2><p>Filter <input id='filter' placeholder='id, sampler, flag...'> "
        f"class <select id='class-filter'><option value=''>all</option>{options}</select> "
        f"showing <span id='shown'>{len(images)}</span> of {len(images)}; click a header to "
        "sort, a row for its lineage.</p>"
        f'<table id="images"><thead>{head}</thead><tbody>{body}</tbody></table>'
        '<div id="lineage" hidden><h3></h3><ol></ol></div>'
    )


def _json_script(data: Any) -> str:
    text = json.dumps(data, default=str).replace("</", "<\\/")
    return f'<script type="application/json" id="audit-data">{text}</script>'


def render_page(
    lineage: Mapping[str, Any],
    rows: pd.DataFrame,
    acceptance: Mapping[str, Any] | None,
    choice: RealChoice,
    real_dir: Path | None,
) -> str:
    """The whole page as one HTML string."""
    s = lineage["set"]
    classes = list(s["classes"])
    images = image_rows(rows, lineage)
    title = f"Audit: {s['name']} {s['version']}"
    body = "".join(
        [
            f"<h1>{esc(title)}</h1><p>{s['rows']} synthetic images, per class "
            f"{esc(s['per_class'])}; written by <code>factory report</code> from the set's "
            "lineage.json and shards.</p>",
            _verdicts(lineage, acceptance),
            _checks_table(lineage),
            _grids(rows, classes, choice, real_dir),
            _extremes(rows, lineage),
            _images_table(images, classes),
        ]
    )
    data = {"images": images, "chain": chain_for_page(lineage)}
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>{body}{_json_script(data)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def read_acceptance_file(path: Path | None, lineage: Mapping[str, Any]) -> dict[str, Any] | None:
    """acceptance.json when given, else the verdict a published lineage carries."""
    if path is None:
        published = (lineage.get("publication") or {}).get("benchmark")
        return published if isinstance(published, dict) else None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FactoryError(f"{path}: cannot read the benchmark verdict ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("accepted"), bool):
        raise FactoryError(f"{path}: no boolean 'accepted'; re-run `dvc repro benchmark`")
    return data


def build_report(
    set_dir: str | Path,
    out: str | Path | None = None,
    *,
    acceptance: str | Path | None = None,
    real: str | Path | None = None,
    embed_restricted_real: bool = False,
) -> Path:
    """Write the audit page of the set at `set_dir` (default `<set_dir>/../<name>.audit.html`)."""
    set_dir = Path(set_dir)
    lineage = read_lineage(set_dir)
    real_dir = Path(real) if real is not None else None
    if real_dir is not None and not (real_dir / "manifest.parquet").exists():
        raise FactoryError(
            f"{real_dir}: no manifest.parquet; --real takes the ingest output folder "
            "(outputs/ingest)"
        )
    rows = read_rows(set_dir, with_images=True)
    verdict = read_acceptance_file(Path(acceptance) if acceptance else None, lineage)
    choice = real_choice(source_of(lineage), real_dir, embed_restricted_real)
    page = render_page(lineage, rows, verdict, choice, real_dir)
    target = Path(out) if out else set_dir.parent / f"{set_dir.name}.{REPORT_FILE}"
    return atomic_write_text(target, page)
