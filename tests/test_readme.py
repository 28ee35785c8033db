"""Every command the README shows, run the way it is written there.

The README is read when the tests are collected, so a command added to it is tested from then on, and one this
file cannot check fails. Cheap commands run as they are; those that would train or sample a paper model run as
far as they can without one: Snakemake's dry run (-n), `jointdiff train --dry-run`, and the other `jointdiff`
commands up to the trained model or samples they read, which must be the only thing they miss. Commands that
rebuild tables, figures or the report from existing results run on the tiny workflow's results. `jointdiff
prepare` would download a dataset, so its arguments go through its own parser only.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, subprocess_env
from jointdiff.cli import build_parser

README = REPO / "README.md"
# What a command run "in the repository" sees: a workspace with these linked in, so runs leave the checkout alone.
WORKFLOW_FILES = ("Snakefile", "rules", "config", "profiles", "envs", "report", "scripts", "Makefile",
                  "requirements.txt", "requirements-no-deps.txt", "pyproject.toml", "jointdiff")
# Flags of commands that read existing results instead of making them.
FROM_RESULTS = ("--report",)


def readme_commands() -> list[list[str]]:
    """The commands of every ```bash block: continued lines joined, comments dropped, `a && b` split."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.M | re.S):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            tokens = shlex.split(line, comments=True)
            while tokens:
                end = tokens.index("&&") if "&&" in tokens else len(tokens)
                commands.append(tokens[:end])
                tokens = tokens[end + 1:]
    return commands


COMMANDS = readme_commands()


ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")  # `VAR=value command ...`


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """argv run in cwd, with the variables it starts with (`CUDA_VISIBLE_DEVICES=2,5 snakemake ...`) set."""
    assignments = argv[:next(i for i, a in enumerate(argv) if not ASSIGNMENT.match(a))]
    env = {**subprocess_env(), **dict(a.split("=", 1) for a in assignments)}
    return subprocess.run(argv[len(assignments):], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def workspace(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        (directory / name).symlink_to(REPO / name)
    return directory


def check_make(argv: list[str], tmp_path: Path) -> None:
    proc = run(["make", "-n", *argv[1:]], workspace(tmp_path))  # -n: print the recipe, run nothing
    assert proc.returncode == 0, proc.stdout + proc.stderr


def check_snakemake(argv: list[str], tmp_path: Path, results: Path) -> None:
    if "--unlock" in argv:
        proc = run(argv, workspace(tmp_path))
    elif any(flag in argv for flag in FROM_RESULTS):  # on a copy of the tiny workflow's results, with its config
        workdir = tmp_path / "tiny"
        shutil.copytree(results, workdir, symlinks=True)
        made = [workdir / a for a in argv if a.endswith(".html")]
        proc = run([*argv, "--configfile", "config.yaml"], workspace(workdir))
        assert proc.returncode == 0 and all(path.exists() for path in made), (proc.stdout + proc.stderr)[-3000:]
        assert "rule train" not in proc.stdout + proc.stderr
        return
    else:
        if "conda" in argv and not shutil.which("conda"):
            pytest.skip("conda is not installed: Snakemake's conda deployment cannot even dry-run")
        proc = run([*argv, "-n"], workspace(tmp_path))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def check_jointdiff(argv: list[str], tmp_path: Path) -> None:
    if argv[0] == "torchrun":  # the same command on one process: `torchrun ... -m jointdiff <command> ...`
        argv = ["jointdiff", *argv[argv.index("-m") + 2:]]
    command = argv[1]
    if command == "rebuild":  # the workflow tests rebuild real results; here, what it would make of none
        proc = run([*argv, "--dry-run"], workspace(tmp_path))
        assert proc.returncode == 0 and "skipped results/tables/" in proc.stdout + proc.stderr, proc.stderr[-3000:]
        return
    if command == "prepare":
        build_parser(command).parse_args(argv[1:])  # exits (a test failure) on a bad flag
        return
    if command == "train":
        argv = [*argv, "--dry-run"]
    proc = run(argv, workspace(tmp_path))
    if command in ("train", "summary"):
        assert proc.returncode == 0, proc.stderr[-3000:]
        return
    error = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(error) == 1, proc.stderr[-3000:]
    assert any(missing in error[0] for missing in ("does not exist", "no such file", "is not prepared")), error[0]


@pytest.mark.slow
@pytest.mark.workflow
@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:70] for c in COMMANDS])
def test_readme_command(argv, tmp_path, request):
    program = next(a for a in argv if not ASSIGNMENT.match(a))
    if program != argv[0]:
        assert program == "snakemake", f"only snakemake commands set variables in the README: {shlex.join(argv)}"
    if argv[0] == "make":
        check_make(argv, tmp_path)
    elif program == "snakemake":
        results = request.getfixturevalue("tiny_workflow_results") if set(argv) & set(FROM_RESULTS) else None
        check_snakemake(argv, tmp_path, results)
    elif argv[0] in ("jointdiff", "torchrun"):
        check_jointdiff(argv, tmp_path)
    elif argv[0] == "generate-slurm-partition-config":  # the SLURM plugin's: it asks the cluster (sinfo)
        assert shutil.which(argv[0]), f"{argv[0]} is not installed"
        assert run([argv[0], "--help"], tmp_path).returncode == 0
    elif argv[0] == "export":  # a variable the SLURM profile reads
        name = argv[1].split("=")[0]
        assert f"os.environ.get(\"{name}\"" in (REPO / "profiles" / "slurm" / "config.yaml").read_text(), name
    else:
        pytest.fail(f"no check for the README command {shlex.join(argv)!r}: add one to {Path(__file__).name}")


def test_the_readme_shows_commands():
    programs = {c[0] for c in COMMANDS}
    assert {"make", "snakemake", "jointdiff"} <= programs and len(COMMANDS) >= 10
