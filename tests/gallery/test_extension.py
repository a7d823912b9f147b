"""The cloud-init template language: substitution, filters, blocks, definition-time errors."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from gallery.extension import UserDataTemplate, yaml_quote
from gallery.parameters import DefinitionError, ParameterValidationError, compile_definition
from tests.gallery.helpers import definition, param

DEFINITION = compile_definition(
    definition(
        param("user", required=True),
        param("password", "secret"),
        param("count", "integer", default=2),
        param("tls", "boolean"),
        param("cert", multiline=True, visible_if={"param": "tls", "equals": True}),
        param("flavour", "choice", choices=["a", "b"], default="a"),
    )
)


def _compile(text: str) -> UserDataTemplate:
    return UserDataTemplate.compile(text, DEFINITION)


def _problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        _compile(text)
    return info.value.messages()


def test_it_substitutes_safe_types_raw_and_free_text_through_filters():
    template = _compile(
        "n={{ count }} f={{flavour}} u={{ user | yaml }} s={{ user | shell }} j={{ user | json }}"
    )
    values = DEFINITION.validate({"user": "o'neil"})
    assert template.render(values).reveal() == "n=2 f=a u=\"o'neil\" s='o'\"'\"'neil' j=\"o'neil\""


def test_filters_chain_left_to_right():
    template = _compile("cmd: {{ user | shell | yaml }}")
    text = template.render(DEFINITION.validate({"user": 'a: "b" #c'})).reveal()
    assert shlex.split(yaml.safe_load(text)["cmd"]) == ['a: "b" #c']


def test_if_blocks_keep_or_drop_text_and_take_their_lines_with_them():
    template = _compile("a\n{{ if tls }}\ncert: {{ cert | yaml }}\n{{ else }}\nplain: true\n{{ end }}\nz\n")
    assert template.render(DEFINITION.validate({"user": "u"})).reveal() == "a\nplain: true\nz\n"
    with_tls = template.render(DEFINITION.validate({"user": "u", "tls": True, "cert": "X\nY"})).reveal()
    assert with_tls == 'a\ncert: "X\\nY"\nz\n'


def test_if_not_and_inline_blocks():
    template = _compile("tls={{ if not tls }}off{{ else }}on{{ end }}")
    assert template.render({"tls": False}).reveal() == "tls=off"
    assert template.render({"tls": True}).reveal() == "tls=on"


def test_missing_values_render_as_null_or_empty():
    template = _compile("y: {{ cert | yaml }}\nj: {{ cert | json }}\ns: {{ cert | shell }}\n")
    assert template.render({}).reveal() == "y: null\nj: null\ns: ''\n"


def test_a_literal_double_brace_can_be_written():
    assert _compile('x: "{{ "{{" }}.Names}}"').render({}).reveal() == 'x: "{{.Names}}"'


def test_secrets_appear_only_in_the_revealed_payload():
    template = _compile("#cloud-config\npassword: {{ password | yaml }}\n")
    rendered = template.render(DEFINITION.validate({"user": "u", "password": "hunter2"}))
    assert "hunter2" in rendered.reveal()
    assert (
        "hunter2" not in repr(rendered)
        and "hunter2" not in str(rendered)
        and "hunter2" not in rendered.redacted
    )
    assert rendered.redacted == '#cloud-config\npassword: "********"\n'


def test_unknown_placeholders_filters_and_syntax_are_definition_errors():
    problems = _problems(
        "a: {{ ghost }}\nb: {{ user | upper }}\nc: {{ user }}\nd: {{ 1 + 1 }}\ne: {{ if tls }}\n"
    )
    assert problems == [
        "$.user_data: line 1, column 4: unknown parameter 'ghost'",
        "$.user_data: line 2, column 4: unknown filter 'upper'; use yaml, json or shell",
        "$.user_data: line 3, column 4: 'user' is free text (string): write {{ user | yaml }} (or | json, | shell) "
        "so that its value cannot break the document",
        "$.user_data: line 4, column 4: cannot read {{ 1 + 1 }}; expected a parameter name, if, else, end or a quoted literal",
        "$.user_data: line 5, column 4: {{ if }} without a matching {{ end }}",
    ]


def test_stray_braces_and_unbalanced_blocks_are_reported():
    assert _problems("x {{ user | yaml ")[0].endswith('unclosed "{{" (write {{ "{{" }} for a literal one)')
    assert _problems("{{ end }}")[0].endswith("{{ end }} without an open {{ if }}")
    assert _problems("{{ else }}")[0].endswith("{{ else }} without an open {{ if }}")


def test_cloud_config_that_does_not_parse_is_a_definition_error():
    problems = _problems("#cloud-config\nusers: [\n  - {{ user | yaml }}\n")
    assert "is not valid YAML" in problems[0]
    assert _problems("#cloud-config\n- just a list\n")[0].endswith("is not a YAML mapping")


def test_cloud_config_is_checked_with_and_without_optional_blocks():
    problems = _problems("#cloud-config\na: 1\n{{ if tls }}\n  b: [\n{{ end }}\n")
    assert "(with every block)" in problems[0]


def test_scripts_are_not_parsed_as_yaml():
    assert _compile("#!/bin/sh\necho {{ user | shell }} [\n")


def test_a_payload_over_64_kib_is_refused_at_render_time():
    big = compile_definition(definition(param("blob", multiline=True, max_length=65536)))
    template = UserDataTemplate.compile("{{ blob | yaml }}\n{{ blob | yaml }}", big)
    with pytest.raises(ParameterValidationError):
        template.render(big.validate({"blob": "x" * 40000}))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        'q"uote',
        "back\\slash",
        "tab\tnl\nnul\x00",
        "\x85\u2028\u2029\ufeff",
        "é😀",
        "null",
        "yes",
        "- x",
        "@a",
        "1.0",
        "#c",
    ],
)
def test_yaml_quote_round_trips(value):
    assert yaml.safe_load(f"k: {yaml_quote(value)}") == {"k": value}
    assert json.loads(json.dumps(value)) == value
