# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one source of the MMP command strings and the input rules they need.

Every value that ends up on an MMP command line goes through a validator here first: the MMP is a line-oriented
CLI, so a newline or control character in a value would smuggle a second command in (CLI injection), and a space
would split one value into two words.  Validators raise ``MmpValidationError`` before anything is sent, with a
message that names the bad value, the rule and the fix.

Sources: docs/dev/mmp_reference.md (its #marks: [H] seen verbatim in a Cisco transcript, [M], [L], [GUESS]; its
#sources: the S ids) and the TechNotes "Generate CSR and apply certificates to CMS" and "Renew expired database
cluster certificates".
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import (
    TLS_VERIFY_MODES,
    TRUST_CLEAR,
    get_service,
    get_tls_service,
    services_taking,
)
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpValidationError

# ---------------------------------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------------------------------
BASENAME_RE = re.compile(r"[A-Za-z0-9_-]+")  # [H] "alphanumeric, hyphen or underscore characters"
FILE_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # flat store at the SFTP root [H]; names are bare
COUNTRY_RE = re.compile(r"[A-Za-z]{2}")  # [H] two-letter ISO code
# Lengths the collection keeps to. CMS documents none [GUESS]; a node's file system takes names of up to 255 bytes,
# and the file names made from a basename add suffixes (".key", "-fullchain.cer", "-<sha8>" when moved aside).
BASENAME_MAX = 100
FILE_NAME_MAX = 128
SAN_MAX_ENTRIES = 100
COMMAND_MAX = 4096  # one MMP command line; a longer `pki csr` (thousands of SAN entries) is not a sane CSR
# The collection's node lock (module_utils/_lock.py) and its temporary files.  A plain name, not a dot file: file
# names with a leading dot are refused above all else, and whether a CMS store keeps them is not known.  No CMS file
# ends in ``.lock``.
LOCK_FILE = "cisco_cms_mmp.lock"
# The cluster lock (the same module): kept on one node of a cluster, its lock node, for the whole cluster.
CLUSTER_LOCK_FILE = "cisco_cms_mmp.cluster.lock"
LOCK_FILES = (LOCK_FILE, CLUSTER_LOCK_FILE)
INTERFACES = ("a", "b", "c", "d")  # the MMP's network interfaces [H: `ipv4 a`, `database cluster localnode a`]
_DNS_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9._%+-]+")
# X.520 upper bounds (RFC 5280 appendix A): CAs refuse longer subject values.
_ATTRIBUTE_MAX = {"CN": 64, "OU": 64, "O": 64, "ST": 128}
_SAN_RULE = (
    "subjectAltName entries are DNS names (a wildcard only as the whole first label, e.g. *.example.com), IPv4 or "
    "IPv6 addresses, or e-mail addresses"
)


def _show(value: object) -> str:
    return repr(value)


def _bad_character(value: str) -> str | None:
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return "control character %s" % ascii(char)
    return None


def validate_text(value: object, what: str = "value") -> str:
    """Any value sent to the MMP: a string with no control characters, newlines or line separators."""
    if not isinstance(value, str):
        raise MmpValidationError("%s must be a string, got %s" % (what, _show(value)))
    bad = _bad_character(value)
    if bad:
        raise MmpValidationError(
            "%s %s contains a %s; the MMP reads one command per line, so control characters and newlines are "
            "refused (they could start a second command). Remove it." % (what, _show(value), bad)
        )
    return value


def validate_basename(name: object, what: str = "basename") -> str:
    """The key/cert basename of ``pki csr|selfsigned|sign`` [H]: letters, digits, ``-`` and ``_``."""
    name = validate_text(name, what)
    if len(name) > BASENAME_MAX:
        raise MmpValidationError(
            "%s %s is %d characters long; basenames are kept to %d (the node's file names add suffixes to them). "
            "Use a shorter one, e.g. <host>-<service>-<year>."
            % (what, _show(name[:40] + "..."), len(name), BASENAME_MAX)
        )
    if not BASENAME_RE.fullmatch(name):
        raise MmpValidationError(
            "%s %s is not valid: a basename may hold only letters, digits, '-' and '_' (no dots, no extension: the "
            "node adds .key, .csr and .crt itself). Use e.g. %s."
            % (what, _show(name), _show(re.sub(r"[^A-Za-z0-9_-]+", "_", name.rsplit(".", 1)[0]) or "webadmin_2026"))
        )
    return name


def is_lock_file(name: str) -> bool:
    """The node and cluster locks and their temporary files: store files that are never certificates, keys or
    backups."""
    return any(name == lock or name.startswith(lock + ".") for lock in LOCK_FILES)


def validate_file_name(name: object, what: str = "file name") -> str:
    """A file of the node's flat store (the SFTP root): ``[A-Za-z0-9._-]+``, no leading dot, no ``/``."""
    name = validate_text(name, what)
    if not name:
        raise MmpValidationError("%s is empty; give the name of a file in the node's store (see pki list)" % what)
    if "/" in name or "\\" in name:
        raise MmpValidationError(
            "%s %s contains a path separator; the node keeps every file in one flat directory and MMP commands "
            "take bare names. Use %s." % (what, _show(name), _show(re.split(r"[/\\]", name)[-1]))
        )
    if name.startswith("."):
        raise MmpValidationError(
            "%s %s starts with a dot; hidden or relative names are refused. Rename the file without the leading "
            "dot." % (what, _show(name))
        )
    if len(name) > FILE_NAME_MAX:
        raise MmpValidationError(
            "%s %s is %d characters long; node file names are kept to %d. Rename the file."
            % (what, _show(name[:40] + "..."), len(name), FILE_NAME_MAX)
        )
    if not FILE_NAME_RE.fullmatch(name):
        raise MmpValidationError(
            "%s %s is not valid: node file names may hold only letters, digits, '.', '-' and '_' (no spaces). "
            "Rename the file, e.g. %s." % (what, _show(name), _show(re.sub(r"[^A-Za-z0-9._-]+", "_", name)))
        )
    if is_lock_file(name):
        raise MmpValidationError(
            "%s %s is the name of the %s lock that cisco_cms.mmp keeps in the store; give the file another name"
            % (what, _show(name), "cluster" if name.startswith(CLUSTER_LOCK_FILE) else "node")
        )
    return name


# How the MMP treats these inside a subject value is not documented [GUESS]; if it hands values to a shell or to
# ``openssl req -subj`` (where ``/`` starts a new attribute), each could run or forge something.  None belongs in a
# certificate subject a CA will sign for a service, so they are refused outright.
UNSAFE_SUBJECT_CHARS = ";|&$`<>\\/"


def validate_subject_value(key: str, value: object, what: str) -> str:
    """A subject attribute value (``CN``, ``OU``, ``O``, ``L``, ``ST``) as ``pki csr``/``pki selfsigned`` take it."""
    value = validate_text(value, what)
    if not value.strip():
        raise MmpValidationError("%s is empty; give a value or leave the option out" % what)
    if value != value.strip():
        raise MmpValidationError(
            "%s %s has leading or trailing spaces; the MMP splits its command line at spaces. Use %s."
            % (what, _show(value), _show(value.strip()))
        )
    if '"' in value:
        raise MmpValidationError(
            "%s %s contains a double quote; the MMP command line has no way to escape it (values with spaces are "
            "sent in double quotes). Remove the quote." % (what, _show(value))
        )
    foreign = sorted({char for char in value if ord(char) > 126})
    if foreign:
        # Bidi overrides and look-alike letters make a subject read as another (U+202E turns "moc.elpmaxe" around);
        # how the MMP passes non-ASCII to its CSR is not known either. Subjects of service certificates are ASCII.
        raise MmpValidationError(
            "%s %s contains non-ASCII character(s) %s (bidi controls, look-alike letters and accents can make a "
            "subject read as another); write it in plain ASCII, e.g. without accents"
            % (what, _show(value), " ".join("U+%04X" % ord(c) for c in foreign))
        )
    bad = sorted({char for char in value if char in UNSAFE_SUBJECT_CHARS})
    if bad:
        raise MmpValidationError(
            "%s %s contains %s; subject values sent to the MMP may not hold any of %s (it could end the value or "
            "start another command). Remove it."
            % (what, _show(value), " ".join(repr(c) for c in bad), " ".join(UNSAFE_SUBJECT_CHARS))
        )
    limit = _ATTRIBUTE_MAX.get(key)
    if limit and len(value) > limit:
        raise MmpValidationError(
            "%s %s is %d characters long; X.509 allows at most %d for %s (RFC 5280). Shorten it."
            % (what, _show(value), len(value), limit, key)
        )
    return value


def validate_common_name(cn: object, what: str = "common_name") -> str:
    """CN is mandatory for ``pki csr`` [H]; spaces are allowed (sent quoted), double quotes are not."""
    if cn is None or (isinstance(cn, str) and not cn.strip()):
        raise MmpValidationError(
            "%s is required: pki csr needs CN:<value>, normally the node's FQDN (or the cluster FQDN); the DB client "
            "certificate uses CN:postgres" % what
        )
    return validate_subject_value("CN", cn, what)


def validate_country(country: object, what: str = "country") -> str:
    """C: exactly two ASCII letters [H]; returned upper-case (ISO 3166 codes are upper-case)."""
    country = validate_text(country, what)
    if not COUNTRY_RE.fullmatch(country):
        raise MmpValidationError(
            "%s %s is not valid: C must be the two-letter ISO 3166 country code, e.g. 'US', 'GB', 'FR'"
            % (what, _show(country))
        )
    return country.upper()


def _dns_problem(name: str, allow_wildcard: bool) -> str | None:
    """Why ``name`` is not a DNS name (``None`` when it is one)."""
    if name.endswith("."):
        return "it ends with a dot; drop the trailing dot"
    if len(name) > 253:
        return "it is longer than 253 characters"
    labels = name.split(".")
    if labels[0] == "*":
        if not allow_wildcard:
            return "a wildcard is not allowed here"
        if len(labels) < 3:
            return "a wildcard needs at least two labels after it (*.example.com, not *.com)"
        labels = labels[1:]
    elif "*" in name:
        return "a wildcard may only be the whole first label (*.example.com)"
    for label in labels:
        if not label:
            return "it has an empty label (two dots in a row, or a leading dot)"
        if not _DNS_LABEL_RE.fullmatch(label):
            return (
                "label %s is not letters, digits, '-' and '_' of at most 63 characters, not starting or ending with '-'"
                % (_show(label))
            )
    return None


def _ip_or_none(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in value:  # an IPv6 zone (fe80::1%eth0) means nothing in a certificate or to another node
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def validate_san_entry(entry: object, what: str = "subject_alt_name") -> str:
    """One SAN entry; IP addresses come back in their canonical form (``2001:db8::1``)."""
    entry = validate_text(entry, what)
    stripped = entry.strip()
    if not stripped:
        raise MmpValidationError("%s has an empty entry; remove it. %s." % (what, _SAN_RULE))
    for char, name, fix in (
        (",", "a comma", "give each name as its own list item"),
        (";", "a semicolon", "give each name as its own list item"),
        ('"', "a double quote", "remove it"),
        ("'", "a quote", "remove it"),
    ):
        if char in stripped:
            raise MmpValidationError(
                "%s entry %s contains %s; the MMP takes the SAN as one comma-separated word, so %s. %s."
                % (what, _show(entry), name, fix, _SAN_RULE)
            )
    if any(c.isspace() for c in stripped):
        raise MmpValidationError(
            "%s entry %s contains a space; SAN entries cannot hold spaces (give each name as its own list item). "
            "%s." % (what, _show(entry), _SAN_RULE)
        )
    ip = _ip_or_none(stripped)
    if ip is not None:
        return str(ip)
    if "@" in stripped:
        local, sep, domain = stripped.rpartition("@")
        problem = None if local and sep and _EMAIL_LOCAL_RE.fullmatch(local) else "the part before '@' is not valid"
        problem = problem or _dns_problem(domain, allow_wildcard=False)
        if problem:
            raise MmpValidationError(
                "%s entry %s is not a valid e-mail address: %s. %s." % (what, _show(entry), problem, _SAN_RULE)
            )
        return stripped
    if ":" in stripped:
        raise MmpValidationError(
            "%s entry %s is neither a DNS name nor an IP address; give bare values without a DNS:/IP: prefix. %s."
            % (what, _show(entry), _SAN_RULE)
        )
    problem = _dns_problem(stripped, allow_wildcard=True)
    if problem:
        raise MmpValidationError(
            "%s entry %s is not a valid DNS name: %s. %s." % (what, _show(entry), problem, _SAN_RULE)
        )
    return stripped


def normalize_san(cn: str, san: list[str] | tuple[str, ...] | str | None, what: str = "subject_alt_name") -> list[str]:
    """The SAN list to send: each entry validated, duplicates dropped, and the CN added first when missing.

    CMS requires the CN in the SAN list whenever a SAN is given [H, S2].  An empty or absent SAN stays empty, so
    the TechNote's ``pki csr dbclient CN:postgres`` keeps its documented form.  A comma-separated string is
    accepted as well as a list.
    """
    if san is None:
        return []
    if isinstance(san, str):
        items = [item for item in san.split(",") if item.strip()]
    elif isinstance(san, (list, tuple)):
        items = list(san)
    else:
        raise MmpValidationError("%s must be a list of names, got %s" % (what, _show(san)))
    entries: list[str] = []
    seen: set[str] = set()
    for item in items:
        entry = validate_san_entry(item, what)
        if entry.lower() not in seen:
            seen.add(entry.lower())
            entries.append(entry)
    if not entries:
        return []
    cn_key = cn.lower()
    ip = _ip_or_none(cn)
    if ip is not None:
        cn_key = str(ip).lower()
    if cn_key not in seen:
        try:
            cn_entry = validate_san_entry(cn, "common_name")
        except MmpValidationError as exc:
            raise MmpValidationError(
                "common_name %s must also be in subjectAltName when a SAN list is given (CMS requires it), but it "
                "cannot be a SAN entry: %s Use the FQDN as CN." % (_show(cn), exc.message)
            ) from None
        entries.insert(0, cn_entry)
    return entries


def validate_interface(iface: object, what: str = "interface") -> str:
    iface = validate_text(iface, what)
    if iface not in INTERFACES:
        raise MmpValidationError(
            "%s %s is not an MMP interface: use one of %s (lower case), the interface the service or database "
            "cluster listens on (see `ipv4 a`)" % (what, _show(iface), ", ".join(INTERFACES))
        )
    return iface


def validate_address(address: object, what: str = "address") -> str:
    """An IP address or a host name/FQDN of another node (``database cluster join|connect``)."""
    address = validate_text(address, what)
    stripped = address.strip()
    ip = _ip_or_none(stripped)
    if ip is not None:
        return str(ip)
    problem = "it is empty" if not stripped else _dns_problem(stripped, allow_wildcard=False)
    if problem is None and any(c.isspace() for c in stripped):
        problem = "it contains a space"
    if problem:
        raise MmpValidationError(
            "%s %s is neither an IP address nor a host name: %s. Give the primary's IP address or FQDN, e.g. "
            "10.0.0.11 or cms1.example.com." % (what, _show(address), problem)
        )
    return stripped


def cms_major(version: object) -> int:
    """The major release of a CMS version (``3``, ``"3.8"``, ``"2.9.1"`` -> 3, 3, 2)."""
    text = str(version).strip()
    match = re.match(r"(\d+)(?:\.\d+)*$", text)
    if not match or int(match.group(1)) not in (2, 3):
        raise MmpValidationError(
            "cms_version %s is not a CMS 2.x or 3.x version; give it as '3', '3.8' or '2.9.1'" % _show(version)
        )
    return int(match.group(1))


def quote_value(value: str) -> str:
    """A value with spaces goes in double quotes.

    [GUESS] How the MMP quotes values is not documented; the simulator accepts ``O:"Example Org"``
    (tests/cmssim/shapes.py ``split_command``).  Values holding ``"`` are refused by the validators.
    """
    if '"' in value:
        raise MmpValidationError("value %s contains a double quote, which the MMP cannot take" % _show(value))
    if any(c.isspace() for c in value):
        return '"%s"' % value
    return value


def _join(*words: str) -> str:
    line = " ".join(words)
    validate_text(line, "command")
    return line


# ---------------------------------------------------------------------------------------------------------------
# pki
# ---------------------------------------------------------------------------------------------------------------
def pki_list() -> str:
    return "pki list"


def pki_inspect(file_name: str) -> str:
    return _join("pki", "inspect", validate_file_name(file_name, "file"))


def pki_match(key_file: str, cert_file: str) -> str:
    return _join("pki", "match", validate_file_name(key_file, "key"), validate_file_name(cert_file, "cert"))


def pki_verify(cert_file: str, bundle_file: str | None = None) -> str:
    words = ["pki", "verify", validate_file_name(cert_file, "cert")]
    if bundle_file is not None:
        words.append(validate_file_name(bundle_file, "bundle"))
    return _join(*words)


def pki_csr(
    basename: str,
    common_name: str,
    organizational_unit: str | None = None,
    organization: str | None = None,
    state: str | None = None,
    country: str | None = None,
    subject_alt_name: list[str] | str | None = None,
) -> str:
    """``pki csr <basename> CN:<v> [OU:<v>] [O:<v>] [ST:<v>] [C:<v>] [subjectAltName:<a>,<b>]`` [H].

    The attribute order is the documented one; the SAN list gets the CN when it lacks it (``normalize_san``).
    """
    words = ["pki", "csr", validate_basename(basename)]
    cn = validate_common_name(common_name)
    words.append("CN:" + quote_value(cn))
    for key, value, what in (
        ("OU", organizational_unit, "organizational_unit"),
        ("O", organization, "organization"),
        ("ST", state, "state"),
    ):
        if value is not None:
            words.append(key + ":" + quote_value(validate_subject_value(key, value, what)))
    if country is not None:
        words.append("C:" + validate_country(country))
    san = normalize_san(cn, subject_alt_name)
    if len(san) > SAN_MAX_ENTRIES:
        raise MmpValidationError(
            "subject_alt_name has %d entries; at most %d are sent in one CSR. A certificate for more names is better "
            "split, or made with a wildcard name" % (len(san), SAN_MAX_ENTRIES)
        )
    if san:
        words.append("subjectAltName:" + ",".join(san))
    command = _join(*words)
    if len(command) > COMMAND_MAX:
        raise MmpValidationError(
            "the pki csr command would be %d characters long; at most %d are sent on one MMP command line. Use fewer "
            "or shorter subject_alt_name entries" % (len(command), COMMAND_MAX)
        )
    return command


def pki_selfsigned(name: str, common_name: str | None = None) -> str:
    """``pki selfsigned <name> [CN:<value>]`` [H/M]; writes ``<name>.key`` and ``<name>.crt`` [M]."""
    words = ["pki", "selfsigned", validate_basename(name, "name")]
    if common_name is not None:
        words.append("CN:" + quote_value(validate_common_name(common_name)))
    return _join(*words)


def pki_sign(name: str, ca: str) -> str:
    """``pki sign <name> <ca>`` (CMS 2.7+) [H]: signs ``<name>.csr`` with ``<ca>.key``/``<ca>.crt``."""
    return _join("pki", "sign", validate_basename(name, "name"), validate_basename(ca, "ca"))


def csr_files(basename: str) -> tuple[str, str]:
    """The files ``pki csr <basename>`` writes [H]: ``(<basename>.key, <basename>.csr)``."""
    basename = validate_basename(basename)
    return basename + ".key", basename + ".csr"


def selfsigned_files(name: str) -> tuple[str, str]:
    """The files ``pki selfsigned <name>`` writes [M]: ``(<name>.key, <name>.crt)``."""
    name = validate_basename(name, "name")
    return name + ".key", name + ".crt"


def signed_cert_file(name: str) -> str:
    """The certificate ``pki sign <name> <ca>`` writes [L]: ``<name>.crt``."""
    return validate_basename(name, "name") + ".crt"


# ---------------------------------------------------------------------------------------------------------------
# Services (what each one is: _catalog.SERVICES)
# ---------------------------------------------------------------------------------------------------------------
def service_status(service: str) -> str:
    """The status command: the service name alone prints its ``Label : value`` block [H]."""
    return get_service(service).name


def _lifecycle(service: str, verb: str) -> str:
    svc = get_service(service)
    if verb not in svc.lifecycle:
        raise MmpValidationError("%s has no '%s' (it takes: %s)" % (svc.name, verb, ", ".join(svc.lifecycle)))
    return _join(svc.name, verb)


def service_enable(service: str) -> str:
    return _lifecycle(service, "enable")


def service_disable(service: str) -> str:
    return _lifecycle(service, "disable")


def service_restart(service: str) -> str:
    return _lifecycle(service, "restart")


def stopped_service(command: str) -> str | None:
    """The service a command takes down (``<service> restart``, or ``<service> disable``), else ``None``."""
    words = command.split()
    return words[0] if words[1:] in (["restart"], ["disable"]) else None


def service_certs(
    service: str, key_file: str, cert_file: str, bundle_file: str | None = None, part: str | None = None
) -> str:
    """``<service> certs <key> <cert> [<bundle>]`` [H]; ``webbridge3 (https|c2w) certs <key> <fullchain>`` [H]."""
    svc = get_service(service)
    if svc.single:
        if part not in (None, ""):
            raise MmpValidationError("%s has one certificate; drop part %s" % (svc.name, _show(part)))
        words = [svc.name]
    else:
        if part not in svc.part_names:
            raise MmpValidationError(
                "%s has several certificates: say which one with part = %s (got %s)"
                % (svc.name, " or ".join(svc.part_names), _show(part))
            )
        words = [svc.name, str(part)]
    words += ["certs", validate_file_name(key_file, "key"), validate_file_name(cert_file, "cert")]
    if bundle_file is not None:
        if not svc.accepts_bundle:
            raise MmpValidationError(
                "%s takes a full chain (entity, intermediates, root in one file) instead of a separate bundle: "
                "concatenate the bundle into the certificate file and leave bundle out" % svc.name
            )
        words.append(validate_file_name(bundle_file, "bundle"))
    return _join(*words)


def webbridge3_c2w_trust(bundle_file: str) -> str:
    """``webbridge3 c2w trust <bundle>`` [H, S6/S21]: the bundle the web bridge trusts Call Bridge C2W clients by."""
    return c2w_trust("webbridge3", bundle_file)


def callbridge_c2w_trust(bundle_file: str) -> str:
    """``callbridge trust c2w <bundle>`` [H, S6; 3.x only]: the certificates the Call Bridge trusts web bridges' C2W
    listeners by (S6 gives the web bridge's full chain)."""
    return c2w_trust("callbridge", bundle_file)


def c2w_trust(service: str, bundle_file: str) -> str:
    """The C2W trust command of ``service``: webbridge3 trusts Call Bridges, the Call Bridge trusts web bridges."""
    trust = get_service(service).c2w_trust if isinstance(service, str) and service else None
    if trust is None:
        raise MmpValidationError(
            "%s has no C2W trust store (only %s have one)"
            % (_show(service), " and ".join(services_taking("c2w_trust")))
        )
    return _join(service, *trust.words, validate_file_name(bundle_file, trust.option))


def trust_store(service: str, store: str, bundle_file: str | None) -> str:
    """The command that sets (``bundle_file``) or empties (``None``) the trust store ``store`` of ``service``:
    ``callbridge trust cluster peers.cer``, ``callbridge ucm certs cucm-tomcat.cer`` [H, S12],
    ``callbridge trust branding none`` (docs/dev/mmp_reference.md#trust-stores)."""
    svc = get_service(service)
    try:
        trust = svc.trust(store)
    except KeyError:
        raise MmpValidationError(
            "%s has no trust store %s (it has %s)" % (svc.name, _show(store), ", ".join(t.name for t in svc.trusts))
        ) from None
    if bundle_file is None:
        if trust.clear is None:
            raise MmpValidationError("%s's %s trust store cannot be emptied from the MMP" % (svc.name, trust.name))
        return _join(svc.name, *trust.words, trust.clear)
    return _join(svc.name, *trust.words, validate_file_name(bundle_file, "%s trust bundle" % trust.name))


def trust_verify(service: str, store: str, enabled: bool) -> str:
    """``callbridge ucm verify enable|disable`` [H, S12]: whether the service checks the peer against the store."""
    svc = get_service(service)
    trust = next((t for t in svc.trusts if t.name == store and t.verify_words), None)
    if trust is None:
        raise MmpValidationError("%s's %s trust store has no verification mode" % (svc.name, _show(store)))
    return _join(svc.name, *trust.verify_words, "enable" if enabled else "disable")


def tls_status(name: str) -> str:
    """``tls <name>`` alone: its trust store and verification mode ([GUESS] shape)."""
    return _join("tls", get_tls_service(name).name)


def tls_trust(name: str, bundle_file: str | None) -> str:
    """``tls sip trust ROOTCA.cer`` [H, S8]; ``None`` empties it (``none`` [GUESS])."""
    bundle = TRUST_CLEAR if bundle_file is None else validate_file_name(bundle_file, "tls %s trust bundle" % name)
    return _join("tls", get_tls_service(name).name, "trust", bundle)


def tls_verify(name: str, mode: str) -> str:
    """``tls sip verify enable`` [H, S8]; ``disable`` and ``ocsp`` [GUESS]."""
    if mode not in TLS_VERIFY_MODES:
        raise MmpValidationError("tls verify mode %s is not one of %s" % (_show(mode), ", ".join(TLS_VERIFY_MODES)))
    return _join("tls", get_tls_service(name).name, "verify", mode)


def outage_sequence(service: str, certs_commands: list[str]) -> list[str]:
    """The commands that apply ``certs_commands`` to a running service, in the TechNote's order.

    webadmin, webbridge, webbridge3, xmpp, turn: ``disable``, certs, ``enable``; callbridge: certs, ``restart``
    (docs/dev/mmp_reference.md#service-rules).
    """
    svc = get_service(service)
    if not certs_commands:
        raise MmpValidationError("no certs command to apply to %s" % svc.name)
    commands: list[str] = []
    for step in svc.sequence:
        if step == "certs":
            commands.extend(certs_commands)
        else:
            commands.append(_lifecycle(svc.name, step))
    return commands


def apply_certs_sequence(
    service: str,
    key_file: str,
    cert_file: str,
    bundle_file: str | None = None,
    parts: tuple[str, ...] | list[str] | None = None,
) -> list[str]:
    """The outage sequence for one key/certificate pair; ``parts`` names the webbridge3 certificates it is for."""
    svc = get_service(service)
    if svc.single:
        if parts:
            raise MmpValidationError("%s has one certificate; drop parts %s" % (svc.name, _show(parts)))
        certs = [service_certs(svc.name, key_file, cert_file, bundle_file)]
    else:
        if not parts:
            raise MmpValidationError(
                "%s has several certificates: say which with parts (%s)" % (svc.name, ", ".join(svc.part_names))
            )
        certs = [service_certs(svc.name, key_file, cert_file, bundle_file, part=p) for p in parts]
    return outage_sequence(svc.name, certs)


def reload_sequence(service: str) -> list[str]:
    """What makes a service re-read renewed files of the same names: a restart, or disable then enable [H, S2]."""
    svc = get_service(service)
    if "restart" in svc.lifecycle:
        return [_lifecycle(svc.name, "restart")]
    return [_lifecycle(svc.name, "disable"), _lifecycle(svc.name, "enable")]


# ---------------------------------------------------------------------------------------------------------------
# database cluster
# ---------------------------------------------------------------------------------------------------------------
def db_cluster_status() -> str:
    return "database cluster status"


def db_cluster_localnode(interface: str) -> str:
    return _join("database", "cluster", "localnode", validate_interface(interface))


def db_cluster_certs(
    client_key: str,
    client_cert: str,
    ca_cert: str,
    server_key: str | None = None,
    server_cert: str | None = None,
) -> str:
    """``database cluster certs`` [H]: 5 files on nodes that hold a database, 3 on nodes that only connect.

    The node takes them in the order ``<server_key> <server_crt> <client_key> <client_crt> <ca_crt>``.
    """
    if (server_key is None) != (server_cert is None):
        raise MmpValidationError(
            "server_key and server_cert go together: give both (a node that holds a database) or neither (a node "
            "that only connects to the cluster)"
        )
    words = ["database", "cluster", "certs"]
    if server_key is not None and server_cert is not None:
        words += [validate_file_name(server_key, "server_key"), validate_file_name(server_cert, "server_cert")]
    words += [
        validate_file_name(client_key, "client_key"),
        validate_file_name(client_cert, "client_cert"),
        validate_file_name(ca_cert, "ca_cert"),
    ]
    return _join(*words)


def db_cluster_initialize() -> str:
    return "database cluster initialize"


def db_cluster_join(address: str) -> str:
    return _join("database", "cluster", "join", validate_address(address, "primary address"))


def db_cluster_connect(address: str) -> str:
    return _join("database", "cluster", "connect", validate_address(address, "primary address"))


def db_cluster_remove() -> str:
    return "database cluster remove"


# ---------------------------------------------------------------------------------------------------------------
# backup
# ---------------------------------------------------------------------------------------------------------------
def backup_snapshot(name: str) -> str:
    """``backup snapshot <name>`` [H]: writes ``<name>.bak`` and ``<name>.json`` [H]."""
    return _join("backup", "snapshot", validate_basename(name, "backup name"))


def backup_list() -> str:
    return "backup list"


def backup_rollback(name: str) -> str:
    """``backup rollback <name>.bak`` [H: TN 214620 passes the name with its extension]; reboots the node."""
    name = validate_file_name(name, "backup name")
    if not name.endswith(".bak"):
        name = validate_basename(name, "backup name") + ".bak"
    return _join("backup", "rollback", name)


def backup_files(name: str) -> tuple[str, str]:
    """The files of one snapshot, both to be kept off the node [H]: ``(<name>.bak, <name>.json)``."""
    name = validate_basename(name, "backup name")
    return name + ".bak", name + ".json"
