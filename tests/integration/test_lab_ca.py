"""cms_lab_ca signing with a CA kept elsewhere (ca_key_src + ca_chain_src), as an AWX job does with the credential's
CA key: the key is read in place and never copied, the CA directory gets only the bundle and the root."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.cmssim import x509
from tests.cmssim.testing import SimLab


def seed_ca(lab: SimLab) -> dict[str, Path]:
    """The lab's seed CA (a root and an issuing intermediate) as a user keeps it: key, chain (intermediate, root)."""
    ca = lab.dir / "seed-ca"
    return {"key": ca / "intermediate.key", "intermediate": ca / "intermediate.crt", "root": ca / "root.crt"}


def write_csr(path: Path, cn: str) -> Path:
    key = x509.new_key()
    csr = x509.make_csr(key, {"CN": cn}, [cn])
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def sign_play(tasks: dict[str, dict[str, Any]]) -> str:
    """One play on the controller: a cms_lab_ca task per entry, named by its key, failures kept for the asserts."""
    body = ""
    for name, args in tasks.items():
        lines = "\n".join(f"            {k}: {v}" for k, v in args.items())
        body += f"""
        - name: {name}
          cisco_cms.mmp.cms_lab_ca:
{lines}
          ignore_errors: true
"""
    return f"""
    - hosts: localhost
      gather_facts: false
      tasks:
{body}
    """


def test_an_issuing_ca_kept_elsewhere_signs_and_its_key_is_never_copied(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    seed = seed_ca(lab)
    chain = tmp_path / "issuing-chain.cer"  # the CMS bundle layout: the issuing CA, then the root
    chain.write_bytes(seed["intermediate"].read_bytes() + seed["root"].read_bytes())
    csr = write_csr(tmp_path / "cms1-2027.csr", "cms1.lab.cms.example")
    ca_dir, dest, fullchain = tmp_path / "lab-ca", tmp_path / "cms1-2027.cer", tmp_path / "cms1-2027-fullchain.cer"
    args = {
        "path": ca_dir,
        "ca_key_src": seed["key"],
        "ca_chain_src": chain,
        "csr": csr,
        "dest": dest,
        "fullchain_dest": fullchain,
    }
    run = playbook(lab, sign_play({"sign": args, "again": args}))
    first, again = run.task("localhost", "sign"), run.task("localhost", "again")
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True and first["signed"] is True and first["ca_created"] is False
    assert again["changed"] is False and again["signed"] is False

    intermediate = x509.load_certs(seed["intermediate"].read_bytes())[0]
    root = x509.load_certs(seed["root"].read_bytes())[0]
    cert = x509.load_certs(dest.read_bytes())[0]
    assert x509.issued_by(cert, intermediate) and x509.san_values(cert) == ["cms1.lab.cms.example"]
    assert [x509.fingerprint(c) for c in x509.load_certs(fullchain.read_bytes())] == [
        x509.fingerprint(c) for c in (cert, intermediate, root)
    ]
    # The CA directory holds what the rollout reads (bundle, root) and no key: the key stayed where it was.
    assert sorted(p.name for p in ca_dir.iterdir()) == ["ca-bundle.cer", "root-ca.cer"]
    bundle = x509.load_certs((ca_dir / "ca-bundle.cer").read_bytes())
    assert [x509.fingerprint(c) for c in bundle] == [x509.fingerprint(intermediate), x509.fingerprint(root)]
    assert stat.S_IMODE(seed["key"].stat().st_mode) == 0o600
    key_body = b"".join(seed["key"].read_bytes().splitlines()[1:-1])
    written = [*ca_dir.iterdir(), dest, fullchain]
    assert not [p for p in written if key_body[:64] in p.read_bytes()]


def test_a_ca_that_cannot_sign_is_refused_with_the_reason_and_nothing_is_written(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    seed = seed_ca(lab)
    csr = write_csr(tmp_path / "x.csr", "cms1.lab.cms.example")
    reversed_chain = tmp_path / "reversed.cer"
    reversed_chain.write_bytes(seed["root"].read_bytes() + seed["intermediate"].read_bytes())
    good_chain = tmp_path / "chain.cer"
    good_chain.write_bytes(seed["intermediate"].read_bytes() + seed["root"].read_bytes())
    other_key = tmp_path / "other.key"
    other_key.write_bytes(x509.key_pem(x509.new_key()))
    leaf = tmp_path / "leaf-chain.cer"  # a server certificate and its issuers: not a CA, cannot sign
    leaf.write_bytes((lab.files_dir("cms1") / "cms1-2025.cer").read_bytes() + good_chain.read_bytes())
    cases = {
        "reversed": ({"ca_key_src": seed["key"], "ca_chain_src": reversed_chain}, "is not the CA certificate followed"),
        "wrong_key": ({"ca_key_src": other_key, "ca_chain_src": good_chain}, "is not the key of"),
        "not_a_ca": ({"ca_key_src": other_key, "ca_chain_src": leaf}, "is not a CA certificate"),
        "key_only": ({"ca_key_src": seed["key"]}, "parameters are required together: ca_key_src, ca_chain_src"),
    }
    tasks = {
        name: {"path": tmp_path / name, **extra, "csr": csr, "dest": tmp_path / f"{name}-signed.cer"}
        for name, (extra, _message) in cases.items()
    }
    run = playbook(lab, sign_play(tasks))
    for name, (_extra, message) in cases.items():
        result = run.task("localhost", name)
        assert result.get("failed") and message in result["msg"], (name, result.get("msg"))
        assert not (tmp_path / f"{name}-signed.cer").exists() and not (tmp_path / name).exists(), name


def test_an_encrypted_ca_key_signs_with_its_passphrase_and_is_refused_by_name_without_it(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    seed = seed_ca(lab)
    chain = tmp_path / "chain.cer"
    chain.write_bytes(seed["intermediate"].read_bytes() + seed["root"].read_bytes())
    key = serialization.load_pem_private_key(seed["key"].read_bytes(), password=None)
    encrypted = tmp_path / "issuing-encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"ca secret"),
        )
    )
    csr = write_csr(tmp_path / "cms1.csr", "cms1.lab.cms.example")
    base: dict[str, Any] = {"ca_key_src": encrypted, "ca_chain_src": chain, "csr": csr}
    tasks: dict[str, dict[str, Any]] = {
        "without": {"path": tmp_path / "a", **base, "dest": tmp_path / "without.cer"},
        "wrong": {"path": tmp_path / "b", **base, "ca_key_passphrase": "'not it'", "dest": tmp_path / "wrong.cer"},
        "right": {"path": tmp_path / "c", **base, "ca_key_passphrase": "'ca secret'", "dest": tmp_path / "right.cer"},
    }
    run = playbook(lab, sign_play(tasks))
    without, wrong, right = (run.task("localhost", name) for name in ("without", "wrong", "right"))
    assert without.get("failed") and f"ca_key_src {encrypted} is encrypted: give its passphrase in" in without["msg"]
    assert "not supported by CMS" not in without["msg"]
    assert wrong.get("failed") and "could not be decrypted with the passphrase given" in wrong["msg"]
    assert not (tmp_path / "without.cer").exists() and not (tmp_path / "wrong.cer").exists()
    assert not right.get("failed"), right.get("msg")
    cert = x509.load_certs((tmp_path / "right.cer").read_bytes())[0]
    assert x509.issued_by(cert, x509.load_certs(seed["intermediate"].read_bytes())[0])
    # The passphrase is no_log: it is in no result, nor in the output.
    assert "ca secret" not in run.stdout


def test_check_mode_creates_no_ca_directory_and_no_lock_then_a_real_run_signs(
    lab: SimLab, playbook: Callable[..., Any], tmp_path: Path
) -> None:
    csr = write_csr(tmp_path / "cms1-2027.csr", "cms1.lab.cms.example")
    ca_dir, dest = tmp_path / "lab-ca", tmp_path / "out" / "cms1-2027.cer"
    args = {"path": ca_dir, "csr": csr, "dest": dest}
    planned = playbook(lab, sign_play({"sign": args}), check=True).task("localhost", "sign")
    assert not planned.get("failed"), planned.get("msg")
    assert planned["changed"] and planned["ca_created"] and planned["signed"]
    assert not ca_dir.exists() and not dest.parent.exists()
    run = playbook(lab, sign_play({"sign": args, "again": args}))
    first, again = run.task("localhost", "sign"), run.task("localhost", "again")
    assert first["ca_created"] and first["signed"] and not again["changed"]
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((ca_dir / "issuing-ca.key").stat().st_mode) == 0o600
    assert sorted(p.name for p in ca_dir.iterdir()) == [
        ".lock",
        "ca-bundle.cer",
        "issuing-ca.cer",
        "issuing-ca.key",
        "root-ca.cer",
        "root-ca.key",
    ]
