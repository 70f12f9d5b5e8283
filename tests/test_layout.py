"""The codebase's own rules: files short enough to read in one sitting, every kernel beside its NumPy twin."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tinyllm"
MAX_LINES = 400
# path (relative to tinyllm/) -> reason it may be longer. Keep this list short and justified.
EXCEPTIONS = {}


def _py_files():
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _py_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_file_fits_in_one_sitting(path):
    rel = str(path.relative_to(ROOT))
    n = len(path.read_text(encoding="utf-8").splitlines())
    if rel in EXCEPTIONS:
        return
    assert n <= MAX_LINES, f"tinyllm/{rel} has {n} lines (> {MAX_LINES}); split it or add a justified exception"


def test_every_kernel_has_a_numpy_twin():
    from tinyllm import kernels
    for public, module in kernels.KERNELS.items():
        src = (ROOT / "kernels" / f"{module}.py").read_text(encoding="utf-8")
        names = {n.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef)}
        assert f"{public}_numpy" in names, f"kernels/{module}.py lacks the reference {public}_numpy"
