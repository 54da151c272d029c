#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_cert_report
short_description: Write the fleet certificate report of Cisco Meeting Server nodes (HTML, JSON, Prometheus)
version_added: 0.1.0
description:
  - Turns what M(cisco_cms.mmp.cms_pki_info) and M(cisco_cms.mmp.cms_db_cluster_info) returned for each node into
    one report, grouped by cluster, then node, then service. It lists each certificate file a service uses with
    its subject, SAN, issuer, end of validity and days left, colour-coded by O(critical_days) and O(warning_days).
    It shows whether each key matches its certificate and each chain verifies, each service disabled or stopped
    (it serves none of its certificates then), the database cluster health, and a timeline of the expiries to come.
  - Writes it as a self-contained HTML page (inline CSS, no script, nothing loaded from elsewhere), as JSON (the
    schema is in C(docs/cert_report.md)), and as a Prometheus textfile-collector file.
  - A node that could not be reached, or whose reading failed, is shown as such. The report covers the others.
  - Runs on the controller, through its action plugin, whatever host the task is for or delegated to (the page is
    rendered from a Jinja2 template shipped with the collection). It opens no connection to the nodes, so it takes
    no connection options and is not in the C(cisco_cms.mmp.cms) action group. C(roles/cert_report) and
    C(playbooks/cert_report.yml) gather the input and call it.
  - A file is rewritten only when its content changes. The generation time is left out of that comparison, but
    days left are part of the content, so the HTML and JSON change when a day ticks over. Use O(force) to rewrite
    every time, for example to keep a textfile collector's C(node_textfile_mtime_seconds) fresh.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
attributes:
  check_mode:
    description: Builds the report and says which files would change, without writing any.
    support: full
  diff_mode:
    description: Returns the JSON file's text before and after (the generation time aside).
    support: partial
options:
  nodes:
    description:
      - One entry per node, in the order the report lists them (clusters in the order of their first node).
      - The results are registered task results as they are, including failed, unreachable or skipped ones.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The node's inventory hostname.
        type: str
        required: true
      cluster:
        description: The cluster the node belongs to.
        type: str
        default: cms
      fqdn:
        description: The node's FQDN, shown next to its name.
        type: str
      address:
        description:
          - The address the database cluster status shows for the node (its C(cms_address)), so that what the
            primary says about an unread node names it.
        type: str
      version:
        description: The node's CMS version, shown next to its name.
        type: str
      probe:
        description:
          - Result of the reachability check (for example M(ansible.builtin.wait_for) on the SSH port). A failed
            check marks the node unreachable.
        type: dict
      tls_host:
        description:
          - Where O(tls_check) connects for this node. Default its O(nodes[].address), else O(nodes[].fqdn), else
            O(nodes[].name).
        type: str
      tls_ports:
        description:
          - The TLS port of each service endpoint of the node (C(webadmin), C(callbridge), C(webbridge3),
            C(webbridge3-c2w), C(turn)...) where it is not the port the service's status shows (or the Call
            Bridge's SIP TLS port, 5061).
        type: dict
      pki:
        description: Result of M(cisco_cms.mmp.cms_pki_info) with O(cisco_cms.mmp.cms_pki_info#module:usage=true).
        type: dict
      checks:
        description:
          - Result of a second M(cisco_cms.mmp.cms_pki_info) call whose C(match) and C(verify) are those the
            P(cisco_cms.mmp.cms_in_use_checks#filter) filter makes from O(nodes[].pki).
        type: dict
      database:
        description: Result of M(cisco_cms.mmp.cms_db_cluster_info).
        type: dict
  title:
    description: Title of the report.
    type: str
    default: CMS certificate report
  critical_days:
    description: A certificate with this many days left or fewer is critical (red).
    type: int
    default: 14
  warning_days:
    description: A certificate with this many days left or fewer is a warning (amber). Not less than O(critical_days).
    type: int
    default: 45
  timeline_days:
    description: The timeline shows the certificates in use that expire within this many days, and all expired ones.
    type: int
    default: 365
  html_path:
    description: Where to write the HTML report. Unset, no HTML is written.
    type: path
  json_path:
    description: Where to write the JSON report. Unset, no JSON is written.
    type: path
  prometheus_path:
    description:
      - Where to write the Prometheus metrics, for example C(/var/lib/node_exporter/textfile/cms_certs.prom). Unset,
        none are written. The file is written through a temporary name that does not end in C(.prom), then moved
        into place.
    type: path
  mode:
    description: File mode of the files written, in octal.
    type: raw
    default: "0644"
  force:
    description: Rewrite the files even when their content has not changed (then always changed).
    type: bool
    default: false
  tls_check:
    description:
      - Compare the certificate each enabled service of a node that was read serves (one TLS handshake from the
        controller with its port, not verified, only the leaf's fingerprint counts) with the certificate the service
        is configured with. A service that serves another certificate (configured but not restarted) says C(serves X
        on host:port, configured Y), one that does not complete the handshake C(enabled but not serving TLS); both
        are problems in the JSON, the page and the C(cms_service_serving_configured_certificate) metric.
      - Set V(false) when the controller cannot reach the services' ports; the report then says the served
        certificates were not checked.
    type: bool
    default: true
  tls_timeout:
    description: Seconds each handshake of O(tls_check) may take (1 or more).
    type: int
    default: 5
notes:
  - At least one of O(html_path), O(json_path) and O(prometheus_path) is needed. Missing directories are created.
  - Days left are whole days from the generation time, rounded down, as M(cisco_cms.mmp.cms_pki_info) counts them.
    A certificate past its end is expired, whatever its days left.
seealso:
  - module: cisco_cms.mmp.cms_pki_info
  - module: cisco_cms.mmp.cms_db_cluster_info
"""

EXAMPLES = r"""
# The usual way: playbooks/cert_report.yml (role cisco_cms.mmp.cert_report) gathers and calls this module.
- name: Write the report from results registered on every node
  cisco_cms.mmp.cms_cert_report:
    title: Production CMS certificates
    critical_days: 14
    warning_days: 45
    html_path: /srv/reports/cms/index.html
    json_path: /srv/reports/cms/report.json
    prometheus_path: /var/lib/node_exporter/textfile/cms_certs.prom
    nodes: >-
      {{ ansible_play_hosts_all | map('extract', hostvars, 'cert_report__node') | list }}
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: Per kind written (C(html), C(json), C(prometheus)), its C(path) and whether it C(changed).
  returned: always
  type: dict
  sample: {"html": {"path": "/srv/reports/cms/index.html", "changed": true}}
summary:
  description:
    - C(nodes), C(reachable), C(unreachable) and C(errors) (node names), C(certificates) (the certificate files in
      use per urgency C(expired), C(critical), C(warning), C(ok)), C(unused_certificates), C(problems) (key, chain,
      missing-file and service-state problems), C(services_down) (each service disabled or stopped, as C(node),
      C(service), C(enabled), C(running) and C(problem)), C(tls_problems) (each service up but serving another
      certificate than it is configured with, or no TLS, as C(node), C(service) and C(problem)), C(database_clusters) (cluster names C(healthy),
      C(unhealthy), C(unknown)), C(urgency) (the worst) and C(next_expiry).
  returned: always
  type: dict
summary_lines:
  description: The summary in a few lines of text, then one line per file written.
  returned: always
  type: list
  elements: str
report:
  description: The whole report, as in the JSON file (see C(docs/cert_report.md)).
  returned: always
  type: dict
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._report import REPORT_ARGS  # noqa: E402


def main() -> None:
    # The action plugin of the same name runs the report on the controller; this file is what ansible-doc and
    # validate-modules read. Run as a plain module (copied elsewhere), it says so instead of half working.
    module = REPORT_ARGS.create_ansible_module()
    module.fail_json(
        msg="cms_cert_report runs on the controller through its action plugin; use it as cisco_cms.mmp.cms_cert_report"
    )


if __name__ == "__main__":
    main()
