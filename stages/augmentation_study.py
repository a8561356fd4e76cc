"""augmentation-study@<data set>: E1, contrastive training with every combination of
augmentation_study.combos, each scored by the evaluation head at 100 % labels."""

from clar import layout
from clar.cli import record_stage, run
from clar.config import load_params
from clar.experiments import augmentation_study


def main(argv: list[str]) -> None:
    (dataset,) = argv
    out = augmentation_study(load_params(), dataset)
    record_stage(out, layout.AUGMENTATION_STUDY)


if __name__ == "__main__":
    run(main)
