"""The front page, index.md: what ran, the claims' verdicts, and every table and figure."""

from __future__ import annotations

from collections.abc import Sequence

from clar.data.catalog import DATASETS
from clar.report import files
from clar.report.aggregate import Data, ordered
from clar.report.claims import Claim
from clar.report.intervals import BOOTSTRAP_SEED, RESAMPLES
from clar.report.tables import MISSING, md_table
from clar.report.verdicts import CONTRADICTED, INCONCLUSIVE, SUPPORTED, UNJUDGED
from clar.vocabulary import SPLITS

# The embedded data sets are generated stand-ins; the front page must never let them pass for
# the real corpora.
STAND_INS = {name: spec.stands_in_for for name, spec in DATASETS.items() if spec.stands_in_for}

CLAIM_TITLES = {
    1: "Claim 1: audio augmentations matter for contrastive learning (E1)",
    2: "Claim 2: spectrogram input beats raw waveform (E2)",
    3: "Claim 3: CLAR beats self-supervised and, with few labels, supervised training (E3, E4)",
}
# One section per experiment: (title, its table, its figure's stem or None).
SECTIONS = (
    ("E1: augmentation study", files.E1_TABLE, files.E1_FIGURE),
    ("E2: raw waveform vs spectrogram", files.E2_TABLE, None),
    ("E3: label fractions", files.E3_TABLE, files.E3_FIGURE),
    ("E4: convergence", files.E4_TABLE, files.E4_FIGURE),
)


def _dataset_rows(data: Data, infos: dict) -> list[list[str]]:
    rows = []
    for name in ordered([*infos, *data.datasets], list(infos)):
        info = infos.get(name, {})
        if info.get("embedded"):
            real = STAND_INS.get(name)
            source = (
                f"generated stand-in for {real}, not the real recordings"
                if real
                else "generated stand-in, not a real corpus"
            )
        elif info:
            source = "real data"
        else:
            source = "not described in run_info"
        clips = info.get("clips", {})
        rows.append(
            [
                name,
                source,
                str(info.get("task", MISSING)),
                str(len(info["classes"])) if "classes" in info else MISSING,
                " / ".join(str(clips.get(s, MISSING)) for s in SPLITS),
            ]
        )
    return rows


def protocol(run_info: dict) -> str:
    """The protocol switches the runs used (README, "Differences from the paper"), as lines."""
    switches = run_info.get("protocol", {})
    text = ""
    if switches:
        text += (
            f"- positive pairs with identical views: "
            f"`{switches.get('identical_views', 'unknown')}` (`augment.identical_views`); "
            f"evaluation head's epoch: `{switches.get('head_selection', 'unknown')}` "
            "(`evaluate.selection`)\n"
        )
    for name, info in run_info.get("datasets", {}).items():
        options = info.get("options", {})
        if "version" in options:
            text += f"- {name}: Speech Commands `{options['version']}`\n"
        if "test_fold" in options:
            text += (
                f"- {name}: fold `{options['test_fold']}` held out for test, one round of the "
                "5-fold cross-validation (`test_fold`; README: every round as DVC experiments)\n"
            )
    return text


def _what_ran(data: Data, run_info: dict) -> str:
    seeds = run_info.get("seeds") or sorted({int(s) for s in data.df["seed"].dropna()})
    revs = ordered(data.df["git_rev"])
    text = "## What ran\n\n"
    text += f"- profile: `{run_info.get('profile', 'unknown')}`\n"
    text += f"- git revision: `{run_info.get('git_rev', 'unknown')}`"
    if revs and revs != [run_info.get("git_rev")]:
        text += " (result rows come from revisions " + ", ".join(f"`{r}`" for r in revs) + ")"
    text += f"\n- hardware: {run_info.get('hardware', 'unknown')}\n"
    text += f"- seeds: {', '.join(str(s) for s in seeds) or 'none'}\n"
    text += protocol(run_info)
    text += f"- result rows: {len(data.df)}\n"
    infos = run_info.get("datasets", {})
    if data.datasets or infos:
        text += "\n### Data sets\n\n"
        header = ["data set", "data", "task", "classes", "clips train / valid / test"]
        text += md_table(header, _dataset_rows(data, infos))
    missing = run_info.get("missing", [])
    if missing:
        text += (
            f"\n### Incomplete: {len(missing)} evaluation file(s) missing\n\n"
            "The parameters call for these evaluations and the run folders lack them "
            "(`report.allow_incomplete: true`); the tables and claims below are drawn "
            "without them.\n\n" + "".join(f"- `{path}`\n" for path in missing)
        )
    text += (
        f"\nWall time per stage group: [{files.TIMINGS}]({files.TIMINGS}) (`dvc metrics show`), "
        "apart from this page so that the same runs always give the same report.\n"
    )
    return text


def _claims_section(found: Sequence[Claim]) -> str:
    text = "## Claims of the paper, as measured here\n\n"
    text += (
        "Each claim of PAPER.md is split into the parts that can be checked, and each part is "
        "judged from paired 95 % intervals of the difference it is about, in percentage "
        "points. A comparison is "
        f"*{SUPPORTED}* when its interval lies above zero in the claimed direction, "
        f"*{CONTRADICTED}* when it lies below zero, *{INCONCLUSIVE}* when it includes zero, "
        f"and *{UNJUDGED}* when the run lacks the data. A part made of several comparisons is "
        "supported only if every one is, contradicted if any one is, inconclusive otherwise; "
        "the counts are given. Intervals are per comparison, not adjusted for how many there "
        "are.\n\n"
        "Test-accuracy differences pair the two runs of each seed (the same seed means the "
        "same labelled subset and the same test clips) and bootstrap them: over the test clips "
        "with one seed; with several, seeds are resampled, then clips (one clip resample shared "
        f"by the seeds of a replicate). {RESAMPLES} resamples, percentile interval, generator "
        f"seeded with {BOOTSTRAP_SEED} so every render gives the same intervals. Convergence "
        "compares areas under the held-out-accuracy curves per seed, with a t interval over "
        "seeds. Each comparison states what it rests on (seeds × test clips).\n"
    )
    for number, title in CLAIM_TITLES.items():
        text += f"\n### {title}\n\n"
        text += "".join(f"- {c.sentence()}\n" for c in found if c.number == number)
    return text


def _demote(markdown: str) -> str:
    """Push a table file's headings one level down so it nests under a front-page section."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _without_title(markdown: str) -> str:
    return markdown.split("\n", 1)[1].lstrip("\n") if markdown.startswith("# ") else markdown


def _figure_links(stem: str, alt: str) -> str:
    png, svg = files.figure_file(stem, files.PNG), files.figure_file(stem, files.SVG)
    return f"![{alt}]({png})\n\n([PNG]({png}), [SVG]({svg}))\n"


def page(data: Data, run_info: dict, found: Sequence[Claim], tables: dict[str, str]) -> str:
    """index.md; ``tables`` maps each table's file name to its markdown."""
    text = "# CLAR reproduction: results\n\n"
    text += (
        f"Every number and figure on this page is derived from [{files.RESULTS}]({files.RESULTS}) "
        f"(one row per run and metric) and [{files.PER_CLIP}]({files.PER_CLIP}) (which test "
        "clips each evaluation got right); cells are mean ± sample std over seeds with the "
        "number of seeds n, in %; differences carry paired 95 % intervals.\n\n"
    )
    text += _what_ran(data, run_info) + "\n" + _claims_section(found)
    for title, table, figure in SECTIONS:
        text += f"\n## {title}\n\nTable: [{table}]({table})"
        if figure is None:
            text += "\n\n"
        else:
            png = files.figure_file(figure, files.PNG)
            text += f"; figure: [{png}]({png})\n\n" + _figure_links(figure, title) + "\n"
        text += _demote(_without_title(tables[table])) + "\n"
    text += "\n## Confusion matrices\n\n"
    text += _figure_links(files.CONFUSIONS_FIGURE, "confusion matrices")
    text += "\n## Files\n\n" + "".join(
        f"- [{name}]({name})\n" for name in files.RENDERED if name != files.INDEX
    )
    return text
