"""prepare@<data set>: obtain the clips, resample to 16 kHz, fix their length, store them."""

from clar import layout
from clar.cli import record_stage, run
from clar.config import load_params
from clar.data.prepare import prepare


def main(argv: list[str]) -> None:
    (name,) = argv
    params = load_params()
    out = layout.prepared(name)
    info = prepare(params.dataset(name), params.prepare, layout.RAW, out)
    seconds = record_stage(out, layout.PREPARE)
    print(
        f"{name}: {info['clips']} clips of {info['clip_seconds']} s, "
        f"{len(info['classes'])} classes, {info['megabytes']} MB, {seconds:.1f} s"
    )


if __name__ == "__main__":
    run(main)
