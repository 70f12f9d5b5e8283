"""Architectures: each file is a Config dataclass + a model exposing forward(idx) -> logits and loss(batch)."""
