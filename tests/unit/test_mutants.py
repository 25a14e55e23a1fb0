"""The mutant generator (tenant_harness/mutate/mutants.py): one edit per mutant, always parseable,
deterministic, comments untouched, the operators the issue names, and stable ids."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenant_harness.mutate.mutants import generate, generate_file, jinja_environment, parses
from tenant_harness.runner import DEFAULT_PROJECT_DIR

from .mutate_marks import MUTATE_TOOL_MARKS

pytestmark = MUTATE_TOOL_MARKS

# Pieces of real-looking macro files; the sources below are random sequences of them.
SNIPPETS = [
    "{%- if a >= 1 and not b -%}x{%- endif -%}",
    "{{ return(x | int) }}",
    "{# a >= b and c == 'tenant_*' or d in [1, 2] #}",
    "{#- select * from t where a = 1 union all select 2 -#}",
    "select a, b from t where a = 1 and b is not null",
    "-- where x >= 1 and y = 'a%'\n",
    "/* union all select distinct x where y < 2 */",
    "{% set total.rows = total.rows + n %}",
    "{%- set xs = ['%', '_', y] -%}",
    "{% for i in range(0, n, 2) %}{{ items[i:i + 2] }}{% endfor %}",
    "{{ log('a >= b and c', info=true) }}",
    "{{ exceptions.raise_compiler_error('x: ' ~ (n > 1) ~ ' or not') }}",
    "select * from a union all select * from b",
    "where t.kind in ('r', 'p') and lower(x) like '{{ p }}%'",
    "{{ 'y' if v is none else v | lower }}",
    "{%- if k not in seen and k is not number -%}{%- do seen.append(k) -%}{%- endif -%}",
    "select cast(x as text), y::bigint from s where not z",
    "{% set q %}select 1 from r where r.n > 0 and r.m <= {{ lim }}{% endset %}",
    "{{ parts[-1] ~ ',' ~ (xs | max) }}",
]


@st.composite
def sources(draw) -> str:
    pieces = draw(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=6))
    separators = draw(st.lists(st.sampled_from(["\n", " ", "\n    "]), min_size=len(pieces), max_size=len(pieces)))
    body = "".join(p + s for p, s in zip(pieces, separators, strict=True))
    return "{% macro m(a, b) %}\n" + body + "{% endmacro %}\n"


def _block_structure(source: str) -> list[str]:
    """The sequence of block tag keywords: a mutant may change what is inside tags, never the tags."""
    out, expect_name = [], False
    for _line, kind, value in jinja_environment().lexer.tokeniter(source, None):
        if kind == "block_begin":
            expect_name = True
        elif kind == "name" and expect_name:
            out.append(value)
            expect_name = False
    return out


def _comment_spans(source: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in re.finditer(r"\{#.*?#\}", source, re.S)]
    # SQL comments in the snippets are outside Jinja tags; find them outside the Jinja comments
    spans += [(m.start(), m.end()) for m in re.finditer(r"--[^\n]*\n|/\*.*?\*/", source, re.S)
              if not any(a <= m.start() < b for a, b in spans)]  # fmt: skip
    return spans


@settings(deadline=None)  # the first example loads dbt's Jinja environment
@given(sources())
def test_every_mutant_is_one_edit_that_still_parses(source):
    structure = _block_structure(source)
    for m in generate_file("m.sql", source):
        mutated = m.apply(source)
        assert mutated != source
        assert source[m.start : m.end] == m.original != m.replacement
        # exactly one contiguous difference, the mutant's own span
        prefix = len(os.path.commonprefix([source, mutated]))
        suffix = len(os.path.commonprefix([source[::-1], mutated[::-1]]))
        assert prefix >= m.start and len(source) - suffix <= m.end or prefix + suffix >= len(source)
        assert mutated == source[: m.start] + m.replacement + source[m.end :]
        assert parses(mutated), (m, mutated)
        assert _block_structure(mutated) == structure


@settings(deadline=None)  # the first example loads dbt's Jinja environment
@given(sources())
def test_mutants_are_deterministic_and_ids_unique(source):
    first = generate_file("m.sql", source)
    assert generate_file("m.sql", source) == first
    assert len({m.id for m in first}) == len(first)


@settings(deadline=None)  # the first example loads dbt's Jinja environment
@given(sources())
def test_comments_are_never_mutated(source):
    comments = _comment_spans(source)
    for m in generate_file("m.sql", source):
        for a, b in comments:
            assert m.end <= a or m.start >= b, (m, source[a:b])


@settings(deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="#{}"), max_size=80))
def test_a_file_of_comments_and_messages_has_no_mutants(text):
    # A `--` comment ends at a line feed or a carriage return (PostgreSQL's lexer: newline is [\n\r]).
    line = text.replace("\n", " ").replace("\r", " ")
    source = "{# " + text + " #}\n{{ log(" + repr(text) + ", info=true) }}\n-- " + line + "\n"
    if parses(source):
        assert generate_file("m.sql", source) == []


def _mutated(source: str) -> set[str]:
    return {m.apply(source) for m in generate_file("m.sql", source)}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% if a >= 1 %}x{% endif %}", ["{% if a > 1 %}x{% endif %}", "{% if a >= 2 %}x{% endif %}",
                                         "{% if a >= 0 %}x{% endif %}"]),
        ("{% if a < b or c == d %}x{% endif %}", ["{% if a <= b or c == d %}x{% endif %}",
                                                  "{% if a < b and c == d %}x{% endif %}",
                                                  "{% if a < b or c != d %}x{% endif %}"]),
        ("{{ 1 if x is none else 2 }}", ["{{ 1 if x is not none else 2 }}"]),
        ("{{ 1 if x is not none else 2 }}", ["{{ 1 if x is none else 2 }}"]),
        ("{% if not a and b in c %}x{% endif %}", ["{% if a and b in c %}x{% endif %}",
                                                    "{% if not a and b not in c %}x{% endif %}"]),
        ("{{ f(true) }}", ["{{ f(false) }}"]),
        ("{{ n + 1 }}", ["{{ n - 1 }}"]),
        ("{{ xs[1:n] }}", ["{{ xs[2:n] }}", "{{ xs[0:n] }}"]),
        ("{% for i in range(0, n) %}{% endfor %}", ["{% for i in range(1, n) %}{% endfor %}"]),
        ("{% set xs = ['%', '_', e] %}", ["{% set xs = ['_', e] %}", "{% set xs = ['%', e] %}",
                                          "{% set xs = ['%', '_'] %}", "{% set xs = ['_', '_', e] %}"]),
        ("{% set t.n = t.n + k %}", ["{% set t.n = k %}", "{% set t.n = t.n - k %}"]),
        ("{{ (v | int) ~ (w | max) }}", ["{{ (v) ~ (w | max) }}", "{{ (v | int) ~ (w | min) }}"]),
        ("{{ 'tenant_*' }}", ["{{ 'tenant%*' }}", "{{ 'tenant_?' }}"]),
        ("{{ ' where ' ~ c ~ ' >= ' ~ w }}", ["{{ ' where ' ~ c ~ ' > ' ~ w }}"]),
        ("{{ xs | join('\\nunion all\\n') }}", ["{{ xs | join('\\nunion\\n') }}"]),
        ("select a from t where a = 1 and b is not null",
         ["select a from t where true and b is not null", "select a from t where a = 1 and true",
          "select a from t where a <> 1 and b is not null", "select a from t where a = 1 or b is not null",
          "select a from t where a = 1 and b is null", "select distinct a from t where a = 1 and b is not null"]),
        ("select * from a union all select * from b", ["select * from a union select * from b"]),
        ("select distinct a from t", ["select a from t"]),
        ("select a from t where a like 'x!_%' escape '!'", ["select a from t where a ilike 'x!_%' escape '!'",
                                                           "select a from t where a like 'x!_%' escape '!'".replace(
                                                               "x!_%", "x!%%")]),
        ("select cast(x as text), y::bigint, lower(z) from t", ["select x, y::bigint, lower(z) from t",
                                                               "select cast(x as text), y, lower(z) from t",
                                                               "select cast(x as text), y::bigint, z from t"]),
        ("select a from t where k in ('r', 'p') and not d", ["select a from t where k in ('p') and not d",
                                                             "select a from t where k in ('r') and not d",
                                                             "select a from t where k in ('r', 'p') and d"]),
    ],
)  # fmt: skip
def test_operators(source, expected):
    got = _mutated(source)
    missing = [e for e in expected if e not in got]
    assert missing == [], sorted(got)


@pytest.mark.parametrize(
    "source",
    [
        "{{ log('a >= b and x', info=true) }}",
        "{{ exceptions.raise_compiler_error('n > ' ~ (n + 1) ~ '. Hint: or not') }}",
        "{# if a >= b #}",
        "-- a >= b and c\n",
        '"a >= b"',  # a quoted SQL name
        "{% macro m(a=true, b=1) %}{% endmacro %}",  # a signature
        # a message built in a set block: passed to a message call, or with a hint
        "{% set msg %}n {{ n - 1 }} > 1 or on a where not x{% endset %}{{ exceptions.raise_compiler_error(msg) }}",
        "{%- set problem -%} select a where b = 1 or c. Hint: or not {%- endset -%}{{ problem }}",
    ],
)
def test_not_mutated(source):
    assert generate_file("m.sql", source) == []


def test_a_set_block_of_sql_is_mutated():
    source = "{% set q %}select a from t where a = 1{% endset %}{{ exceptions.raise_compiler_error(q2) }}"
    assert "{% set q %}select a from t where a <> 1{% endset %}{{ exceptions.raise_compiler_error(q2) }}" in (
        _mutated(source)
    )


def test_ids_follow_the_line_not_its_number():
    source = "{% macro m(a) %}\n{{ return(a >= 1) }}\n{% endmacro %}\n"
    moved = "{% macro m(a) %}\n\n\n{{ return(a >= 1) }}\n{% endmacro %}\n"
    assert [m.id for m in generate_file("m.sql", source)] == [m.id for m in generate_file("m.sql", moved)]
    changed = source.replace("a >= 1", "a >= 1 and a < 9")
    assert {m.id for m in generate_file("m.sql", source)}.isdisjoint(m.id for m in generate_file("m.sql", changed))


@pytest.fixture(scope="module")
def project_mutants():
    return generate(DEFAULT_PROJECT_DIR)


def test_project_mutants_parse_and_have_unique_ids(project_mutants):
    assert len(project_mutants) > 100  # the project's macros give hundreds
    assert len({m.id for m in project_mutants}) == len(project_mutants)
    sources = {}
    for m in project_mutants:
        source = sources.setdefault(m.file, (DEFAULT_PROJECT_DIR / m.file).read_text())
        assert m.apply(source) != source
