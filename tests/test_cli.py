"""The `tinyllm` command: dispatch, help and unknown-command errors."""
import subprocess
import sys

from tinyllm import cli


def test_info_prints_backend(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "kernels" in out and "numpy" in out


def test_unknown_command_suggests(capsys):
    assert cli.main(["trian"]) == 2
    assert "Did you mean 'train'" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "tinyllm.cli", "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "tinyllm" in r.stdout
