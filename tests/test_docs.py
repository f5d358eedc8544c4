"""The documented tables that the code owns agree with the code (scripts/gen_docs.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
gen_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_docs)


def test_the_documented_tables_are_the_codes(capsys):
    assert gen_docs.main(["--check"]) == 0, capsys.readouterr().out


def test_every_parameter_of_every_protocol_is_in_the_table():
    from dopasim.protocols import REGISTRY, get_protocol

    text = (ROOT / "docs" / "parameters.md").read_text()
    for name in REGISTRY:
        section = text.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for p in get_protocol(name).PARAMS:
            assert f"| `{p.name}` |" in section, (name, p.name)


def test_a_changed_parameter_makes_the_check_fail(monkeypatch, capsys):
    """The check can fail: a parameter table that no longer matches is reported."""
    real = gen_docs.parameters_md
    monkeypatch.setattr(gen_docs, "parameters_md", lambda: real() + "| `extra` |\n")
    monkeypatch.setitem(gen_docs.FILES, "parameters.md", gen_docs.parameters_md)
    assert gen_docs.main(["--check"]) == 1
    assert "parameters.md" in capsys.readouterr().out
