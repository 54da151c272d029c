#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_db_cluster_info
short_description: Read the database cluster state of a Cisco Meeting Server node (database cluster status)
version_added: 0.1.0
description:
  - Runs C(database cluster status) and returns it parsed. Both the Master/Slave and the Primary/Replica
    wordings are understood.
  - Tells the node's place in the cluster (RV(state)) and whether it is healthy. The primary must be connected as
    primary, a replica in sync, and a connect-only node must see the primary connected.
  - Optionally describes the certificate files the cluster uses (O(describe_certificates)), checks a new set of
    certificate files before they are applied (O(check_certs)), and fetches files from the node's store to the
    controller (O(fetch)), for example the certificates the built-in CA made on the primary, to distribute to the
    other nodes.
  - Read-only on the node. The only writes are the O(fetch) copies on the controller, each mode 0600 in a
    directory created 0700, since they may be private keys. Nothing is written in check mode.
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._private_files
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.INFO_MODULE
options:
  wait:
    description: When a transition is running (C(Disabling), C(Joining)...), wait for it to finish before reading.
    type: bool
    default: false
  timeout:
    description: Seconds O(wait) waits at most.
    type: int
    default: 300
  poll_interval:
    description: Seconds between two reads of the status while waiting.
    type: float
    default: 0.3
  describe_certificates:
    description:
      - Download the certificate files the status names and describe them (subject, issuer, SAN, validity, days
        left, fingerprints, SHA-256 of the file). Keys are never downloaded for this.
    type: bool
    default: false
  check_certs:
    description:
      - A certificate set to check as M(cisco_cms.mmp.cms_db_cluster) would before C(database cluster certs).
        Each file is taken from its C(*_src) controller path when given (looked up like C(copy)'s C(src), as
        M(cisco_cms.mmp.cms_db_cluster) looks up the same options), else from the node.
    type: dict
    suboptions:
      server_key:
        description: Server key file name on the node (defaults to the file name of O(check_certs.server_key_src)).
        type: str
      server_cert:
        description: Server certificate file name on the node.
        type: str
      client_key:
        description: Client key file name on the node.
        type: str
      client_cert:
        description: Client certificate file name on the node.
        type: str
      ca_cert:
        description: CA certificate file name on the node.
        type: str
      server_key_src:
        description: Controller path of the server key.
        type: path
      server_cert_src:
        description: Controller path of the server certificate.
        type: path
      client_key_src:
        description: Controller path of the client key.
        type: path
      client_cert_src:
        description: Controller path of the client certificate.
        type: path
      ca_cert_src:
        description: Controller path of the CA certificate.
        type: path
      server_cert_names:
        description: Names the server certificate's subjectAltName must cover.
        type: list
        elements: str
  fetch:
    description: Files of the node's store to download to O(fetch_dest).
    type: list
    elements: str
  fetch_dest:
    description:
      - Controller directory for O(fetch); created 0700 when missing.
      - A relative path is relative to the playbook's directory, as with M(ansible.builtin.fetch).
    type: path
"""

EXAMPLES = r"""
- name: Where is each node in the cluster?
  cisco_cms.mmp.cms_db_cluster_info:
    describe_certificates: true
  register: db

- name: Show the primary and the expiry of the server certificate
  ansible.builtin.debug:
    msg: "{{ db.state }} (primary {{ db.primary_address }}), server certificate until {{ db.certificate_details.server_cert.not_after }}"

- name: Check new files on the controller before the rebuild
  cisco_cms.mmp.cms_db_cluster_info:
    check_certs:
      server_key_src: certs/dbserver.key
      server_cert_src: certs/dbserver.crt
      client_key_src: certs/dbclient.key
      client_cert_src: certs/dbclient.crt
      ca_cert_src: certs/dbca.crt
      server_cert_names: "{{ groups['cms'] | map('extract', hostvars, 'cms_fqdn') | list }}"
  register: check
  failed_when: not check.check_certs.ok
"""

RETURN = r"""
state:
  description:
    - C(disabled), C(primary), C(replica), C(client) (Enabled without a C((me)) line, a node that only connects),
      C(error), C(busy) (a transition running, see RV(transition)), C(enabled) (a role not recognised) or
      C(unknown).
  returned: always
  type: str
  sample: replica
enabled:
  description:
    - Whether clustering is enabled on the node, from the membership its status shows, not from the status word
      alone. A node in the C(Error) state that still lists itself connected in the cluster is enabled.
  returned: always
  type: bool
healthy:
  description: The primary is connected as primary, a replica in sync, a connect-only node sees the primary connected.
  returned: always
  type: bool
transition:
  description: The running transition's status word (C(disabling), C(initializing), C(joining), C(connecting)), or null.
  returned: always
  type: str
primary_address:
  description: The C(Node in use) (the primary), or null.
  returned: always
  type: str
  sample: 10.0.0.11
local_address:
  description: The node's own address (its C((me)) line), or null.
  returned: always
  type: str
interface:
  description: The C(localnode) interface, or null.
  returned: always
  type: str
certificates:
  description: The certificate files the cluster is configured with, per role (null when not set).
  returned: always
  type: dict
  sample: {"server_key": "dbserver.key", "server_cert": "dbserver.crt", "client_key": "dbclient.key",
           "client_cert": "dbclient.crt", "ca_cert": "dbca.crt"}
expired:
  description: Certificate files the status marks C((expired)).
  returned: always
  type: list
  elements: str
in_sync_replicas:
  description: Addresses of the replicas listed in sync.
  returned: always
  type: list
  elements: str
primaries:
  description: Addresses listed as primary (master). More than one means a split cluster; C(healthy) is then false.
  returned: always
  type: list
  elements: str
last_command:
  description: The C(Last command) line, as C(command) and C(result) (C(Success) or C(Failed)), or null.
  returned: always
  type: dict
error:
  description: The C(ERROR) line shown above C(Status) in the Error state, or null.
  returned: always
  type: str
files:
  description: The node's file store (SFTP root), sorted.
  returned: always
  type: list
  elements: str
cluster_status:
  description:
    - The parsed status. C(status), C(status_text), C(transition), C(started_seconds_ago), C(error), C(nodes) (each
      C(address), C(me), C(connected), C(role) C(primary)/C(replica), C(in_sync), C(state)), C(node_in_use),
      C(interface), C(certificates) (each C(file) and C(expired)), C(last_command), C(primary_address),
      C(local_address), C(local_role).
  returned: always
  type: dict
waited:
  description: Seconds spent waiting for a transition (O(wait)).
  returned: always
  type: float
certificate_details:
  description: Per certificate role, the file's subject, issuer, SAN, serial, validity, C(days_left), C(expired), fingerprints and C(sha256).
  returned: when O(describe_certificates=true)
  type: dict
checked_at:
  description: Controller time the certificates were described at, ISO 8601 UTC.
  returned: when O(describe_certificates=true)
  type: str
check_certs:
  description:
    - The check of O(check_certs). C(ok), C(problems) (what is wrong, one sentence each), C(certificates) (each
      certificate described), C(files) (role to node file name), C(uploads_needed) (node files missing or
      different from their C(*_src)), C(configured) (the cluster already uses exactly these names).
  returned: when O(check_certs) is set
  type: dict
fetched:
  description: Per fetched file, its controller C(path), C(size) and C(sha256).
  returned: when O(fetch) is set
  type: dict
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._dbcluster import DB_CLUSTER_INFO_ARGS, run_info  # noqa: E402


def main() -> None:
    run_info(DB_CLUSTER_INFO_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
