"""`make bench` on a CPU at the smallest sizes: each training step's parts add up to the step it
timed, and the figures land in the file the planner reads."""

import json

import pytest

from clar.bench import FEATURES, PARTS, RATE, bench_model, main
from clar.encoders import ENCODERS
from clar.encoders.base import SPECTROGRAM
from clar.grid import accepts
from clar.objectives import OBJECTIVES
from clar.plan import throughput


def test_bench_breaks_each_step_into_parts_that_add_up_and_writes_its_figures(tmp_path, capsys):
    out = tmp_path / "bench.json"
    tiny = ["--device", "cpu", "--width", "0.0625", "--batch", "4", "--seconds", "0.25"]
    main([*tiny, "--steps", "2", "--repeats", "1", "--workers", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["device"] == "cpu" and figures["kind"] is None
    steps = {(s["input"], s["objective"]): s for s in figures["steps"]}
    inputs, objectives = ENCODERS.names(), OBJECTIVES.names()
    assert list(steps) == [(i, o) for i in inputs for o in objectives if accepts(o, i)]
    for step in steps.values():
        parts = step["parts"]
        assert set(parts) == set(PARTS) and parts["model"] > 0
        # The parts are laps that tile the loop: every lap is one of the parts.
        assert sum(parts.values()) == pytest.approx(step["step_seconds"], rel=1e-9)
        assert step["clips_per_second"] == pytest.approx(4 / step["step_seconds"])
        assert step["tflops"] > 0 and step["mfu"] is None  # no tensor-core peak on a CPU
    # Only an encoder on the spectrogram has features computed (asked of the bench's model,
    # not of the timings: a lap of a few microseconds is at the mercy of the scheduler).
    for input in inputs:
        method = OBJECTIVES.get("supervised")()
        _, features = bench_model(input, method, 10, 0.0625, RATE, FEATURES)
        assert (features is not None) == (ENCODERS.get(input).front_end == SPECTROGRAM)
    assert "training step" in printed and "official path" in printed
    # A CPU figure carries no MFU: the planner says so and keeps its assumption.
    assert "the last bench: cpu" in throughput("h100", out).source


def test_a_compiled_step_is_timed_beside_the_eager_one():
    # --compile: the same step through torch.compile, and its speed against the eager step.
    import torch
    from torch._dynamo.utils import counters

    from clar.bench import step_table, training_step

    counters.clear()
    cpu = torch.device("cpu")
    rows = [
        training_step("raw", "supervised", 0.0625, 4, 4000, 2, cpu, compiled)
        for compiled in (False, True)
    ]
    assert counters["stats"]["unique_graphs"] > 0
    table = step_table([{**row, "mfu": None} for row in rows])
    assert list(table["compiled"]) == ["no", "yes"] and table["vs eager"][0] == "-"
    ratio = rows[1]["clips_per_second"] / rows[0]["clips_per_second"]
    assert table["vs eager"][1] == f"{ratio:.2f}x"
