"""The `tinyllm` command: dispatch, help and unknown-command errors."""
import subprocess
import sys

from tinyllm import cli


def test_info_prints_backend(capsys, monkeypatch):
    monkeypatch.setattr(cli.os, "environ", dict(cli.os.environ))  # info's thread setup must not leak into other tests
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


def test_train_sample_and_nlq_default_to_one_blas_thread_unless_the_user_chose():
    env = {}
    line = cli.pin_blas_threads("train", env)
    assert env["OPENBLAS_NUM_THREADS"] == "1" and env["OMP_WAIT_POLICY"] == "passive" and "1 BLAS thread" in line
    assert env["GOMP_SPINCOUNT"] == "3000" and "GOMP_SPINCOUNT=3000" in line
    env = {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "active", "NUMBA_NUM_THREADS": "3"}
    line = cli.pin_blas_threads("sample", env)
    assert "OPENBLAS_NUM_THREADS" not in env and env["OMP_WAIT_POLICY"] == "active"  # the user's choices stand
    assert "GOMP_SPINCOUNT" not in env
    assert "OMP_NUM_THREADS" in line and "3 Numba thread(s)" in line
    env = {}
    assert cli.pin_blas_threads("nlq", env) is not None and env["OPENBLAS_NUM_THREADS"] == "1"  # 1-token decoding
    env = {}
    assert cli.pin_blas_threads("ngram", env) is None and env == {}


def test_blas_pin_reaches_a_fresh_train_process():
    import os
    code = ("import os, sys; from tinyllm import cli; sys.argv = ['tinyllm', 'train', '--help']; "
            "rc = cli.main(); print('BLAS', os.environ.get('OPENBLAS_NUM_THREADS'))")
    env = {k: v for k, v in os.environ.items() if k not in cli.BLAS_VARS}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "BLAS 1" in r.stdout and "1 BLAS thread" in r.stderr


def test_info_reports_the_thread_setup_of_train():
    import os
    env = {k: v for k, v in os.environ.items() if k not in cli.BLAS_VARS + ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    r = subprocess.run([sys.executable, "-m", "tinyllm.cli", "info"], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert "OPENBLAS_NUM_THREADS=1" in r.stdout and "OMP_WAIT_POLICY=passive" in r.stderr
