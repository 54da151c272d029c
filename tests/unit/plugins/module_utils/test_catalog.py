# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The service catalog: which service exists where, its status labels, its parts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.cisco_cms.mmp.plugins.module_utils import _catalog as cat
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError


def test_services_exist_on_their_cms_majors() -> None:
    assert cat.SERVICES["webbridge"].majors == (2,)
    assert cat.SERVICES["xmpp"].majors == (2,)
    assert cat.SERVICES["webbridge3"].majors == (3,)
    for name in ("webadmin", "callbridge", "turn"):
        assert cat.SERVICES[name].majors == (2, 3)


@pytest.mark.parametrize(
    "service, major, fragment",
    [("xmpp", 3, "CMS 3.0 removed XMPP"), ("webbridge", 3, "use webbridge3"), ("webbridge3", 2, "use webbridge")],
)
def test_service_missing_on_a_release_is_refused(service: str, major: int, fragment: str) -> None:
    with pytest.raises(MmpValidationError, match=fragment):
        cat.get_service(service, major)


def test_unknown_service_lists_the_known_ones() -> None:
    with pytest.raises(MmpValidationError, match="callbridge, turn, webadmin, webbridge, webbridge3, xmpp"):
        cat.get_service("streamer")


@pytest.mark.parametrize("service", sorted(cat.SERVICES))
def test_every_service_status_names_its_certificate_files(service: str) -> None:
    labels = cat.SERVICES[service].labels
    if service == "webbridge3":
        assert {"https_key", "https_cert", "c2w_key", "c2w_cert", "c2w_trust"} <= set(labels)
    else:
        assert {"key", "cert", "bundle"} <= set(labels)


def test_status_labels_of_transcripts_are_the_cisco_ones() -> None:
    # [H] S6: the labels exactly as printed.
    assert cat.SERVICES["webadmin"].labels["cert"] == ("Certificate file",)
    assert cat.SERVICES["turn"].labels["key"] == ("TLS key",)
    assert cat.SERVICES["turn"].labels["listen"] == ("Listen interface",)
    assert cat.SERVICES["webbridge3"].labels["https_cert"] == ("HTTPS Full chain certificate file",)
    assert "enabled" not in cat.SERVICES["callbridge"].labels
    assert cat.SERVICES["turn"].secret_labels == ("Password", "Shared secret")
    assert cat.SERVICES["xmpp"].status_guessed and cat.SERVICES["webbridge"].status_guessed
    assert not cat.SERVICES["webadmin"].status_guessed


def test_every_service_has_its_parts_and_a_primary() -> None:
    assert cat.SERVICES["webbridge3"].part_names == ("https", "c2w")
    assert cat.SERVICES["webbridge3"].primary.name == "https" and not cat.SERVICES["webbridge3"].accepts_bundle
    for name in ("webadmin", "callbridge", "webbridge", "xmpp", "turn"):
        assert cat.SERVICES[name].part_names == (cat.MAIN_PART,) and cat.SERVICES[name].accepts_bundle


def test_each_part_names_its_files_as_the_status_shows_them() -> None:
    status = {"https_key": "a.key", "https_cert": "a.cer", "c2w_key": "c.key", "c2w_cert": "c.cer", "key": "a.key"}
    https, c2w = cat.SERVICES["webbridge3"].parts
    assert https.files(status) == {"key": "a.key", "cert": "a.cer", "bundle": None}
    assert c2w.files(status) == {"key": "c.key", "cert": "c.cer", "bundle": None}
    assert cat.SERVICES["webbridge3"].file_fields == ("https_key", "https_cert", "c2w_key", "c2w_cert", "c2w_trust")
    # Every trusted-certificate line of the Call Bridge status names a file in use (S6: C2W, cluster, branding,
    # UCM, IM&P).
    assert cat.SERVICES["callbridge"].file_fields == (
        "key",
        "cert",
        "bundle",
        "c2w_trust",
        "cluster_trust",
        "branding_trust",
        "ucm_trust",
        "imps_trust",
    )


@pytest.mark.parametrize(
    "service, status, port",
    [
        ("webadmin", {"listen_port": "445"}, 445),
        ("turn", {"tls_port": "447"}, 447),
        ("webbridge", {"listeners": [{"interface": "a", "port": 443}]}, 443),
        (
            "webbridge3",
            {"https_listeners": [{"interface": "a", "port": 443}], "c2w_listeners": [{"interface": "a", "port": 9999}]},
            443,
        ),
        # The first item that names a port; an interface alone names none.
        ("webbridge", {"listeners": [{"interface": "a", "port": None}, {"interface": "b", "port": 8443}]}, 8443),
        ("webbridge", {"listeners": [{"interface": "a", "port": None}]}, None),
        ("callbridge", {"listen": ["a"]}, 5061),  # SIP TLS: the status names no port
        ("xmpp", {"listen": ["a"]}, None),  # STARTTLS inside XMPP: no plain TLS endpoint
        ("webadmin", {"listen_port": None}, None),
    ],
)
def test_the_tls_port_of_a_service_comes_from_its_status(service: str, status: dict[str, object], port: int) -> None:
    assert cat.SERVICES[service].primary.status_port(status) == port


def test_webbridge3_c2w_port_and_endpoint() -> None:
    service = cat.SERVICES["webbridge3"]
    c2w = service.part("c2w")
    assert c2w.status_port({"c2w_listeners": [{"interface": "a", "port": 9999}]}) == 9999
    assert c2w.port_option == "c2w_tls_port"
    assert service.endpoint(c2w) == "webbridge3-c2w" and service.endpoint(service.primary) == "webbridge3"


def test_tls_port_options_map_endpoints_to_the_module_options() -> None:
    ports = {"webadmin": 10445, "webbridge3": 10443, "webbridge3-c2w": 19999, "callbridge": None}
    assert cat.tls_port_options({"service": "webbridge3"}, ports) == {"tls_port": 10443, "c2w_tls_port": 19999}
    assert cat.tls_port_options({"service": "webbridge3", "c2w_tls_port": 1}, ports) == {
        "tls_port": 10443,
        "c2w_tls_port": 1,
    }
    assert cat.tls_port_options({"service": "webadmin", "c2w_tls_port": 1}, ports) == {"tls_port": 10445}
    assert cat.tls_port_options({"service": "callbridge"}, ports) == {}


def test_the_c2w_options_apply_to_the_two_ends_of_the_link() -> None:
    assert cat.services_taking("c2w_key") == ["webbridge3"]
    assert cat.services_taking("c2w_trust") == ["webbridge3", "callbridge"]
    assert cat.SERVICES["callbridge"].c2w_trust is not None and cat.SERVICES["callbridge"].c2w_trust.majors == (3,)


def test_default_services_per_release() -> None:
    assert cat.services_for(3) == ["webadmin", "callbridge", "webbridge3", "turn"]
    assert cat.services_for(2) == ["webadmin", "callbridge", "webbridge", "xmpp", "turn"]


# ---------------------------------------------------------------------------------------------------------------
# The hand-kept lists of services (role argument specs, module and filter docs, user guides) against the catalog
# ---------------------------------------------------------------------------------------------------------------
ROOT = Path(cat.__file__).resolve().parents[2]  # the collection's root: plugins/module_utils/_catalog.py
ALL = list(cat.SERVICES)
# Words that may sit between service names in prose; any other word in a list is taken for a service name.
GLUE = {"and", "or", "on", "only", "x", "the", "database", "cluster", "cms", "database_cluster"}


def _text(path: str) -> str:
    file = ROOT / path
    if not file.is_file():
        pytest.skip("%s is not part of the installed collection" % path)
    return file.read_text()


def _yaml(path: str) -> Any:
    return yaml.safe_load(_text(path))


def _words(path: str, pattern: str) -> list[str]:
    found = re.search(pattern, _text(path), re.DOTALL)
    assert found, "%s lost the list %r" % (path, pattern)
    words = re.findall(r"[a-z][a-z0-9_]*", " ".join(found.groups()))
    return [word for word in words if word not in GLUE]


def test_the_service_choices_of_the_roles_are_the_catalog() -> None:
    specs = _yaml("roles/service_certs/meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert specs["service_certs_services"]["options"]["service"]["choices"] == ALL
    specs = _yaml("roles/csrs/meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert specs["cms_csr_services"]["choices"] == ALL


def test_the_service_choices_of_the_module_are_the_catalog() -> None:
    from ansible_collections.cisco_cms.mmp.plugins.modules import cms_service_certs

    options = yaml.safe_load(cms_service_certs.DOCUMENTATION)["options"]
    assert options["service"]["choices"] == sorted(ALL)


@pytest.mark.parametrize(
    "path, pattern",
    [
        ("plugins/filter/cms_in_use_checks.py", r"Covers ([a-z0-9, ]+) and the database cluster"),
        ("plugins/modules/cms_pki_csr.py", r"The check covers ([a-z0-9,\s]+?) and the database cluster"),
        ("README.md", r"apply a certificate to ([a-z0-9, ]+ or [a-z0-9]+):"),
        ("docs/pki.md", r"checks every service \(([a-z0-9, ]+)\) and the database"),
        ("docs/cert_report.md", r"services\[\]:\s+([a-z0-9_, ]+)\n"),
        ("docs/service_certs.md", r"service: webadmin\s+# ([a-z0-9|(.), ]+)\n"),
        ("roles/service_certs/meta/main.yml", r"Cisco Meeting Server nodes \(([a-z0-9,;. \n]+)\)"),
        ("roles/service_certs/README.md", r"Cisco Meeting Server nodes \(([a-zA-Z0-9,;. \n]+)\)"),
    ],
)
def test_every_list_of_services_in_the_docs_names_each_service_once(path: str, pattern: str) -> None:
    words = _words(path, pattern)
    assert sorted(words) == sorted(ALL), (path, words)


@pytest.mark.parametrize(
    "path, pattern, major",
    [
        ("roles/csrs/meta/argument_specs.yml", r"on 3\.x\s+([a-z0-9, \n]+);", 3),
        ("roles/csrs/meta/argument_specs.yml", r"on 2\.x\s+([a-z0-9, \n]+)\.", 2),
    ],
)
def test_the_default_services_of_a_release_in_the_docs_are_the_catalog(path: str, pattern: str, major: int) -> None:
    assert _words(path, pattern) == cat.services_for(major)


@pytest.mark.parametrize(
    "path, pattern",
    [
        ("plugins/modules/cms_service_certs.py", r"V\((\w+)\) exists on CMS 3\.x only; V\((\w+)\) and V\((\w+)\) on"),
        ("roles/service_certs/meta/argument_specs.yml", r"\((\w+) on CMS 3\.x only, (\w+) and (\w+) on CMS 2\.x"),
        ("docs/service_certs.md", r"(\w+) \(3\.x\) \| (\w+), (\w+) \(2\.x\)"),
    ],
)
def test_the_services_said_to_exist_on_one_release_only_do(path: str, pattern: str) -> None:
    words = _words(path, pattern)
    assert [words[0]] == [name for name, s in cat.SERVICES.items() if s.majors == (3,)]
    assert sorted(words[1:]) == sorted(name for name, s in cat.SERVICES.items() if s.majors == (2,))


def test_every_trust_store_names_its_status_field_command_and_releases() -> None:
    callbridge = cat.SERVICES["callbridge"]
    stores = {trust.name: trust for trust in callbridge.trusts}
    assert list(stores) == ["c2w", "cluster", "branding", "ucm", "imps"]
    assert stores["c2w"].majors == (3,) and stores["cluster"].majors == (2, 3)
    assert stores["ucm"].words == ("ucm", "certs") and stores["ucm"].verify_field == "ucm_verify"
    for trust in callbridge.trusts:
        assert trust.field in callbridge.labels, trust.field
        assert trust.field in callbridge.file_fields
    assert cat.SERVICES["webbridge3"].trust("c2w").words == ("c2w", "trust")
    assert cat.SERVICES["webbridge"].trust_fields == ("trust",)
    assert list(cat.TLS_SERVICES) == ["sip", "ldap", "dbclient", "dbserver", "webadmin"]
    assert cat.TLS_SERVICES["sip"].mark == "H"
