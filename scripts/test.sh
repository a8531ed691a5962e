#!/usr/bin/env bash
# Builds vindex with warnings as errors and runs every test, installing missing packages first: the
# build's (scripts/deps.sh: g++ meson ninja-build pkg-config libxsimd-dev doctest-dev) and the Redis
# module tests' (redis-server python3-redis python3-numpy). Ends with a summary that counts the tests
# and says why any did not run.
# Usage: scripts/test.sh [build-dir [extra meson setup options...]]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh redis-server python3-redis python3-numpy
dir="${1:-build-test}"
shift || true
if [ ! -d "$dir" ]; then
  meson setup "$dir" -Dnative=true --werror -Dbenchmarks=disabled "$@"
elif command -v redis-server >/dev/null &&
    ! meson introspect --tests "$dir" | grep -q ':redis"'; then
  # Configured before redis-server was installed: find it now, so the Redis suites are built.
  meson setup --reconfigure "$dir" "$@"
fi
ninja -C "$dir"
status=0
meson test -C "$dir" --print-errorlogs --num-processes 2 || status=$?

# Summary: from meson's test log, and from the build's options for what was not built.
meson introspect --buildoptions "$dir" >"$dir/meson-logs/buildoptions.json"
meson introspect --tests "$dir" >"$dir/meson-logs/tests.json"
python3 - "$dir" <<'EOF'
import json, pathlib, re, shutil, sys
build = pathlib.Path(sys.argv[1])
logs = [json.loads(line) for line in (build / "meson-logs" / "testlog.json").read_text().splitlines() if line.strip()]
options = {o["name"]: o["value"] for o in json.loads((build / "meson-logs" / "buildoptions.json").read_text())}
suites = {t["name"]: [s.split(":")[-1] for s in t["suite"]] for t in json.loads((build / "meson-logs" / "tests.json").read_text())}
for t in logs:  # meson logs "project:suite / name" when there are several suites
    t["name"] = t["name"].split(" / ")[-1]
    t["suite"] = suites.get(t["name"], [])
by_result = {}
for t in logs:
    by_result.setdefault(t["result"], []).append(t)
ok, skip = len(by_result.get("OK", [])), len(by_result.get("SKIP", []))
bad = len(logs) - ok - skip
print(f"== Summary ({build}): {len(logs)} tests, {ok} passed, {bad} failed, {skip} skipped")
for t in by_result.get("SKIP", []):
    reason = next((l for l in (t.get("stdout") or "").splitlines() if l.startswith("SKIP:")), "SKIP: (no reason printed)")
    print(f"   skipped {t['name']}: {reason[5:].strip()}")
for t in logs:  # doctest cases that pass without their data say so in a MESSAGE
    for m in re.findall(r"MESSAGE: (.*skipped.*)", t.get("stdout") or ""):
        print(f"   {t['name']}: part skipped: {m}")
redis = [t for t in logs if "redis" in t.get("suite", [])]
redis_ok = sum(t["result"] == "OK" for t in redis)
if redis:
    print(f"   Redis module suites: {len(redis)} registered, {redis_ok} passed ({', '.join(t['name'] for t in redis)})")
else:
    if options.get("redis_module") == "disabled":
        why = "-Dredis_module=disabled"
    elif options.get("b_sanitize", "none") != "none":
        why = "not built under -Db_sanitize (Debian's redis-server is not instrumented)"
    elif not shutil.which("redis-server"):
        why = "redis-server not found (apt-get install redis-server)"
    elif not pathlib.Path("/usr/bin/python3").exists():
        why = "/usr/bin/python3 not found"
    else:
        why = "see meson-logs/meson-log.txt"
    print(f"   Redis module suites: none built: {why}")
EOF
exit "$status"
