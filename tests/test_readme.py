"""Every command in README.md runs as written (issue 17).

The fenced ``bash`` and ``python`` blocks of README.md run in README order, in one sandbox folder
that looks like a user's working directory: the checkout's ``configs/``, ``examples/``, ``src/``,
``tests/``, ``benchmarks/``, ``scripts/``, ``docs/`` and ``pyproject.toml`` are linked in,
``../shared/data`` points at the shared corpora (when present), and a few stand-in recordings
exist (``my.wav``, ``speech.flac``, ``recordings/``, ``more/*/*.flac``, ``my_data/clips/``).
``serkit`` and ``python`` run this checkout's code; ``arecord`` is replaced by a script that
writes a WAV stream, as ``arecord -f S16_LE -r 16000`` does.

Marks (an HTML comment on the line just above the fence; invisible in the rendered README)::

    <!-- readme-test: corpus -->          needs ../shared/data; runs with -m corpus
    <!-- readme-test: slow -->            minutes of work; runs with -m slow
    <!-- readme-test: corpus slow -->     both
    <!-- readme-test: skip REASON -->     never runs (starts a server, torchrun, a corpus we do
                                          not have, a 20-minute training, make recursion ...)
    <!-- readme-test: file PATH -->       (on a yaml/csv/json/text fence) the block's text is
                                          written to PATH in the sandbox before later blocks run

An unmarked block runs in the default suite. Whatever its mark, every ``serkit ...`` command in
every block is parsed by serkit's own argument parser in the default suite, so a renamed or
misspelt flag fails at once; so write commands literally (no ``[--opt]`` or ``RUN_DIR``
placeholders), and split a block when only some of its commands need a corpus.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINKED = ("configs", "examples", "src", "tests", "benchmarks", "scripts", "docs", "pyproject.toml")
RUNNABLE = ("bash", "sh", "console", "shell", "python")
TIMEOUT = 600
MARK = re.compile(r"<!--\s*readme-test:\s*(.*?)\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    lang: str
    line: int
    text: str
    marks: tuple[str, ...]
    reason: str = ""
    file: str | None = None

    @property
    def id(self) -> str:
        first = next((x for x in self.text.splitlines() if x.strip() and not x.startswith("#")), "")
        words = re.sub(r"[^A-Za-z0-9_.-]+", "-", " ".join(first.split()[:3])).strip("-")
        return f"L{self.line}-{self.lang}-{words}"[:60]


def readme_blocks(path: Path = README) -> list[Block]:
    """The fenced blocks of a Markdown file, with their ``readme-test`` marks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mm = MARK.search(prev)
        spec = mm.group(1) if mm else ""
        marks: tuple[str, ...] = ()
        reason, file = "", None
        if spec.startswith("skip"):
            marks, reason = ("skip",), spec[4:].strip() or "marked skip"
        elif spec.startswith("file"):
            file = spec[4:].strip()
        elif spec:
            marks = tuple(spec.split())
            bad = set(marks) - {"corpus", "slow"}
            if bad:
                raise ValueError(f"README.md:{start}: unknown readme-test mark(s) {sorted(bad)}; "
                                 "expected corpus, slow, skip REASON or file PATH")
        out.append(Block(lang, start + 1, "\n".join(body) + "\n", marks, reason, file))
    return out


def serkit_commands(text: str) -> list[list[str]]:
    """The ``serkit ...`` commands of a shell block as argv lists (continuations joined)."""
    cmds = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lex.whitespace_split, lex.commenters = True, "#"
        try:
            words = list(lex)
        except ValueError:
            continue
        cur: list[str] = []
        skip_next = False
        for w in [*words, ";"]:
            if skip_next:  # the target of a redirection
                skip_next = False
            elif w and set(w) <= set("<>"):
                skip_next = True
                if cur and cur[-1].isdigit():  # 2> err.txt
                    cur.pop()
            elif w and set(w) <= set(";&|"):
                if cur and cur[0] == "serkit":
                    cmds.append(cur[1:])
                cur = []
            else:
                cur.append(w)
    return cmds


BLOCKS = readme_blocks()
RUN_BLOCKS = [b for b in BLOCKS if b.lang in RUNNABLE or b.file]


def _param(b: Block):
    marks = []
    if "skip" in b.marks:
        marks.append(pytest.mark.skip(reason=b.reason))
    if "corpus" in b.marks:
        marks.append(pytest.mark.corpus)
    if "slow" in b.marks:
        marks.append(pytest.mark.slow)
    return pytest.param(b, id=b.id, marks=marks)


def _write_wav_stream_script(path: Path, clip: Path) -> None:
    path.write_text(f"#!{sys.executable}\n"
                    "import sys, soundfile as sf, numpy as np, io\n"
                    f"x, sr = sf.read({str(clip)!r}, dtype='int16')\n"
                    "b = io.BytesIO(); sf.write(b, x, sr, format='WAV', subtype='PCM_16')\n"
                    "sys.stdout.buffer.write(b.getvalue())\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A user's working folder (see the module docstring) and the environment to run in."""
    base = tmp_path_factory.mktemp("readme")
    work = base / "work"
    work.mkdir()
    for name in LINKED:
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name)
    data = Path(os.environ.get("SERKIT_DATA") or ROOT.parent / "shared" / "data")
    if data.is_dir():
        (base / "shared").mkdir()
        (base / "shared" / "data").symlink_to(data)
    clips = sorted((ROOT / "examples").glob("*.wav")) + sorted((ROOT / "tests" / "assets").glob("*.wav"))
    shutil.copy(clips[0], work / "my.wav")
    x, sr = sf.read(clips[1], dtype="float32")
    sf.write(work / "speech.flac", x, sr)
    (work / "recordings").mkdir()
    for c in clips[2:4]:
        shutil.copy(c, work / "recordings" / c.name)
    for sub, c in (("day1", clips[4]), ("day2", clips[5])):  # same file name in two folders
        (work / "more" / sub).mkdir(parents=True)
        y, r = sf.read(c, dtype="float32")
        sf.write(work / "more" / sub / "call.flac", y, r)
    (work / "my_data" / "clips").mkdir(parents=True)
    for c in clips:
        shutil.copy(c, work / "my_data" / "clips" / c.name)
    bin_dir = base / "bin"
    bin_dir.mkdir()
    (bin_dir / "serkit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m serkit.cli.main "$@"\n')
    (bin_dir / "serkit").chmod(0o755)
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(sys.executable)
    _write_wav_stream_script(bin_dir / "arecord", clips[0])
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    if not data.is_dir():
        env.pop("SERKIT_DATA", None)
    return work, env


@pytest.mark.parametrize("block", [_param(b) for b in RUN_BLOCKS])
def test_readme_block_runs(block: Block, sandbox):
    work, env = sandbox
    if block.file:
        p = work / block.file
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(block.text, encoding="utf-8")
        return
    if block.lang == "python":
        script = work / f"_readme_L{block.line}.py"
        script.write_text(block.text, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-x", "-c", block.text]
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, (f"README.md:{block.line}: block failed (exit {r.returncode})\n"
                               f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-4000:]}")


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in BLOCKS if b.lang in RUNNABLE[:-1]])
def test_readme_serkit_commands_parse(block: Block):
    """Every ``serkit`` command of every block (also corpus/slow/skip ones) is valid CLI syntax."""
    from serkit.cli.main import build_parser

    for argv in serkit_commands(block.text):
        try:
            build_parser().parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"README.md:{block.line}: `serkit {' '.join(argv)}` does not parse (exit {e.code})")


def test_harness_finds_commands_and_marks():
    """The harness itself: continuations, pipes, marks and files are understood."""
    cmds = serkit_commands("a | serkit predict - --format json  # c\nserkit x \\\n  --y 1 && serkit z &\n"
                           "serkit q 2> err.txt --k v > out.txt\n")
    assert cmds == [["predict", "-", "--format", "json"], ["x", "--y", "1"], ["z"], ["q", "--k", "v"]]
    assert any(b.lang == "bash" and not b.marks for b in BLOCKS), "no README block runs in the default suite"
    assert all(b.lang not in RUNNABLE or b.marks or "make " not in b.text for b in BLOCKS), \
        "make demo/test in the README must be marked skip (the suite would call itself)"
