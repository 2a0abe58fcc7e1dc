"""The labeling domain: pure state, decisions and folds (no I/O)."""
