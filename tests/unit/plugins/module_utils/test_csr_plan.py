# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The CSR plan of a node (the csrs role's cms_csr_plan filter), case by case after the TechNote's CSR table."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._csr_plan import csr_plan, names_list
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError

FQDN = "cms1.example.com"
PEERS = ["cms1.example.com", "cms2.example.com", "cms3.example.com"]


def plan(**settings: Any) -> list[dict[str, Any]]:
    request = {"node": "cms1", "fqdn": FQDN, "suffix": "2027", "peers": PEERS, **settings}
    return csr_plan(request)


def test_node_layout_makes_one_csr_for_every_3x_service_with_the_join_names() -> None:
    assert plan(join_names=["join.example.com"]) == [
        {
            "basename": "cms1-2027",
            "cn": FQDN,
            "san": [FQDN, "join.example.com"],
            "services": ["webadmin", "callbridge", "webbridge3", "turn"],
        }
    ]


def test_node_layout_on_a_2x_node_names_the_xmpp_domain_too() -> None:
    (entry,) = plan(cms_version="2.9.1", join_names=["join.example.com"], xmpp_domain="example.com")
    assert entry["san"] == [FQDN, "join.example.com", "example.com"]
    assert entry["services"] == ["webadmin", "callbridge", "webbridge", "xmpp", "turn"]


def test_service_layout_is_the_technote_standalone_table_on_2x() -> None:
    entries = plan(layout="service", cms_version="2", join_names=["join.example.com"], xmpp_domain="example.com")
    assert {e["basename"]: (e["cn"], e["san"], e["services"]) for e in entries} == {
        "cms1-webadmin-2027": (FQDN, [FQDN], ["webadmin"]),
        "cms1-callbridge-2027": (FQDN, [FQDN], ["callbridge"]),
        "cms1-webbridge-2027": (FQDN, [FQDN, "join.example.com", "example.com"], ["webbridge"]),
        "cms1-xmpp-2027": (FQDN, [FQDN, "example.com"], ["xmpp"]),
        "cms1-turn-2027": (FQDN, [FQDN], ["turn"]),
    }


def test_service_layout_gives_webbridge3_the_join_names_and_no_xmpp_domain() -> None:
    entries = plan(layout="service", join_names=["join.example.com"], xmpp_domain="example.com")
    assert [e["basename"] for e in entries] == [
        "cms1-webadmin-2027",
        "cms1-callbridge-2027",
        "cms1-webbridge3-2027",
        "cms1-turn-2027",
    ]
    assert entries[2]["san"] == [FQDN, "join.example.com"]


def test_cluster_layout_shares_one_identity_for_callbridge_turn_and_xmpp() -> None:
    entries = plan(
        layout="cluster",
        cms_version="2",
        cluster_fqdn="cms.example.com",
        join_names=["join.example.com"],
        xmpp_domain="example.com",
    )
    assert entries == [
        {"basename": "cms1-2027", "cn": FQDN, "san": [FQDN, "join.example.com"], "services": ["webadmin", "webbridge"]},
        {
            "basename": "cms1-cluster-2027",
            "cn": "cms.example.com",
            "san": ["cms.example.com", *PEERS, "example.com"],
            "services": ["callbridge", "xmpp", "turn"],
        },
    ]


def test_cluster_layout_leaves_out_an_identity_without_services() -> None:
    entries = plan(layout="cluster", cluster_fqdn="cms.example.com", services=["callbridge", "turn"])
    assert [e["basename"] for e in entries] == ["cms1-cluster-2027"]
    assert [e["basename"] for e in plan(layout="cluster", cluster_fqdn="x.example.com", services=["webadmin"])] == [
        "cms1-2027"
    ]


def test_the_xmpp_domain_is_left_out_on_a_node_without_xmpp() -> None:
    entries = plan(layout="service", services=["webbridge"], xmpp_domain="example.com")
    assert entries[0]["san"] == [FQDN]


def test_extra_names_go_into_every_csr_and_each_name_appears_once() -> None:
    entries = plan(layout="service", services=["webadmin", "webbridge3"], join_names=[FQDN], extra_names=["a.example"])
    assert [e["san"] for e in entries] == [[FQDN, "a.example"], [FQDN, "a.example"]]


def test_the_default_suffix_is_next_year() -> None:
    (entry,) = csr_plan({"node": "cms1", "fqdn": FQDN})
    assert entry["basename"] == "cms1-%d" % (datetime.datetime.now(datetime.UTC).year + 1)


@pytest.mark.parametrize(
    "value, expected",
    [
        (["join.example.com"], ["join.example.com"]),
        ('["join.example.com", "join2.example.com"]', ["join.example.com", "join2.example.com"]),
        ("join.example.com, join2.example.com", ["join.example.com", "join2.example.com"]),
        ("join.example.com", ["join.example.com"]),
        ("", []),
        (None, []),
    ],
)
def test_a_list_given_as_a_string_is_accepted(value: Any, expected: list[str]) -> None:
    assert names_list(value, "cms_csr_join_names") == expected


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"join_names": {"a": 1}}, "cms_csr_join_names must be a list of names, got dict"),
        ({"join_names": '{"a": 1}'}, "cms_csr_join_names must be a list of names, got the mapping"),
        ({"join_names": '["join.example.com"'}, "cms_csr_join_names '[\"join.example.com\"' looks like a list"),
        ({"extra_names": [1]}, "cms_csr_extra_names holds 1, which is not a name"),
        ({"services": ["webadmin", "streamer"]}, "cms_csr_services holds 'streamer', which is not a CMS service"),
        ({"layout": "site"}, "cms_csr_layout 'site' is not one of node, service, cluster"),
        ({"fqdn": None}, "cms_fqdn is not set for cms1"),
        ({"layout": "cluster"}, "cms_csr_cluster_fqdn is not set for cms1"),
        ({"layout": "cluster", "cluster_fqdn": "c.example", "peers": [FQDN, None]}, "cms_fqdn must be set for each"),
        ({"cms_version": "4.1"}, "cms_version '4.1' is not a CMS 2.x or 3.x version"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(MmpValidationError) as raised:
        plan(**settings)
    assert message in raised.value.message


def test_the_filter_turns_a_refusal_into_a_filter_error() -> None:
    errors = pytest.importorskip("ansible.errors")
    from ansible_collections.cisco_cms.mmp.plugins.filter.cms_csr_plan import FilterModule

    plan_filter = FilterModule().filters()["cms_csr_plan"]
    assert plan_filter({"node": "cms1", "fqdn": FQDN, "suffix": "x"})[0]["basename"] == "cms1-x"
    with pytest.raises(errors.AnsibleFilterError, match="cms_csr_layout 'site'"):
        plan_filter({"node": "cms1", "fqdn": FQDN, "layout": "site"})
    with pytest.raises(errors.AnsibleFilterError, match="expects a dict"):
        plan_filter(["cms1"])
