#!/usr/bin/env bash
# Prepare this checkout for `make demo` / `make test` on a Debian machine with nothing but python3, pip and git:
# Debian packages (only when their commands are missing), the .venv (only when missing), the Python packages
# (only when the requirement files changed) and the pip bootstrap that ansible-test would otherwise download.
# Idempotent; a no-op run takes well under a second.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
STAMP=$VENV/.requirements.sha256

say() { printf 'setup: %s\n' "$*"; }
die() {
    printf 'setup: ERROR: %s\n' "$*" >&2
    exit 1
}

# --- Debian packages ------------------------------------------------------------------------------------
# command -> package. openssh-client: the integration tests and users compare the simulator against the real
# OpenSSH tools; python3-venv: Debian splits venv/ensurepip out of python3, and both .venv and the virtual
# environments of ansible-test need it.
missing=()
need_pkg() {
    local pkg=$1
    shift
    local cmd
    for cmd in "$@"; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            missing+=("$pkg")
            return
        fi
    done
}
need_pkg openssh-client ssh sftp ssh-keygen ssh-agent
# openssh-server: the bastion tests start their own sshd (as a child process on a loopback port, never as a
# service); sshd lives in /usr/sbin, which is not on every user's PATH, so it is looked for there.
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
need_pkg openssl openssl
need_pkg make make
need_pkg git git
# chromium: the certificate report test renders the HTML report headless (and the docs screenshot comes from it).
# A big package, installed only when the command is missing.
need_pkg chromium chromium

PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
    for candidate in python3 python3.11 python3.12 python3.13; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            PYTHON=$candidate
            break
        fi
    done
fi
[[ -n $PYTHON ]] || die "Python >= 3.11 is required (set PYTHON=/path/to/python3.11)"
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo; install ${missing[*]} by hand"
        SUDO=(sudo)
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- virtual environment --------------------------------------------------------------------------------
if [[ ! -x $VENV/bin/python ]]; then
    say "creating .venv with $("$PYTHON" --version 2>&1)"
    if ! "$PYTHON" -m venv "$VENV"; then
        rm -rf "$VENV"
        die "could not create .venv with $PYTHON"
    fi
fi

want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $STAMP || $(cat "$STAMP") != "$want" ]]; then
    say "installing Python packages from requirements-dev.txt into .venv (first run takes a minute)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements-dev.txt
    printf '%s\n' "$want" >"$STAMP"
fi

# --- the oldest ansible-core the collection claims ---------------------------------------------------------
# meta/runtime.yml says requires_ansible >=2.16, so scripts/ansible-test.sh runs sanity and units with that
# ansible-core too (its newest patch). It lives in a virtual environment of its own inside .venv, so that whatever
# ignores or removes .venv (git, the tarball, the linters, a fresh setup) covers it as well.
OLDEST_VENV=$VENV/ansible-core-2.16
OLDEST_REQUIREMENTS=requirements-ansible-core-2.16.txt
OLDEST_STAMP=$OLDEST_VENV/.requirements.sha256
if [[ ! -x $OLDEST_VENV/bin/python ]]; then
    say "creating .venv/ansible-core-2.16 (ansible-test with the oldest supported ansible-core)"
    if ! "$PYTHON" -m venv "$OLDEST_VENV"; then
        rm -rf "$OLDEST_VENV"
        die "could not create $OLDEST_VENV with $PYTHON"
    fi
fi
want=$(sha256sum "$OLDEST_REQUIREMENTS" | cut -d' ' -f1)
if [[ ! -f $OLDEST_STAMP || $(cat "$OLDEST_STAMP") != "$want" ]]; then
    say "installing $OLDEST_REQUIREMENTS into .venv/ansible-core-2.16"
    "$OLDEST_VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$OLDEST_REQUIREMENTS"
    printf '%s\n' "$want" >"$OLDEST_STAMP"
fi

# --- ansible-test pip bootstrap ---------------------------------------------------------------------------
# ansible-test bootstraps pip in each of its virtual environments with get-pip.py from a host that is not
# reachable here, unless a copy sits in its cache. This stand-in installs pip from the interpreter's bundled
# wheel instead, then what ansible-test asked for, from the package index. Each ansible-core pins a pip version
# of its own (so a file name of its own): every one used here gets the stand-in.
for python in "$VENV/bin/python" "$OLDEST_VENV/bin/python"; do
    pip_version=$(
        "$python" - <<'EOF'
from ansible_test._internal.python_requirements import get_venv_packages


class _Python:
    version = "3.11"


print(get_venv_packages(_Python())["pip"])
EOF
    ) || pip_version=24.2
    bootstrap=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
    if [[ ! -f $bootstrap ]]; then
        say "writing the ansible-test pip bootstrap stand-in to $bootstrap"
        mkdir -p "$(dirname "$bootstrap")"
        cat >"$bootstrap" <<'EOF'
# Stand-in for get-pip.py, written by scripts/setup.sh: ansible-test cannot download the real one here.
# Bootstrap pip from the interpreter's bundled wheel, then install what ansible-test asked for.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
EOF
    fi
done

core_of() { "$1" -c 'import ansible; print(ansible.__version__)'; }
say "ready ($("$VENV/bin/python" --version), ansible-core $(core_of "$VENV/bin/python"); ansible-test also with $(core_of "$OLDEST_VENV/bin/python"))"
