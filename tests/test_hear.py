"""The HEAR 2021 API over an exported run: the contract HEAR's evaluation relies on (shapes,
dtypes, batch independence, determinism, timestamps within the clip, any clip length) for both
encoders, end to end from a run folder through ``python -m clar export`` and ``load_model``."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import test_train
import torch
import torchaudio.functional as AF

from clar import runs
from clar.__main__ import main as clar_main
from clar.data.audio import decode
from clar.encoders.resnet import resnet18_1d, resnet18_2d
from clar.errors import ClarError
from clar.hear import (
    HearModel,
    export,
    get_scene_embeddings,
    get_timestamp_embeddings,
    load_model,
)
from clar.models import build_model
from clar.runs import Run

# The paper's two encoders, by the names the registry gives them.
INPUTS = ("raw", "spectrogram")

pytestmark = pytest.mark.numeric

RATE = 16000
WIDTH = 0.125
CLASSES = ["low", "mid", "high"]
# FSDD's recordings where params.yaml expects them, else in a local data folder beside the clone.
FSDD = next(
    (
        path
        for path in (
            Path(__file__).resolve().parents[1] / "data" / "fsdd" / "recordings",
            Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings",
        )
        if path.is_dir()
    ),
    Path("data/fsdd/recordings"),
)
# The training tests' small network and features, changed where these tests need it: a
# coarser hop, one short epoch of small batches.
FEATURES = test_train.FEATURES.model_copy(update={"hop_ms": 16.0})
TRAIN = test_train.TRAIN.model_copy(
    update={
        "width": WIDTH,
        "epochs": 1,
        "batch_size": 4,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "eval_every": 1,
    }
)


def assert_near(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to float sums in another order (one clip vs a batch, the mean of a map vs the
    pooling layer): an untrained network's outputs reach the hundreds, so the tolerance scales."""
    scale = float(expected.abs().max())
    torch.testing.assert_close(actual, expected, atol=1e-5 * scale, rtol=1e-4)


def make_run(folder: Path, input: str) -> Path:
    """A run folder as training leaves it, with a freshly initialised hybrid model whose batch
    norm statistics are not the identity (so a lost buffer or batch statistics would show)."""
    run = Run("tones", input, "hybrid", 100.0, 0, ("fade", "time_mask"))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(input, "hybrid", len(CLASSES), WIDTH, RATE, FEATURES)
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
    run_dir = runs.folder(run, runs.GRID, folder)
    run_dir.mkdir(parents=True)
    runs.save(model.state_dict(), run_dir / runs.MODEL_FILE)
    runs.write_run_info(
        run_dir,
        {
            "run": asdict(run),
            "classes": CLASSES,
            "sample_rate": RATE,
            "train": TRAIN.model_dump(mode="json"),
            "features": FEATURES.model_dump(mode="json"),
        },
    )
    return run_dir


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """One exported file per input kind, written by the CLI; the run folders are deleted
    afterwards, so everything below proves the file stands alone."""
    root = tmp_path_factory.mktemp("hear")
    files = {}
    for input in INPUTS:
        run_dir = make_run(root / "runs", input)
        files[input] = root / f"{input}.pt"
        clar_main(["export", str(run_dir), str(files[input])])
    shutil.rmtree(root / "runs")
    return files


@pytest.fixture(scope="module", params=INPUTS)
def model(request, exported) -> HearModel:
    return load_model(str(exported[request.param]))


def noise(n: int, seconds: float, seed: int = 0) -> torch.Tensor:
    """``[n, samples]`` uniform noise in [-1, 1], as HEAR's validator feeds."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, round(seconds * RATE), generator=generator) * 2 - 1


def test_load_model_rebuilds_the_run_from_the_file_alone(exported):
    for input, path in exported.items():
        model = load_model(str(path))
        assert isinstance(model, torch.nn.Module)
        assert not model.training
        assert model.sample_rate == RATE and isinstance(model.sample_rate, int)
        assert model.scene_embedding_size == model.timestamp_embedding_size == 64  # 512 / 8
        assert isinstance(model.scene_embedding_size, int)
        assert model.input == input and model.classes == CLASSES
        saved = torch.load(path, weights_only=True)
        assert saved["width"] == WIDTH and saved["features"]["hop_ms"] == FEATURES.hop_ms
        # The weights are the run's, batch norm statistics included.
        for key, value in model.model.state_dict().items():
            assert torch.equal(value, saved["state_dict"][key]), key


def test_export_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ClarError, match=r"no run\.json; pass a finished run folder"):
        export(tmp_path, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_load_model_refuses_what_it_cannot_use(tmp_path):
    with pytest.raises(ClarError, match="no model file given"):
        load_model()
    with pytest.raises(ClarError, match="no such file"):
        load_model(str(tmp_path / "missing.pt"))
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ClarError, match="not an exported encoder"):
        load_model(str(tmp_path / "foreign.pt"))
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ClarError, match="cannot read as an exported encoder"):
        load_model(str(tmp_path / "text.pt"))


@pytest.mark.parametrize("seconds", [0.1, 1.07, 3.0])
def test_shapes_and_dtypes(model, seconds):
    audio = noise(2, seconds)
    embeddings, timestamps = get_timestamp_embeddings(audio, model)
    scene = get_scene_embeddings(audio, model)
    frames = embeddings.shape[1]
    assert embeddings.shape == (2, frames, model.timestamp_embedding_size) and frames >= 1
    assert timestamps.shape == (2, frames)
    assert scene.shape == (2, model.scene_embedding_size)
    for tensor in (embeddings, timestamps, scene):
        assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
        assert tensor.device == audio.device and torch.isfinite(tensor).all()


def test_scene_embedding_is_the_encoders_pooled_output(model):
    audio = noise(3, 1.0)
    scene = get_scene_embeddings(audio, model)
    embeddings, _ = get_timestamp_embeddings(audio, model)
    with torch.no_grad():
        pooled = model.model.embed(audio)
    assert_near(scene, pooled)
    torch.testing.assert_close(scene, embeddings.mean(dim=1), atol=0, rtol=0)
    assert torch.equal(model(audio), scene)


def test_a_clip_alone_embeds_as_in_a_batch(model):
    audio = noise(5, 0.7, seed=1)
    batch, batch_times = get_timestamp_embeddings(audio, model)
    for i in (0, 3):
        alone, alone_times = get_timestamp_embeddings(audio[i : i + 1], model)
        assert_near(alone[0], batch[i])
        assert torch.equal(alone_times[0], batch_times[i])


def test_embeddings_are_deterministic_and_ignore_training_mode(model):
    audio = noise(2, 0.5, seed=2)
    first = get_timestamp_embeddings(audio, model)
    model.train()  # HEAR's harness may leave it so; batch statistics would mix the clips
    try:
        second = get_timestamp_embeddings(audio, model)
    finally:
        model.eval()
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not model.training


@pytest.mark.parametrize("seconds", [1 / RATE, 0.01, 0.05, 0.1, 0.25, 1.07, 1.98, 3.0])
def test_timestamps_increase_regularly_within_the_clip(model, seconds):
    audio = noise(2, seconds, seed=3)
    duration_ms = audio.shape[1] * 1000 / RATE
    embeddings, timestamps = get_timestamp_embeddings(audio, model)
    assert torch.equal(timestamps[0], timestamps[1])
    assert (timestamps >= 0).all() and (timestamps <= duration_ms).all()
    steps = timestamps[0].diff()
    assert (steps > 0).all()
    torch.testing.assert_close(steps, torch.full_like(steps, model.frame_ms))
    # The frames cover the clip: the last is less than one frame from its end.
    assert timestamps[0, -1] > duration_ms - model.frame_ms
    assert torch.isfinite(embeddings).all()


def test_frame_geometry_matches_the_encoders_output():
    for encoder, length in ((resnet18_1d(WIDTH), 100), (resnet18_2d(WIDTH), 1)):
        stride, offset, min_length = encoder.eval().frame_geometry()
        assert stride == 32
        shape = (1, 1) if encoder.dim == 1 else (1, 3, 8)
        for n in (min_length, min_length + 1, length, 999, 4000):
            frames = encoder.feature_map(torch.zeros(*shape, n)).shape[-1]
            # The last output frame is centred on the input, never beyond it.
            assert offset + stride * (frames - 1) <= n - 1
        if min_length > 1:
            with pytest.raises(RuntimeError):
                encoder.feature_map(torch.zeros(*shape, min_length - 1))
    assert resnet18_1d(WIDTH).frame_geometry()[1:] == (6.0, 13)


def test_raw_and_spectrogram_frames_in_milliseconds(exported):
    raw, spectrogram = (load_model(str(exported[k])) for k in INPUTS)
    assert raw.frame_ms == 32 * 1000 / RATE and raw.offset_ms == 6 * 1000 / RATE
    assert spectrogram.frame_ms == 32 * FEATURES.hop_ms and spectrogram.offset_ms == 0
    # The STFT's centred frames need half a window of audio; shorter clips are padded.
    assert spectrogram.min_samples == round(RATE * FEATURES.window_ms / 1000) // 2 + 1


def test_another_sample_rate_is_refused_in_one_line(model):
    with pytest.raises(
        ClarError, match=r"sample_rate = 8000 Hz, but the model takes 16000 Hz; resample"
    ) as err:
        get_scene_embeddings(noise(1, 0.5), model, sample_rate=8000)
    assert "\n" not in str(err.value)
    # The right rate is accepted.
    assert get_scene_embeddings(noise(1, 0.5), model, sample_rate=RATE).shape[0] == 1


@pytest.mark.parametrize("shape", [(8000,), (1, 1, 8000), (0, 8000), (2, 0)])
def test_audio_of_another_shape_is_refused(model, shape):
    with pytest.raises(ClarError, match=r"is invalid; pass \[n_sounds, n_samples\]"):
        get_timestamp_embeddings(torch.zeros(shape), model)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_infinite_audio_is_refused_in_one_line(model, bad):
    audio = noise(3, 0.5)
    audio[1, 100] = bad
    for embed in (get_scene_embeddings, get_timestamp_embeddings):
        with pytest.raises(
            ClarError, match=r"1 sample\(s\) are NaN or infinite \(the first in sound 1\)"
        ) as err:
            embed(audio, model)
        assert "\n" not in str(err.value)
    # The same sounds without the bad sample embed to finite numbers.
    audio[1, 100] = 0.0
    assert torch.isfinite(get_scene_embeddings(audio, model)).all()


@pytest.mark.skipif(not FSDD.is_dir(), reason=f"{FSDD} not present")
def test_real_recordings(model):
    """Spoken digits (8 kHz, 0.2-2.3 s) through the exported encoder, one clip at a time."""
    paths = sorted(FSDD.glob("*_george_0.wav"))[:4]
    assert len(paths) == 4
    scenes = []
    for path in paths:
        waveform, rate = decode(path)
        clip = torch.from_numpy(waveform)[None]
        with pytest.raises(ClarError, match="resample it first"):
            get_scene_embeddings(clip, model, sample_rate=rate)
        clip = AF.resample(clip, rate, RATE)
        embeddings, timestamps = get_timestamp_embeddings(clip, model, sample_rate=RATE)
        assert timestamps[0, -1] <= clip.shape[1] * 1000 / RATE
        scene = get_scene_embeddings(clip, model, sample_rate=RATE)
        torch.testing.assert_close(scene, embeddings.mean(dim=1))
        scenes.append(scene[0])
    scenes = torch.stack(scenes)
    assert torch.isfinite(scenes).all()
    # Different words give different embeddings.
    assert torch.cdist(scenes, scenes).triu(1)[torch.ones(4, 4).triu(1).bool()].min() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_the_models_device(exported):
    model = load_model(str(exported["spectrogram"])).to("cuda")
    audio = noise(2, 1.0).to("cuda")
    embeddings, timestamps = get_timestamp_embeddings(audio, model)
    assert embeddings.device.type == timestamps.device.type == "cuda"
    cpu = get_scene_embeddings(audio.cpu(), load_model(str(exported["spectrogram"])))
    torch.testing.assert_close(embeddings.mean(dim=1).cpu(), cpu, atol=1e-3, rtol=1e-3)
