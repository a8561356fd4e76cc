"""The planner counts what the pipeline really computes: its FLOPs per run are the encoder's
FLOPs measured on a real forward/backward times the run's clip-views, and its clip-views are
those the real grid cell puts through the encoder."""

import json
from pathlib import Path

import pytest
import torch
from test_train import tone_store
from torch.utils.flop_counter import FlopCounterMode

from clar.__main__ import main
from clar.compose import compose
from clar.config import parse_params
from clar.encoders import build_encoder
from clar.encoders.resnet import ResNet
from clar.errors import ClarError
from clar.experiments import grid_cell
from clar.features import TimeFrequency
from clar.objectives import OBJECTIVES
from clar.plan import ASSUMED_MFU, PEAK_TFLOPS, device_kind, plan, plan_runs, throughput

ROOT = Path(__file__).resolve().parents[1]
# The smallest networks and a coarse spectrogram: seconds per test on a small CPU.
SMALL = ["profile=tiny", "train.width=0.0625", "features.n_bins=32", "features.hop_ms=32"]


def tiny_params(*overrides: str):
    return parse_params(compose(ROOT / "conf", [*SMALL, *overrides]))


def measured_flops(input: str, samples: int, params, backward: bool) -> float:
    """FLOPs per clip of the encoder on two real clips, counted by FlopCounterMode: forward
    only, or forward and backward as training runs it (the input needs no gradient)."""
    torch.manual_seed(0)
    encoder = build_encoder(input, params.train.width)
    clips = 0.1 * torch.randn(2, samples)
    if input == "spectrogram":
        clips = TimeFrequency.from_params(params.prepare.sample_rate, params.features)(clips)
    with FlopCounterMode(display=False) as counter:
        if backward:
            encoder(clips).square().sum().backward()
        else:
            with torch.no_grad():
                encoder(clips)
    return counter.get_total_flops() / len(clips)


@pytest.mark.parametrize("input_", ["spectrogram", "raw"])
def test_a_runs_flops_are_the_encoders_measured_flops_times_its_clip_views(input_):
    params = tiny_params()
    run = next(r for r in plan_runs(params) if r.stage == f"train@music-{input_}-hybrid")
    samples = round(params.dataset("music").clip_seconds * params.prepare.sample_rate)
    forward = measured_flops(input_, samples, params, backward=False)
    trained = measured_flops(input_, samples, params, backward=True)
    assert run.flops_per_view == forward
    assert run.training_views > 0 and run.probe_clips > 0 and run.evaluation_clips > 0
    expected = trained * run.training_views + forward * (run.probe_clips + run.evaluation_clips)
    # The plan trains a view at 3x its forward pass; the real backward skips the gradient of the
    # encoder's input, so it is a little cheaper: by the stem's share of the forward pass, about
    # 2 % at full width and up to a third at this tiny width (where the stem dominates).
    assert expected <= run.flops <= 1.35 * expected
    assert run.forward_flops == forward * run.clip_views


@pytest.mark.parametrize(
    "objective", ["supervised", "hybrid", "contrastive", "fixmatch", "mean_teacher"]
)
def test_clip_views_are_those_the_real_grid_cell_puts_through_the_encoder(
    tmp_path, monkeypatch, objective
):
    monkeypatch.chdir(tmp_path)
    tone_store(tmp_path / "data" / "prepared" / "tones")
    raw = compose(ROOT / "conf", [*SMALL, "train.device=cpu"])
    raw["datasets"]["tones"] = {"kind": "folder", "root": "unused", "clip_seconds": 0.5}
    raw["data"]["names"], raw["augmentation_study"]["datasets"] = ["tones"], []
    # 10 % of 36 clips (2 per class, 6) is a smaller pool than a batch: a supervised epoch
    # cycles it in batches of 6.
    raw["grid"]["fractions"]["spectrogram"] = [10, 100]
    raw["loss"]["fraction_trained"] = ["supervised", "hybrid", "fixmatch", "mean_teacher"]
    params = parse_params(raw)
    group = "pretrain" if objective == "contrastive" else "train"
    runs = [r for r in plan_runs(params) if r.stage == f"{group}@tones-spectrogram-{objective}"]

    # Clips through the encoder with gradients (training) / without (the batch-norm statistics,
    # probes and evaluation).
    seen = {True: 0, False: 0}

    def count(module, args, output):
        if isinstance(module, ResNet):
            seen[torch.is_grad_enabled()] += len(args[0])

    hook = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        grid_cell(params, "tones", "spectrogram", objective)
    finally:
        hook.remove()
    assert seen[True] == sum(r.training_views for r in runs)
    # Mean Teacher's teacher view runs without gradients: forward only, in the plan too.
    assert seen[False] == sum(r.forward_views + r.probe_clips + r.evaluation_clips for r in runs)
    assert all((r.forward_views > 0) == (objective == "mean_teacher") for r in runs)


def test_overrides_change_the_plan_and_bad_ones_stop_with_one_line(capsys):
    short, long = (
        sum(r.training_views for r in plan_runs(tiny_params(*o))) for o in ([], ["train.epochs=4"])
    )
    assert long == 2 * short  # tiny trains 2 epochs
    main(["plan", "profile=tiny", "--device", "h200", "--gpus", "2"])
    out = capsys.readouterr().out
    assert "train@speech-raw-supervised" in out and "H200-hours" in out
    assert "wall time on 2 GPU(s)" in out
    for argv, says in (
        (["plan", "train.epoch=3"], "did you mean 'epochs'"),
        (["plan", "train.epochs=-1"], "train.epochs"),
        (["plan", "--device", "tpu"], "--device"),
        (["plan", "--gpus", "0"], "--gpus"),
        (["plan", "--hours", "0"], "--hours"),
    ):
        with pytest.raises(ClarError, match=says) as error:
            main(argv)
        assert "\n" not in str(error.value)


def test_time_comes_from_the_bench_figure_when_a_gpu_bench_left_one(tmp_path):
    params = tiny_params()
    assumed = throughput("h100", tmp_path / "none.json")
    assert assumed.measured_mfu == {} and f"assumed MFU {ASSUMED_MFU:.0%}" in assumed.source
    bench = tmp_path / "bench.json"
    # Eager steps at half the assumed MFU, compiled ones (make bench --compile) at twice it.
    steps = [
        {"input": i, "objective": o, "compiled": compiled, "mfu": 0.6 if compiled else 0.15}
        for i in ("raw", "spectrogram")
        for o in ("supervised", "contrastive", "hybrid")
        for compiled in (False, True)
    ]
    bench.write_text(
        json.dumps(
            {
                "device": "NVIDIA H200",
                "date": "2026-11-30",
                "width": 1.0,
                "batch": 128,
                "clip_seconds": 1.0,
                "steps": steps,
            }
        )
    )
    measured = throughput("h100", bench)
    runs = plan_runs(params)
    # Half the assumed MFU: twice the time, run by run.
    for run in runs:
        assert measured.seconds(run) == pytest.approx(2 * assumed.seconds(run))
    assert "eager steps from make bench on NVIDIA H200" in plan(params, "h100", 1, bench)
    # train.compile plans with the compiled steps' MFU.
    compiled = throughput("h100", bench, compiled=True)
    for run in runs:
        assert compiled.seconds(run) == pytest.approx(assumed.seconds(run) / 2)
    on = params.model_copy(update={"train": params.train.model_copy(update={"compile": True})})
    assert "compiled steps from make bench" in plan(on, "h100", 1, bench)
    assert measured.seconds(runs[0]) == pytest.approx(
        runs[0].flops / (PEAK_TFLOPS["h100"] * 1e12 * 0.15)
    )
    assert device_kind("NVIDIA H100 80GB HBM3") == "h100"
    assert device_kind("NVIDIA H100 PCIe") == "h100-pcie"


def test_a_deadline_says_what_throughput_it_needs(tmp_path):
    params = tiny_params()
    none = tmp_path / "no-bench.json"
    hours = throughput("h100", none)
    gpu_hours = sum(hours.seconds(run) for run in plan_runs(params)) / 3600
    # Half the perfectly split wall time as the deadline: twice the throughput, twice the MFU.
    tight = plan(params, "h100", 2, none, hours=gpu_hours / 4)
    assert f"needs 2.00x this throughput; at the assumed {ASSUMED_MFU:.0%}, an MFU of" in tight
    assert f"an MFU of {2 * ASSUMED_MFU:.0%}" in tight
    assert "split perfectly fits" in plan(params, "h100", 2, none, hours=gpu_hours)
    assert "\ndeadline " not in plan(params, "h100", 2, none)


def test_paper_lite_runs_every_paper_data_set_and_claim_in_eight_h100_hours(tmp_path):
    params = parse_params(compose(ROOT / "conf", ["profile=paper-lite"]))
    paper = parse_params(compose(ROOT / "conf", ["data=paper"]))
    assert set(params.data.names) == set(paper.data.names)
    assert set(params.grid.inputs) == {"raw", "spectrogram"}
    # The paper's three objectives (the builtin others are added by a loss option).
    assert set(params.loss.fraction_trained + params.loss.label_free) == set(OBJECTIVES.names()[:3])
    fractions = {f for input in params.grid.inputs for f in params.grid.fractions_for(input)}
    assert len(fractions) >= 2 and min(fractions) <= 10 and len(params.grid.seeds) >= 3
    assert params.augmentation_study.datasets and params.augmentation_study.combos
    speed = throughput("h100", tmp_path / "no-bench.json")  # the assumed MFU
    hours = sum(speed.seconds(run) for run in plan_runs(params)) / 3600
    assert 4 < hours <= 8


def test_paper_lite_with_the_extended_methods_stays_within_twelve_h100_hours(tmp_path):
    """loss=extended adds FixMatch, Mean Teacher, masked patches and the patch transformer to
    paper-lite: every one of them planned, the whole within about 12 H100-hours."""
    params = parse_params(compose(ROOT / "conf", ["profile=paper-lite", "loss=extended"]))
    runs = plan_runs(params)
    objectives = {run.objective for run in runs}
    assert {"fixmatch", "mean_teacher", "masked_patches"} <= objectives
    assert set(OBJECTIVES.names()[:3]) <= objectives
    assert ("patch_transformer", "masked_patches") in {(r.input, r.objective) for r in runs}
    # The grid leaves out what an objective does not accept: no masked patches on a ResNet.
    assert ("raw", "masked_patches") not in {(r.input, r.objective) for r in runs}
    speed = throughput("h100", tmp_path / "no-bench.json")
    hours = sum(speed.seconds(run) for run in runs) / 3600
    lite = parse_params(compose(ROOT / "conf", ["profile=paper-lite"]))
    assert sum(speed.seconds(run) for run in plan_runs(lite)) / 3600 < hours <= 12.5


PLUGINS = '''
import torch
from torch import nn

from clar.encoders.base import Encoder
from clar.objectives.contrastive import Contrastive


class ThreeViews(Contrastive):
    """The contrastive objective over three views of each clip."""

    name = "threeviews"
    views = 3


class TinyWave(Encoder):
    name = "tinywave"
    front_end = "waveform"

    def __init__(self, width: float = 1.0, in_channels: int = 1) -> None:
        super().__init__()
        self.out_dim = round(64 * width)
        self.conv = nn.Conv1d(in_channels, self.out_dim, kernel_size=16, stride=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(1)).mean(-1)


class TinyBands(Encoder):
    name = "tinybands"
    front_end = "spectrogram"

    def __init__(self, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        self.out_dim = round(64 * width)
        self.conv = nn.Conv2d(in_channels, self.out_dim, kernel_size=(4, 1), stride=(4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((-2, -1))
'''


@pytest.fixture
def registries(monkeypatch):
    """The registries as they are, restored after the test: its plug-ins leave with it."""
    from clar.encoders import ENCODERS

    for registry in (OBJECTIVES, ENCODERS):
        registry.names()  # the project's own registered first
        monkeypatch.setattr(registry, "_methods", dict(registry._methods))
        monkeypatch.setattr(registry, "_plugins", dict(registry._plugins))


def test_the_planner_costs_plugged_in_objectives_and_encoders_from_what_they_declare(
    tmp_path, registries
):
    from clar.grid import load_methods

    plugins = tmp_path / "plugins.py"
    plugins.write_text(PLUGINS)
    raw = compose(ROOT / "conf", SMALL)
    raw["plugins"]["objectives"] = [f"{plugins}:ThreeViews"]
    raw["plugins"]["encoders"] = [f"{plugins}:TinyWave", f"{plugins}:TinyBands"]
    raw["grid"]["inputs"] = ["tinywave", "tinybands"]
    raw["grid"]["fractions"] = {"tinywave": [100], "tinybands": [100]}
    raw["loss"]["label_free"] = ["contrastive", "threeviews"]
    raw["augmentation_study"]["datasets"] = []
    params = parse_params(raw)
    load_methods(params)
    planned = {run.stage: run for run in plan_runs(params)}
    samples = round(params.dataset("music").clip_seconds * params.prepare.sample_rate)
    features = TimeFrequency.from_params(params.prepare.sample_rate, params.features)
    channels, out = len(features.channels), round(64 * params.train.width)
    # A multiply-add is two FLOPs: the 1-D convolution's kernel of 16 at stride 8 over the
    # waveform, the 2-D one's of 4 bins at stride 4 over every channel of the features.
    expected = {
        "tinywave": 2 * out * 16 * ((samples - 16) // 8 + 1),
        "tinybands": 2
        * out
        * channels
        * 4
        * (params.features.n_bins // 4)
        * features.frames(samples),
    }
    for input, flops in expected.items():
        two, three = (planned[f"pretrain@music-{input}-{o}"] for o in ("contrastive", "threeviews"))
        assert two.flops_per_view == three.flops_per_view == flops > 0
        # Three views per clip: half as many training views again; the same probes (both are
        # monitored) and evaluation.
        assert 2 * three.training_views == 3 * two.training_views > 0
        assert (three.probe_clips, three.evaluation_clips) == (
            two.probe_clips,
            two.evaluation_clips,
        )
        training = [3 * r.flops_per_view * r.training_views for r in (two, three)]
        assert 2 * training[1] == 3 * training[0]
        assert three.flops - two.flops == training[1] - training[0]
    text = plan(params, "h100", 1, tmp_path / "no-bench.json")
    assert "pretrain@music-tinybands-threeviews" in text
