"""End-to-end smoke test of the foundation on the bundled assets."""

from __future__ import annotations

from serkit.cli.main import main
from serkit.data.manifest import read_jsonl


def test_assets_manifest(assets):
    utts = read_jsonl(assets / "manifest.jsonl")
    assert len(utts) == 4
    assert {u.speaker for u in utts} == {"emodb_03", "emodb_08"}
    assert {u.emotion for u in utts} == {"angry", "sad"}


def test_cli_help_every_subcommand(capsys):
    from serkit.cli.main import COMMANDS, build_parser

    parser = build_parser()
    names = [a for a in parser._subparsers._group_actions[0].choices]  # noqa: SLF001
    assert len(names) == len(COMMANDS)
    for n in names:
        try:
            main([n, "--help"])
        except SystemExit as e:
            assert e.code == 0
        assert "usage: serkit" in capsys.readouterr().out
