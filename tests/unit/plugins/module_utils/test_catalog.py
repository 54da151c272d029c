# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The service catalog: which service exists where, its status labels, its parts."""

from __future__ import annotations

import pytest

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
