"""The unit every loader returns: one audio file, its class and its split."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Item:
    """One clip on disk.

    ``path`` is an audio file soundfile can decode, ``label`` a class name, ``split`` one of
    :data:`clar.vocabulary.SPLITS`.
    """

    path: Path
    label: str
    split: str
