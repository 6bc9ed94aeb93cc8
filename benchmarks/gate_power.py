"""Gate power: planted known-bad and known-good sets through the real gate.

    python benchmarks/gate_power.py --ingest outputs/ingest [--samples outputs/sample]
        [--params params.yaml] [--seeds 5] [--bad-seeds 1] [--work /tmp/gate-power]
        [--json gate_power.json] [--markdown gate_power.md] [--docs docs/gate.md]
        [--set gate.KEY=VALUE ...] [--only NAME,NAME]

Every planted set (factory.gate.planted) is judged by `factory.gate.assess.assess` with
the gate section of --params (plus any --set overrides): the verdicts in the table are
the gate's own `checks` rows, not re-derived here. Known-bad sets must fail at least one
gate (the table names which), known-good sets must pass every gate, at --seeds seeds.

The radiomics (FRD) features are per-image functions of the 16-bit pixels; the gate
would recompute the training set's for every planted set (~90 s each on 2 cores). The
gate's own per-image cache (`factory.gate.radiomics.RadiomicsCache`, keyed by the sha256
of each image's 16-bit PNG and the frd-score/pyradiomics versions) is kept in
--work/radiomics, so each distinct image is measured once, also across runs and by
--shard processes sharing --work (each entry is one atomic file); the values are the
same as without the cache.

--docs rewrites the part of docs/gate.md between the gate-power markers with the table.
The machine's load average is printed and recorded beside the wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from factory.gate import planted
from factory.gate.assess import assess
from factory.gate.config import GATES, GateConfig
from factory.gate.radiomics import RadiomicsCache
from factory.params import validate_section

BEGIN, END = "<!-- gate-power:begin -->", "<!-- gate-power:end -->"
TABLE_BEGIN, TABLE_END = "<!-- gate-power:table:begin -->", "<!-- gate-power:table:end -->"
PHANTOM_SEED_BASE = 1000  # phantom draw k uses seed 1000 + k (the demo phantom uses 0)


def gate_config(params: Path, overrides: list[str]) -> GateConfig:
    """The gate section of the params file (only that section), with KEY=VALUE overrides."""
    raw = yaml.safe_load(params.read_text()) or {}
    section = dict(raw.get("gate") or {})
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--set {item!r}: expected KEY=VALUE, e.g. max_frd_ratio=2")
        section[key.removeprefix("gate.")] = yaml.safe_load(value)
    return validate_section("gate", section, f"{params} + --set")


def build_sets(args: argparse.Namespace, real: planted.RealSets) -> list[Any]:
    """Every planted set to run: (name, seed, builder) with the builder called lazily."""
    todo: list[Any] = []
    for seed in range(args.seeds):
        todo.append(("heldout", seed, lambda s=seed: planted.heldout(real, s)))
        todo.append(
            (
                "phantom_draw",
                seed,
                lambda s=seed: planted.phantom_draw(
                    args.work, PHANTOM_SEED_BASE + s, args.params, args.phantom_patients
                ),
            )
        )
    for name, builder in planted.BAD_BUILDERS.items():
        for seed in range(args.bad_seeds):
            todo.append((name, seed, lambda b=builder, s=seed: b(real, s)))
    if args.samples is not None:
        todo.append(("demo_generator", 0, lambda: planted.demo_set(args.samples, real.classes)))
    if args.only:
        keep = set(args.only.split(","))
        todo = [t for t in todo if t[0] in keep]
    index, count = args.shard
    return [(i, *t) for i, t in enumerate(todo)][index::count]


def run_one(
    real: planted.RealSets,
    set_: planted.Planted,
    config: GateConfig,
    radiomics: RadiomicsCache | None = None,
) -> dict:
    """One planted set through the gate: its verdict, checks and counts."""
    start = time.perf_counter()
    inputs = planted.gate_inputs(real, set_)
    result = assess(inputs, config, seed=set_.seed, radiomics_cache=radiomics)
    checks = [c.as_dict() for c in result.checks]
    if bool(result.passed) != all(c["passed"] for c in checks):
        raise AssertionError("GateResult.passed disagrees with its checks")  # cannot happen
    return {
        "name": set_.name,
        "kind": set_.kind,
        "seed": set_.seed,
        "description": set_.description,
        "n_synthetic": len(set_.images),
        "n_val": len(real.val if set_.val is None else set_.val),
        **verdict(set_.kind, checks),
        "checks": checks,
        "measured": {
            scope: {name: dataclasses.asdict(m) for name, m in values.items()}
            for scope, values in result.measured.items()
        },
        "seconds": round(time.perf_counter() - start, 1),
    }


def verdict(set_kind: str, checks: list[dict]) -> dict:
    """The run's verdict fields from the gate's check rows (passed = every row passed)."""
    passed = all(c["passed"] for c in checks)
    return {
        "passed": passed,
        "as_expected": passed == (set_kind == planted.GOOD),
        "failed_gates": [_name(c) for c in checks if c["gated"] and not c["passed"]],
    }


def rejudge(doc: dict, config: GateConfig) -> dict:
    """Every saved run's measured values judged again by the gate's `evaluate` under config.

    `evaluate` is the last step of `assess` (it turns the measured values into the check
    rows); the values themselves do not depend on any threshold, so this is the verdict the
    gate gives these sets under `config`, without recomputing minutes of metrics.
    """
    from factory.gate.gates import Measured, evaluate

    runs = []
    for run in doc["runs"]:
        measured = {
            scope: {name: Measured(**m) for name, m in values.items()}
            for scope, values in run["measured"].items()
        }
        checks = [c.as_dict() for c in evaluate(measured, config)]
        runs.append({**run, "checks": checks, **verdict(run["kind"], checks)})
    return {**doc, "runs": runs, "all_as_expected": all(r["as_expected"] for r in runs)}


def _name(check: dict) -> str:
    """The gate key; with the metric when one gate judges several (detectability probes)."""
    gate = check.get("gate") or check["metric"]
    if check.get("gate") and GATES.get(gate, (check["metric"],))[0] != check["metric"]:
        gate = f"{gate} ({check['metric'].removeprefix(GATES[gate][0] + '_')})"
    scope = check.get("scope", "overall")
    return gate if scope == "overall" else f"{gate}[{scope}]"


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def _cell(check: dict) -> str:
    text = _fmt(check.get("compared_value", check.get("value")))
    return text if check["passed"] else f"**{text} ✗**"


def _columns(runs: list[dict]) -> list[str]:
    """Table columns: every gated check, then the overall reported-only rows (by metric)."""
    gated, reported = [], []
    for run in runs:
        for c in run["checks"]:
            key = _column(c)
            if c["gated"] and key not in gated:
                gated.append(key)
            elif not c["gated"] and c.get("scope", "overall") == "overall" and key not in reported:
                reported.append(key)
    order = {g: i for i, g in enumerate(GATES)}
    gated.sort(key=lambda g: (order.get(g.split("[")[0].split(" ")[0], 99), g))
    covered = {c["metric"] for run in runs for c in run["checks"] if c["gated"]}
    return gated + [r for r in reported if r.split(" ")[0] not in covered]


def _column(check: dict) -> str:
    if check["gated"]:
        return _name(check)
    return f"{check['metric']} {check.get('compared', 'value')}"


def _cell(check: dict) -> str:
    text = _fmt(check.get("compared_value", check.get("value")))
    if check.get("compared") == "value" and check.get("reference") is not None:
        text += f" (ref {_fmt(check['reference'])})"
    return text if check["passed"] else f"**{text} ✗**"


def _verdict_rows(runs: list[dict]) -> list[str]:
    lines = [
        "| planted set | kind | runs | verdict | as expected | gates failed (runs) |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for name in dict.fromkeys(r["name"] for r in runs):
        group = [r for r in runs if r["name"] == name]
        n, passes = len(group), sum(r["passed"] for r in group)
        ok = sum(r["as_expected"] for r in group)
        counts: dict[str, int] = {}
        for r in group:
            for g in r["failed_gates"]:
                counts[g] = counts.get(g, 0) + 1
        failed = ", ".join(f"{g} ({k}/{n})" for g, k in counts.items()) or "-"
        expected = "yes" if ok == n else f"**NO** ({ok}/{n})"
        lines.append(
            f"| {name} | known-{group[0]['kind']} | {n} | {passes}/{n} pass | {expected} "
            f"| {failed} |"
        )
    return lines


def _margin_rows(runs: list[dict]) -> list[str]:
    """Per gate: the worst known-good value, the threshold, and the known-bad runs it fails."""
    lines = [
        "| gate | threshold | worst known-good | margin | known-bad runs it fails |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    rows: dict[str, list[dict]] = {}
    for run in runs:
        for c in run["checks"]:
            if c["gated"]:
                rows.setdefault(_name(c), []).append({**c, "run": run})
    for gate in _columns(runs):
        if gate not in rows:
            continue
        group = rows[gate]
        first = group[0]
        good = [c["compared_value"] for c in group if c["run"]["kind"] == planted.GOOD]
        good = [g for g in good if g is not None]
        worst = (max if first["direction"] == "max" else min)(good) if good else None
        margin = None if worst is None else abs(first["threshold"] - worst)
        bad = sorted(
            {c["run"]["name"] for c in group if c["run"]["kind"] == planted.BAD and not c["passed"]}
        )
        bound = "≤" if first["direction"] == "max" else "≥"
        lines.append(
            f"| `{gate}` | {first.get('compared', 'value')} {bound} {first['threshold']} "
            f"| {_fmt(worst)} | {_fmt(margin)} | {', '.join(bad) or '**none**'} |"
        )
    return lines


def markdown(doc: dict) -> str:
    """The generated part of the section: verdicts, values per run, margins, the sets."""
    runs = doc["runs"]
    columns = _columns(runs)
    how = (
        f"Produced by `{doc['command']}` in {doc['seconds']:.0f} s (load average before "
        f"{doc['loadavg_before']}, after {doc['loadavg_after']}; {doc['cpus']} CPUs"
        + (f"; code {doc['code']}" if doc.get("code") else "")
        + ")."
    )
    if doc.get("shards"):
        how = (
            f"Measured by {doc['shards']} processes of `benchmarks/gate_power.py` (`--shard` "
            f"/ `--only`, merged with `--merge`): slowest {doc['seconds']:.0f} s wall, "
            f"{doc['cpu_seconds']:.0f} CPU-seconds in all (load average at the first start "
            f"{doc['loadavg_before']}, at the last end {doc['loadavg_after']}; {doc['cpus']} CPUs)."
        )
    if doc.get("rejudged_from"):
        how += (
            " Verdicts: the saved measured values judged by the gate's own "
            f"`factory.gate.gates.evaluate` with `--rejudge` under the gate section of "
            f"`{doc['params']}`"
        )
    else:
        how += f" Gate config: the gate section of `{doc['params']}`"
    if doc["overrides"]:
        how += f" with `--set {' '.join(doc['overrides'])}`"
    lines = [how + ".", "", "#### Verdicts", "", *_verdict_rows(runs)]
    lines += [
        "",
        "#### Values per run",
        "",
        "Each cell is the number the gate compares with its threshold (a ratio or difference "
        "to the real-versus-real reference where the gate says so; `ref` = real val against "
        "real train); **✗** = that gate failed. Columns after the gated ones are reported, "
        "not gated.",
        "",
        "| set | seed | n | " + " | ".join(f"`{c}`" for c in columns) + " |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in columns) + " |",
    ]
    for run in runs:
        by = {_column(c): c for c in run["checks"] if c["gated"] or c.get("scope") == "overall"}
        cells = [_cell(by[c]) if c in by else "-" for c in columns]
        lines.append(
            f"| {run['name']} | {run['seed']} | {run['n_synthetic']} | " + " | ".join(cells) + " |"
        )
    lines += ["", "#### Margins", "", *_margin_rows(runs), "", "#### The planted sets", ""]
    for name in dict.fromkeys(r["name"] for r in runs):
        first = next(r for r in runs if r["name"] == name)
        lines.append(f"- `{name}` (known-{first['kind']}): {first['description']}")
    return "\n".join(lines) + "\n"


def write_docs(path: Path, table: str) -> None:
    """Replace the generated table inside the gate-power section of docs/gate.md.

    The section (between BEGIN and END, owned by the gate-power benchmark) holds prose
    written by hand and the generated block between TABLE_BEGIN and TABLE_END; only the
    block is rewritten. A file without the section gets one appended.
    """
    text = path.read_text()
    block = f"{TABLE_BEGIN}\n{table}{TABLE_END}"
    if TABLE_BEGIN in text and TABLE_END in text:
        head, rest = text.split(TABLE_BEGIN, 1)
        text = head + block + rest.split(TABLE_END, 1)[1]
    else:
        section = f"{BEGIN}\n## Gate power\n\n{block}\n{END}\n"
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + section + rest.split(END, 1)[1].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N with 0 <= I < N")
    return int(index), int(count)


def merge(docs: list[dict]) -> dict:
    """Shards of one run as one document: runs in plan order (a set run by two shards:
    the first file's), the wall time of the slowest shard, CPU-seconds summed."""
    names = ["heldout", "phantom_draw", *planted.BAD_BUILDERS, "demo_generator"]
    unique = {(r["name"], r["seed"]): r for d in reversed(docs) for r in d["runs"]}
    runs = sorted(unique.values(), key=lambda r: (names.index(r["name"]), r["seed"]))
    return {
        **docs[0],
        "command": " && ".join(d["command"] for d in docs),
        "seconds": max(d["seconds"] for d in docs),
        "cpu_seconds": round(sum(d.get("cpu_seconds", 0) for d in docs), 1),
        "loadavg_before": docs[0]["loadavg_before"],
        "loadavg_after": docs[-1]["loadavg_after"],
        "shards": len(docs),
        "runs": runs,
        "all_as_expected": all(r["as_expected"] for r in runs),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ingest", type=Path, default=Path("outputs/ingest"))
    p.add_argument("--samples", type=Path, default=None, help="a sample stage output folder")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--seeds", type=int, default=5, help="seeds of each known-good set")
    p.add_argument("--bad-seeds", type=int, default=1, help="seeds of each known-bad set")
    p.add_argument("--phantom-patients", type=int, default=30)
    p.add_argument("--work", type=Path, default=Path("/tmp/gate-power"))
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--markdown", type=Path, default=None)
    p.add_argument("--docs", type=Path, default=None, help="docs/gate.md to update")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--only", default="", help="comma-separated planted set names")
    p.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="run every N-th planted set from the I-th (0-based): N processes in parallel",
    )
    p.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="saved --json files of the shards of one run: merge them (and judge as --rejudge)",
    )
    p.add_argument(
        "--rejudge",
        type=Path,
        default=None,
        help="a saved --json: judge its measured values again with the gate's own "
        "factory.gate.gates.evaluate under the gate config of --params/--set; runs no metric",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.merge:
        doc = merge([json.loads(p.read_text()) for p in args.merge])
        if args.rejudge is None:
            if args.json:
                args.json.write_text(json.dumps(doc, indent=1, default=float) + "\n")
            _write(args, doc)
            return doc
        args.rejudge.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    if args.rejudge:
        doc = rejudge(
            json.loads(args.rejudge.read_text()), gate_config(args.params, args.overrides)
        )
        doc |= {
            "params": str(args.params),
            "overrides": args.overrides,
            "rejudged_from": str(args.rejudge),
        }
        if args.json:
            args.json.write_text(json.dumps(doc, indent=1, default=float) + "\n")
        _write(args, doc)
        return doc
    logging.getLogger("radiomics").setLevel(logging.ERROR)  # it logs every feature class
    config = gate_config(args.params, args.overrides)
    raw = yaml.safe_load(args.params.read_text()) or {}
    common = validate_section("common", raw.get("common"), str(args.params))
    before, start, code = _loadavg(), time.perf_counter(), _code_version()
    radiomics = RadiomicsCache(args.work / "radiomics")
    real = planted.load_real(args.ingest, common.classes)
    runs: list[dict] = []
    for order, name, seed, build in build_sets(args, real):
        run = {"order": order, **run_one(real, build(), config, radiomics)}
        verdict = "pass" if run["passed"] else "FAIL " + ",".join(run["failed_gates"])
        print(f"{name} seed {seed}: {verdict} ({run['seconds']} s)", file=sys.stderr, flush=True)
        runs.append(run)
        doc = {
            "command": "python benchmarks/gate_power.py " + " ".join(argv or sys.argv[1:]),
            "params": str(args.params),
            "overrides": args.overrides,
            "seconds": round(time.perf_counter() - start, 1),
            "cpu_seconds": _cpu_seconds(),
            "code": code,
            "loadavg_before": before,
            "loadavg_after": _loadavg(),
            "cpus": os.cpu_count(),
            "all_as_expected": all(r["as_expected"] for r in runs),
            "radiomics_cache": radiomics.as_dict(),
            "runs": runs,
        }
        if args.json:  # after every run: a killed benchmark keeps what it measured
            args.json.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    _write(args, doc)
    return doc


def _code_version() -> str:
    """HEAD commit, and "+ uncommitted gate edits" when src/factory/gate or params differ."""
    import subprocess

    def git(*cmd: str) -> str:
        out = subprocess.run(["git", *cmd], capture_output=True, text=True, check=False)
        return out.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "src/factory/gate", "params.yaml")
    return head + (" + uncommitted gate edits" if dirty else "")


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (radiomics pools)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 1)


def _write(args: argparse.Namespace, doc: dict) -> None:
    section = markdown(doc)
    if args.markdown:
        args.markdown.write_text(section)
    if args.docs:
        write_docs(args.docs, section)
    print(section)


if __name__ == "__main__":
    main()
