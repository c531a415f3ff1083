"""The README's runbook and settings sections are generated from the code and must match it."""

from pathlib import Path

from cpwatch.entry.docs import render_readme

README = Path(__file__).parents[2] / "README.md"


def test_readme_generated_sections_are_current():
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, "README.md is out of date: run `.venv/bin/python -m cpwatch.entry.docs`"


def test_every_finding_code_is_in_the_readme():
    from cpwatch.findings import CATALOGUE

    text = README.read_text(encoding="utf-8")
    missing = [code for code in CATALOGUE if f"`{code}`" not in text]
    assert missing == []
