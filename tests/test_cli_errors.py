"""Every ``healthcode`` command, run as a user would (``run_cli``), with what goes wrong on a
real machine: a missing directory, an unreadable file, a binary file, a data directory that is
not one.  Each answers with one line ``error: <code>: <message>`` and exit 2 (never a
traceback), checks the files it will write before it does anything that is recorded, and keeps
click's usage block for usage mistakes only.  Every command and option has a help text."""
from __future__ import annotations

import json
import re

import click
import pytest

from residents import GD_YOUNG
from support.cli import run_cli
from support.live import free_port
from gateway.cli import main
from issuers import ID_TYPES

ISSUE = ["--region", "440000", "--id-number", GD_YOUNG.id_number, "--name", GD_YOUNG.name]
UNREADABLE = "/proc/self/mem"             # opens, then every read fails (EIO) — for root too
ONE_LINE = re.compile(r"\Aerror: ([a-z_]+): [^\n]+\n\Z")


def leaf_commands(group=main, prefix=()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


def all_commands(group=main, prefix=()):
    yield " ".join(prefix) or "healthcode", group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


# What each command needs to run at all (its paths filled in by `files`).
MINIMAL = {
    "anchors add": ["{anchor}"], "anchors list": [], "anchors remove": ["x509:nothing"],
    "audit show": [], "audit verify": [],
    "codes list": ["--region", "440000", "--id-number", GD_YOUNG.id_number],
    "codes withdraw": ["--region", "440000", "--id-number", GD_YOUNG.id_number, "--code-id", "nothing"],
    "credentials add": ["--role", "kiosk", "--id", "kiosk-9"], "credentials list": [],
    "credentials revoke": ["kiosk-9"],
    "delegations list": [], "delegations restore": ["--city", "440100"], "delegations withdraw": ["--city", "440100"],
    "issue": ISSUE, "keys list": [], "keys revoke": ["440000", "nokid"], "keys rotate": ["440000"],
    "keys rotate-seal": [], "print": [*ISSUE, "--out", "{tmp}/card.pdf"], "purge": [], "regions": [],
    "revocation-lists import": ["--format", "shc", "--iss", "https://x.example", "{json}"],
    "revocation-lists list": [], "revocation-lists remove": ["--format", "eu_dcc", "--kid", "AAAA"],
    "revoke-foreign": ["URN:UVCI:01:DE:XX"],
    "rules evaluate": [], "rules import": ["--country", "DE", "{json}"], "rules list": [],
    "rules remove": ["--country", "DE"], "rules test": ["{tmp}"], "rules value-sets": ["{json}"],
    "seed-demo": [], "serve": ["--port", "{port}"], "tokens": [], "transcode": ["YKM1:x", "--to", "820000"],
    "trust-list": [], "verify": ["YKM1:x"], "verify-batch": [],
}
# Commands that never open the data directory, and their exit status (`rules test` of a directory
# without rules: 1, nothing passed).
NO_DATA = {"regions": 0, "rules evaluate": 0, "rules test": 1}


def fill(args, tmp_path, **paths):
    values = {"tmp": str(tmp_path), "port": str(free_port()), "anchor": str(tmp_path / "anchor.json"),
              "json": str(tmp_path / "doc.json"), **paths}
    return [a.format(**values) for a in args]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "anchor.json").write_text('{"keys": []}')
    (tmp_path / "doc.json").write_text("[]")
    binary = tmp_path / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    return {"binary": str(binary), "missing": str(tmp_path / "no-such-dir" / "file.json"),
            "unreadable": UNREADABLE, "directory": str(tmp_path)}


def test_the_table_names_every_command():
    assert set(MINIMAL) == {name for name, _ in leaf_commands()}


def test_every_command_and_option_has_help():
    missing = []
    for name, command in all_commands():
        if not (command.help or "").strip():
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{name} {param.opts[0]}")
    assert not missing, f"no help text: {missing}"


def test_id_type_lists_its_choices():
    for command in ("issue", "print"):
        shown = " ".join(run_cli(command, "--help", data_dir="/nonexistent", check=True).stdout.split())
        assert all(id_type in shown for id_type in ID_TYPES), shown


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_a_data_directory_that_is_a_binary_file_is_one_line(name, files, tmp_path):
    result = run_cli(*name.split(), *fill(MINIMAL[name], tmp_path), data_dir=files["binary"], stdin="")
    assert "Traceback" not in result.stderr, result.stderr
    if name in NO_DATA:
        assert result.returncode == NO_DATA[name] and result.stderr == "", result.stderr
    else:
        assert result.returncode == 2 and ONE_LINE.match(result.stderr), result.stderr
        assert ONE_LINE.match(result.stderr).group(1) == "path_unusable"


# Every path a command takes: (command, args with {path}, what it is — a file read ("in"), a file or
# a directory read ("in-or-dir"), a directory read ("dir"), a file written ("out") —, outcome of a binary file:
# a one-line error code, or ("exit", status, text on stdout) where a binary file is a verdict).
PATHS = [
    ("issue", [*ISSUE, "--png", "{path}"], "out", None),
    ("print", [*ISSUE, "--out", "{path}"], "out", None),
    ("trust-list", ["--out", "{path}"], "out", None),
    ("trust-list", ["--national-keys", "{path}"], "out", None),
    ("trust-list", ["--revocations", "{path}"], "out", None),
    ("print", ["--batch", "{path}", "--out", "{tmp}/cards.pdf"], "in", "file_invalid"),
    ("verify", ["--image", "{path}"], "in", ("exit", 1, "image_unreadable")),
    ("verify", ["YKM1:x", "--trust", "{path}"], "in", "file_invalid"),
    ("verify", ["YKM1:x", "--trust-list", "{path}", "--national-keys", "{anchor}"], "in", "file_invalid"),
    ("verify", ["YKM1:x", "--trust-list", "{anchor}", "--national-keys", "{path}"], "in", "file_invalid"),
    ("verify", ["YKM1:x", "--trust-list", "{anchor}", "--national-keys", "{anchor}", "--state", "{path}"],
     "in", "file_invalid"),
    ("verify", ["YKM1:x", "--trust-list", "{anchor}", "--national-keys", "{anchor}", "--revocations", "{path}"],
     "in", "trust_list_invalid"),                 # the list is read first: an anchor file is no trust list
    ("anchors add", ["{path}"], "in", "file_invalid"),
    ("revocation-lists import", ["--format", "eu_dcc", "{path}"], "in", "file_invalid"),
    ("rules import", ["--country", "DE", "{path}"], "in-or-dir", "file_invalid"),
    ("rules value-sets", ["{path}"], "in-or-dir", "file_invalid"),
    ("rules test", ["{path}"], "dir", None),
]


def test_every_path_option_is_in_the_table():
    """A new command or option that takes a path must be added to PATHS."""
    from gateway.cli.common import InputPath, OutputPath
    taking = {(name, param.opts[0] if isinstance(param, click.Option) else "ARG")
              for name, command in leaf_commands() for param in command.params
              if isinstance(param.type, (InputPath, OutputPath, click.Path))}
    listed = {(name, next((a for a in args if a.startswith("--") and args[args.index(a) + 1] == "{path}"), "ARG"))
              for name, args, _, _ in PATHS}
    assert taking == listed


def run(name, args, tmp_path, path, data_dir):
    return run_cli(*name.split(), *fill(args, tmp_path, path=path), data_dir=data_dir, stdin="")


def audit_entries(data_dir) -> int:
    return len(run_cli("audit", "show", "--limit", "1000", data_dir=data_dir, check=True).stdout.splitlines())


@pytest.mark.parametrize("name,args,kind,binary", PATHS, ids=[f"{p[0]} {' '.join(p[1])}" for p in PATHS])
def test_bad_paths_are_one_line_and_nothing_is_recorded(name, args, kind, binary, files, tmp_path):
    data = tmp_path / "data"
    cases = {"missing": "path_not_found", "directory": "path_unusable"}
    if kind.startswith("in"):
        cases.update(unreadable="path_unusable", binary=binary)
    if kind == "in-or-dir":
        del cases["directory"]                       # a directory of rule files is what it reads
    elif kind == "dir":
        cases = {"missing": "path_not_found", "binary": "path_unusable"}     # a file where a directory belongs
    for case, expected in cases.items():
        result = run(name, args, tmp_path, files[case], data)
        assert "Traceback" not in result.stderr, (case, result.stderr)
        if isinstance(expected, tuple):
            _, status, text = expected
            assert result.returncode == status and text in result.stdout, (case, result.stdout, result.stderr)
            continue
        match = ONE_LINE.match(result.stderr)
        assert result.returncode == 2 and match and match.group(1) == expected, (case, result.stderr)
        assert files[case] in result.stderr or case == "binary"
    assert audit_entries(data) == 0, "a refused command recorded something"


def test_issue_into_a_missing_directory_issues_nothing(tmp_path):
    """The code is neither issued nor audited when its image cannot be written."""
    data = tmp_path / "data"
    run_cli("tokens", data_dir=data, check=True)
    before = audit_entries(data)
    result = run_cli("issue", *ISSUE, "--png", str(tmp_path / "gone" / "code.png"), data_dir=data)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"error: path_not_found: --png {tmp_path}/gone/code.png: directory {tmp_path}/gone " \
                            "does not exist\n"
    assert audit_entries(data) == before
    assert json.loads(run_cli("issue", *ISSUE, "--png", str(tmp_path / "code.png"), "--json",
                              data_dir=data, check=True).stdout)["status"]
    assert audit_entries(data) > before and (tmp_path / "code.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,code", [
    (["issue", *ISSUE[:4], "--name", "x", "--facts", "{not json"], "bad_request"),
    (["issue", "--region", "440000", "--id-number", "123", "--name", "x"], "id_number_invalid"),
    (["issue", "--region", "999999", "--id-number", GD_YOUNG.id_number, "--name", "x"], "region_unknown"),
    (["issue", *ISSUE, "--facts", "[" * 100_000], "bad_request"),
    (["verify", "--at", "yesterday", "YKM1:x"], "bad_request"),
    (["keys", "rotate", "999999"], "region_unknown"),
    (["anchors", "remove", "x509:nothing"], "not_found"),
    (["credentials", "revoke", "nobody-here"], "not_found"),
    (["audit", "verify", "--checkpoint", "nonsense"], "bad_request"),
    (["rules", "remove", "--country", "DE"], "not_found"),
    (["transcode", "YKM1:x", "--to", "440000"], "transcode_refused"),
    (["serve", "--port", "99999"], "bad_request"),
    (["serve", "--port", "0"], "bad_request"),
])
def test_data_errors_are_one_line(args, code, tmp_path):
    result = run_cli(*args, data_dir=tmp_path / "data")
    match = ONE_LINE.match(result.stderr)
    assert match and match.group(1) == code, result.stderr
    assert result.returncode == (1 if code == "transcode_refused" else 2)
    assert "Usage:" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["issue", "--bogus"], ["issue", "--region", "440000"],
                                  ["issue", *ISSUE, "--id-type", "martian"], ["keys", "nothing"],
                                  ["verify", "--trust-list", "/etc/hostname", "YKM1:x"]])
def test_usage_mistakes_keep_the_usage_block(args, tmp_path):
    result = run_cli(*args, data_dir=tmp_path / "data")
    assert result.returncode == 2 and result.stderr.startswith("Usage: healthcode") and "Error:" in result.stderr


@pytest.mark.parametrize("case,code", [("binary", "config_invalid"), ("missing", "path_not_found"),
                                       ("directory", "path_unusable")])
def test_a_configuration_file_that_cannot_be_used_is_one_line(case, code, files, tmp_path):
    result = run_cli("tokens", data_dir=tmp_path / "data", env={"HEALTHCODE_CONFIG": files[case]})
    match = ONE_LINE.match(result.stderr)
    assert result.returncode == 2 and match and match.group(1) == code, result.stderr
