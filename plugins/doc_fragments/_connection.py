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
      - Without it, the C(Port) of O(ssh_common_args) (C(-o Port=) or C(-p)) or of the host's OpenSSH client config
        entry, else V(22).
    type: int
  username:
    description:
      - MMP user (role C(admin) or C(crypto) for certificate work). Filled from C(ansible_user).
      - Without it, the C(User) of O(ssh_common_args) or of the host's OpenSSH client config entry, else V(admin).
    type: str
  password:
    description:
      - Password of O(username). Filled from C(ansible_password) (or C(ansible_ssh_pass), or C(--ask-pass)).
      - Never logged nor returned.
    type: str
  private_key_file:
    description:
      - Private key for public-key login. Filled from C(ansible_ssh_private_key_file).
      - Without it, the C(IdentityFile) of O(ssh_common_args) (C(-i) or C(-o IdentityFile=)) or of the host's OpenSSH
        client config entry.
      - With neither a password nor a key file, the keys of the running C(ssh-agent) (C(SSH_AUTH_SOCK)) are used,
        which is how an AWX Machine credential with an SSH key hands its key over.
    type: path
  private_key_passphrase:
    description:
      - Passphrase of O(private_key_file). Filled from C(ansible_ssh_private_key_passphrase) or C(cms_private_key_passphrase). Never logged nor returned.
    type: str
  known_hosts_file:
    description:
      - OpenSSH C(known_hosts) file the node's host key is verified against. Filled from the C(cms_known_hosts)
        variable.
      - Without it, the C(UserKnownHostsFile) of O(ssh_common_args) or of the host's OpenSSH client config entry, else
        C(~/.ssh/known_hosts).
      - Jump hosts are verified the same way, against their own config entry's C(UserKnownHostsFile) or this file.
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
      - Seconds to wait for the TCP connection, the SSH banner, the login and the first prompt (each jump host too).
        A node that does not answer in that time is reported as unreachable.
      - Filled from C(ansible_ssh_timeout), or the C(timeout) setting of C([defaults]) in C(ansible.cfg) or
        E(ANSIBLE_TIMEOUT) when set there. Without any, the C(ConnectTimeout) of O(ssh_common_args) or of the host's
        OpenSSH client config entry, else V(30).
      - 1 or more; V(0) or less is refused before any connection.
    type: int
  command_timeout:
    description:
      - Seconds to wait for one MMP command to return to the prompt. The error shows the last output.
      - Filled from C(ansible_command_timeout).
      - 1 or more; V(0) or less is refused before any connection.
    type: int
    default: 120
  proxy_jump:
    description:
      - Jump hosts to reach the node through, as OpenSSH's C(ProxyJump) (C(-J)) takes them,
        C([user@]host[:port]), several separated by commas and used in that order.
      - Filled from the C(cms_proxy_jump) variable; without it, from C(-J) or C(-o ProxyJump=) in O(ssh_common_args),
        else from the host's OpenSSH client config entry. V(none) connects directly.
      - Each jump host is looked up in the OpenSSH client config (C(HostName), C(Port), C(User), C(IdentityFile),
        C(UserKnownHostsFile)); it logs in with that key, the ssh-agent or C(~/.ssh) keys, never with O(password).
        Its host key is verified like the node's. One SSH connection per jump host, the next carried inside it.
    type: str
  proxy_command:
    description:
      - A command whose standard input and output carry the SSH connection to the node, as OpenSSH's
        C(ProxyCommand) (for example C(ssh -W %h:%p bastion)); C(%h), C(%p), C(%r) are the node's address, port and
        user.
      - Filled from the C(cms_proxy_command) or C(ansible_paramiko_proxy_command) variable; without it, from
        C(-o ProxyCommand=) in O(ssh_common_args), else from the host's OpenSSH client config entry.
      - The first of O(proxy_jump) and O(proxy_command) that is set wins, as in OpenSSH.
    type: str
  ssh_config_file:
    description:
      - OpenSSH client config read for the node and each jump host, matched the way OpenSSH matches C(Host)
        patterns against O(host) (C(HostName), C(Port), C(User), C(IdentityFile), C(ProxyJump), C(ProxyCommand),
        C(UserKnownHostsFile), C(ConnectTimeout), C(ServerAliveInterval)). Filled from the C(cms_ssh_config_file)
        variable.
      - Without it, the C(-F) file of O(ssh_common_args), else C(~/.ssh/config) when it exists. V(none) reads none.
    type: path
  ssh_args:
    description:
      - The ssh arguments Ansible's C(ssh) connection takes from C(ssh_args) (C(ansible_ssh_args), the
        C([ssh_connection]) setting or E(ANSIBLE_SSH_ARGS)), read the same way as O(ssh_common_args).
    type: str
  ssh_common_args:
    description:
      - ssh command-line arguments, filled from C(ansible_ssh_common_args) (or its C(ansible.cfg) and environment
        settings) with the precedence of Ansible's C(ssh) connection.
      - Understood, as the C(ssh) command reads them (the first value of a setting wins) - C(-J), C(-F), C(-p),
        C(-l), C(-i), and C(-o) with C(ProxyJump), C(ProxyCommand), C(Port), C(User), C(IdentityFile),
        C(ConnectTimeout), C(ServerAliveInterval), C(UserKnownHostsFile), C(HostName). C(-C), C(ControlMaster),
        C(ControlPersist) and C(ControlPath) tune OpenSSH's own connection reuse and are ignored quietly; anything
        else is ignored with a warning that names it.
      - The module options above (task option > host variable > group variable) win over these arguments, which win
        over the OpenSSH client config.
    type: str
  ssh_extra_args:
    description:
      - ssh command-line arguments, filled from C(ansible_ssh_extra_args), read the same way as O(ssh_common_args)
        (after them).
    type: str
notes:
  - CMS nodes have no Python. The module runs on the controller, inside its action plugin, and drives the node's
    MMP over one SSH connection (an interactive shell and SFTP); nothing is executed on the node but MMP commands.
  - Connection options come from the host's inventory variables unless given as task options or through
    C(module_defaults) for C(group/cisco_cms.mmp.cms). Set C(gather_facts) to V(false) in plays that target CMS nodes.
  - A node that cannot be reached (refused, silent, no route, a jump host or ProxyCommand that fails) is reported as
    unreachable, as Ansible reports SSH hosts; a refused login or host key fails the task.
  - C(ansible_host_key_checking) and E(ANSIBLE_HOST_KEY_CHECKING) are deliberately not honoured; host keys are
    always verified, see O(host_key_checking).
requirements:
  - paramiko >= 3.4 (on the controller)
"""
