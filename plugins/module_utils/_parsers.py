# Copyright (c) 2026, cisco_cms.mmp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure parsers: MMP output text in, plain dicts out.

Tolerant by design (docs/dev/mmp_reference.md#marks): CRLF or LF, ANSI escapes, label padding of any width, the
echoed command and prompts of a pasted transcript, Master/Slave and Primary/Replica wordings, missing lines
(a missing line means "not set").  Where a shape is required and absent (empty or garbled output) they raise
``MmpParseError`` carrying the text, so the error shows what the node printed.

Nothing here returns a secret: ``turn`` prints its password in clear [H], and it is dropped.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import Any

from ansible_collections.cisco_cms.mmp.plugins.module_utils._catalog import TLS_LABELS, get_service, get_tls_service
from ansible_collections.cisco_cms.mmp.plugins.module_utils._errors import MmpParseError
from ansible_collections.cisco_cms.mmp.plugins.module_utils._terminal import ERROR_RE, output_lines, strip_ansi

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_OPENSSL_DATE_RE = re.compile(
    r"^(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.\d+)?\s+(?P<year>\d{4})"
    r"(?:\s+(?:GMT|UTC|Z))?$"
)
_NONE_VALUES = ("", "none", "(none)", "not set", "n/a")
_TRUE_WORDS = ("true", "yes", "enabled", "on")
_FALSE_WORDS = ("false", "no", "disabled", "off")
_SECRET_LABEL_RE = re.compile(r"password|secret", re.IGNORECASE)
REDACTED = "********"


def _require_lines(text: str | None, what: str) -> list[str]:
    lines = output_lines(text or "")
    if not any(line.strip() for line in lines):
        raise MmpParseError("%s printed nothing; the node's output was empty" % what, command=what, output=text)
    return lines


def to_iso_utc(when: datetime.datetime) -> str:
    """``2017-03-09T08:57:17Z``: the one date format every return value of the collection uses."""
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_openssl_date(value: str) -> datetime.datetime:
    """``Mar  9 08:47:17 2015 GMT`` (OpenSSL's text form, as ``pki inspect`` prints it [H]) as an aware datetime."""
    match = _OPENSSL_DATE_RE.match(value.strip())
    if not match or match.group("mon").lower() not in _MONTHS:
        raise MmpParseError("cannot read the date %r (expected e.g. 'Mar  9 08:47:17 2015 GMT')" % value)
    try:
        return datetime.datetime(
            int(match.group("year")),
            _MONTHS[match.group("mon").lower()],
            int(match.group("day")),
            int(match.group("h")),
            int(match.group("m")),
            int(match.group("s")),
            tzinfo=datetime.timezone.utc,
        )
    except ValueError as exc:
        raise MmpParseError("cannot read the date %r: %s" % (value, exc)) from None


def normalize_dn(text: str | None) -> str | None:
    """A distinguished name in one spacing: ``C=IN, ST=KA, CN=x``.

    Old OpenSSL prints ``C=IN, ST=KA`` (as in S1 [H]), OpenSSL 1.1+ ``C = IN, ST = KA``; both become the first.
    """
    if text is None:
        return None
    text = re.sub(r"\s*=\s*", "=", text.strip())
    text = re.sub(r"\s*,\s*", ", ", text)
    return re.sub(r"\s*\+\s*", "+", text)


def normalize_serial(value: str | int) -> str:
    """A serial number as even-length upper-case hex without colons (``1102CE3B0006000000A7``).

    Accepts OpenSSL's colon form (``11:02:ce:...``), its short form (``4660 (0x1234)``) and plain hex or integers,
    so that a serial read from ``pki inspect`` compares equal to one computed locally.
    """
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        short = re.match(r"^(-?\d+)\s*\(\s*(-?)0x([0-9A-Fa-f]+)\s*\)$", text)
        if short:
            number = int(short.group(1))
        else:
            digits = text.replace(":", "").replace(" ", "")
            if digits.lower().startswith("0x"):
                digits = digits[2:]
            if not digits or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise MmpParseError("cannot read the serial number %r" % value)
            number = int(digits, 16)
    if number < 0:
        raise MmpParseError("negative serial number %r" % value)
    digits = "%X" % number
    return digits if len(digits) % 2 == 0 else "0" + digits


def _bool_word(value: str | None) -> bool | None:
    if value is None:
        return None
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def _file_value(value: str | None) -> str | None:
    if value is None or value.strip().lower() in _NONE_VALUES:
        return None
    return value.strip()


# Status fields that hold one TCP port: returned as numbers (``TLS port : 447`` [H] S6 is 447, not "447").
_PORT_FIELDS = ("tls_port", "listen_port")


def _port_value(value: str | None) -> int | None:
    text = _file_value(value)
    return int(text) if text is not None and text.isdigit() else None


def _list_value(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else value.split()
    return [item for item in (i.strip() for i in items) if item and item.lower() not in _NONE_VALUES]


# Listen lists, as printed (``a:443 b:443`` [H] S6, ``a`` [H] S6), and the field holding each one parsed.
LISTENER_FIELDS = {"listen": "listeners", "https_listen": "https_listeners", "c2w_listen": "c2w_listeners"}
_LISTEN_ITEM_RE = re.compile(r"^(?P<interface>[^:\s]+)(?::(?P<port>\d+))?$")


def parse_listen_items(items: list[str]) -> list[dict[str, Any]]:
    """``[{"interface": "a", "port": 443}]`` of listen items (``a:443``; ``a`` alone has ``port`` ``None``).

    An item of another shape keeps its whole text as ``interface`` (``port`` ``None``): tolerant, as every parser.
    """
    parsed: list[dict[str, Any]] = []
    for item in items:
        match = _LISTEN_ITEM_RE.match(item)
        port = match.group("port") if match else None
        parsed.append(
            {"interface": match.group("interface") if match else item, "port": int(port) if port is not None else None}
        )
    return parsed


# ---------------------------------------------------------------------------------------------------------------
# pki
# ---------------------------------------------------------------------------------------------------------------
PKI_LIST_HEADER_RE = re.compile(r"^\s*User supplied certificates and keys\s*:?\s*$", re.IGNORECASE)  # [H]


def parse_pki_list(text: str) -> list[str]:
    """The file names ``pki list`` shows, in the node's order (one per line under the header [H])."""
    lines = _require_lines(text, "pki list")
    for index, line in enumerate(lines):
        if PKI_LIST_HEADER_RE.match(line):
            return [entry.strip() for entry in lines[index + 1 :] if entry.strip()]
    raise MmpParseError(
        "pki list output lacks its header 'User supplied certificates and keys:'", command="pki list", output=text
    )


_CHECK_RE = re.compile(r"^\s*Checking (?P<what>.+?)\.{2,}\s*(?P<result>not found|found)\s*$", re.IGNORECASE)
_CONTAINS_RE = re.compile(r"^\s*File contains (?:an? |(?P<count>\d+) )?(?P<what>.+?)\s*$", re.IGNORECASE)
_BLOCK_START_RE = re.compile(r"^\s*(?P<kind>Certificate|Certificate Request)\s*:\s*$")
_KEY_BITS_RE = re.compile(r"^\s*(?:RSA |EC )?(?:Public|Private)-Key\s*:\s*\((?P<bits>\d+) bit", re.IGNORECASE)
_SAN_ITEM_RE = re.compile(r"^\s*(?P<type>[A-Za-z ]+?)\s*:\s*(?P<value>.*?)\s*$")


def _kind(phrase: str) -> str:
    words = phrase.lower()
    if "certificate signing request" in words or "certificate request" in words:
        return "csr"
    if "private key" in words:
        return "encrypted_private_key" if "encrypted" in words else "private_key"
    if "public key" in words:
        return "public_key"
    if "certificate" in words:
        return "certificate"
    return re.sub(r"\W+", "_", words).strip("_")


def _canonical_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _san_values(line: str) -> list[str]:
    values: list[str] = []
    for item in line.split(","):
        match = _SAN_ITEM_RE.match(item)
        if not match:
            continue
        kind, value = match.group("type").strip().lower(), match.group("value")
        if kind in ("ip address", "ip"):
            value = _canonical_ip(value)
        values.append(value)
    return values


def _parse_x509_block(lines: list[str], kind: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "kind": kind,
        "version": None,
        "serial": None,
        "signature_algorithm": None,
        "issuer": None,
        "subject": None,
        "not_before": None,
        "not_after": None,
        "key_algorithm": None,
        "key_bits": None,
        "san": [],
        "is_ca": None,
    }
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        label, sep, value = line.partition(":")
        label, value = label.strip(), value.strip()
        if not sep:
            pass
        elif label == "Version" and info["version"] is None:
            match = re.match(r"(\d+)", value)
            info["version"] = int(match.group(1)) if match else None
        elif label == "Serial Number" and info["serial"] is None:
            info["serial"] = normalize_serial(value or following)
        elif label == "Signature Algorithm" and info["signature_algorithm"] is None:
            info["signature_algorithm"] = value
        elif label == "Issuer" and info["issuer"] is None:
            info["issuer"] = normalize_dn(value)
        elif label == "Subject" and info["subject"] is None:
            info["subject"] = normalize_dn(value)
        elif label == "Not Before":
            info["not_before"] = to_iso_utc(parse_openssl_date(value))
        elif label == "Not After":
            info["not_after"] = to_iso_utc(parse_openssl_date(value))
        elif label == "Public Key Algorithm":
            info["key_algorithm"] = value
        elif label.endswith("Subject Alternative Name"):
            info["san"] = _san_values(following)
        elif label.endswith("Basic Constraints"):
            info["is_ca"] = "CA:TRUE" in following.upper().replace(" ", "")
        match = _KEY_BITS_RE.match(line)
        if match and info["key_bits"] is None:
            info["key_bits"] = int(match.group("bits"))
        index += 1
    return info


def parse_pki_inspect(text: str) -> dict[str, Any]:
    """What ``pki inspect <file>`` says about a file.

    Returns ``found`` (the file is in the user store), ``ssh_key_found``, ``kind`` (``certificate``, ``csr``,
    ``private_key``, ``encrypted_private_key``...), ``count`` (certificates in the file), and from the OpenSSL-style
    body of the first certificate or CSR: ``subject``, ``issuer`` (OpenSSL one-line form, ``C=IN, ST=KA, CN=x``),
    ``serial`` (hex, see ``normalize_serial``), ``not_before``/``not_after`` (ISO-8601 UTC), ``san`` (values
    without ``DNS:`` prefixes), ``key_algorithm``, ``key_bits``, ``signature_algorithm``, ``is_ca``;
    ``certificates`` lists the same fields for every certificate of a bundle.  Key material is never returned.
    """
    lines = _require_lines(text, "pki inspect")
    result: dict[str, Any] = {
        "found": None,
        "ssh_key_found": None,
        "kind": None,
        "count": 0,
        "subject": None,
        "issuer": None,
        "serial": None,
        "not_before": None,
        "not_after": None,
        "san": [],
        "key_algorithm": None,
        "key_bits": None,
        "signature_algorithm": None,
        "is_ca": None,
        "certificates": [],
    }
    blocks = _read_inspect_lines(lines, result)
    if blocks is None:
        raise MmpParseError(
            "pki inspect output has none of its known lines ('Checking ...', 'File contains ...', 'Certificate:')",
            command="pki inspect",
            output=text,
        )
    parsed = [_parse_x509_block(block, kind) for kind, block in blocks]
    if result["kind"] is None and parsed:
        result["kind"] = parsed[0]["kind"]
    if result["found"] is None and (parsed or result["kind"]):
        result["found"] = True
    if parsed:
        first = parsed[0]
        for key in ("subject", "issuer", "serial", "not_before", "not_after", "san", "key_algorithm", "key_bits"):
            result[key] = first[key]
        result["signature_algorithm"] = first["signature_algorithm"]
        result["is_ca"] = first["is_ca"]
    result["certificates"] = [block for block in parsed if block["kind"] == "certificate"]
    if not result["count"]:
        result["count"] = len(result["certificates"])
    return result


def _read_inspect_lines(lines: list[str], result: dict[str, Any]) -> list[tuple[str, list[str]]] | None:
    """The check and "File contains" lines into ``result``; the OpenSSL-style blocks, ``None`` if no line is known."""
    recognised = False
    blocks: list[tuple[str, list[str]]] = []
    for line in lines:
        check = _CHECK_RE.match(line)
        if check:
            recognised = True
            found = check.group("result").lower() == "found"
            result["ssh_key_found" if "ssh" in check.group("what").lower() else "found"] = found
            continue
        contains = _CONTAINS_RE.match(line)
        if contains:
            recognised = True
            result["kind"] = _kind(contains.group("what"))
            if contains.group("count"):
                result["count"] = int(contains.group("count"))
            continue
        start = _BLOCK_START_RE.match(line)
        if start:
            recognised = True
            blocks.append(("csr" if "Request" in start.group("kind") else "certificate", []))
            continue
        if blocks:
            blocks[-1][1].append(line)
            continue
        bits = _KEY_BITS_RE.match(line)
        if bits:
            result["key_bits"] = int(bits.group("bits"))
    return blocks if recognised else None


_CSR_CREATED_RE = re.compile(r"Created key file (?P<key>\S+) and CSR (?P<csr>\S+)")  # [H]
_CSR_READY_RE = re.compile(r"CSR file (?P<csr>\S+) ready for download")  # [H]
_SELFSIGNED_RE = re.compile(r"Created key file (?P<key>\S+) and certificate (?P<cert>\S+)")  # [GUESS]
_SIGNED_RE = re.compile(r"Signed certificate (?P<cert>\S+)")  # [GUESS]


def parse_csr_output(text: str) -> dict[str, str]:
    """``{key_file, csr_file}`` from ``Created key file tac.key and CSR tac.csr`` [H]; progress dots ignored."""
    lines = _require_lines(text, "pki csr")
    for line in lines:
        match = _CSR_CREATED_RE.search(line)
        if match:
            return {"key_file": match.group("key"), "csr_file": match.group("csr")}
    raise MmpParseError("pki csr did not report 'Created key file ... and CSR ...'", command="pki csr", output=text)


def parse_selfsigned_output(text: str) -> dict[str, str | None]:
    """``{key_file, cert_file}`` of ``pki selfsigned`` ([GUESS] shape, so ``None`` values when it differs)."""
    for line in output_lines(text or ""):
        match = _SELFSIGNED_RE.search(line)
        if match:
            return {"key_file": match.group("key"), "cert_file": match.group("cert")}
    return {"key_file": None, "cert_file": None}


def parse_sign_output(text: str) -> dict[str, str | None]:
    """``{cert_file}`` of ``pki sign`` ([GUESS] shape, so ``None`` when it differs)."""
    for line in output_lines(text or ""):
        match = _SIGNED_RE.search(line)
        if match:
            return {"cert_file": match.group("cert")}
    return {"cert_file": None}


def parse_match(text: str) -> bool:
    """Whether ``pki match <key> <cert>`` found the pair matching.

    Success wording [GUESS from ``streamer enable``'s ``SUCCESS: Key and certificate pair match`` [H]]; a
    ``FAILURE:``/``ERROR:`` line that talks of a (mis)match means ``False``; anything else raises.
    """
    lines = _require_lines(text, "pki match")
    for line in lines:
        words = line.strip().lower()
        mismatch = "not match" in words or "mismatch" in words or "don't match" in words or "does not" in words
        if words.startswith("success") and "match" in words and not mismatch:
            return True
        if (words.startswith("failure") or words.startswith("error")) and ("match" in words):
            return False
    raise MmpParseError("pki match did not say whether the key and certificate match", command="pki match", output=text)


_OPENSSL_OK_RE = re.compile(r"^\S.*:\s*OK\s*$")
_OPENSSL_ERROR_RE = re.compile(r"^error \d+ at \d+ depth lookup\s*:\s*(?P<reason>.+)$", re.IGNORECASE)


def parse_verify(text: str) -> tuple[bool, str]:
    """``(verified, reason)`` from ``pki verify`` ([GUESS] ``SUCCESS:``/``FAILURE:`` lines; OpenSSL's
    ``<file>: OK`` and ``error N at D depth lookup: <reason>`` are understood too)."""
    lines = _require_lines(text, "pki verify")
    for line in lines:
        stripped = line.strip()
        upper = stripped.upper()
        if upper.startswith("FAILURE") or upper.startswith("ERROR:"):
            reason = stripped.split(":", 1)[1].strip() if ":" in stripped else stripped
            failed = re.match(r"^.*?\bfailed\s*:\s*(?P<reason>.+)$", reason, re.IGNORECASE)
            return False, failed.group("reason").strip() if failed else reason
        match = _OPENSSL_ERROR_RE.match(stripped)
        if match:
            return False, match.group("reason").strip()
    for line in lines:
        stripped = line.strip()
        if stripped.upper().startswith("SUCCESS"):
            return True, stripped.split(":", 1)[1].strip() if ":" in stripped else stripped
        if _OPENSSL_OK_RE.match(stripped):
            return True, "OK"
    raise MmpParseError("pki verify did not say whether the certificate verified", command="pki verify", output=text)


# ---------------------------------------------------------------------------------------------------------------
# Status blocks
# ---------------------------------------------------------------------------------------------------------------
def _split_status_line(line: str) -> tuple[str, str, bool] | None:
    """``(label, value, had_colon)`` of one status line, ``None`` for a line that is neither shape."""
    label, sep, value = line.partition(":")
    if sep and not re.search(r"\S\s{2,}\S", label.strip()):
        return label.strip(), value.strip(), True
    # ``Listen interface      a`` [H]: no colon, label and value apart by a run of spaces.
    match = re.match(r"^\s*(?P<label>\S.*?)\s{2,}(?P<value>\S.*?)\s*$", line)
    if match:
        return match.group("label"), match.group("value"), False
    return None


def parse_status_block(text: str) -> dict[str, Any]:
    """``{label: value}`` of a ``Label : value`` block [H], each line split at its first colon.

    Lines without a colon (``Listen interface      a`` in ``turn`` [H]) are collected as lists under their
    label; a label seen twice becomes a list too.  Section headers (a lone word like ``Certificates``) are skipped.
    """
    lines = _require_lines(text, "status")
    block: dict[str, Any] = {}
    for line in lines:
        if not line.strip():
            continue
        split = _split_status_line(line)
        if split is None:
            continue
        label, value, had_colon = split
        if not had_colon:
            current = block.get(label)
            if isinstance(current, list):
                current.append(value)
            elif current is None:
                block[label] = [value]
            else:
                block[label] = [current, value]
        elif label in block:
            current = block[label]
            block[label] = (current if isinstance(current, list) else [current]) + [value]
        else:
            block[label] = value
    if not block:
        raise MmpParseError("the output has no 'Label : value' lines", command="status", output=text)
    return block


def _label_key(label: str) -> str:
    return " ".join(label.lower().split())


def parse_service_status(service: str, text: str) -> dict[str, Any]:
    """The status of a service (its name typed alone), normalized.

    Always: ``service``, ``enabled`` (``None`` when the block has no ``Enabled`` line, as callbridge [H]),
    ``key``, ``cert``, ``bundle`` (``None`` for ``none`` or an absent line), ``listen`` (list), ``raw`` (the label
    dict).  Per service, the other fields of ``SERVICES[service].labels`` (webbridge3: ``https_key``,
    ``https_cert``, ``c2w_key``, ``c2w_cert``, ``c2w_trust``, ``https_listen``, ``c2w_listen``; turn:
    ``tls_port``; webadmin: ``listen_interface``, ``listen_port``, ``state``...; callbridge: every trust store,
    ``c2w_trust``, ``cluster_trust``, ``branding_trust``, ``ucm_trust``, ``imps_trust``, and the booleans
    ``ucm_verify``, ``imps_verify``).  Ports (``tls_port``, ``listen_port``) are integers.  Each listen list keeps its
    printed items (``listen: ["a:443"]``, as before) and has a parsed twin with integer ports
    (``listeners: [{"interface": "a", "port": 443}]``; webbridge3 ``https_listeners``, ``c2w_listeners``; ``port``
    ``None`` where the status names an interface only).  Passwords and shared secrets (``turn`` prints its password
    in clear [H]) are dropped from every field, ``raw`` included.
    """
    svc = get_service(service)
    block = parse_status_block(text)
    raw = {
        label: value
        for label, value in block.items()
        if label not in svc.secret_labels and not _SECRET_LABEL_RE.search(label)
    }
    by_key = {_label_key(label): value for label, value in raw.items()}
    values: dict[str, Any] = {}
    for name, labels in svc.labels.items():
        for label in labels:
            if _label_key(label) in by_key:
                values[name] = by_key[_label_key(label)]
                break
    if not values:
        raise MmpParseError(
            "the output does not look like the status of %s: none of its labels (%s) is there"
            % (svc.name, ", ".join(labels[0] for labels in svc.labels.values())),
            command=svc.name,
            output=None if svc.secret_labels else text,
        )
    result: dict[str, Any] = {"service": svc.name}
    for name in svc.labels:
        value = values.get(name)
        if name in svc.list_fields:
            result[name] = _list_value(value)
        elif name in ("enabled", "http_redirect") or name in svc.flag_fields:
            result[name] = _bool_word(value if isinstance(value, str) else None)
        elif name in _PORT_FIELDS:
            result[name] = _port_value(value if isinstance(value, str) else None)
        elif isinstance(value, list):
            result[name] = [_file_value(v) for v in value]
        else:
            result[name] = _file_value(value)
    result.setdefault("enabled", None)
    primary = svc.primary
    if primary.key_field != "key":
        # A service whose main certificate has labels of its own (webbridge3's HTTPS side) shows it under the
        # generic names too, so callers read every service the same way.
        result.update(primary.files(result))
        if primary.listen_field:
            result["listen"] = list(result[primary.listen_field])
    result.setdefault("bundle", None)
    if "listen" not in result:
        iface, port = result.get("listen_interface"), result.get("listen_port")
        result["listen"] = ["%s:%s" % (iface, port) if port else iface] if iface else []
    for field, parsed in LISTENER_FIELDS.items():
        if field in result:
            result[parsed] = parse_listen_items(result[field])
    result["raw"] = raw
    return result


def parse_tls_status(name: str, text: str) -> dict[str, Any]:
    """``tls <name>`` alone: ``{tls, trust, verify, known}`` ([GUESS] shape, docs/dev/mmp_reference.md#trust-stores).

    ``trust`` is the bundle file (``None`` for ``none``), ``verify`` the mode word (``enabled``, ``disabled``,
    ``ocsp``).  As for every [GUESS] shape, output that does not look like it is "unknown" (``known: False``, both
    values ``None``), never an error of the node.
    """
    service = get_tls_service(name)
    result: dict[str, Any] = {"tls": service.name, "trust": None, "verify": None, "known": False}
    try:
        block = parse_status_block(text)
    except MmpParseError:
        return result
    by_key = {_label_key(label): value for label, value in block.items() if isinstance(value, str)}
    for field, labels in TLS_LABELS.items():
        value = next((by_key[_label_key(label)] for label in labels if _label_key(label) in by_key), None)
        if value is None:
            continue
        result["known"] = True
        if field == "trust":
            result["trust"] = _file_value(value)
        else:
            word = value.strip().lower()
            result["verify"] = {"true": "enabled", "false": "disabled"}.get(word, word)
    return result


def db_cluster_member(status: dict[str, Any]) -> bool:
    """Whether a parsed ``database cluster status`` shows this node inside a cluster, whatever its status word.

    [M] TN 210530 shows ``Status : Error`` above a full membership (the primary connected, ``Node in use``, this
    node ``(me)`` as a replica in sync): a failed ``upgrade_schema`` leaves the cluster formed.  Clustering is then
    still enabled, and certificates cannot change until the node is removed [H].  A ``(me)`` line that is connected
    or names a role is membership; a ``Node in use`` alone is not (a Disabled node prints ``Node in use : None``).
    """
    me = next((n for n in status.get("nodes") or [] if n.get("me")), None)
    return bool(me and (me.get("connected") or me.get("role")))


def redact_secrets(text: str) -> str:
    """``text`` with the value of every password/secret line replaced (for error messages and logs).

    Covers ``turn``'s ``Password``/``Shared secret`` [H] and ``xmpp callbridge list``'s ``Secret`` [M].
    """

    def hide(match: re.Match[str]) -> str:
        value = match.group("value")
        if strip_ansi(value).strip().lower() in _NONE_VALUES:
            return match.group(0)
        return match.group("head") + REDACTED

    return re.sub(
        r"(?im)^(?P<head>[^:\r\n]*(?:password|secret)[^:\r\n]*:[ \t]*)(?P<value>[^\r\n]*)",
        hide,
        text or "",
    )


def parse_enable_output(text: str) -> dict[str, Any]:
    """The ``SUCCESS:``/``FAILURE:`` lines of ``<service> enable|restart`` [H, S8, S10].

    ``ok`` is true when no line failed: "The server must return SUCCESS for all the services" (S10).  Setters
    print nothing on success [H], so empty output is ``ok`` with no lines.
    """
    successes: list[str] = []
    failures: list[str] = []
    for line in output_lines(text or ""):
        stripped = line.strip()
        if stripped.startswith("SUCCESS"):
            successes.append(stripped.split(":", 1)[-1].strip())
        elif stripped.startswith("FAILURE") or stripped.startswith("ERROR"):
            failures.append(stripped.split(":", 1)[-1].strip() if ":" in stripped else stripped)
    return {"ok": not failures, "successes": successes, "failures": failures}


# ---------------------------------------------------------------------------------------------------------------
# database cluster
# ---------------------------------------------------------------------------------------------------------------
DB_CERT_LABELS = {  # [H] TN 216549
    "server key": "server_key",
    "server certificate": "server_cert",
    "client key": "client_key",
    "client certificate": "client_cert",
    "ca certificate": "ca_cert",
}
_DB_LABEL_RE = re.compile(
    r"^\s*(?P<label>Status|Node in use|Interface|Last command|ERROR|Server Key|Server Certificate|Client Key|"
    r"Client Certificate|CA Certificate)\s*:\s*(?P<value>.*?)\s*$",
    re.IGNORECASE,
)
_DB_NODE_RE = re.compile(r"^\s*(?P<address>\S+)(?P<me>\s+\(me\))?\s*:\s*(?P<state>.*?)\s*$")
_DB_NODE_STATE_RE = re.compile(r"^(?:connected|disconnected|not connected|connecting|unreachable)\b", re.IGNORECASE)
_DB_TRANSITION_RE = re.compile(
    r"^(?P<word>\w+)\s*\(\s*Started\s+(?P<n>\d+)\s+(?P<unit>second|minute|hour)s?\s+ago\s*\)", re.IGNORECASE
)
_DB_EXPIRED_RE = re.compile(r"^(?P<file>.*?)\s*\(expired\)\s*$", re.IGNORECASE)
_DB_LAST_COMMAND_RE = re.compile(r"^'(?P<command>.*)'\s*\((?P<result>[^()]*)\)\s*$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


def _db_node(address: str, me: bool, state: str) -> dict[str, Any]:
    words = state.lower()
    if words.startswith("connected"):
        connected: bool | None = True
    elif re.match(r"^(?:disconnected|not connected|unreachable)", words):
        connected = False
    else:
        connected = None
    role = None
    if re.search(r"\b(?:master|primary)\b", words):
        role = "primary"
    elif re.search(r"\b(?:slave|replica)\b", words):
        role = "replica"
    in_sync = None
    if re.search(r"\(\s*(?:out\s+of|not\s+in)\s+sync\s*\)", words):
        in_sync = False
    elif re.search(r"\(\s*in\s+sync\s*\)", words):
        in_sync = True
    return {"address": address, "me": me, "connected": connected, "role": role, "in_sync": in_sync, "state": state}


def parse_db_cluster_status(text: str) -> dict[str, Any]:
    """``database cluster status`` [H, TN 216549 and TN 210530], normalized.

    Returns ``status`` (lower-case state word: ``enabled``, ``disabled``, ``disabling``, ``error``...),
    ``status_text`` (as printed), ``transition`` (the state word while ``<State> (Started N seconds ago)``, else
    ``None``) with ``started_seconds_ago``, ``error`` (the ``ERROR :`` line above Status), ``nodes`` (each
    ``{address, me, connected, role: primary|replica|None, in_sync, state}``; Master/Slave and Primary/Replica
    both understood), ``node_in_use``, ``interface``, ``certificates`` (``server_key``, ``server_cert``,
    ``client_key``, ``client_cert``, ``ca_cert``: each ``{file, expired}`` or ``None`` when the line is absent),
    ``last_command`` (``{command, result}`` or ``None``), and for convenience ``primary_address``,
    ``local_address``, ``local_role``.
    """
    lines = _require_lines(text, "database cluster status")
    result: dict[str, Any] = {
        "status": None,
        "status_text": None,
        "transition": None,
        "started_seconds_ago": None,
        "error": None,
        "nodes": [],
        "node_in_use": None,
        "interface": None,
        "certificates": dict.fromkeys(DB_CERT_LABELS.values()),
        "last_command": None,
        "primary_address": None,
        "local_address": None,
        "local_role": None,
    }
    in_nodes = False
    for line in lines:
        stripped = line.strip()
        if not stripped:
            in_nodes = False
            continue
        if re.match(r"^Nodes\s*:?$", stripped, re.IGNORECASE):
            in_nodes = True
            continue
        if re.match(r"^Certificates\s*:?$", stripped, re.IGNORECASE):
            in_nodes = False
            continue
        labelled = _DB_LABEL_RE.match(line)
        if labelled:
            in_nodes = in_nodes and labelled.group("label").lower() not in ("node in use",)
            _db_field(result, labelled.group("label").lower(), labelled.group("value"))
            continue
        node = _DB_NODE_RE.match(line)
        if node and (in_nodes or _DB_NODE_STATE_RE.match(node.group("state"))):
            result["nodes"].append(_db_node(node.group("address"), bool(node.group("me")), node.group("state")))
    if result["status"] is None:
        raise MmpParseError(
            "database cluster status output has no 'Status' line", command="database cluster status", output=text
        )
    for entry in result["nodes"]:
        if entry["role"] == "primary" and result["primary_address"] is None:
            result["primary_address"] = entry["address"]
        if entry["me"]:
            result["local_address"] = entry["address"]
            result["local_role"] = entry["role"]
    return result


def _db_field(result: dict[str, Any], label: str, value: str) -> None:
    if label == "status":
        result["status_text"] = value
        transition = _DB_TRANSITION_RE.match(value)
        if transition:
            result["transition"] = transition.group("word").lower()
            result["started_seconds_ago"] = int(transition.group("n")) * _UNIT_SECONDS[transition.group("unit").lower()]
        word = re.match(r"^\w+", value)
        result["status"] = word.group(0).lower() if word else value.lower()
    elif label == "error":
        result["error"] = value or None
    elif label == "node in use":
        result["node_in_use"] = _file_value(value)
    elif label == "interface":
        result["interface"] = _file_value(value)
    elif label == "last command":
        match = _DB_LAST_COMMAND_RE.match(value)
        if match:
            result["last_command"] = {"command": match.group("command"), "result": match.group("result").strip()}
        elif value:
            result["last_command"] = {"command": value, "result": None}
    else:
        expired = _DB_EXPIRED_RE.match(value)
        name = _file_value(expired.group("file") if expired else value)
        result["certificates"][DB_CERT_LABELS[label]] = (
            None if name is None else {"file": name, "expired": bool(expired)}
        )


# ---------------------------------------------------------------------------------------------------------------
# backup
# ---------------------------------------------------------------------------------------------------------------
_BACKUP_READY_RE = re.compile(r"^\s*(?P<name>\S+?)\.bak ready for download\s*$")  # [H]


def parse_backup_snapshot(text: str) -> str:
    """The snapshot name from ``<name>.bak ready for download`` [H]."""
    for line in _require_lines(text, "backup snapshot"):
        match = _BACKUP_READY_RE.match(line)
        if match:
            return match.group("name")
    raise MmpParseError(
        "backup snapshot did not report '<name>.bak ready for download'", command="backup snapshot", output=text
    )


def parse_backup_list(text: str) -> list[str]:
    """The snapshot names ``backup list`` shows, without ``.bak``/``.json``, in the node's order.

    [GUESS] The output of ``backup list`` was never seen; the simulator prints a ``Backups:`` header and one file
    per line.  Header lines (ending in ``:``) are skipped and the first word of every other line is taken.
    """
    names: list[str] = []
    for line in output_lines(text or ""):
        stripped = line.strip()
        if ERROR_RE.match(stripped):
            raise MmpParseError("backup list reported an error", command="backup list", output=text)
        if not stripped or stripped.endswith(":"):
            continue
        word = stripped.split()[0]
        for suffix in (".bak", ".json"):
            if word.endswith(suffix):
                word = word[: -len(suffix)]
        if word and word not in names:
            names.append(word)
    return names
