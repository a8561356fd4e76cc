"""The patch transformer (SSAST's patch-based model) and masked patch modelling: patches go back
to the spectrogram, the losses equal an explicit computation, the mask token hides what it
masks, the frames sit where frame_geometry says, and both train on real tones."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from clar import hear
from clar.config import AugmentParams
from clar.costs import encoder_flops
from clar.encoders import ENCODERS, build_encoder
from clar.encoders.patch_transformer import PATCH, Masking, PatchTransformer
from clar.objectives import OBJECTIVES
from clar.objectives.masked_patches import masked_infonce, reconstruction
from clar.runs import Run
from clar.train import train

sys.path.insert(0, str(Path(__file__).parent))
from test_train import FEATURES, TRAIN, tone_store

pytestmark = pytest.mark.numeric


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tone_store(tmp_path_factory.mktemp("tones") / "tones")


def test_patches_go_back_to_the_spectrogram():
    encoder = PatchTransformer(width=0.125, in_channels=2)
    x = torch.randn(3, 2, 40, 50)  # 2 x 3 patches; 8 bins and 2 frames beyond the last
    patches = encoder.patchify(x)
    assert patches.shape == (3, 6, 2 * PATCH * PATCH)
    # Patch f * n_time + t holds channel c's block at bins 16 f.., frames 16 t.. in order.
    f, t, c = 1, 2, 1
    block = x[0, c, PATCH * f : PATCH * (f + 1), PATCH * t : PATCH * (t + 1)]
    start = c * PATCH * PATCH
    assert torch.equal(patches[0, f * 3 + t, start : start + PATCH * PATCH], block.flatten())
    back = encoder.unpatchify(patches, 2, 3)
    assert torch.equal(back, x[:, :, : 2 * PATCH, : 3 * PATCH])


def test_masked_infonce_equals_a_loop_over_clips_and_positions(float64):
    generator = torch.Generator().manual_seed(0)
    prediction, target = torch.randn(2, 3, 5, 7, generator=generator)
    loss, accuracy = masked_infonce(prediction, target)
    total, correct = 0.0, 0
    for b in range(3):
        for i in range(5):
            scores = [float(target[b, i] @ prediction[b, j]) for j in range(5)]
            total -= scores[i] - math.log(sum(math.exp(s) for s in scores))
        for j in range(5):
            # SSAST's accuracy: the true patch that best matches prediction j is patch j.
            column = [float(target[b, i] @ prediction[b, j]) for i in range(5)]
            correct += int(np.argmax(column) == j)
    torch.testing.assert_close(loss, torch.tensor(total / 15))
    assert float(accuracy) == correct / 15
    # Predictions equal to large multiples of their own targets are classified right.
    eye = torch.eye(5).expand(3, 5, 5)
    loss, accuracy = masked_infonce(10 * eye, eye)
    assert float(accuracy) == 1.0 and float(loss) < 1e-3


def test_reconstruction_on_a_hand_built_case(float64):
    prediction = torch.zeros(1, 2, 4)
    target = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0]]])
    assert float(reconstruction(prediction, target)) == (4 + 4) / 8


def test_the_mask_token_hides_the_masked_patches(float64):
    torch.manual_seed(0)
    encoder = PatchTransformer(width=0.125, in_channels=1).eval()
    x = torch.randn(1, 1, 32, 32)  # 2 x 2 patches
    mask = torch.tensor([[False, True, False, False]])
    changed = x.clone()
    changed[:, :, :16, 16:] += 5.0  # patch 1 (f 0, t 1): the masked one
    torch.testing.assert_close(encoder.encode_tokens(changed, mask), encoder.encode_tokens(x, mask))
    assert not torch.allclose(encoder.encode_tokens(changed), encoder.encode_tokens(x))


def test_masks_have_the_asked_share_and_are_drawn_again_after_a_resume():
    torch.manual_seed(0)
    encoder = PatchTransformer(width=0.125, in_channels=1)
    masking = Masking(0.75, 3)
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    first = encoder.draw_mask(4, 8, 10, masking, torch.device("cpu"))
    second = encoder.draw_mask(4, 8, 10, masking, torch.device("cpu"))
    assert first.shape == (4, 60)
    assert all(len(set(row.tolist())) == 60 for row in first)  # no position twice
    assert not torch.equal(first, second)  # a new mask every step
    encoder.load_state_dict(state)  # a resumed run: the checkpoint's count of masks drawn
    assert torch.equal(encoder.draw_mask(4, 8, 10, masking, torch.device("cpu")), first)


def test_frame_geometry_matches_the_patch_transformers_output():
    encoder = PatchTransformer(width=0.125, in_channels=3).eval()
    stride, offset, min_length = encoder.frame_geometry()
    assert (stride, offset, min_length) == (16, 7.5, 16)
    for n in (min_length, min_length + 1, 63, 100, 321):
        x = torch.randn(1, 3, 64, n)
        frames = encoder.frames(x)
        assert frames.shape == (1, encoder.out_dim, n // 16)
        assert offset + stride * (frames.shape[-1] - 1) <= n - 1
        torch.testing.assert_close(encoder(x), frames.mean(dim=2))
    with pytest.raises(Exception, match="under one 16 x 16 patch"):
        encoder.frames(torch.zeros(1, 3, 64, min_length - 1))
    # A change inside time column 2 of the input reaches frame 2's patches first.
    x = torch.randn(1, 3, 64, 64)
    changed = x.clone()
    changed[..., 2 * stride : 3 * stride] += 3.0
    assert not torch.equal(encoder.patchify(changed)[:, 2::4], encoder.patchify(x)[:, 2::4])
    assert torch.equal(encoder.patchify(changed)[:, 1::4], encoder.patchify(x)[:, 1::4])


def test_the_tiny_size_and_its_cost():
    with torch.device("meta"):
        tiny = build_encoder("patch_transformer", 1.0, 3)
        small = build_encoder("patch_transformer", 0.125, 3)
    predictors = sum(
        p.numel() for m in (tiny.discriminative, tiny.generative) for p in m.parameters()
    )
    encoder = sum(p.numel() for p in tiny.parameters()) - predictors
    # SSAST Tiny: embedding 192, 12 blocks of 3 heads, ~6 M parameters.
    assert tiny.out_dim == 192 and len(tiny.blocks) == 12 and tiny.blocks[0].heads == 3
    assert 5.5e6 < encoder < 6.0e6, encoder
    assert small.out_dim == 24
    flops = encoder_flops("patch_transformer", 1.0, 16000, 16000, FEATURES)
    assert flops < encoder_flops("spectrogram", 1.0, 16000, 16000, FEATURES)


def test_masked_patches_accepts_only_an_encoder_with_patches():
    masked = OBJECTIVES.get("masked_patches")
    assert masked.label_free() and masked.monitored
    assert masked.accepts(ENCODERS.get("patch_transformer"))
    assert not masked.accepts(ENCODERS.get("spectrogram"))
    assert not masked.accepts(ENCODERS.get("raw"))


def _train(store, tmp_path, objective: str, fraction: float, epochs: int) -> list[dict]:
    run = Run("tones", "patch_transformer", objective, fraction, 0, ("fade", "time_mask"))
    params = TRAIN.model_copy(update={"epochs": epochs})
    return train(
        run,
        store,
        params,
        AugmentParams(),
        FEATURES,
        tmp_path / objective,
        tmp_path / f"{objective}-checkpoint",
        progress=False,
        monitor=False,
    )


@pytest.mark.parametrize(
    "objective, fraction", [("supervised", 50.0), ("contrastive", 100.0), ("hybrid", 50.0)]
)
def test_the_paper_objectives_train_the_patch_transformer(store, tmp_path, objective, fraction):
    history = _train(store, tmp_path, objective, fraction, 2)
    assert len(history) == 2 and all(np.isfinite(row["loss"]) for row in history)
    assert {"model.pt", "run.json"} <= {p.name for p in (tmp_path / objective).iterdir()}


def test_masked_patch_modelling_learns_on_tones(store, tmp_path):
    history = _train(store, tmp_path, "masked_patches", 100.0, 6)
    # 0.5 s clips, 64 bins: 4 x 3 patches, 9 of them masked; chance is log 9 for the
    # discriminative loss, and the reconstruction of normalised patches starts near 1.
    chance = math.log(9)
    assert history[0]["discriminative"] > 0.95 * chance
    assert history[-1]["discriminative"] < 0.9 * chance, history
    assert np.mean([r["loss"] for r in history[-2:]]) < history[0]["loss"]
    # The run exports for HEAR: one embedding per 16 feature frames, stamped at their centres.
    hear.export(tmp_path / "masked_patches", tmp_path / "encoder.pt")
    model = hear.load_model(str(tmp_path / "encoder.pt"))
    audio = torch.randn(2, store.sample_rate) * 0.1
    embeddings, stamps = hear.get_timestamp_embeddings(audio, model)
    frames = (store.sample_rate // round(store.sample_rate * FEATURES.hop_ms / 1000) + 1) // 16
    assert embeddings.shape == (2, frames, 24)
    step = 16 * FEATURES.hop_ms
    torch.testing.assert_close(
        stamps[0], 7.5 * FEATURES.hop_ms + step * torch.arange(frames).to(stamps.dtype)
    )
    scene = hear.get_scene_embeddings(audio, model)
    torch.testing.assert_close(scene, embeddings.mean(dim=1))


TWO_PROCESSES = """
import sys
from pathlib import Path
import torch
sys.path.insert(0, {tests!r})
from clar import distributed
from clar.config import AugmentParams
from clar.data.store import Store
from clar.runs import Run
from clar.train import train
from test_distributed import FEATURES, PARAMS

store, out = sys.argv[1:]
if not distributed.relaunch(2, 1, sys.argv):
    with distributed.process_group(2, 1, torch.device("cpu")):
        for objective in ("supervised", "masked_patches"):
            run = Run("tones", "patch_transformer", objective, 100.0, 0, ())
            params = PARAMS.model_copy(update={{"devices": 2, "epochs": 2}})
            train(run, Store.open(store), params, AugmentParams(), FEATURES,
                  Path(out) / objective, Path(out) / "checkpoints" / objective,
                  progress=False, monitor=False)
"""


def test_two_processes_train_it_with_and_without_masks(tmp_path):
    """Data-parallel training needs a gradient for every parameter each step: under the
    supervised objective the mask token and the predictors get theirs at weight 0."""
    import os
    import subprocess

    store = tone_store(tmp_path / "tones", per_class=8)
    script = tmp_path / "job.py"
    script.write_text(TWO_PROCESSES.format(tests=str(Path(__file__).parent)))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, str(script), str(store.folder), str(tmp_path / "out")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for objective in ("supervised", "masked_patches"):
        assert (tmp_path / "out" / objective / "model.pt").is_file()
