"""The GPU check's one JSON file and its markdown summary, from the parts' results.

``gpucheck.json`` keeps the parts' statuses, the checks, and the bench's steps, eager and
compiled, under ``bench`` in :mod:`clar.bench`'s own format, which is what
``python -m clar plan --mfu-from`` reads (:func:`clar.plan.throughput`).
"""

from __future__ import annotations

from clar.bench import step_table
from clar.encoders import ENCODERS
from clar.grid import accepts
from clar.objectives import OBJECTIVES

FORMAT = "clar-gpucheck 1"


def _result(report: dict, name: str) -> dict:
    return (report["parts"].get(name) or {}).get("result") or {}


def _checks(report: dict) -> list[dict]:
    """The checks' results, and those its part never reached (killed, or failed first)."""
    from clar.gpucheck.checks import CHECKS

    done = _result(report, "checks").get("checks", [])
    if "checks" not in report["parts"]:
        return done
    status = report["parts"]["checks"]["status"]
    ran = {c["name"] for c in done}
    missing = [
        {"name": n, "status": "not run", "seconds": 0.0, "detail": f"the checks part: {status}"}
        for n in CHECKS
        if n not in ran
    ]
    return done + missing


def merge(report: dict) -> dict:
    """The check's JSON: what every part wrote, gathered."""
    env = _result(report, "env")
    benches = [_result(report, n) for n in ("bench_eager", "bench_compiled")]
    benches = [b for b in benches if b]
    bench = None
    if benches:
        bench = {k: v for k, v in benches[0].items() if k not in ("steps", "backend")}
        bench["source"] = "make gpu-check"
        bench["steps"] = [row for b in benches for row in b.get("steps", [])]
        bench["compile_backend"] = next((b["backend"] for b in benches if b.get("backend")), None)
    parts = {n: {k: v for k, v in p.items() if k != "result"} for n, p in report["parts"].items()}
    return {
        "format": FORMAT,
        "date": env.get("date"),
        "device": env.get("device"),
        "env": env,
        "budget_s": report["budget_s"],
        "sizes": report["sizes"],
        "parts": parts,
        "checks": _checks(report),
        "bench": bench,
        "train": _result(report, "train") or None,
        "features_eval": _result(report, "features_eval") or None,
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _train_lines(train: dict) -> list[str]:
    runs = ", ".join(
        f"{r['epochs']} epoch(s) {r['seconds']:.1f} s" + (" (warm-up)" if r.get("warm_up") else "")
        for r in train.get("runs", [])
    )
    lines = [
        f"Cell {train['cell']}, width {train['width']:g}, batch {train['batch']}, "
        f"{train['clip_samples']} samples per clip, {train['steps_per_epoch']} steps per epoch, "
        f"compiled: {train['compiled']}; runs: {runs or 'none finished'}."
    ]
    if train.get("note"):
        lines.append(
            f"{train['measured_steps']} steps more took no measurable time: {train['note']}."
        )
    elif "measured_seconds" in train:
        lines.append(
            f"The {train['measured_steps']} steps between the two runs took "
            f"{train['measured_seconds']:.2f} s "
            f"({train['seconds_per_step'] * 1e3:.1f} ms per step, "
            f"{train['achieved_tflops']:.3g} TFLOP/s"
            + (f", MFU {train['achieved_mfu']:.1%}" if train.get("achieved_mfu") else "")
            + ")."
        )
        for key, what in (("bench_mfu", "the bench's measured"), ("assumed_mfu", "the assumed")):
            p = train.get("predicted", {}).get(key)
            if p:
                mfu = f"MFU {p['mfu']:.1%}, " if p.get("mfu") else ""
                lines.append(
                    f"Planner at {what} throughput ({mfu}{p['tflops']:.3g} TFLOP/s): "
                    f"{p['seconds']:.2f} s; measured / predicted = **{p['ratio']:.2f}**."
                )
    return [f"- {line}" for line in lines]


def _features_lines(fe: dict) -> list[str]:
    lines = []
    for key in ("features_device", "features_cpu"):
        if key in fe:
            f = fe[key]
            lines.append(
                f"- Features stage on {f['device']}: {f['clips_per_second']:.0f} clips/s "
                f"({f['seconds']:.1f} s)."
            )
    if "evaluation" in fe:
        e = fe["evaluation"]
        lines.append(
            f"- One evaluation: embedding {fe['clips']} clips {e['embed_seconds']:.1f} s "
            f"({e['embed_clips_per_second']:.0f} clips/s), the {e['head']} head over "
            f"{e['head_epochs']} epochs {e['head_seconds']:.1f} s."
        )
    return lines


def summary(check: dict) -> str:
    """The markdown summary: device and versions, the parts, the checks and every figure."""
    env = check["env"]
    versions = ", ".join(
        f"{k} {env[k]}"
        for k in ("driver", "torch", "cuda", "cudnn", "nccl", "python")
        if env.get(k)
    )
    out = [
        f"# GPU check: {check['device'] or 'device unknown'}, {check['date'] or 'date unknown'}",
        "",
        f"{versions}. Budget {check['budget_s']:g} s.",
        "",
        "| part | status | time | limit | note |",
        "|---|---|---|---|---|",
    ]
    for name, part in check["parts"].items():
        note = (part.get("error") or "").replace("|", "/")
        limit = _seconds(part.get("limit_s"))
        out.append(
            f"| {name} | {part['status']} | {_seconds(part.get('seconds'))} | {limit} | {note} |"
        )
    if check["checks"]:
        out += ["", "## Checks", "", "| check | result | time | detail |", "|---|---|---|---|"]
        for c in check["checks"]:
            detail = c["detail"].replace("|", "/")
            out.append(f"| {c['name']} | {c['status']} | {c['seconds']:.1f} s | {detail} |")
    bench = check["bench"]
    if bench and bench["steps"]:
        out += [
            "",
            f"## Bench (width {bench['width']:g}, batch {bench['batch']}, "
            f"{bench['clip_seconds']:g} s clips)",
            "",
            "```",
            step_table(bench["steps"]).to_string(index=False),
            "```",
        ]
    compiled = check["parts"].get("bench_compiled", {})
    if compiled and compiled["status"] != "ok":
        done = (
            {(r["input"], r["objective"]) for r in bench["steps"] if r["compiled"]}
            if bench
            else set()
        )
        every = [(i, o) for i in ENCODERS.names() for o in OBJECTIVES.names() if accepts(o, i)]
        missing = [f"{i} {o}" for i, o in every if (i, o) not in done]
        out += ["", f"Compiled steps not measured ({compiled['status']}): {', '.join(missing)}."]
    if check["train"]:
        out += ["", "## One grid cell against the planner", "", *_train_lines(check["train"])]
    if check["features_eval"]:
        out += [
            "",
            "## Features stage and evaluation",
            "",
            *_features_lines(check["features_eval"]),
        ]
    return "\n".join(out) + "\n"
