"""tinyllm.plotting: matplotlib stays optional, and a PNG is either written whole or not at all."""
import os
import sys

import pytest

from tinyllm import plotting


def test_pyplot_is_none_with_a_hint_when_matplotlib_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # makes `import matplotlib` raise ImportError
    assert plotting.pyplot("no chart") is None
    out = capsys.readouterr().out
    assert "matplotlib is not installed: no chart" in out and ".[plot]" in out


def test_save_figure_writes_the_png_and_leaves_no_temp_file(tmp_path):
    plt = plotting.pyplot()
    if plt is None:
        pytest.skip("matplotlib not installed")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = str(tmp_path / "sub" / "line.png")
    assert plotting.save_figure(fig, path) == path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path / "sub") == ["line.png"]


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    plt = plotting.pyplot()
    if plt is None:
        pytest.skip("matplotlib not installed")
    path = tmp_path / "keep.png"
    path.write_bytes(b"old")
    fig, _ = plt.subplots()

    def broken_savefig(target, **kwargs):
        with open(target, "wb") as f:
            f.write(b"half a png")
        raise OSError("disk full")
    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plotting.save_figure(fig, str(path))
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["keep.png"]
