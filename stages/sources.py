"""sources@<data set>: record the files a data set read in place holds now (clar.data.watch).

DVC runs this stage every time (always_changed); prepare@<data set> depends on its output, so
only a change of those files prepares the data set again.
"""

from clar import layout
from clar.atomic import write_json
from clar.cli import record_stage, run
from clar.config import load_params
from clar.data.watch import source_state


def main(argv: list[str]) -> None:
    (name,) = argv
    params = load_params()
    out = layout.source(name)
    state = source_state(params.dataset(name), layout.RAW)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, state)
    record_stage(out, layout.SOURCES)
    if state["read_in_place"]:
        print(f"{name}: {state['files']} files in {state['root']}, sha256 {state['sha256'][:12]}")


if __name__ == "__main__":
    run(main)
