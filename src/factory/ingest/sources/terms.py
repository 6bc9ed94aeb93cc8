"""What a source data set is, and on which terms data derived from it may be shared.

Every adapter module declares `TERMS = Terms(...)`: the data set's name, licence, URL,
whether data derived from it may be redistributed, and how to cite it. Ingest records the
identity and the terms of what it read in `outputs/ingest/source.json` (Contract 3); the
package stage, `croissant.json`, the audit page and `factory publish` read that record and
never guess the source from the adapter's name.

The identity is recorded apart from the adapter: the embedded phantom is read by the
`inbreast` adapter (it is written in INbreast's layout) but it is not INbreast. The
phantom writes a marker file (`FACTORY_PHANTOM.json`) that ingest finds and records.

The folder adapter reads a hospital export whose terms only its owner knows: they are
declared in a `terms.yaml` beside `labels.csv` (same keys as `Terms`), and without one the
terms are "unknown", which forbids redistribution.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from factory.errors import FactoryError

SOURCE_FILE = "source.json"
SCHEMA = "factory.source/1"
# The phantom's marker (written by factory.phantom.marker; its format is the contract).
PHANTOM_MARKER = "FACTORY_PHANTOM.json"
PHANTOM_ID = "factory-phantom"
FOLDER_TERMS_FILE = "terms.yaml"


@dataclass(frozen=True)
class Terms:
    """A data set's terms of use, as its publisher states them."""

    name: str
    license: str  # a Hub licence id (e.g. "cc-by-3.0", "apache-2.0") or "other"
    license_name: str
    url: str
    redistribution: bool  # may data derived from it be published openly?
    citation: str
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


UNKNOWN_FOLDER_TERMS = Terms(
    name="user folder (terms not declared)",
    license="other",
    license_name="unknown: no terms.yaml in the folder",
    url="",
    redistribution=False,
    citation="",
    notes=f"Declare the export's terms in {FOLDER_TERMS_FILE} beside labels.csv (keys: "
    + ", ".join(f.name for f in fields(Terms))
    + "); until then derived data is treated as not redistributable.",
)


def _adapter_module(kind: str) -> Any:
    import importlib

    from factory.ingest.sources import ADAPTERS

    if kind not in ADAPTERS:
        raise FactoryError(f"source adapter {kind!r}: unknown; expected one of {list(ADAPTERS)}")
    return importlib.import_module(ADAPTERS[kind].__module__)


def adapter_terms(kind: str) -> Terms | None:
    """The terms adapter `kind` declares (its module's TERMS), or None when it declares none."""
    terms = getattr(_adapter_module(kind), "TERMS", None)
    return terms if isinstance(terms, Terms) else None


def folder_terms(root: Path) -> Terms:
    """A folder export's declared terms (terms.yaml), or the unknown, non-redistributable ones."""
    import yaml

    path = root / FOLDER_TERMS_FILE
    if not path.exists():
        return UNKNOWN_FOLDER_TERMS
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FactoryError(f"{path}: not valid YAML ({exc}); fix the terms file") from None
    return terms_from_dict(data, str(path))


def terms_from_dict(data: Any, where: str) -> Terms:
    """Validate a terms mapping (from a file or a record); errors name the field and fix."""
    if not isinstance(data, dict):
        raise FactoryError(f"{where}: terms must be a mapping with keys {_keys()}")
    required = [f.name for f in fields(Terms) if f.name != "notes"]
    missing = [k for k in required if k not in data]
    if missing:
        raise FactoryError(f"{where}: terms lack {missing}; give every one of {_keys()}")
    unknown = sorted(set(data) - {f.name for f in fields(Terms)})
    if unknown:
        raise FactoryError(f"{where}: unknown terms key(s) {unknown}; the keys are {_keys()}")
    if not isinstance(data["redistribution"], bool):
        raise FactoryError(
            f"{where}: redistribution = {data['redistribution']!r}; expected true or false "
            "(may data derived from the source be published openly?)"
        )
    for key in (k for k in data if k != "redistribution"):
        if not isinstance(data[key], str):
            raise FactoryError(f"{where}: {key} = {data[key]!r}; expected text")
    if not data["license"].strip():
        raise FactoryError(f"{where}: license is empty; give a Hub licence id or 'other'")
    return Terms(**data)


def _keys() -> str:
    return ", ".join(f.name for f in fields(Terms))


def read_marker(root: Path) -> dict[str, Any] | None:
    """The phantom's marker in `root`, or None when the folder is not a phantom set."""
    path = root / PHANTOM_MARKER
    if not path.exists():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FactoryError(f"{path}: not valid JSON ({exc}); re-run `dvc repro phantom`") from None
    if not isinstance(marker, dict) or marker.get("dataset") != PHANTOM_ID:
        raise FactoryError(
            f"{path}: not a factory phantom marker (dataset {PHANTOM_ID!r} expected); "
            "remove it or re-run `dvc repro phantom`"
        )
    if not isinstance(marker.get("name"), str):
        raise FactoryError(f"{path}: no 'name'; re-run `dvc repro phantom`")
    terms_from_dict(marker.get("terms"), f"{path} terms")
    return marker


def source_record(kind: str, root: Path, marker_path: str | None = None) -> dict[str, Any]:
    """The Contract 3 record for data set folder `root` read by adapter `kind`.

    `terms` is None when the adapter declares none; ingest still records that, and the
    package stage refuses it (`require_terms`), naming the adapter.
    """
    marker = read_marker(root)
    if marker is not None:
        dataset = {
            "id": PHANTOM_ID,
            "name": marker["name"],
            "synthetic": True,
            "marker": marker_path or (root / PHANTOM_MARKER).as_posix(),
        }
        return {"schema": SCHEMA, "adapter": kind, "dataset": dataset, "terms": marker["terms"]}
    terms = folder_terms(root) if kind == "folder" else adapter_terms(kind)
    dataset = {
        "id": kind,
        "name": terms.name if terms else kind,
        "synthetic": False,
        "marker": None,
    }
    return {
        "schema": SCHEMA,
        "adapter": kind,
        "dataset": dataset,
        "terms": terms.as_dict() if terms else None,
    }


def read_source_record(path: str | Path) -> dict[str, Any]:
    """outputs/ingest/source.json, checked: a missing file, bad JSON or missing terms raise."""
    path = Path(path)
    if not path.exists():
        raise FactoryError(
            f"{path}: missing; ingest records the source data set and its terms there: "
            "run `dvc repro ingest`"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FactoryError(f"{path}: not valid JSON ({exc}); run `dvc repro ingest`") from None
    if not isinstance(record, dict) or not isinstance(record.get("dataset"), dict):
        raise FactoryError(f"{path}: no 'dataset' mapping; run `dvc repro ingest`")
    return require_terms(record, str(path))


def require_terms(record: dict[str, Any], where: str) -> dict[str, Any]:
    """The record with its terms validated; no terms -> an error naming the adapter."""
    adapter = record.get("adapter", "?")
    if record.get("terms") is None:
        try:
            module = _adapter_module(str(adapter)).__name__.replace(".", "/") + ".py"
        except FactoryError:
            module = f"the {adapter!r} adapter's module"
        raise FactoryError(
            f"{where}: source adapter {adapter!r} declares no terms (licence, redistribution, "
            f"citation); add TERMS = Terms(...) to {module}, then `dvc repro ingest`"
        )
    terms_from_dict(record["terms"], f"{where} terms")
    return record
