"""A split read from the device and the same split streamed from the host give the same batches."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from clar.data.clips import Clips
from clar.data.store import SCALE

pytestmark = pytest.mark.numeric

WORDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech_commands_subset"
CPU = torch.device("cpu")
# On a GPU the streamed split takes another path (pinned buffers, a copy stream): test both.
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


@pytest.fixture
def recorded(tmp_path: Path) -> np.ndarray:
    """int16 ``[N, 4000]`` quarter seconds of real recorded words, memory-mapped as the store
    holds its splits."""
    if not WORDS.is_dir():
        pytest.skip(f"{WORDS} not present")
    pieces = []
    for path in sorted(WORDS.glob("*/*.wav"))[:4]:
        audio, _ = sf.read(path, dtype="int16")
        pieces += [audio[i : i + 4000] for i in range(0, len(audio) - 3999, 4000)]
    np.save(tmp_path / "train.npy", np.stack(pieces))
    return np.load(tmp_path / "train.npy", mmap_mode="r")


@pytest.mark.parametrize("device", DEVICES)
def test_streamed_batches_equal_resident_ones(recorded: np.ndarray, device: str) -> None:
    resident = Clips(recorded, torch.device(device), budget_bytes=recorded.nbytes)
    streamed = Clips(recorded, torch.device(device), budget_bytes=recorded.nbytes - 1)
    assert resident.resident and not streamed.resident
    generator = torch.Generator().manual_seed(0)
    index = torch.randint(len(recorded), (5, 4), generator=generator)  # repeats and any order
    for a, b, row in zip(resident.batches(index), streamed.batches(index), index, strict=True):
        expected = torch.from_numpy(recorded[row.numpy()].astype(np.float32)) / SCALE
        torch.testing.assert_close(a.cpu(), expected, rtol=0, atol=0)
        torch.testing.assert_close(b.cpu(), expected, rtol=0, atol=0)
        assert a.dtype == b.dtype == torch.float32 and a.abs().max() > 0
        assert a.device.type == b.device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_chunks_cover_every_clip_in_order(recorded: np.ndarray, device: str) -> None:
    # The evaluation's path: chunks of a split over budget, the last one shorter.
    streamed = Clips(recorded, torch.device(device), budget_bytes=0)
    chunks = list(streamed.chunks(3))
    assert len(recorded) % 3 and len(chunks[-1]) == len(recorded) % 3
    assert [len(c) for c in chunks[:-1]] == [3] * (len(chunks) - 1)
    whole = torch.cat(chunks).cpu()
    torch.testing.assert_close(whole * SCALE, torch.from_numpy(recorded.astype(np.float32)))


def test_a_run_streaming_its_split_trains_as_one_holding_it(tmp_path: Path) -> None:
    # A device budget smaller than the split (NSynth's case on a GPU): the same numbers.
    from test_train import FEATURES, TRAIN, tone_store

    from clar.config import AugmentParams
    from clar.runs import Run
    from clar.train import train

    store = tone_store(tmp_path / "tones", per_class=6)
    run = Run("tones", "raw", "contrastive", 100.0, 0, ("fade", "time_mask"))
    histories = []
    for budget in (TRAIN.device_clips_gb, 0.0):
        params = TRAIN.model_copy(update={"epochs": 2, "device_clips_gb": budget})
        out = tmp_path / f"budget-{budget:g}"
        histories.append(
            train(run, store, params, AugmentParams(), FEATURES, out, out / "ckpt", progress=False)
        )
    losses = [[row["loss"] for row in history] for history in histories]
    assert losses[0] == losses[1] and len(losses[0]) == 2


def test_evaluation_embeds_a_streamed_split_as_a_held_one(tmp_path: Path) -> None:
    from test_train import FEATURES, RATE, tone_store

    from clar.models import build_model
    from clar.probe import embed_splits

    store = tone_store(tmp_path / "tones", per_class=4)
    torch.manual_seed(0)
    model = build_model("raw", "contrastive", 3, 0.125, RATE, FEATURES).eval()
    held, streamed = (
        embed_splits(model, store, None, FEATURES, 5, CPU, budget) for budget in (1e12, 0.0)
    )
    for split in held:
        torch.testing.assert_close(held[split], streamed[split], rtol=0, atol=0)
