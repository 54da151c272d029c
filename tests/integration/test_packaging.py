"""The collection as users get it, away from the checkout.

The tarball ``ansible-galaxy collection build`` makes (what it leaves out, what it must carry), installed into an
empty collections path and used from a directory outside the repository with no ansible.cfg of ours; ansible-doc on
it; the runtime metadata (requires_ansible, the action group); and its execution environment dependencies, through
``ansible-builder create`` and the introspection step the image build then runs on the installed collection.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT, parse_json_callback
from tests.integration.helpers.awx_doc import doc_block

GALAXY = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
TARBALL_NAME = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
MODULES = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
RUNTIME = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())
CALLBACKS = Path(__file__).parent / "callback_plugins"

# Development-only files and local state: the checkout's symlink back to itself, the venv, labs, the simulator and
# the tests that need it, tooling, caches, build output.
FORBIDDEN = re.compile(
    r"^(ansible_collections|\.venv|\.git[^/]*|\.helpers|\.ci|lab|bench|scripts|molecule|extensions/molecule"
    r"|inventory/lab|tests/(cmssim|sim|integration|output|conftest\.py))(/|$)"
    r"|(^|/)(__pycache__|\.pytest_cache|\.ruff_cache|\.mypy_cache|\.ansible)(/|$)|\.py[co]$|\.tar\.gz$"
)


def documentation(module: str) -> dict[str, Any]:
    """The DOCUMENTATION of plugins/modules/<module>.py, read without importing the module."""
    tree = ast.parse((REPO_ROOT / "plugins" / "modules" / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(f"{module} has no DOCUMENTATION")


def outside_env(home: Path, collections: Path) -> dict[str, str]:
    """A user's shell away from the checkout: only the installed collection, no ansible.cfg, no test variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    env.update(
        HOME=str(home),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        # Nothing from Python's path either (ansible would otherwise look for ansible_collections there).
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_GALAXY_COLLECTIONS_PATH_WARNING="false",
        ANSIBLE_NOCOLOR="1",
    )
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    env = outside_env(out, out)
    proc = run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO_ROOT)], out, env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / TARBALL_NAME


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, tarball: Path) -> tuple[Path, dict[str, str]]:
    """A working directory outside the repository and the environment of a user who installed the tarball."""
    where = tmp_path_factory.mktemp("user")
    (where / "home").mkdir()
    collections = where / "collections"
    env = outside_env(where / "home", collections)
    cmd = [str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "-p", str(collections)]
    proc = run([*cmd, str(tarball)], where, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert REPO_ROOT not in where.parents
    return where, env


# ---- the tarball ------------------------------------------------------------------------------------------------
def test_tarball_leaves_out_the_checkout_symlink_labs_simulator_tooling_and_caches(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [m.name.removeprefix("./").rstrip("/") for m in members]
    assert [n for n in names if FORBIDDEN.search(n)] == []
    assert [m.name for m in members if m.issym() or m.islnk()] == []
    # The pattern itself must be able to catch what it is for.
    assert all(
        FORBIDDEN.search(n)
        for n in ("ansible_collections/cisco_cms/mmp", ".venv/bin/python", "lab/inventory.yml", "tests/cmssim/core.py")
    )
    assert all(FORBIDDEN.search(n) for n in ("tests/sim/test_x.py", "plugins/__pycache__/x.pyc", ".ruff_cache/x"))


def test_tarball_carries_the_plugins_and_what_ansible_builder_and_awx_read(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    wanted = {
        "MANIFEST.json",
        "FILES.json",
        "LICENSE",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "requirements.txt",
        "bindep.txt",
        "extensions/awx/credential_type_cms_mmp.yml",
        "docs/awx.md",
        *(f"plugins/modules/{m}.py" for m in MODULES),
        *(f"plugins/action/{p.name}" for p in (REPO_ROOT / "plugins" / "action").glob("*.py")),
        # The certificate report's page is a Jinja2 template the HTML renderer loads from beside itself.
        "plugins/plugin_utils/cert_report.html.j2",
        *(f"playbooks/{p.name}" for p in (REPO_ROOT / "playbooks").glob("*.yml")),
    }
    assert sorted(wanted - names) == []


# ---- installed, used from outside the checkout ------------------------------------------------------------------
def test_installed_collection_runs_a_playbook_from_outside_the_checkout(
    lab: SimLab, user: tuple[Path, dict[str, str]]
) -> None:
    where, env = user
    collections = Path(env["ANSIBLE_COLLECTIONS_PATH"])
    listed = run([str(BIN / "ansible-galaxy"), "collection", "list", FQCN, "--format", "json"], where, env)
    assert yaml.safe_load(listed.stdout) == {
        str(collections / "ansible_collections"): {FQCN: {"version": GALAXY["version"]}}
    }, listed.stderr
    (where / "read.yml").write_text(
        """
- name: Read the nodes with the installed collection
  hosts: cms
  gather_facts: false
  module_defaults:
    group/cisco_cms.mmp.cms:
      command_timeout: 61
  tasks:
    - name: Read the node's PKI
      cisco_cms.mmp.cms_pki_info:
        usage: false
"""
    )
    assert not (where / "ansible.cfg").exists()
    proc = run(
        [str(BIN / "ansible-playbook"), "-i", str(lab.dir / "inventory.yml"), "read.yml"],
        where,
        env | {"ANSIBLE_STDOUT_CALLBACK": "results_json", "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    results, stats = parse_json_callback(proc.stdout)
    assert sorted(stats) == ["cms1", "cms2", "cms3"]
    for node in ("cms1", "cms2", "cms3"):
        (result,) = results[node]
        assert f"{node}-2025.cer" in result["certificates"]
        # module_defaults for the action group reached the module: meta/runtime.yml works installed.
        assert result["invocation"]["module_args"]["command_timeout"] == 61


def test_installed_collection_writes_the_certificate_report_page_from_outside_the_checkout(
    lab: SimLab, user: tuple[Path, dict[str, str]]
) -> None:
    where, env = user
    out = where / "report"
    proc = run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(lab.dir / "inventory.yml"),
            f"{FQCN}.cert_report",
            "-e",
            f"cert_report_dir={out}",
        ],
        where,
        env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    page = (out / "cert_report.html").read_text()
    # The template came from the installed copy: the whole page, each node of the lab in it.
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</body></html>\n")
    assert all(f'id="node-{node}"' in page for node in ("cms1", "cms2", "cms3"))
    assert sorted(p.name for p in out.iterdir()) == ["cert_report.html", "cert_report.json", "cms_certificates.prom"]


def test_ansible_doc_lists_every_module_with_its_one_line_description(user: tuple[Path, dict[str, str]]) -> None:
    where, env = user
    listing = run([str(BIN / "ansible-doc"), "-l", FQCN], where, env)
    assert listing.returncode == 0, listing.stderr
    listed = dict(re.findall(r"^(\S+)\s+(\S.*)$", listing.stdout, re.M))
    assert sorted(listed) == [f"{FQCN}.{m}" for m in MODULES]
    as_json = run([str(BIN / "ansible-doc"), "-l", FQCN, "--json"], where, env)
    descriptions = yaml.safe_load(as_json.stdout)
    for module in MODULES:
        short = documentation(module)["short_description"]
        assert descriptions[f"{FQCN}.{module}"] == short
        assert short.strip() and "\n" not in short and not short.endswith(".")


def test_ansible_doc_renders_every_module_from_the_installed_copy(user: tuple[Path, dict[str, str]]) -> None:
    where, env = user
    installed = Path(env["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "cisco_cms" / "mmp"
    for module in MODULES:
        proc = run([str(BIN / "ansible-doc"), f"{FQCN}.{module}"], where, env)
        assert proc.returncode == 0, f"{module}: {proc.stderr}"
        first = proc.stdout.splitlines()[0]
        assert first == f"> MODULE {FQCN}.{module} ({installed}/plugins/modules/{module}.py)"
        assert "EXAMPLES:" in proc.stdout and "RETURN VALUES:" in proc.stdout, module
        assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr


# ---- runtime metadata -------------------------------------------------------------------------------------------
def test_requires_ansible_admits_the_ansible_core_that_is_tested() -> None:
    supported = SpecifierSet(RUNTIME["requires_ansible"])
    assert Version(importlib.metadata.version("ansible-core")) in supported
    # The oldest ansible-core the development requirements accept is admitted as well.
    (line,) = [
        line
        for line in (REPO_ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.startswith("ansible-core")
    ]
    oldest = next(Version(s.version) for s in Requirement(line).specifier if s.operator == ">=")
    assert oldest in supported


def test_ansible_test_runs_with_the_oldest_ansible_core_the_collection_claims() -> None:
    # scripts/ansible-test.sh runs sanity and units with the ansible-core of this file as well: its range must
    # start where requires_ansible starts, or the claim is not the one tested.
    (line,) = [
        line
        for line in (REPO_ROOT / "requirements-ansible-core-2.16.txt").read_text().splitlines()
        if line.startswith("ansible-core")
    ]
    tested = Requirement(line).specifier
    claimed = SpecifierSet(RUNTIME["requires_ansible"])
    lowest = next(Version(s.version) for s in claimed if s.operator == ">=")
    assert next(Version(s.version) for s in tested if s.operator == ">=") == lowest
    assert lowest in tested and lowest in claimed


def test_action_group_cms_lists_every_module_that_opens_an_mmp_session() -> None:
    # A module opens an MMP session exactly when its options are the shared connection options.
    session_modules = [
        m for m in MODULES if f"{FQCN}._connection" in documentation(m).get("extends_documentation_fragment", [])
    ]
    assert "cms_pki_info" in session_modules
    assert RUNTIME["action_groups"]["cms"] == session_modules
    if "cms_lab_ca" in MODULES:
        assert "cms_lab_ca" not in session_modules


# ---- execution environment --------------------------------------------------------------------------------------
def requirement_lines(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def test_collection_declares_its_execution_environment_dependencies() -> None:
    meta = yaml.safe_load((REPO_ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    python = {Requirement(line).name: Requirement(line) for line in requirement_lines(REPO_ROOT / "requirements.txt")}
    assert sorted(python) == ["cryptography", "paramiko"]
    for name, requirement in python.items():
        # Lower bounds only: an image resolves them together with its base and the other collections.
        assert [s.operator for s in requirement.specifier] == [">="], requirement
        assert importlib.metadata.version(name) in requirement.specifier
    system = Depends((REPO_ROOT / "bindep.txt").read_text())
    rpm = ["default", "platform:rpm", "platform:redhat", "platform:centos"]
    dpkg = ["default", "platform:dpkg", "platform:debian"]
    assert sorted(rule[0] for rule in system.active_rules(rpm)) == ["openssh-clients", "openssl"]
    assert sorted(rule[0] for rule in system.active_rules(dpkg)) == ["openssh-client", "openssl"]


def test_ansible_builder_create_writes_the_build_context(tmp_path: Path, tarball: Path) -> None:
    # The execution-environment.yml of docs/awx.md, next to the built tarball, as the doc tells users to do.
    definition_text = doc_block("# execution-environment.yml")
    definition = yaml.safe_load(definition_text)
    ee = tmp_path / "ee"
    ee.mkdir()
    (ee / "execution-environment.yml").write_text(definition_text)
    (extra,) = definition["additional_build_files"]
    assert extra["src"] == TARBALL_NAME, "docs/awx.md must name the tarball of galaxy.yml's version"
    shutil.copy(tarball, ee / extra["src"])
    env = outside_env(tmp_path, tmp_path / "none")
    cmd = [str(BIN / "ansible-builder"), "create", "--file", "execution-environment.yml", "--context", "context"]
    proc = run([*cmd, "--output-filename", "Containerfile"], ee, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    context = ee / "context"
    containerfile = (context / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{definition["images"]["base_image"]["name"]}"' in containerfile
    for step in (
        "COPY _build /build",
        "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml",
        "/output/scripts/introspect.py introspect",
        "/output/scripts/install-from-bindep",
    ):
        assert step in containerfile, step
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    (collection,) = requirements["collections"]
    assert collection["type"] == "file"
    assert (context / "_build" / collection["name"]).read_bytes() == tarball.read_bytes()

    # The image build's galaxy stage (in /build) then its builder stage (introspection of the installed
    # collections), run here as they run in the container.
    image_collections = tmp_path / "usr-share-ansible-collections"
    galaxy = [str(BIN / "ansible-galaxy"), "collection", "install", "-r", "requirements.yml"]
    proc = run([*galaxy, "--collections-path", str(image_collections)], context / "_build", env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip_out, bindep_out = tmp_path / "src" / "requirements.txt", tmp_path / "src" / "bindep.txt"
    introspect = [str(BIN / "python"), str(context / "_build" / "scripts" / "introspect.py"), "introspect"]
    proc = run([*introspect, str(image_collections), f"--write-pip={pip_out}", f"--write-bindep={bindep_out}"], ee, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    source = f"  # from collection {FQCN}"
    assert pip_out.read_text().splitlines() == [
        line + source for line in requirement_lines(REPO_ROOT / "requirements.txt")
    ]
    assert bindep_out.read_text().splitlines() == [
        line + source for line in requirement_lines(REPO_ROOT / "bindep.txt")
    ]
    for name in ("paramiko", "cryptography"):
        assert re.search(rf"^{name}>=", pip_out.read_text(), re.M)
    # What install-from-bindep then installs on the RPM-based base image.
    rpm = ["default", "platform:rpm", "platform:redhat"]
    system = Depends(bindep_out.read_text())
    assert sorted(rule[0] for rule in system.active_rules(rpm)) == ["openssh-clients", "openssl"]
