"""The corpus of bad workspaces: each case lists the exact diagnostics (text and location) it must produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spec.corpus import CASES, EXPECTED, case_names, load_case, rendered


@pytest.mark.parametrize("name", case_names())
def test_case_reports_exactly_the_expected_diagnostics(name: str, tmp_path: Path) -> None:
    expected = (CASES / name / EXPECTED).read_text(encoding="utf-8").splitlines()
    assert rendered(load_case(name, tmp_path)) == expected


def test_every_case_has_an_expectation() -> None:
    assert case_names()
    missing = [name for name in case_names() if not (CASES / name / EXPECTED).is_file()]
    assert not missing
