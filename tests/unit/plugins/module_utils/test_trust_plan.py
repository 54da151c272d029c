# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""cms_trust's plan from before-state tables: which bundle, which commands, which refusals; no SSH."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._trust import (
    Identity,
    TrustRequest,
    TrustState,
    find_store,
    moved_name,
    plan_trust,
    trust_request,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._x509 import certs_to_pem, fingerprint_sha256

# The simulator's certificate helpers make the test material; the installed collection (ansible-test units) has no
# simulator, so these tests run from the checkout only.
x509 = pytest.importorskip("tests.cmssim.x509")

NOW = dt.datetime.now(dt.UTC)
OLD_KEY, OLD = x509.make_ca("Old CA", NOW)
NEW_KEY, NEW = x509.make_ca("New CA", NOW)
OLD_PEM = certs_to_pem([OLD])
LEAF_KEY = x509.new_key()
OLD_LEAF = x509.sign(x509.build_name({"CN": "cms1.example.com"}), LEAF_KEY.public_key(), OLD, OLD_KEY, NOW)
NEW_LEAF = x509.sign(x509.build_name({"CN": "cms1.example.com"}), LEAF_KEY.public_key(), NEW, NEW_KEY, NOW)
CLUSTER = find_store("callbridge", "cluster")


def request(state: str = "present", add: tuple[Any, ...] = (NEW,), **kwargs: Any) -> TrustRequest:
    return TrustRequest(store=kwargs.pop("store", CLUSTER), state=state, add=add, **kwargs)


def node(certs: list[Any] | None = None, leaf: Any = NEW_LEAF, **kwargs: Any) -> TrustState:
    """A node whose cluster store names old.cer (holding ``certs``) and whose Call Bridge presents ``leaf``."""
    certs = [OLD] if certs is None else certs
    state = TrustState(
        major=3,
        bundle="old.cer",
        certs=certs,
        listing={"old.cer": certs_to_pem(certs) if certs else b""},
        in_use={"old.cer": ["callbridge cluster_trust"]},
        identities=[Identity("callbridge cert", [leaf])],
    )
    for name, value in kwargs.items():
        setattr(state, name, value)
    return state


def fps(certs: list[Any]) -> list[str]:
    return [fingerprint_sha256(c) for c in certs]


def test_present_adds_the_new_ca_beside_the_old_one_under_a_new_file_and_restarts_the_call_bridge() -> None:
    plan = plan_trust(request(), node())
    assert fps(plan.certs) == fps([OLD, NEW]) and fps(plan.added) == fps([NEW]) and plan.removed == []
    assert plan.bundle == "callbridge-cluster-trust.cer" and plan.content == certs_to_pem([OLD, NEW])
    assert plan.commands == ["callbridge trust cluster callbridge-cluster-trust.cer", "callbridge restart"]


def test_a_store_that_trusts_the_ca_already_plans_nothing() -> None:
    plan = plan_trust(request(), node([OLD, NEW]))
    assert plan.commands == [] and plan.content is None and plan.bundle == "old.cer"


def test_a_bundle_name_in_use_with_other_content_moves_to_a_name_from_the_content() -> None:
    content = certs_to_pem([OLD, NEW])
    state = node(listing={"old.cer": OLD_PEM, "callbridge-cluster-trust.cer": OLD_PEM})
    state.in_use["callbridge-cluster-trust.cer"] = ["callbridge c2w_trust"]
    plan = plan_trust(request(), state)
    assert plan.bundle == moved_name("callbridge-cluster-trust.cer", content) and plan.content == content


def test_a_given_bundle_name_in_use_with_other_content_is_refused_with_a_free_name() -> None:
    with pytest.raises(MmpValidationError, match=r"old.cer is in use by callbridge cluster_trust.*bundle=old-"):
        plan_trust(request(bundle="old.cer"), node())


def test_the_same_content_already_on_the_node_is_used_without_an_upload() -> None:
    state = node(listing={"old.cer": OLD_PEM, "callbridge-cluster-trust.cer": certs_to_pem([OLD, NEW])})
    plan = plan_trust(request(), state)
    assert plan.bundle == "callbridge-cluster-trust.cer" and plan.content is None and len(plan.commands) == 2


def test_exact_without_allow_remove_refuses_to_drop_a_ca_and_names_it() -> None:
    with pytest.raises(MmpValidationError, match=r"would remove 'CN=Old CA'.*allow_remove=true"):
        plan_trust(request("exact"), node())


def test_exact_with_allow_remove_drops_a_ca_no_identity_chains_to() -> None:
    plan = plan_trust(request("exact", allow_remove=True, source="/f/new.cer"), node())
    assert fps(plan.certs) == fps([NEW]) and fps(plan.removed) == fps([OLD]) and plan.bundle == "new.cer"


def test_removing_a_ca_an_identity_still_chains_to_is_refused_naming_the_identity() -> None:
    with pytest.raises(MmpValidationError, match=r"callbridge cert chains to 'CN=Old CA'.*Swap those certificates"):
        plan_trust(request(add=(), remove=(OLD,)), node([OLD, NEW], leaf=OLD_LEAF))


def test_removing_the_old_ca_once_every_identity_chains_to_the_new_one_keeps_the_new_ca() -> None:
    plan = plan_trust(request(add=(), remove=(OLD,)), node([OLD, NEW]))
    assert fps(plan.certs) == fps([NEW]) and plan.commands[0].startswith("callbridge trust cluster ")


def test_removing_every_ca_is_refused() -> None:
    with pytest.raises(MmpValidationError, match="would be left empty"):
        plan_trust(request(add=(), remove=(OLD,)), node())


@pytest.mark.parametrize(
    ("store", "verify", "before", "commands"),
    [
        (("callbridge", "ucm"), "enable", "disable", ["callbridge ucm verify enable", "callbridge restart"]),
        (("callbridge", "ucm"), "enable", "enable", []),
        (("tls", "sip"), "enable", None, ["tls sip verify enable", "callbridge restart"]),
        (("tls", "ldap"), "ocsp", "enable", ["tls ldap verify ocsp", "callbridge restart"]),
    ],
)
def test_verification_mode_changes_only_when_it_differs(
    store: tuple[str, str], verify: str, before: str | None, commands: list[str]
) -> None:
    plan = plan_trust(request(add=(), store=find_store(*store), verify=verify), node(verify=before))
    assert plan.commands == commands


def test_a_stopped_service_or_restart_false_gets_no_restart() -> None:
    assert plan_trust(request(), node(running=False)).commands[-1].startswith("callbridge trust cluster")
    assert len(plan_trust(request(restart=False), node()).commands) == 1


def test_only_if_set_leaves_an_empty_or_missing_store_alone() -> None:
    assert plan_trust(request(only_if_set=True), node([], bundle=None)).skipped.endswith("(it trusts nothing)")
    assert plan_trust(request(only_if_set=True), node(missing="CMS 2.x has no x")).commands == []
    assert len(plan_trust(request(only_if_set=True), node()).commands) == 2


def test_the_2x_web_bridge_store_is_applied_by_disable_then_enable() -> None:
    plan = plan_trust(request(store=find_store("webbridge", "trust")), node())
    assert plan.commands[1:] == ["webbridge disable", "webbridge enable"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"service": "callbridge", "store": "sip"}, r"callbridge has no trust store 'sip'.*tls sip"),
        ({"service": "tls", "store": "h323"}, "tls service 'h323' is not one of sip"),
        ({"service": "callbridge", "store": "cluster", "verify": "enable"}, "has no verification mode"),
        ({"service": "callbridge", "store": "ucm", "verify": "ocsp"}, "takes enable or disable"),
        ({"service": "callbridge", "store": "c2w", "state": "exact", "remove_src": "x"}, "remove_src goes with"),
    ],
)
def test_bad_requests_are_refused_before_anything_connects(params: dict[str, Any], message: str) -> None:
    full = {"state": "present", "allow_remove": False, "restart": True, **params}
    with pytest.raises(MmpValidationError, match=message):
        trust_request(full)


def test_a_bundle_src_is_read_normalised(tmp_path: Path) -> None:
    src = tmp_path / "new.cer"
    src.write_bytes(x509.cert_pem(NEW).replace(b"\n", b"\r\n") + b"\r\n\r\n")
    req = trust_request(
        {
            "service": "webbridge3",
            "store": "c2w",
            "state": "present",
            "bundle_src": str(src),
            "allow_remove": False,
            "restart": True,
        }
    )
    assert fps(list(req.add)) == fps([NEW]) and req.store.label == "webbridge3 c2w"
