"""The dataset card (README.md): Hub YAML metadata plus a body people read before using the set.

The card is rendered from lineage.json alone, and every sentence in it states a recorded
fact: the source data set as ingest recorded it (Contract 3), the gate's own verdict rows
(Contract 1), the counts of the shards, and, once `factory publish` has added it to the
uploaded lineage, the benchmark's verdict in its own words (Contract 4). Where a fact was
not recorded the card says so instead of filling in a default.

Two sentences are marked for machines (`GATE_CLAIM`, `BENCHMARK_CLAIM`): `factory verify`
reads them back and checks them against lineage.json.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from factory.package.dataset import DATA_DIR, SPLIT
from factory.package.lineage import describe_source

TAGS = ["synthetic", "medical", "mammography"]
GATE_CLAIM = "**Gate verdict:**"
BENCHMARK_CLAIM = "**Benchmark verdict:**"
BENCHMARK_NOT_RUN = "not run when the set was packaged"

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


def source_datasets(lineage: Mapping[str, Any]) -> list[str] | None:
    """`extended|<id>` of the recorded source data set; None (no claim) when unrecorded."""
    record = lineage["source"].get("record")
    return [f"extended|{record['dataset']['id']}"] if record else None


def benchmark_verdict(lineage: Mapping[str, Any]) -> str:
    """ACCEPTED / REJECTED as the benchmark wrote it, or that it had not run."""
    acceptance = (lineage.get("publication") or {}).get("benchmark")
    if acceptance is None:
        return BENCHMARK_NOT_RUN
    return "ACCEPTED" if acceptance["accepted"] else "REJECTED"


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
        source_datasets=source_datasets(lineage),
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


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v).replace("|", "\\|")


def _join(values: Sequence[Any]) -> str:
    return ", ".join(_fmt(v) for v in values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _with_sd(value: Any, sd: Any) -> str:
    if value is None:
        return "not computed"
    return _fmt(value) + (f" ± {_fmt(sd)}" if sd is not None else "")


def check_row(c: Mapping[str, Any]) -> list[Any]:
    """One gate row as the gate wrote it (Contract 1): nothing here is re-derived."""
    name = c["metric"] if c["scope"] == "overall" else f"{c['metric']}[{c['scope']}]"
    reference = "" if c["reference"] is None else _with_sd(c["reference"], c["reference_sd"])
    compared = _fmt(c["compared_value"])
    if c["compared"] != "value" and c["compared_value"] is not None:
        compared = f"{c['compared']} {compared}"
    bound = ""
    if c["threshold"] is not None:
        bound = ("≤ " if c["direction"] == "max" else "≥ ") + _fmt(c["threshold"])
    verdict = ("PASS" if c["passed"] else "FAIL") if c["gated"] else "not gated"
    return [
        name,
        _with_sd(c["value"], c["value_sd"]),
        reference,
        compared,
        bound,
        verdict,
        c["note"],
    ]


def gate_section(gate: Mapping[str, Any]) -> str:
    """The gate's verdict, its per-image counts and its rows, from lineage['gate']."""
    header = ["check", "value", "reference (real val vs train)", "compared", "threshold"]
    table = markdown_table([*header, "pass", "note"], [check_row(c) for c in gate["checks"]])
    failed = [check_row(c)[0] for c in gate["checks"] if c["gated"] and not c["passed"]]
    lines = ["## Quality and privacy gate", "", f"{GATE_CLAIM} {gate['verdict']}", ""]
    if not gate["passed"]:
        lines += [
            f"The gate ran in `{gate['mode']}` mode and recorded a failure "
            f"({', '.join(failed) or 'see the table'}). The set was packaged so that the "
            "whole chain can be inspected; it is **not for publication** and "
            "`factory publish` refuses it.",
            "",
        ]
    lines += [
        f"{gate['accepted']} of the {gate['sampled']} sampled images passed the gate's "
        "per-image checks and are in this set.",
        _per_image_counts(gate["metrics"].get("counts") or {}),
        "",
        "Every row below is the gate's own (metrics.json `checks`): the value for the "
        "synthetic set against real training images, the same measure for real held-out "
        "(val) images against the training images, the number the threshold was applied "
        "to, and the gate's verdict.",
        "",
        table,
        "",
    ]
    return "\n".join(lines)


def _per_image_counts(counts: Mapping[str, Any]) -> str:
    parts = [
        f"{counts[key]} {what}"
        for key, what in (
            ("memorized", "flagged as too close to a real training image"),
            ("failed_sanity", "failed the sanity checks"),
        )
        if key in counts
    ]
    return f"Of the sampled images, the gate recorded {'; '.join(parts)}." if parts else ""


def memorization_section(lineage: Mapping[str, Any]) -> str:
    """Nearest-real statistics of the rows and the gate's calibrated copy thresholds."""
    mem = lineage["memorization"]
    ncc, dist = mem["nearest_real_ncc"], mem["nearest_real_feature_distance"]
    lines = [
        "## Memorization findings",
        "",
        "Nearest real training image of each image in this set, as the gate measured it: "
        f"normalised cross-correlation median {ncc['median']:.4f}, max {ncc['max']:.4f}; "
        f"feature distance min {dist['min']:.4f}, median {dist['median']:.4f} (per-image "
        "values are in the columns `nearest_real_ncc` and `nearest_real_feature_distance`).",
    ]
    calibrated = lineage["gate"]["metrics"].get("memorization")
    if isinstance(calibrated, Mapping) and calibrated:
        rows = [
            (name, t.get("threshold"), t.get("method"), t.get("percentile"), t.get("n_calibration"))
            for name, t in calibrated.items()
            if isinstance(t, Mapping)
        ]
        header = ["measure", "threshold", "method", "percentile", "calibration pairs"]
        lines += ["", "Copy-detection thresholds calibrated by the gate:", ""]
        lines += [markdown_table(header, rows)]
    return "\n".join(lines) + "\n"


def benchmark_section(lineage: Mapping[str, Any]) -> str:
    """The benchmark's verdict in its own words (rule_text, evidence, reasons)."""
    publication = lineage.get("publication") or {}
    acceptance = publication.get("benchmark")
    lines = ["## Downstream benchmark", "", f"{BENCHMARK_CLAIM} {benchmark_verdict(lineage)}", ""]
    if acceptance is None:
        lines.append(
            "The benchmark stage runs after packaging; `factory publish` adds its verdict to "
            "the uploaded card and lineage."
        )
        return "\n".join(lines) + "\n"
    if acceptance.get("rule_text"):
        lines += [str(acceptance["rule_text"]), ""]
    evidence = acceptance.get("evidence") or [acceptance.get("reason")]
    lines += [f"- {_fmt(e)}" for e in evidence if e]
    reasons = acceptance.get("reasons") or []
    if reasons:
        lines += ["", "Rejected because:", ""] + [f"- {_fmt(r)}" for r in reasons]
    table = publication.get("benchmark_table")
    if table:
        lines += ["", str(table)]
    if publication.get("forced_reason"):
        lines += [
            "",
            "**Published with --force** despite the benchmark verdict. Reason given: "
            f"{publication['forced_reason']}",
        ]
    return "\n".join(lines) + "\n"


def _terms_override(lineage: Mapping[str, Any]) -> str:
    override = (lineage.get("publication") or {}).get("terms_override")
    if not override:
        return ""
    return (
        f"\n**Source terms overridden at publication** by {override.get('decided_by')}: "
        f"{override.get('reason')}\n"
    )


def made_section(lineage: Mapping[str, Any]) -> str:
    """How the set was made: model, sampler, source counts, classes."""
    s, model, sampler, src = lineage["set"], lineage["model"], lineage["sampler"], lineage["source"]
    split_rows = [(name, info["patients"], info["images"]) for name, info in src["splits"].items()]
    trained = src["splits"].get(model.get("split") or "train", {})
    made_by = _model_check(lineage)
    return f"""## How it was made

- Model: class-conditional diffusion model, weights hash `{model.get("model_hash")}`,
  {model.get("train_steps")} training steps, trained on the `{model.get("split") or "train"}`
  split ({trained.get("images")} images of {trained.get("patients")} patients) of the
  manifest `{src["manifest_sha256"]}`. {made_by}
- Sampler: {", ".join(sampler["schedulers"])}, {_join(sampler["steps"])} steps, guidance
  {_join(sampler["guidance"])}, one seed per image (column `seed`, from
  {sampler["seeds"]["min"]} to {sampler["seeds"]["max"]}).
- Source: {describe_source(src)}. Patients / images per split (identities are never
  recorded):

{markdown_table(["split", "patients", "images"], split_rows)}

Images per class in this set ({s["rows"]} in total):

{markdown_table(["class", "images"], list(s["per_class"].items()))}

Columns: `image` (16-bit PNG, decodes to PIL mode `I;16`), `label` (the class the model
was asked for), and provenance: `image_id`, `seed`, `scheduler`, `steps`, `guidance`,
`model_hash`, `nearest_real_ncc`, `nearest_real_feature_distance`, `image_sha256`.
`lineage.json` links every image to the model, the training manifest and the source files'
hashes (`factory lineage`), and holds the sha256 of every shard and of this card
(`factory verify`).
"""


def _model_check(lineage: Mapping[str, Any]) -> str:
    """What the recorded link check says about the rows' model hash."""
    check = next(
        (c for c in lineage["checks"] if c["check"] == "samples made by the packaged model"), None
    )
    if check is None:
        return ""
    if check["ok"]:
        return f"All {lineage['set']['rows']} rows carry this model hash."
    return f"**The rows' model hashes do not match this model**: {check['detail']}."


def _summary(lineage: Mapping[str, Any]) -> str:
    s, src = lineage["set"], lineage["source"]
    record = src.get("record") or {}
    synthetic_source = (record.get("dataset") or {}).get("synthetic") is True
    lines = [
        f"Synthetic {s['image_size']}x{s['image_size']} 16-bit grayscale images with class "
        f"labels ({', '.join(s['classes'])}), drawn by a class-conditional diffusion model "
        f"trained on {describe_source(src)}."
    ]
    if synthetic_source:
        lines.append(
            "That source is itself synthetic (ingest recorded its marker): no real patient's "
            "image went into the model or this set."
        )
    return " ".join(lines)


def _citation(lineage: Mapping[str, Any]) -> str:
    terms = ((lineage["source"].get("record") or {}).get("terms")) or {}
    lines = ["## Citation", ""]
    if terms.get("citation"):
        lines += [f"Source data set ({terms.get('name')}, {terms.get('license_name')}):", ""]
        lines += [f"- {terms['citation']}", ""]
    lines += ["Please cite the methods this set follows:", ""]
    lines += [f"- {c}" for c in CITATIONS]
    return "\n".join(lines) + "\n"


def body(lineage: Mapping[str, Any]) -> str:
    """The card's Markdown body."""
    s = lineage["set"]
    banner = ""
    if not lineage["gate"]["passed"]:
        banner = f"\n> **{lineage['gate']['verdict']}**\n"
    provenance = {"git_commit": lineage["package"]["git_commit"], "version": s["version"]}
    return f"""
# {s["pretty_name"]} ({s["name"]} {s["version"]})
{banner}
{_summary(lineage)}

{made_section(lineage)}
{gate_section(lineage["gate"])}
{benchmark_section(lineage)}{_terms_override(lineage)}
{memorization_section(lineage)}
## Intended use and limitations

- For research on data augmentation, method development and teaching. **Not for clinical
  use** and not a substitute for real screening data in validation.
- A generative model can only reproduce what its training images show: this set inherits
  the scanners, population and label definitions of its training images (source:
  {describe_source(lineage["source"])}), and may under-represent rare findings.
- Labels are the conditioning class, not a reading of the synthetic image.
- Evaluate any model trained with these images on real, held-out patients only.

{_citation(lineage)}
## Provenance

```json
{json.dumps(provenance, indent=2)}
```
"""


def render_card(lineage: Mapping[str, Any], features: Any = None) -> str:
    """The whole README.md: YAML metadata and body, via `huggingface_hub.DatasetCard`."""
    from huggingface_hub import DatasetCard

    data = card_data(lineage, features)
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n{body(lineage)}")
    return str(card)
