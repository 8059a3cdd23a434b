"""``delphi analyze``: options, output formats, and errors that name the line, never a traceback."""

import csv
import io
import json

import pytest

from delphi.analyze_cli import analyze_command

from .helpers import HEADER, analyze_file, ratings_csv, run_analyze

GOOD = [(1, "q1", "p1", "clin", 8), (1, "q1", "p2", "pat", "UTS"), (1, "q1", "p3", "", ""),
        (1, "q2", "p1", "clin", 7), (1, "q2", "p2", "pat", 9), (1, "q2", "p3", "", 2),
        (2, "q1", "p1", "clin", 9), (2, "q1", "p2", "pat", 8), (2, "q1", "p3", "", 7)]


def test_json_output_has_every_section(tmp_path):
    result = analyze_file(ratings_csv(tmp_path / "r.csv", GOOD))
    assert set(result) >= {"settings", "items", "stability", "panel", "response",
                           "attrition_bias"}
    assert [(i["round"], i["item"], i["group"]) for i in result["items"]][:3] == [
        (1, "q1", None), (1, "q1", "clin"), (1, "q1", "pat")]
    assert result["groups"] == ["clin", "pat"]


def test_options_reach_the_settings(tmp_path):
    path = ratings_csv(tmp_path / "r.csv", GOOD)
    result = analyze_file(path, "--scale", "1-9", "--percentile", "weibull", "--uts", "include",
                          "--group-rule", "any", "--primary-rule", "percent", "--comet", "80/10",
                          "--percent-threshold", "66.7", "--iqr-max", "2", "--iqr-median-min",
                          "8", "--stability-pp", "10", "--scheibe-threshold", "0.2",
                          "--min-group-size", "1", "--wilcoxon-zero-method", "pratt",
                          "--no-wilcoxon-correction")
    expected = {
        "scale": "grade-1-9", "percentile_method": "weibull", "uts": "include",
        "group_rule": "any", "primary_rule": "percent", "comet_agree_pct": 80,
        "comet_disagree_pct": 10, "percent_threshold": "66.7", "iqr_max": 2,
        "iqr_median_min": 8, "stability_pp": 10, "scheibe_threshold": "0.2",
        "min_group_size": 1, "wilcoxon_zero_method": "pratt", "wilcoxon_correction": False,
    }
    assert {key: result["settings"][key] for key in expected} == expected


def test_csv_output_flattens_the_items(tmp_path):
    out = tmp_path / "items.csv"
    result = run_analyze(str(ratings_csv(tmp_path / "r.csv", GOOD)), "--format", "csv",
                         "--out", str(out))
    assert result.exit_code == 0 and result.output == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == len(analyze_file(tmp_path / "r.csv")["items"])
    first = rows[0]
    assert first["verdict_comet"] and "count_9" in first and "combined_rand" in first
    assert first["group"] == "" and first["n_uts"] == "1"


def test_json_to_a_file_is_strict_json(tmp_path):
    out = tmp_path / "a.json"
    run_analyze(str(ratings_csv(tmp_path / "r.csv", GOOD)), "--out", str(out))
    json.loads(out.read_text(encoding="utf-8"), parse_constant=pytest.fail)


def test_help_documents_every_option():
    text = run_analyze("--help").output
    for param in analyze_command.params:
        for name in getattr(param, "opts", []):
            if name.startswith("--"):
                assert name in text
    assert "round,item,panellist,group,rating" in text


def write(tmp_path, text, name="ratings.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("", "ratings.csv: the file is empty"),
    (HEADER + "\n", "ratings.csv: there are no ratings after the header"),
    ("round,item,panellist,rating\n1,q,p,7\n", "line 1: the header lacks column(s) group"),
    (HEADER + "\n1,q,p1,,7\n1,q,p2,,10\n",
     "ratings.csv: line 3: rating '10' is not on the 1-9 scale"),
    (HEADER + "\n1,q,p1,,7.5\n", "line 2: rating '7.5' is not a whole number, 'UTS' or empty"),
    (HEADER + "\n1,q,p1,,\u0667\n", "line 2: rating '\u0667' is not a whole number"),
    (HEADER + "\none,q,p1,,7\n", "line 2: round 'one' is not a whole number"),
    (HEADER + "\n\u0661,q,p1,,7\n", "line 2: round '\u0661' is not a whole number"),
    (HEADER + "\n1,q,p1,,7\n1,q,p1,,8\n",
     "line 3: round 1, item 'q', panellist 'p1' already appears on line 2"),
    (HEADER + "\n1,q,p1,a,7\n1,r,p1,b,8\n",
     "line 3: panellist 'p1' is in group 'b' here but in group 'a' on line 2"),
    (HEADER + "\n1,q,p1,,7,extra\n", "line 2: expected 5 fields, found 6"),
    (HEADER + "\n1,,p1,,7\n", "line 2: item is empty"),
    (b"round,item,panellist,group,rating\n1,q,p\xe9,,7\n", "line 2: the file is not UTF-8"),
])
def test_bad_files_get_a_message_naming_the_line(tmp_path, text, message):
    result = run_analyze(str(write(tmp_path, text)))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_scale_option_changes_what_is_on_the_scale(tmp_path):
    path = write(tmp_path, HEADER + "\n1,q,p1,,6\n")
    result = run_analyze(str(path), "--scale", "1-5")
    assert "line 2: rating '6' is not on the 1-5 scale" in result.output
    assert run_analyze(str(path), "--scale", "agree-7").exit_code == 0


def test_bad_option_values_are_usage_errors(tmp_path):
    path = ratings_csv(tmp_path / "r.csv", GOOD)
    for args, text in ((["--comet", "70"], "AGREE/DISAGREE"),
                       (["--comet", "170/15"], "comet_agree_pct"),
                       (["--scheibe-threshold", "abc"], "scheibe_threshold"),
                       (["--scale", "1-10"], "1-10")):
        result = run_analyze(str(path), *args)
        assert result.exit_code == 2, result.output
        assert text in result.output


def test_utf8_byte_order_mark_and_uts_spelling_are_accepted(tmp_path):
    path = write(tmp_path, "\ufeff" + HEADER + "\n1,q,p1,,uts\n1,q,p2,,7\n")
    (item,) = analyze_file(path)["items"]
    assert (item["n_uts"], item["n_valid"]) == (1, 1)


def test_an_unwritable_output_is_an_error_not_a_traceback(tmp_path):
    result = run_analyze(str(ratings_csv(tmp_path / "r.csv", GOOD)), "--out",
                         str(tmp_path / "missing" / "a.json"))
    assert result.exit_code == 1
    assert "cannot write" in result.output


def test_the_uts_column_marks_unable_to_score_and_the_old_form_still_reads():
    from delphi.consensus.csvio import RatingsFileError, parse_ratings
    from delphi.consensus.scales import get_scale

    scale = get_scale("grade-1-9")
    new = b"round,item,panellist,group,rating,uts\n1,q,p1,,8,0\n1,q,p2,,,1\n1,q,p3,,,0\n"
    old = b"round,item,panellist,group,rating\n1,q,p1,,8\n1,q,p2,,UTS\n1,q,p3,,\n"
    assert parse_ratings(new, scale) == parse_ratings(old, scale) == [
        (1, "q", "p1", None, 8), (1, "q", "p2", None, "UTS"), (1, "q", "p3", None, None)]
    with pytest.raises(RatingsFileError, match="line 2: rating 8 and uts 1"):
        parse_ratings(b"round,item,panellist,group,rating,uts\n1,q,p1,,8,1\n", scale)
    with pytest.raises(RatingsFileError, match="line 2: uts 'maybe' is not 1, 0 or empty"):
        parse_ratings(b"round,item,panellist,group,rating,uts\n1,q,p1,,8,maybe\n", scale)
