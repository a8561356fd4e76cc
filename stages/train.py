"""train@... and pretrain@...: one cell of the E2-E4 grid (data set, input, objective), every
seed and label fraction of it trained, then scored by the evaluation head. A stage of the
matrix whose objective does not accept its encoder writes only a note (clar.grid.skipped_cells).

With train.devices > 1 the stage starts itself again as that many processes through torchrun
(clar.distributed) and waits for them; it stays the process DVC started, and records the time.
"""

from clar import distributed, grid, layout, runs
from clar.cli import Parser, record_stage, run
from clar.config import load_params
from clar.experiments import grid_cell, skip_cell
from clar.objectives import OBJECTIVES
from clar.train import pick_device


def main(argv: list[str]) -> None:
    parser = Parser(prog="stages/train.py")
    parser.add_argument("--data", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--objective", required=True)
    args = parser.parse_args(argv)
    params = load_params()
    grid.load_methods(params)
    # dvc.yaml's matrix crosses every encoder with every objective; a pairing the objective
    # does not accept leaves its reason, and the stage is done.
    if skip_cell(params, args.data, args.input, args.objective) is not None:
        return
    train = params.train
    if not distributed.relaunch(train.devices, train.nodes, [__file__, *argv]):
        device = pick_device(train.device)
        with distributed.process_group(train.devices, train.nodes, device) as rank:
            grid_cell(params, args.data, args.input, args.objective)
        if rank > 0:
            return
    out = runs.cell_folder(args.data, args.input, args.objective)
    label_free = OBJECTIVES.get(args.objective).label_free()
    record_stage(out, layout.PRETRAIN if label_free else layout.TRAIN)


if __name__ == "__main__":
    run(main)
