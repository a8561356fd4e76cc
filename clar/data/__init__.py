"""Data sets: the registry, download, decoding, the cached tensor store."""
