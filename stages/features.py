"""features@<data set>: the 3-channel time-frequency features of the un-augmented clips."""

from clar import layout
from clar.cli import record_stage, run
from clar.config import load_params
from clar.data.feature_store import write_features
from clar.data.store import Store


def main(argv: list[str]) -> None:
    (name,) = argv
    params = load_params()
    out = layout.features(name)
    info = write_features(Store.open(layout.prepared(name)), params.features, out)
    record_stage(out, layout.FEATURES)
    print(
        f"{name}: features {info['shape']} for {', '.join(info['written']) or 'no split'}, "
        f"{info['gigabytes']} GB"
    )


if __name__ == "__main__":
    run(main)
