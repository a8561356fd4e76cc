"""The plug-in examples of docs/extending.md, used as a researcher would: named in params.yaml's
``plugins:``, trained on real clips, rebuilt from run.json in a fresh process, retrained after
an edit, exported for HEAR; and their losses checked against the definitions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import test_train
import torch
import torch.nn.functional as F
import yaml

from clar import grid, hear, runs
from clar.config import AugmentParams, Params, parse_params
from clar.encoders import ENCODERS
from clar.losses import nt_xent
from clar.models import Model, build_model
from clar.objectives import OBJECTIVES, Labels
from clar.plugins import load
from clar.probe import fit_head, scores
from clar.runs import Run
from clar.train import train

pytestmark = pytest.mark.numeric

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
SUPCON = f"{EXAMPLES / 'supcon.py'}:SupCon"
SIMSIAM = f"{EXAMPLES / 'simsiam.py'}:SimSiam"
SMALL_CNN = f"{EXAMPLES / 'small_cnn.py'}:SmallCNN"
HEAD = f"{EXAMPLES / 'standardised_linear.py'}:StandardisedLinear"
VIEWS = ("fade", "time_mask")
# The training tests' tiny network and tones, for a few epochs of batches of 12.
TRAIN = test_train.TRAIN.model_copy(update={"epochs": 5, "batch_size": 12, "eval_every": 5})


def params() -> Params:
    """params.yaml with the examples named under ``plugins:`` and in the grid."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["plugins"] = {"objectives": [SUPCON, SIMSIAM], "encoders": [SMALL_CNN], "heads": []}
    raw["loss"]["fraction_trained"] += ["supcon"]
    raw["loss"]["label_free"] += ["simsiam"]
    raw["loss"]["options"] = {"supcon": {"base_temperature": 0.25}}
    raw["grid"]["inputs"] += ["small_cnn"]
    raw["grid"]["fractions"]["small_cnn"] = [10, 100]
    return parse_params(raw)


@pytest.fixture
def plugged(registries) -> Params:
    """The examples registered from params, as every entry point does; gone after the test."""
    p = params()
    grid.load_methods(p)
    return p


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return test_train.tone_store(tmp_path_factory.mktemp("tones") / "tones")


def train_run(p, run: Run, store, folder: Path, epochs: int = TRAIN.epochs) -> list[dict]:
    return train(
        run,
        store,
        TRAIN.model_copy(update={"epochs": epochs}),
        AugmentParams(),
        test_train.FEATURES,
        folder / "run",
        folder / "ckpt",
        progress=False,
        monitor=False,
        options=grid.objective_options(p, run.objective),
    )


def test_the_examples_join_the_grid(plugged):
    assert OBJECTIVES.names()[-2:] == ("supcon", "simsiam")
    assert OBJECTIVES.get("supcon").labels == Labels.FRACTION_AND_UNLABELLED
    assert OBJECTIVES.get("simsiam").label_free()
    assert ENCODERS.names()[-1] == "small_cnn"
    cells = {(c.input, c.objective) for c in grid.grid_cells(plugged)}
    assert {("small_cnn", "supcon"), ("small_cnn", "simsiam"), ("raw", "supcon")} <= cells
    scored = grid.cell_runs(plugged, plugged.data.names[0], "small_cnn", "simsiam")
    # Label-free: one run per seed, scored at each of its encoder's fractions.
    assert {s.fractions for s in scored} == {(10.0, 100.0)}
    assert grid.objective_options(plugged, "supcon").base_temperature == 0.25


def test_supcon_without_labels_is_nt_xent(float64):
    supcon_loss = load(f"{EXAMPLES / 'supcon.py'}:supcon_loss")
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 12, 16, generator=generator)
    none = torch.full((12,), -1)
    for temperature in (0.1, 0.5):
        expected = nt_xent(z1, z2, temperature)
        torch.testing.assert_close(supcon_loss(z1, z2, none, temperature), expected)
        # base_temperature scales the loss by temperature / base_temperature.
        scaled = supcon_loss(z1, z2, none, temperature, base_temperature=0.07)
        torch.testing.assert_close(scaled, expected * temperature / 0.07)


def test_supcon_is_the_papers_sum_over_positives(float64):
    supcon_loss = load(f"{EXAMPLES / 'supcon.py'}:supcon_loss")
    generator = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(2, 7, 5, generator=generator)
    labels = torch.tensor([0, 1, 0, -1, 2, 1, -1])
    # Term by term, as the paper's equation 2 (L_out) reads.
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    y, clip = labels.repeat(2).tolist(), list(range(7)) * 2
    total = 0.0
    for i in range(14):
        others = [a for a in range(14) if a != i]
        denominator = sum(torch.exp(z[i] @ z[a] / 0.3) for a in others)
        positives = [a for a in others if clip[a] == clip[i] or (y[i] >= 0 and y[a] == y[i])]
        total += -sum(torch.log(torch.exp(z[i] @ z[p] / 0.3) / denominator) for p in positives) / (
            len(positives)
        )
    torch.testing.assert_close(supcon_loss(z1, z2, labels, 0.3), total / 14)
    # Labels change it: same-class views pulled together count as positives.
    assert not torch.isclose(supcon_loss(z1, z2, labels, 0.3), nt_xent(z1, z2, 0.3))


def test_simsiam_stops_the_gradient_at_the_projection():
    simsiam_loss = load(f"{EXAMPLES / 'simsiam.py'}:simsiam_loss")
    generator = torch.Generator().manual_seed(2)
    p1, p2, z1, z2 = (torch.randn(6, 8, generator=generator).requires_grad_() for _ in range(4))
    loss = simsiam_loss(p1, p2, z1, z2)
    loss.backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0
    # -1 where each prediction points along the other view's projection.
    same = simsiam_loss(2 * z2.detach(), 3 * z1.detach(), z1, z2)
    torch.testing.assert_close(same, torch.tensor(-1.0))


def test_frame_geometry_matches_the_small_cnns_output(registries):
    encoder = ENCODERS.ensure("small_cnn", SMALL_CNN, "test")(width=0.125, in_channels=3).eval()
    stride, offset, min_length = encoder.frame_geometry()
    assert (stride, offset, min_length) == (8, 3.5, 8)
    for n in (min_length, min_length + 1, 63, 64, 999):
        frames = encoder.frames(torch.zeros(1, 3, 64, n)).shape[-1]
        assert frames == n // stride
        # The last output frame is centred on the input, never beyond it.
        assert offset + stride * (frames - 1) <= n - 1
    with pytest.raises(RuntimeError):
        encoder.frames(torch.zeros(1, 3, 64, min_length - 1))
    # Frame i's receptive field is input positions 8i .. 8i + 7 (three 3x3 convolutions
    # widen it past that, symmetrically): a change at position 8i + 3 reaches frame i.
    x = torch.zeros(1, 3, 16, 64)
    base = encoder.frames(x)
    x[..., 8 * 5 + 3] = 1.0
    changed = (encoder.frames(x) - base).abs().sum(dim=1)[0]
    assert changed[5] > 0 and changed[0] == 0 and changed[-1] == 0


def separation(model: Model, clips: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean cosine between the head's projections of same-class clips minus that between
    clips of different classes: near 0 for unrelated directions, at most 2."""
    with torch.no_grad():
        out = model(clips)
    z = F.normalize(out[0] if isinstance(out, tuple) else out, dim=1)
    cosine = z @ z.T
    same = labels[:, None] == labels[None, :]
    others = same & ~torch.eye(len(labels), dtype=torch.bool)
    return float(cosine[others].mean() - cosine[~same].mean())


LOAD_SCRIPT = """
import sys
from pathlib import Path
import torch
from clar import runs
model, info, _ = runs.load_model(Path(sys.argv[1]), torch.device("cpu"))
torch.manual_seed(0)
clips = torch.randn(3, info["sample_rate"] // 2)
with torch.no_grad():
    torch.save({"state": model.state_dict(), "embedding": model.embed(clips),
                "classes": [type(model.encoder).__name__, type(model.head).__name__]},
               sys.argv[2])
"""


def rebuilt_elsewhere(run_dir: Path, tmp_path: Path) -> dict:
    """``clar.runs.load_model`` of ``run_dir`` in a fresh process, where nothing but run.json
    says where the plug-ins are."""
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "loaded.pt"
    subprocess.run(
        [sys.executable, str(script), str(run_dir), str(out)], env=env, check=True, cwd=tmp_path
    )
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize(
    "objective, spec, fraction", [("supcon", SUPCON, 50.0), ("simsiam", SIMSIAM, 100.0)]
)
def test_an_example_trains_and_is_rebuilt_from_its_run(
    plugged, store, tmp_path, objective, spec, fraction
):
    run = Run("tones", "small_cnn", objective, fraction, 0, VIEWS)
    history = train_run(plugged, run, store, tmp_path)
    losses = [row["loss"] for row in history]
    assert len(losses) == TRAIN.epochs and all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < losses[0], losses
    # Learnt, on held-out clips: same-class projections point alike, other classes apart
    # (SimSiam without a label); an untrained network's do not (measured: 0.002-0.004 for both
    # against 0.93-0.99 SupCon and 0.35-0.61 SimSiam after training, seeds 0 and 1).
    model, _, _ = runs.load_model(tmp_path / "run", torch.device("cpu"))
    torch.manual_seed(0)
    untrained = build_model(
        "small_cnn", objective, 3, TRAIN.width, store.sample_rate, test_train.FEATURES
    )
    valid = torch.from_numpy(store.array("valid")[:] / 32767).float()
    trained = separation(model, valid, store.labels("valid"))
    assert trained > separation(untrained.eval(), valid, store.labels("valid")) + 0.2
    info = runs.read_run_info(tmp_path / "run")
    assert info["plugins"] == {"objective": spec, "encoder": SMALL_CNN}
    loaded = rebuilt_elsewhere(tmp_path / "run", tmp_path)
    assert loaded["classes"] == [type(model.encoder).__name__, type(model.head).__name__]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded["state"][key], value), key
    torch.manual_seed(0)
    with torch.no_grad():
        here = model.embed(torch.randn(3, store.sample_rate // 2))
    # The same weights and operations; only the threads' order of summation may differ.
    torch.testing.assert_close(loaded["embedding"], here, rtol=1e-5, atol=1e-6)


def test_an_edited_example_is_trained_again(plugged, store, tmp_path, capsys):
    # A copy of the example, registered from its own file, as plugins/supcon.py would be.
    copied = tmp_path / "plugins" / "supcon_copy.py"
    copied.parent.mkdir()
    copied.write_text((EXAMPLES / "supcon.py").read_text().replace('"supcon"', '"supcon_copy"'))
    OBJECTIVES.add_specs([f"{copied}:SupCon"], "plugins.objectives")
    run = Run("tones", "small_cnn", "supcon_copy", 50.0, 0, VIEWS)
    train_run(plugged, run, store, tmp_path, epochs=1)
    train_run(plugged, run, store, tmp_path, epochs=1)
    assert "from scratch" not in capsys.readouterr().out  # unchanged: the checkpoint is kept
    with copied.open("a") as f:
        f.write("\n# a comment is an edit too: the file's bytes are fingerprinted\n")
    train_run(plugged, run, store, tmp_path, epochs=1)
    said = capsys.readouterr().out
    # The message names the plug-in file that changed, not the run's others (small_cnn.py).
    assert "written with other plug-in code (supcon_copy.py); training from" in said


def test_a_small_cnn_run_exports_for_hear(plugged, store, tmp_path):
    run = Run("tones", "small_cnn", "simsiam", 100.0, 0, VIEWS)
    train_run(plugged, run, store, tmp_path, epochs=1)
    hear.export(tmp_path / "run", tmp_path / "small_cnn.pt")
    shutil.rmtree(tmp_path / "run")
    model = hear.load_model(str(tmp_path / "small_cnn.pt"))
    hop_ms = test_train.FEATURES.hop_ms
    assert model.frame_ms == 8 * hop_ms and model.offset_ms == 3.5 * hop_ms
    assert model.timestamp_embedding_size == model.scene_embedding_size == 16  # 128 * 0.125
    seconds = 1.3
    audio = torch.rand(2, round(seconds * store.sample_rate), generator=torch.Generator()) * 2 - 1
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    frames = embeddings.shape[1]
    assert embeddings.shape == (2, frames, 16) and timestamps.shape == (2, frames)
    steps = timestamps[0].diff()
    torch.testing.assert_close(steps, torch.full_like(steps, 8 * hop_ms))
    assert timestamps[0, 0] == 3.5 * hop_ms and timestamps[0, -1] <= seconds * 1000
    # The frames cover the clip: the last is less than one frame from its end.
    assert timestamps[0, -1] > seconds * 1000 - model.frame_ms
    scene = hear.get_scene_embeddings(audio, model)
    with torch.no_grad():
        pooled = model.model.embed(audio)
    torch.testing.assert_close(scene, pooled, rtol=1e-5, atol=1e-6)


def test_the_example_evaluation_head_is_fitted_as_the_papers(registries):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["plugins"]["heads"] = [HEAD]
    raw["evaluate"]["head"] = "standardised_linear"
    p = parse_params(raw)
    grid.load_methods(p)
    params = p.evaluate.model_copy(update={"epochs": 40, "batch_size": 64})
    generator = torch.Generator().manual_seed(0)
    n, d, k = 300, 32, 5
    labels = {s: torch.randint(0, k, (n,), generator=generator) for s in ("train", "valid", "test")}
    # Separable classes, far from the origin: the probe must learn, not start right.
    centres = 4.0 * torch.randn(k, d, generator=generator) + 50.0
    h = {s: centres[y] + torch.randn(n, d, generator=generator) for s, y in labels.items()}
    head, _ = fit_head(h["train"], labels["train"], h["valid"], labels["valid"], k, params, seed=0)
    assert type(head).__name__ == "StandardisedLinear"
    with torch.no_grad():
        accuracy = scores(head(h["test"]).argmax(1), labels["test"], k)["accuracy"]
    assert accuracy > 0.95


NARROW = '''
from pydantic import BaseModel, ConfigDict

from clar.heads import ClassifierHead
from clar.objectives.supervised import Supervised


class NarrowOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    hidden: int = 512


class Narrow(Supervised):
    """The supervised baseline with its classifier's width as an option."""

    name = "narrow"
    title = "narrow"
    Options = NarrowOptions

    def head(self, dim, n_classes):
        return ClassifierHead(dim, n_classes, hidden=self.options.hidden)
'''


def test_options_that_shape_a_head_rebuild_it_from_the_run(registries, store, tmp_path):
    plugin = tmp_path / "narrow.py"
    plugin.write_text(NARROW)
    OBJECTIVES.add_specs([f"{plugin}:Narrow"], "plugins.objectives")
    options = OBJECTIVES.get("narrow").Options(hidden=7)
    run = Run("tones", "raw", "narrow", 100.0, 0, VIEWS)
    train(
        run, store, TRAIN.model_copy(update={"epochs": 1}), AugmentParams(), test_train.FEATURES,
        tmp_path / "run", tmp_path / "ckpt", progress=False, monitor=False, options=options,
    )  # fmt: skip
    assert runs.read_run_info(tmp_path / "run")["options"] == {"hidden": 7}
    # run.json's options give the head its width: the weights load into it (a default head
    # of 512 would refuse them), in this process, in a fresh one, and from a HEAR export.
    model, _, _ = runs.load_model(tmp_path / "run", torch.device("cpu"))
    assert model.head.net[0].out_features == 7
    assert (
        rebuilt_elsewhere(tmp_path / "run", tmp_path)["state"].keys() == model.state_dict().keys()
    )
    hear.export(tmp_path / "run", tmp_path / "narrow.pt")
    assert hear.load_model(str(tmp_path / "narrow.pt")).model.head.net[0].out_features == 7
