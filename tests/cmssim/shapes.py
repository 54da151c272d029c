"""Every output shape and error string the simulator prints, in one table.

Marks follow ``docs/dev/mmp_reference.md#marks``: **[H]** seen verbatim in a Cisco transcript, **[M]** one
non-Cisco source or a damaged transcript, **[GUESS]** not found anywhere: a plausible shape, to be replaced here
(and only here) as soon as a real transcript shows the truth.  Verb modules import their strings from this file;
no output text is written anywhere else in the simulator.
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------------------------------------
# Transport and command line
# --------------------------------------------------------------------------------------------------------
PROMPT = "{hostname}> "  # [H] "cms2> "
# [GUESS] what the MMP prints for a word it does not know.
UNKNOWN_COMMAND = 'ERROR: Unknown command "{line}"'
# [GUESS] a file a command names does not exist in the user file store.
FILE_NOT_FOUND = "ERROR: File {name} not found"
# [GUESS] what a fault-injected failing command prints when the lab file gives no text.
INJECTED_FAILURE = "FAILURE: Internal error"

# Top-level words that exist only on some major versions (CMS 3.0 removed xmpp and the old web bridge) [H].
VERB_MAJORS: dict[str, tuple[int, ...]] = {
    "webbridge": (2,),
    "xmpp": (2,),
    "webbridge3": (3,),
}


def split_command(line: str) -> list[str]:
    """Split a command line into words.

    [GUESS] How the MMP quotes a value with spaces (``O:"Example Org"``) is not documented; the simulator accepts
    double quotes around a whole word or around the value after ``KEY:`` and strips them.  Unbalanced quotes
    raise ``ValueError``.
    """
    if line.count('"') % 2:
        raise ValueError("unbalanced quotes")
    words: list[str] = []
    for word in re.findall(r'(?:[^\s"]|"[^"]*")+', line):
        words.append(word.replace('"', ""))
    return words


def is_plain_file_name(name: str) -> bool:
    """One flat directory: no separators, no dot names, no control characters [H: S22 uploads to ``/CMS.key``]."""
    return (
        bool(name)
        and len(name) <= 255
        and "/" not in name
        and "\\" not in name
        and name not in (".", "..")
        and not any(ord(c) < 32 or ord(c) == 127 for c in name)
    )


# --------------------------------------------------------------------------------------------------------
# Timings (seconds); a lab file overrides any of them under ``timings:``
# --------------------------------------------------------------------------------------------------------
DEFAULT_TIMINGS: dict[str, float] = {
    "command": 0.0,  # latency added to every command
    "service_transition": 0.2,  # webadmin/webbridge/turn/xmpp enable and disable, callbridge restart
    "cluster_remove": 1.0,  # Disabling -> Disabled
    "cluster_initialize": 1.0,  # Initializing -> Connected Primary
    "cluster_join": 1.5,  # Joining -> Connected Replica ( In Sync )
    "cluster_connect": 0.5,  # connect-only node: Connecting -> Enabled
}

# --------------------------------------------------------------------------------------------------------
# pki
# --------------------------------------------------------------------------------------------------------
PKI_USAGE = (  # [GUESS] the usage text of `pki` without a valid sub-command.
    "Usage:\n"
    "  pki list\n"
    "  pki inspect <filename>\n"
    "  pki match <key> <certificate>\n"
    "  pki verify <certificate> [<ca bundle>]\n"
    "  pki csr <key/cert basename> <CN:value> [OU:<value>] [O:<value>] [ST:<value>] [C:<value>] "
    "[subjectAltName:<value>]\n"
    "  pki selfsigned <key/cert basename> [CN:<value>]\n"
    "  pki sign <key/cert basename> <ca basename>"
)
PKI_LIST_HEADER = "User supplied certificates and keys:"  # [H]
PKI_CSR_PROGRESS = ("..............", "......")  # [H] OpenSSL-style progress dots; the count varies [M]
PKI_CSR_CREATED = "Created key file {name}.key and CSR {name}.csr"  # [H]
PKI_CSR_READY = "CSR file {name}.csr ready for download via SFTP"  # [H]
# [GUESS] key size of `pki csr` / `pki selfsigned` (not found: docs/dev/mmp_reference.md#key-sizes).
PKI_CSR_KEY_BITS = 2048
PKI_CSR_BAD_BASENAME = "ERROR: Invalid key/cert basename: {name}"  # [GUESS]
PKI_CSR_NO_CN = "ERROR: CN must be specified"  # [GUESS]
PKI_CSR_BAD_COUNTRY = "ERROR: Country must be a two letter code"  # [GUESS]
PKI_CSR_BAD_ATTRIBUTE = "ERROR: Invalid attribute: {attr}"  # [GUESS]
PKI_CSR_SAN_WITHOUT_CN = "ERROR: subjectAltName must contain the CN"  # [GUESS] rule [H], text [GUESS]
PKI_INSPECT_SSH_NOT_FOUND = "Checking ssh public keys...not found"  # [H]
PKI_INSPECT_USER_FOUND = "Checking user configured certificates and keys...found"  # [H]
PKI_INSPECT_USER_NOT_FOUND = "Checking user configured certificates and keys...not found"  # [GUESS]
PKI_INSPECT_PEM_CERT = "File contains a PEM encoded certificate"  # [H]
PKI_INSPECT_PEM_KEY = "File contains a PEM encoded private key"  # [GUESS]
PKI_INSPECT_PEM_CSR = "File contains a PEM encoded certificate signing request"  # [GUESS]
PKI_MATCH_OK = "SUCCESS: Key and certificate pair match"  # [GUESS] wording [H] from `streamer enable`
PKI_MATCH_FAIL = "FAILURE: Key and certificate pair do not match"  # [GUESS]
PKI_VERIFY_OK = "SUCCESS: Certificate verified against {bundle}"  # [GUESS]
PKI_VERIFY_SELF_OK = "SUCCESS: Certificate is self-signed and valid"  # [GUESS] verify without a bundle
PKI_VERIFY_FAIL = "FAILURE: Certificate verification failed: {reason}"  # [GUESS]
PKI_SELFSIGNED_DONE = "Created key file {name}.key and certificate {name}.crt"  # [GUESS]
PKI_SIGN_DONE = "Signed certificate {name}.crt with {ca}"  # [GUESS]
PKI_SIGN_NO_CSR = "ERROR: No CSR {name}.csr to sign"  # [GUESS]
PKI_SIGN_NO_CA = "ERROR: CA {ca} not found"  # [GUESS]
PKI_SELFSIGNED_DAYS = 365  # [GUESS] validity of `pki selfsigned`
PKI_SIGN_DAYS = 365  # [GUESS] validity of `pki sign`
# [GUESS] Which files `pki list` shows: S8 shows keys, certificates and CSRs only; whether backups, the licence,
# upgrade images or pcaps appear is not shown, so the simulator hides those (by suffix).
PKI_LIST_HIDDEN_SUFFIXES = (".bak", ".json", ".lic", ".img", ".pcap")
PKI_CSR_ATTRIBUTES = ("CN", "OU", "O", "ST", "C", "subjectAltName")  # [H] the documented `pki csr` attributes
PKI_SELFSIGNED_ATTRIBUTES = ("CN",)  # [H/M] only `CN:` is ever shown with `pki selfsigned`
# [GUESS] S2 states the rule "if given, subjectAltName must also contain the CN" and the simulator enforces it as the
# brief asks; note that S8's real transcript (`pki csr tac CN:.*.tptac9.com subjectAltName:streamer.tptac9.com`)
# was accepted, so the real MMP may not check it.  Flip this to False to mimic S8.
PKI_CSR_ENFORCE_SAN_CONTAINS_CN = True
PKI_INSPECT_PEM_CERTS = "File contains {count} PEM encoded certificates"  # [GUESS] a bundle or chain file
PKI_INSPECT_ENCRYPTED_KEY = "File contains an encrypted PEM private key"  # [GUESS]
PKI_INSPECT_UNKNOWN = "ERROR: File {name} does not contain a PEM encoded certificate, key or CSR"  # [GUESS]
PKI_KEY_UNREADABLE = "FAILURE: Unable to load private key {name} (encrypted or not a PEM private key)"  # [GUESS]
PKI_CERT_UNREADABLE = "FAILURE: Unable to load certificate {name}"  # [GUESS]
PKI_BUNDLE_UNREADABLE = "FAILURE: No certificates found in {name}"  # [GUESS]
PKI_SIGN_CA_UNREADABLE = "ERROR: Unable to load CA key {ca}.key or certificate {ca}.crt"  # [GUESS]
PKI_SIGN_CA_MISMATCH = "ERROR: CA key {ca}.key does not match certificate {ca}.crt"  # [GUESS]
PKI_SIGN_BAD_CSR = "ERROR: Unable to load CSR {name}.csr"  # [GUESS]
PKI_SELFSIGNED_BAD_NAME = PKI_CSR_BAD_BASENAME  # [GUESS] same rule as `pki csr` (letters, digits, - and _)


def pki_progress_dots(first: int, second: int) -> str:
    """[H] shape of S8's key-generation progress: two lines of dots whose lengths vary run to run [M]."""
    return "." * first + "\n" + "." * second


# `pki inspect` body: S1 [H] up to `Public-Key`, OpenSSL `x509 -text` re-indented by 2 spaces per level after it
# [GUESS].  `{key_details}` and `{extensions}` are blocks of whole lines (each ending in a newline) or empty.
PKI_INSPECT_DATE = "{mon} {day:>2} {hms} {year} GMT"  # [H] "Mar  9 08:47:17 2015 GMT"
PKI_INSPECT_CERT_BODY = (
    "Certificate:\n"
    "  Data:\n"
    "    Version: {version} (0x{version_hex:x})\n"
    "    Serial Number:\n"
    "      {serial}\n"
    "    Signature Algorithm: {sig_alg}\n"
    "    Issuer: {issuer}\n"
    "    Validity:\n"
    "      Not Before: {not_before}\n"
    "      Not After : {not_after}\n"
    "    Subject: {subject}\n"
    "    Subject Public Key Info:\n"
    "      Public Key Algorithm: {key_alg}\n"
    "      Public-Key: ({key_bits} bit)\n"
    "{key_details}"
    "{extensions}"
    "  Signature Algorithm: {sig_alg}\n"
    "  Signature Value:\n"
    "{signature}"
)
PKI_INSPECT_CSR_BODY = (  # [GUESS] OpenSSL `req -text`, re-indented like the certificate
    "Certificate Request:\n"
    "  Data:\n"
    "    Version: 1 (0x0)\n"
    "    Subject: {subject}\n"
    "    Subject Public Key Info:\n"
    "      Public Key Algorithm: {key_alg}\n"
    "      Public-Key: ({key_bits} bit)\n"
    "{key_details}"
    "    Attributes:\n"
    "{extensions}"
    "  Signature Algorithm: {sig_alg}\n"
    "  Signature Value:\n"
    "{signature}"
)
PKI_INSPECT_CSR_NO_ATTRIBUTES = "      (none)\n"  # [GUESS] OpenSSL's wording for a CSR without attributes
PKI_INSPECT_CSR_EXTENSIONS = "      Requested Extensions:\n"  # [GUESS]
PKI_INSPECT_KEY_BODY = "Private-Key: ({key_bits} bit)"  # [GUESS] only the size; the key material is not echoed
PKI_INSPECT_RSA_MODULUS = "      Modulus:\n"  # [GUESS]
PKI_INSPECT_RSA_EXPONENT = "      Exponent: {exponent} (0x{exponent:x})\n"  # [GUESS]
PKI_INSPECT_EXTENSIONS = "    X509v3 extensions:\n"  # [GUESS]
PKI_INSPECT_EXTENSION = "{indent}{name}:{critical}\n{indent}  {value}\n"  # [GUESS]
PKI_INSPECT_CRITICAL = " critical"  # [GUESS]
PKI_INSPECT_EXTENSION_NAMES = {  # [GUESS] OpenSSL's long names
    "basicConstraints": "X509v3 Basic Constraints",
    "keyUsage": "X509v3 Key Usage",
    "extendedKeyUsage": "X509v3 Extended Key Usage",
    "subjectKeyIdentifier": "X509v3 Subject Key Identifier",
    "authorityKeyIdentifier": "X509v3 Authority Key Identifier",
    "subjectAltName": "X509v3 Subject Alternative Name",
}
PKI_INSPECT_KEY_USAGE_NAMES = {  # [GUESS] OpenSSL wording
    "digital_signature": "Digital Signature",
    "content_commitment": "Non Repudiation",
    "key_encipherment": "Key Encipherment",
    "data_encipherment": "Data Encipherment",
    "key_agreement": "Key Agreement",
    "key_cert_sign": "Certificate Sign",
    "crl_sign": "CRL Sign",
}
PKI_INSPECT_EKU_NAMES = {  # [GUESS] OpenSSL wording
    "serverAuth": "TLS Web Server Authentication",
    "clientAuth": "TLS Web Client Authentication",
}
PKI_INSPECT_SAN_PREFIX = {"DNSName": "DNS", "IPAddress": "IP Address", "RFC822Name": "email"}  # [GUESS] OpenSSL's
PKI_INSPECT_AKI_PREFIX = "keyid:"  # [GUESS] OpenSSL 1.1 style (3.x drops the prefix)

# --------------------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------------------
SERVICE_CERTS_MISSING_FILE = "ERROR: File {name} not found"  # [GUESS] `<service> certs` with a missing file
SERVICE_CERTS_MISMATCH = "FAILURE: Key and certificate pair do not match"  # [GUESS] checked at enable/restart [L]
SERVICE_ENABLE_OK_MATCH = "SUCCESS: Key and certificate pair match"  # [H] streamer; [GUESS] for the others
SERVICE_ENABLE_TLS = "SUCCESS: TLS interface and port configured"  # [GUESS]
SERVICE_ENABLE_LISTEN = "SUCCESS: listen interface configured"  # [GUESS]
SERVICE_ENABLED = "SUCCESS: {service} enabled"  # [GUESS] (streamer: "SUCCESS: Streamer enabled" [H])
SERVICE_NO_CERTS = "FAILURE: TLS port set but no certificates configured"  # [H] streamer
SERVICE_NOT_COMPLETE = "FAILURE: {service} configuration not complete"  # [H] streamer wording
SERVICE_CERT_EXPIRED = "FAILURE: Certificate {name} has expired"  # [GUESS]
SERVICE_USAGE = "Usage:\n  {service} certs <key-file> <crt-file> [<crt-bundle>]"  # [GUESS]
SERVICE_BAD_INTERFACE = "ERROR: Invalid interface {iface}"  # [GUESS]
SERVICE_BAD_PORT = "ERROR: Invalid port {port}"  # [GUESS]
SERVICE_BAD_LISTEN = "ERROR: Invalid listen address {value}, expected <interface>:<port>"  # [GUESS]
SERVICE_TRUST_MISSING_FILE = SERVICE_CERTS_MISSING_FILE  # [GUESS] trust bundle that is not in the file store
SERVICE_NO_TLS_LISTEN = "FAILURE: TLS interface and port not configured"  # [GUESS]
SERVICE_NO_LISTEN = "FAILURE: listen interface not configured"  # [GUESS]
SERVICE_NO_DOMAIN = "FAILURE: XMPP domain not configured"  # [GUESS]
SERVICE_FILE_MISSING = "FAILURE: File {name} not found"  # [GUESS] a configured file removed over SFTP
SERVICE_KEY_UNREADABLE = "FAILURE: Unable to load private key {name}"  # [GUESS] encrypted or not PEM
SERVICE_CERT_UNREADABLE = "FAILURE: Unable to load certificate {name}"  # [GUESS]
# Interfaces a CMS node has (a to d) [H: `ipv4 a`, S10 "interface a"]; `turn listen` also takes `lo` [M: S20].
SERVICE_INTERFACES = ("a", "b", "c", "d")
TURN_EXTRA_INTERFACES = ("lo",)
SERVICE_USAGES = {  # [GUESS] usage text of each service word with a bad sub-command or argument count
    "webadmin": (
        "Usage:\n"
        "  webadmin\n"
        "  webadmin listen <interface> <port>\n"
        "  webadmin certs <key-file> <crt-file> [<crt-bundle>]\n"
        "  webadmin http-redirect (enable|disable)\n"
        "  webadmin (enable|disable|restart)"
    ),
    "callbridge": (
        "Usage:\n"
        "  callbridge\n"
        "  callbridge listen <interface> [<interface>...]\n"
        "  callbridge certs <key-file> <crt-file> [<crt-bundle>]\n"
        "  callbridge trust (c2w|cluster|branding) <crt-bundle|none>\n"
        "  callbridge (ucm|imps) certs <crt-bundle|none>\n"
        "  callbridge (ucm|imps) verify (enable|disable)\n"
        "  callbridge restart"
    ),
    "webbridge3": (
        "Usage:\n"
        "  webbridge3\n"
        "  webbridge3 https listen <interface:port> [<interface:port>...]\n"
        "  webbridge3 https certs <key-file> <crt-fullchain-file>\n"
        "  webbridge3 c2w listen <interface:port> [<interface:port>...]\n"
        "  webbridge3 c2w certs <key-file> <crt-fullchain-file>\n"
        "  webbridge3 c2w trust <crt-bundle>\n"
        "  webbridge3 http-redirect (enable|disable)\n"
        "  webbridge3 (enable|disable|restart)"
    ),
    "webbridge": (
        "Usage:\n"
        "  webbridge\n"
        "  webbridge listen <interface:port> [<interface:port>...]\n"
        "  webbridge certs <key-file> <crt-file> [<crt-bundle>]\n"
        "  webbridge trust <crt-bundle>\n"
        "  webbridge http-redirect (enable|disable)\n"
        "  webbridge (enable|disable)"
    ),
    "xmpp": (
        "Usage:\n"
        "  xmpp\n"
        "  xmpp domain <domain>\n"
        "  xmpp listen <interface> [<interface>...]\n"
        "  xmpp certs <key-file> <crt-file> [<crt-bundle>]\n"
        "  xmpp (enable|disable)"
    ),
    "turn": (
        "Usage:\n"
        "  turn\n"
        "  turn listen <interface> [<interface>...]\n"
        "  turn tls <port|none>\n"
        "  turn credentials <username> <password> <realm>\n"
        "  turn public-ip <ip>\n"
        "  turn certs <key-file> <crt-file> [<crt-bundle>]\n"
        "  turn (enable|disable)"
    ),
}

# ---- trust stores (docs/dev/mmp_reference.md#trust-stores) ---------------------------------------------
TRUST_CLEAR = "none"  # [GUESS] the word that empties a trust store (every status prints `none` for one [H])
TLS_NAMES = ("sip", "ldap", "dbclient", "dbserver", "webadmin")  # [H] sip (S8); [GUESS] the others
TLS_VERIFY_MODES = {"enable": "enabled", "disable": "disabled", "ocsp": "ocsp"}  # [H] enable (S8); [GUESS] others
TLS_STATUS_ROWS = (("Trust bundle", "trust"), ("Verification", "verify"))  # [GUESS] `tls <name>` alone
TLS_USAGE = (  # [GUESS]
    "Usage:\n"
    "  tls (sip|ldap|dbclient|dbserver|webadmin)\n"
    "  tls <name> trust <crt-bundle|none>\n"
    "  tls <name> verify (enable|disable|ocsp)"
)
# [H] S8: what a Call Bridge logs when SIP TLS to a peer fails and it goes on without TLS.
SIP_TLS_FALLBACK_LOG = "call {call}: falling back to unencrypted control connection..."

# ---- service status blocks (`<service>` with no arguments) -------------------------------------------
# Unset values print `none` [H]; booleans `true`/`false` [H]; redirect flags `Enabled`/`Disabled` [H].
STATUS_NONE = "none"  # [H]
STATUS_BOOL = {True: "true", False: "false"}  # [H]
STATUS_FLAG = {True: "Enabled", False: "Disabled"}  # [H] HTTP redirect, Audio priority flag
STATUS_MODE = {True: "enabled", False: "disabled"}  # [H] verification modes, turn options
WEBADMIN_STATUS = (  # [H] S6 (CMS 3.x); used for 2.x as well [GUESS]
    "Enabled                 : {enabled}\n"
    "TLS listening interface : {interface}\n"
    "TLS listening port      : {port}\n"
    "Key file                : {key}\n"
    "Certificate file        : {cert}\n"
    "{bundle_line}"
    "HTTP redirect           : {http_redirect}\n"
    "STATUS                  : {status}"
)
WEBADMIN_BUNDLE_LINE = "CA Bundle file          : {bundle}\n"  # [GUESS] only when a bundle is configured
WEBADMIN_RUN_STATE = {True: "webadmin running", False: "webadmin not running"}  # [H] running; [GUESS] not running
CALLBRIDGE_STATUS_3 = (  # [H] S6/S7: three padding groups; no `Enabled` line
    "Listening interfaces  : {interfaces}\n"
    "Preferred interface   : {preferred}\n"
    "Key file              : {key}\n"
    "Certificate file      : {cert}\n"
    "Address               : {address}\n"
    "{bundle_line}"
    "C2W trusted certs                   : {c2w_trust}\n"
    "Callbridge cluster trusted certs    : {cluster_trust}\n"
    "Callbridge trust branding certs     : {branding_trust}\n"
    "UCM trusted certs         : {ucm_trust}\n"
    "UCM verification mode     : {ucm_verify}\n"
    "IMPS trusted certs        : {imps_trust}\n"
    "IMPS verification mode    : {imps_verify}\n"
    "WC3 JWT Expiry in hours   : {jwt_expiry}"
)
CALLBRIDGE_STATUS_2 = (  # [GUESS] 2.x: the first group of the 3.x block plus the cluster trust line
    "Listening interfaces  : {interfaces}\n"
    "Preferred interface   : {preferred}\n"
    "Key file              : {key}\n"
    "Certificate file      : {cert}\n"
    "Address               : {address}\n"
    "{bundle_line}"
    "Callbridge cluster trusted certs    : {cluster_trust}"
)
CALLBRIDGE_BUNDLE_LINE = "CA Bundle file        : {bundle}\n"  # [H] S7, absent (not `none`) without a bundle
# [H] S6 label list and order; [GUESS] the padding: one common column one space after the longest label.
WEBBRIDGE3_STATUS_ROWS = (
    ("Enabled", "enabled"),
    ("HTTPS listening ports and interfaces", "https_listen"),
    ("HTTPS Key file", "https_key"),
    ("HTTPS Full chain certificate file", "https_cert"),
    ("HTTPS Frame-Ancestors", "frame_ancestors"),
    ("HTTP redirect", "http_redirect"),
    ("C2W listening ports and interfaces", "c2w_listen"),
    ("C2W Key file", "c2w_key"),
    ("C2W Full chain certificate file", "c2w_cert"),
    ("C2W Trust bundle", "c2w_trust"),
    ("Meetingapps address", "meetingapps_address"),
    ("Meetingapps port", "meetingapps_port"),
    ("Audio priority flag", "audio_priority"),
    ("Beta options", "beta_options"),
)
WEBBRIDGE_STATUS_ROWS = (  # [GUESS] 2.x web bridge status: not found anywhere
    ("Enabled", "enabled"),
    ("Listening interfaces and ports", "listen"),
    ("Key file", "key"),
    ("Certificate file", "cert"),
    ("CA Bundle file", "bundle"),
    ("Trust bundle", "trust"),
    ("HTTP redirect", "http_redirect"),
)
XMPP_STATUS_ROWS = (  # [GUESS] 2.x xmpp status: not found anywhere
    ("Enabled", "enabled"),
    ("Domain", "domain"),
    ("Listening interfaces", "listen"),
    ("Key file", "key"),
    ("Certificate file", "cert"),
    ("CA Bundle file", "bundle"),
)
STATUS_ROW = "{label} : {value}"  # [H] `Label : value`, label left-justified to the block's width
TURN_STATUS = (  # [H] S6 (CMS 3.x), password in clear; used for 2.x as well [GUESS]
    "Enabled                 : {enabled}\n"
    "Username                : {username}\n"
    "Password                : {password}\n"
    "Short term credentials  : {short_term}\n"
    "Shared secret           : {shared_secret}\n"
    "Realm                   : {realm}\n"
    "Public IP               : {public_ip}\n"
    "High Capacity Mode      : {high_capacity}\n"
    "Relay address           : {relay}\n"
    "TLS port                : {tls_port}\n"
    "TLS cert                : {cert}\n"
    "TLS key                 : {key}\n"
    "TLS bundle              : {bundle}"
    "{listen_lines}"
)
TURN_LISTEN_LINE = "\nListen interface      {iface}"  # [H] no colon


def status_rows(rows: list[tuple[str, str]]) -> str:
    """A `Label : value` block padded to one column (the [GUESS] blocks and webbridge3)."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(STATUS_ROW.format(label=label.ljust(width), value=value) for label, value in rows)


# --------------------------------------------------------------------------------------------------------
# database cluster
# --------------------------------------------------------------------------------------------------------
DB_CERTS_WHILE_ENABLED = (  # [H]
    "ERROR: Cannot change certificates when clustering enabled.\nDisable clustering on this node first"
)
DB_CERTS_UPDATED = "Certificates updated"  # [H]
DB_REMOVE_WARNING = (  # [H]
    "WARNING!!!\n"
    "Are you sure you wish to remove this node from the current cluster? (Y/n)\n"
    "The current contents of this node's database will become the running local database.\n"
    "This node will lose all knowledge of the rest of the cluster.\n"
    "The callbridge and web administration will restart at the end of this procedure."
)
DB_INITIALIZE_WARNING = (  # [H] (the TechNote's 80-column wrap undone)
    "WARNING!!!\n"
    "Are you sure you wish to initialize this node as a new database cluster? (Y/n)\n"
    "The contents of this node's database will become the master version of the database in the new cluster.\n"
    "The callbridge and web administration will restart at the end of this procedure."
)
DB_JOIN_WARNING = (  # [H]
    "WARNING!!!\n"
    "Are you sure you wish to join this node to an existing database cluster? (Y/n)\n"
    "The contents of this node's database will be destroyed!\n"
    "The callbridge and web administration will restart at the end of this procedure."
)
DB_ALREADY_CLUSTERED_NOTE = (  # [H]
    "NOTE: This node is already in a cluster.\nKnowledge of all nodes in the old cluster will be removed"
)
DB_CONNECT_WARNING = (  # [GUESS] by analogy with join
    "WARNING!!!\n"
    "Are you sure you wish to connect this node to an existing database cluster? (Y/n)\n"
    "This node will use the database of the cluster; its local database will not be used.\n"
    "The callbridge and web administration will restart at the end of this procedure."
)
DB_PLEASE_WAIT = "Please wait..."  # [H]
DB_STARTED = {  # [H] remove; [GUESS] the others by analogy
    "remove": "Remove started...",
    "initialize": "Initialization started...",
    "join": "Join started...",
    "connect": "Connect started...",
}
DB_UNKNOWN_PRIMARY = "ERROR: Unable to contact {address}"  # [GUESS]
DB_LOCALNODE_BAD_IFACE = "ERROR: Invalid interface {iface}"  # [GUESS]
DB_NO_CERTS = "ERROR: Certificates must be configured before clustering"  # [GUESS]
DB_USAGE = (  # [GUESS]
    "Usage:\n"
    "  database cluster status\n"
    "  database cluster localnode <interface>\n"
    "  database cluster certs <server_key> <server_crt> <client_key> <client_crt> <ca_crt>\n"
    "  database cluster certs <client_key> <client_crt> <ca_crt>\n"
    "  database cluster initialize\n"
    "  database cluster join <ip|fqdn>\n"
    "  database cluster connect <ip|fqdn>\n"
    "  database cluster remove"
)
# Status wordings: 2.x nodes speak Master/Slave, 3.x nodes Primary/Replica
# (docs/dev/mmp_reference.md#reading-the-status; the release that changed it is not established, the simulator switches
# on the major version).
DB_ROLE_WORDS = {2: {"primary": "Master", "replica": "Slave"}, 3: {"primary": "Primary", "replica": "Replica"}}
DB_IN_SYNC = "( In Sync )"  # [H]
DB_OUT_OF_SYNC = "( Out Of Sync )"  # [GUESS]
DB_DISCONNECTED = "Disconnected"  # [GUESS] a node whose certificates do not let it talk to the cluster
DB_TRANSITION_STATUS = {  # [H] Disabling; [GUESS] the others
    "remove": "Disabling (Started {seconds} seconds ago)",
    "initialize": "Initializing (Started {seconds} seconds ago)",
    "join": "Joining (Started {seconds} seconds ago)",
    "connect": "Connecting (Started {seconds} seconds ago)",
}
DB_EXPIRED_MARK = " (expired)"  # [H]
DB_LAST_COMMAND = "'{command}' ({result})"  # [H] value of the `Last command` line; results Success/Failed [H]
DB_BUSY = "ERROR: A database cluster operation is already in progress"  # [GUESS]
DB_NO_LOCALNODE = "ERROR: Local node interface not configured"  # [GUESS] initialize/join/connect before localnode
DB_NO_LOCAL_DATABASE = "ERROR: This node does not hold a database"  # [GUESS] initialize/join on a connect-only node
DB_JOIN_SELF = "ERROR: Cannot join this node to itself"  # [GUESS]
DB_LOCALNODE_WHILE_ENABLED = (  # [GUESS] by analogy with DB_CERTS_WHILE_ENABLED [H]
    "ERROR: Cannot change interface when clustering enabled.\nDisable clustering on this node first"
)
DB_LOCAL_INTERFACES = ("a", "b", "c", "d")  # [M] the MMP's network interfaces
# `database cluster localnode <iface>` prints nothing on success [GUESS].
# The ERROR line of the Error state ([H] shape, S3 upgrade_schema); the texts after a failed join/connect [GUESS].
DB_ERROR_JOIN = "Couldn't join the database cluster"
DB_ERROR_CONNECT = "Couldn't connect to the database cluster"

# `database cluster status` layout.  [H] S1 (2.x capture): `Status`, `Node in use`, `Last command` and node lines
# have their colon at column 22, `Interface` and the certificate lines at column 23; node lines are indented 2.
# [M] S3 (Primary/Replica capture, well formatted only in its Error state) indents node lines by 4 and pads labels to
# "about 25" columns: the simulator takes the indentation and keeps S1's exact column widths for both wordings.
# The output ends with one blank line before the prompt [H] (S1 steps 7 and 13).
DB_STATUS_LAYOUT = {
    2: {"label_width": 22, "block_width": 23, "node_indent": 2},
    3: {"label_width": 22, "block_width": 23, "node_indent": 4},
}
DB_LABELS = {  # [H]
    "error": "ERROR",
    "status": "Status",
    "nodes": "Nodes:",
    "node_in_use": "Node in use",
    "interface": "Interface",
    "certificates": "Certificates",
    "last_command": "Last command",
}
DB_CERT_LABELS = (  # [H] order and wording; indented 2 spaces
    ("server_key", "Server Key"),
    ("server_cert", "Server Certificate"),
    ("client_key", "Client Key"),
    ("client_cert", "Client Certificate"),
    ("ca_cert", "CA Certificate"),
)
DB_STATE_ENABLED = "Enabled"  # [H]
DB_STATE_DISABLED = "Disabled"  # [H]
DB_STATE_ERROR = "Error"  # [H] S3
DB_NONE = "None"  # [H] `Node in use : None`
DB_ME = " (me)"  # [H]
DB_CONNECTED = "Connected {role}"  # [H] "Connected Master", "Connected Replica ( In Sync )" = role + " " + DB_IN_SYNC
# [GUESS] Connect-only nodes (status of such a node not found): `Status : Enabled`, the database nodes in `Nodes:`
# as this node sees them, no `(me)` line, `Node in use` = the primary, and only the certificate lines configured
# with the 3-argument `certs` (Client Key, Client Certificate, CA Certificate).  A never-configured interface or
# certificate set leaves its line/block out [GUESS].  A node that cannot talk to the cluster (expired or foreign
# certificates, key overwritten, peer down or gone) is listed as DB_DISCONNECTED by the others; its own `(me)` line
# reads "Connected <replica> ( Out Of Sync )" [GUESS].

# --------------------------------------------------------------------------------------------------------
# backup
# --------------------------------------------------------------------------------------------------------
BACKUP_USAGE = "Usage:\n  backup snapshot <name>\n  backup rollback <name>\n  backup list"  # [H]
BACKUP_READY = "{name}.bak ready for download"  # [H]
BACKUP_LIST_HEADER = "Backups:"  # [GUESS] `backup list` output not found
BACKUP_NOT_FOUND = "ERROR: Backup {name} not found"  # [GUESS]
BACKUP_ROLLBACK_WARNING = (  # [GUESS] prompt not found; by analogy with the cluster commands
    "WARNING!!!\n"
    "Are you sure you wish to roll back to backup {name}? (Y/n)\n"
    "The current configuration, license, certificates and private keys will be overwritten.\n"
    "The system will reboot at the end of this procedure."
)
BACKUP_ROLLBACK_STARTED = "Rollback started, the system will now reboot..."  # [GUESS]
BACKUP_LIST_ENTRY = "  {file}"  # [GUESS] one line per `.bak` file in the store, oldest first
BACKUP_NAME_RE = r"[A-Za-z0-9_.-]+"  # [GUESS] accepted snapshot names
BACKUP_BAD_NAME = "ERROR: Invalid backup name: {name}"  # [GUESS]
BACKUP_CORRUPT = "ERROR: Backup {name} is not a valid backup file"  # [GUESS]
BACKUP_WRONG_VERSION = (  # [GUESS] text; the rule (same CMS version only) is [H] S5
    "ERROR: Backup {name} was taken on CMS {backup_version} and cannot be restored on CMS {version}"
)

# --------------------------------------------------------------------------------------------------------
# REST API (served by Web Admin; docs/dev/mmp_reference.md#rest-api, sources A1-A3)
# --------------------------------------------------------------------------------------------------------
API_PREFIX = "/api/v1"  # [H] A1
API_XML_DECLARATION = '<?xml version="1.0"?>'  # [M] as CMS starts its replies
# Elements of GET /system/status, in the order the simulator writes them.  callLegsActive/MaxActive/Completed,
# the four bit rates and cdrTime are [H] A1 (10.1); softwareVersion, uptimeSeconds, activated and clusterEnabled
# are [M] (named by other automation, not seen in a fetched page of the guide); the order is [GUESS].
API_STATUS_FIELDS = (
    "softwareVersion",
    "uptimeSeconds",
    "activated",
    "clusterEnabled",
    "cdrTime",
    "callLegsActive",
    "callLegsMaxActive",
    "callLegsCompleted",
    "audioBitRateOutgoing",
    "audioBitRateIncoming",
    "videoBitRateOutgoing",
    "videoBitRateIncoming",
)
API_SOFTWARE_VERSION = "{version}.0"  # [GUESS] e.g. "3.8.0"
# Collections: path -> (top-level tag, item tag).  `<calls total="N">`/`<call id>` and `<callLegs total="N">`/
# `<callLeg id>` are [H] A1 (8.1.1, p. 60); `<callBridges total="N">`/`<callBridge id>` follows the same general form
# [M]; `<alarms>`/`<alarm id>` [H] item, [GUESS] whether the list carries total= (written, as for every list).
API_COLLECTIONS = {
    "/calls": ("calls", "call"),
    "/callLegs": ("callLegs", "callLeg"),
    "/callBridges": ("callBridges", "callBridge"),
    "/system/alarms": ("alarms", "alarm"),
}
API_PAGE_LIMIT = 10  # [GUESS] the most items one GET returns whatever `limit` asks; `total` always counts them all
# GET /system/database: `<database>` with `<clustered>` and one `<node>` per database node holding `hostname`,
# `master`, `up`, `syncBehind` [H] A1 (10.3, elements); the wrapper names and the clustered values are [GUESS].
API_DATABASE_CLUSTERED = {True: "enabled", False: "disabled"}  # [GUESS]
API_SYNC_BEHIND_OUT_OF_SYNC = 4096  # [GUESS] bytes behind for a replica out of sync; -1 "unavailable" is [H] A1
API_UNAUTHORIZED_REALM = 'Basic realm="Acano API"'  # [GUESS] the WWW-Authenticate challenge of a 401
API_ERROR_BODY = ""  # [GUESS] 401 and 404 replies carry no body
