"""Data layer: audio I/O, manifests, corpora, speaker-independent splits."""
