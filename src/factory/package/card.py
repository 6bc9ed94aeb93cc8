"""The dataset card (README.md): Hub YAML metadata plus a body people read before using the set.

The card is rendered from lineage.json alone (plus, at publish time, the benchmark verdict),
so `factory publish` can re-render it with the benchmark results without touching the
packaged folder, which is a DVC output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from factory.package.dataset import DATA_DIR, SPLIT

TAGS = ["synthetic", "medical", "mammography"]

CITATIONS = (
    "R. Sutjiadi, S. Sendari, H. W. Herwanto, Y. Kristian. *Leveraging synthetic mammograms "
    "to enhance deep-learning performance for breast cancer classification using "
    "EfficientNetV2L architecture.* EAI Endorsed Transactions on AI and Robotics, 2025.",
    "M. Prodan, E. Paraschiv, A. Stanciu. *Applying Deep Learning Methods for Mammography "
    "Analysis and Breast Cancer Detection.* Applied Sciences 13(7), 4272, 2023. "
    "https://doi.org/10.3390/app13074272",
    "N. Konz, R. Osuala, et al. *Fréchet Radiomic Distance (FRD): A Versatile Metric for "
    "Comparing Medical Imaging Datasets.* arXiv, 2024.",
    "M. F. Naeem, S. J. Oh, Y. Uh, Y. Choi, J. Yoo. *Reliable Fidelity and Diversity Metrics "
    "for Generative Models* (precision, recall, density, coverage). ICML 2020.",
)


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for `n` rows."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ]
    for bound, name in bounds:
        if n < bound:
            return name
    return "n>1M"


def card_data(lineage: Mapping[str, Any], features: Any = None) -> Any:
    """The YAML metadata block as a `huggingface_hub.DatasetCardData`."""
    from huggingface_hub import DatasetCardData

    s = lineage["set"]
    extra: dict[str, Any] = {
        "tags": TAGS,
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": SPLIT, "path": f"{DATA_DIR}/{SPLIT}-*"}],
            }
        ],
    }
    data = DatasetCardData(
        license=s["license"],
        pretty_name=s["pretty_name"],
        task_categories=["image-classification"],
        size_categories=[size_category(int(s["rows"]))],
        annotations_creators=["machine-generated"],
        source_datasets=[f"extended|{d}" for d in lineage["source"]["datasets"]],
        **extra,
    )
    if features is not None:
        add_dataset_info(data, features, lineage)
    return data


def add_dataset_info(data: Any, features: Any, lineage: Mapping[str, Any]) -> None:
    """The `dataset_info` block (features, split sizes) the way `push_to_hub` writes it."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo

    splits = SplitDict()
    size = int(lineage["set"].get("arrow_bytes", 0))
    splits.add(SplitInfo(name=SPLIT, num_bytes=size, num_examples=int(lineage["set"]["rows"])))
    info = DatasetInfo(
        features=features,
        splits=splits,
        dataset_size=size,
        download_size=sum(int(s["bytes"]) for s in lineage["shards"]),
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)


def gate_rows(metrics: Mapping[str, Any]) -> list[tuple[str, Any, Any, Any]]:
    """(check, value, threshold, passed) rows from the gate's metrics.json, whatever its shape.

    Understands the gate stage's layout (`overall` values, `thresholds` keyed max_<metric> /
    min_<metric>, `failed` metric names), a `checks` list of dicts, a mapping of
    name -> {value, threshold, passed}, or flat scalar metrics with a `thresholds` mapping.
    """
    overall = metrics.get("overall")
    if isinstance(overall, Mapping):
        return _overall_rows(overall, metrics.get("thresholds") or {}, metrics.get("failed") or [])
    checks = metrics.get("checks")
    if isinstance(checks, Sequence) and not isinstance(checks, str):
        return [
            (
                str(c.get("name") or c.get("metric") or c.get("check")),
                c.get("value"),
                c.get("threshold"),
                c.get("passed"),
            )
            for c in checks
            if isinstance(c, Mapping)
        ]
    thresholds = metrics.get("thresholds") if isinstance(metrics.get("thresholds"), Mapping) else {}
    rows = []
    for name, value in metrics.items():
        if name in ("passed", "thresholds"):
            continue
        if isinstance(value, Mapping) and "value" in value:
            rows.append((name, value["value"], value.get("threshold"), value.get("passed")))
        elif isinstance(value, bool | int | float):
            rows.append((name, value, thresholds.get(name), None))
    return rows


def _overall_rows(
    overall: Mapping[str, Any], thresholds: Mapping[str, Any], failed: Sequence[str]
) -> list[tuple[str, Any, Any, Any]]:
    rows = []
    for metric, value in overall.items():
        key = next((k for k in (f"max_{metric}", f"min_{metric}", metric) if k in thresholds), None)
        threshold = thresholds.get(key) if key else None
        bound = None
        if threshold is not None:
            bound = f"<= {_fmt(threshold)}" if key.startswith("max_") else f">= {_fmt(threshold)}"
        passed = None if threshold is None else metric not in failed
        rows.append((metric, value, bound, passed))
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v).replace("|", "\\|")


def _join(values: Sequence[Any]) -> str:
    return ", ".join(_fmt(v) for v in values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def gate_section(gate: Mapping[str, Any]) -> str:
    rows = gate_rows(gate.get("metrics", {}))
    verdict = "**passed**" if gate.get("passed") else "**FAILED**"
    table = markdown_table(["check", "value", "threshold", "passed"], rows) if rows else ""
    return f"## Quality and privacy gate\n\nThe gate {verdict}.\n\n{table}\n"


def memorization_thresholds(metrics: Mapping[str, Any]) -> str:
    """The gate's calibrated copy-detection thresholds and the share of samples it removed."""
    calibrated = metrics.get("memorization")
    overall = metrics.get("overall") or {}
    lines = []
    if isinstance(calibrated, Mapping) and calibrated:
        rows = [
            (name, t.get("threshold"), t.get("method"), t.get("percentile"), t.get("n_calibration"))
            for name, t in calibrated.items()
            if isinstance(t, Mapping)
        ]
        header = ["measure", "threshold", "method", "percentile", "calibration pairs"]
        lines += ["", "Copy-detection thresholds calibrated by the gate:", ""]
        lines += [markdown_table(header, rows)]
    shares = [(k, overall[k]) for k in ("memorized_fraction", "rejected_fraction") if k in overall]
    if shares:
        lines += [
            "",
            "Share of sampled images "
            + "; ".join(f"{k.replace('_fraction', '')}: {_fmt(v)}" for k, v in shares)
            + ".",
        ]
    return "\n".join(lines) + "\n"


def benchmark_section(
    acceptance: Mapping[str, Any] | None, forced_reason: str | None = None
) -> str:
    """Downstream benchmark results, or 'pending' before the benchmark stage has run."""
    head = "## Downstream benchmark\n\n"
    if acceptance is None:
        body = (
            "Pending: the benchmark stage runs after packaging; its verdict is added to the "
            "card when the set is published (`factory publish`).\n"
        )
        return head + body + _forced(forced_reason)
    known = ("accepted", "metric", "scenario", "gain", "min_gain", "ci95", "protocol", "table")
    verdict = "**accepted**" if acceptance.get("accepted") else "**not accepted**"
    lines = [
        f"Verdict: {verdict} (protocol `{acceptance.get('protocol')}`): "
        f"{acceptance.get('metric')} gain of scenario {_fmt(acceptance.get('scenario'))} over "
        f"real-only training = {_fmt(acceptance.get('gain'))} "
        f"(95% CI {_fmt(acceptance.get('ci95'))}; minimum {_fmt(acceptance.get('min_gain'))}).",
        "",
    ]
    table = acceptance.get("table")
    if isinstance(table, str):
        lines += [table, ""]
    elif isinstance(table, Sequence) and table and isinstance(table[0], Mapping):
        header = list(dict.fromkeys(k for row in table for k in row))
        lines += [markdown_table(header, [[row.get(k) for k in header] for row in table]), ""]
    extra = {
        k: v for k, v in acceptance.items() if k not in known and isinstance(v, str | int | float)
    }
    lines += [f"- {k}: {_fmt(v)}" for k, v in extra.items()]
    return head + "\n".join(lines) + "\n" + _forced(forced_reason)


def _forced(reason: str | None) -> str:
    if not reason:
        return ""
    return f"\n**Published with --force** despite the benchmark verdict. Reason given: {reason}\n"


def body(
    lineage: Mapping[str, Any],
    acceptance: Mapping[str, Any] | None = None,
    forced_reason: str | None = None,
) -> str:
    """The card's Markdown body."""
    s, model, sampler, mem = (
        lineage["set"],
        lineage["model"],
        lineage["sampler"],
        lineage["memorization"],
    )
    src = lineage["source"]
    counts = markdown_table(["class", "images"], list(s["per_class"].items()))
    split_rows = [(name, info["patients"], info["images"]) for name, info in src["splits"].items()]
    ncc, dist = mem["nearest_real_ncc"], mem["nearest_real_feature_distance"]
    return f"""
# {s["pretty_name"]} ({s["name"]} {s["version"]})

Synthetic {s["image_size"]}x{s["image_size"]} 16-bit grayscale mammograms with class labels
({", ".join(s["classes"])}), made by a class-conditional denoising diffusion model (DDPM)
trained on real mammograms from {", ".join(src["datasets"])}. Every image passed the
project's quality and privacy gate. **No real image is in this set.**

## How it was made

- Model: class-conditional DDPM, weights hash `{model.get("model_hash")}`,
  {model.get("train_steps")} training steps, trained on the `{model.get("split") or "train"}`
  split of the manifest `{src["manifest_sha256"]}`.
- Sampler: {", ".join(sampler["schedulers"])}, {_join(sampler["steps"])} steps, guidance
  {_join(sampler["guidance"])}, one seed per image (column `seed`, from
  {sampler["seeds"]["min"]} to {sampler["seeds"]["max"]}).
- Source data (patients / images per split; identities are never recorded):

{markdown_table(["split", "patients", "images"], split_rows)}

Images per class in this set ({s["rows"]} in total):

{counts}

Columns: `image` (16-bit PNG, decodes to PIL mode `I;16`), `label`, and provenance:
`image_id`, `seed`, `scheduler`, `steps`, `guidance`, `model_hash`, `nearest_real_ncc`,
`nearest_real_feature_distance`, `image_sha256`. `lineage.json` links every image to the
model, the training manifest and the source files' hashes (`factory lineage`), and holds the
sha256 of every shard (`factory verify`).

{gate_section(lineage["gate"])}
{benchmark_section(acceptance, forced_reason)}
## Memorization findings

Each accepted image was compared with every real training image. Nearest-real normalised
cross-correlation: median {ncc["median"]:.4f}, max {ncc["max"]:.4f}. Nearest-real feature
distance: min {dist["min"]:.4f}, median {dist["median"]:.4f}. Images too close to a real one
were removed by the gate (per-image values are in the columns above).
{memorization_thresholds(lineage["gate"].get("metrics", {}))}
## Intended use and limitations

- For research on data augmentation, method development and teaching. **Not for clinical
  use** and not a substitute for real screening data in validation.
- Made from {s["rows"]} samples of a model trained on a small real set: it inherits that
  set's scanners, population and label definitions, and may under-represent rare findings.
- Labels are the conditioning class, not a radiologist's reading of the synthetic image.
- Evaluate any model trained with these images on real, held-out patients only.

## Citation

Please cite the methods this set follows:

{chr(10).join(f"- {c}" for c in CITATIONS)}

## Provenance

```json
{json.dumps({"git_commit": lineage["package"]["git_commit"], "version": s["version"]}, indent=2)}
```
"""


def render_card(
    lineage: Mapping[str, Any],
    features: Any = None,
    acceptance: Mapping[str, Any] | None = None,
    forced_reason: str | None = None,
) -> str:
    """The whole README.md: YAML metadata and body, via `huggingface_hub.DatasetCard`."""
    from huggingface_hub import DatasetCard

    data = card_data(lineage, features)
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n{body(lineage, acceptance, forced_reason)}")
    return str(card)
