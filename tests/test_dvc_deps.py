"""dvc.yaml's code deps are exactly what each stage script imports inside src/factory.

DVC reruns a stage only when one of its deps changes, so a project module that a stage
imports (at the top or inside a function: the library imports lazily) but does not list
leaves `dvc status` reporting stale outputs as current; a listed module that the stage
never imports causes a false rerun. The import closure is read from the source with `ast`
(not by importing: that would pull in torch, and would miss imports in functions that a
given run does not reach).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from import_closure import dep_problems, import_closure, rel, stages


def test_closure_follows_relative_lazy_and_package_imports(tmp_path: Path) -> None:
    """The closure reader itself: imports inside functions and packages' __init__ count."""
    script = tmp_path / "stage.py"
    script.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from factory.gate import run\n"
        "def main():\n    from factory.io import read_json\n    return read_json\n"
    )
    closure = {rel(p) for p in import_closure(script)}
    assert closure == {"src/factory/__init__.py", "src/factory/io.py"}


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_deps_are_exactly_its_import_closure(name: str) -> None:
    problems = dep_problems(name, stages()[name])
    assert not problems, "dvc.yaml deps out of step with the imports:\n" + "\n".join(problems)


def test_the_check_fails_on_a_missing_and_on_an_unused_dep() -> None:
    """Known-bad deps fail it: phantom's own package left out, the gate package put in."""
    problems = dep_problems("phantom", {"deps": ["src/factory/gate", "src/factory/io.py"]})
    text = "\n".join(problems)
    assert "its script stages/phantom.py is not a dep" in text
    assert "imports src/factory/phantom/writer.py, which is not a dep" in text
    assert "folder src/factory/gate holds modules the stage does not import" in text
    assert not any("src/factory/io.py" in p for p in problems)
