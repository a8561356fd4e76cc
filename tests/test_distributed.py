"""Data-parallel training (clar.distributed), on the CPU with gloo: two processes train as one
process does over the same global batch, the gathered NT-Xent has one process's gradient (eager
and compiled), a killed two-process run resumes to the numbers of an uninterrupted one, and no
batch straddles two shuffles."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_train import FEATURES, TRAIN, read_history, tone_store
from torch import nn

from clar import distributed
from clar.batches import epoch_batches
from clar.compose import compose
from clar.config import AugmentParams, parse_params
from clar.errors import ClarError
from clar.losses import nt_xent
from clar.objectives.fixmatch import FixMatchOptions
from clar.runs import Run
from clar.train import train, training_network

pytestmark = pytest.mark.numeric

ROOT = Path(__file__).resolve().parents[1]
PARAMS = TRAIN.model_copy(update={"width": 0.0625, "batch_size": 8, "checkpoint_every": 1})
VIEWS = "fade+time_mask"
# Augmentations off, one epoch of three steps (24 clips, batches of 8): (objective, label
# fraction); at 50 % the hybrid's labelled clips fall unevenly on the ranks. Both jobs run in
# float64 (clar.precision): in float32 the two orders of summation drift apart by rounding
# alone, ~1e-4 after three steps and different on each CPU (kernel paths, thread counts), which
# no tolerance can tell from a wrong step; in float64 they agree to ~1e-11.
SAME = (
    ("supervised", 100.0),
    ("contrastive", 100.0),
    ("hybrid", 50.0),
    ("fixmatch", 50.0),
)
# FixMatch's views name their own augmentations: none here, and every pseudo-label kept, so
# that its unlabelled term is in the comparison (its labelled clips, B = 1 of each batch of 8,
# fall on rank 0).
OPTIONS = {"fixmatch": FixMatchOptions(weak=(), strong=(), threshold=0.0)}
# The float64 agreement asked of one against two processes, in the logged losses (rounded to
# five decimals in history.tsv, so: equal) and in the trained weights, which differed by at most
# 3.1e-11 here: 300 times that, still 10,000 times below float32's rounding drift and far below
# what a wrong step gives (each rank's loss over its own share, averaged by DDP, which is
# the global batch's loss only for the supervised objective: contrastive 0.81488 against 1.49061).
FLOAT64_ATOL = 1e-8
# Augmentations on, for the resumed run: objective, label fraction, epochs.
RESUMED = ("contrastive", 100.0, 3)

# Trains the runs named on the command line as two processes, through the stages' own launch
# path. Arguments: the store, the out folder, then objective:fraction:augmentations:epochs for
# each run ("-": no augmentation); each run's folder is named objective-augmentations.
JOB = """
import sys
from pathlib import Path
import torch
sys.path.insert(0, {tests!r})
from clar import distributed
from clar.compose import compose
from clar.config import AugmentParams, parse_params
from clar.errors import ClarError
from clar.data.store import Store
from clar.runs import Run
from clar.train import train
from test_distributed import FEATURES, OPTIONS, PARAMS

store, out, *cells = sys.argv[1:]
torch.set_default_dtype(torch.float64)
if not distributed.relaunch(2, 1, sys.argv):
    with distributed.process_group(2, 1, torch.device("cpu")):
        for cell in cells:
            objective, fraction, views, epochs = cell.split(":")
            run = Run("tones", "spectrogram", objective, float(fraction), 0,
                      () if views == "-" else tuple(views.split("+")))
            params = PARAMS.model_copy(update={{"devices": 2, "epochs": int(epochs)}})
            name = f"{{objective}}-{{views}}"
            train(run, Store.open(store), params, AugmentParams(), FEATURES, Path(out) / name,
                  Path(out) / "checkpoints" / name, progress=False, monitor=False,
                  options=OPTIONS.get(objective))
"""


def job(store, out: Path, *cells: str) -> subprocess.Popen:
    """The two-process job of :data:`JOB`, started in a session of its own (to kill it whole)."""
    out.mkdir(parents=True, exist_ok=True)
    script = out / "job.py"
    script.write_text(JOB.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, str(script), str(store.folder), str(out), *cells]
    return subprocess.Popen(argv, env=env, start_new_session=True)


def history(folder: Path) -> pd.DataFrame:
    return read_history((folder / "history.tsv").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tone_store(tmp_path_factory.mktemp("tones") / "tones", per_class=8)


@pytest.fixture(scope="module")
def two_processes(store, tmp_path_factory) -> Path:
    """The folder of one two-process job: the runs of :data:`SAME`, then :data:`RESUMED`
    uninterrupted."""
    out = tmp_path_factory.mktemp("two")
    objective, fraction, epochs = RESUMED
    cells = [f"{o}:{f}:-:1" for o, f in SAME] + [f"{objective}:{fraction}:{VIEWS}:{epochs}"]
    assert job(store, out, *cells).wait(timeout=300) == 0
    return out


@pytest.mark.parametrize(
    "pool, batch, steps",
    [(6, 4, 30), (10, 4, 3), (40, 4, 5)],
    ids=["pool-smaller-than-an-epoch", "epoch-not-a-multiple-of-the-batch", "pool-larger"],
)
def test_every_batch_comes_from_within_one_shuffle(pool, batch, steps):
    indices = torch.arange(100, 100 + pool)
    batches = epoch_batches(indices, steps, batch, torch.Generator().manual_seed(0))
    assert batches.shape == (steps, batch)
    assert set(batches.flatten().tolist()) <= set(indices.tolist())
    for row in batches:
        assert len(set(row.tolist())) == batch, f"a clip twice in one batch: {row.tolist()}"
    # Each shuffle gives pool // batch batches, which together hold no clip twice.
    per_shuffle = pool // batch
    for start in range(0, steps, per_shuffle):
        drawn = batches[start : start + per_shuffle].flatten().tolist()
        assert len(set(drawn)) == len(drawn)


def _gathered_loss_worker(rank: int, world: int, init: str) -> None:
    """One rank of :func:`test_gathered_losses_have_one_process_gradients`; raises on failure."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    # In float64: the gathered loss and its gradients differed from one process's by at most
    # 9e-16 here (float32: ~1e-7, which differs per CPU).
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 5))
    views = torch.randn(2, 8, 6)
    # One process over the global batch of 8 pairs ...
    expected = {}
    for negatives in ("global", "per_rank"):
        layer.zero_grad()
        z1, z2 = layer(views.flatten(0, 1)).chunk(2)
        halves = [nt_xent(a, b) for a, b in zip(z1.chunk(world), z2.chunk(world), strict=True)]
        loss = nt_xent(z1, z2) if negatives == "global" else sum(halves) / world
        loss.backward()
        expected[negatives] = (loss.item(), [p.grad.clone() for p in layer.parameters()])
    # ... and each rank over its share, through synchronised batch norm and DDP, eager and
    # through torch.compile (train.compile).
    share = views[:, rank * 4 : (rank + 1) * 4]
    for compiled in (False, True):
        model = copy.deepcopy(layer)
        net = training_network(model, torch.device("cpu"), compiled)
        for negatives, (loss_value, grads) in expected.items():
            net.zero_grad()
            z1, z2 = net(share.flatten(0, 1)).chunk(2)
            pair = distributed.gather if negatives == "global" else (lambda z: z)
            loss = nt_xent(pair(z1), pair(z2))
            loss.backward()
            assert distributed.mean(loss).item() == pytest.approx(loss_value, abs=1e-12)
            for p, g in zip(model.parameters(), grads, strict=True):
                torch.testing.assert_close(p.grad, g, atol=1e-12, rtol=0)
    dist.destroy_process_group()


def test_gathered_losses_have_one_process_gradients(tmp_path):
    # Joined with a deadline: a rank waiting on a collective the other never sends would hang
    # (as the compiled batch norm did on DDP's process group).
    job = mp.spawn(
        _gathered_loss_worker, args=(2, f"file://{tmp_path / 'init'}"), nprocs=2, join=False
    )
    deadline = time.time() + 300
    while not job.join(timeout=5):
        if time.time() > deadline:
            for process in job.processes:
                process.kill()
            pytest.fail("the two processes did not finish in 300 s: a collective hangs")


def test_two_processes_train_as_one_over_the_same_global_batch(
    store, two_processes, tmp_path, float64
):
    """Augmentations off, float64: the loss (and the hybrid's and FixMatch's parts) and learning
    rate agree to :data:`FLOAT64_ATOL`."""
    for objective, fraction in SAME:
        run = Run("tones", "spectrogram", objective, fraction, 0, ())
        params = PARAMS.model_copy(update={"epochs": 1})
        out, checkpoints = tmp_path / objective, tmp_path / "checkpoints" / objective
        options = OPTIONS.get(objective)
        train(
            run, store, params, AugmentParams(), FEATURES, out, checkpoints, monitor=False,
            options=options,
        )  # fmt: skip
        one, two = history(out), history(two_processes / f"{objective}--")
        assert len(one) == 1 and set(one.columns) == set(two.columns)
        if objective == "fixmatch":  # the pseudo-label term is compared, not left at 0
            assert (one["mask"] == 1).all() and (one["unsupervised"] > 0).all()
        pd.testing.assert_frame_equal(
            one, two[one.columns], check_exact=False, atol=FLOAT64_ATOL, rtol=0
        )
        a, b = torch.load(out / "model.pt"), torch.load(two_processes / f"{objective}--/model.pt")
        assert a.keys() == b.keys() and all(
            v.dtype == torch.float64 for v in a.values() if v.is_floating_point()
        )
        for key in a:
            torch.testing.assert_close(
                a[key], b[key], atol=FLOAT64_ATOL, rtol=0, msg=lambda m, key=key: f"{key}: {m}"
            )


def test_a_killed_two_process_run_resumes_to_the_uninterrupted_numbers(
    store, two_processes, tmp_path
):
    """Augmentations on: each rank's generator is in the checkpoint, so the resumed job draws
    on as the uninterrupted one did."""
    objective, fraction, epochs = RESUMED
    cell, name = f"{objective}:{fraction}:{VIEWS}:{epochs}", f"{objective}-{VIEWS}"
    victim = job(store, tmp_path, cell)
    checkpoint = tmp_path / "checkpoints" / name / "checkpoint.pt"
    deadline = time.time() + 300
    while time.time() < deadline and victim.poll() is None and not checkpoint.exists():
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 0 < killed_at < epochs, "the run must be killed mid-way for this test to mean anything"
    assert not (tmp_path / name / "model.pt").exists()
    assert job(store, tmp_path, cell).wait(timeout=300) == 0
    whole, resumed = two_processes / name, tmp_path / name
    pd.testing.assert_frame_equal(history(whole), history(resumed))
    a, b = torch.load(whole / "model.pt"), torch.load(resumed / "model.pt")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_job_that_does_not_add_up_stops_with_one_line(monkeypatch):
    raw = compose(ROOT / "conf", ["train.devices=3", "train.batch_size=16"])
    allowed = r"a multiple of train\.devices x train\.nodes \(3\)"
    with pytest.raises(ClarError, match=rf"train\.batch_size = 16 is invalid; allowed: {allowed}"):
        parse_params(raw)
    with pytest.raises(ClarError, match=r"train\.nodes = 2: start this stage with torchrun"):
        distributed.relaunch(8, 2, ["stages/train.py"])
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with (
        pytest.raises(ClarError, match="2 x 1, but torchrun started 1 process"),
        distributed.process_group(2, 1, torch.device("cpu")),
    ):
        pass
