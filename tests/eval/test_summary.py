from crescent.eval.summary import depth_rows, score_cells, score_columns
from crescent.results.eval import DepthAccuracy, EvalResults


def test_score_cells_fill_one_cell_per_column():
    results = {"n": 8, "correct": 2, "accuracy": 0.25, "ci95": [0.07, 0.59], "extraction_failure_rate": 0.125}
    cells = score_cells(EvalResults.from_json(results | {"tokens": 80, "wall_s": 1.0, "tokens_per_s": 80.0}))
    assert len(cells) == len(score_columns("pass@1"))
    assert cells == [8, 2, "25.00%", "[7.00%, 59.00%]", "12.50%", 1, 0]
    assert score_columns("pass@1", "95% CI (Wilson)")[2:4] == ["pass@1", "95% CI (Wilson)"]


def test_depth_rows_show_dashes_for_an_empty_bucket():
    buckets = [
        {"depth": "1", "n": 4, "accuracy": 0.5, "ci95": [0.15, 0.85]},
        {"depth": "2", "n": 0, "accuracy": None, "ci95": None},
    ]
    rows = depth_rows([DepthAccuracy.model_validate(b) for b in buckets])
    assert rows == [["1", 4, "50.00%", "[15.00%, 85.00%]"], ["2", 0, "—", "—"]]
