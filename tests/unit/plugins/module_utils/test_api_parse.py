"""Parsing the REST API's XML: the shapes CMS documents, typed values, paging totals, and no DTD ever."""

from __future__ import annotations

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._api import (
    CmsApi,
    CmsApiError,
    api_configured,
    parse_collection,
    parse_database,
    parse_status,
    parse_xml,
)

STATUS = (
    '<?xml version="1.0"?>\n<status><softwareVersion>3.8.0</softwareVersion><uptimeSeconds>12</uptimeSeconds>'
    "<activated>true</activated><clusterEnabled>true</clusterEnabled><cdrTime>2026-12-06T20:50:07Z</cdrTime>"
    "<callLegsActive>3</callLegsActive><callLegsMaxActive>3</callLegsMaxActive>"
    "<callLegsCompleted>0</callLegsCompleted></status>"
)
LEGS = (
    '<?xml version="1.0"?>\n<callLegs total="12"><callLeg id="0f49"><name></name>'
    "<remoteParty>participant1@lab.cms.example</remoteParty><call>e8e8</call></callLeg></callLegs>"
)
DATABASE = (
    '<?xml version="1.0"?>\n<database><clustered>enabled</clustered><cluster><node><hostname>192.0.2.11</hostname>'
    "<master>true</master><up>true</up><syncBehind>0</syncBehind></node><node><hostname>192.0.2.12</hostname>"
    "<master>false</master><up>false</up><syncBehind>-1</syncBehind></node></cluster></database>"
)


def test_status_values_are_typed() -> None:
    status = parse_status(parse_xml(STATUS, "status"))
    assert status["callLegsActive"] == 3
    assert status["clusterEnabled"] is True
    assert status["softwareVersion"] == "3.8.0"


def test_a_list_gives_its_total_beside_the_page() -> None:
    total, items = parse_collection(parse_xml(LEGS, "legs"), "callLegs", "callLeg")
    assert total == 12
    assert items == [{"id": "0f49", "name": "", "remoteParty": "participant1@lab.cms.example", "call": "e8e8"}]


def test_the_database_view_lists_each_node_with_master_up_and_sync() -> None:
    database = parse_database(parse_xml(DATABASE, "database"))
    assert database["clustered"] == "enabled"
    assert database["nodes"][1] == {"hostname": "192.0.2.12", "master": False, "up": False, "syncBehind": -1}


def test_a_reply_with_a_dtd_is_refused_before_parsing() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><status>&a;</status>'
    with pytest.raises(CmsApiError, match="declares a DTD"):
        parse_xml(bomb, "GET /api/v1/system/status")


def test_a_reply_that_is_not_xml_is_an_error_naming_the_request() -> None:
    with pytest.raises(CmsApiError, match="the reply to GET /api/v1/calls is not XML"):
        parse_xml("<html>", "GET /api/v1/calls")


def test_the_wrong_top_level_element_is_an_error() -> None:
    with pytest.raises(CmsApiError, match="expected <calls>, got <callLegs>"):
        parse_collection(parse_xml(LEGS, "x"), "calls", "call")


def test_the_client_needs_both_api_credentials() -> None:
    assert not api_configured({"api_user": "apiadmin"})
    with pytest.raises(CmsApiError, match="no API credentials") as err:
        CmsApi.from_params({"host": "cms1", "api_user": "apiadmin"}, node="cms1")
    assert "cms_api_user" in str(err.value)


def test_an_ipv6_api_host_is_bracketed_in_the_url() -> None:
    api = CmsApi.from_params({"host": "2001:db8::1", "api_user": "u", "api_password": "p", "api_port": 445})
    assert api.base_url == "https://[2001:db8::1]:445/api/v1"


def test_api_server_name_on_an_ansible_core_without_ssl_contexts_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.cisco_cms.mmp.plugins.module_utils import _api

    monkeypatch.setattr(_api, "REQUEST_TAKES_CONTEXT", False)
    api = CmsApi.from_params(
        {"host": "127.0.0.1", "api_user": "u", "api_password": "p", "api_server_name": "cms1.example.com"}, "cms1"
    )
    with pytest.raises(CmsApiError, match=r"api_server_name needs ansible-core 2\.17") as err:
        api.status()
    assert "cms_api_host" in str(err.value)
    # Without the override, 2.16's own arguments carry the CA bundle and the choice to verify.
    plain = CmsApi.from_params({"host": "cms1.example.com", "api_user": "u", "api_password": "p", "api_ca_file": "/ca"})
    assert plain._tls_args() == {"validate_certs": True, "ca_path": "/ca"}
