"""ids -> batches: token files on disk, train/val split, seeded batches, synthetic algorithmic data."""
