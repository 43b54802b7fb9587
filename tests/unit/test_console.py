from __future__ import annotations

from tradelake.console import safe_text, shown


def test_safe_text_escapes_every_control_character_and_keeps_the_rest() -> None:
    assert safe_text("plain – café.xlsx") == "plain – café.xlsx"
    assert safe_text("a\x1b[31mb\rc\x9bd\x7f\ne") == "a\\x1b[31mb\\rc\\x9bd\\x7f\\ne"
    assert safe_text("rule a 1\nrule b\x1b 2", keep_newlines=True) == "rule a 1\nrule b\\x1b 2"


def test_shown_neutralises_rich_markup_too() -> None:
    assert shown("[red]x[/]\n") == "\\[red]x\\[/]\\n"
