"""A trained encoder behind the HEAR 2021 common API, and the one file that carries it.

``python -m clar export RUN_DIR OUT_FILE`` writes a run's network and everything needed to
rebuild it (input kind, width, sample rate, feature parameters, classes) into one file; after
that the runs/ folder is not needed. The functions below are HEAR's:

- :func:`load_model`: the exported file -> :class:`HearModel` (a ``torch.nn.Module`` with
  ``sample_rate``, ``scene_embedding_size`` and ``timestamp_embedding_size``);
- :func:`get_timestamp_embeddings`: ``audio [n, samples]`` -> embeddings ``[n, frames, D]`` and
  timestamps ``[n, frames]`` in milliseconds;
- :func:`get_scene_embeddings`: ``audio [n, samples]`` -> ``[n, D]``.

``D`` is the encoder's output size (512 at full width). Timestamp embeddings are the encoder's
last feature map before global pooling (the 2-D encoder's averaged over frequency), one per
output frame, stamped at the centre of that frame's receptive field. The scene embedding is
their mean over time, which is the encoder's own pooled output for the clip.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from clar import runs
from clar.config import FeatureParams
from clar.errors import ClarError
from clar.models import Model, build_model

FORMAT = "clar-hear-encoder"
VERSION = 1
# Clips per forward pass: bounds memory on long clips and large batches alike.
CHUNK = 16


class HearModel(nn.Module):
    """A run's network for the HEAR API: the full :class:`~clar.models.Model` (features,
    encoder, the objective's head) plus the attributes HEAR asks for and the frame geometry.

    ``sample_rate``, ``scene_embedding_size``, ``timestamp_embedding_size`` (ints, as HEAR
    requires); ``frame_ms`` and ``offset_ms``: output frame ``i`` is centred at
    ``offset_ms + i * frame_ms``; ``min_samples``: the shortest clip the encoder takes unpadded;
    ``input``, ``classes`` and ``info``: what the run was (the exported metadata).

    ``forward(audio [n, samples]) -> [n, D]`` is :func:`get_scene_embeddings`.
    """

    def __init__(self, model: Model, sample_rate: int, info: dict) -> None:
        super().__init__()
        self.model = model
        self.sample_rate = int(sample_rate)
        self.scene_embedding_size = int(model.encoder.out_dim)
        self.timestamp_embedding_size = int(model.encoder.out_dim)
        self.input = info["input"]
        self.classes: list[str] = list(info["classes"])
        self.info = info
        stride, offset, min_length = model.encoder.frame_geometry()
        # The encoder's time axis counts samples (raw) or feature frames (spectrogram).
        hop = model.features.hop if model.features is not None else 1
        self.frame_ms = stride * hop * 1000.0 / self.sample_rate
        self.offset_ms = offset * hop * 1000.0 / self.sample_rate
        self.min_samples = (min_length - 1) * hop + 1
        if model.features is not None:
            # torch.stft's centred frames reflect-pad half a window, which needs more samples.
            self.min_samples = max(self.min_samples, model.features.window.numel() // 2 + 1)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def feature_map(self, audio: Tensor) -> Tensor:
        """``[n, samples] -> [n, D, frames]``: the encoder's output before global pooling."""
        return self.model.encoder.frames(self.model.front(audio))

    def forward(self, audio: Tensor) -> Tensor:
        return get_scene_embeddings(audio, self)


def export(run_dir: Path, out_file: Path) -> dict:
    """Write a finished run's network and what rebuilds it into ``out_file``; returns the
    metadata written next to the weights (everything but ``state_dict``)."""
    for name in (runs.RUN_FILE, runs.MODEL_FILE):
        if not (run_dir / name).is_file():
            raise ClarError(
                f"{run_dir}: no {name}; pass a finished run folder (one under runs/ that "
                "holds run.json and model.pt)"
            )
    model, info, features = runs.load_model(run_dir, torch.device("cpu"))
    run = runs.Run.from_json(info["run"])
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "input": run.input,
        "objective": run.objective,
        "width": float(info["train"]["width"]),
        "sample_rate": int(info["sample_rate"]),
        "features": features.model_dump(mode="json"),
        "classes": list(info["classes"]),
        "run": info["run"],
        "source": str(run_dir),
        "plugins": info.get("plugins", {}),
        "options": info.get("options", {}),
    }
    out_file.parent.mkdir(parents=True, exist_ok=True)
    runs.save({**meta, "state_dict": model.state_dict()}, out_file)
    return meta


def load_model(model_file_path: str = "") -> HearModel:
    """The file written by ``python -m clar export`` -> :class:`HearModel` on the CPU, in eval
    mode. Move it with ``.to(device)``; the embedding functions run on its device."""
    if not model_file_path:
        raise ClarError(
            "load_model: no model file given; pass the file written by "
            "`python -m clar export RUN_DIR OUT_FILE`"
        )
    path = Path(model_file_path)
    if not path.is_file():
        raise ClarError(f"{path}: no such file; write one with `python -m clar export`")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file fails in many ways
        raise ClarError(f"{path}: cannot read as an exported encoder ({err})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ClarError(f"{path}: not an exported encoder; write one with `python -m clar export`")
    if saved["version"] > VERSION:
        raise ClarError(
            f"{path}: export version {saved['version']} is newer than this code's {VERSION}; "
            "update clar-bench"
        )
    runs.load_plugins(runs.Run.from_json(saved["run"]), saved.get("plugins", {}), path)
    # Through JSON, where a strict model reads arrays as the tuples it holds.
    features = FeatureParams.model_validate_json(json.dumps(saved["features"]))
    model = build_model(
        saved["input"],
        saved["objective"],
        len(saved["classes"]),
        saved["width"],
        saved["sample_rate"],
        features,
        saved.get("options"),
    )
    model.load_state_dict(saved["state_dict"])
    info = {k: v for k, v in saved.items() if k != "state_dict"}
    return HearModel(model, saved["sample_rate"], info).eval()


def _prepare(audio: Tensor, model: HearModel, sample_rate: int | None) -> Tensor:
    """Check the batch and put it on the model's device as float32 ``[n, samples]``."""
    if not isinstance(model, HearModel):
        raise ClarError(
            f"model: got {type(model).__name__}; pass what clar.hear.load_model returns"
        )
    if sample_rate is not None and sample_rate != model.sample_rate:
        raise ClarError(
            f"audio: sample_rate = {sample_rate} Hz, but the model takes {model.sample_rate} Hz; "
            "resample it first (e.g. torchaudio.functional.resample)"
        )
    audio = torch.as_tensor(audio)
    if audio.ndim != 2 or audio.numel() == 0:
        raise ClarError(
            f"audio: shape {tuple(audio.shape)} is invalid; pass [n_sounds, n_samples] "
            "mono audio, at least one sound of at least one sample"
        )
    audio = audio.to(device=model.device, dtype=torch.float32)
    # A NaN or infinite sample would come back as NaN embeddings, unsaid; prepare refuses
    # such clips for the same reason.
    finite = torch.isfinite(audio)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        clip = int((~finite).any(dim=1).nonzero()[0])
        raise ClarError(
            f"audio: {bad} sample(s) are NaN or infinite (the first in sound {clip}); "
            "replace them (e.g. torch.nan_to_num) or drop the sound"
        )
    return audio


def get_timestamp_embeddings(
    audio: Tensor, model: HearModel, *, sample_rate: int | None = None
) -> tuple[Tensor, Tensor]:
    """Embeddings at regular intervals through each clip, and their times.

    Args:
        audio: ``[n, samples]`` mono audio in [-1, 1] at ``model.sample_rate``, on the model's
            device; any length (clips shorter than the encoder needs are zero-padded on the
            right, and keep only the frames centred within the clip).
        model: from :func:`load_model`; runs in eval mode, without gradients.
        sample_rate: the audio's rate, if known; another rate than the model's is refused.

    Returns:
        ``(embeddings [n, frames, D] float32, timestamps [n, frames] float32)``, timestamps in
        ms at the centre of each frame, increasing, between 0 and the clip's duration.
    """
    audio = _prepare(audio, model, sample_rate)
    samples = audio.shape[1]
    padded = torch.nn.functional.pad(audio, (0, max(model.min_samples - samples, 0)))
    model.eval()
    with torch.no_grad():
        maps = [model.feature_map(chunk) for chunk in padded.split(CHUNK)]
    embeddings = torch.cat(maps).transpose(1, 2)  # [n, frames, D]
    # From the frame index in float64, never accumulated: no drift on long audio.
    index = torch.arange(embeddings.shape[1], dtype=torch.float64)
    centres = model.offset_ms + model.frame_ms * index
    duration = samples * 1000.0 / model.sample_rate
    # Frames of a zero-padded short clip may lie past its end; the first always stays.
    within = max(int((centres <= duration).sum()), 1)
    stamps = centres[:within].clamp(max=duration).to(device=embeddings.device, dtype=torch.float32)
    return embeddings[:, :within].contiguous(), stamps.repeat(audio.shape[0], 1)


def get_scene_embeddings(
    audio: Tensor, model: HearModel, *, sample_rate: int | None = None
) -> Tensor:
    """One embedding per clip: ``audio [n, samples] -> [n, D]`` float32, the mean of its
    timestamp embeddings over time (the encoder's pooled output for the clip). Arguments as
    :func:`get_timestamp_embeddings`."""
    embeddings, _ = get_timestamp_embeddings(audio, model, sample_rate=sample_rate)
    return embeddings.mean(dim=1)


__all__ = [
    "HearModel",
    "export",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]
