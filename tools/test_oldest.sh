#!/usr/bin/env bash
# `make test-oldest`: the suite with every runtime dependency at the floor pyproject.toml
# declares, once per Python version its classifiers claim. A version this machine lacks is
# skipped with a line saying so; if none can run, this fails.
#
#   tools/test_oldest.sh PYTHON   PYTHON has `packaging` (the dev environment's interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
tools_python=$1
root=.venv-oldest
pip=(-m pip --quiet --disable-pip-version-check)

runs() {  # does $1 run Python $2?
    "$1" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$2'.split('.'))))" \
        2>/dev/null
}

# The path of an interpreter for Python $1, or nothing. pyenv puts a shim for every installed
# version on PATH, but a shim runs only the versions pyenv has selected: ask pyenv for others.
find_python() {
    local version=$1 prefix
    if runs "python$version" "$version"; then
        command -v "python$version"
    elif command -v pyenv >/dev/null && prefix=$(pyenv prefix "$version" 2>/dev/null) \
        && runs "$prefix/bin/python$version" "$version"; then
        echo "$prefix/bin/python$version"
    fi
    return 0
}

mkdir -p "$root"
"$tools_python" tools/oldest_constraints.py constraints > "$root/constraints.txt"
echo "test-oldest: floors from pyproject.toml: $(paste -sd' ' "$root/constraints.txt")"

ready=()
for version in $("$tools_python" tools/oldest_constraints.py pythons); do
    python=$(find_python "$version")
    if [ -z "$python" ]; then
        echo "test-oldest: Python $version: no interpreter on this machine, skipped"
        continue
    fi
    venv=$root/$version
    # Rebuilt when the floors or the project's metadata change; dev tools come newest, but
    # the constraints hold for the whole install, so none of them lifts a floor.
    if ! cmp -s "$root/constraints.txt" "$venv/constraints.txt" \
        || [ pyproject.toml -nt "$venv/constraints.txt" ]; then
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" "${pip[@]}" install --upgrade "pip>=25.1"
        "$venv/bin/python" "${pip[@]}" install -c "$root/constraints.txt" -e ".[fastapi,mcp,otel,redis]" \
            --group dev
        cp "$root/constraints.txt" "$venv/constraints.txt"
    fi
    "$venv/bin/python" tools/oldest_constraints.py check "$root/constraints.txt"
    "$venv/bin/python" "${pip[@]}" check
    echo "test-oldest: Python $version ($python), every runtime dependency at its floor"
    ready+=("$version")
done

if [ "${#ready[@]}" -eq 0 ]; then
    echo "test-oldest: no supported Python on this machine" >&2
    exit 1
fi

# The suites run side by side, as many at once as the machine has cores (much of a run is
# spent waiting on servers and subprocesses); each one's output is shown when it ends.
# The oldest and the newest Python run the whole suite; a version between them runs the
# suite without its `slow` tests (real servers, browsers, MSAL), which keeps CI's time in
# bounds while every floor still meets every test on both ends of the Python range.
# pyproject.toml lets AnyIO 4.14's one pytest deprecation warning pass (it says why).
slots=$(nproc 2>/dev/null || echo 2)
first=${ready[0]}
last=${ready[${#ready[@]}-1]}
order=("$first")
[ "$last" != "$first" ] && order+=("$last")
for version in "${ready[@]}"; do
    [ "$version" != "$first" ] && [ "$version" != "$last" ] && order+=("$version")
done
declare -A runs=()
for version in "${order[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$slots" ]; do sleep 1; done
    selection=()
    if [ "$version" != "$first" ] && [ "$version" != "$last" ]; then
        selection=(-m "not slow")
    fi
    ("$root/$version/bin/python" -m pytest -q -p no:cacheprovider "${selection[@]}" \
        >"$root/$version/pytest.log" 2>&1) &
    runs[$version]=$!
done
failed=0
for version in "${ready[@]}"; do
    status=0
    wait "${runs[$version]}" || status=$?
    scope="the suite"
    [ "$version" != "$first" ] && [ "$version" != "$last" ] && scope="the suite without slow tests"
    echo "test-oldest: Python $version, $scope at the floors (exit $status):"
    cat "$root/$version/pytest.log"
    [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
