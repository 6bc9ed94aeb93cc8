"""Label maps: a dataset's own labels to the project's classes (`common.classes`).

Named maps give a class *index* (0 = the first class in common.classes, the negative
one; 1 = the second), so they work with any class names; `None` drops the image on
purpose (counted as excluded, not quarantined). An explicit map in params.yaml gives
class names, checked against common.classes.
"""

from __future__ import annotations

from collections.abc import Mapping

from factory.errors import ConfigError

_BIRADS = ("1", "2", "3", "4a", "4b", "4c", "5", "6")

PRESETS: dict[str, dict[str, dict[str, int | None]]] = {
    "inbreast": {
        # Sutjiadi et al. 2025: normal = BI-RADS 1, abnormal = BI-RADS 2..6 (67 vs 343).
        "sutjiadi": {b: (0 if b == "1" else 1) for b in _BIRADS},
        # The usual clinical cut: probably benign (1-3) vs suspicious (4a-6).
        "birads-1-3-vs-4-6": {b: (0 if b in ("1", "2", "3") else 1) for b in _BIRADS},
    },
    "rsna": {"cancer": {"0": 0, "1": 1}},
    "cbis-ddsm": {
        "pathology": {"BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0, "MALIGNANT": 1},
    },
    "vindr": {
        "birads-1-vs-2-5": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1},
        "birads-1-3-vs-4-5": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1},
    },
    "mias": {
        "normal-vs-abnormal": {"NORM": 0, "B": 1, "M": 1},
        "benign-vs-malignant": {"NORM": None, "B": 0, "M": 1},
    },
    "folder": {"identity": {}},  # the label column already holds class names
}
DEFAULT_PRESET: dict[str, str] = {
    "inbreast": "sutjiadi",
    "rsna": "cancer",
    "cbis-ddsm": "pathology",
    "vindr": "birads-1-vs-2-5",
    "mias": "normal-vs-abnormal",
    "folder": "identity",
}


def resolve_label_map(
    source: str,
    label_map: str | Mapping[str, str | None],
    classes: tuple[str, ...],
    where: str = "params.yaml",
) -> dict[str, str | None]:
    """The map source label -> class name (or None = drop) for this run.

    Raises ConfigError (one line) for an unknown preset or a class not in `classes`.
    """
    if isinstance(label_map, str):
        name = DEFAULT_PRESET[source] if label_map == "default" else label_map
        presets = PRESETS[source]
        if name not in presets:
            raise ConfigError(
                f"{where}: ingest.label_map = {label_map!r} is not a map of source "
                f"{source!r}; use one of {', '.join(['default', *presets])} or a mapping"
            )
        if source == "folder":
            return {c: c for c in classes}
        needed = max((i for i in presets[name].values() if i is not None), default=0) + 1
        if len(classes) < needed:
            raise ConfigError(
                f"{where}: ingest.label_map {name!r} needs {needed} classes but "
                f"common.classes has {list(classes)}"
            )
        return {k: (None if i is None else classes[i]) for k, i in presets[name].items()}
    unknown = sorted({v for v in label_map.values() if v is not None} - set(classes))
    if unknown:
        raise ConfigError(
            f"{where}: ingest.label_map maps to {unknown}, not in common.classes "
            f"{list(classes)}; fix the map or common.classes"
        )
    return {str(k): v for k, v in label_map.items()}
