"""Property tests of the pure macros (batching, name patterns, type widening, quoting), run on the
macros' own Jinja source."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from .jinja_macros import CompilerError, Macros

pytestmark = [pytest.mark.unit, pytest.mark.local]

macros = Macros("union/tenant_batches.sql", "utils/_sql_text.sql", "union/widen_type.sql")
redshift = Macros("utils/_sql_text.sql", "union/widen_type.sql", adapter_type="redshift")
names = st.lists(st.text(min_size=1, max_size=12), max_size=60)


@given(names, st.integers(min_value=1, max_value=70))
def test_batches_cover_every_tenant_once_in_order(tenants, size):
    batches = macros.tenant_batches(tenants, size)
    assert [t for b in batches for t in b] == tenants
    assert all(1 <= len(b) <= size for b in batches)
    assert len(batches) == -(-len(tenants) // size)


def test_a_whole_float_batch_size_batches_like_the_integer():
    # YAML and --vars can give 2.0; it is a whole number, so it must batch as 2 does.
    assert macros.tenant_batches(list("abcde"), 2.0) == [["a", "b"], ["c", "d"], ["e"]]


@pytest.mark.parametrize("bad", [0, -3, "10", 2.5, True, None])
def test_batch_size_must_be_a_whole_number(bad):
    with pytest.raises(CompilerError, match="batch_size must be a whole number >= 1"):
        macros.tenant_batches(["a"], bad)


def _like_matches(pattern: str, name: str, escape: str = "!") -> bool:
    """LIKE semantics (case-insensitive, as ILIKE), implemented independently of the macro."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == escape:
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), name, re.IGNORECASE | re.DOTALL) is not None


globs = st.text(alphabet="ab_%!*?xT", max_size=8)
schema_names = st.text(alphabet="ab_%!xtT-", max_size=10)


@st.composite
def near_misses(draw, glob: str) -> str:
    """A name built from the glob, each character kept, swapped for a look-alike, or expanded as
    the glob would: names that tell a correct LIKE translation from a wrong one."""
    out = []
    for ch in glob:
        choice = draw(st.sampled_from(["keep", "swap", "expand"]))
        if ch == "*":
            out.append(draw(st.text(alphabet="ab_x", max_size=3)) if choice != "keep" else "")
        elif ch == "?":
            out.append(draw(st.sampled_from("ab_x")))
        else:
            out.append({"keep": ch, "swap": "x", "expand": ch}[choice])
    return "".join(out)


@given(globs, st.data())
def test_glob_to_like_agrees_with_the_glob_regex(glob, data):
    name = data.draw(st.one_of(schema_names, near_misses(glob)), label="name")
    like = macros._glob_to_like(glob)
    regex = macros._glob_regex(glob)
    assert _like_matches(like, name) == (re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None)


@pytest.mark.parametrize(
    ("name", "matches"),
    [("tenant_a", True), ("TENANT_B", True), ("tenant_", True), ("tenantx1", False), ("tenant", False),
     ("my_tenant_a", False), ("tenant-a", False)],
)  # fmt: skip
def test_default_pattern_treats_underscore_literally(name, matches):
    assert _like_matches(macros._glob_to_like("tenant_*"), name) is matches


@pytest.mark.parametrize(
    ("glob", "name", "matches"),
    [("tenant_?", "tenant_a", True), ("tenant_?", "tenant_ab", False), ("tenant_?", "tenant_", False),
     ("a*b", "ab", True), ("a*b", "axyb", True), ("a*b", "axy", False), ("a%b", "axb", False), ("a%b", "a%b", True),
     ("a!b", "a!b", True), ("a!b", "ab", False)],
)  # fmt: skip
def test_each_glob_wildcard_in_like_and_regex(glob, name, matches):
    """`?` is exactly one character, `*` any run, `%` `_` `!` literal: in the LIKE translation
    (discovery) and in the regex (filters) alike."""
    assert _like_matches(macros._glob_to_like(glob), name) is matches
    assert (re.fullmatch(macros._glob_regex(glob), name, re.IGNORECASE | re.DOTALL) is not None) is matches


@given(st.text(max_size=20))
def test_quoted_identifiers_and_strings_round_trip(value):
    quoted = macros._quote_ident(value)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert quoted[1:-1].replace('""', '"') == value
    assert '"' not in quoted[1:-1].replace('""', "")
    literal = macros._sql_string(value)
    assert literal[1:-1].replace("''", "'") == value
    assert "'" not in literal[1:-1].replace("''", "")


TYPES = ["smallint", "integer", "bigint", "numeric(10,2)", "numeric", "real", "double precision", "character(3)",
         "character varying(20)", "text", "date", "timestamp without time zone", "timestamp(3) without time zone",
         "timestamp with time zone", "time without time zone", "time(3) without time zone", "boolean",
         "jsonb"]  # fmt: skip


@given(st.sampled_from(TYPES), st.sampled_from(TYPES))
def test_widening_is_symmetric_and_idempotent(a, b):
    wide = macros.widen_type(a, b)
    assert wide == macros.widen_type(b, a)
    assert macros.widen_type(a, a) == a
    if wide is not None:
        assert macros.widen_type(wide, a) == wide


@pytest.mark.parametrize(
    ("a", "b", "wide"),
    [("integer", "bigint", "bigint"), ("bigint", "numeric(12,2)", "numeric"), ("integer", "real", "numeric"),
     ("bigint", "double precision", "numeric"), ("real", "double precision", "double precision"),
     ("timestamp(3) without time zone", "timestamp without time zone", "timestamp without time zone"),
     ("time(3) without time zone", "time without time zone", "time without time zone"),
     ("timestamp(3) with time zone", "timestamp with time zone", "timestamp with time zone"),
     ("time(3) with time zone", "time with time zone", "time with time zone"),
     (" integer", "bigint ", "bigint"),  # a type written by hand (offline_tenants), spaces around it
     ("numeric(10,2)", "numeric(12,4)", "numeric"),
     ("character varying(20)", "character varying(255)", "text"), ("character(3)", "text", "text"),
     ("date", "timestamp without time zone", "timestamp without time zone"),
     ("timestamp without time zone", "timestamp with time zone", None),  # session time zone decides
     ("date", "timestamp with time zone", None),
     ("integer", "text", None), ("boolean", "integer", None), ("date", "integer", None)],
)  # fmt: skip
def test_widening_table(a, b, wide):
    assert macros.widen_type(a, b) == wide


def _redshift_literal_value(literal: str) -> str:
    """What Redshift reads from a string literal: `''` is a quote and a backslash escapes the next
    character (r_QUOTE_LITERAL doubles both), written independently of the macro."""
    assert literal[0] == literal[-1] == "'"
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" or (ch == "'" and body[i + 1 : i + 2] == "'"):
            out.append(body[i + 1])
            i += 2
        else:
            assert ch != "'", f"unescaped quote in {literal!r}"
            out.append(ch)
            i += 1
    return "".join(out)


@given(st.text(alphabet=st.sampled_from("ab'\\ \"%_n"), max_size=20))
def test_redshift_literals_escape_backslashes(value):
    assert _redshift_literal_value(redshift._sql_string(value)) == value
    names = [value, value + "x", "t\\"]
    assert [_redshift_literal_value(f"'{p}'") for p in redshift._sql_string_list(names)[1:-1].split("', '")] == names
    # PostgreSQL (standard_conforming_strings): a backslash is an ordinary character.
    assert macros._sql_string(value)[1:-1].replace("''", "'") == value


@pytest.mark.parametrize(
    ("a", "b", "wide"),
    [("numeric(12,2)", "numeric(14,4)", "numeric(14,4)"), ("numeric(12,2)", "numeric(10,4)", "numeric(14,4)"),
     ("bigint", "numeric(38,0)", "numeric(38,0)"), ("bigint", "numeric(12,2)", "numeric(21,2)"),
     ("integer", "numeric(5,3)", "numeric(13,3)"), ("smallint", "numeric", "numeric(18,0)"),
     ("numeric(38,0)", "numeric(10,2)", None), ("bigint", "numeric(20,20)", None),
     ("integer", "real", "double precision"), ("numeric(12,2)", "double precision", "double precision"),
     ("integer", "bigint", "bigint"), ("smallint", "integer", "integer"), ("decimal(10,2)", "integer", "numeric(12,2)"),
     ("character varying(20)", "character varying(255)", "character varying(65535)"), ("integer", "text", None)],
)  # fmt: skip
def test_redshift_widening_keeps_every_digit(a, b, wide):
    """Redshift's bare numeric is numeric(18,0) and decimals stop at 38 digits (r_Numeric_types201)."""
    assert redshift.widen_type(a, b) == wide
    assert redshift.widen_type(b, a) == wide


REDSHIFT_EXACT = ["smallint", "integer", "bigint", "numeric", "numeric(5,0)", "numeric(12,2)", "numeric(14,4)",
                  "numeric(38,0)", "numeric(20,18)", "numeric(38,37)"]  # fmt: skip


@given(st.sampled_from(REDSHIFT_EXACT), st.sampled_from(REDSHIFT_EXACT))
def test_redshift_widened_decimal_holds_both_inputs(a, b):
    """Every value of either input fits the widened type: as many integer digits and as much scale."""

    def digits(t):
        fixed = {"smallint": (5, 0), "integer": (10, 0), "bigint": (19, 0), "numeric": (18, 0)}
        if t in fixed:
            return fixed[t]
        p, s = map(int, re.findall(r"\d+", t))
        return p - s, s

    wide = redshift.widen_type(a, b)
    (ia, sa), (ib, sb) = digits(a), digits(b)
    if wide is None:
        assert max(ia, ib) + max(sa, sb) > 38
        return
    iw, sw = digits(wide)
    assert iw >= max(ia, ib) and sw >= max(sa, sb) and iw + sw <= 38
    if a != b:  # a type meeting itself stays as it is
        assert "numeric" not in wide or re.fullmatch(r"numeric\(\d+,\d+\)", wide)  # never bare numeric


branches = Macros("union/union_tenant_tables.sql", "utils/_sql_text.sql")
plain_name = st.text(
    st.characters(blacklist_characters="'\"\\\n", blacklist_categories=("Cs",)), min_size=1, max_size=12
)


@given(
    st.lists(plain_name, min_size=1, max_size=30, unique=True),
    st.sampled_from(["*", '"user_id", cast("email" as text) as "email"', 'cast(null as text) as "x\\y"']),
    st.sampled_from([None, "zero_etl"]),
)
def test_plain_tenant_branches_render_as_tenant_by_tenant(names, select_list, database):
    # The fast path (one substitution over the names) and the per-tenant loop give the same SQL.
    tenants = [{"name": n, "columns_json": "[]"} for n in names]
    plan = {"table_name": "users", "database": database, "only": {}, "select_lists": {"[]": select_list}}
    fast = branches._plain_tenant_branches(plan, names, select_list)
    assert fast == branches._tenant_branches_each(plan, tenants) == branches.render_tenant_branches(plan, tenants)
    assert fast[0].startswith("select cast(") and len(fast) == len(names)


def test_names_with_quotes_or_backslashes_take_the_per_tenant_path():
    tenants = [{"name": n, "columns_json": "[]"} for n in ("tenant_a", "tenant_o'brien", 'tenant_x"y', "t\\b")]
    plan = {"table_name": "users", "database": None, "only": {}, "select_lists": {"[]": "*"}}
    out = branches.render_tenant_branches(plan, tenants)
    assert out[1] == "select 'tenant_o''brien' as tenant_id, * from \"tenant_o'brien\".\"users\""
    assert out[2] == 'select \'tenant_x"y\' as tenant_id, * from "tenant_x""y"."users"'


LAYOUTS = {  # columns_json -> select list; two differ only by case, one has a line break in a name
    '[["email", "text"]]': "*",
    '[["Email", "text"]]': '"Email" as "email"',
    '[["a\\nb", "int"]]': 'cast("a\nb" as bigint) as "a\nb"',
}
EMAIL, CASED, BREAK = LAYOUTS
any_name = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)


@given(
    st.lists(st.tuples(any_name, st.sampled_from(sorted(LAYOUTS))), min_size=1, max_size=12, unique_by=lambda t: t[0]),
    st.sampled_from(["users", "us\ners"]),
    st.sampled_from([None, "zero_etl", "zero\netl"]),
    st.integers(0, 2**12 - 1),
)
@example([("tenant_a", EMAIL), ("tenant_b", CASED)], "users", None, 0)  # layouts that differ only by case
@example([("tenant_a", EMAIL), ("tenant_b", EMAIL)], "users", None, 0b10)  # one tenant with children
@example([("tenant_a", EMAIL), ("tenant_o'b", EMAIL)], "users", None, 0)  # a quote in a name
@example([("tenant_a", EMAIL)], "users", "zero\netl", 0)  # a line break in the database's name
def test_render_tenant_branches_is_the_tenant_by_tenant_rendering(tenant_layouts, table, database, only_mask):
    # Whichever way render_tenant_branches takes (the fast path or the loop), each tenant's branch is the
    # one the loop renders: its own select list, `only` where it has children, every name quoted.
    only = {n: True for i, (n, _) in enumerate(tenant_layouts) if only_mask >> i & 1}
    tenants = [{"name": n, "columns_json": layout} for n, layout in tenant_layouts]
    plan = {"table_name": table, "database": database, "only": only, "select_lists": LAYOUTS}
    assert branches.render_tenant_branches(plan, tenants) == branches._tenant_branches_each(plan, tenants)


statement_batches = Macros(
    "union/tenant_batches.sql", "union/union_tenant_tables.sql", "utils/_sql_text.sql", adapter_type="redshift"
)
SELECT_LISTS = {  # columns_json -> select list, one of them wide
    "[]": "*",
    "[1]": ", ".join(f'cast(null as varchar(65535)) as "column_{i:04d}"' for i in range(40)),
    "[2]": '"user_id", "email"',
}


@given(
    st.lists(
        st.tuples(any_name, st.sampled_from(sorted(SELECT_LISTS))), min_size=1, max_size=30, unique_by=lambda t: t[0]
    ),  # fmt: skip
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=3000, max_value=40000),
    st.sampled_from([None, "zero_etl", 'zero"etl']),
)
@example([("tenant_o'b\\", "[1]")] * 1 + [(f"t{i}", "[1]") for i in range(20)], 30, 3000, "zero_etl")
def test_statement_batches_keep_every_rendered_batch_under_the_limit(tenant_layouts, size, max_bytes, database):
    # The statement size limit (c_redshift-sql, "Amazon Redshift SQL": a single statement is at most
    # 16 MB): every batch's union as render_tenant_union writes it for Redshift (backslashes doubled)
    # is at most max_bytes bytes, batches are only ever split, and every tenant is kept, in order.
    tenants = [{"name": n, "columns_json": layout} for n, layout in tenant_layouts]
    plan = {"table_name": "users", "database": database, "only": {}, "select_lists": SELECT_LISTS, "tenants": tenants}
    batches = statement_batches.tenant_batches(tenants, size)
    try:
        parts = statement_batches.tenant_statement_batches(plan, batches, max_bytes)
    except CompilerError as exc:
        assert "alone makes a statement of up to" in str(exc)
        assert any(len(statement_batches.render_tenant_union(plan, [t]).encode()) > max_bytes / 4 for t in tenants)
        return
    assert [t for p in parts for t in p] == tenants
    assert all(len(statement_batches.render_tenant_union(plan, p).encode()) <= max_bytes for p in parts)
    ends = {id(b[-1]) for b in batches}
    assert {id(b[-1]) for b in batches} <= {id(p[-1]) for p in parts} and len(parts) >= len(ends)
    assert statement_batches.tenant_statement_batches(plan, batches, None) == batches


def test_statement_batches_split_only_what_could_pass_the_limit():
    tenants = [{"name": f"tenant_{i:03d}", "columns_json": "[1]"} for i in range(10)]
    plan = {"table_name": "users", "database": None, "only": {}, "select_lists": SELECT_LISTS, "tenants": tenants}
    one = len(statement_batches.render_tenant_union(plan, tenants[:1]).encode())
    batches = statement_batches.tenant_batches(tenants, 10)
    assert statement_batches.tenant_statement_batches(plan, batches, 100 * one) == batches  # fits: unchanged
    parts = statement_batches.tenant_statement_batches(plan, batches, 4 * one)
    assert 3 <= len(parts) <= 10 and [t for p in parts for t in p] == tenants
    with pytest.raises(CompilerError, match="tenant tenant_000's users alone makes a statement"):
        statement_batches.tenant_statement_batches(plan, batches, one // 2)
