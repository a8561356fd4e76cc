"""train.per_objective: each objective's own batch size and learning rate, validated, applied
over train.per_dataset, and recorded in the run's run.json."""

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
from test_train import tone_store

from clar import runs
from clar.compose import compose
from clar.config import parse_params
from clar.errors import ClarError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw():
    return compose(ROOT / "conf", ["profile=tiny"])


def with_train(raw, **train):
    out = copy.deepcopy(raw)
    out["train"].update(train)
    return out


@pytest.mark.parametrize(
    "train, pieces",
    [
        (
            {"per_objective": {"hybrid": {"learning_rate": 0.1}}},
            ["train.per_objective.hybrid.learning_rate is not a parameter", "lr"],
        ),
        ({"per_objective": {"hybrid": {"lr": 100.0}}}, ["per_objective.hybrid.lr", "<= 10"]),
        ({"per_objective": {"supervised": {"batch_size": 1}}}, ["batch_size", ">= 2"]),
        ({"per_objective": {"contrastive": {"lars": "yes"}}}, ["lars", "true or false"]),
        (
            {"devices": 2, "per_objective": {"contrastive": {"batch_size": 15}}},
            ["train.per_objective.contrastive.batch_size = 15", "multiple of"],
        ),
    ],
)
def test_bad_per_objective_settings_stop_with_one_line(raw, train, pieces):
    with pytest.raises(ClarError) as caught:
        parse_params(with_train(raw, **train))
    message = str(caught.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message, (piece, message)


def test_objective_settings_apply_over_the_data_sets_and_only_to_their_objective(raw):
    params = parse_params(
        with_train(
            raw,
            per_dataset={"speech": {"epochs": 7, "batch_size": 64}},
            per_objective={"contrastive": {"batch_size": 32, "lr": 0.002}},
        )
    )
    contrastive = params.train.for_run("speech", "contrastive")
    assert (contrastive.epochs, contrastive.batch_size, contrastive.lr) == (7, 32, 0.002)
    assert contrastive.per_dataset == {} and contrastive.per_objective == {}
    supervised = params.train.for_run("speech", "supervised")
    assert (supervised.epochs, supervised.batch_size, supervised.lr) == (7, 64, params.train.lr)
    # An objective the setting does not name trains with what it trained with before: its
    # runs keep their fingerprint, and a finished checkpoint is reused.
    before = parse_params(with_train(raw, per_dataset={"speech": {"epochs": 7, "batch_size": 64}}))
    assert before.train.for_run("speech", "supervised") == supervised
    assert before.train.for_run("speech", "contrastive") != contrastive


def test_the_objectives_settings_reach_the_training_loop_and_run_json(raw, tmp_path, monkeypatch):
    from clar.experiments import train_and_evaluate

    monkeypatch.chdir(tmp_path)
    tone_store(tmp_path / "data" / "prepared" / "tones")
    per_objective = {"hybrid": {"batch_size": 8, "lr": 0.002}}
    params = parse_params(with_train(raw, device="cpu", per_objective=per_objective))
    for objective, batch, lr in (("hybrid", 8, 0.002), ("supervised", 16, params.train.lr)):
        run = runs.Run("tones", "spectrogram", objective, 100.0, 0, ("fade", "time_mask"))
        out = train_and_evaluate(params, run, runs.GRID, (100.0,), objective)
        info = json.loads((out / runs.RUN_FILE).read_text())
        # 36 training clips: ceil(36 / batch) steps per epoch.
        steps = -(-36 // batch)
        assert info["effective"]["batch_size"] == info["train"]["batch_size"] == batch
        assert info["effective"]["lr"] == info["train"]["lr"] == lr
        assert info["effective"]["steps_per_epoch"] == steps
        assert info["train"]["per_objective"] == {}
        # The tiny profile warms up for one epoch: the rate at its end is the peak.
        history = pd.read_csv(out / runs.HISTORY_FILE, sep="\t")
        assert history["lr"].iloc[0] == pytest.approx(lr)
