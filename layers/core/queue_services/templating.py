"""A broadcast's per-recipient texts: {{variable}} placeholders filled by plain substitution, nothing else.

No expressions, filters, loops or code: a placeholder is a name of letters, digits and `_` (not starting
with a digit) between double braces, spaces inside allowed (`{{firstName}}`, `{{ first_name }}`). Any
other `{{...}}` in a text is refused when the request is checked, so a typo cannot reach a recipient as
raw braces. A recipient's values are inserted as they are, in one pass (a value holding `{{x}}` stays as
written); in HTML they are escaped first. A placeholder with no value for a recipient rejects that
recipient: it is never sent with a blank.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)


class UnknownVariable(ValueError):
    """A placeholder of the text has no value among the recipient's variables."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no value for {{{{{name}}}}} in this recipient's variables")
        self.name = name


def check_template(text: str) -> str:
    """The text, if every `{{...}}` in it is a plain placeholder; ValueError naming the first that is not."""
    for found in _BRACES.finditer(text):
        if not _PLACEHOLDER.fullmatch(found.group(0)):
            shown = found.group(0) if len(found.group(0)) <= 40 else found.group(0)[:37] + "..."
            raise ValueError(f"{shown} is not a placeholder: use {{{{name}}}}, a name of letters, digits and _")
    return text


def placeholders(text: str) -> set[str]:
    """The variable names a text uses."""
    return {found.group(1) for found in _PLACEHOLDER.finditer(text)}


def render(text: str, variables: Mapping[str, str], *, escape_html: bool = False) -> str:
    """The text with each placeholder replaced by its value (HTML-escaped with escape_html).

    Raises UnknownVariable for the first placeholder without a value.
    """

    def value_of(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in variables:
            raise UnknownVariable(name)
        value = variables[name]
        return html.escape(value, quote=True) if escape_html else value

    return _PLACEHOLDER.sub(value_of, text)
