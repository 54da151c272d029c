# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The SSH connection to a CMS node's MMP, shared by every module of the collection.
    DOCUMENTATION = r"""
options:
  host:
    description:
      - Address of the CMS node's MMP (SSH) interface.
      - Filled from the host's C(ansible_host) by the module's action plugin; defaults to the inventory hostname.
    type: str
    required: true
  port:
    description:
      - SSH port of the MMP. Filled from C(ansible_port).
    type: int
    default: 22
  username:
    description:
      - MMP user (role C(admin) or C(crypto) for certificate work). Filled from C(ansible_user).
    type: str
    default: admin
  password:
    description:
      - Password of O(username). Filled from C(ansible_password) (or C(ansible_ssh_pass), or C(--ask-pass)).
      - Never logged nor returned.
    type: str
  private_key_file:
    description:
      - Private key for public-key login. Filled from C(ansible_ssh_private_key_file).
      - One of O(password) or O(private_key_file) is needed.
    type: path
  private_key_passphrase:
    description:
      - Passphrase of O(private_key_file). Filled from C(ansible_ssh_private_key_passphrase) or C(cms_private_key_passphrase). Never logged nor returned.
    type: str
  known_hosts_file:
    description:
      - OpenSSH C(known_hosts) file the node's host key is verified against. Filled from the C(cms_known_hosts)
        variable.
      - Defaults to C(~/.ssh/known_hosts).
    type: path
  host_key:
    description:
      - Pin the node's host key instead of using O(known_hosts_file), either as an OpenSSH fingerprint
        C(SHA256:...) or as a public key line C(ssh-ed25519 AAAA...). Filled from the C(cms_host_key) variable.
    type: str
  host_key_checking:
    description:
      - V(strict) refuses a node whose host key is unknown or different (the default).
      - V(accept_new) is an explicit opt-in to trust on first use. An unknown key is added to O(known_hosts_file);
        a changed key is still refused. Filled from the C(cms_host_key_checking) variable.
    type: str
    choices: [strict, accept_new]
    default: strict
  connect_timeout:
    description:
      - Seconds to wait for the TCP connection, the SSH handshake, the login and the first prompt.
    type: int
    default: 30
  command_timeout:
    description:
      - Seconds to wait for one MMP command to return to the prompt. The error shows the last output.
    type: int
    default: 120
notes:
  - CMS nodes have no Python. The module runs on the controller, inside its action plugin, and drives the node's
    MMP over one SSH connection (an interactive shell and SFTP); nothing is executed on the node but MMP commands.
  - Connection options come from the host's inventory variables unless given as task options or through
    C(module_defaults) for C(group/cisco_cms.mmp.cms). Set C(gather_facts) to V(false) in plays that target CMS nodes.
requirements:
  - paramiko >= 3.4 (on the controller)
"""
