from pathlib import Path

from local.ocsf_doc import mapping_lines

DOC = Path(__file__).resolve().parents[2] / "docs" / "ocsf.md"


def test_docs_mapping_tables_are_the_code_tables():
    text = DOC.read_text()
    start = text.index("<!-- ocsf-tables:start -->")
    end = text.index("<!-- ocsf-tables:end -->")
    assert text[start:end].strip().splitlines()[1:] == mapping_lines()
