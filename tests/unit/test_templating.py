"""Broadcast templates: plain {{variable}} substitution, unknown variables refused, HTML values escaped."""

from __future__ import annotations

import pytest

from queue_services.templating import UnknownVariable, check_template, placeholders, render


def test_placeholders_are_filled_with_the_recipients_values() -> None:
    text = "Hi {{firstName}}, your code is {{ code }}. Bye {{firstName}}!"
    assert render(text, {"firstName": "Ana", "code": "4711"}) == "Hi Ana, your code is 4711. Bye Ana!"
    assert placeholders(text) == {"firstName", "code"}


def test_an_unknown_variable_rejects_the_recipient_and_names_it() -> None:
    with pytest.raises(UnknownVariable) as refused:
        render("Hi {{firstName}} {{lastName}}", {"firstName": "Ana"})
    assert refused.value.name == "lastName"
    assert "{{lastName}}" in str(refused.value)


def test_an_empty_value_is_a_value_not_an_unknown_variable() -> None:
    assert render("Hi {{firstName}}!", {"firstName": ""}) == "Hi !"


def test_values_are_inserted_as_written_in_one_pass() -> None:
    # A value that looks like a placeholder, or like code, is text: nothing is evaluated or filled again
    variables = {"a": "{{b}}", "b": "x", "c": "${7*7} {% if %} __import__('os')"}
    assert render("{{a}} {{c}}", variables) == "{{b}} ${7*7} {% if %} __import__('os')"


def test_values_are_escaped_in_html_and_not_in_text_or_sms() -> None:
    variables = {"name": "<script>alert('x')</script> & \"Co\""}
    assert render("<p>Hi {{name}}</p>", variables, escape_html=True) == (
        "<p>Hi &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;Co&quot;</p>"
    )
    assert render("Hi {{name}}", variables) == "Hi <script>alert('x')</script> & \"Co\""


@pytest.mark.parametrize(
    "text", ["Hi {{user.name}}", "Hi {{ 1st }}", "Hi {{name | upper}}", "{{}}", "Hi {{ first name }}", "{{a}}{{a()}}"]
)
def test_anything_in_double_braces_that_is_not_a_plain_name_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a placeholder"):
        check_template(text)


@pytest.mark.parametrize("text", ["Hi {{firstName}}", "no placeholders", "one { brace } and }} and {{", "{{ _x9 }}"])
def test_plain_placeholders_and_lone_braces_pass_the_check(text: str) -> None:
    assert check_template(text) == text
