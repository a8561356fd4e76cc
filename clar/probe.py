"""The evaluation head: probes on a frozen encoder (docs/method.md).

- :func:`evaluate`: the paper's evaluation. The head (the official code's MLP, or a linear probe)
  is trained on the frozen encoder's output for the run's labelled fraction, its epoch chosen on
  the validation clips that fraction may see (:func:`selection_clips`), and scored once on the
  test split. A model with a classifier of its own (supervised, hybrid) is also scored through
  it.
- :func:`probe_accuracy`: a closed-form ridge probe, the cheap held-out accuracy that training
  logs every few epochs (the E4 convergence curve).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from clar import batchnorm
from clar import frame_embeddings as fe
from clar.config import EvaluateParams, FeatureParams
from clar.data.clips import Clips
from clar.data.store import Store, class_sizes, label_ranks, labelled_mask
from clar.errors import ClarError
from clar.heads import HEADS
from clar.layout import INFO_FILE
from clar.models import Model
from clar.precision import full
from clar.progress import progress_bar
from clar.vocabulary import SPLITS


@torch.no_grad()
def embed_all(
    encode: Callable[[Tensor], Tensor],
    inputs: Tensor | np.ndarray | Clips,
    batch_size: int,
    device: torch.device,
) -> Tensor:
    """Run a frozen ``encode`` over ``inputs`` (``[N, ...]``: a tensor, a memory-mapped array or
    a split's :class:`Clips`) in batches: ``-> [N, D]`` float32 on ``device``."""
    if isinstance(inputs, Clips):
        chunks = inputs.chunks(batch_size)
    else:
        chunks = (inputs[start : start + batch_size] for start in range(0, len(inputs), batch_size))
    out = []
    for chunk in chunks:
        chunk = torch.from_numpy(np.array(chunk)) if isinstance(chunk, np.ndarray) else chunk
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(full(encode(full(chunk.to(device)))))
    return torch.cat(out)


def standardise(train: Tensor, *others: Tensor) -> list[Tensor]:
    """Scale every embedding by the training embeddings' mean and std (per dimension)."""
    mean, std = train.mean(0), train.std(0).clamp(min=1e-6)
    return [(x - mean) / std for x in (train, *others)]


def ridge_accuracy(
    train_h: Tensor,
    train_y: Tensor,
    test_h: Tensor,
    test_y: Tensor,
    n_classes: int,
    alpha: float = 1.0,
) -> float:
    """Accuracy of a ridge regression onto one-hot labels, solved in closed form.

    ``train_h`` ``[N, D]``, ``train_y`` ``[N]``; ``alpha`` is relative to N so the penalty does
    not fade as the data set grows.
    """
    train_h, test_h = standardise(train_h.double(), test_h.double())
    targets = torch.nn.functional.one_hot(train_y, n_classes).double()
    gram = train_h.T @ train_h + alpha * len(train_h) * torch.eye(
        train_h.shape[1], device=train_h.device, dtype=torch.float64
    )
    weights = torch.linalg.solve(gram, train_h.T @ (targets - targets.mean(0)))
    predicted = (test_h @ weights).argmax(1)
    return (predicted == test_y).double().mean().item()


def probe_accuracy(
    model: Model,
    inputs: dict[str, tuple[Callable[[Tensor], Tensor], Tensor | np.ndarray]],
    labels: dict[str, Tensor],
    n_classes: int,
    batch_size: int,
    device: torch.device,
) -> float:
    """Held-out accuracy of a ridge probe on the model's frozen embeddings (training monitor):
    fit on every training label, scored on the validation split.

    ``inputs`` and ``labels`` hold the ``"train"`` and ``"valid"`` splits, as
    :func:`encoder_inputs` gives them and ``[N]`` class indices.
    """
    was_training = model.training
    model.eval()
    train_h, valid_h = (embed_all(*inputs[s], batch_size, device) for s in ("train", "valid"))
    model.train(was_training)
    return ridge_accuracy(train_h, labels["train"], valid_h, labels["valid"], n_classes)


def scores(predicted: Tensor, target: Tensor, n_classes: int) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class, columns: predicted).

    ``predicted``, ``target``: ``[N]`` class indices. A class that is neither present nor
    predicted has F1 0, as scikit-learn's ``zero_division=0``.
    """
    target, predicted = target.long().cpu(), predicted.long().cpu()
    confusion = torch.bincount(target * n_classes + predicted, minlength=n_classes**2)
    confusion = confusion.view(n_classes, n_classes)
    hits = confusion.diag().double()
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (true count + predicted count)
    counts = (confusion.sum(0) + confusion.sum(1)).double()
    f1 = torch.where(counts > 0, 2 * hits / counts.clamp(min=1), 0.0)
    return {
        "accuracy": (predicted == target).double().mean().item(),
        "macro_f1": f1.mean().item(),
        "confusion": confusion.tolist(),
    }


def fit_head(
    train_h: Tensor,
    train_y: Tensor,
    valid_h: Tensor,
    valid_y: Tensor,
    n_classes: int,
    params: EvaluateParams,
    seed: int,
    desc: str = "evaluation head",
) -> tuple[nn.Module, dict]:
    """Train the evaluation head on frozen embeddings (``[N, D]``, or ``[N, T', D]`` for a head
    that takes frames); keep the epoch best on ``valid_h``, or with ``params.selection ==
    "last_epoch"`` the last one.

    Returns the head (that epoch's state, eval mode) and ``{"best_epoch", "valid_accuracy"}``
    (the kept epoch and its accuracy on ``valid_h``). ``desc`` names the head on its progress
    bar.
    """
    torch.manual_seed(seed)
    device = train_h.device
    head = HEADS.get(params.head)(train_h.shape[-1], n_classes).to(device)
    optimizer = torch.optim.Adam(head.param_groups(params.lr), lr=params.lr)
    generator = torch.Generator(device=device).manual_seed(seed)
    batch = max(2, min(params.batch_size, len(train_h)))
    best = (-1.0, 0, copy.deepcopy(head.state_dict()))
    bar = progress_bar(range(params.epochs), desc=desc, unit="epoch")
    for epoch in bar:
        head.train()
        order = torch.randperm(len(train_h), generator=generator, device=device)
        for index in order.split(batch):
            if len(index) < 2:  # batch norm cannot train on one item
                continue
            loss = nn.functional.cross_entropy(head(train_h[index]), train_y[index])
            extra = head.regularisation()
            if extra is not None:
                loss = loss + extra
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            accuracy = (head(valid_h).argmax(1) == valid_y).float().mean().item()
        if accuracy > best[0] or params.selection == "last_epoch":
            best = (accuracy, epoch + 1, copy.deepcopy(head.state_dict()))
        bar.set_postfix(best_valid=f"{best[0]:.2f}")
    head.load_state_dict(best[2])
    head.eval()
    return head, {"best_epoch": best[1], "valid_accuracy": best[0]}


def selection_clips(store: Store, fraction: float, selection: str) -> Tensor:
    """The validation clips the evaluation head's epoch is chosen (or, ``last_epoch``, scored)
    on: ``[N_valid]`` bool.

    ``full_validation``: every clip. Otherwise the clips a label fraction of ``fraction``
    percent keeps, drawn as the training split's are (:mod:`clar.data.store`: stratified,
    nested, at least one per class) from a stream of the validation split's own, so that a
    low-label run does not select on labels it may not have.
    """
    labels = store.labels("valid").numpy()
    if selection == "full_validation":
        return torch.ones(len(labels), dtype=torch.bool)
    ranks = label_ranks(labels, f"{store.name}/valid", store.info["split_seed"])
    return torch.from_numpy(labelled_mask(ranks, class_sizes(labels), fraction))


def encoder_inputs(
    model: Model,
    store: Store,
    split: str,
    features_dir: Path | None,
    features: FeatureParams,
    device: torch.device,
    waveforms: Clips | None = None,
    budget_bytes: float = float("inf"),
    frames: bool = False,
) -> tuple[Callable[[Tensor], Tensor], np.ndarray | Clips]:
    """What to feed the frozen encoder for a split, and the function that embeds it: to
    ``[B, D]``, or with ``frames`` to the encoder's frames ``[B, T', D]``.

    Spectrogram runs read the features stage's stored float16 features when they were written
    with the run's feature parameters: computing them again costs more than the encoder does.
    Stored features of other clips than the store's (a prepare run again on changed audio, the
    features stage not) are refused with one line: they would score a model on other data.
    Otherwise (raw input, or a split left out for size) the waveforms go through the model's
    own feature module: ``waveforms`` when the caller already holds the split, else the
    store's, on the device within ``budget_bytes`` (:class:`Clips`).
    """
    if model.features is not None and features_dir is not None:
        stored = features_dir / f"{split}.npy"
        info_path = features_dir / INFO_FILE
        if stored.exists() and info_path.exists():
            info = json.loads(info_path.read_text())
            if info.get("params") == features.model_dump(mode="json"):
                check_features_clips(features_dir, info, store)
                encode = fe.frame_embedder(model, False) if frames else model.encode
                return encode, np.load(stored, mmap_mode="r")
    if waveforms is None:
        waveforms = Clips(store.array(split), device, budget_bytes)
    return (fe.frame_embedder(model, True) if frames else model.embed), waveforms


def check_features_clips(features_dir: Path, info: dict, store: Store) -> None:
    """Stop with one line when the features in ``features_dir`` (its ``info``) were not written
    from the clips ``store`` holds now (:func:`clar.data.feature_store.write_features` records
    their content hash)."""
    if info.get("from_clips") != store.content:
        raise ClarError(
            f"{features_dir}: written from other clips than {store.folder} holds now (prepared "
            f"again since); run `dvc repro features@{features_dir.name}`"
        )


def recompute_batch_norm(
    model: Model,
    inputs: tuple[Callable[[Tensor], Tensor], np.ndarray | Clips],
    rows: Tensor,
    batch_size: int,
    device: torch.device,
    seed: int,
) -> int:
    """Batch-norm statistics of ``model`` recomputed for its current weights
    (:func:`clar.batchnorm.recompute`) over the un-augmented training clips ``rows`` (``[N]``
    indices: the clips the run trained on), as :func:`encoder_inputs` gives them.

    The clips go in a shuffled order (``seed``) and batches of about ``batch_size``, so that each
    batch mixes the classes as a training batch does: the layers normalise with batch statistics
    on the way. Returns the number of clips.
    """
    encode, data = inputs
    order = rows.cpu()[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))]
    index = batchnorm.even_batches(order, batch_size)
    if isinstance(data, Clips):
        chunks = data.batches(index)
    else:
        chunks = (torch.as_tensor(np.array(data[i.numpy()])) for i in index)

    def forward(chunk: Tensor) -> object:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return model.head(encode(full(chunk.to(device))))

    return batchnorm.recompute(model, forward, chunks)


def labelled_counts(store: Store, labelled: Tensor) -> dict:
    """The labelled training clips a fraction really gives: count and share (percent of the
    training split), overall and per class. Small classes round up to at least one clip, so the
    real share can be well above the nominal fraction."""
    labels = store.labels("train")
    mask = labelled.cpu()
    per_class = torch.bincount(labels[mask], minlength=len(store.classes))
    sizes = torch.bincount(labels, minlength=len(store.classes))
    return {
        "clips": int(mask.sum()),
        "share": round(100.0 * float(mask.sum()) / len(labels), 4),
        "per_class": dict(zip(store.classes, per_class.tolist(), strict=True)),
        "class_sizes": dict(zip(store.classes, sizes.tolist(), strict=True)),
    }


def embed_splits(
    model: Model,
    store: Store,
    features_dir: Path | None,
    features: FeatureParams,
    batch_size: int,
    device: torch.device,
    budget_bytes: float = float("inf"),
    frames: bool = False,
) -> dict[str, Tensor]:
    """Every split through the frozen encoder, once for all the label fractions a run is scored
    at: ``{split: [N, D]}`` float32 on ``device``, and with ``frames`` (a head that takes them,
    :attr:`clar.heads.EvaluationHead.frames`) the frames too, ``{frames_key(split): [N, T', D]}``
    (a second pass: the pooled vectors stay the encoder's own). A split's clips above
    ``budget_bytes`` stream from the host (:class:`Clips`); frames above it are refused
    (:func:`clar.frame_embeddings.check_frames_size`)."""
    embedded = {}
    for split in SPLITS:
        encode, inputs = encoder_inputs(
            model, store, split, features_dir, features, device, budget_bytes=budget_bytes
        )
        embedded[split] = embed_all(encode, inputs, batch_size, device)
    clips = sum(len(embedded[split]) for split in SPLITS)
    for split in SPLITS if frames else ():
        encode, inputs = encoder_inputs(
            model, store, split, features_dir, features, device, None, budget_bytes, frames=True
        )
        embedded[fe.frames_key(split)] = embed_all(encode, inputs, batch_size, device)
        fe.check_frames_size(embedded[fe.frames_key(split)], clips, budget_bytes)
    return embedded


def evaluate(
    model: Model,
    store: Store,
    embedded: dict[str, Tensor],
    fraction: float,
    params: EvaluateParams,
    seed: int,
    own_classifier: bool,
    desc: str = "evaluation head",
    head_name: str | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Score a trained model at a label fraction: the evaluation head, and the model's own
    classifier when ``own_classifier``.

    ``embedded`` is :func:`embed_splits` of the model (with frames for a head that takes them).
    ``head_name`` names another evaluation head than ``params.head`` (one of several scored on the
    same embeddings). Returns the metrics (JSON-serialisable) and the per-clip test predictions
    (the arrays of :func:`clar.runs.write_predictions`). ``desc`` names the head on its
    progress bar.
    """
    if head_name is not None:
        params = params.model_copy(update={"head": head_name})
    n_classes = len(store.classes)
    device = embedded["train"].device
    labels = {split: store.labels(split).to(device) for split in SPLITS}
    labelled = store.labelled(fraction).to(device)
    chosen_on = selection_clips(store, fraction, params.selection).to(device)
    if HEADS.get(params.head).frames:
        train_h, valid_h, test_h = fe.standardise_frames(
            *fe.frames_of(embedded, params.head, labelled, chosen_on)
        )
    else:
        train_h, valid_h, test_h = standardise(
            embedded["train"][labelled], embedded["valid"][chosen_on], embedded["test"]
        )
    head, selection = fit_head(
        train_h,
        labels["train"][labelled],
        valid_h,
        labels["valid"][chosen_on],
        n_classes,
        params,
        seed=seed,
        desc=desc,
    )
    with torch.no_grad():
        logits = head(test_h).float()
    predicted = logits.argmax(1)
    predictions = {
        "clip": store.rows("test")["source"].to_numpy().astype(str),
        "label": labels["test"].cpu().numpy(),
        "predicted": predicted.cpu().numpy(),
        "logits": logits.cpu().numpy().astype(np.float32),
    }
    result = {
        "fraction": fraction,
        "labelled": labelled_counts(store, labelled),
        "test_clips": len(predictions["label"]),
        "classes": store.classes,
        "evaluation_head": {
            **scores(predicted, labels["test"], n_classes),
            **selection,
            "kind": params.head,
            "selection": params.selection,
            "valid_clips": int(chosen_on.sum()),
        },
        "classifier": None,
    }
    if own_classifier:
        # The model's own head on the test embeddings: the model's logits without a second pass
        # through the encoder.
        with torch.no_grad():
            outputs = model.classify(embedded["test"]).float()
        own = outputs.argmax(1)
        result["classifier"] = scores(own, labels["test"], n_classes)
        predictions["classifier_predicted"] = own.cpu().numpy()
        predictions["classifier_logits"] = outputs.cpu().numpy().astype(np.float32)
    return result, predictions
