"""``python -m clar.gpucheck OUT_DIR [--device cuda|cpu] [--budget-s 420] [--limit PART=SECONDS]
[--parts a,b] [--set KEY=JSON] [--keep-work]``: the parts of :mod:`clar.gpucheck.parts` one
after another, each a process of its own under its own time limit, killed (with its compiler
workers) when it overruns; ``OUT_DIR/gpucheck.json`` and ``OUT_DIR/summary.md`` are rewritten
after every part, so a check cut short still leaves what it measured.

The limits are shares of ``--budget-s`` (:data:`LIMITS` at the default 420 s, scaled with it),
each also cut to what is left of the budget; ``--limit bench_compiled=200`` sets one. The
order puts the slowest part, compiling every step, last, and it gets all the time the others
left unless its limit is given. Exit status 0 when every part ended and every check passed, 1
otherwise (the files are written either way).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from clar.atomic import write_json, write_text
from clar.cli import Parser
from clar.errors import ClarError, invalid
from clar.gpucheck.summary import merge, summary

ROOT = Path(__file__).resolve().parents[2]
BUDGET_S = 420.0  # 8 minutes less a minute for the wheel install and the interpreter's start
# The dry run's: its parts take a minute or two on an idle CPU, several on a busy one.
CPU_BUDGET_S = 1200.0
# Seconds per part at BUDGET_S, in the order they run. The last, compiling a step per input
# and objective (about a minute each with inductor), also gets whatever the others left.
LIMITS = {
    "env": 15.0,
    "checks": 130.0,  # two inductor compiles of a small ResNet-18, forward and backward
    "bench_eager": 45.0,
    "train": 60.0,
    "features_eval": 50.0,
    "bench_compiled": 120.0,
}
SIZES = {
    # Full width as the paper trains; the cell is the paper profile's sc09 cell at its batch.
    "cuda": {
        "width": 1.0,
        "bench_batch": 128,
        "bench_steps": 20,
        "clip_seconds": 1.0,
        "compiled_rows": None,
        "backend": "inductor",
        "check_width": 0.25,
        "cell": "sc09/spectrogram/hybrid",
        "batch_size": None,
        "cell_seconds": None,
        "steps_per_epoch": 4,
        "epochs": [1, 4],
        "test_clips": 512,
        "eval_epochs": None,
    },
    # The dry run: every path at tiny sizes; one compiled bench step, compiled by tracing
    # alone (aot_eager), as inductor's C++ build takes minutes on a CPU.
    "cpu": {
        "width": 0.0625,
        "bench_batch": 4,
        "bench_steps": 1,
        "clip_seconds": 0.25,
        "compiled_rows": ["spectrogram/supervised"],
        "backend": "aot_eager",
        "check_width": 0.0625,
        "cell": "sc09/spectrogram/hybrid",
        "batch_size": 8,
        "cell_seconds": 0.25,
        "steps_per_epoch": 2,
        "epochs": [1, 2],
        "test_clips": 20,
        "eval_epochs": 2,
    },
}
LAST = list(LIMITS)[-1]
GRACE_S = 5.0  # between SIGTERM and SIGKILL of an overrunning part


def last_line(path: Path) -> str | None:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


def run_part(name: str, limit: float, out_dir: Path, sizes: dict) -> dict:
    """Run one part in its own process group under ``limit`` seconds; its status (ok, failed,
    timeout), time, log and whatever result it had written."""
    part_json = out_dir / "parts" / f"{name}.json"
    log = out_dir / "logs" / f"{name}.log"
    part_json.unlink(missing_ok=True)
    work = out_dir / "work"
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "clar.gpucheck.parts", name, str(part_json), str(work)]
    began = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, json.dumps(sizes)],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=env,
            start_new_session=True,  # its own group: a kill reaches the compiler's workers
        )
        try:
            status = "ok" if process.wait(timeout=limit) == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
            for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, None)):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
    seconds = round(time.perf_counter() - began, 2)
    try:
        result = json.loads(part_json.read_text()) if part_json.exists() else None
    except json.JSONDecodeError:
        result = None
    return {
        "status": status,
        "seconds": seconds,
        "limit_s": round(limit, 1),
        "log": str(log.relative_to(out_dir)),
        "error": None if status == "ok" else last_line(log),
        "result": result,
    }


def limits(budget: float, overrides: list[str]) -> dict[str, float]:
    """Each part's limit: its share of ``budget``, or the ``PART=SECONDS`` given."""
    chosen = {name: share * budget / BUDGET_S for name, share in LIMITS.items()}
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in LIMITS:
            raise invalid(
                "python -m clar.gpucheck",
                "--limit",
                item,
                f"PART=SECONDS, PART one of {', '.join(LIMITS)}",
            )
        try:
            chosen[name] = float(value)
        except ValueError:
            raise invalid(
                "python -m clar.gpucheck", "--limit", item, "PART=SECONDS, SECONDS a number"
            ) from None
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m clar.gpucheck")
    parser.add_argument("out_dir", type=Path, help="where gpucheck.json and summary.md go")
    parser.add_argument(
        "--device", choices=("cuda", "cpu"), default="cuda", help="cpu: the dry run"
    )
    parser.add_argument(
        "--budget-s", type=float, help=f"seconds for all parts ({BUDGET_S:g}; cpu {CPU_BUDGET_S:g})"
    )
    parser.add_argument("--limit", action="append", default=[], help="PART=SECONDS, one part's own")
    parser.add_argument("--parts", help=f"a comma-separated subset of {','.join(LIMITS)}")
    parser.add_argument("--set", action="append", default=[], help="KEY=JSON, a size (SIZES)")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep OUT_DIR/work (generated clips, runs)"
    )
    args = parser.parse_args(argv)
    import torch  # here: --help and argument errors answer without loading it

    if args.device == "cuda" and not torch.cuda.is_available():
        raise ClarError(
            f"python -m clar.gpucheck: no CUDA device is visible (torch {torch.__version__}, "
            f"CUDA {torch.version.cuda}); run it on a GPU node, or add --device cpu for the dry run"
        )
    if args.budget_s is None:
        args.budget_s = BUDGET_S if args.device == "cuda" else CPU_BUDGET_S
    if not args.budget_s > 0:
        raise invalid("python -m clar.gpucheck", "--budget-s", args.budget_s, "seconds > 0")
    # env always: the summary names the device and versions whatever else runs.
    parts = ["env", *args.parts.split(",")] if args.parts else list(LIMITS)
    unknown = [p for p in parts if p not in LIMITS]
    if unknown:
        raise invalid("python -m clar.gpucheck", "--parts", args.parts, ", ".join(LIMITS))
    sizes = {**SIZES[args.device], "device": args.device}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in sizes:
            raise invalid(
                "python -m clar.gpucheck", "--set", item, f"KEY=JSON, KEY one of {', '.join(sizes)}"
            )
        sizes[key] = json.loads(value)
    chosen = limits(args.budget_s, args.limit)
    overridden = {item.partition("=")[0] for item in args.limit}
    out = args.out_dir.resolve()
    for folder in ("parts", "logs", "work"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    # The cell predicts its time from the bench's MFU of the same kind of step.
    sizes["bench"] = str(out / "parts" / "bench_eager.json")
    report: dict = {"budget_s": args.budget_s, "sizes": sizes, "parts": {}}
    began = time.perf_counter()
    for name in (p for p in LIMITS if p in parts):
        left = args.budget_s - (time.perf_counter() - began)
        if left < 1:
            report["parts"][name] = {"status": "skipped", "error": "the budget was spent"}
        else:
            limit = left if name == LAST and name not in overridden else min(chosen[name], left)
            print(f"{name}: up to {limit:.0f} s ...", flush=True)
            report["parts"][name] = run_part(name, limit, out, sizes)
            part = report["parts"][name]
            print(
                f"{name}: {part['status']} in {part['seconds']:.1f} s"
                + (f" ({part['error']})" if part["error"] else ""),
                flush=True,
            )
        whole = merge(report)
        write_json(out / "gpucheck.json", whole)
        write_text(out / "summary.md", summary(whole))
    if not args.keep_work:
        # Gigabytes of generated clips, features and checkpoints at full size: OUT_DIR is what
        # a GPU slot sends back, and it should hold the figures.
        shutil.rmtree(out / "work", ignore_errors=True)
    print(f"wrote {out / 'gpucheck.json'} and {out / 'summary.md'}")
    whole = merge(report)
    failed = [n for n, p in whole["parts"].items() if p["status"] != "ok"]
    failed += [c["name"] for c in whole.get("checks", []) if c["status"] != "pass"]
    if failed:
        print(f"not ok: {', '.join(failed)}")
    return 1 if failed else 0
