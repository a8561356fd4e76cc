"""train@... and pretrain@...: one cell of the E2-E4 grid (data set, input, objective), every
seed and label fraction of it trained, then scored by the evaluation head. A stage of the
matrix whose objective does not accept its encoder writes only a note (clar.grid.skipped_cells).

With train.devices > 1 the stage starts itself again as that many processes through torchrun
(clar.distributed) and waits for them; it stays the process DVC started, and records the time.
"""

from clar import distributed, grid, layout, runs
from clar.cli import Parser, record_stage, run
from clar.config import load_params
from clar.encoders import ENCODERS
from clar.errors import ClarError
from clar.experiments import grid_cell, skip_cell
from clar.objectives import OBJECTIVES
from clar.train import pick_device


def allowed() -> tuple[str, str, str]:
    """The values --data, --input and --objective take, for --help: params.yaml's data sets
    and the registered encoders and objectives (its plug-ins included, where it loads)."""
    try:
        params = load_params()
        grid.load_methods(params)
    except ClarError as err:
        # Help must print even where params.yaml is broken; it says so instead.
        data = f"the data.names of params.yaml (it does not load: {err})"
    else:
        data = ", ".join(params.data.names) + " (data.names in params.yaml)"
    return data, ", ".join(ENCODERS.names()), ", ".join(OBJECTIVES.names())


def main(argv: list[str]) -> None:
    data, inputs, objectives = allowed() if {"-h", "--help"} & set(argv) else ("", "", "")
    parser = Parser(
        prog="stages/train.py",
        description="Train and score one cell of the grid (dvc repro runs it once per cell; "
        "dvc.yaml lists them), e.g. stages/train.py --data speech --input raw "
        "--objective supervised",
    )
    parser.add_argument("--data", required=True, help=f"a data set: {data}")
    parser.add_argument("--input", required=True, help=f"an encoder: {inputs}")
    parser.add_argument("--objective", required=True, help=f"an objective: {objectives}")
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
