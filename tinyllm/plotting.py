"""Optional plots for the scripts: matplotlib is an extra (`pip install -e ".[plot]"`), never a requirement.

Every script that draws asks here, so "not installed" is handled once and every PNG is written the same safe way.
"""
import os


def pyplot(why="no plot"):
    """matplotlib.pyplot on the file-only Agg backend, or None (after a one-line hint) when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        print(f"matplotlib is not installed: {why} (pip install -e \".[plot]\")")
        return None
    matplotlib.use("Agg")                        # render to files; no display needed on a server or in CI
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, dpi=110):
    """Write `fig` to `path` atomically (temp file in the same folder, then rename) and close it; returns path."""
    import matplotlib.pyplot as plt
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fmt = os.path.splitext(path)[1].lstrip(".") or "png"
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    try:
        fig.savefig(tmp, dpi=dpi, format=fmt)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {path}")
    return path
