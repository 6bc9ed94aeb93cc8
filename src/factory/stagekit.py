"""The stage edge that `stages/<name>.py` and `factory <name>` share: one code path.

A `Stage` names its path arguments, the params sections it reads and its body. Both
entry points go through `execute`: read the sections (strictly, cross-checked, before any
data is read), apply the path arguments that stand for params and the command-line
overrides (recorded as used), launch worker processes when the stage asks for them, run
the body, and save the resolved config as `config.json`. Paths come from the caller:
dvc.yaml for the stage scripts (never hard-coded in a script), options for the CLI.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from factory.config import (
    Params,
    Section,
    override,
    parse_params,
    read_params,
    read_params_file,
)
from factory.errors import FactoryError, is_main_rank, reported_errors
from factory.io import save_resolved_config


@dataclass(frozen=True)
class StageRun:
    """What a stage body gets: the params it runs with, its paths, its resolved config."""

    params: Params
    paths: dict[str, Path]
    resolved: dict[str, Any]
    progress: bool = True
    flags: Mapping[str, Any] = field(default_factory=dict)  # CLI-only switches, e.g. --png


@dataclass(frozen=True)
class Option:
    """A command-line option that overrides one params key (None: not given)."""

    section: str
    key: str
    value: Any
    flag: str
    clears: bool = False  # True: a None value is given (resets the key to None)

    @property
    def origin(self) -> str:
        return f"{self.flag} {self.value}"


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    - `paths`: the `--<name>` path arguments (all required) with their help;
    - `sections`: the params sections read besides `common` (name -> config class);
    - `body(run)`: the work; it may return extra entries for config.json (e.g. the model
      sampled from);
    - `record`: the sections saved in config.json (default: common + the stage's own);
    - `config_dir`: the path argument whose folder gets config.json, or None when the body
      hands `run.resolved` to a library that writes it inside its atomic output set;
    - `path_params`: path arguments that stand for a params key (`{"path": "ingest.path"}`):
      the argument's value is what runs and what is recorded;
    - `launcher`: the section whose `processes` says how many worker processes the stage
      script starts (torch.distributed, one per GPU or CPU process);
    - `checks`: load-time checks of the stage's own (beyond factory.config.CROSS_CHECKS),
      run on the final params before any data is read.
    """

    name: str
    description: str
    paths: Mapping[str, str]
    sections: Mapping[str, type[Section]]
    body: Callable[[StageRun], Mapping[str, Any] | None]
    record: tuple[str, ...] | None = None
    config_dir: str | None = "out"
    path_params: Mapping[str, str] = field(default_factory=dict)
    launcher: str | None = None
    checks: tuple[Callable[[Params], None], ...] = ()  # more load-time checks (ConfigError)

    @property
    def recorded(self) -> tuple[str, ...]:
        return self.record or ("common", self.name)


def resolve_params(
    stage: Stage,
    params_file: str | Path | None,
    paths: Mapping[str, Path],
    options: Iterable[Option],
) -> Params:
    """The params the stage runs with: the file's sections, then path arguments and options.

    `params_file` None: the built-in defaults (a CLI command run without a params file).
    """
    if params_file is None:
        params = parse_params({"common": {}}, "built-in defaults", **stage.sections)
    else:
        params = read_params(params_file, **stage.sections)
    for arg, key in stage.path_params.items():
        section, name = key.split(".", 1)
        params = override(params, section, {name: str(paths[arg])}, f"--{arg} {paths[arg]}")
    for opt in options:
        if opt.value is not None or opt.clears:
            params = override(params, opt.section, {opt.key: opt.value}, opt.origin, True)
    for check in stage.checks:
        check(params)
    return params


def in_worker() -> bool:
    """True inside a process that torch.distributed (torchrun) started."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def launch_workers(command: list[str], processes: int, debug: bool) -> None:
    """Run `command` (a script and its arguments) in `processes` workers, as torchrun does.

    torchrun's own report of a failed worker is a traceback of the launcher; a worker
    that failed with a FactoryError has already printed its one line (rank 0), so here
    the launcher only exits with that code (`--debug` shows torch's report).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--standalone", f"--nproc_per_node={processes}", *command])
    if not debug:
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(args)
    except ChildFailedError as exc:
        if debug:
            raise
        failures = exc.failures
        first = failures.get(0) or failures[min(failures)]
        if 0 not in failures or first.exitcode <= 0:
            ranks = ", ".join(str(r) for r in sorted(failures))
            print(
                f"error: worker process(es) {ranks} failed ({first.message}); "
                "rerun with --debug for their output",
                file=sys.stderr,
            )
        raise SystemExit(first.exitcode if first.exitcode > 0 else 1) from None


def execute(
    stage: Stage,
    params_file: str | Path | None,
    paths: Mapping[str, str | Path],
    options: Iterable[Option] = (),
    *,
    progress: bool = True,
    flags: Mapping[str, Any] | None = None,
    relaunch: list[str] | None = None,
    debug: bool = False,
) -> Params:
    """Run one stage: params, workers (when `relaunch` is the command), body, config.json.

    Returns the params it ran with. FactoryErrors propagate (the callers print them).
    """
    given = {name: Path(p) for name, p in paths.items()}
    params = resolve_params(stage, params_file, given, options)
    resolved = params.resolved(*stage.recorded)
    if stage.launcher and relaunch is not None and not in_worker():
        processes = getattr(params, stage.launcher).processes
        if processes > 1:
            launch_workers(relaunch, processes, debug)
            return params
    extra = stage.body(StageRun(params, given, resolved, progress, dict(flags or {})))
    if stage.config_dir is not None and is_main_rank():
        save_resolved_config(given[stage.config_dir], **resolved, **(extra or {}))
    return params


def run_stage(stage: Stage, argv: list[str] | None = None) -> None:
    """The `stages/<name>.py` entry: `--<path>` arguments, --params, --debug; then `execute`.

    A FactoryError is one line on stderr (rank 0 only) and a non-zero exit.
    """
    parser = argparse.ArgumentParser(description=stage.description)
    for name, help_text in stage.paths.items():
        parser.add_argument(f"--{name}", required=True, help=help_text)
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    paths = {name: getattr(args, name.replace("-", "_")) for name in stage.paths}
    with reported_errors(args.debug):
        execute(
            stage,
            args.params,
            paths,
            relaunch=[sys.argv[0], *raw] if argv is None else None,
            debug=args.debug,
        )


def run_cli(
    stage: Stage,
    params_file: str | Path,
    paths: Mapping[str, str | Path],
    options: Iterable[Option] = (),
    *,
    progress: bool = True,
    flags: Mapping[str, Any] | None = None,
    missing_ok: bool = False,
) -> Params:
    """The `factory <name>` entry: the same `execute`, in this process.

    Run it under torchrun (or `accelerate launch`) for several processes. `missing_ok`:
    a command whose options can stand in for a params file (ingest, phantom) runs on the
    built-in defaults when the file is absent, and says so.
    """
    if missing_ok and not Path(params_file).exists():
        print(
            f"note: no params file {params_file}: using the built-in defaults and the "
            "options given",
            file=sys.stderr,
        )
        params_file = None
    return execute(stage, params_file, paths, options, progress=progress, flags=flags)


def dvc_paths(
    stage: str, params_file: str | Path = "params.yaml", dvc_file: str | Path = "dvc.yaml"
) -> dict[str, str]:
    """The `--name value` arguments of a stage's cmd in dvc.yaml (`${a.b}` filled from params).

    For CLI commands that default to the pipeline's paths: dvc.yaml is their one home.
    """
    try:
        stages = yaml.safe_load(Path(dvc_file).read_text(encoding="utf-8"))["stages"]
        cmd = stages[stage]["cmd"]
    except (OSError, KeyError, TypeError) as exc:
        raise FactoryError(
            f"{dvc_file}: no cmd for stage {stage!r} ({exc}); run from the project root "
            "or give the paths as options"
        ) from None
    raw = read_params_file(params_file) or {}

    def value(match: str) -> str:
        node: Any = raw
        for part in match.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise FactoryError(f"{dvc_file}: stage {stage!r} uses ${{{match}}}, unset in params")
        return str(node)

    text = " ".join(cmd) if isinstance(cmd, list) else str(cmd)
    text = re.sub(r"\$\{([^}]+)\}", lambda m: value(m.group(1).strip()), text)
    words = shlex.split(text)
    return {
        w[2:].replace("-", "_"): words[i + 1]
        for i, w in enumerate(words[:-1])
        if w.startswith("--") and not words[i + 1].startswith("--")
    }
