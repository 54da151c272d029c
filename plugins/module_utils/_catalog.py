# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The service catalog: every fact about a certificate-bearing CMS service, in one table.

Which CMS releases have it, the labels of its status block, its outage sequence, the certificate *parts* it
presents (each a key and a certificate, with or without a separate bundle, and a TLS endpoint), what it trusts
others by, and what its certificate must name.  The command builder, the parsers, the verb sets, the report and
the CSR plan read these facts here; none of them branches on a service's name.  A new service is one entry.

One word for one thing: a *part* is one key/certificate pair a service presents.  Every service has one part,
``main``, except webbridge3, which has ``https`` and ``c2w`` (the Call Bridge to web bridge link).

Sources: docs/dev/mmp_reference.md (its #marks: [H] seen verbatim in a Cisco transcript, [M], [L], [GUESS]; its
#sources: the S ids) and the TechNote "Generate CSR and apply certificates to CMS".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError

MAIN_PART = "main"  # the one part of every service that has one certificate


@dataclass(frozen=True)
class Part:
    """One key/certificate pair a service presents, as its parsed status and the module's options name it.

    ``bundle_field`` is ``None`` for a part that takes a full chain instead of a separate bundle.  Its TLS port
    comes from the module option ``port_option``, else from the parsed status field ``port_field`` (a port number, or
    a parsed listen list of ``{interface, port}``: the first port it names), else ``default_port``.
    """

    name: str = MAIN_PART
    key_field: str = "key"
    cert_field: str = "cert"
    bundle_field: str | None = "bundle"
    option_prefix: str = ""  # the module options of its files: key/cert (""), c2w_key/c2w_cert ("c2w_")
    port_option: str = "tls_port"
    port_field: str | None = None
    default_port: int | None = None
    listen_field: str | None = None  # the status field listing where it listens, when it has one of its own

    def option(self, kind: str) -> str:
        """The module option naming this part's ``kind`` file (``key``, ``cert``)."""
        return self.option_prefix + kind

    def files(self, status: Mapping[str, object]) -> dict[str, str | None]:
        """``{key, cert, bundle}``: the file names a parsed status shows for this part."""

        def value(name: str | None) -> str | None:
            found = status.get(name) if name else None
            return found if isinstance(found, str) else None

        return {"key": value(self.key_field), "cert": value(self.cert_field), "bundle": value(self.bundle_field)}

    def status_port(self, status: dict[str, object]) -> int | None:
        """The TLS port a parsed status shows for this part (or its default port), ``None`` when unknown."""
        value = status.get(self.port_field) if self.port_field else None
        if isinstance(value, list):
            for item in value:
                port = item.get("port") if isinstance(item, Mapping) else None
                if isinstance(port, int) and not isinstance(port, bool):
                    return port
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        elif isinstance(value, str) and value.isdigit():
            return int(value)
        return self.default_port


@dataclass(frozen=True)
class Trust:
    """A trust store of a service: the command words that set it, the releases that have it, its status field.

    ``words`` follow the service's name: ``callbridge trust cluster <bundle>``.  ``option`` is the cms_service_certs
    option that names its file (``""``: not managed by that module yet).  ``verify_field``/``verify_words``: the
    status field of its verification mode and the words that set it (``callbridge ucm verify enable|disable``).
    ``clear`` is the word that empties it, when the MMP has one.  ``mark`` is how sure the command's shape is
    (docs/dev/mmp_reference.md#trust-stores).
    """

    words: tuple[str, ...]
    majors: tuple[int, ...]
    field: str = "c2w_trust"
    option: str = "c2w_trust"
    verify_field: str | None = None
    verify_words: tuple[str, ...] = ()
    clear: str | None = "none"  # [GUESS] every status prints `none` for an empty store [H]
    mark: str = "H"

    @property
    def name(self) -> str:
        """The store's name in the admin's words, from its status field: ``c2w``, ``cluster``, ``ucm``."""
        return self.field[: -len("_trust")] if self.field.endswith("_trust") else self.field


@dataclass(frozen=True)
class Service:
    """A certificate-bearing MMP service.

    ``labels`` maps a normalized field to the status labels that show it (first one present wins);
    ``list_fields`` hold space-separated lists; ``secret_labels`` are never returned; ``status_guessed`` marks a
    status block no public transcript shows ([GUESS], the 2.x-only services).  ``sequence`` is the outage
    sequence of docs/dev/mmp_reference.md#service-rules, ``certs`` standing for the certs command(s).  ``parts``
    are the certificates it presents, the first one its primary; ``c2w_trust`` the trust store of the C2W link;
    ``trusts`` every trust store it has (``trust_fields``: their status fields, each naming a file in use);
    ``flag_fields`` read ``enabled|disabled``.  ``absent_hint`` says what to use on a release that lacks it.  The CSR
    facts:
    ``csr_join_names`` (its certificate names the web bridge join URLs), ``csr_xmpp_domain`` (it names the XMPP
    domain on a node that runs the XMPP server), ``xmpp_server``, and ``cluster_identity`` (in a cluster it
    presents the cluster FQDN, shared by every node, rather than the node's own).
    """

    name: str
    majors: tuple[int, ...]
    labels: dict[str, tuple[str, ...]]
    sequence: tuple[str, ...]
    lifecycle: tuple[str, ...]
    parts: tuple[Part, ...] = (Part(),)
    c2w_trust: Trust | None = None
    trusts: tuple[Trust, ...] = ()
    flag_fields: tuple[str, ...] = ()
    list_fields: tuple[str, ...] = ()
    secret_labels: tuple[str, ...] = ()
    status_guessed: bool = False
    absent_hint: str = ""
    csr_join_names: bool = False
    csr_xmpp_domain: bool = False
    xmpp_server: bool = False
    cluster_identity: bool = False

    @property
    def trust_fields(self) -> tuple[str, ...]:
        """Every status field naming a file it trusts others by (each a file in use)."""
        return tuple(trust.field for trust in self.trusts)

    def trust(self, name: str) -> Trust:
        """The trust store called ``name`` (``c2w``, ``cluster``, ``ucm``...)."""
        for trust in self.trusts:
            if trust.name == name:
                return trust
        raise KeyError(name)

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(part.name for part in self.parts)

    @property
    def primary(self) -> Part:
        """The part the service is known by: its one certificate, webbridge3's HTTPS side."""
        return self.parts[0]

    @property
    def accepts_bundle(self) -> bool:
        """Whether its certs command takes a separate bundle (webbridge3 takes full chains instead)."""
        return all(part.bundle_field is not None for part in self.parts)

    @property
    def single(self) -> bool:
        """One certificate: its certs command names no part."""
        return self.part_names == (MAIN_PART,)

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    def endpoint(self, part: Part) -> str:
        """The name of a part's TLS endpoint in a ``{endpoint: port}`` map: the service's name for its primary
        part, ``<service>-<part>`` for another (``webbridge3-c2w``), as the simulator's ``cms_tls_ports`` has it."""
        return self.name if part == self.primary else "%s-%s" % (self.name, part.name)

    @property
    def file_options(self) -> tuple[str, ...]:
        """The cms_service_certs options that name a file for it (without the ``*_src`` twins)."""
        options = ["key", "cert", "bundle"]
        for part in self.parts[1:]:
            options += [part.option("key"), part.option("cert")]
        if self.c2w_trust is not None:
            options.append(self.c2w_trust.option)
        return tuple(options)

    @property
    def file_fields(self) -> tuple[str, ...]:
        """Every status field that names a file it uses: its parts' keys, certificates, bundles, then its trusts."""
        fields: list[str] = []
        for part in self.parts:
            fields += [f for f in (part.key_field, part.cert_field, part.bundle_field) if f]
        return tuple(fields) + self.trust_fields


_WEB_BRIDGE_3 = (
    # [H] `webbridge3 https certs <key> <fullchain>` and `webbridge3 c2w certs <key> <fullchain>`: full chains, no
    # separate bundle.  Each side listens on its own `<interface>:<port>` list.
    Part("https", "https_key", "https_cert", None, port_field="https_listeners", listen_field="https_listen"),
    Part("c2w", "c2w_key", "c2w_cert", None, "c2w_", "c2w_tls_port", "c2w_listeners", listen_field="c2w_listen"),
)

_CALLBRIDGE_C2W = Trust(("trust", "c2w"), majors=(3,))
_WEB_BRIDGE_3_C2W = Trust(("c2w", "trust"), majors=(3,))

SERVICES: dict[str, Service] = {
    "webadmin": Service(
        name="webadmin",
        majors=(2, 3),
        labels={  # [H] S6 (3.x); the bundle line [GUESS] by analogy with callbridge
            "enabled": ("Enabled",),
            "listen_interface": ("TLS listening interface",),
            "listen_port": ("TLS listening port",),
            "key": ("Key file",),
            "cert": ("Certificate file",),
            "bundle": ("CA Bundle file",),
            "http_redirect": ("HTTP redirect",),
            "state": ("STATUS",),
        },
        sequence=("disable", "certs", "enable"),
        lifecycle=("enable", "disable", "restart"),
        parts=(Part(port_field="listen_port"),),
    ),
    "callbridge": Service(
        name="callbridge",
        majors=(2, 3),
        labels={  # [H] S6/S7; no Enabled line [H]; CA Bundle file absent (not `none`) without a bundle [H]
            "listen": ("Listening interfaces",),
            "preferred_interface": ("Preferred interface",),
            "key": ("Key file",),
            "cert": ("Certificate file",),
            "bundle": ("CA Bundle file",),
            "c2w_trust": ("C2W trusted certs",),
            "cluster_trust": ("Callbridge cluster trusted certs",),
            "branding_trust": ("Callbridge trust branding certs",),
            "ucm_trust": ("UCM trusted certs",),
            "ucm_verify": ("UCM verification mode",),
            "imps_trust": ("IMPS trusted certs",),
            "imps_verify": ("IMPS verification mode",),
        },
        # [H] S2: no disable; a restart applies the new certificates.
        sequence=("certs", "restart"),
        lifecycle=("restart",),
        # The status names no TLS port; its SIP TLS listener (5061 by default) presents the `callbridge certs`
        # certificate.
        parts=(Part(default_port=5061),),
        # [H] S6: `callbridge trust c2w <bundle>`, the web bridges' C2W certificates it trusts (CMS 3.x only).
        c2w_trust=_CALLBRIDGE_C2W,
        trusts=(
            _CALLBRIDGE_C2W,
            # [H] S21: `callbridge trust cluster <bundle>`, the peer Call Bridges of a Call Bridge cluster; its
            # status line [H] S6 (2.x: [GUESS] the same line).
            Trust(("trust", "cluster"), (2, 3), "cluster_trust", ""),
            # [H] S6 status line `Callbridge trust branding certs`; the command [M] by the line's wording.
            Trust(("trust", "branding"), (3,), "branding_trust", "", mark="M"),
            # [H] S12 (CMS 3.8): `callbridge ucm certs <bundle>`, `callbridge ucm verify enable|disable`.
            Trust(("ucm", "certs"), (3,), "ucm_trust", "", "ucm_verify", ("ucm", "verify")),
            Trust(("imps", "certs"), (3,), "imps_trust", "", "imps_verify", ("imps", "verify")),
        ),
        flag_fields=("ucm_verify", "imps_verify"),
        list_fields=("listen",),
        cluster_identity=True,
    ),
    "webbridge": Service(
        name="webbridge",
        majors=(2,),
        labels={  # [GUESS] 2.x web bridge status: not found anywhere
            "enabled": ("Enabled",),
            "listen": ("Listening interfaces and ports", "Listening interfaces"),
            "key": ("Key file",),
            "cert": ("Certificate file",),
            "bundle": ("CA Bundle file",),
            "trust": ("Trust bundle",),
            "http_redirect": ("HTTP redirect",),
        },
        sequence=("disable", "certs", "enable"),
        lifecycle=("enable", "disable"),
        parts=(Part(port_field="listeners"),),
        # [H] S10/S31: `webbridge trust <bundle>`, the Call Bridge certificate itself.
        trusts=(Trust(("trust",), (2,), "trust", ""),),
        list_fields=("listen",),
        status_guessed=True,
        absent_hint="CMS 3.0 removed it; on 3.x use webbridge3",
        csr_join_names=True,
        csr_xmpp_domain=True,  # the TechNote's standalone table: `subjectAltName:<join url>,<xmpp domain>`
    ),
    "webbridge3": Service(
        name="webbridge3",
        majors=(3,),
        labels={  # [H] S6 label list
            "enabled": ("Enabled",),
            "https_listen": ("HTTPS listening ports and interfaces",),
            "https_key": ("HTTPS Key file",),
            "https_cert": ("HTTPS Full chain certificate file",),
            "http_redirect": ("HTTP redirect",),
            "c2w_listen": ("C2W listening ports and interfaces",),
            "c2w_key": ("C2W Key file",),
            "c2w_cert": ("C2W Full chain certificate file",),
            "c2w_trust": ("C2W Trust bundle",),
        },
        sequence=("disable", "certs", "enable"),
        lifecycle=("enable", "disable", "restart"),
        parts=_WEB_BRIDGE_3,
        # [H] S6/S21: `webbridge3 c2w trust <bundle>`, the bundle it trusts Call Bridge C2W clients by.
        c2w_trust=_WEB_BRIDGE_3_C2W,
        trusts=(_WEB_BRIDGE_3_C2W,),
        list_fields=("https_listen", "c2w_listen"),
        absent_hint="it exists only on CMS 3.x; on 2.x use webbridge",
        csr_join_names=True,
    ),
    "xmpp": Service(
        name="xmpp",
        majors=(2,),
        labels={  # [GUESS] 2.x xmpp status: not found anywhere
            "enabled": ("Enabled",),
            "domain": ("Domain",),
            "listen": ("Listening interfaces",),
            "key": ("Key file",),
            "cert": ("Certificate file",),
            "bundle": ("CA Bundle file",),
        },
        sequence=("disable", "certs", "enable"),
        lifecycle=("enable", "disable"),
        # XMPP negotiates TLS inside the protocol (STARTTLS on 5222), so a plain TLS handshake cannot check it: no
        # port unless tls_port is given.
        parts=(Part(),),
        list_fields=("listen",),
        status_guessed=True,
        absent_hint="CMS 3.0 removed XMPP",
        csr_xmpp_domain=True,
        xmpp_server=True,
        cluster_identity=True,
    ),
    "turn": Service(
        name="turn",
        majors=(2, 3),
        labels={  # [H] S6; `Listen interface      a` lines carry no colon [H]
            "enabled": ("Enabled",),
            "tls_port": ("TLS port",),
            "cert": ("TLS cert",),
            "key": ("TLS key",),
            "bundle": ("TLS bundle",),
            "listen": ("Listen interface",),
        },
        sequence=("disable", "certs", "enable"),
        lifecycle=("enable", "disable"),
        parts=(Part(port_field="tls_port"),),
        list_fields=("listen",),
        # [H] `turn` prints its password in clear (S6).
        secret_labels=("Password", "Shared secret"),
        cluster_identity=True,
    ),
}


@dataclass(frozen=True)
class TlsService:
    """A ``tls <name>`` setting: the trust store and peer verification of one kind of TLS link the node makes or
    takes, apart from the service blocks (``tls sip trust ROOTCA.cer``, ``tls sip verify enable`` [H] S8).

    ``mark`` says how sure its existence is (docs/dev/mmp_reference.md#trust-stores).
    """

    name: str
    majors: tuple[int, ...] = (2, 3)
    mark: str = "GUESS"


TLS_SERVICES: dict[str, TlsService] = {
    "sip": TlsService("sip", mark="H"),  # [H] S8: `tls sip trust <bundle>`, `tls sip verify enable`
    # [GUESS] the other links the node verifies by a CA bundle: the LDAP directory, the database cluster's client
    # and server sides, and Web Admin's outgoing connections (CDR receivers, Meeting Management).
    "ldap": TlsService("ldap"),
    "dbclient": TlsService("dbclient"),
    "dbserver": TlsService("dbserver"),
    "webadmin": TlsService("webadmin"),
}
# [H] S8 `verify enable`; [GUESS] `disable` and `ocsp` (verification plus revocation checks by OCSP).
TLS_VERIFY_MODES = ("enable", "disable", "ocsp")
# [GUESS] The status block of `tls <name>`: no transcript shows it; the first label present wins.
TLS_LABELS: dict[str, tuple[str, ...]] = {
    "trust": ("Trust bundle", "Trusted certs", "CA Bundle file"),
    "verify": ("Verification", "Verification mode", "Verify"),
}
# The word that empties a trust store [GUESS]: the statuses print `none` for an empty one [H].
TRUST_CLEAR = "none"


def get_tls_service(name: object) -> TlsService:
    if not isinstance(name, str) or name not in TLS_SERVICES:
        raise MmpValidationError("tls service %r is not one of %s" % (name, ", ".join(TLS_SERVICES)))
    return TLS_SERVICES[name]


# The database cluster's certificates as `database cluster status` names them: a server and a client pair, each
# verified against the cluster's CA certificate.  It is not a service (no status block, no certs command of its
# own), but what it uses is read like a service's parts.
DATABASE_PARTS = (
    Part("server", "server_key", "server_cert", "ca_cert", port_option=""),
    Part("client", "client_key", "client_cert", "ca_cert", port_option=""),
)


def get_service(name: object, major: int | None = None) -> Service:
    """The service called ``name``; with ``major``, also check it exists on that CMS major release."""
    if not isinstance(name, str) or name not in SERVICES:
        raise MmpValidationError("service %r is not one of %s" % (name, ", ".join(sorted(SERVICES))))
    service = SERVICES[name]
    if major is not None and major not in service.majors:
        fix = service.absent_hint or "it exists only on CMS %s.x" % "/".join(str(m) for m in service.majors)
        raise MmpValidationError("service %s does not exist on CMS %d.x: %s" % (name, major, fix))
    return service


def services_for(major: int) -> list[str]:
    """The services a node of CMS ``major`` has, in the catalog's order (the default set of a node)."""
    return [name for name, service in SERVICES.items() if major in service.majors]


def services_taking(option: str) -> list[str]:
    """The services that take the cms_service_certs file option ``option``, the one with the most file options
    first (the web bridge, whose C2W side has a certificate as well as a trust store)."""
    takers = [service for service in SERVICES.values() if option in service.file_options]
    return [service.name for service in sorted(takers, key=lambda s: -len(s.file_options))]


def tls_port_options(entry: Mapping[str, object], ports: Mapping[str, object]) -> dict[str, object]:
    """The TLS port options of cms_service_certs for one service entry (``{service, tls_port?, c2w_tls_port?}``):
    each part's own option when the entry gives it, else the port of the part's endpoint in ``ports`` (an
    ``{endpoint: port}`` map such as the simulator's ``cms_tls_ports``).  Options without a port are left out."""
    service = get_service(entry.get("service"))
    options: dict[str, object] = {}
    for part in service.parts:
        if part.port_option in entry:
            options[part.port_option] = entry[part.port_option]
        elif ports.get(service.endpoint(part)) is not None:
            options[part.port_option] = ports[service.endpoint(part)]
    return options
