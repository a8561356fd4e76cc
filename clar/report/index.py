"""The front page, index.md: what ran, the claims' verdicts, and every table and figure."""

from __future__ import annotations

import math
from collections.abc import Sequence

from clar.data.catalog import DATASETS
from clar.report import files, heads, settings
from clar.report.aggregate import Data, ordered
from clar.report.claims import Claim
from clar.report.intervals import BOOTSTRAP_SEED, RESAMPLES, signed
from clar.report.tables import MISSING, md_table
from clar.report.verdicts import (
    ALPHA,
    CONTRADICTED,
    INCONCLUSIVE,
    MIXED,
    STATES,
    SUPPORTED,
    UNJUDGED,
)
from clar.vocabulary import SPLITS

# The embedded data sets are generated stand-ins; the front page must never let them pass for
# the real corpora.
STAND_INS = {name: spec.stands_in_for for name, spec in DATASETS.items() if spec.stands_in_for}

CLAIM_TITLES = {
    1: "Claim 1: audio augmentations matter for contrastive learning (E1)",
    2: "Claim 2: spectrogram input beats raw waveform (E2)",
    3: "Claim 3: CLAR beats self-supervised and, with few labels, supervised training (E3, E4)",
}
# One section per experiment: (title, its table, its figure's stem).
SECTIONS = (
    ("E1: augmentation study", files.E1_TABLE, files.E1_FIGURE),
    ("E2: raw waveform vs spectrogram", files.E2_TABLE, files.E2_FIGURE),
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
    """The protocol switches the runs used (docs/method.md, differences), as lines."""
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
                "5-fold cross-validation (`test_fold`; docs/method.md: every round as DVC "
                "experiments)\n"
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
        f"\nWall time per stage group of the stages this `dvc repro` ran (not those it skipped "
        f"or restored from its cache): [{files.TIMINGS}]({files.TIMINGS}) (`dvc metrics show`; "
        "its `counted` says what it covers), apart from this page so that the same runs always "
        "give the same report.\n"
    )
    return text


def banner(data: Data, run_info: dict) -> str:
    """The first lines: which data the verdicts are about (from the data sets' kinds), the
    profile and the seeds."""
    infos = run_info.get("datasets", {})
    names = ordered([*infos, *data.datasets], list(infos))
    generated = [n for n in names if infos.get(n, {}).get("embedded")]
    real = [n for n in names if n in infos and not infos[n].get("embedded")]
    unknown = [n for n in names if n not in infos]

    def stand_ins(found: list[str]) -> str:
        return ", ".join(f"{n} (for {STAND_INS[n]})" if n in STAND_INS else n for n in found)

    if generated and not real and not unknown:
        what = (
            "**generated stand-ins, not the real corpora**: "
            f"{stand_ins(generated)}. The verdicts say what the methods do on these generated "
            "clips, not on real audio"
        )
    elif real and not generated and not unknown:
        what = f"**real data**: {', '.join(real)}"
    elif names:
        parts = []
        if generated:
            parts.append(f"generated stand-ins: {stand_ins(generated)}")
        if real:
            parts.append(f"real data: {', '.join(real)}")
        if unknown:
            parts.append(f"not described in run_info.json: {', '.join(unknown)}")
        what = "**" + "; ".join(parts) + "**"
    else:
        what = "**no data set** in this run"
    seeds = run_info.get("seeds") or sorted({int(s) for s in data.df["seed"].dropna()})
    return (
        f"> Data: {what}.\n>\n> Profile `{run_info.get('profile', 'unknown')}`; seeds "
        f"{', '.join(str(s) for s in seeds) or 'none'}; revision "
        f"`{run_info.get('git_rev', 'unknown')}`.\n"
    )


def _how_judged() -> str:
    return (
        "How a verdict is reached:\n\n"
        "- each part of a claim rests on paired differences in percentage points: the two "
        "runs of a seed share the labelled subset and the test clips;\n"
        "- with several seeds, the 95 % interval is a Student t interval over the per-seed "
        "differences (why: [Intervals](../docs/statistics.md#intervals)); with one seed, a "
        f"bootstrap over test clips ({RESAMPLES} resamples, seed {BOOTSTRAP_SEED}): clip noise "
        "only;\n"
        "- within a part, a comparison is decided only if its interval excludes zero and its "
        f"p-value, Holm-corrected for the part's number of comparisons, is below {ALPHA:.2f};\n"
        f"- a part is *{SUPPORTED}* if every comparison is decided for it, *{CONTRADICTED}* "
        f"if some are decided against and none for, *{MIXED}* if some each way, "
        f"*{INCONCLUSIVE}* otherwise, *{UNJUDGED}* without the data.\n"
    )


def _summary_table(found: Sequence[Claim]) -> str:
    rows = []
    for claim in found:
        counts = [str(claim.count(s)) if claim.judged else MISSING for s in (*STATES, UNJUDGED)]
        rows.append([str(claim.number), claim.statement, f"**{claim.verdict}**", *counts])
    header = ["claim", "part", "verdict", *STATES, UNJUDGED]
    return md_table(header, rows)


def _p_value(p: float) -> str:
    if math.isnan(p):
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def claim_table(claim: Claim) -> str:
    """One row per comparison: difference, interval, sample, Holm-adjusted p, state."""
    rows = []
    for judged in claim.judged:
        c, interval = judged.comparison, judged.comparison.interval
        if interval is None:
            rows.append([c.name, MISSING, MISSING, MISSING, MISSING, f"{UNJUDGED} ({c.why})"])
            continue
        rows.append(
            [
                c.name,
                signed(interval.diff),
                f"{signed(interval.low)} to {signed(interval.high)}",
                interval.sample(),
                _p_value(judged.adjusted_p),
                judged.state,
            ]
        )
    unit = claim.judged[0].comparison.unit if claim.judged else "points"
    header = ["comparison", f"difference ({unit})", "95 % CI", "n", "p (Holm)", "state"]
    return md_table(header, rows)


def _claims_section(found: Sequence[Claim]) -> str:
    text = "## Claims in detail\n"
    for number, title in CLAIM_TITLES.items():
        text += f"\n### {title}\n"
        for claim in (c for c in found if c.number == number):
            text += f"\n{claim.sentence()}.\n\nMeasured: {claim.criterion}\n"
            if claim.judged:
                text += "\n" + claim_table(claim)
    return text


def _settings_section(run_info: dict) -> str:
    return (
        "## Training settings per objective\n\n"
        "What each objective trained at, read from every run's run.json (what it really "
        "trained with): a comparison of two objectives is as fair as these settings.\n\n"
        + settings.table(run_info.get("training", []), list(run_info.get("datasets", {})))
    )


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
    text = "# CLAR reproduction: results\n\n" + banner(data, run_info)
    text += "\n## Verdicts\n\n" + _summary_table(found) + "\n" + _how_judged() + "\n"
    text += _figure_links(files.FOREST_FIGURE, "every comparison's 95 % interval") + "\n"
    text += _settings_section(run_info) + "\n" + _claims_section(found) + "\n"
    text += (
        f"## Sources\n\nEvery number and figure on this page is derived from "
        f"[{files.RESULTS}]({files.RESULTS}) (one row per run and metric) and "
        f"[{files.PER_CLIP}]({files.PER_CLIP}) (which test clips each evaluation got right); "
        "table cells are mean ± sample std over seeds with the number of seeds n, in %.\n\n"
    )
    text += _what_ran(data, run_info)
    for title, table, figure in SECTIONS:
        text += f"\n## {title}\n\nTable: [{table}]({table})"
        png = files.figure_file(figure, files.PNG)
        text += f"; figure: [{png}]({png})\n\n" + _figure_links(figure, title) + "\n"
        text += _demote(_without_title(tables[table])) + "\n"
    if heads.present(run_info):
        text += f"\n## {heads.TITLE}\n\nTable: [{files.HEADS_TABLE}]({files.HEADS_TABLE})\n\n"
        text += _demote(_without_title(tables[files.HEADS_TABLE])) + "\n"
    text += "\n## Confusion matrices\n\n"
    text += _figure_links(files.CONFUSIONS_FIGURE, "confusion matrices")
    # heads.md is always written but named only where it holds a table.
    listed = [n for n in files.RENDERED if n != files.INDEX]
    if not heads.present(run_info):
        listed.remove(files.HEADS_TABLE)
    text += "\n## Files\n\n" + "".join(f"- [{name}]({name})\n" for name in listed)
    return text
