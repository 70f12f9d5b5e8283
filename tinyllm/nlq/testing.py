"""Test support: one engine with both indexes loaded, shared by every NLQ test file in a pytest process.

Loading ~22k documents takes 15-60 s, so it happens once per process. Use it as
`@pytest.fixture(scope="session") def es(): return shared_backend()`.
"""
from . import schema
from .backend import connect

_SHARED = None


def shared_backend():
    """The process-wide Backend (embedded osmem unless TINYLLM_ES_URL is set), loaded with both indexes."""
    global _SHARED
    if _SHARED is None:
        backend = connect()
        backend.ensure_loaded(schema.INDEXES, progress=False)
        _SHARED = backend
    return _SHARED


def body_keys(x):
    """Every object key anywhere in a query body, depth first: tests assert no `script` key is ever emitted."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield k
            yield from body_keys(v)
    elif isinstance(x, list):
        for v in x:
            yield from body_keys(v)
