"""Which images a synthetic set holds: class counts, image ids, per-image seeds, shards.

Everything here is pure and deterministic: the plan depends only on the config, the
class names and the set seed, never on the batch size or the number of processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from factory.errors import FactoryError


@dataclass(frozen=True)
class PlannedImage:
    """One image of the set: who it is, and the seed its noise is drawn from."""

    image_id: str
    label: int
    class_name: str
    index: int  # position within its class
    seed: int  # seeds this image's own torch.Generator

    @property
    def path(self) -> str:
        """Where the PNG goes, relative to the sample folder."""
        return str(PurePosixPath("images") / self.class_name / f"{self.image_id}.png")


def image_seed(set_seed: int, class_index: int, image_index: int) -> int:
    """A stable 63-bit seed for one image from (set seed, class index, image index).

    A hash rather than arithmetic like `seed * 1000 + i`, so that neighbouring sets and
    classes never share noise, and Python's randomised `hash()` is not involved.
    """
    key = f"factory.sample:{set_seed}:{class_index}:{image_index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") & (2**63 - 1)


def class_counts(per_class: int | dict[str, int], classes: tuple[str, ...]) -> dict[str, int]:
    """Resolve `sample.per_class` into a count for every class (absent from a mapping = 0)."""
    if isinstance(per_class, int):
        counts = dict.fromkeys(classes, per_class)
    else:
        unknown = sorted(set(per_class) - set(classes))
        if unknown:
            raise FactoryError(
                f"sample.per_class names class(es) {unknown} that are not in common.classes "
                f"{list(classes)}; fix the class names in params.yaml"
            )
        counts = {name: int(per_class.get(name, 0)) for name in classes}
    if sum(counts.values()) == 0:
        raise FactoryError("sample.per_class asks for 0 images in total; ask for at least one")
    return counts


def _check_folder_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise FactoryError(
            f"class name {name!r} cannot be a folder name; rename it in common.classes"
        )
    return name


def plan_images(
    per_class: int | dict[str, int], classes: tuple[str, ...], set_seed: int
) -> list[PlannedImage]:
    """Every image of the set, class by class, in a fixed order."""
    counts = class_counts(per_class, classes)
    plan = []
    for label, name in enumerate(classes):
        _check_folder_name(name)
        for i in range(counts[name]):
            plan.append(
                PlannedImage(
                    image_id=f"syn-{name}-{i:05d}",
                    label=label,
                    class_name=name,
                    index=i,
                    seed=image_seed(set_seed, label, i),
                )
            )
    return plan


def shard(plan: list[PlannedImage], index: int, count: int) -> list[PlannedImage]:
    """The images process `index` of `count` draws: every count-th, by position in the plan.

    Splitting by plan position (not by what is left to do) keeps the shards identical in
    every process even while others are writing, and balances the classes.
    """
    if not 0 <= index < count:
        raise ValueError(f"process index {index} outside 0..{count - 1}")
    return plan[index::count]
