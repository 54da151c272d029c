#!/usr/bin/python
# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cms_service_certs
short_description: Put a new key, certificate and bundle on one Cisco Meeting Server service, safely
version_added: 0.1.0
description:
  - Applies a key, a certificate and a CA bundle to one service of a CMS node (webadmin, callbridge, turn;
    webbridge3 on CMS 3.x; webbridge and xmpp on CMS 2.x), with the sequence of the TechNote "Generate CSR and apply
    certificates to CMS". webadmin, webbridge, webbridge3, xmpp and turn get C(<service> disable),
    C(<service> certs ...), C(<service> enable); callbridge gets C(callbridge certs ...), C(callbridge restart).
  - The files are node files (O(key), O(cert), O(bundle)) or controller files the module uploads over SFTP first
    (O(key_src), O(cert_src), O(bundle_src)), verified by SHA-256. Uploaded certificates and bundles are written
    as CMS wants them, PEM blocks only, LF line ends, exactly one trailing newline (CRLF files are converted).
  - B(Validation before the service is touched.) The files exist; the key is not encrypted and matches the
    certificate (C(pki match) on the node and again locally); the certificate file and bundle are in chain order
    (entity, intermediates, root CA last) and the chain verifies (C(pki verify) on the node and again locally);
    the certificate is neither expired nor not yet valid; its SAN covers every name in O(names). Any failure ends
    the task with a message saying what is wrong and how to fix it, and the service keeps running untouched.
  - B(Idempotent by content.) The module reads which files the service uses (its status), fingerprints them
    (SHA-256 of the certificate chain and of the key's public part) and compares them with the wanted material.
    The same content under other names is no change. When the service still serves an older certificate of the
    same key than its files hold (files renewed under the same names), it is reloaded, as the TechNote says.
  - B(The desired state includes the running state.) A service that is disabled or stopped is started on its
    configured files (C(<service> enable), C(callbridge restart)). A service configured with the wanted files that
    still serves an older certificate of the same name (common name, or the whole SAN; configured, never
    restarted, for example after a run was killed between C(callbridge certs) and C(callbridge restart)) is
    restarted. Each is a change, with the
    reason in RV(reasons) and in the diff.
  - B(Refused before any change), besides the checks below, a certificate or bundle source that holds a private
    key block, and a new certificate whose SAN drops names the one in use has (unless O(allow_san_shrink)).
  - B(Files in use are never overwritten or deleted.) They are what a rollback goes back to. An upload whose name
    is in use with other content is refused when the name was given, or goes to a name derived from the content
    (C(<stem>-<sha256 prefix><ext>)) when it was taken from the source file.
  - B(Minimal outage.) Uploads and checks happen first; then the disable/certs/enable (or certs/restart) commands
    run back to back. RV(outage_seconds) is the measured time the service was down.
  - B(Live check and rollback.) After the change the module connects to the service's TLS endpoint and requires
    the new leaf certificate, with a chain that verifies up to the deployed root CA. If that, or any step after the
    service went down, fails, the previous files are applied again, the service is enabled again, and the task
    fails saying the old certificate is back in place. After a dropped connection the rollback reconnects for up
    to O(reconnect_timeout) seconds and checks the real state first (see there).
  - A node that cannot be reached at the start is reported as unreachable (C(unreachable) in the result), so
    Ansible counts the host as unreachable; nothing was done on it.
  - O(state=validated) uploads and checks everything but never touches the service, as a preflight for a fleet.
  - B(Call guard.) When the change restarts the Call Bridge or stops Web Bridge 3, Web Bridge or Web Admin, the
    module first asks the node's REST API how many call legs it carries and waits, fails or skips per
    O(on_active_calls), before the lock, the uploads or any command (a skipped or failed node is untouched).
    Right before the stop it reads the legs once more (C(legs_dropped) of RV(call_guard)). After the change it waits
    for the node to be healthy again (the API back, no alarm that was not there before); a failing gate fails the
    task, which stops a rollout before the next node. Check mode reads the API and says what it would wait for.
    Without API credentials the guard is off, with a warning. When the Web Admin certificate moves to a new CA,
    O(api_ca_file) must hold both the old and the new root. See C(docs/calls.md).
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
  service:
    description:
      - The service. V(webbridge3) exists on CMS 3.x only; V(webbridge) and V(xmpp) on CMS 2.x only. The module
        finds the node's release itself and refuses a service the node does not have.
      - Exactly one of O(service) and O(services) is required.
    type: str
    choices: [callbridge, turn, webadmin, webbridge, webbridge3, xmpp]
  services:
    description:
      - Several services of the node in one call, on one SSH session, in the order given; each entry takes the
        per-service options below (the others, O(state), O(run_id), the TLS and call guard options, are the call's).
        Instead of O(service) and the per-service options at the top level.
      - The node's state is read once for all of them (what a change makes stale is read again before the next
        service), each file is listed, downloaded or uploaded once, and the node's lock is taken once.
      - With O(state=present) the first failure (after its rollback) ends the call; the services after it are not
        reached (C(reached=false) in RV(services)). With O(state=validated) every service is checked and the call
        fails when any failed, listing each.
      - A node the call guard skips (busy) keeps its other services too (C(skipped_busy)).
      - The result has one entry per service in RV(services), with the keys of a single-service result, and the
        top-level C(changed), RV(commands) (all of them), RV(outage_seconds) (the sum), RV(in_place) and RV(lock).
        In diff mode, one diff per service.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      service:
        description: The service (see O(service)); each once.
        type: str
        required: true
        choices: [callbridge, turn, webadmin, webbridge, webbridge3, xmpp]
      key:
        description: See O(key). One of O(services[].key) and O(services[].key_src) is required.
        type: str
      key_src:
        description: See O(key_src).
        type: path
      cert:
        description: See O(cert). One of O(services[].cert) and O(services[].cert_src) is required.
        type: str
      cert_src:
        description: See O(cert_src).
        type: path
      bundle:
        description: See O(bundle).
        type: str
      bundle_src:
        description: See O(bundle_src).
        type: path
      c2w_key:
        description: See O(c2w_key).
        type: str
      c2w_key_src:
        description: See O(c2w_key_src).
        type: path
      c2w_cert:
        description: See O(c2w_cert).
        type: str
      c2w_cert_src:
        description: See O(c2w_cert_src).
        type: path
      c2w_trust:
        description: See O(c2w_trust).
        type: str
      c2w_trust_src:
        description: See O(c2w_trust_src).
        type: path
      names:
        description: Names this service's certificate must cover, besides the call's O(names).
        type: list
        elements: str
        default: []
      tls_check:
        description: See O(tls_check); unset, the call's.
        type: bool
      tls_port:
        description: See O(tls_port).
        type: int
      c2w_tls_port:
        description: See O(c2w_tls_port).
        type: int
  state:
    description:
      - V(present) applies the material to the service.
      - V(validated) uploads the files and runs every check, locally and on the node, without touching the
        service.
    type: str
    default: present
    choices: [present, validated]
  key:
    description:
      - Name of the private key file on the node (for example one C(pki csr) made).
      - With O(key_src), the name to upload it as (default, the source file's name).
      - For V(webbridge3), the key of its HTTPS side.
    type: str
  key_src:
    description:
      - Controller file holding the private key, uploaded to the node. Encrypted keys are refused (the MMP has no
        passphrase prompt).
      - Looked up like C(copy)'s C(src) (the role's and playbook's C(files/) directories, then the path as given).
    type: path
  cert:
    description:
      - Name of the certificate file on the node. It may hold the chain after the entity certificate.
      - With O(cert_src), the name to upload it as (default, the source file's name).
      - For V(webbridge3), the HTTPS full chain (entity, intermediates, root CA). When O(bundle) or O(bundle_src)
        is given as well, the module builds that full chain from the certificate and the bundle and uploads it as
        O(cert) (with O(cert_src)) or as C(<certificate stem>-fullchain<ext>).
    type: str
  cert_src:
    description: Controller file holding the certificate, uploaded to the node (see O(key_src) for the lookup).
    type: path
  bundle:
    description:
      - Name of the CA bundle file on the node (intermediates, then the root CA).
      - With O(bundle_src), the name to upload it as (default, the source file's name).
      - Required unless the certificate file holds its chain or is self-signed.
    type: str
  bundle_src:
    description: Controller file holding the CA bundle, uploaded to the node in CMS's layout.
    type: path
  c2w_key:
    description: V(webbridge3) only. Key file of the C2W (Call Bridge to web bridge) side; goes with O(c2w_cert).
    type: str
  c2w_key_src:
    description: V(webbridge3) only. Controller file of the C2W key.
    type: path
  c2w_cert:
    description: V(webbridge3) only. Full chain file of the C2W side (C(webbridge3 c2w certs <key> <fullchain>)).
    type: str
  c2w_cert_src:
    description: V(webbridge3) only. Controller file of the C2W full chain.
    type: path
  c2w_trust:
    description:
      - V(webbridge3) and V(callbridge) only. The two ends of the C2W (Call Bridge to web bridge) link trust each
        other.
      - On V(webbridge3), the bundle the web bridge trusts Call Bridges by (C(webbridge3 c2w trust <bundle>)).
      - On V(callbridge) (CMS 3.x), the certificates the Call Bridge trusts the web bridges' C2W side by
        (C(callbridge trust c2w <bundle>); Cisco's example gives the web bridge's full chain). Applied with the
        Call Bridge's C(restart), together with new certificates when they change too.
      - When the certificates of one end move to another CA, the other end's trust must hold that CA before they
        switch.
    type: str
  c2w_trust_src:
    description: V(webbridge3) and V(callbridge) only. Controller file of the C2W trust bundle.
    type: path
  names:
    description:
      - With O(services), names every service's certificate must cover (added to each entry's own).
      - Names the certificate must cover in its SAN (DNS names, a wildcard covering one label, IP addresses), for
        example the node FQDN, the cluster FQDN, the web bridge join URL host or the XMPP domain.
    type: list
    elements: str
    default: []
  tls_check:
    description:
      - Check the service over TLS before and after the change (see the description). Set V(false) when the
        controller cannot reach the service's TLS port.
    type: bool
    default: true
  tls_host:
    description: Address of the service's TLS endpoint. Default, O(host) (the node's C(ansible_host)).
    type: str
  tls_port:
    description:
      - Port of the service's TLS endpoint (for V(webbridge3), its HTTPS side).
      - Default, the port the service's status shows (webadmin C(TLS listening port), webbridge3 and webbridge
        listen port, turn C(TLS port)), or 5061 (SIP TLS) for callbridge. V(xmpp) negotiates TLS inside XMPP, so it
        is checked only when this is set.
    type: int
  c2w_tls_port:
    description: V(webbridge3) only. Port of its C2W endpoint. Default, the port C(C2W listening ports) shows.
    type: int
  tls_timeout:
    description: Seconds to wait for the service to complete a TLS handshake after it was enabled.
    type: int
    default: 30
  reconnect_timeout:
    description:
      - Seconds a rollback keeps trying to reach the node again after the connection dropped (a network blip, a
        node reboot), with a growing pause between tries (1 s doubling, at most 10 s). Above 0.
      - Once back, the module reads the service's real state first. When the whole change had taken effect and
        passes its checks (the drop came after the last step), nothing is rolled back. Otherwise the previous files
        are configured again, and only then is the service enabled.
      - When the node does not come back in time, the task fails with the exact MMP commands that restore the
        previous files by hand.
    type: int
    default: 300
  allow_san_shrink:
    description:
      - The new certificate must cover every name in the SAN of the certificate the service uses now (clients that
        reach the service by a dropped name would fail). Set V(true) to allow dropping names on purpose.
    type: bool
    default: false
  run_id:
    description:
      - The run this change belongs to. A call that uploads or changes anything holds the node's lock
        (C(cisco_cms_mmp.lock) in its file store, see C(docs/concurrency.md)) while it works, and another run that
        holds it makes the call fail before anything changes, naming the holder.
      - With a O(run_id) (the C(service_certs) role passes its own), the lock of that run is taken or refreshed and
        left for the run to release. Without one, the call takes a lock of its own and releases it when it ends.
    type: str
  release_lock:
    description:
      - With O(services) and O(run_id), when the call releases the run's lock. Any value but V(never) also makes the
        call take (or refresh) the run's lock first, before it reads anything, even when it only reads.
      - V(never), the lock of O(run_id) is taken only by a call that writes, and left for the run to release.
      - V(keep), taken first and left for the run to release (a role's preflight before a CA change's trust step).
      - V(end), released when the call ends, whatever the outcome (a role's rollout call).
      - V(if_unchanged), released only when nothing needs changing on the node (RV(in_place)) and nothing failed
        (a role's preflight call; a node already in place then holds no lock and needs no second login).
      - Check mode takes no lock.
    type: str
    default: never
    choices: [never, keep, end, if_unchanged]
    version_added: 0.2.0
  validate_on_node:
    description:
      - With O(state=validated), V(false) leaves out what needs the files on the node (the uploads and C(pki match),
        C(pki verify)), so the call writes nothing but the lock. The C(service_certs) role's preflight does this,
        so that nothing is written before every node is locked; its rollout uploads and runs the node's checks
        before it touches a service.
    type: bool
    default: true
    version_added: 0.2.0
  c2w_peer_chains:
    description:
      - With O(services), controller files of the new Web Bridge 3 C2W certificate chains of the nodes (this one's
        and its peers'). The call fails, before anything is uploaded or changed, when this node's Call Bridge C2W
        trust store is set and holds no certificate of one of them (once a web bridge presents such a certificate,
        this Call Bridge drops its C2W link). Files of the same content are checked once. A store that is not set
        (or a CMS 2.x node) checks nothing.
      - Looked up like O(key_src).
    type: list
    elements: path
    default: []
    version_added: 0.2.0
  lock_ttl:
    description: With O(services), seconds the lock the call takes lasts when its run dies without releasing it.
    type: int
    default: 3600
    version_added: 0.2.0
  break_lock:
    description:
      - Take the node's lock even though another run holds it. Only for a lock left by a run known to be dead;
        a lock whose run died also expires on its own after an hour.
    type: bool
    default: false
notes:
  - Runs on the controller (the action plugin opens the SSH/SFTP session to the node); CMS has no Python.
  - A service that was disabled is enabled at the end of the change, as the TechNote's sequence does.
  - The module uses C(cryptography) on the controller.
  - The C(cisco_cms.mmp.service_certs) role rolls certificates out across a fleet with this module (a preflight
    on every node first, serial batches, a summary); see C(docs/service_certs.md) in the collection.
seealso:
  - module: cisco_cms.mmp.cms_pki_csr
  - module: cisco_cms.mmp.cms_pki_info
"""

EXAMPLES = r"""
- name: New webadmin certificate, key made on the node by pki csr, certificate and bundle from the controller
  cisco_cms.mmp.cms_service_certs:
    service: webadmin
    key: cms1-2027.key
    cert_src: certs/cms1-2027.cer
    bundle_src: certs/ca-bundle.cer
    names: [cms1.example.com]

- name: Web Bridge 3 with a full chain built from the certificate and the bundle
  cisco_cms.mmp.cms_service_certs:
    service: webbridge3
    key: cms1-2027.key
    cert_src: certs/cms1-2027.cer
    bundle_src: certs/ca-bundle.cer
    names: [cms1.example.com, join.example.com]

- name: Files already on the node; preflight only
  cisco_cms.mmp.cms_service_certs:
    service: callbridge
    key: cluster-2027.key
    cert: cluster-2027.cer
    bundle: ca-bundle-2027.cer
    names: [cms.example.com, cms1.example.com]
    state: validated
"""

RETURN = r"""
services:
  description:
    - With O(services), one result per entry, in order, with the keys of a single-service result (RV(before),
      RV(after), RV(parts), RV(commands), RV(outage_seconds), RV(reasons), RV(service_state), RV(call_guard),
      RV(c2w_trust), RV(notes), RV(rolled_back) ...), plus C(failed) and C(msg) for the one that failed,
      C(reached=false) for one the call did not get to, C(skipped_busy) for one left because the call guard skipped
      the node.
  returned: when O(services) is given
  type: list
  elements: dict
in_place:
  description: Whether O(state=present) would upload nothing and run no command (for O(services), on every service).
  returned: success
  type: bool
lock:
  description: With O(services), the lock of the call, C(run_id), C(taken) (held during the call) and C(released).
  returned: when O(services) is given
  type: dict
c2w_peer_check:
  description: With O(c2w_peer_chains), the C2W trust C(bundle) checked, what it C(trusted), and the chains it does
    not trust (C(untrusted)).
  returned: when O(c2w_peer_chains) is given and the store is set
  type: dict
commands:
  description: The MMP commands that change the service, run (or, in check mode, planned), rollback included.
  returned: always
  type: list
  elements: str
  sample: ["webadmin disable", "webadmin certs cms1-2027.key cms1-2027.cer ca-bundle.cer", "webadmin enable"]
checks:
  description: The checks run on the node (C(pki match), C(pki verify)) and their results.
  returned: always
  type: list
  elements: dict
uploads:
  description: Files uploaded (or to upload, in check mode), with C(name), C(source), C(sha256) (null for keys),
    C(normalized), C(moved_from) (the name in use it stepped aside from) and C(uploaded).
  returned: always
  type: list
  elements: dict
before:
  description:
    - What the service used before (for webbridge3, its HTTPS side), or null when it had no usable certificate.
    - C(key), C(cert), C(bundle), C(subject), C(issuer), C(san), C(serial), C(not_before), C(not_after),
      C(days_left), C(fingerprint_sha256), C(public_key_sha256), C(chain).
  returned: always
  type: dict
after:
  description: The wanted material, with the same keys as RV(before).
  returned: always
  type: dict
parts:
  description: Per certificate part (C(main); webbridge3 C(https), C(c2w)), C(changed), C(before) and C(after).
  returned: always
  type: dict
c2w_trust:
  description: The C2W trust store file, C(before) and C(after), and whether it C(changed).
  returned: when O(c2w_trust) or O(c2w_trust_src) is given
  type: dict
  sample: {"before": "cms1-2025-fullchain.cer", "after": "cms1-2027-fullchain.cer", "changed": true}
outage_seconds:
  description: Measured seconds the service was down (from the disable or restart to the end of the enable or
    restart), rollback included. 0 without a change.
  returned: always
  type: float
  sample: 0.42
reloaded:
  description: The files were unchanged but the service served an older certificate of the same key; it was
    reloaded.
  returned: always
  type: bool
tls:
  description: What the TLS endpoint served, C(before) the change, C(after) it and after a C(rollback).
  returned: always
  type: dict
cms_major:
  description: The node's CMS major release (2 or 3), as the node shows it.
  returned: always
  type: int
rolled_back:
  description: On failure after the service went down, whether the previous files are back in place.
  returned: on failure
  type: bool
notes:
  description: Remarks, for example that the service already runs the certificate from other file names.
  returned: always
  type: list
  elements: str
reasons:
  description: Why the service is changed (new content, disabled or stopped, serving an older certificate than it
    is configured with); empty without a change.
  returned: always
  type: list
  elements: str
  sample: ["webadmin is disabled"]
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
service_state:
  description:
    - The state the service was left in, C(enabled), C(running), the configured C(cert), the C(serving) subject and
      C(serving_fingerprint_sha256) the TLS endpoint presented (null when not checked), and C(serves_configured),
      whether that is the wanted certificate (null when not checked).
    - Empty when a failed rollback left the state unknown.
  returned: always
  type: dict
  sample: {"enabled": true, "running": true, "cert": "cms1-2027.cer", "serving": "CN=cms1.example.com",
           "serving_fingerprint_sha256": "5d1c...", "serves_configured": true}
"""

from ansible_collections.cisco_cms.mmp.plugins.module_utils._services import SERVICE_CERTS_ARGS, run_service_certs  # noqa: E402


def main() -> None:
    run_service_certs(SERVICE_CERTS_ARGS.create_ansible_module())


if __name__ == "__main__":
    main()
