"""train@... and pretrain@...: one cell of the E2-E4 grid (data set, input, objective), every
seed and label fraction of it trained, then scored by the evaluation head."""

import argparse

from clar import layout
from clar.cli import record_stage, run
from clar.config import load_params
from clar.experiments import grid_cell
from clar.vocabulary import LABEL_FREE


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="stages/train.py")
    parser.add_argument("--data", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--objective", required=True)
    args = parser.parse_args(argv)
    params = load_params()
    out = grid_cell(params, args.data, args.input, args.objective)
    record_stage(out, layout.PRETRAIN if args.objective in LABEL_FREE else layout.TRAIN)


if __name__ == "__main__":
    run(main)
