"""The collection as AWX / Ansible Automation Platform runs it.

The custom credential type (extensions/awx/credential_type_cms_mmp.yml) is checked the way AWX validates one, and
its injected variable names against what the action plugins read. Then jobs run through ``ansible_runner.run()``,
the engine AWX uses, with a private data directory laid out as AWX lays it out for a job:

    project/           the project's checkout (here a copy of the files a commit carries, with the committed
                       ansible_collections/cisco_cms/mmp -> ../.. symlink): playbooks run straight from it
    inventory/hosts    the inventory as an executable script printing JSON, without any login
    env/extravars      the job template's extra variables and survey answers
    env/tmp*           what the credential's injectors write: its files (0600) and its extra variables, passed
                       with ``-e @file`` on the command line (strings tagged !unsafe, as AWX dumps them)
    env/envvars        the job's environment: the collections path AWX derives from the project's ansible.cfg

and the job's events and stdout are searched for the secrets.
"""

from __future__ import annotations

import base64
import configparser
import datetime
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ansible_runner
import jsonschema
import paramiko
import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.cisco_cms.mmp.plugins.plugin_utils._action_module import CONNECTION_VARS
from tests.cmssim import x509
from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import BIN, REPO_ROOT
from tests.integration.helpers.awx_doc import AWX_DOC, doc_block

CREDENTIAL_TYPE_FILE = REPO_ROOT / "extensions" / "awx" / "credential_type_cms_mmp.yml"
NODES = ("cms1", "cms2", "cms3")
# What an AWX project checkout of this repository holds that a job can use (tests, lab files and tooling aside).
PROJECT_CONTENT = (
    "ansible.cfg",
    "galaxy.yml",
    "meta",
    "inventory",
    "playbooks",
    "plugins",
    "roles",
    "ansible_collections",
)
# The login comes from the credential, never from the inventory.
LOGIN_VARS = {name for _, names in CONNECTION_VARS.values() for name in names} - {
    *CONNECTION_VARS["host"][1],
    *CONNECTION_VARS["port"][1],
    *CONNECTION_VARS["known_hosts_file"][1],
    *CONNECTION_VARS["host_key"][1],
    *CONNECTION_VARS["host_key_checking"][1],
}


def credential_type() -> dict[str, Any]:
    return yaml.safe_load(CREDENTIAL_TYPE_FILE.read_text())


# ---- what AWX does with a custom credential type --------------------------------------------------------------
# The schemas and rules of awx.main.fields.CredentialTypeInputField / CredentialTypeInjectorField.
_NAME = "^[a-zA-Z_]+[a-zA-Z0-9_]*$"
INPUTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"enum": ["string", "boolean"]},
                    "format": {"enum": ["ssh_private_key", "url"]},
                    "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}, "uniqueItems": True},
                    "id": {"type": "string", "pattern": _NAME},
                    "label": {"type": "string"},
                    "help_text": {"type": "string"},
                    "multiline": {"type": "boolean"},
                    "secret": {"type": "boolean"},
                    "ask_at_runtime": {"type": "boolean"},
                    "default": {},
                },
                "additionalProperties": False,
                "required": ["id", "label"],
            },
        },
    },
}
INJECTORS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file": {
            "type": "object",
            "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}},
            "additionalProperties": False,
        },
        "env": {
            "type": "object",
            "patternProperties": {_NAME: {"type": "string", "pattern": "^[\x00-\x7f]*$"}},
            "additionalProperties": False,
        },
        "extra_vars": {
            "type": "object",
            "patternProperties": {_NAME: {"type": "string"}},
            "additionalProperties": False,
        },
    },
}


class _Namespace:
    pass


def awx_validate(definition: dict[str, Any]) -> None:
    """Raise if AWX would refuse to create this credential type."""
    assert definition["kind"] in ("cloud", "net"), "custom credential types are of kind cloud or net"
    inputs, injectors = definition["inputs"], definition["injectors"]
    jsonschema.validate(inputs, INPUTS_SCHEMA)
    jsonschema.validate(injectors, INJECTORS_SCHEMA)
    ids = [field["id"] for field in inputs["fields"]]
    assert "tower" not in ids and len(ids) == len(set(ids))
    assert set(inputs.get("required", [])) <= set(ids)
    for field in inputs["fields"]:
        if field.get("type", "string") != "string":
            assert not {"choices", "multiline", "format", "secret"} & set(field), field["id"]
    assert not any(name.startswith("ANSIBLE_") for name in injectors.get("env", {}))
    # Every template renders with every input set and no other name (StrictUndefined), as AWX checks on save.
    namespace: dict[str, Any] = dict.fromkeys(ids, "EXAMPLE")
    tower = namespace["tower"] = _Namespace()
    templates = list(injectors.get("file", {}))
    assert not ("template" in templates and len(templates) > 1), "single and multi-file syntax cannot be mixed"
    if "template" in templates:
        tower.filename = "EXAMPLE_FILENAME"  # type: ignore[attr-defined]
    else:
        tower.filename = _Namespace()  # type: ignore[attr-defined]
        for label in templates:
            setattr(tower.filename, label.split(".", 1)[1], "EXAMPLE_FILENAME")  # type: ignore[attr-defined]
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for section in injectors.values():
        for template in section.values():
            env.from_string(template).render(namespace)


class _UnsafeDumper(yaml.SafeDumper):
    """awx.main.utils.safe_yaml: credential extra variables reach Ansible tagged !unsafe (never templated)."""

    def represent_data(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


def awx_inject(definition: dict[str, Any], inputs: dict[str, str], private_data_dir: Path) -> tuple[Path, dict]:
    """CredentialType.inject_credential for a playbook job: the file templates rendered into 0600 files under env/,
    the extra_vars rendered (inputs left empty are undefined) into a file for ``-e @``. Returns that file and the
    injected environment."""
    fields = {field["id"]: field for field in definition["inputs"]["fields"]}
    namespace: dict[str, Any] = {}
    for name, value in inputs.items():
        if value:
            if fields[name].get("format") == "ssh_private_key" and not value.endswith("\n"):
                value += "\n"
            namespace[name] = value
    tower = namespace["tower"] = _Namespace()
    env_dir = private_data_dir / "env"
    sandbox = ImmutableSandboxedEnvironment()
    for label, template in definition["injectors"].get("file", {}).items():
        fd, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(fd, "w") as handle:
            handle.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path  # type: ignore[attr-defined]
        else:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()  # type: ignore[attr-defined]
            setattr(tower.filename, label.split(".", 1)[1], path)  # type: ignore[attr-defined]
    envvars = {k: sandbox.from_string(v).render(**namespace) for k, v in definition["injectors"].get("env", {}).items()}
    extra_vars = {
        k: sandbox.from_string(v).render(**namespace) for k, v in definition["injectors"].get("extra_vars", {}).items()
    }
    fd, path = tempfile.mkstemp(dir=env_dir)
    with os.fdopen(fd, "w") as handle:
        handle.write(yaml.dump(extra_vars, Dumper=_UnsafeDumper, default_flow_style=False))
    os.chmod(path, stat.S_IRUSR)
    return Path(path), envvars


def fingerprint(key: paramiko.PKey) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def awx_inventory(lab: SimLab) -> dict[str, Any]:
    """The lab as an AWX inventory would hold it: hosts with their address and CMS facts, each SSH host key pinned
    (a job's execution environment has no known_hosts file to keep), and no login."""
    known = paramiko.HostKeys(str(lab.dir / "known_hosts"))
    group = lab.inventory["all"]["children"]["cms"]
    hostvars = {}
    for name, host in group["hosts"].items():
        keys = known.lookup(f"[{host['ansible_host']}]:{host['ansible_port']}")
        assert keys, f"no host key of {name} in the lab's known_hosts"
        hostvars[name] = {k: v for k, v in host.items() if k not in LOGIN_VARS} | {
            "cms_host_key": fingerprint(next(iter(keys.values())))
        }
    group_vars = {k: v for k, v in group.get("vars", {}).items() if k not in LOGIN_VARS | {"cms_known_hosts"}}
    return {
        "all": {"children": ["cms", "ungrouped"]},
        "cms": {"hosts": sorted(hostvars), "vars": group_vars},
        "_meta": {"hostvars": hostvars},
    }


def copy_project(dest: Path) -> None:
    dest.mkdir()
    for name in PROJECT_CONTENT:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
        else:
            shutil.copy2(src, dest / name)


AWX_PATH_VARS = (
    (
        "ANSIBLE_ROLES_PATH",
        "roles_path",
        "requirements_roles",
        "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles",
    ),
    (
        "ANSIBLE_COLLECTIONS_PATH",
        "collections_path",
        "requirements_collections",
        "~/.ansible/collections:/usr/share/ansible/collections",
    ),
)


def awx_path_env(pdd: Path) -> dict[str, str]:
    """RunJob.build_env: the roles and collections paths of the project's ansible.cfg (read as AWX reads it, key
    ``collections_path``) after the directories the project's requirements files install into, as environment
    variables (which take precedence over any ansible.cfg)."""
    parser = configparser.ConfigParser()
    parser.read(pdd / "project" / "ansible.cfg")
    config = parser["defaults"] if parser.has_section("defaults") else {}
    env = {}
    for env_key, setting, folder, default in AWX_PATH_VARS:
        paths = default.split(":")
        if setting in config and any(path not in paths for path in config[setting].split(":")):
            paths = [config[setting], *paths]
        env[env_key] = ":".join([str(pdd / folder), *paths])
    return env


def private_data_dir(root: Path, lab: SimLab, job_vars: dict[str, Any]) -> Path:
    pdd = root / "awx-job"
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    copy_project(pdd / "project")
    hosts = pdd / "inventory" / "hosts"
    hosts.write_text(f"#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint({json.dumps(awx_inventory(lab))!r})\n")
    hosts.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IWUSR)
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(job_vars))
    home = pdd / "home"
    home.mkdir()
    (pdd / "env" / "envvars").write_text(
        yaml.safe_dump(awx_path_env(pdd) | {"HOME": str(home), "ANSIBLE_NOCOLOR": "1"})
    )
    return pdd


@pytest.fixture
def runner_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ansible-runner starts ansible-playbook with this process's environment: only what AWX would set."""
    for name in list(os.environ):
        if name.startswith(("ANSIBLE_", "PYTHONPATH")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    yield


def awx_job(
    tmp_path: Path,
    lab: SimLab,
    playbook: str,
    credential: dict[str, str],
    job_vars: dict[str, Any],
    project_files: dict[str, str | None] | None = None,
    check: bool = False,
) -> tuple[Any, Path]:
    """Launch a job as AWX does: private data dir, credential injected, ``ansible_runner.run()``. ``project_files``
    changes the project: a file to add (a playbook of the user's own next to the collection's), or None to remove."""
    pdd = private_data_dir(tmp_path, lab, job_vars)
    for name, text in (project_files or {}).items():
        if text is None:
            (pdd / "project" / name).unlink()
        else:
            (pdd / "project" / name).write_text(textwrap.dedent(text))
    credential_vars, envvars = awx_inject(credential_type(), credential, pdd)
    assert not envvars
    run = ansible_runner.run(
        private_data_dir=str(pdd),
        playbook=playbook,
        cmdline=f"-e @{credential_vars}" + (" --check" if check else ""),  # job type Check
        ident="42",
        quiet=True,
        timeout=600,
    )
    return run, pdd


def task_results(run: Any, task: str) -> dict[str, dict[str, Any]]:
    """Host -> ``res`` of the ``runner_on_ok``/``runner_on_failed`` event of ``task``."""
    return {
        e["event_data"]["host"]: e["event_data"]["res"]
        for e in run.events
        if e["event"] in ("runner_on_ok", "runner_on_failed") and e["event_data"].get("task") == task
    }


def leaks(pdd: Path, secrets: dict[str, str]) -> list[str]:
    """Every artifact of the job (events, stdout, command, status) that holds one of ``secrets``."""
    found = []
    for path in sorted((pdd / "artifacts").rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            found += [f"{name} in {path.relative_to(pdd)}" for name, value in secrets.items() if value in text]
    return found


def _pem_body(pem: str) -> str:
    """A distinctive piece of a PEM key (a whole base64 line), to look for in the artifacts."""
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return max(lines, key=len)


def doc_tasks(module: str) -> list[dict[str, Any]]:
    """The options of every task of docs/awx.md's AWX configuration that calls ``module``."""
    (play,) = yaml.safe_load(doc_block("# awx-config.yml"))
    return [task[module] for task in play["tasks"] if module in task]


def doc_job_templates() -> dict[str, dict[str, Any]]:
    return {template["name"]: template for template in doc_tasks("awx.awx.job_template")}


def survey_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {q["variable"]: q["default"] for q in template.get("survey_spec", {}).get("spec", []) if "default" in q}


# ---- the credential type ----------------------------------------------------------------------------------------
def test_credential_type_passes_awx_validation_with_every_secret_marked() -> None:
    definition = credential_type()
    awx_validate(definition)
    fields = {field["id"]: field for field in definition["inputs"]["fields"]}
    assert set(fields) == {"username", "password", "ssh_key_data", "ca_key", "api_user", "api_password"}
    secret = {name for name, field in fields.items() if field.get("secret")}
    assert secret == {"password", "ssh_key_data", "ca_key", "api_password"}
    assert fields["ssh_key_data"]["multiline"] and fields["ca_key"]["multiline"]
    assert fields["ssh_key_data"]["format"] == "ssh_private_key"
    assert definition["inputs"]["required"] == ["username"]


@pytest.mark.parametrize(
    ("section", "name", "template", "error"),
    [
        ("extra_vars", "ansible_user", "{{ user_name }}", UndefinedError),  # no such input
        ("extra_vars", "ansible-user", "{{ username }}", jsonschema.ValidationError),  # not a variable name
        ("file", "template", "{{ ca_key }}", AssertionError),  # single and multi-file syntax mixed
        ("env", "ANSIBLE_CONFIG", "{{ username }}", AssertionError),  # would change Ansible's configuration
    ],
)
def test_awx_validation_refuses_what_awx_refuses(section: str, name: str, template: str, error: type) -> None:
    # The emulation must be able to fail, or the test before it proves nothing.
    definition = credential_type()
    definition["injectors"].setdefault(section, {})[name] = template
    with pytest.raises(error):
        awx_validate(definition)


def test_credential_injects_the_login_variables_the_action_plugins_read() -> None:
    injected = credential_type()["injectors"]["extra_vars"]
    # Each login input lands in the first (preferred) inventory variable of its module option.
    preferred = {option: CONNECTION_VARS[option][1][0] for option in ("username", "password", "private_key_file")}
    assert preferred == {
        "username": "ansible_user",
        "password": "ansible_password",
        "private_key_file": "ansible_ssh_private_key_file",
    }
    assert injected[preferred["username"]] == "{{ username }}"
    assert injected[preferred["password"]] == "{{ password }}"
    assert "tower.filename.ssh_key_data" in injected[preferred["private_key_file"]]
    # The REST API login lands in the variables the action plugins read for the API options.
    api = {option: CONNECTION_VARS[option][1][0] for option in ("api_user", "api_password")}
    assert api == {"api_user": "cms_api_user", "api_password": "cms_api_password"}
    assert injected["cms_api_user"] == "{{ api_user }}"
    assert injected["cms_api_password"] == "{{ api_password }}"
    # Nothing else but the CA key's path, which docs/awx.md documents for playbooks.
    assert set(injected) - set(preferred.values()) - set(api.values()) == {"cms_ca_key_file"}
    assert "cms_ca_key_file" in AWX_DOC.read_text()
    assert set(credential_type()["injectors"]["file"]) == {"template.ssh_key_data", "template.ca_key"}


def test_credential_without_a_key_passes_no_key_file(tmp_path: Path) -> None:
    # AWX writes a file for every file template, even an empty one; the variable must not point at it, or the
    # module would try an empty key instead of the password.
    (tmp_path / "env").mkdir()
    path, _ = awx_inject(credential_type(), {"username": "admin", "password": "s3cret{{x}}"}, tmp_path)
    text = path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o400"
    assert yaml.safe_load(text.replace("!unsafe ", "")) == {
        "ansible_user": "admin",
        "ansible_password": "s3cret{{x}}",
        "ansible_ssh_private_key_file": "",
        "cms_ca_key_file": "",
        # No REST API login given: empty, which the action plugins read as unset (the call guard is off).
        "cms_api_user": "",
        "cms_api_password": "",
    }
    assert "!unsafe 's3cret{{x}}'" in text


SECRET_NAME = re.compile(r"pass|secret|token|private_key|key_data|key_file", re.I)


def read_by(name: str, playbook: str) -> bool:
    """Whether the playbook or one of the roles reads the variable ``name``."""
    texts = [(REPO_ROOT / playbook).read_text(), *(p.read_text() for p in (REPO_ROOT / "roles").rglob("*.yml"))]
    return any(re.search(rf"\b{re.escape(name)}\b", text) for text in texts)


def test_awx_configuration_of_the_doc_loads_the_shipped_type_and_asks_no_secret() -> None:
    (play,) = yaml.safe_load(doc_block("# awx-config.yml"))
    assert str(CREDENTIAL_TYPE_FILE.relative_to(REPO_ROOT)) in play["vars"]["cms_credential_type"]
    (created_type,) = doc_tasks("awx.awx.credential_type")
    assert {k: v.strip("{} ") for k, v in created_type.items()} == {
        key: f"cms_credential_type.{key}" for key in ("name", "description", "kind", "inputs", "injectors")
    }
    (credential,) = doc_tasks("awx.awx.credential")
    assert credential["credential_type"] == credential_type()["name"]
    assert set(credential["inputs"]) <= {field["id"] for field in credential_type()["inputs"]["fields"]}
    assert credential["inputs"]["password"].startswith("{{ vault_")
    # The login comes from the credential; a job's execution environment keeps no known_hosts file.
    for inventory_object in doc_tasks("awx.awx.host") + doc_tasks("awx.awx.group"):
        assert not set(inventory_object["variables"]) & (LOGIN_VARS | {"cms_known_hosts"})
    templates = doc_job_templates()
    assert sorted(templates) == [
        "CMS - certificate report",
        "CMS - database cluster certificates",
        "CMS - generate CSRs",
        "CMS - service certificate rollout",
    ]
    for name, template in templates.items():
        assert (REPO_ROOT / template["playbook"]).is_file(), name
        assert template["credentials"] == [credential["name"]]
        questions = template["survey_spec"]["spec"]
        for question in questions:
            assert question["type"] != "password" and not SECRET_NAME.search(question["variable"]), (name, question)
            assert read_by(question["variable"], template["playbook"]), (name, question["variable"])
            if question["type"] == "multiplechoice":
                assert question["default"] in question["choices"]
        for variable in template.get("extra_vars", {}):
            assert not SECRET_NAME.search(variable) and read_by(variable, template["playbook"]), (name, variable)


# ---- jobs through ansible-runner --------------------------------------------------------------------------------
def test_generate_csrs_job_template_of_the_doc_runs_from_the_project_checkout(
    tmp_path: Path, lab: SimLab, runner_env: None
) -> None:
    template = doc_job_templates()["CMS - generate CSRs"]
    pki_dir = tmp_path / "pki-volume"  # the volume the doc mounts at /srv/cms-pki, kept after the job
    answers = {"cms_csr_suffix": "awx", "cms_csr_lab_ca": "true"}  # what the launcher typed into the survey
    job_vars = template["extra_vars"] | {"cms_pki_dir": str(pki_dir)} | survey_defaults(template) | answers
    credential = {"username": "admin", "password": lab.password}

    run, pdd = awx_job(tmp_path, lab, template["playbook"], credential, job_vars)

    stdout = (pdd / "artifacts" / "42" / "stdout").read_text()
    assert run.status == "successful" and run.rc == 0, stdout[-3000:]
    csrs = task_results(run, "Generate each key and CSR on the node and fetch the CSR")
    assert sorted(csrs) == list(NODES)
    for node in NODES:
        (result,) = csrs[node]["results"]
        assert result["changed"] and result["name"] == f"{node}-awx"
        assert result["subject"]["CN"] == f"{node}.lab.cms.example"
        # The login came from the credential's extra variables; the password is masked in what the job records.
        module_args = result["invocation"]["module_args"]
        assert module_args["username"] == "admin" and module_args["host"] == "127.0.0.1"
        assert module_args["password"] != lab.password and module_args["host_key"].startswith("SHA256:")
        assert (pki_dir / node / f"{node}-awx.csr").read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----")
        assert (pki_dir / node / f"{node}-awx.cer").is_file()
        assert (lab.files_dir(node) / f"{node}-awx.key").is_file()
    assert leaks(pdd, {"the MMP password": lab.password}) == []


def test_generate_csrs_job_signs_with_the_ca_key_of_the_credential_without_copying_it(
    tmp_path: Path, lab: SimLab, runner_env: None
) -> None:
    template = doc_job_templates()["CMS - generate CSRs"]
    pki_dir = tmp_path / "pki-volume"
    seed = lab.dir / "seed-ca"
    chain = tmp_path / "ca-volume" / "issuing-chain.cer"  # public: the issuing CA and its root, on a volume
    chain.parent.mkdir()
    chain.write_bytes((seed / "intermediate.crt").read_bytes() + (seed / "root.crt").read_bytes())
    ca_key = (seed / "intermediate.key").read_text()
    answers = {"cms_csr_suffix": "awx", "cms_csr_lab_ca": "true"}
    job_vars = template["extra_vars"] | {"cms_pki_dir": str(pki_dir), "cms_lab_ca_chain": str(chain)}
    job_vars |= survey_defaults(template) | answers
    credential = {"username": "admin", "password": lab.password, "ca_key": ca_key}

    run, pdd = awx_job(tmp_path, lab, template["playbook"], credential, job_vars)

    stdout = (pdd / "artifacts" / "42" / "stdout").read_text()
    assert run.status == "successful" and run.rc == 0, stdout[-3000:]
    intermediate = x509.load_certs((seed / "intermediate.crt").read_bytes())[0]
    for node in NODES:
        cert = x509.load_certs((pki_dir / node / f"{node}-awx.cer").read_bytes())[0]
        assert x509.issued_by(cert, intermediate), node
    # The lab CA directory got the bundle and the root the rollout reads, and no key: the key lived only in the
    # credential's 0600 file for the job.
    assert sorted(p.name for p in (pki_dir / "lab-ca").iterdir()) == ["ca-bundle.cer", "root-ca.cer"]
    assert not list(pki_dir.rglob("*.key"))
    assert leaks(pdd, {"the MMP password": lab.password, "the CA key": _pem_body(ca_key)}) == []


def test_certificate_report_job_template_of_the_doc_writes_the_report_on_the_volume(
    tmp_path: Path, lab: SimLab, runner_env: None
) -> None:
    template = doc_job_templates()["CMS - certificate report"]
    report_dir = tmp_path / "pki-volume" / "cert_report"  # the doc's /srv/cms-pki/cert_report, kept after the job
    answers = {"cert_report_warning_days": 400}  # what the launcher typed: amber for a year and more
    job_vars = template["extra_vars"] | {"cert_report_dir": str(report_dir)} | survey_defaults(template) | answers
    credential = {"username": "admin", "password": lab.password}

    run, pdd = awx_job(tmp_path, lab, template["playbook"], credential, job_vars)

    stdout = (pdd / "artifacts" / "42" / "stdout").read_text()
    assert run.status == "successful" and run.rc == 0, stdout[-3000:]
    report = json.loads((report_dir / "cert_report.json").read_text())
    assert report["thresholds"] == {"critical_days": 14, "warning_days": 400, "timeline_days": 365}
    nodes = [node for cluster in report["clusters"] for node in cluster["nodes"]]
    assert sorted(node["name"] for node in nodes) == list(NODES)
    assert all(node["status"] == "ok" for node in nodes) and report["summary"]["reachable"] == len(NODES)
    # The survey's threshold is the one applied: everything in use that ends within 400 days is amber or red.
    assert report["timeline"] and report["summary"]["certificates"]["warning"] > 0
    for entry in report["timeline"]:
        assert entry["urgency"] == (
            "ok" if entry["days_left"] > 400 else "critical" if entry["days_left"] <= 14 else "warning"
        ), entry
    assert (report_dir / "cert_report.html").read_text().startswith("<!DOCTYPE html>")
    assert "cms_certificate_expiry_timestamp_seconds{" in (report_dir / "cms_certificates.prom").read_text()
    assert leaks(pdd, {"the MMP password": lab.password}) == []


def test_key_only_credential_reads_every_node_and_hands_the_ca_key_to_the_play(
    tmp_path: Path, lab: SimLab, runner_env: None
) -> None:
    ssh_key = (lab.dir / "id_ed25519").read_text()
    ca_key = (lab.dir / "seed-ca" / "intermediate.key").read_text()
    play = """
        - name: Read every node
          hosts: cms
          gather_facts: false
          tasks:
            - name: Read the node's PKI
              cisco_cms.mmp.cms_pki_info:
                usage: false
            - name: Look at the CA key file of the credential
              ansible.builtin.stat:
                path: "{{ cms_ca_key_file }}"
                get_checksum: false
              delegate_to: localhost
              run_once: true
        """
    run, pdd = awx_job(
        tmp_path,
        lab,
        "playbooks/awx_read.yml",
        {"username": "admin", "ssh_key_data": ssh_key, "ca_key": ca_key},
        {},
        project_files={"playbooks/awx_read.yml": play},
    )
    stdout = (pdd / "artifacts" / "42" / "stdout").read_text()
    assert run.status == "successful" and run.rc == 0, stdout[-3000:]
    infos = task_results(run, "Read the node's PKI")
    assert sorted(infos) == list(NODES)
    for node in NODES:
        assert f"{node}-2025.cer" in infos[node]["certificates"]
        module_args = infos[node]["invocation"]["module_args"]
        assert module_args["password"] is None
        key_file = Path(module_args["private_key_file"])
        assert key_file.parent == pdd / "env" and oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert [a["method"] for a in lab.events(node) if a["event"] == "auth"] == ["publickey"]
    (ca_stat,) = task_results(run, "Look at the CA key file of the credential").values()
    assert ca_stat["stat"]["exists"] and ca_stat["stat"]["mode"] == "0600"
    assert Path(ca_stat["stat"]["path"]).read_text() == ca_key
    secrets = {"the SSH key": _pem_body(ssh_key), "the CA key": _pem_body(ca_key)}
    assert leaks(pdd, secrets) == []


def test_a_wrong_password_fails_the_job_and_stays_out_of_its_events(
    tmp_path: Path, lab: SimLab, runner_env: None
) -> None:
    wrong = "Wr0ng-" + lab.password[::-1]
    run, pdd = awx_job(
        tmp_path,
        lab,
        "playbooks/generate_csrs.yml",
        {"username": "admin", "password": wrong},
        {"cms_pki_dir": str(tmp_path / "pki")},
    )
    assert run.status == "failed"
    next_year = datetime.datetime.now(datetime.UTC).year + 1
    failed = task_results(run, "Generate each key and CSR on the node and fetch the CSR")
    assert sorted(failed) == list(NODES)
    for node in NODES:
        (result,) = failed[node]["results"]
        assert re.search(r"authentication failed for admin@" + node, result["msg"]), result["msg"]
        assert not (lab.files_dir(node) / f"{node}-{next_year}.key").exists()
    assert leaks(pdd, {"the wrong password": wrong, "the lab password": lab.password}) == []


def test_the_project_runs_the_collection_through_its_ansible_collections_symlink(
    tmp_path: Path, lab: SimLab, runner_env: None
) -> None:
    # Without the committed symlink the checkout is no collection: it is that symlink, with ansible.cfg's
    # collections_path, that lets AWX run the playbooks straight from the project.
    run, pdd = awx_job(
        tmp_path,
        lab,
        "playbooks/generate_csrs.yml",
        {"username": "admin", "password": lab.password},
        {"cms_pki_dir": str(tmp_path / "pki")},
        project_files={"ansible_collections/cisco_cms/mmp": None},
    )
    assert run.status == "failed"
    stdout = (pdd / "artifacts" / "42" / "stdout").read_text()
    # The playbook's first use of the collection is its csrs role: without the collection it cannot be found.
    assert "the role 'cisco_cms.mmp.csrs' was not found" in stdout, stdout[-2000:]
    assert not [e for e in lab.events("cms1") if e["event"] == "auth"]


def test_the_plan_job_of_the_doc_workflow_publishes_its_plan_in_the_set_stats_artifact(
    tmp_path: Path, lab: SimLab, runner_env: None
) -> None:
    (play,) = yaml.safe_load(doc_block("# awx-workflow.yml"))
    workflow = play["tasks"][0]["awx.awx.workflow_job_template"]
    nodes = {node["identifier"]: node for node in workflow["workflow_nodes"]}
    assert (nodes["plan"]["job_type"], nodes["apply"]["job_type"]) == ("check", "run")
    assert nodes["approve"]["unified_job_template"]["type"] == "workflow_approval"
    assert nodes["plan"]["unified_job_template"]["name"] == nodes["apply"]["unified_job_template"]["name"]
    template = doc_job_templates()[nodes["plan"]["unified_job_template"]["name"]]
    volume = tmp_path / "volume"
    job_vars = (
        template["extra_vars"]
        | survey_defaults(template)
        | {"db_cluster_rebuild_work_dir": str(volume / "db_cluster_rebuild"), "cms_output_dir": str(volume)}
        | {"db_cluster_rebuild_serial": "202612010000"}
    )
    credential = {"username": "admin", "password": lab.password}

    run, pdd = awx_job(tmp_path, lab, template["playbook"], credential, job_vars, check=True)

    stdout = (pdd / "artifacts" / "42" / "stdout").read_text()
    assert run.status == "successful" and run.rc == 0, stdout[-3000:]
    events = [json.loads(p.read_text()) for p in (pdd / "artifacts" / "42" / "job_events").glob("*.json")]
    (stats,) = [e for e in events if e["event"] == "playbook_on_stats"]
    data = stats["event_data"]["artifact_data"]["cms_db_cluster_rebuild"]
    assert data["nodes_changed"] == list(NODES) and data["outcome"] == ""
    assert data["plan"] == str(volume / "plans" / "db_cluster_rebuild-202612010000.plan.md")
    assert Path(data["plan"]).is_file() and data["outage_seconds"]["cluster"] > 0
    assert [b["node"] for b in data["backups"]] == list(NODES)
    assert data["expiry"]["cms1"]["server_cert"]["old"]
    assert "plan: %s" % data["plan"] in stdout
