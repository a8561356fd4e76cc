"""train@... / pretrain@...: one run of the grid (E2-E4), then its evaluation head at each
label fraction; augmentation-study@<data set>: E1's runs, each scored at 100 % labels.

Evaluation runs in the same process as training: a stage started again after a change to
evaluate: finds the finished checkpoint and only re-scores.
"""

import argparse
import json
from pathlib import Path

from clar.cli import record_stage, run
from clar.config import AUGMENTATION_SEPARATOR, Params, load_params
from clar.data.store import Store
from clar.evaluate import evaluate_run
from clar.train import Run, pick_device, train


def train_and_evaluate(
    params: Params, spec: Run, out: Path, checkpoint: Path, fractions: list[float]
) -> None:
    store = Store.open(Path("data/prepared") / spec.dataset)
    features_dir = Path("data/features") / spec.dataset
    history = train(
        spec,
        store,
        params.train.for_dataset(spec.dataset),
        params.augment,
        params.features,
        out,
        checkpoint,
        features_dir,
    )
    device = pick_device(params.train.device)
    for fraction in fractions:
        result = evaluate_run(out, store, features_dir, fraction, params.evaluate, device)
        (out / f"evaluation-f{fraction:g}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(
            f"{out}: {len(history)} epochs; at {fraction:g} % labels the evaluation head "
            f"scores {result['evaluation_head']['accuracy']:.3f} on the test split"
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="stages/train.py")
    parser.add_argument("--data", required=True)
    parser.add_argument("--input")
    parser.add_argument("--objective")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--fraction", type=float, help="labels used in training (percent)")
    parser.add_argument(
        "--augmentation-study",
        action="store_true",
        help="run E1 for --data: every augmentations_study combo",
    )
    args = parser.parse_args(argv)
    params = load_params()
    if args.augmentation_study:
        study = params.augmentation_study
        for combo in study.combos:
            name = AUGMENTATION_SEPARATOR.join(combo)
            spec = Run(args.data, study.input, "contrastive", 100.0, study.seed, combo)
            train_and_evaluate(
                params,
                spec,
                Path("runs/augmentation") / args.data / name,
                Path("checkpoints/augmentation") / args.data / name,
                [100.0],
            )
        record_stage(Path("runs/augmentation") / args.data, "augmentation-study")
        return
    label_free = args.fraction is None
    name = f"{args.input}-{args.objective}" + ("" if label_free else f"-f{args.fraction:g}")
    name += f"-s{args.seed}"
    spec = Run(
        args.data,
        args.input,
        args.objective,
        100.0 if label_free else args.fraction,
        args.seed,
        params.augment_names,
    )
    fractions = list(params.grid.fractions) if label_free else [args.fraction]
    out = Path("runs/grid") / args.data / name
    train_and_evaluate(params, spec, out, Path("checkpoints/grid") / args.data / name, fractions)
    record_stage(out, "pretrain" if label_free else "train")


if __name__ == "__main__":
    run(main)
