"""Every shell command in README.md and docs/*.md runs as written: ``pytest -m docs``, a suite of its
own (minutes a page), which CI runs after ``pytest -m local``.

What is run: every fenced ```` ```bash ```` block of README.md and of each docs/*.md page. Inline code
in prose is for names and syntax and is not run, so a command a reader should type belongs in a bash
block. Each page is one test: its blocks run in order, each as one ``bash -eo pipefail`` script, in a
fresh copy of the repository (the files git tracks or would track, committed to a throwaway git
repository), starting at its root, so a page may build on its own earlier blocks (``up`` in the first,
``down`` in the last) but never on another page. The copy's own ``tenant_harness`` package and
``dbt/`` project are used (PYTHONPATH), with this environment's installed dependencies (its bin/ on
PATH); no ``TENANT_HARNESS_*``, ``DBT_*`` or ``PG*`` variable from the outside is passed on, except
``TENANT_HARNESS_TMPDIR`` and ``TENANT_HARNESS_PG_BIN``, which describe the machine.

A block passes when it exits 0 and its output holds no terminal colour codes (a piped command must
print plain text). A page passes when, after its last block, no server is left up and ``git status``
in the copy is clean: whatever the commands wrote is ignored by .gitignore, and generated files
checked in (docker/init/01-tenants.sql) are still current. A ```` ```text ```` block directly after
a bash block (prose in between is fine) shows that block's output: each of its lines that holds no
decimal number (timings vary) must be in the real output, compared word by word with table borders
and spacing ignored.

A block that cannot run as written where the tests run says so in an HTML comment on the line just
before its fence, with the reason:

``<!-- docs-test: install -->``
    A fresh install. ``python3 -m venv`` runs with ``--without-pip`` and ``pip`` is a shell function
    that records its arguments; the rest of the block runs as written. Each recorded ``pip install``
    is checked, not re-run (a reinstall takes minutes and needs the network): the path names a
    project with a pyproject.toml, each extra it names is declared there, and every requirement of
    the project and of those extras is installed here at a version the requirement allows, so the
    install would be a no-op. The venv is activated for real; commands after the install resolve
    to this environment's (later on PATH).
``<!-- docs-test: instead `COMMAND`: reason -->``
    COMMAND runs in place of the block (e.g. ``pytest -m local --collect-only -q`` for
    ``pytest -m local``: a long run has no place here).
``<!-- docs-test: stand-in PROGRAM tests/local/test_x.py: reason -->``
    PROGRAM (e.g. ``docker``, which CI does not have) is a shell function that records its
    arguments; the rest of the block runs as written. The named test file, which checks what can be
    checked without PROGRAM, must exist and be part of ``pytest -m local``.
``<!-- docs-test: serve -->``
    The block starts a server on the port it names and runs until stopped. It runs in the
    background with that port (the last number in the block) replaced by a free one, must answer
    ``GET /`` with 200 within 60 s, and is then stopped.

An unknown marker fails the test, as does a page whose commands leave a server running.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The pages run as a user types them: a CLI process, dbt's start-up and a full dbt parse per command,
# minutes a page. They are their own suite, `pytest -m docs`, which CI runs after `pytest -m local`;
# the parser test at the end stays in the local suite.

REPO = Path(__file__).resolve().parents[2]
PAGES = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
BLOCK_TIMEOUT = 600  # seconds; a hung command fails the test instead of hanging the suite
KEEP_ENV = {"TENANT_HARNESS_TMPDIR", "TENANT_HARNESS_PG_BIN"}
COLOUR = re.compile(r"\x1b\[[0-9;]*m")
MARKER = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->", re.S)
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    """One fenced bash block: its text, the docs-test marker before it, the text block after it."""

    page: str
    line: int
    code: str
    marker: str | None = None
    output: str | None = None  # the ```text block shown as its output

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(page: str, text: str) -> list[Block]:
    """The bash blocks of one Markdown page, in order."""
    fences = list(FENCE.finditer(text))
    found: list[Block] = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "bash":
            continue
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        after = fences[i + 1] if i + 1 < len(fences) else None
        shown = after.group(2) if after is not None and after.group(1) == "text" else None
        found.append(
            Block(page, text.count("\n", 0, fence.start()) + 1, fence.group(2), marker and marker.group(1), shown)
        )
    return found


def pages_with_commands() -> list[str]:
    return [page for page in PAGES if blocks_of(page, (REPO / page).read_text())]


# -- the copy of the repository ------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def repository_copy(dest: Path) -> Path:
    """The files git tracks or would track (untracked ones not ignored), committed to a new repository."""
    listed = _git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=docs-test", "-c", "user.email=docs-test@localhost", "commit", "-qm", "copy")
    return dest


def environment(copy: Path, calls: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENANT_HARNESS_", "DBT_", "PG")) or k in KEEP_ENV}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(copy)
    env["DOCS_TEST_CALLS"] = str(calls)
    env["HOME"] = str(calls / "home")  # nothing from the tester's ~/.dbt or ~/.psqlrc
    (calls / "home").mkdir(parents=True, exist_ok=True)
    return env


# -- markers -------------------------------------------------------------------------------------


def _recorder(program: str) -> str:
    """A shell function standing in for ``program``: it appends its arguments to a file."""
    return f'{program}() {{ echo "$(printf "%q " "$@")" >> "$DOCS_TEST_CALLS/{program}"; }}\n'


def recorded_calls(calls: Path, program: str) -> list[list[str]]:
    path = calls / program
    if not path.exists():
        return []
    return [shlex.split(line) for line in path.read_text().splitlines() if line.strip()]


def script_for(block: Block) -> tuple[str, dict]:
    """The bash script that runs ``block`` and what to check afterwards."""
    prelude = "set -eo pipefail\n"
    marker = block.marker or ""
    checks: dict = {}
    if not marker:
        return prelude + block.code, checks
    if marker == "install":
        prelude += _recorder("pip")
        prelude += (
            'python3() { if [ "$1" = -m ] && [ "$2" = venv ]; then shift 2; '
            'command python3 -m venv --without-pip "$@"; else command python3 "$@"; fi; }\n'
        )
        checks["pip"] = True
        return prelude + block.code, checks
    if match := re.fullmatch(r"instead `([^`]+)`:\s*\S.*", marker, re.S):
        return prelude + match.group(1) + "\n", checks
    if match := re.fullmatch(r"stand-in (\S+) (tests/\S+\.py):\s*\S.*", marker, re.S):
        program, stand_in = match.groups()
        checks["stand_in"] = (program, stand_in)
        return prelude + _recorder(program) + block.code, checks
    if marker == "serve":
        checks["serve"] = True
        return prelude + block.code, checks
    raise AssertionError(f"{block.where}: unknown docs-test marker {marker!r}; the forms are in {__file__}")


def check_pip_install(args: list[str], cwd: Path, where: str) -> None:
    """A recorded ``pip install [-e] PATH[extras]``: the project is there, its extras exist, and all it
    requires is installed here at allowed versions."""
    assert args[:1] == ["install"], f"{where}: pip {shlex.join(args)}: only `pip install` is checked"
    targets = [a for a in args[1:] if not a.startswith("-")]
    assert targets, f"{where}: pip {shlex.join(args)} installs nothing"
    for target in targets:
        match = re.fullmatch(r"([^\[]+)(?:\[([\w,\s-]*)\])?", target)
        assert match, f"{where}: cannot read the pip target {target!r}"
        project = (cwd / match.group(1)).resolve()
        pyproject = project / "pyproject.toml"
        assert pyproject.is_file(), f"{where}: pip install {target}: no pyproject.toml in {project}"
        meta = tomllib.loads(pyproject.read_text())["project"]
        extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
        declared = meta.get("optional-dependencies", {})
        unknown = [e for e in extras if e not in declared]
        assert not unknown, f"{where}: pip install {target}: extra(s) {unknown} not in {sorted(declared)}"
        missing = []
        for line in meta.get("dependencies", []) + [r for e in extras for r in declared[e]]:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate():
                continue
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                missing.append(f"{requirement} (not installed)")
                continue
            if not requirement.specifier.contains(version, prereleases=True):
                missing.append(f"{requirement} (installed {version})")
        assert not missing, f"{where}: pip install {target} would change this environment: {missing}"


def check_stand_in(program: str, stand_in: str, copy: Path, where: str) -> None:
    path = copy / stand_in
    assert path.is_file(), f"{where}: the stand-in for {program}, {stand_in}, does not exist"
    assert "pytest.mark.local" in path.read_text(), f"{where}: {stand_in} is not part of pytest -m local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(block: Block, script: str, copy: Path, env: dict) -> None:
    numbers = list(re.finditer(r"\b\d{2,5}\b", script))
    assert numbers, f"{block.where}: a serve block must name its port"
    port = free_port()
    last = numbers[-1]
    script = script[: last.start()] + str(port) + script[last.end() :]
    proc = subprocess.Popen(["bash", "-c", script], cwd=copy, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"{block.where}: the server exited ({proc.returncode}): {proc.stdout.read()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    assert response.status == 200 and response.read(), f"{block.where}: GET / -> {response.status}"
                    return
            except OSError:
                assert time.monotonic() < deadline, f"{block.where}: nothing answered on port {port} in 60 s"
                time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def words(line: str) -> list[str]:
    """A line of output as words, table borders dropped."""
    return re.sub(r"[\u2500-\u257f|]", " ", line).split()


def check_shown_output(block: Block, output: str) -> None:
    real = {tuple(words(line)) for line in output.splitlines()}
    for line in block.output.splitlines():
        expected = tuple(words(line))
        if not expected or re.search(r"\d\.\d", line):
            continue
        assert expected in real, f"{block.where}: the output shown has {line.strip()!r}, the real output not:\n{output}"


def run_block(block: Block, copy: Path, env: dict) -> str:
    script, checks = script_for(block)
    calls = Path(env["DOCS_TEST_CALLS"])
    if checks.get("serve"):
        serve(block, script, copy, env)
        return ""
    proc = subprocess.Popen(["bash", "-c", script], cwd=copy, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate()
        pytest.fail(f"{block.where}: still running after {BLOCK_TIMEOUT} s:\n{block.code}\n{output[-3000:]}")
    assert proc.returncode == 0, f"{block.where}: exit {proc.returncode}:\n{block.code}\n--- output ---\n{output}"
    assert not COLOUR.search(output), f"{block.where}: colour codes in piped output:\n{output[-2000:]!r}"
    if checks.get("pip"):
        pip_calls = recorded_calls(calls, "pip")
        assert pip_calls, f"{block.where}: an install block without pip install"
        for args in pip_calls:
            check_pip_install(args, copy, block.where)
        (calls / "pip").unlink()
    if "stand_in" in checks:
        check_stand_in(*checks["stand_in"], copy, block.where)
    if block.output is not None:
        check_shown_output(block, output)
    return output


@pytest.mark.docs
@pytest.mark.parametrize("page", pages_with_commands())
def test_every_command_runs_as_written(page, tmp_path):
    copy = repository_copy(tmp_path / "repo")
    env = environment(copy, tmp_path / "calls")
    state = copy / ".tenant-harness" / "state.json"
    try:
        for block in blocks_of(page, (copy / page).read_text()):
            run_block(block, copy, env)
        assert not state.exists(), f"{page}: its commands leave a server up (no `tenant-harness down` at the end)"
        assert _git(copy, "status", "--porcelain", "--untracked-files=all") == "", (
            f"{page}: its commands leave files git does not ignore, or change tracked ones:\n"
            + _git(copy, "status", "--porcelain", "--untracked-files=all")
        )
    finally:
        if state.exists():
            subprocess.run(["tenant-harness", "down", "--force"], cwd=copy, env=env, capture_output=True)


@pytest.mark.local
def test_blocks_and_markers_are_read_as_documented():
    """The parser this test relies on: markers, text blocks and line numbers."""
    page = (
        "intro\n\n<!-- docs-test: instead `true`: why -->\n```bash\nfalse\n```\n\nsome prose\n\n"
        "```text\nshown\n```\n\n```sql\nselect 1\n```\n\n```bash\necho hi\n```\n"
    )
    first, second = blocks_of("x.md", page)
    assert (first.line, first.code, first.marker, first.output) == (4, "false\n", "instead `true`: why", "shown\n")
    assert (second.line, second.marker, second.output) == (18, None, None)
    assert script_for(first)[0].endswith("true\n")
    with pytest.raises(AssertionError, match="unknown docs-test marker"):
        script_for(Block("x.md", 1, "ls\n", "skip"))
