# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The decisions of the verb sets, from before-state tables: which MMP commands for which state, no SSH."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._backup import (
    DIFFERS,
    INTACT,
    MISSING,
    PRESENT,
    BackupState,
    Copy,
    backup_request,
    plan_backup,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._dbcluster import (
    DB_CLUSTER_ARGS,
    cluster_request,
    observe,
    plan_cluster,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpCommandError, MmpValidationError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._parsers import parse_db_cluster_status
from ansible_collections.cisco_cms.mmp.plugins.module_utils._pki import (
    CsrState,
    SignState,
    csr_request,
    plan_csr,
    plan_sign,
    sign_request,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._runner import SessionRunner


# ---- backup ---------------------------------------------------------------------------------------------------------
def backup(name: str = "pre", state: str = "present", force: bool = False) -> Any:
    return backup_request({"name": name, "state": state, "dest": "/b/cms1", "force": force})


def copies(bak: str | None, meta: str | None = None) -> dict[str, Copy]:
    return {name: Copy(status) for name, status in (("pre.bak", bak), ("pre.json", meta)) if status}


NODE_HAS_IT = ["pre.bak", "pre.json", "other.key"]


@pytest.mark.parametrize(
    ("files", "copy", "force", "commands", "fetch"),
    [
        # No snapshot of that name on the node, nothing on the controller: snapshot, then fetch the pair.
        ([], copies(MISSING, MISSING), False, ["backup snapshot pre"], ["pre.bak", "pre.json"]),
        # Both copies intact: nothing at all.
        (NODE_HAS_IT, copies(INTACT, INTACT), False, [], []),
        # A damaged .bak copy: fetched again from the same snapshot, with its .json; no new snapshot.
        (NODE_HAS_IT, copies(DIFFERS), False, [], ["pre.bak", "pre.json"]),
        # Only the .json copy is missing.
        (NODE_HAS_IT, copies(INTACT, MISSING), False, [], ["pre.json"]),
        # force with the controller copies moved away: a new snapshot under the same name.
        (NODE_HAS_IT, copies(MISSING, MISSING), True, ["backup snapshot pre"], ["pre.bak", "pre.json"]),
    ],
)
def test_backup_plan_from_the_node_and_controller_state(
    files: list[str], copy: dict[str, Copy], force: bool, commands: list[str], fetch: list[str]
) -> None:
    assert plan_backup(backup(force=force), BackupState(["pre"], files, copy)) == (commands, fetch)


@pytest.mark.parametrize("files", [NODE_HAS_IT, []])
def test_backup_plan_refuses_to_replace_a_controller_copy_with_a_new_snapshot(files: list[str]) -> None:
    with pytest.raises(MmpValidationError) as caught:
        plan_backup(backup(force=True), BackupState(["pre"], files, copies(PRESENT, MISSING)))
    message = caught.value.message
    assert "/b/cms1/pre.bak is already on the controller" in message
    assert "never replaced" in message and "another name" in message and "move the old copy away" in message


def test_backup_plan_without_a_name_only_lists() -> None:
    assert plan_backup(
        backup_request({"name": None, "state": "present", "dest": None, "force": False}), BackupState()
    ) == (
        [],
        [],
    )


def test_backup_plan_rolls_back_only_to_a_backup_the_node_has() -> None:
    assert plan_backup(backup(state="rollback"), BackupState(["pre"], NODE_HAS_IT)) == (["backup rollback pre.bak"], [])
    with pytest.raises(MmpValidationError, match=re.escape("no pre.bak on the node (backup list shows old); upload")):
        plan_backup(backup(state="rollback"), BackupState(["old"], ["old.bak"]))


def test_backup_request_needs_a_dest_with_a_name() -> None:
    with pytest.raises(MmpValidationError, match="dest is required with a name"):
        backup_request({"name": "pre", "state": "present", "dest": None, "force": False})


# ---- database cluster (TechNote 216549) -------------------------------------------------------------------------
RENEWED = {
    "server_key": "dbclusterserver.key",
    "server_cert": "dbclusterserver.cer",
    "client_key": "dbclusterclient.key",
    "client_cert": "dbclusterclient.cer",
    "ca_cert": "CAVD.cer",
}
RENEWED_CERTS = (
    "database cluster certs dbclusterserver.key dbclusterserver.cer dbclusterclient.key dbclusterclient.cer CAVD.cer"
)


def cluster(state: str, primary: str | None = None, files: dict[str, str] | None = None, **extra: Any) -> Any:
    params: dict[str, Any] = {name: spec.get("default") for name, spec in DB_CLUSTER_ARGS.options.items()}
    params.update(state=state, primary=primary, **(files or {}), **extra)
    return cluster_request(params)


@pytest.fixture
def seen(transcript: Callable[[str], str]) -> Callable[[str], dict[str, Any]]:
    return lambda name: observe(parse_db_cluster_status(transcript(name)))


STEP01 = "tn216549_step01_db_status.txt"  # Disabled, expired certificates configured
STEP08 = "tn216549_step08_db_status_removed.txt"  # Disabled after remove
STEP11 = "tn216549_step11_db_status_initialized.txt"  # the new primary, renewed certificates
STEP13 = "tn216549_step13_db_status_joined.txt"  # a replica of 10.106.85.73, in sync
ERROR = "db_status_error_s3_reconstructed.txt"


@pytest.mark.parametrize(
    ("status", "request_args", "commands"),
    [
        # Step 9: the renewed files go on a removed node.
        (STEP01, {"state": "certs", "files": RENEWED}, [RENEWED_CERTS]),
        # Step 6: every node leaves the cluster; a Disabled one has nothing to do.
        (STEP13, {"state": "absent"}, ["database cluster remove"]),
        (STEP08, {"state": "absent"}, []),
        # Step 10: the new primary, certificates first.
        (STEP08, {"state": "primary", "files": RENEWED}, [RENEWED_CERTS, "database cluster initialize"]),
        # Step 12: a replica joins; on another interface, localnode first.
        (
            STEP08,
            {"state": "joined", "primary": "10.106.85.73", "files": RENEWED, "interface": "b"},
            [RENEWED_CERTS, "database cluster localnode b", "database cluster join 10.106.85.73"],
        ),
        # Already there (steps 11 and 13): nothing runs.
        (STEP11, {"state": "primary", "files": RENEWED}, []),
        (STEP13, {"state": "joined", "primary": "10.106.85.73", "files": RENEWED}, []),
        (STEP13, {"state": "joined", "primary": "10.106.85.73"}, []),
        (STEP11, {"state": "certs", "files": RENEWED}, []),
    ],
)
def test_db_cluster_plan_follows_the_technote(
    seen: Callable[[str], dict[str, Any]], status: str, request_args: dict[str, Any], commands: list[str]
) -> None:
    args = dict(request_args)
    request = cluster(args.pop("state"), args.pop("primary", None), args.pop("files", None), **args)
    assert plan_cluster(request, seen(status), [], "cms2") == commands


def test_db_cluster_plan_uploads_a_changed_file_even_under_the_configured_name(
    seen: Callable[[str], dict[str, Any]],
) -> None:
    assert plan_cluster(cluster("primary", files=RENEWED), seen(STEP08), ["ca_cert"], "cms2")[0] == RENEWED_CERTS


@pytest.mark.parametrize(
    ("status", "state", "primary", "doing"),
    [
        (STEP13, "certs", None, "cannot change the database cluster certificates"),
        (STEP11, "joined", "10.106.85.73", "cannot make it a replica of 10.106.85.73"),
        (STEP13, "primary", None, "cannot make it the primary of a new cluster"),
    ],
)
def test_db_cluster_plan_refuses_to_change_an_enabled_node(
    seen: Callable[[str], dict[str, Any]], status: str, state: str, primary: str | None, doing: str
) -> None:
    with pytest.raises(MmpCommandError) as caught:
        plan_cluster(cluster(state, primary, RENEWED), seen(status), ["ca_cert"], "cms2")
    assert doing in caught.value.message and "state: absent" in caught.value.message
    assert "Nothing was changed" in caught.value.message


def test_db_cluster_plan_refuses_a_failed_node_new_certificates_before_it_leaves(
    seen: Callable[[str], dict[str, Any]],
) -> None:
    with pytest.raises(MmpCommandError, match="in the Error state"):
        plan_cluster(cluster("joined", "10.48.36.61", RENEWED), seen(ERROR), [], "cms1")


def _without_membership(text: str) -> str:
    """The Error status of a node that failed to join: the same lines without its ``Nodes:`` block."""
    return re.sub(r"(?ms)^Nodes:\n.*?(?=^Node in use)", "", text).replace("10.48.36.61", "None")


def test_db_cluster_plan_lets_a_node_that_failed_outside_any_cluster_join_again(
    transcript: Callable[[str], str],
) -> None:
    failed = observe(parse_db_cluster_status(_without_membership(transcript(ERROR))))
    assert failed["state"] == "error" and failed["enabled"] is False
    request = cluster("joined", "10.48.36.61")
    assert plan_cluster(request, failed, [], "cms1") == ["database cluster join 10.48.36.61"]


def test_db_cluster_error_state_that_lists_its_membership_is_clustered(seen: Callable[[str], dict[str, Any]]) -> None:
    # TN 210530 (S3): a failed upgrade_schema prints Error above a whole cluster, this node a replica in sync.
    status = seen(ERROR)
    assert status["state"] == "error"
    assert status["enabled"] is True
    assert status["primary_address"] == "10.48.36.61"
    assert status["in_sync_replicas"] == ["10.48.36.118", "10.48.36.143"]


@pytest.mark.parametrize(("state", "primary"), [("joined", "10.48.36.61"), ("primary", None), ("certs", None)])
def test_db_cluster_plan_refuses_a_node_in_error_that_still_shows_its_membership(
    seen: Callable[[str], dict[str, Any]], state: str, primary: str | None
) -> None:
    files = RENEWED if state == "certs" else None
    with pytest.raises(MmpCommandError) as caught:
        plan_cluster(cluster(state, primary, files), seen(ERROR), [], "cms1")
    assert "while clustering is enabled" in caught.value.message
    assert "state: absent" in caught.value.message and "Nothing was changed" in caught.value.message


@pytest.mark.parametrize(
    ("state", "primary", "named"),
    [
        ("primary", None, "EXPRSVR.cer, dbclusterserver.cer"),
        ("joined", "10.106.85.73", "EXPRSVR.cer, dbclusterserver.cer"),
        ("connected", "10.106.85.73", "EXPRSVR.cer"),
    ],
)
def test_db_cluster_plan_refuses_to_cluster_onto_certificates_the_status_marks_expired(
    seen: Callable[[str], dict[str, Any]], state: str, primary: str | None, named: str
) -> None:
    # TN 216549 step 1: a Disabled node whose server and client certificates say (expired).
    with pytest.raises(MmpValidationError) as caught:
        plan_cluster(cluster(state, primary), seen(STEP01), [], "cms2")
    message = caught.value.message
    assert "marked (expired)" in message and named in message
    assert "db_cluster_rebuild" in message and "Nothing was changed" in message


def test_db_cluster_plan_clusters_an_expired_node_on_new_certificates(seen: Callable[[str], dict[str, Any]]) -> None:
    assert plan_cluster(cluster("primary", files=RENEWED), seen(STEP01), [], "cms2") == [
        RENEWED_CERTS,
        "database cluster initialize",
    ]


def test_db_cluster_plan_needs_certificates_on_a_node_without_any(seen: Callable[[str], dict[str, Any]]) -> None:
    bare = dict(seen(STEP08), certificates=dict.fromkeys(RENEWED))
    with pytest.raises(MmpValidationError, match="cms2 has no database cluster certificates configured"):
        plan_cluster(cluster("primary"), bare, [], "cms2")


@pytest.mark.parametrize(
    ("status", "state", "primary", "uploads", "commands"),
    [
        # Steps 7, 9 and 10 in one session: the old primary leaves last, takes new files, starts the new cluster.
        (
            STEP13,
            "primary",
            None,
            ["ca_cert"],
            ["database cluster remove", RENEWED_CERTS, "database cluster initialize"],
        ),
        # On the files it has, a replica becomes the primary of a new cluster after it leaves.
        (STEP13, "primary", None, [], ["database cluster remove", "database cluster initialize"]),
        # A replica that must take new files leaves first, then joins on them.
        (
            STEP13,
            "joined",
            "10.106.85.73",
            ["ca_cert"],
            ["database cluster remove", RENEWED_CERTS, "database cluster join 10.106.85.73"],
        ),
        (ERROR, "certs", None, [], ["database cluster remove", RENEWED_CERTS]),
        # Already removed (a resumed run): no remove; already there: nothing.
        (STEP08, "primary", None, [], [RENEWED_CERTS, "database cluster initialize"]),
        (STEP11, "primary", None, [], []),
        (STEP13, "joined", "10.106.85.73", [], []),
    ],
)
def test_db_cluster_plan_with_remove_first_leaves_the_cluster_in_the_same_session(
    seen: Callable[[str], dict[str, Any]],
    status: str,
    state: str,
    primary: str | None,
    uploads: list[str],
    commands: list[str],
) -> None:
    request = cluster(state, primary, RENEWED, remove_first=True)
    assert plan_cluster(request, seen(status), uploads, "cms2") == commands


def test_db_cluster_plan_with_remove_first_still_refuses_expired_certificates_after_the_remove(
    seen: Callable[[str], dict[str, Any]],
) -> None:
    # Leaving first does not make the expired files usable: refused before the remove is sent.
    expired = dict(seen(STEP01), state="replica", enabled=True, healthy=True)
    with pytest.raises(MmpValidationError, match="marked \\(expired\\)"):
        plan_cluster(cluster("joined", "10.106.85.73", remove_first=True), expired, [], "cms2")


@pytest.mark.parametrize(
    ("state", "files", "message"),
    [
        ("certs", None, "state certs needs the certificate files"),
        ("absent", RENEWED, "state absent takes no certificate files"),
        ("joined", {k: v for k, v in RENEWED.items() if not k.startswith("server")}, "holds a database"),
        ("absent", None, "state absent is the removal"),
    ],
)
def test_db_cluster_request_is_refused_before_connecting(
    state: str, files: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(MmpValidationError, match=message):
        cluster(state, "10.1.1.1", files, remove_first=state == "absent" and not files)


# ---- pki csr ----------------------------------------------------------------------------------------------------------
def csr(**params: Any) -> Any:
    base = {"name": "web", "cn": "cms1.example.com", "state": "present", "force": False, "dest": None}
    base["subject_alt_name"] = ["cms1.example.com"]
    base.update(params)
    return csr_request(base)


SUBJECT = {"subject": {"CN": "cms1.example.com"}, "subject_alt_name": ["cms1.example.com"], "public_key_sha256": "x"}
CSR_COMMAND = "pki csr web CN:cms1.example.com subjectAltName:cms1.example.com"


@pytest.mark.parametrize(
    ("request_args", "state", "commands", "remove"),
    [
        ({}, CsrState([]), [CSR_COMMAND], []),
        # The same subject and SAN already there: nothing runs.
        ({}, CsrState(["web.key", "web.csr"], before=SUBJECT), [], []),
        # Another SAN, a damaged CSR, or force: made again.
        ({"subject_alt_name": ["join.example.com"]}, CsrState(["web.key", "web.csr"], before=SUBJECT), None, []),
        ({}, CsrState(["web.key", "web.csr"], before={"error": "damaged"}), [CSR_COMMAND], []),
        ({"force": True}, CsrState(["web.key", "web.csr"], before=SUBJECT), [CSR_COMMAND], []),
        # absent removes what is there, and only that.
        ({"state": "absent"}, CsrState(["web.key", "web.csr"]), [], ["web.key", "web.csr"]),
        ({"state": "absent"}, CsrState(["web.csr"]), [], ["web.csr"]),
        ({"state": "absent"}, CsrState([]), [], []),
    ],
)
def test_csr_plan_from_what_the_node_holds(
    request_args: dict[str, Any], state: CsrState, commands: list[str] | None, remove: list[str]
) -> None:
    request = csr(**request_args)
    plan = plan_csr(request, state, "cms1")
    assert plan.commands == (commands if commands is not None else [request.command])
    assert plan.remove == remove and plan.warning is None


@pytest.mark.parametrize("state", ["present", "absent"])
def test_csr_plan_refuses_to_replace_or_remove_a_key_in_use(state: str) -> None:
    in_use = CsrState(["web.key"], ["webadmin", "callbridge"])
    with pytest.raises(MmpValidationError) as caught:
        plan_csr(csr(state=state), in_use, "cms1")
    assert "cms1: web.key is in use by webadmin, callbridge" in caught.value.message
    assert "force: true" in caught.value.message


def test_csr_plan_with_force_breaks_the_services_and_says_so() -> None:
    plan = plan_csr(csr(force=True), CsrState(["web.key"], ["webadmin"]), "cms1")
    assert plan.commands == [CSR_COMMAND]
    assert plan.warning == (
        "force: pki csr web replaces web.key, in use by webadmin; it breaks now, until it gets a certificate for "
        "the new key"
    )


# ---- pki sign -------------------------------------------------------------------------------------------------------
def sign(**params: Any) -> Any:
    base = {"name": "web", "ca": None, "cn": None, "force": False, "dest": None}
    base.update(params)
    return sign_request(base)


@pytest.mark.parametrize(
    ("request_args", "state", "commands"),
    [
        ({"ca": "labca"}, SignState(["web.csr", "labca.key", "labca.crt"]), ["pki sign web labca"]),
        ({"ca": "labca"}, SignState(["web.csr", "labca.key", "labca.crt", "web.crt"], current_ok=True), []),
        ({"ca": "labca", "force": True}, SignState(["web.crt"], current_ok=True), ["pki sign web labca"]),
        ({"cn": "labca"}, SignState([]), ["pki selfsigned web CN:labca"]),
        ({}, SignState(["web.key", "web.crt"], current_ok=True), []),
    ],
)
def test_sign_plan_from_what_the_node_holds(
    request_args: dict[str, Any], state: SignState, commands: list[str]
) -> None:
    assert plan_sign(sign(**request_args), state, "cms1").commands == commands


def test_sign_plan_names_the_missing_inputs_of_pki_sign() -> None:
    with pytest.raises(
        MmpValidationError, match=re.escape("cannot sign web with labca: web.csr, labca.crt missing on the node")
    ):
        plan_sign(sign(ca="labca"), SignState(["labca.key"], missing=["web.csr", "labca.crt"]), "cms1")


def test_sign_plan_refuses_a_selfsigned_pair_in_use_but_renews_a_signed_certificate_in_place() -> None:
    usage = {"web.key": ["webadmin"], "web.crt": ["webadmin"]}
    with pytest.raises(MmpValidationError, match=re.escape("web.key and web.crt is in use by webadmin")):
        plan_sign(sign(), SignState(["web.key", "web.crt"], usage=usage), "cms1")
    # Same key, new certificate: the service keeps working and picks it up when restarted.
    plan = plan_sign(sign(ca="labca"), SignState(["web.csr", "labca.key", "labca.crt"], usage=usage), "cms1")
    assert plan.commands == ["pki sign web labca"]
    assert plan.warning == "pki sign web labca replaces web.crt, in use by webadmin"


# ---- the runner's shape -------------------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def read_state(self) -> None:
        self.calls.append("read_state")

    def plan(self) -> list[str]:
        self.calls.append("plan")
        return ["a command"]

    def apply(self) -> None:
        self.calls.append("apply")

    def dump(self) -> dict[str, Any]:
        self.calls.append("dump")
        return {"calls": self.calls}


@pytest.mark.parametrize(
    ("check_mode", "calls"), [(False, ["read_state", "plan", "apply", "dump"]), (True, ["read_state", "plan", "dump"])]
)
def test_the_runner_applies_nothing_in_check_mode(check_mode: bool, calls: list[str]) -> None:
    assert SessionRunner.drive(Recorder(), check_mode) == {"calls": calls}
