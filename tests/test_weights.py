"""The shipped weights: their model cards, and `translate weights check` that holds them to the cards."""

import json
from pathlib import Path

import pytest

from translate.cli import main
from translate.errors import UserError


def test_weights_check_rescores_shipped_weights_and_flags_a_card_that_lies(tmp_path, monkeypatch, capsys):
    import translate.weights as shipped

    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path / "weights")
    run = tmp_path / "R"
    assert main(["train", "ganlab", "--data", "ring8", "--run", str(run), "--steps", "5", "--hidden", "16",
                 "--eval-samples", "200", "--no-progress"]) == 0
    assert main(["weights", "add", str(run), "tiny-ring"]) == 0
    capsys.readouterr()
    assert main(["weights", "check"]) == 0
    assert "tiny-ring on ring8: all 4 metrics as the card says" in capsys.readouterr().out
    from translate.weights import load_weights
    monkeypatch.chdir(tmp_path)  # a relative path without its suffix, as the docs name the shipped files
    by_name, by_path = load_weights("tiny-ring"), load_weights("weights/tiny-ring")
    assert by_name.pipeline is by_path.pipeline
    assert by_name.networks["G"].state_dict().keys() == by_path.networks["G"].state_dict().keys()
    with pytest.raises(UserError, match="not a file, a run folder or a shipped weights name"):
        load_weights("weights/tiny-rin")

    card_path = tmp_path / "weights" / "tiny-ring.json"
    card = json.loads(card_path.read_text())
    card["metrics"]["high_quality"] += 0.1
    card_path.write_text(json.dumps(card))
    assert main(["weights", "check", "tiny-ring"]) == 1
    out = capsys.readouterr().out
    assert "1 of 4 metrics DIFFER" in out and "high_quality: card" in out

    card["metrics"]["data"] = str(tmp_path / "gone")
    card_path.write_text(json.dumps(card))
    assert main(["weights", "check", "tiny-ring"]) == 0
    assert "tiny-ring on " + str(tmp_path / "gone") + ": not scored here" in capsys.readouterr().out


def test_shipped_weights_score_as_their_cards_say_where_their_data_is_here():
    from translate.weights import _local, available, check

    if "ganlab-ring8" not in available():
        pytest.skip("no shipped weights here")
    rows = check()  # the cards whose data is not here (../shared, /tmp/bk) come back as skipped
    compared = [row for row in rows if "skipped" not in row]
    not_here = [row["data"] for row in rows if "skipped" in row and Path(_local(row["data"])).exists()]
    assert not not_here, f"data here, yet not scored: {not_here}"
    assert any(row["name"] == "ganlab-ring8" for row in compared)  # its data, ring8, is built in
    wrong = [f"{row['name']} on {row['data']}, {row['metric']}: card {row['card']}, here {row['here']}"
             for row in compared if not row["ok"]]
    assert not wrong, wrong


def test_model_cards_and_eval_lines_are_strict_json():
    from translate.weights import strict_json

    metrics = {"psnr": float("inf"), "per_class": [0.5, float("nan")], "steps": 3}
    assert json.dumps(strict_json(metrics), allow_nan=False) == '{"psnr": null, "per_class": [0.5, null], "steps": 3}'
