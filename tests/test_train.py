"""Training and evaluation learn for real: the loss falls, the head tells signal from noise, and a
killed run resumes to the same numbers as an uninterrupted one."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from clar.config import AugmentParams, EvaluateParams, FeatureParams, TrainParams
from clar.data.generated import write_generated
from clar.data.store import Store, to_float
from clar.probe import fit_head, scores
from clar.runs import Run
from clar.train import train

pytestmark = pytest.mark.numeric

RATE = 16000
FEATURES = FeatureParams(
    window_ms=128.0,
    hop_ms=8.0,
    n_bins=64,
    f_min=40.0,
    f_max=8000.0,
    channels=("log_stft", "phase", "log_mel"),
    max_gb=1.0,
)
TRAIN = TrainParams(
    width=0.125,
    epochs=6,
    batch_size=16,
    lr=3e-3,
    weight_decay=1e-6,
    lars=False,
    warmup_epochs=0,
    temperature=0.5,
    checkpoint_every=1,
    eval_every=3,
    device="cpu",
    per_dataset={},
)
# Compiled against eager training in float64: the weights differed by at most 1.2e-10 here;
# float32's drift on another kernel path was 1e-2 of their norm.
COMPILED_ATOL = 1e-8


def tone_store(folder: Path, per_class: int = 12) -> Store:
    """A real tensor store of three classes of noisy tones (low, middle, high pitch)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(RATE // 2) / RATE

    def fill(split: str, labels: np.ndarray, array: np.ndarray) -> None:
        for i, c in enumerate(labels):
            f = (300, 900, 2700)[c] * rng.uniform(0.9, 1.1)
            clip = 0.4 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) + 0.05 * rng.normal(
                size=len(t)
            )
            array[i] = (clip * 32767).astype(np.int16)

    splits = {"train": per_class, "valid": 4, "test": 4}
    write_generated(
        folder,
        {split: np.repeat(np.arange(3), n) for split, n in splits.items()},
        fill,
        name="tones",
        kind="test",
        sample_rate=RATE,
        samples=len(t),
        label_names=("low", "mid", "high"),
        classes=("high", "low", "mid"),
        source="synthetic",
    )
    return Store.open(folder)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tone_store(tmp_path_factory.mktemp("tones") / "tones")


@pytest.mark.parametrize(
    "input_, objective",
    [("spectrogram", "supervised"), ("spectrogram", "hybrid"), ("raw", "contrastive")],
)
def test_short_training_decreases_the_loss(store, tmp_path, input_, objective):
    run = Run("tones", input_, objective, 50.0, 0, ("fade", "time_mask"))
    history = train(
        run,
        store,
        TRAIN,
        AugmentParams(),
        FEATURES,
        tmp_path / "run",
        tmp_path / "ckpt",
        progress=False,
    )
    losses = [row["loss"] for row in history]
    assert len(losses) == TRAIN.epochs and all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < losses[0], losses
    assert {"model.pt", "run.json", "history.tsv"} <= {p.name for p in (tmp_path / "run").iterdir()}


@pytest.mark.inductor
def test_a_compiled_run_trains_as_the_eager_one(store, tmp_path, float64):
    # train.compile: the same run through torch.compile (inductor, C++ on a CPU) gives the eager
    # run's losses and weights, saved under the model's own keys. In float64: in float32 the
    # reordered sums of the generated kernels drift by rounding, grown by two epochs of Adam to
    # 2 % of the weights' norm on one kernel path, which no tolerance can tell from a wrong graph.
    from torch._dynamo.utils import counters

    run = Run("tones", "raw", "hybrid", 50.0, 0, ("fade", "time_mask"))
    params = TRAIN.model_copy(update={"epochs": 2})
    histories, weights = [], []
    counters.clear()
    for compiled in (False, True):
        out = tmp_path / f"compile-{compiled}"
        step = params.model_copy(update={"compile": compiled})
        histories.append(
            train(run, store, step, AugmentParams(), FEATURES, out, out / "ckpt", progress=False)
        )
        # The training's state, as the checkpoint keeps it: model.pt's batch-norm statistics are
        # recomputed from these weights (clar.batchnorm), which magnifies any difference of the
        # weights (in float32, 0.7 % of their norm became about 6 %).
        weights.append(torch.load(out / "ckpt" / "checkpoint.pt", weights_only=False)["model"])
        assert torch.load(out / "model.pt").keys() == weights[-1].keys()
        assert (counters["stats"]["unique_graphs"] > 0) == compiled
    eager, compiled = ([row["loss"] for row in history] for history in histories)
    np.testing.assert_allclose(compiled, eager, rtol=0, atol=COMPILED_ATOL)
    assert weights[0].keys() == weights[1].keys()
    flat = [torch.cat([w[key].flatten().double() for key in sorted(w)]) for w in weights]
    torch.testing.assert_close(flat[1], flat[0], rtol=0, atol=COMPILED_ATOL)


def test_evaluation_head_chance_on_noise_and_near_perfect_on_separable_features():
    gen = torch.Generator().manual_seed(0)
    n, d, k = 300, 32, 5
    labels = {s: torch.randint(0, k, (n,), generator=gen) for s in ("train", "valid", "test")}
    params = EvaluateParams(head="mlp", epochs=60, lr=1e-3, batch_size=64)

    def accuracy(make):
        feats = {s: make(labels[s]) for s in labels}
        head, _ = fit_head(
            feats["train"], labels["train"], feats["valid"], labels["valid"], k, params, seed=0
        )
        with torch.no_grad():
            return scores(head(feats["test"]).argmax(1), labels["test"], k)["accuracy"]

    centres = 4.0 * torch.randn(k, d, generator=gen)
    separable = accuracy(lambda y: centres[y] + torch.randn(len(y), d, generator=gen))
    noise = accuracy(lambda y: torch.randn(len(y), d, generator=gen))
    assert separable > 0.95
    assert abs(noise - 1 / k) < 0.12


def test_evaluation_writes_per_clip_predictions_and_the_real_label_fraction(store, tmp_path):
    from clar import runs
    from clar.models import build_model
    from clar.probe import embed_splits, evaluate

    torch.manual_seed(0)
    model = build_model("raw", "supervised", 3, 0.125, RATE, FEATURES).eval()
    params = EvaluateParams(head="mlp", epochs=3, lr=1e-3, batch_size=16)
    embedded = embed_splits(model, store, None, FEATURES, 16, torch.device("cpu"))
    result, predictions = evaluate(model, store, embedded, 25, params, 0, own_classifier=True)
    # 25 % of 12 clips per class is 3 per class: the real share is what was used, per class.
    assert result["labelled"]["per_class"] == {"high": 3, "low": 3, "mid": 3}
    assert result["labelled"]["clips"] == 9 and result["labelled"]["share"] == 25.0
    test = store.rows("test")
    assert result["test_clips"] == len(test) == len(predictions["label"])
    assert list(predictions["clip"]) == list(test["source"])
    assert np.array_equal(predictions["label"], test["label"].to_numpy())
    assert predictions["logits"].shape == (len(test), 3)
    assert np.array_equal(predictions["predicted"], predictions["logits"].argmax(1))
    correct = (predictions["predicted"] == predictions["label"]).mean()
    assert result["evaluation_head"]["accuracy"] == pytest.approx(correct)
    own = (predictions["classifier_predicted"] == predictions["label"]).mean()
    assert result["classifier"]["accuracy"] == pytest.approx(own)
    # The classifier's logits are the model's own, end to end from the test waveforms.
    with torch.no_grad():
        direct = model.logits(to_float(store.array("test")))
    np.testing.assert_allclose(predictions["classifier_logits"], direct.numpy(), atol=1e-4)

    runs.write_predictions(tmp_path, 25, predictions)
    back = runs.read_predictions(tmp_path, 25)
    assert back.keys() == predictions.keys()
    assert all(np.array_equal(back[k], predictions[k]) for k in predictions)
    assert [p.name for p in tmp_path.iterdir()] == ["predictions-f25.npz"]


def test_head_selection_sees_only_the_validation_labels_of_the_runs_fraction(store, one_thread):
    from clar.models import build_model
    from clar.probe import embed_splits, evaluate, selection_clips

    # Stratified and nested like the training labels: 1 of 4 clips per class at 25 %.
    at = {f: selection_clips(store, f, "fraction") for f in (25, 50, 100)}
    valid = store.labels("valid")
    assert torch.bincount(valid[at[25]]).tolist() == [1, 1, 1]
    assert (at[25] <= at[50]).all() and at[100].all()
    assert selection_clips(store, 25, "full_validation").all()

    torch.manual_seed(0)
    model = build_model("raw", "supervised", 3, 0.125, RATE, FEATURES).eval()
    embedded = embed_splits(model, store, None, FEATURES, 16, torch.device("cpu"))
    # The validation clips a 25 % run has no label for, replaced: what they say must not matter.
    hidden = ~at[25]
    noise = torch.randn(int(hidden.sum()), embedded["valid"].shape[1], generator=torch.Generator())
    altered = {**embedded, "valid": embedded["valid"].clone()}
    altered["valid"][hidden] = 10 * noise

    def head(selection: str, embeddings: dict) -> tuple[dict, np.ndarray]:
        params = EvaluateParams(head="mlp", epochs=12, lr=1e-2, batch_size=16, selection=selection)
        result, predictions = evaluate(model, store, embeddings, 25, params, 0, False)
        return result["evaluation_head"], predictions["logits"]

    (fraction, logits), (fraction_altered, logits_altered) = (
        head("fraction", e) for e in (embedded, altered)
    )
    assert fraction == fraction_altered and np.array_equal(logits, logits_altered)
    assert fraction["selection"] == "fraction" and fraction["valid_clips"] == 3
    full, full_altered = (head("full_validation", e)[0] for e in (embedded, altered))
    assert full["valid_clips"] == 12
    chosen = ("best_epoch", "valid_accuracy")
    assert [full[k] for k in chosen] != [full_altered[k] for k in chosen]
    last = head("last_epoch", altered)[0]
    assert last["best_epoch"] == 12 and last["selection"] == "last_epoch"


def test_scores_agree_with_scikit_learn():
    from sklearn.metrics import confusion_matrix, f1_score

    gen = torch.Generator().manual_seed(1)
    k = 6
    target = torch.randint(0, k - 1, (200,), generator=gen)  # class 5 never occurs ...
    predicted = torch.where(
        torch.rand(200, generator=gen) < 0.6, target, torch.randint(0, k - 2, (200,), generator=gen)
    )  # ... nor is predicted; class 4 is never predicted
    got = scores(predicted, target, k)
    labels = list(range(k))
    assert got["accuracy"] == pytest.approx((predicted == target).float().mean().item())
    assert got["macro_f1"] == pytest.approx(
        f1_score(target, predicted, labels=labels, average="macro", zero_division=0)
    )
    assert got["confusion"] == confusion_matrix(target, predicted, labels=labels).tolist()


def test_non_finite_loss_stops_with_a_clear_error(store, tmp_path):
    from clar.errors import ClarError

    run = Run("tones", "spectrogram", "supervised", 100.0, 0, ())
    with pytest.raises(ClarError, match=r"epoch \d+, step \d+ of \d+; lower train\.lr"):
        train(
            run,
            store,
            TRAIN.model_copy(update={"lr": 1e30, "epochs": 3}),
            AugmentParams(),
            FEATURES,
            tmp_path / "run",
            tmp_path / "ckpt",
            progress=False,
        )


def read_history(text: str) -> pd.DataFrame:
    """A history.tsv's table: per-epoch losses and probes, no wall-clock values."""
    return pd.read_csv(io.StringIO(text), sep="\t")


RESUME_SCRIPT = """
import sys
from pathlib import Path
from clar.config import AugmentParams
from clar.data.store import Store
from clar.runs import Run
from clar.train import train
sys.path.insert(0, {tests!r})
from test_train import FEATURES, TRAIN
run = Run("tones", "spectrogram", "hybrid", 50.0, 0, ("fade", "time_mask"))
params = TRAIN.model_copy(update={{"epochs": 8}})
train(run, Store.open({store!r}), params, AugmentParams(), FEATURES,
      Path(sys.argv[1]), Path(sys.argv[2]), progress=False)
"""


def test_killed_run_resumes_to_the_same_result(store, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        RESUME_SCRIPT.format(tests=str(Path(__file__).parent), store=str(store.folder))
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def run(out, ckpt):
        return subprocess.Popen([sys.executable, str(script), str(out), str(ckpt)], env=env)

    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "a"), str(tmp_path / "ca")],
        env=env,
        check=True,
    )
    victim = run(tmp_path / "b", tmp_path / "cb")
    checkpoint = tmp_path / "cb" / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and victim.poll() is None:
        if checkpoint.exists():
            state = torch.load(checkpoint, weights_only=False)
            if state["epoch"] >= 3:
                break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 0 < killed_at < 8, "the run must be killed mid-way for this test to mean anything"
    assert not (tmp_path / "b" / "model.pt").exists()
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "b"), str(tmp_path / "cb")],
        env=env,
        check=True,
    )
    first = (tmp_path / "a" / "history.tsv").read_text()
    resumed = (tmp_path / "b" / "history.tsv").read_text()
    assert first == resumed  # byte for byte: history.tsv holds no wall-clock value
    a = torch.load(tmp_path / "a" / "model.pt")
    b = torch.load(tmp_path / "b" / "model.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert (
        json.loads((tmp_path / "b" / "run.json").read_text())["fingerprint"]
        == json.loads((tmp_path / "a" / "run.json").read_text())["fingerprint"]
    )


def test_code_is_part_of_the_fingerprint(tmp_path):
    import shutil

    from clar import sources

    copy = tmp_path / "project"
    shutil.copytree(sources.ROOT / "clar", copy / "clar")
    before = sources.digest("clar.train", copy)
    # A file the training loop does not run leaves it alone ...
    (copy / "clar" / "report" / "index.py").write_text("# edited\n", encoding="utf-8")
    assert sources.digest("clar.train", copy) == before
    # ... one it runs, however deep, does not.
    with (copy / "clar" / "losses.py").open("a") as f:
        f.write("\n# edited\n")
    assert sources.digest("clar.train", copy) != before


def test_a_checkpoint_of_other_code_is_not_resumed(store, tmp_path):
    import shutil

    from clar import sources

    copy = tmp_path / "project"
    shutil.copytree(sources.ROOT / "clar", copy / "clar")
    script = tmp_path / "run.py"
    script.write_text(
        RESUME_SCRIPT.format(tests=str(Path(__file__).parent), store=str(store.folder)).replace(
            '"epochs": 8', '"epochs": 1'
        )
    )
    env = {**os.environ, "PYTHONPATH": str(copy)}

    def train_once() -> str:
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "out"), str(tmp_path / "ckpt")],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    train_once()
    assert "from scratch" not in train_once()  # same code: the finished checkpoint is reused
    with (copy / "clar" / "losses.py").open("a") as f:
        f.write("\n# edited\n")
    said = train_once()
    assert "checkpoint.pt: written with other code (clar/); training from scratch" in said
