"""train@... and pretrain@...: one run of the E2-E4 grid, trained, then scored by the
evaluation head at its label fraction (label-free objectives: at every fraction)."""

import argparse

from clar import layout
from clar.cli import record_stage, run
from clar.config import load_params
from clar.experiments import grid_cell


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="stages/train.py")
    parser.add_argument("--data", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--objective", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--fraction", type=float, help="percent of labels; none: label-free")
    args = parser.parse_args(argv)
    params = load_params()
    out = grid_cell(params, args.data, args.input, args.objective, args.fraction, args.seed)
    record_stage(out, layout.PRETRAIN if args.fraction is None else layout.TRAIN)


if __name__ == "__main__":
    run(main)
