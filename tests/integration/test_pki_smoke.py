"""Smoke: the PKI modules run through ansible-playbook and ad-hoc ansible against the simulator."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from tests.cmssim.testing import SimLab
from tests.integration.helpers.ansible_cli import Run


def test_pki_info_adhoc_reads_the_node(lab: SimLab, adhoc: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = adhoc(lab, "cms1", "cisco_cms.mmp.cms_pki_info", "usage=false")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cms1-2025.cer" in proc.stdout


def test_csr_playbook_then_idempotent(lab: SimLab, playbook: Callable[..., Run]) -> None:
    play = """
    - hosts: cms
      gather_facts: false
      tasks:
        - name: csr
          cisco_cms.mmp.cms_pki_csr:
            name: webadmin-next
            cn: "{{ cms_fqdn }}"
    """
    first = playbook(lab, play)
    assert first.rc == 0, first.stdout[-3000:] + first.stderr
    assert all(first.task(h, "csr")["changed"] for h in ("cms1", "cms2", "cms3"))
    second = playbook(lab, play)
    assert second.rc == 0 and all(second.changed(h) == 0 for h in ("cms1", "cms2", "cms3"))
