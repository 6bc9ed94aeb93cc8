"""mini-MIAS: `mdb001.pgm`.. (square 8-bit PGM, MLO only) + `Info.txt`.

`Info.txt` as in the real file: no header, space-separated `REFNUM BG CLASS SEVERITY X Y
RADIUS`; `NORM` rows for normal images; several rows for an image with several findings;
some rows without coordinates, some ending in free text (`*NOTE 3*`); trailing spaces;
no newline after the last line. Y counts from the bottom-left corner. Images come in
left/right pairs of one woman (mdb001 left / mdb002 right, ...). Side: 1024 px at full
size (height 4084), scaled with `height` (at least 64).
"""

from __future__ import annotations

from pathlib import Path

from factory.io import atomic_write_text
from factory.phantom.cohort import Breast, Patient
from factory.phantom.jobs import Job, Output
from factory.phantom.layouts.base import LayoutPlan, base_truth, spec

BACKGROUND = {1: "F", 2: "G", 3: "D", 4: "D"}  # fatty, fatty-glandular, dense-glandular
CLASS = {
    "round": "CIRC",
    "oval": "CIRC",
    "lobulated": "CIRC",
    "spiculated": "SPIC",
    "irregular": "MISC",
}


def side_of(height: int) -> int:
    return max(64, round(1024 * height / 4084))


def _pair(patient: Patient) -> list[Breast]:
    """Left then right MLO; a breast the cohort lacks is a normal one."""
    have = {b.laterality: b for b in patient.breasts}
    return [have.get(s, Breast(s, "1", ("MLO",), ())) for s in ("L", "R")]


def plan(cohort: list[Patient], *, seed: int, height: int) -> LayoutPlan:
    side = side_of(height)
    digits = max(3, len(str(2 * len(cohort))))
    jobs, refs = [], []
    for patient in cohort:
        for k, breast in enumerate(_pair(patient)):
            ref = f"mdb{2 * patient.index + k + 1:0{digits}d}"
            refs.append((ref, patient, breast))
            jobs.append(
                Job(
                    spec=spec(side, side, seed, patient, breast, "MLO", scale=0.85, film=True),
                    outputs=(Output(f"{ref}.pgm", "pgm8"),),
                    truth={
                        **base_truth(patient, breast, f"woman{patient.index + 1:03d}"),
                        "source_label": "NORM" if not breast.findings else "ABNORMAL",
                        "severity": None
                        if not breast.findings
                        else ("M" if breast.malignant else "B"),
                        "refnum": ref,
                    },
                )
            )

    def finish(root: Path, records: list[dict]) -> None:
        lines: list[str] = []
        abnormal = 0
        for (ref, patient, breast), record in zip(refs, records, strict=True):
            bg = BACKGROUND[patient.density]
            if not breast.findings:
                lines.append(f"{ref} {bg} NORM ")
                continue
            for finding, drawn in zip(breast.findings, record["findings"], strict=True):
                cls = "CALC" if finding.kind == "calcification" else CLASS[finding.shape]
                severity = "M" if finding.malignant or breast.malignant else "B"
                x, y = round(drawn["x"]), side - 1 - round(drawn["y"])
                line = f"{ref} {bg} {cls} {severity} {x} {y} {max(1, round(drawn['radius']))}"
                if abnormal % 6 == 1:
                    line = f"{ref} {bg} {cls} {severity}"
                elif abnormal % 6 == 3:
                    line = f"{ref} {bg} {cls} {severity} *NOTE 3*"
                if abnormal % 2 == 0:
                    line += " "
                lines.append(line)
                abnormal += 1
        atomic_write_text(root / "Info.txt", "\n".join(lines))

    return LayoutPlan(jobs, finish)
