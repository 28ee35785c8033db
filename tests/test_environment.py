"""The software environments: the conda file works where Snakemake puts it, and every install route gets the
same pins (requirements.txt, requirements-no-deps.txt installed without dependencies)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from conftest import REPO

ENV_FILE = REPO / "envs" / "jointdiff.yaml"
POST_DEPLOY = REPO / "envs" / "jointdiff.post-deploy.sh"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")  # a name and a version, nothing else


def pins(lines: list[str]) -> dict[str, str]:
    """name -> version of `name==version` lines, comments and blanks skipped; anything else fails."""
    found = {}
    for line in (raw.split("#")[0].strip() for raw in lines):
        if line:
            match = PIN.match(line)
            assert match, f"not a plain name==version pin: {line!r}"
            found[match.group(1).lower()] = match.group(2)
    return found


def requirement_file(name: str) -> dict[str, str]:
    return pins((REPO / name).read_text().splitlines())


def script_commands(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_the_conda_environment_names_no_path_where_snakemake_copies_it(tmp_path):
    # Snakemake builds the environment from a copy at .snakemake/conda/<hash>.yaml, with the post-deploy script
    # copied beside it: a relative path (-r ../requirements.txt, -e ..) would point into .snakemake/.
    where = tmp_path / ".snakemake" / "conda"
    where.mkdir(parents=True)
    env_file = Path(shutil.copy(ENV_FILE, where / "3f2a9c.yaml"))
    script = Path(shutil.copy(POST_DEPLOY, where / "3f2a9c.post-deploy.sh"))
    env = yaml.safe_load(env_file.read_text())
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", channel) for channel in env["channels"]), env["channels"]
    conda_specs = [d for d in env["dependencies"] if isinstance(d, str)]
    (pip_section,) = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert list(pip_section) == ["pip"] and "pip" in conda_specs
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+(=[0-9.*]+)?", spec) for spec in conda_specs), conda_specs
    pins(pip_section["pip"])  # only plain pins: no -r, -e, URL or path
    for command in script_commands(script):
        assert "/" not in command and ".." not in command, command


def test_every_route_installs_the_same_pins():
    env = yaml.safe_load(ENV_FILE.read_text())
    (pip_section,) = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pins(pip_section["pip"]) == requirement_file("requirements.txt")

    no_deps = requirement_file("requirements-no-deps.txt")
    assert no_deps and not set(no_deps) & set(requirement_file("requirements.txt"))
    installs = [c for c in script_commands(POST_DEPLOY) if " install " in c]
    assert installs and all("--no-deps" in c for c in installs), installs
    assert pins([word for c in installs for word in c.split() if "==" in word]) == no_deps
    # The Makefile's venv: the same file, the same --no-deps.
    makefile = [line for line in (REPO / "Makefile").read_text().splitlines() if "requirements-no-deps.txt" in line
                and "pip install" in line]
    assert makefile and all("--no-deps" in line for line in makefile), makefile
