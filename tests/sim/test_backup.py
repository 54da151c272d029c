"""`backup snapshot|list|rollback` over real SSH and SFTP."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Callable

import pytest

from tests.cmssim import backup, shapes
from tests.cmssim.testing import SimLab

USAGE = "Usage:\n  backup snapshot <name>\n  backup rollback <name>\n  backup list\n"  # TN 216549, verbatim
FAST = {"cluster_remove": 0.2, "cluster_initialize": 0.2, "cluster_join": 0.2, "cluster_connect": 0.2}


def download(lab: SimLab, node: str, name: str) -> bytes:
    with lab.sftp(node) as sftp, sftp.open(name, "rb") as fh:
        return fh.read()


def upload(lab: SimLab, node: str, name: str, data: bytes) -> None:
    with lab.sftp(node) as sftp:
        sftp.putfo(io.BytesIO(data), name)


def listing(lab: SimLab, node: str) -> set[str]:
    with lab.sftp(node) as sftp:
        return set(sftp.listdir("."))


def wait_for(lab: SimLab, node: str, command: str, want: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = lab.run(node, command)
        if want in out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"{want!r} not in {command!r} on {node}; last:\n{out}")


def test_backup_without_a_valid_sub_command_prints_the_usage(lab: SimLab) -> None:
    for command in ("backup", "backup snapshot", "backup rollback", "backup list now", "backup frobnicate x"):
        assert lab.run("cms1", command) == USAGE, command


def test_snapshot_writes_a_downloadable_bak_and_its_json(lab: SimLab) -> None:
    assert lab.run("cms2", "backup snapshot jaihanuman") == "jaihanuman.bak ready for download\n"
    assert {"jaihanuman.bak", "jaihanuman.json"} <= listing(lab, "cms2")
    data = download(lab, "cms2", "jaihanuman.bak")
    meta = json.loads(download(lab, "cms2", "jaihanuman.json"))
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert (meta["name"], meta["node"], meta["version"]) == ("jaihanuman", "cms2", "3.8")
    manifest, state, files = backup.read_archive(data)
    assert manifest["node"] == "cms2" and state["dbcluster"]["role"] == "replica"
    assert files["dbclusterserver.key"] == download(lab, "cms2", "dbclusterserver.key")


def test_a_snapshot_leaves_other_backups_out(lab: SimLab) -> None:
    lab.run("cms1", "backup snapshot first")
    lab.run("cms1", "backup snapshot second")
    with tarfile.open(fileobj=io.BytesIO(download(lab, "cms1", "second.bak")), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert "files/dbclusterca.cer" in names
    assert not {n for n in names if n.endswith((".bak", "first.json", "second.json"))}


def test_list_shows_every_bak_file(lab: SimLab) -> None:
    assert lab.run("cms1", "backup list") == shapes.BACKUP_LIST_HEADER + "\n"
    lab.run("cms1", "backup snapshot one")
    upload(lab, "cms1", "fetched.bak", download(lab, "cms1", "one.bak"))
    expected = [shapes.BACKUP_LIST_HEADER] + [
        shapes.BACKUP_LIST_ENTRY.format(file=f) for f in ("one.bak", "fetched.bak")
    ]
    assert lab.run("cms1", "backup list") == "\n".join(expected) + "\n"


def test_snapshot_refuses_a_name_with_odd_characters(lab: SimLab) -> None:
    assert lab.run("cms1", "backup snapshot a$b") == shapes.BACKUP_BAD_NAME.format(name="a$b") + "\n"


def test_rollback_restores_files_and_state_and_reboots(make_lab: Callable[..., SimLab]) -> None:
    lab = make_lab(lab_file={"timings": FAST})
    lab.run("cms2", "backup snapshot good")
    original_key = download(lab, "cms2", "dbclusterclient.key")
    # After the snapshot: a file changed, a file added, the node taken out of the cluster, another backup taken.
    upload(lab, "cms2", "dbclusterclient.key", b"garbage\n")
    upload(lab, "cms2", "stray.csr", b"not in the backup\n")
    lab.run("cms2", "database cluster remove", answer="Y")
    wait_for(lab, "cms2", "database cluster status", "'database cluster remove' (Success)")
    lab.run("cms2", "backup snapshot later")
    good_json = download(lab, "cms2", "good.json")

    # The reboot drops the SSH connection; an exec channel shows what was printed before it.
    out = lab.exec("cms2", "backup rollback good.bak", stdin="Y\r")
    assert out == shapes.BACKUP_ROLLBACK_WARNING.format(name="good.bak") + "\n" + shapes.BACKUP_ROLLBACK_STARTED + "\n"
    reboot = [e for e in lab.events("cms2") if e["event"] == "reboot"]
    assert reboot and reboot[-1]["backup"] == "good.bak"
    assert any(e["event"] == "connection_dropped" for e in lab.events("cms2"))

    files = listing(lab, "cms2")
    assert download(lab, "cms2", "dbclusterclient.key") == original_key
    assert "stray.csr" not in files
    assert {"good.bak", "good.json", "later.bak", "later.json"} <= files
    assert download(lab, "cms2", "good.json") == good_json
    out = lab.run("cms2", "database cluster status")
    assert out.startswith("Status                : Enabled\n")
    assert "    192.0.2.12 (me)   : Connected Replica ( In Sync )\n" in out
    assert "    192.0.2.12        : Connected Replica ( In Sync )\n" in lab.run("cms1", "database cluster status")


def test_rollback_takes_the_bare_name_and_needs_a_capital_y(lab: SimLab) -> None:
    lab.run("cms1", "backup snapshot keep")
    upload(lab, "cms1", "added.txt", b"x\n")
    for answer in ("y", "n"):
        out = lab.run("cms1", "backup rollback keep", answer=answer)
        assert out == shapes.BACKUP_ROLLBACK_WARNING.format(name="keep.bak") + "\n"
    assert "added.txt" in listing(lab, "cms1")
    assert not [e for e in lab.events("cms1") if e["event"] == "reboot"]
    shell = lab.shell("cms1")
    try:
        with pytest.raises(EOFError):
            shell.run("backup rollback keep", answer="Y")
    finally:
        shell.close()
    assert "added.txt" not in listing(lab, "cms1")


def test_rollback_refuses_missing_corrupt_and_other_version_backups(lab: SimLab) -> None:
    assert lab.run("cms1", "backup rollback nosuch.bak") == shapes.BACKUP_NOT_FOUND.format(name="nosuch.bak") + "\n"
    upload(lab, "cms1", "junk.bak", b"not a backup")
    assert lab.run("cms1", "backup rollback junk.bak") == shapes.BACKUP_CORRUPT.format(name="junk.bak") + "\n"
    # A 2.x backup offered to a 3.x node: same archive, the manifest says CMS 2.9.
    lab.run("cms1", "backup snapshot mine")
    with tarfile.open(fileobj=io.BytesIO(download(lab, "cms1", "mine.bak")), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    members["manifest.json"] = json.dumps({**manifest, "version": "2.9"}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    upload(lab, "cms1", "old.bak", buf.getvalue())
    out = lab.run("cms1", "backup rollback old.bak")
    assert out == shapes.BACKUP_WRONG_VERSION.format(name="old.bak", backup_version="2.9", version="3.8") + "\n"
