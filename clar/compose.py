"""``conf/`` composed into the dict params.yaml holds, as ``dvc exp run -S group=option`` does
(Hydra), with a bad override said in one line. :mod:`clar.config` validates the result."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clar.errors import ClarError, invalid, unknown_key


def compose(conf_dir: Path | str = "conf", overrides: list[str] | None = None) -> dict:
    """Compose ``conf/`` the way ``dvc exp run -S group=option`` does, as a plain dict.

    A bad override (an unknown group, option or key, or one Hydra cannot parse) raises a
    one-line :class:`ClarError` that lists what is allowed.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    conf_dir, overrides = Path(conf_dir), list(overrides or [])
    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
            config = hydra_compose(config_name="config", overrides=overrides)
        return OmegaConf.to_container(config, resolve=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise _override_error(conf_dir, overrides, err) from None


def _override_error(conf_dir: Path, overrides: list[str], err: Exception) -> ClarError:
    """Hydra's multi-line message (or traceback) for a bad override, as one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import MissingConfigException, OverrideParseException

    groups = sorted(p.name for p in conf_dir.iterdir() if p.is_dir())
    forms = f"write group=option (groups: {', '.join(groups)}) or key=value"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if isinstance(err, OverrideParseException):
        parser = OverridesParser.create()

        def parses(override: str) -> bool:
            try:
                parser.parse_overrides([override])
            except OverrideParseException:
                return False
            return True

        culprit = next((o for o in overrides if not parses(o)), " ".join(overrides))
        reason = next((s for s in lines if not s.startswith(("Error parsing", "See "))), "")
        return ClarError(f"{conf_dir}: override {culprit!r} is malformed ({reason}); {forms}")
    found = re.search(r"'([\w-]+)/([^']*)'", lines[0] if lines else "")
    if isinstance(err, MissingConfigException) and found:
        group, option = found.groups()
        options = sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))
        return invalid(conf_dir, group, option, ", ".join(options))
    found = re.search(r"Could not override '([^']+)'", lines[0] if lines else "")
    if found:
        node: Any = compose(conf_dir)
        parts = found.group(1).split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, Mapping) or part not in node:
                key = ".".join(parts[: i + 1])
                if isinstance(node, Mapping) and node:
                    return unknown_key(conf_dir, key, list(node))
                # An entry of an empty mapping (train.per_dataset.<name>): Hydra adds it with +.
                add = next(
                    (s.split()[-1] for s in lines if s.startswith("To append")), "+key=value"
                )
                return ClarError(f"{conf_dir}: {key} is not a parameter yet; to add it write {add}")
            node = node[part]
    return ClarError(f"{conf_dir}: {' '.join(lines[:2])}; {forms}")
