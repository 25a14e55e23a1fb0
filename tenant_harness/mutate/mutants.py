"""Single-edit mutants of a dbt project's Jinja + SQL files. Pure: reads text, imports no database.

A file is split by Jinja's own lexer (dbt's environment, so ``{% materialization %}`` and friends are
understood) into Jinja code (``{% %}``, ``{{ }}``), comments (``{# #}``, never mutated) and template
data, which is SQL; the SQL is scanned with its quoting state kept across Jinja expressions, so SQL
comments and quoted identifiers are never mutated either. Each mutant replaces one contiguous span of
the file: ``mutant.apply(source)`` is ``source[:start] + replacement + source[end:]``. A mutant whose
file no longer parses as Jinja is dropped. Text inside message calls (``raise_compiler_error``,
``log``, ``warn``), or in a ``{% set msg %}`` block that builds one, is not mutated: a changed
message is not a changed behaviour.

The operators (``Mutant.operator``):

Jinja code
    compare     ``>=``/``>``, ``<=``/``<``, ``==``/``!=``
    boolean     ``and``/``or``; ``not`` dropped; ``in``/``not in``; ``is``/``is not`` (``is none``)
    constant    ``true``/``false``
    arithmetic  binary ``+``/``-``
    bound       an integer in a subscript or slice, a ``range()`` argument or a comparison, +1 and -1
    list        one element of a list literal dropped
    accumulate  ``set x = x + y`` (or ``~``, ``-``, ``*``) becomes ``set x = y``
    filter      a converting filter dropped (``| int``, ``| float``, ``| string``, ``| lower``,
                ``| upper``, ``| trim``, ``| unique``, ``| sort``); ``| max``/``| min``
    pattern     a pattern character (``%``, ``_``, ``*``, ``?``) swapped in a pattern-like string
    sql-string  the SQL operators below inside a Jinja string that holds SQL
SQL (template data, and SQL inside Jinja strings)
    sql-compare ``>=``/``>``, ``<=``/``<``, ``=``/``<>``; an integer compared with, +1 and -1
    sql-boolean ``and``/``or``; ``not`` dropped; ``is null``/``is not null``
    sql-like    ``like``/``ilike``
    sql-union   ``union all``/``union``
    sql-distinct ``distinct`` removed, or added after ``select``
    sql-cast    ``::type`` or ``cast(x as type)`` removed; ``lower()``, ``upper()``, ``trim()`` removed
    sql-condition one condition of a ``where``/``on``/``having`` replaced by ``true`` (dropped)
    sql-list    one element of an ``in (...)`` list dropped
    sql-pattern a pattern character swapped in a LIKE pattern literal
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MESSAGE_CALLS = frozenset({"raise_compiler_error", "log", "warn", "warn_or_error", "print"})
DROPPED_FILTERS = frozenset({"int", "float", "string", "lower", "upper", "trim", "unique", "sort"})
SWAPPED_FILTERS = {"max": "min", "min": "max"}
JINJA_COMPARE = {">=": ">", ">": ">=", "<=": "<", "<": "<=", "==": "!=", "!=": "=="}
SQL_COMPARE = {">=": ">", ">": ">=", "<=": "<", "<": "<=", "=": "<>", "<>": "=", "!=": "="}
PATTERN_SWAP = {"%": "_", "_": "%", "*": "?", "?": "*"}
SQL_FUNCTIONS_DROPPED = frozenset({"lower", "upper", "trim"})
# Words that end a where/on/having clause at its own parenthesis depth.
CLAUSE_END = frozenset(
    ["where", "group", "order", "limit", "having", "union", "intersect", "except", "window", "returning",
     "offset", "fetch", "join", "left", "right", "inner", "full", "cross", "natural", "select", "from", "on"]
)  # fmt: skip
# Block tags whose boundaries are boundaries of the SQL text (its quoting state starts afresh).
SQL_BOUNDARY_TAGS = frozenset(
    ["macro", "endmacro", "set", "endset", "call", "endcall", "materialization", "endmaterialization", "test",
     "endtest", "snapshot", "endsnapshot"]
)  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    """One single-span edit of one file of the project."""

    file: str  # posix path relative to the project dir
    start: int
    end: int
    original: str
    replacement: str
    operator: str
    line: int  # 1-based line of `start`
    column: int  # 1-based column of `start`
    id: str  # stable: the file, the edited line's text and the change, not the line number

    def apply(self, source: str) -> str:
        """``source`` with this mutant's edit; raises ValueError if the text is not the one it was made from."""
        if source[self.start : self.end] != self.original:
            raise ValueError(
                f"mutant {self.id} ({self.file}:{self.line}) expects {self.original!r} at offset {self.start}, "
                f"found {source[self.start : self.end]!r}: the file changed since the mutants were generated"
            )
        return source[: self.start] + self.replacement + source[self.end :]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def change(self) -> str:
        """The edit in one line: ``'>=' -> '>'``."""
        return f"{_short(self.original)} -> {_short(self.replacement)}"

    def diff(self, source: str) -> tuple[list[str], list[str]]:
        """The whole lines the edit touches, before and after."""
        line_start = source.rfind("\n", 0, self.start) + 1
        line_end = source.find("\n", self.end)
        line_end = len(source) if line_end < 0 else line_end
        before = source[line_start:line_end]
        after = before[: self.start - line_start] + self.replacement + before[self.end - line_start :]
        return before.splitlines() or [""], after.splitlines() or [""]


def _short(text: str, width: int = 60) -> str:
    one = " ".join(text.split()) if text.strip() else text
    return repr(one if len(one) <= width else one[: width - 3] + "...")


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    replacement: str
    operator: str


@dataclass
class _Tok:
    kind: str
    start: int
    end: int
    text: str
    literal: int = -1  # SQL string pieces of one literal (split by Jinja) share this number


@dataclass
class _Tag:
    kind: str  # block | variable
    start: int
    end: int
    tokens: list[_Tok] = field(default_factory=list)  # inside the delimiters, whitespace dropped

    @property
    def keyword(self) -> str:
        return self.tokens[0].text if self.tokens and self.tokens[0].kind == "name" else ""


@functools.lru_cache(maxsize=1)
def jinja_environment():
    """dbt's Jinja environment (its tags: materialization, test, docs; do; loop controls)."""
    # dbt_common is dbt's own Jinja layer: the same lexer and parser dbt compiles macros with.
    from dbt_common.clients.jinja import get_environment

    return get_environment()


def parses(source: str) -> bool:
    """Whether ``source`` parses as a dbt Jinja template."""
    import jinja2

    try:
        jinja_environment().parse(source)
    except jinja2.TemplateSyntaxError:
        return False
    return True


def project_files(project_dir: Path) -> list[Path]:
    """The files mutated: ``macros/**/*.sql`` and ``models/**/*.sql``, in path order."""
    files: list[Path] = []
    for sub in ("macros", "models"):
        files.extend(sorted((project_dir / sub).rglob("*.sql")))
    return files


def generate(project_dir: Path, files: Iterable[Path] | None = None) -> list[Mutant]:
    """Every mutant of the project's macro and model files (or of ``files``), in file order."""
    out: list[Mutant] = []
    for path in files if files is not None else project_files(project_dir):
        rel = path.resolve().relative_to(project_dir.resolve()).as_posix()
        out.extend(generate_file(rel, path.read_text()))
    return out


def generate_file(name: str, source: str) -> list[Mutant]:
    """The mutants of one file's text, sorted by position; deterministic for a given text."""
    edits: dict[tuple[int, int, str], _Edit] = {}
    comments = _comment_spans(source)
    messages = _message_block_spans(source)
    for edit in _edits(source):
        # A span that reaches into a {# #} comment (e.g. a dropped condition running past one) would
        # change the comment too: an equivalent-looking mutant that is not one edit of the code.
        if _overlaps(edit, comments) or _overlaps(edit, messages):
            continue
        if source[edit.start : edit.end] != edit.replacement:
            edits.setdefault((edit.start, edit.end, edit.replacement), edit)
    mutants: list[Mutant] = []
    seen: dict[str, int] = {}
    for key in sorted(edits):
        edit = edits[key]
        mutated = source[: edit.start] + edit.replacement + source[edit.end :]
        if not parses(mutated):
            continue
        line = source.count("\n", 0, edit.start) + 1
        line_start = source.rfind("\n", 0, edit.start) + 1
        line_end = source.find("\n", edit.start)
        text = source[line_start : len(source) if line_end < 0 else line_end]
        indent = len(text) - len(text.lstrip())
        basis = "\x00".join(
            [name, text.strip(), str(edit.start - line_start - indent), source[edit.start : edit.end], edit.replacement]
        )
        n = seen.get(basis, 0)
        seen[basis] = n + 1
        digest = hashlib.sha1(f"{basis}\x00{n}".encode()).hexdigest()[:10]
        mutants.append(
            Mutant(
                file=name,
                start=edit.start,
                end=edit.end,
                original=source[edit.start : edit.end],
                replacement=edit.replacement,
                operator=edit.operator,
                line=line,
                column=edit.start - line_start + 1,
                id=digest,
            )
        )
    return mutants


# --- splitting the file ------------------------------------------------------------------------


def _overlaps(edit: _Edit, spans: list[tuple[int, int]]) -> bool:
    """Whether ``edit`` changes any character of one of ``spans`` (start, end)."""
    return any(edit.start < end and edit.end > start for start, end in spans)


def _same_length_newlines(source: str) -> str:
    """Jinja's lexer turns \r\n and \r into \n; same-length stand-ins keep every offset."""
    return source.replace("\r\n", " \n").replace("\r", "\n")


def _comment_spans(source: str) -> list[tuple[int, int]]:
    """(start, end) of every ``{# #}`` comment, delimiters included."""
    spans, start = [], None
    for tok in _jinja_tokens(source):
        if tok.kind == "comment_begin":
            start = tok.start
        elif tok.kind == "comment_end" and start is not None:
            spans.append((start, tok.end))
            start = None
    return spans


def _message_block_spans(source: str) -> list[tuple[int, int]]:
    """(start, end) of every ``{% set msg %}...{% endset %}`` block that builds a message: its
    variable is passed to a message call (``raise_compiler_error(msg ...``) or its text has a
    ``Hint:``. Its words are prose, not SQL, and the expressions in it only fill in the message."""
    spans: list[tuple[int, int]] = []
    tokens = _jinja_tokens(source)
    calls = "|".join(sorted(MESSAGE_CALLS))
    start, name, text = None, "", []
    for i, tok in enumerate(tokens):
        if tok.kind != "block_begin":
            if start is not None and tok.kind == "data":
                text.append(tok.text)
            continue
        words = [t for t in tokens[i + 1 : i + 8] if t.kind != "whitespace"]
        if len(words) > 2 and words[0].text == "set" and words[2].kind == "block_end":
            start, name, text = tok.start, words[1].text, []
        elif words and words[0].text == "endset" and start is not None:
            end = next(t.end for t in tokens[i:] if t.kind == "block_end")
            passed = re.search(rf"\b(?:{calls})\(\s*{re.escape(name)}\b", source)
            if passed or re.search(r"\bHint:", "".join(text)):
                spans.append((start, end))
            start = None
    return spans


def _jinja_tokens(source: str) -> list[_Tok]:
    """Jinja's tokens with their offsets in ``source`` (the lexer drops whitespace that ``-``
    strips, so each token is found from where the previous one ended)."""
    out: list[_Tok] = []
    pos = 0
    source = _same_length_newlines(source)
    for _line, kind, value in jinja_environment().lexer.tokeniter(source, None):
        if not value:
            continue
        start = source.find(value, pos)
        if start < 0 or source[pos:start].strip():
            raise ValueError(f"cannot place Jinja token {value!r} after offset {pos}")
        out.append(_Tok(kind, start, start + len(value), value))
        pos = start + len(value)
    return out


def _edits(source: str) -> Iterator[_Edit]:
    source = _same_length_newlines(source)
    tokens = _jinja_tokens(source)
    sql: list[_Tok] = []  # the SQL text's tokens, with Jinja tags as opaque 'jexpr'/'jblock' tokens
    scanner = _SqlScanner(source)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind in ("block_begin", "variable_begin"):
            end_kind = "block_end" if tok.kind == "block_begin" else "variable_end"
            j = i + 1
            while tokens[j].kind != end_kind:
                j += 1
            tag = _Tag(
                "block" if tok.kind == "block_begin" else "variable",
                tok.start,
                tokens[j].end,
                [t for t in tokens[i + 1 : j] if t.kind != "whitespace"],
            )
            yield from _jinja_edits(source, tag)
            if tag.kind == "block" and tag.keyword in SQL_BOUNDARY_TAGS:
                scanner.reset()
            sql.append(_Tok("jblock" if tag.kind == "block" else "jexpr", tag.start, tag.end, ""))
            i = j + 1
            continue
        if tok.kind == "data":
            sql.extend(scanner.scan(tok.start, tok.end))
        # comments, raw markers and whitespace: nothing to mutate
        i += 1
    yield from _sql_edits(source, sql)


# --- Jinja code ----------------------------------------------------------------------------------


def _is_value(tok: _Tok | None) -> bool:
    return tok is not None and (
        tok.kind in ("name", "integer", "float", "string")
        and tok.text not in ("and", "or", "not", "in", "is")
        or tok.text in (")", "]")
    )


def _jinja_edits(source: str, tag: _Tag) -> Iterator[_Edit]:
    toks = tag.tokens
    if tag.keyword in ("materialization", "endmaterialization", "macro", "endmacro", "raw"):
        # A signature: a macro's defaults are its documented interface, so its body is mutated instead.
        return
    skip: set[int] = set()  # token indexes inside message calls
    context: list[str] = []  # per token: the kind of its innermost bracket (call:<name>, subscript, list, ...)
    stack: list[tuple[str, int]] = []  # (kind, index of the opening token)
    elements: dict[int, list[list[int]]] = {}  # an open list literal -> its elements' token indexes
    message_depth: int | None = None
    for k, tok in enumerate(toks):
        prev = toks[k - 1] if k > 0 else None
        if message_depth is not None:
            skip.add(k)
        if tok.text in (")", "]", "}") and stack:
            kind, opened = stack.pop()
            if message_depth is not None and len(stack) == message_depth:
                message_depth = None
            if kind == "list":
                parts = [e for e in elements.pop(opened) if e]
                if len(parts) >= 2 and opened not in skip:
                    yield from _drop_elements(source, toks, parts, "list")
        enclosing = next((opened for kind, opened in reversed(stack) if kind == "list"), None)
        if enclosing is not None:
            if tok.text == "," and stack[-1] == ("list", enclosing):
                elements[enclosing].append([])
            else:
                elements[enclosing][-1].append(k)
        context.append(stack[-1][0] if stack else "")
        if tok.text == "(":
            name = prev.text if prev is not None and prev.kind == "name" else ""
            if name in MESSAGE_CALLS and message_depth is None:
                message_depth = len(stack)
            stack.append(("call:" + name if name else "group", k))
        elif tok.text == "[":
            stack.append(("subscript" if _is_value(prev) else "list", k))
            if stack[-1][0] == "list":
                elements[k] = [[]]
        elif tok.text == "{":
            stack.append(("dict", k))

    for k, tok in enumerate(toks):
        if k in skip:
            continue
        prev = toks[k - 1] if k > 0 else None
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if tok.kind == "operator":
            if tok.text in JINJA_COMPARE:
                yield _Edit(tok.start, tok.end, JINJA_COMPARE[tok.text], "compare")
            elif tok.text in ("+", "-") and _is_value(prev):
                yield _Edit(tok.start, tok.end, "-" if tok.text == "+" else "+", "arithmetic")
            elif tok.text == "|" and nxt is not None and nxt.kind == "name" and prev is not None:
                if nxt.text in DROPPED_FILTERS:
                    end = nxt.end
                    if k + 2 < len(toks) and toks[k + 2].text == "(":
                        end = _matching(toks, k + 2).end
                    yield _Edit(prev.end, end, "", "filter")
                elif nxt.text in SWAPPED_FILTERS:
                    yield _Edit(nxt.start, nxt.end, SWAPPED_FILTERS[nxt.text], "filter")
        elif tok.kind == "name":
            word = tok.text
            if word in ("and", "or"):
                yield _Edit(tok.start, tok.end, "or" if word == "and" else "and", "boolean")
            elif word == "not":
                if prev is not None and prev.text == "is":
                    continue  # `is not`: handled at `is`
                if nxt is not None:  # `not x` -> `x`; `not in` -> `in`
                    yield _Edit(tok.start, nxt.start, "", "boolean")
            elif word == "in":
                if prev is not None and prev.text == "not":
                    continue
                if tag.keyword == "for" and not any(t.text == "in" for t in toks[1:k]):
                    continue  # the loop's own `in`
                yield _Edit(tok.start, tok.start, "not ", "boolean")
            elif word == "is" and nxt is not None:
                if nxt.text == "not" and k + 2 < len(toks):
                    yield _Edit(nxt.start, toks[k + 2].start, "", "boolean")
                else:
                    yield _Edit(tok.end, tok.end, " not", "boolean")
            elif word in ("true", "false", "True", "False"):
                flipped = {"true": "false", "false": "true", "True": "False", "False": "True"}[word]
                yield _Edit(tok.start, tok.end, flipped, "constant")
        elif tok.kind == "integer":
            compared = (prev is not None and prev.text in JINJA_COMPARE) or (
                nxt is not None and nxt.text in JINJA_COMPARE
            )
            if context[k] in ("subscript", "call:range") or compared:
                value = int(tok.text.replace("_", ""))
                yield _Edit(tok.start, tok.end, str(value + 1), "bound")
                if value > 0:
                    yield _Edit(tok.start, tok.end, str(value - 1), "bound")
        elif tok.kind == "string":
            yield from _string_edits(tok)
    if tag.keyword == "set":
        yield from _accumulator(toks)


def _matching(toks: list[_Tok], k: int) -> _Tok:
    """The token closing the bracket at ``toks[k]`` (the last token if unbalanced)."""
    depth = 0
    for tok in toks[k:]:
        if tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return tok
    return toks[-1]


def _drop_elements(source: str, toks: list[_Tok], elements: list[list[int]], operator: str) -> Iterator[_Edit]:
    for n, element in enumerate(elements):
        first, last = toks[element[0]], toks[element[-1]]
        if n + 1 < len(elements):
            yield _Edit(first.start, toks[elements[n + 1][0]].start, "", operator)
        else:
            yield _Edit(toks[elements[n - 1][-1]].end, last.end, "", operator)


def _accumulator(toks: list[_Tok]) -> Iterator[_Edit]:
    """``set x = x + y`` -> ``set x = y`` (also ``x.attr``, and ``~``, ``-``, ``*``)."""
    try:
        eq = next(k for k, t in enumerate(toks) if t.text == "=")
    except StopIteration:
        return
    target = [t.text for t in toks[1:eq]]
    n = len(target)
    if not target or len(toks) < eq + 1 + n + 2:
        return
    if [t.text for t in toks[eq + 1 : eq + 1 + n]] == target and toks[eq + 1 + n].text in ("+", "~", "-", "*"):
        yield _Edit(toks[eq + 1].start, toks[eq + 2 + n].start, "", "accumulate")


_WORDS = re.compile(r"[A-Za-z]{2,}")


def _prose(text: str) -> bool:
    """A message or hint rather than SQL: changing its words changes no behaviour."""
    stripped = text.strip()
    return "Hint" in text or ": " in text or stripped.endswith(".") or len(_WORDS.findall(text)) >= 5


def _pattern_like(content: str) -> bool:
    """A glob or LIKE pattern (or one of its characters); regular expressions are not: their
    escapes and groups make most swaps equivalent or invalid."""
    if "\\" in content or "(" in content:
        return False
    return content == "_" or any(ch in content for ch in "%*?")


_SQL_IN_STRING = [
    (re.compile(r"(?:(?<=\s)|^)(>=|<=|<>|!=|=|<|>)(?=\s|$)"), lambda m: SQL_COMPARE[m.group(1)], "sql-compare"),
    (re.compile(r"\b(and|or)\b"), lambda m: {"and": "or", "or": "and"}[m.group(1)], "sql-boolean"),
    (re.compile(r"\bis not null\b"), lambda m: "is null", "sql-boolean"),
    (re.compile(r"\bis null\b"), lambda m: "is not null", "sql-boolean"),
    (re.compile(r"\bnot (?=in\b|exists\b)"), lambda m: "", "sql-boolean"),
    (re.compile(r"\b(i?like)\b"), lambda m: "like" if m.group(1) == "ilike" else "ilike", "sql-like"),
    (re.compile(r"\bunion all\b"), lambda m: "union", "sql-union"),
    (re.compile(r"\bunion\b(?! all)"), lambda m: "union all", "sql-union"),
    (re.compile(r"\bselect distinct\b"), lambda m: "select", "sql-distinct"),
    (re.compile(r"\bselect\b(?! distinct)"), lambda m: "select distinct", "sql-distinct"),
]


def _string_edits(tok: _Tok) -> Iterator[_Edit]:
    quote = tok.text[0]
    if quote not in "'\"" or len(tok.text) < 2:
        return
    content = tok.text[1:-1]
    base = tok.start + 1
    if _prose(content):
        return
    if _pattern_like(content):
        for n, ch in enumerate(content):
            if ch in PATTERN_SWAP and not (n > 0 and content[n - 1] == "\\"):
                yield _Edit(base + n, base + n + 1, PATTERN_SWAP[ch], "pattern")
    # Escapes such as \n separate words in the string's value: two spaces keep the offsets.
    words = re.sub(r"\\[nrt]", "  ", content)
    for rx, replace, _kind in _SQL_IN_STRING:
        for m in rx.finditer(words):
            yield _Edit(base + m.start(), base + m.end(), replace(m), "sql-string")


# --- SQL text ------------------------------------------------------------------------------------

_SQL_TOKEN = re.compile(
    r"(?P<ws>\s+)|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<op>::|>=|<=|<>|!=|\|\||[=<>+\-*/%(),.;\[\]])|(?P<other>.)",
    re.DOTALL,
)


class _SqlScanner:
    """Tokens of the SQL between Jinja tags; the quoting state (in a string, a quoted name or a
    comment) carries over a Jinja expression, as it does in the rendered SQL."""

    def __init__(self, source: str):
        self.source = source
        self.state = ""  # '' | "'" | '"' | '--' | '/*'
        self.literals = 0

    def reset(self) -> None:
        self.state = ""

    def scan(self, start: int, end: int) -> list[_Tok]:
        src, out, pos = self.source, [], start
        while pos < end:
            if self.state:
                closer = {"'": "'", '"': '"', "--": "\n", "/*": "*/"}[self.state]
                stop = src.find(closer, pos, end)
                if self.state in ("'", '"'):
                    while stop >= 0 and stop + 1 < end and src[stop + 1] == closer:  # doubled quote
                        stop = src.find(closer, stop + 2, end)
                stop_end = end if stop < 0 else stop + len(closer)
                kind = {"'": "str", '"': "ident", "--": "comment", "/*": "comment"}[self.state]
                out.append(_Tok(kind, pos, stop_end, src[pos:stop_end], self.literals))
                if stop >= 0:
                    self.state = ""
                pos = stop_end
                continue
            two = src[pos : pos + 2]
            if two in ("--", "/*"):
                self.state = two
                out.append(_Tok("comment", pos, pos + 2, two))
                pos += 2
                continue
            if src[pos] in ("'", '"'):
                self.state = src[pos]
                self.literals += 1
                out.append(_Tok("str" if src[pos] == "'" else "ident", pos, pos + 1, src[pos], self.literals))
                pos += 1
                continue
            m = _SQL_TOKEN.match(src, pos, end)
            out.append(_Tok(m.lastgroup, m.start(), m.end(), m.group()))
            pos = m.end()
        return out


def _sql_edits(source: str, tokens: list[_Tok]) -> Iterator[_Edit]:
    """The SQL text's edits, none reaching into a ``--`` or ``/* */`` comment (a dropped condition
    could otherwise run on past one)."""
    comments = [(t.start, t.end) for t in tokens if t.kind == "comment"]
    for edit in _sql_code_edits(source, tokens):
        if not _overlaps(edit, comments):
            yield edit


def _sql_code_edits(source: str, tokens: list[_Tok]) -> Iterator[_Edit]:
    sig = [t for t in tokens if t.kind not in ("ws", "comment")]
    yield from _sql_string_patterns(source, tokens)
    for k, tok in enumerate(sig):
        prev = sig[k - 1] if k > 0 else None
        nxt = sig[k + 1] if k + 1 < len(sig) else None
        low = tok.text.lower()
        if tok.kind == "op":
            if tok.text in SQL_COMPARE:
                yield _Edit(tok.start, tok.end, SQL_COMPARE[tok.text], "sql-compare")
            elif tok.text == "::" and nxt is not None and nxt.kind == "word":
                end = nxt.end
                if k + 2 < len(sig) and sig[k + 2].text == "(":
                    end = _sql_matching(sig, k + 2).end
                yield _Edit(tok.start, end, "", "sql-cast")
        elif tok.kind == "num" and "." not in tok.text:
            if (prev is not None and prev.text in SQL_COMPARE) or (nxt is not None and nxt.text in SQL_COMPARE):
                value = int(tok.text)
                yield _Edit(tok.start, tok.end, str(value + 1), "sql-compare")
                if value > 0:
                    yield _Edit(tok.start, tok.end, str(value - 1), "sql-compare")
        elif tok.kind == "word":
            nlow = nxt.text.lower() if nxt is not None and nxt.kind == "word" else ""
            plow = prev.text.lower() if prev is not None and prev.kind == "word" else ""
            if low in ("and", "or") and not _in_between(sig, k):
                yield _Edit(tok.start, tok.end, _case_like(tok.text, "or" if low == "and" else "and"), "sql-boolean")
            elif low == "is" and nxt is not None:
                if nlow == "not" and k + 2 < len(sig):
                    yield _Edit(nxt.start, sig[k + 2].start, "", "sql-boolean")
                elif nlow == "null":
                    yield _Edit(tok.end, tok.end, _case_like(tok.text, " not"), "sql-boolean")
            elif low == "not" and plow != "is" and nlow != "null" and nxt is not None:
                yield _Edit(tok.start, nxt.start, "", "sql-boolean")
            elif low in ("like", "ilike"):
                yield _Edit(tok.start, tok.end, _case_like(tok.text, "ilike" if low == "like" else "like"), "sql-like")
            elif low == "union":
                if nlow == "all":
                    yield _Edit(tok.end, nxt.end, "", "sql-union")
                else:
                    yield _Edit(tok.end, tok.end, _case_like(tok.text, " all"), "sql-union")
            elif low == "select":
                if nlow == "distinct":
                    yield _Edit(tok.end, nxt.end, "", "sql-distinct")
                else:
                    yield _Edit(tok.end, tok.end, _case_like(tok.text, " distinct"), "sql-distinct")
            elif low == "cast" and nxt is not None and nxt.text == "(":
                yield from _drop_cast(source, sig, k)
            elif low in SQL_FUNCTIONS_DROPPED and nxt is not None and nxt.text == "(":
                yield from _drop_call(source, sig, k)
            elif low == "in" and nxt is not None and nxt.text == "(":
                yield from _sql_list(source, sig, k + 1)
            if low in ("where", "on", "having"):
                yield from _conditions(sig, k + 1)


def _case_like(word: str, new: str) -> str:
    return new.upper() if word.isupper() and len(word) > 1 else new


def _in_between(sig: list[_Tok], k: int) -> bool:
    """Whether the `and` at k closes a `between x and y`."""
    for j in range(k - 1, max(k - 8, -1), -1):
        low = sig[j].text.lower()
        if low == "between":
            return True
        if low in ("and", "or", "where", "on", "having", "(", ")"):
            return False
    return False


def _sql_matching(sig: list[_Tok], k: int) -> _Tok:
    depth = 0
    for tok in sig[k:]:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
            if depth == 0:
                return tok
    return sig[-1]


def _top_level(sig: list[_Tok], open_at: int) -> tuple[int, list[list[int]]] | None:
    """The index of the ``)`` matching ``sig[open_at]`` and the comma-separated parts inside it
    (token indexes), or None when unbalanced or when a Jinja block tag is inside."""
    depth, parts = 0, [[]]
    for j in range(open_at, len(sig)):
        tok = sig[j]
        if tok.kind == "jblock":
            return None
        if tok.text == "(":
            depth += 1
            if depth == 1:
                continue
        elif tok.text == ")":
            depth -= 1
            if depth == 0:
                return j, [p for p in parts if p]
        if depth == 1 and tok.text == ",":
            parts.append([])
        elif depth >= 1:
            parts[-1].append(j)
    return None


def _drop_cast(source: str, sig: list[_Tok], k: int) -> Iterator[_Edit]:
    found = _top_level(sig, k + 1)
    if found is None or len(found[1]) != 1:
        return
    close, (inside,) = found
    as_at = [j for j in inside if sig[j].kind == "word" and sig[j].text.lower() == "as"]
    if not as_at or as_at[-1] == inside[0]:
        return
    value_end = max(j for j in inside if j < as_at[-1])
    yield _Edit(sig[k].start, sig[close].end, source[sig[inside[0]].start : sig[value_end].end], "sql-cast")


def _drop_call(source: str, sig: list[_Tok], k: int) -> Iterator[_Edit]:
    found = _top_level(sig, k + 1)
    if found is None or len(found[1]) != 1:
        return
    close, (inside,) = found
    yield _Edit(sig[k].start, sig[close].end, source[sig[inside[0]].start : sig[inside[-1]].end], "sql-cast")


def _sql_list(source: str, sig: list[_Tok], open_at: int) -> Iterator[_Edit]:
    found = _top_level(sig, open_at)
    if found is None:
        return
    _close, parts = found
    if len(parts) < 2 or any(sig[j].text.lower() == "select" for p in parts for j in p):
        return
    yield from _drop_elements(source, sig, parts, "sql-list")


def _conditions(sig: list[_Tok], k: int) -> Iterator[_Edit]:
    """Each condition of the clause starting at ``sig[k]``, replaced by ``true``."""
    depth, current, conditions = 0, [], []
    between = False
    for j in range(k, len(sig)):
        tok = sig[j]
        low = tok.text.lower() if tok.kind == "word" else tok.text
        if tok.kind == "jblock":
            if depth == 0:
                break
            return  # a Jinja block inside a parenthesis: no safe span
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (tok.text == ";" or (tok.kind == "word" and low in CLAUSE_END)):
            break
        elif depth == 0 and tok.kind == "word" and low in ("and", "or") and not between:
            conditions.append(current)
            current = []
            continue
        if tok.kind == "word" and low == "between":
            between = True
        elif tok.kind == "word" and low == "and" and between:
            between = False
        current.append(j)
    conditions.append(current)
    for cond in conditions:
        if cond and not (len(cond) == 1 and sig[cond[0]].text.lower() == "true"):
            yield _Edit(sig[cond[0]].start, sig[cond[-1]].end, "true", "sql-condition")


def _sql_string_patterns(source: str, tokens: list[_Tok]) -> Iterator[_Edit]:
    """Pattern characters of SQL string literals that look like LIKE patterns."""
    pieces: dict[int, list[_Tok]] = {}
    for tok in tokens:
        if tok.kind == "str":
            pieces.setdefault(tok.literal, []).append(tok)
    for parts in pieces.values():
        text = "".join(p.text for p in parts)
        content = text[1:-1] if text.endswith("'") and len(text) > 1 else text[1:]
        if not _pattern_like(content) or _prose(content):
            continue
        for p in parts:
            for n, ch in enumerate(p.text):
                at = p.start + n
                if ch in PATTERN_SWAP and source[at - 1] != "\\":
                    yield _Edit(at, at + 1, PATTERN_SWAP[ch], "sql-pattern")
