#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_db_cluster
short_description: Put a Cisco Meeting Server node in a database cluster state (database cluster certs, initialize, join, connect, remove)
version_added: 0.1.0
description:
  - Drives the C(database cluster) verbs of one node from the state its C(database cluster status) shows, for the
    ordered rebuild of the TechNote "Renew expired database cluster certificates" (see the
    P(cisco_cms.mmp.db_cluster_rebuild#role) role, which runs it on every node in the right order).
  - V(absent) runs C(database cluster remove). V(certs) runs C(database cluster certs) with five files (a node that
    holds a database) or three (client key, client certificate and CA, a node that only connects). V(primary) runs
    C(database cluster localnode) and C(database cluster initialize). V(joined) runs C(localnode) and
    C(database cluster join <primary>). V(connected) runs C(localnode) and C(database cluster connect <primary>).
    With certificate files, V(primary), V(joined) and V(connected) also run C(database cluster certs) first.
  - Every C((Y/n)) question is answered with a capital C(Y), the only answer CMS takes. The node works in the
    background after the prompt returns, so the module polls the status every O(poll_interval) seconds until the
    transition has finished (the node is Disabled, the primary, a replica in sync, or connected) and fails at once
    when the status reports the command C(Failed), or after O(timeout) seconds with the last status in the error.
  - A transition already running when the module starts (a run that was cut short) is waited for first.
  - Idempotent. Nothing runs when the node is already in the wanted state with the given certificate files (same
    names in the status, same content as the O(server_key_src) ... files).
  - CMS refuses to change certificates while clustering is enabled. The module refuses too, before anything is
    sent, and says to remove the node first (O(state=absent)). A node whose status reads C(Error) but still lists
    its membership (this node connected or with a role, as after a failed C(upgrade_schema)) is clustered too. A
    node in the C(Error) state outside any cluster (a failed join) may join or connect again with the certificates
    it has.
  - The module refuses to C(initialize), C(join) or C(connect) onto certificate files the status marks
    C((expired)), because the nodes could not talk to each other. Give new certificate files (the C(db_cluster_rebuild)
    role makes them), and nothing changes before that.
  - Before C(database cluster certs), the files are checked on the controller, unless O(validate_certs=false).
    They must be present and readable, each key must match its certificate, both certificates must chain to the CA
    file, none may be expired or not yet valid, the client certificate's CN must contain C(postgres), and the server
    certificate's SAN must cover O(server_cert_names).
  - B(Call guard.) C(remove), C(initialize) and C(join) restart the node's Call Bridge and Web Admin, cutting its
    meetings. Before them the module asks the node's REST API how many call legs it carries and waits, fails or
    skips per O(on_active_calls), before any upload or command. After the transition it waits until the node is
    healthy (the API back, no new alarm and, for V(primary) and V(joined), every database node up with
    C(syncBehind) 0) within O(timeout). Without API credentials the guard is off, with a warning. See
    C(docs/calls.md).
author:
  - cisco_cms.mmp maintainers (@cisco-cms-mmp)
extends_documentation_fragment:
  - cisco_cms.mmp._connection
  - cisco_cms.mmp._api
  - cisco_cms.mmp._api.CALL_GUARD
  - cisco_cms.mmp._attributes
  - cisco_cms.mmp._attributes.CHECK_MODE_FULL
  - cisco_cms.mmp._attributes.DIFF_FULL
options:
  state:
    description:
      - V(absent), out of any cluster (C(Disabled)).
      - V(certs), configured with the certificate files (the node must be C(Disabled)).
      - V(primary), the primary of a new cluster (C((me) Connected Primary)).
      - V(joined), a replica of O(primary), in sync.
      - V(connected), a node without a database, connected to the cluster of O(primary).
    type: str
    required: true
    choices: [absent, certs, primary, joined, connected]
  primary:
    description:
      - IP address or FQDN of the primary, for V(joined) and V(connected) (C(database cluster join|connect)).
      - The node counts as joined/connected to it when its status shows this address as C(Node in use), or when its
        last successful C(join)/C(connect) named it.
    type: str
  interface:
    description: Interface for C(database cluster localnode).
    type: str
    default: a
  server_key:
    description:
      - Name of the server key file in the node's file store. Defaults to the file name of O(server_key_src).
      - O(server_key) and O(server_cert) are for nodes that hold a database; leave them out on a node that only
        connects.
    type: str
  server_cert:
    description: Name of the server certificate file on the node. Defaults to the file name of O(server_cert_src).
    type: str
  client_key:
    description: Name of the client key file on the node. Defaults to the file name of O(client_key_src).
    type: str
  client_cert:
    description:
      - Name of the client certificate file on the node (its CN must contain C(postgres)). Defaults to the file
        name of O(client_cert_src).
    type: str
  ca_cert:
    description: Name of the CA certificate file on the node. Defaults to the file name of O(ca_cert_src).
    type: str
  server_key_src:
    description:
      - Controller path of the server key. It is uploaded over SFTP (verified by SHA-256) under O(server_key)
        when the node has no such file or a different one, and only when C(database cluster certs) is to run.
      - Like every C(*_src), looked up like C(copy)'s C(src) (the role's and playbook's C(files/) directories,
        the playbook's directory, then the path as given).
    type: path
  server_cert_src:
    description: Controller path of the server certificate; uploaded like O(server_key_src).
    type: path
  client_key_src:
    description: Controller path of the client key; uploaded like O(server_key_src).
    type: path
  client_cert_src:
    description: Controller path of the client certificate; uploaded like O(server_key_src).
    type: path
  ca_cert_src:
    description: Controller path of the CA certificate; uploaded like O(server_key_src).
    type: path
  server_cert_names:
    description:
      - Names (FQDNs or IP addresses) the server certificate's subjectAltName must cover, normally every node that
        holds a database. Not checked when empty.
    type: list
    elements: str
  validate_certs:
    description: Check the certificate files before C(database cluster certs) (see the description).
    type: bool
    default: true
  remove_first:
    description:
      - A node that must leave its cluster before the wanted state (clustered, or in the C(Error) state with its
        membership or without the given files) is removed first, in the same session (C(database cluster remove),
        waited until C(Disabled)), then the rest of the plan runs. Without it such a node is refused, and nothing is sent.
      - For the ordered rebuild, on the primary once every other node has left (the TechNote's order, the others
        first and the primary last). The remove is guarded like O(state=absent); the call guard looks at the legs
        again before the next transition, and the health gate runs once, after the last one.
      - Not for O(state=absent), which is the removal.
    type: bool
    default: false
    version_added: 0.2.0
  timeout:
    description: Seconds to wait for a transition (remove, initialize, join, connect) to finish.
    type: int
    default: 300
  poll_interval:
    description: Seconds between two reads of C(database cluster status) while waiting.
    type: float
    default: 0.3
notes:
  - The C(connect) warning text and the status of a connect-only node are not shown in any public Cisco material;
    the module expects the same C((Y/n)) question as C(join), and a connect-only node's status to be C(Enabled)
    without a C((me)) line.
seealso:
  - module: cisco_cms.mmp.cms_db_cluster_info
  - module: cisco_cms.mmp.cms_backup
"""

EXAMPLES = r"""
- name: Remove a replica from the cluster (replicas first, the primary last)
  cisco_cms.mmp.cms_db_cluster:
    state: absent

- name: New certificates on a database node, uploaded from the controller
  cisco_cms.mmp.cms_db_cluster:
    state: certs
    server_key_src: certs/dbserver-2026.key
    server_cert_src: certs/dbserver-2026.crt
    client_key_src: certs/dbclient-2026.key
    client_cert_src: certs/dbclient-2026.crt
    ca_cert_src: certs/dbca-2026.crt
    server_cert_names: [cms1.example.com, cms2.example.com, cms3.example.com]

- name: Initialize the primary with files already on it
  cisco_cms.mmp.cms_db_cluster:
    state: primary
    server_key: dbserver-2026.key
    server_cert: dbserver-2026.crt
    client_key: dbclient-2026.key
    client_cert: dbclient-2026.crt
    ca_cert: dbca-2026.crt

- name: Join a replica to it
  cisco_cms.mmp.cms_db_cluster:
    state: joined
    primary: 10.0.0.11
    server_key: dbserver-2026.key
    server_cert: dbserver-2026.crt
    client_key: dbclient-2026.key
    client_cert: dbclient-2026.crt
    ca_cert: dbca-2026.crt

- name: Connect a call bridge without a database (3-file form)
  cisco_cms.mmp.cms_db_cluster:
    state: connected
    primary: 10.0.0.11
    client_key: dbclient-2026.key
    client_cert: dbclient-2026.crt
    ca_cert: dbca-2026.crt
"""

RETURN = r"""
commands:
  description: The MMP commands run (or, in check mode, that would run), without the status reads.
  returned: always
  type: list
  elements: str
  sample: ["database cluster certs dbserver.key dbserver.crt dbclient.key dbclient.crt dbca.crt",
           "database cluster localnode a", "database cluster join 10.0.0.11"]
uploaded:
  description: Node file names uploaded from their C(*_src) (in check mode, that would be uploaded).
  returned: always
  type: list
  elements: str
previous_state:
  description: The node's state before the module acted (see RV(state)).
  returned: always
  type: str
  sample: disabled
state:
  description:
    - The node's state at the end, C(disabled), C(primary), C(replica), C(client) (connected, no local database),
      C(error), C(busy) (a transition running) or C(enabled) (a role not recognised). In check mode, the state
      before.
  returned: always
  type: str
  sample: replica
cluster_status:
  description:
    - The last C(database cluster status), parsed as M(cisco_cms.mmp.cms_db_cluster_info) returns it.
  returned: always
  type: dict
certificates:
  description: What the certificate files were found to be when checked, per role (subject, issuer, SAN, validity, fingerprints).
  returned: when C(database cluster certs) runs and O(validate_certs=true)
  type: dict
waited:
  description: Seconds spent polling the status for transitions to finish.
  returned: always
  type: float
call_guard:
  description:
    - What the call guard decided on this node (see C(docs/calls.md) in the collection); null when the change
      drops no calls or the guard is off (no API credentials).
    - C(node), C(decision) (V(proceed), V(skip), V(force); in check mode V(would_wait), V(would_fail),
      V(would_skip)), C(legs_at_decision), C(waited_s) (seconds waited for the calls to end), C(reason),
      C(legs_dropped) (active legs read right before the step that drops them; 0 expected, null when not reached or
      unknown), C(health_waited_s) (seconds the health gate after the change waited), C(alarms_before).
  returned: always
  type: dict
  sample: {"node": "cms2", "decision": "proceed", "legs_at_decision": 0, "waited_s": 41.5,
           "reason": "waited for the calls to end", "legs_dropped": 0, "health_waited_s": 0.3, "alarms_before": []}
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._dbcluster import DB_CLUSTER_ARGS, run_cluster  # noqa: E402


def main() -> None:
    run_cluster(DB_CLUSTER_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
