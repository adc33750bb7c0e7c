"""The long table: loading, validation (errors name the column), final versions, selections."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from analysis.table.dictionary import DATA_DICTIONARY, write_data_dictionary
from analysis.table.longtable import (
    REQUIRED_COLUMNS,
    load_long_table,
    validate_long_table,
)
from analysis.table.simulate import simulate_long_table

# The JIC scheme appears here only as an example of an ordered scheme.
JIC = ["A", "B", "C1", "C2"]


def small_table(**overrides) -> pd.DataFrame:
    """alice and bob (humans) and the model read three cases of two patients."""
    rows = []
    truth = {"c1": "lo", "c2": "hi", "c3": "mid"}
    patient = {"c1": "p1", "c2": "p1", "c3": "p2"}
    given = {"alice": ["lo", "mid", "mid"], "bob": ["lo", "hi", "lo"],
             "model": ["lo", "hi", "mid"]}
    for reader, answers in given.items():
        for case, label in zip(["c1", "c2", "c3"], answers, strict=True):
            rows.append({
                "reader": reader, "reader_kind": "model" if reader == "model" else "human",
                "seniority": None if reader == "model" else "chief", "condition": "unaided",
                "session": 1, "case": case, "patient": patient[case], "truth": truth[case],
                "label": label, "confidence": 80, "partition": "external" if case == "c3"
                else "test", "site": "s2" if case == "c3" else "s1",
            })
    df = pd.DataFrame(rows)
    for column, value in overrides.items():
        df[column] = value
    return df


def test_it_loads_a_csv_and_infers_the_label_order_from_score_columns(tmp_path):
    df = simulate_long_table(labels=JIC, n_cases=30, n_readers=3, seed=4)
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    table = load_long_table(path)
    assert table.labels == tuple(JIC)
    assert table.score_columns == ("score_A", "score_B", "score_C1", "score_C2")
    assert table.n_cases == 30
    assert len(table.reads) == len(df)
    assert table.model_readers == ("sim-model",)
    assert len(table.human_readers) == 3


def test_it_keeps_identifiers_as_text(tmp_path):
    df = small_table()
    df["case"] = df["case"].map({"c1": "007", "c2": "010", "c3": "3"})
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    table = load_long_table(path, labels=["lo", "mid", "hi"])
    assert sorted(table.reads["case"].unique()) == ["007", "010", "3"]


def test_the_labels_argument_sets_the_order():
    table = validate_long_table(small_table(), labels=["lo", "mid", "hi"])
    assert table.labels == ("lo", "mid", "hi")
    assert table.label_codes("truth").tolist()[:3] == [0, 2, 1]


def test_it_refuses_a_table_without_order_and_asks_for_labels():
    with pytest.raises(ValueError, match="--labels"):
        validate_long_table(small_table())


def test_it_refuses_labels_that_do_not_match_the_score_columns():
    df = small_table(score_lo=0.2, score_hi=0.8)
    with pytest.raises(ValueError, match="score columns .* do not match labels"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_it_names_a_missing_required_column(column):
    df = small_table().drop(columns=[column])
    with pytest.raises(ValueError, match=f"missing required column.*'{column}'"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


@pytest.mark.parametrize("column", ["truth", "label", "patient", "reader"])
def test_it_names_a_column_with_a_missing_value(column):
    df = small_table()
    df.loc[4, column] = None
    with pytest.raises(ValueError, match=f"column '{column}' has 1 missing value.*data row 5"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


def test_it_refuses_an_unknown_label():
    df = small_table()
    df.loc[2, "label"] = "C3"
    with pytest.raises(ValueError, match=r"column 'label' has unknown label\(s\) \['C3'\]"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


def test_it_refuses_an_unknown_reader_kind():
    df = small_table()
    df.loc[0, "reader_kind"] = "robot"
    with pytest.raises(ValueError, match="'reader_kind' has value.*robot.*expected 'human'"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


def test_it_refuses_a_confidence_outside_0_to_100():
    df = small_table()
    df.loc[1, "confidence"] = 140
    with pytest.raises(ValueError, match="'confidence' has 1 value.*outside 0-100"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


def test_it_refuses_partial_scores():
    df = small_table(score_lo=0.2, score_mid=0.3, score_hi=0.5)
    df.loc[3, "score_mid"] = np.nan
    with pytest.raises(ValueError, match="data row 4 has scores for some classes"):
        validate_long_table(df)


def test_it_refuses_a_case_whose_truth_differs_between_rows():
    df = small_table()
    df.loc[3, "truth"] = "mid"  # bob's row of c1
    with pytest.raises(ValueError, match="column 'truth' differs between rows of case 'c1'"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


def test_it_refuses_a_repeated_read_without_a_timestamp():
    df = pd.concat([small_table(), small_table().iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="repeat a reader x case x condition x session.*alice"):
        validate_long_table(df, labels=["lo", "mid", "hi"])


def test_the_latest_version_of_a_read_wins():
    df = small_table(read_at="2026-01-01T10:00:00Z")
    changed = df.iloc[[0]].assign(label="hi", read_at="2026-01-01T10:05:00Z")
    older = df.iloc[[0]].assign(label="mid", read_at="2026-01-01T09:00:00Z")
    table = validate_long_table(pd.concat([changed, df, older], ignore_index=True),
                                labels=["lo", "mid", "hi"])
    assert table.n_superseded == 2
    alice_c1 = table.select(reader="alice", cases=["c1"]).reads
    assert alice_c1["label"].tolist() == ["hi"]
    assert len(table.reads) == len(df)


def test_two_versions_with_the_same_timestamp_are_refused():
    df = small_table(read_at="2026-01-01T10:00:00Z")
    twin = df.iloc[[0]].assign(label="hi")
    with pytest.raises(ValueError, match="two versions with the same read_at"):
        validate_long_table(pd.concat([df, twin]), labels=["lo", "mid", "hi"])


def test_it_selects_site_groups_by_partition_or_site_list():
    table = validate_long_table(small_table(), labels=["lo", "mid", "hi"])
    assert sorted(table.site_group("external").reads["case"].unique()) == ["c3"]
    assert sorted(table.site_group("internal").reads["case"].unique()) == ["c1", "c2"]
    assert table.site_group("all").n_cases == 3
    by_site = table.site_group("external", external_sites=["s1"])
    assert sorted(by_site.reads["case"].unique()) == ["c1", "c2", "c3"]
    with pytest.raises(ValueError, match="group: expected 'all', 'internal' or 'external'"):
        table.site_group("abroad")


def test_the_pivot_is_cases_by_readers_with_gaps_for_unread_cases():
    df = small_table().drop(index=[4])  # bob did not read c2
    table = validate_long_table(df, labels=["lo", "mid", "hi"])
    wide = table.pivot("label")
    assert list(wide.index) == ["c1", "c2", "c3"]
    assert list(wide.columns) == ["alice", "bob", "model"]
    assert pd.isna(wide.loc["c2", "bob"])
    assert wide.loc["c3", "bob"] == "lo"


def test_the_pivot_refuses_two_sessions_at_once():
    df = pd.concat([small_table(), small_table(session=2)], ignore_index=True)
    table = validate_long_table(df, labels=["lo", "mid", "hi"])
    with pytest.raises(ValueError, match="pass condition= and session="):
        table.pivot("label")
    assert table.pivot("label", session=2).shape == (3, 3)


def test_the_data_dictionary_describes_every_column_of_the_simulated_table():
    df = simulate_long_table(labels=JIC, n_cases=5, n_readers=1, seed=0)
    text = write_data_dictionary(labels=JIC)
    described = pd.read_csv(io.StringIO(text))["column"].tolist()
    assert set(df.columns) <= set(described)
    assert "score_<class>" in DATA_DICTIONARY
    required = pd.read_csv(io.StringIO(text)).set_index("column")["required"]
    assert sorted(required[required == "yes"].index) == sorted(REQUIRED_COLUMNS)


def test_the_data_dictionary_is_written_to_a_file(tmp_path):
    path = tmp_path / "dictionary.csv"
    write_data_dictionary(path, labels=["x", "y"])
    assert "score_x" in path.read_text()
