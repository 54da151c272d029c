#!/usr/bin/env bash
# Build the collection, check what the tarball holds, install it, and run ansible-test on the installed copy.
#
#   scripts/ansible-test.sh [build] [sanity] [units] [-- ANSIBLE-TEST-ARGS...]
#
# With no step given: build, sanity and units. `build` alone also copies the checked tarball to the repository
# root (git-ignored). ansible-test needs its working directory inside .../ansible_collections/cisco_cms/mmp and
# Python resolves the checkout's symlink away, so it runs on the installed copy. A failed run keeps its work
# directory (ansible-test results in .../tests/output) and prints where it is.
#
# Sanity and units run with each ansible-core of ANSIBLE_TEST_CORES (default "newest oldest"): newest is .venv's
# (2.19), oldest is .venv/ansible-core-2.16 (scripts/setup.sh makes it), the oldest meta/runtime.yml claims. The
# tarball is built and installed once, by .venv's ansible-galaxy.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_GALAXY_COLLECTIONS_PATH_WARNING=false
PYTHON_VERSION=3.11
read -r -a CORES <<<"${ANSIBLE_TEST_CORES:-newest oldest}"
core_venv() {
    case $1 in
    newest) echo "$ROOT/.venv" ;;
    oldest) echo "$ROOT/.venv/ansible-core-2.16" ;;
    *)
        echo "ansible-test.sh: ANSIBLE_TEST_CORES takes newest and/or oldest, not '$1'" >&2
        return 2
        ;;
    esac
}

do_build=0 do_sanity=0 do_units=0
extra=()
while (($#)); do
    case $1 in
    build) do_build=1 ;;
    sanity) do_sanity=1 ;;
    units) do_units=1 ;;
    --)
        shift
        extra=("$@")
        break
        ;;
    *)
        echo "usage: $0 [build] [sanity] [units] [-- ANSIBLE-TEST-ARGS...]" >&2
        exit 2
        ;;
    esac
    shift
done
if ((!do_build && !do_sanity && !do_units)); then
    do_sanity=1 do_units=1
fi
if ((do_sanity || do_units)); then
    for core in "${CORES[@]}"; do
        venv=$(core_venv "$core")
        if [[ ! -x $venv/bin/ansible-test ]]; then
            echo "ansible-test.sh: no ansible-test in $venv; run scripts/setup.sh (make setup) first" >&2
            exit 2
        fi
    done
fi

say() { printf 'ansible-test.sh: %s\n' "$*"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cisco_cms-mmp-test.XXXXXX")
finish() {
    local rc=$?
    if ((rc == 0)); then
        rm -rf "$WORK"
    else
        say "FAILED (exit $rc); work directory kept: $WORK"
    fi
}
trap finish EXIT

# --- build and check the tarball ------------------------------------------------------------------------
say "building the collection"
ansible-galaxy collection build --force --output-path "$WORK/dist" "$ROOT" >/dev/null
tarballs=("$WORK"/dist/cisco_cms-mmp-*.tar.gz)
tarball=${tarballs[0]}

# Whatever is development-only or local state must stay out (galaxy.yml build_ignore); a match here means a
# build_ignore entry is missing or wrong.
forbidden='^(ansible_collections|\.venv|\.helpers|\.ci|\.git[^/]*|lab|bench|scripts|tests/(cmssim|sim|integration|output|conftest\.py)|inventory/lab)(/|$)|(^|/)(__pycache__|\.pytest_cache|\.ruff_cache|\.mypy_cache|\.ansible)(/|$)|\.py[co]$|\.tar\.gz$'
mapfile -t members < <(tar -tzf "$tarball" | sed -e 's|^\./||' -e 's|/$||' | grep -v '^$')
mapfile -t bad < <(printf '%s\n' "${members[@]}" | grep -E "$forbidden" || true)
if ((${#bad[@]})); then
    say "the tarball holds files that galaxy.yml build_ignore must exclude:"
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
fi
# A lookup table, not `printf | grep -q`: with pipefail, grep -q quitting at the first match can kill printf with
# SIGPIPE and turn a present file into a "lacks" (it did, on CI).
declare -A member_set=()
for member in "${members[@]}"; do
    member_set[$member]=1
done
for required in MANIFEST.json FILES.json meta/runtime.yml LICENSE; do
    if [[ -z ${member_set[$required]:-} ]]; then
        say "the tarball lacks $required"
        exit 1
    fi
done
say "tarball OK: $(basename "$tarball") (${#members[@]} entries, $(du -h "$tarball" | cut -f1))"

if ((do_build)); then
    cp "$tarball" "$ROOT/"
    say "wrote $(basename "$tarball")"
fi
if ((!do_sanity && !do_units)); then
    exit 0
fi

# --- install and run ansible-test -----------------------------------------------------------------------
ansible-galaxy collection install --offline --force --no-deps -p "$WORK/collections" "$tarball" >/dev/null
cd "$WORK/collections/ansible_collections/cisco_cms/mmp"
# ansible-test decides the collection paths itself; a checkout's ansible.cfg must not point it back here.
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS

# The unit tests that ship in the tarball; `test_*.py` anywhere under tests/unit.
has_units=$(find tests/unit -name 'test_*.py' -print -quit 2>/dev/null || true)
base_path=$PATH
for core in "${CORES[@]}"; do
    venv=$(core_venv "$core")
    version=$("$venv/bin/python" -c 'import ansible; print(ansible.__version__)')
    # That ansible-core's own python3.11 first: ansible-test looks the --python version up on PATH.
    export PATH=$venv/bin:$base_path
    if ((do_sanity)); then
        SECONDS=0
        say "ansible-test sanity (ansible-core $version, Python $PYTHON_VERSION)"
        "$venv/bin/ansible-test" sanity --python "$PYTHON_VERSION" --requirements --color no "${extra[@]}"
        say "sanity with ansible-core $version passed in ${SECONDS}s"
    fi
    if ((do_units)) && [[ -n $has_units ]]; then
        SECONDS=0
        # --venv: ansible-test installs its pinned unit-test requirements into a virtual environment of its own
        # instead of into .venv.
        say "ansible-test units (ansible-core $version, Python $PYTHON_VERSION)"
        "$venv/bin/ansible-test" units --venv --python "$PYTHON_VERSION" --requirements --color no "${extra[@]}"
        say "units with ansible-core $version passed in ${SECONDS}s"
    elif ((do_units)); then
        say "ansible-test units: no tests/unit/**/test_*.py yet, skipped"
    fi
done
