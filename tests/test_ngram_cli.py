"""`tinyllm ngram fit|eval|sample` end to end on a small file."""
from tinyllm import cli


def test_fit_eval_sample(tmp_path, capsys):
    data = tmp_path / "t.txt"
    data.write_text("to be or not to be, that is the question.\n" * 40)
    model = tmp_path / "m.npz"
    assert cli.main(["ngram", "fit", f"--data={data}", f"--out={model}", "--order=4", "--method=kn",
                     "--discounts=0.6"]) == 0
    out = capsys.readouterr().out
    assert "val:" in out and "discounts=(0.6,)" in out and model.exists()
    assert cli.main(["ngram", "eval", f"--model={model}", f"--data={data}", "--split=all"]) == 0
    assert "nats/token" in capsys.readouterr().out
    args = ["ngram", "sample", f"--model={model}", "--prompt=to be", "--n=30", "--seed=3"]
    assert cli.main(args) == 0
    first = capsys.readouterr().out
    assert cli.main(args) == 0
    assert capsys.readouterr().out == first and first.startswith("to be")


def test_errors_name_the_problem(tmp_path, capsys):
    assert cli.main(["ngram", "fit", "--ordr=3"]) == 2
    assert "did you mean --order" in capsys.readouterr().err
    assert cli.main(["ngram", "fit", f"--data={tmp_path / 'nope.txt'}"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["ngram", "fit", "--method=bogus", f"--data={__file__}"]) == 2
    assert "method must be one of" in capsys.readouterr().err
