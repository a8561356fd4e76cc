"""Prototypical probing (Bird-MAE): the head's forward and its orthogonality term against explicit
loops, the frame embeddings it takes, and a probe that learns on a trained encoder; the pooled
heads' evaluation is the one they had before frame-taking heads existed."""

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from clar.config import AugmentParams, EvaluateParams
from clar.data.store import to_float
from clar.errors import ClarError
from clar.frame_embeddings import check_frames_size, frames_key, takes_frames
from clar.heads import HEADS, LinearHead, MLPHead, PrototypeHead
from clar.probe import embed_splits, evaluate
from clar.runs import Run, load_model
from clar.train import train
from tests.test_train import FEATURES, TRAIN, tone_store

pytestmark = pytest.mark.numeric

CPU = torch.device("cpu")
# The commit before heads could take frames: the pooled heads' evaluation must not have moved.
BEFORE_FRAMES = "8521931"


def test_the_head_is_registered_and_declares_it_takes_frames():
    assert HEADS.get("proto") is PrototypeHead and PrototypeHead.title == "prototypical"
    assert PrototypeHead.frames and not MLPHead.frames and not LinearHead.frames
    assert takes_frames("mlp", "proto") and not takes_frames("mlp", "linear")


def test_forward_is_the_best_frame_per_prototype_through_class_connections(float64):
    # An explicit loop over clips, classes, prototypes and frames, in float64.
    torch.manual_seed(0)
    b, t, d, c, k = 3, 5, 6, 4, 3
    head = PrototypeHead(d, c, prototypes=k)
    with torch.no_grad():  # negative weights too: the layer uses their ReLU
        head.prototypes.normal_()
        head.weight.normal_()
        head.bias.normal_()
    frames = torch.randn(b, t, d)
    expected = torch.zeros(b, c)
    for i in range(b):
        for ci in range(c):
            total = head.bias[ci].item()
            for ki in range(k):
                p = head.prototypes[ci * k + ki]
                best = max(
                    max(0.0, (frames[i, j] @ p / (frames[i, j].norm() * p.norm())).item())
                    for j in range(t)
                )
                total += max(0.0, head.weight[ci, ki].item()) * best
            expected[i, ci] = total
    torch.testing.assert_close(head(frames), expected, rtol=1e-12, atol=1e-12)
    # A frame's order does not matter; a clip's best frame alone decides.
    torch.testing.assert_close(head(frames.flip(1)), expected, rtol=1e-12, atol=1e-12)


def test_orthogonality_term_is_each_classes_gram_off_the_identity(float64):
    torch.manual_seed(1)
    c, k, d = 3, 4, 5
    head = PrototypeHead(d, c, prototypes=k)
    squares = 0.0
    for ci in range(c):
        for i in range(k):
            for j in range(k):
                p, q = head.prototypes[ci * k + i], head.prototypes[ci * k + j]
                cos = (p @ q / (p.norm() * q.norm())).item()
                squares += (cos - (i == j)) ** 2
    assert head.regularisation().item() == pytest.approx(squares**0.5 / (c * k * k), rel=1e-12)
    # Orthonormal prototypes within each class: no penalty.
    with torch.no_grad():
        head.prototypes.copy_(torch.eye(d)[:k].repeat(c, 1))
    assert head.regularisation().item() == pytest.approx(0.0, abs=1e-12)


def test_the_prototypes_and_the_layer_learn_at_their_own_rates():
    head = PrototypeHead(8, 3)
    groups = head.param_groups(1e-3)
    assert [g["lr"] for g in groups] == pytest.approx([0.04, 4e-4])  # the authors' rates
    listed = [p for g in groups for p in g["params"]]
    assert sorted(map(id, listed)) == sorted(map(id, head.parameters()))
    mlp = MLPHead(8, 3)  # the pooled heads: one group at evaluate.lr, no extra loss term
    assert list(mlp.param_groups(1e-3)) == list(mlp.parameters())
    assert mlp.regularisation() is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A contrastive spectrogram encoder trained briefly on the tone store (no labels)."""
    tmp = tmp_path_factory.mktemp("proto")
    store = tone_store(tmp / "tones")
    run = Run("tones", "spectrogram", "contrastive", 100.0, 0, ("fade", "time_mask"))
    train(run, store, TRAIN, AugmentParams(), FEATURES, tmp / "run", tmp / "ckpt", progress=False)
    model, _, _ = load_model(tmp / "run", CPU)
    return store, model.eval(), tmp / "run"


def test_frames_are_the_encoders_beside_unchanged_pooled_embeddings(trained):
    store, model, _ = trained
    pooled = embed_splits(model, store, None, FEATURES, 16, CPU)
    both = embed_splits(model, store, None, FEATURES, 16, CPU, frames=True)
    assert set(both) == {*pooled, *(frames_key(s) for s in pooled)}
    assert all(torch.equal(both[s], pooled[s]) for s in pooled)
    with torch.no_grad():
        wave = to_float(store.array("test")[:3])
        direct = model.encoder.frames(model.front(wave)).transpose(1, 2)
    assert both[frames_key("test")].shape[1:] == direct.shape[1:]
    torch.testing.assert_close(both[frames_key("test")][:3], direct, rtol=1e-5, atol=1e-5)
    # The pooled vector is the frames' mean (2-D: over frequency, then time, equal sizes).
    torch.testing.assert_close(
        both[frames_key("test")].double().mean(1), both["test"].double(), rtol=1e-5, atol=1e-5
    )
    params = EvaluateParams(head="proto", epochs=2, lr=1e-3, batch_size=16)
    with pytest.raises(ClarError, match=r"evaluate\.head = 'proto' takes the encoder's frames"):
        evaluate(model, store, pooled, 100.0, params, 0, own_classifier=False)
    with pytest.raises(ClarError, match=r"evaluate\.head: the frames of 60 clips .* 0\.0 GB"):
        check_frames_size(both[frames_key("test")], 60, 1e3)


def test_prototypical_probe_learns_on_a_trained_encoder(trained):
    # Measured (seed 0, 12 test clips, chance 1/3): proto 1.00, mlp 1.00, linear 0.83 at 100 %
    # labels; the same at 25 %. (The tones are easy: a probe that learns at all gets them.)
    store, model, _ = trained
    embedded = embed_splits(model, store, None, FEATURES, 16, CPU, frames=True)
    accuracy = {}
    for fraction in (100.0, 25.0):
        for head in ("proto", "mlp", "linear"):
            params = EvaluateParams(head="mlp", epochs=50, lr=1e-3, batch_size=256)
            result, predictions = evaluate(
                model, store, embedded, fraction, params, 0, False, head_name=head
            )
            assert result["evaluation_head"]["kind"] == head
            assert predictions["logits"].shape == (12, 3)
            accuracy[head, fraction] = result["evaluation_head"]["accuracy"]
    print(accuracy)
    assert accuracy["proto", 100.0] >= 0.75 and accuracy["proto", 25.0] >= 0.75, accuracy


BASE_SCRIPT = """
import json, sys
import numpy as np, torch
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.test_train import FEATURES
from clar.config import EvaluateParams
from clar.data.store import Store
from clar.probe import embed_splits, evaluate
from clar.runs import load_model
model, _, _ = load_model(Path(sys.argv[2]), torch.device("cpu"))
store = Store.open(Path(sys.argv[3]))
embedded = embed_splits(model.eval(), store, None, FEATURES, 16, torch.device("cpu"))
params = EvaluateParams(head="mlp", epochs=20, lr=1e-3, batch_size=16)
result, predictions = evaluate(model, store, embedded, 50.0, params, 0, own_classifier=False)
Path(sys.argv[4]).write_text(json.dumps(result))
np.save(sys.argv[5], predictions["logits"])
"""


def test_the_mlp_evaluation_is_byte_identical_to_before_frame_heads(trained, tmp_path):
    # The same evaluation through the code of BEFORE_FRAMES (a subprocess on its tree) and this
    # one, same machine and threads: the same JSON and the same logits, bit for bit.
    store, _, run_dir = trained
    repo = Path(__file__).resolve().parents[1]
    git = shutil.which("git")
    if (
        git is None
        or subprocess.run(
            [git, "-C", str(repo), "cat-file", "-e", f"{BEFORE_FRAMES}^{{commit}}"],
            capture_output=True,
        ).returncode
    ):
        pytest.skip(f"the commit {BEFORE_FRAMES} is not in this checkout's history")
    archive = tmp_path / "base.tar"
    subprocess.run([git, "-C", str(repo), "archive", "-o", str(archive), BEFORE_FRAMES], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "base", filter="data")
    outputs = {}
    for name, tree in (("before", tmp_path / "base"), ("now", repo)):
        script = tmp_path / "evaluate.py"
        script.write_text(BASE_SCRIPT)
        paths = [tmp_path / f"{name}.json", tmp_path / f"{name}.npy"]
        subprocess.run(
            [
                sys.executable,
                str(script),
                str(tree),
                str(run_dir),
                str(store.folder),
                *map(str, paths),
            ],
            check=True,
            capture_output=True,
            env={"PATH": "", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree)},
        )
        outputs[name] = (paths[0].read_bytes(), np.load(paths[1]))
    assert outputs["now"][0] == outputs["before"][0]
    assert outputs["now"][1].tobytes() == outputs["before"][1].tobytes()
    assert json.loads(outputs["now"][0])["evaluation_head"]["kind"] == "mlp"
