# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import (
    MmpAuthError,
    MmpCommandError,
    MmpConnectError,
    MmpError,
    MmpHostKeyError,
    MmpParseError,
    MmpTimeout,
    MmpValidationError,
)

CERTS_REFUSED = "ERROR: Cannot change certificates when clustering enabled.\nDisable clustering on this node first"


def test_fail_kwargs_name_node_command_output_and_hint() -> None:
    exc = MmpCommandError(
        "the node refused the new certificates",
        node="cms2",
        command="database cluster certs a.key a.cer b.key b.cer ca.cer",
        output=CERTS_REFUSED,
        hint="Run `database cluster remove` on this node first (replicas before the primary).",
    )
    kwargs = exc.to_fail_kwargs()
    assert set(kwargs) == {"msg", "command", "stdout"}
    assert kwargs["command"] == "database cluster certs a.key a.cer b.key b.cer ca.cer"
    assert kwargs["stdout"] == CERTS_REFUSED
    msg = kwargs["msg"]
    assert msg.startswith("cms2: the node refused the new certificates")
    assert "(command: database cluster certs a.key a.cer b.key b.cer ca.cer)" in msg
    assert "The node printed:\n" + CERTS_REFUSED in msg
    assert msg.endswith("Run `database cluster remove` on this node first (replicas before the primary).")


def test_message_does_not_repeat_node_command_or_output_it_already_states() -> None:
    exc = MmpCommandError(
        "webadmin enable failed on cms1: FAILURE: Key and certificate pair do not match",
        node="cms1",
        command="webadmin enable",
        output="FAILURE: Key and certificate pair do not match",
    )
    msg = exc.to_fail_kwargs()["msg"]
    assert msg == "webadmin enable failed on cms1: FAILURE: Key and certificate pair do not match"
    assert str(exc) == msg


def test_message_without_context_is_the_message() -> None:
    exc = MmpValidationError("basename 'a b' is not valid")
    assert exc.to_fail_kwargs() == {"msg": "basename 'a b' is not valid", "command": None, "stdout": None}
    assert exc.message == "basename 'a b' is not valid"


def test_long_output_is_cut_in_msg_but_whole_in_stdout() -> None:
    output = "\n".join("line %d" % n for n in range(1, 41))
    kwargs = MmpParseError("garbled", node="cms3", command="pki list", output=output).to_fail_kwargs()
    assert "line 40" in kwargs["msg"]
    assert "line 25" not in kwargs["msg"]
    assert "[... 25 earlier lines, see stdout ...]" in kwargs["msg"]
    assert kwargs["stdout"] == output


@pytest.mark.parametrize(
    "cls, parents",
    [
        (MmpConnectError, (MmpError,)),
        (MmpAuthError, (MmpConnectError, MmpError)),
        (MmpHostKeyError, (MmpConnectError, MmpError)),
        (MmpCommandError, (MmpError,)),
        (MmpTimeout, (MmpError,)),
        (MmpValidationError, (MmpError,)),
        (MmpParseError, (MmpError,)),
    ],
)
def test_every_error_is_caught_as_mmp_error(cls: type[MmpError], parents: tuple[type, ...]) -> None:
    exc = cls("boom", node="cms1")
    for parent in parents:
        assert isinstance(exc, parent)
    assert isinstance(exc, Exception)
    assert exc.node == "cms1"
