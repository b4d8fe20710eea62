#!/usr/bin/env bash
# Desktop app start-up and footprint: time from launch until the gateway
# answers, resident memory of the app and of its WebKit processes once the
# dashboard is up, and CPU used while idle. Run inside a display and a D-Bus
# session (`make bench-desktop` wraps it in xvfb-run dbus-run-session).
# Usage: bench_startup.sh [APP_BINARY] [RUNS]
set -euo pipefail
app=${1:-target/release/omniroute-desktop}
runs=${2:-3}
port=45200
ticks_per_sec=$(getconf CLK_TCK)
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for run in $(seq "$runs"); do
  home=$(mktemp -d)
  start=$(date +%s%N)
  # A fixed data key keeps the keychain out of the timing.
  HOME=$home OMNIROUTE_PORT=$port OMNIROUTE_LOG=warn \
    OMNIROUTE_SECRET_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
    "$app" >"$home/app.log" 2>&1 &
  pid=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/v1/models"; do sleep 0.01; done
  ready=$(date +%s%N)
  sleep 8 # the window loads and signs in to the dashboard
  children=0
  for child in $(pgrep -P "$pid"); do children=$((children + $(rss_kb "$child"))); done
  before=$(cpu_ticks "$pid")
  sleep 10
  idle=$(( $(cpu_ticks "$pid") - before ))
  printf 'run %d: ready %d ms, app RSS %d MiB, WebKit processes %d MiB, idle CPU %.2f %%\n' \
    "$run" $(( (ready - start) / 1000000 )) $(( $(rss_kb "$pid") / 1024 )) $(( children / 1024 )) \
    "$(echo "scale=4; $idle / $ticks_per_sec / 10 * 100" | bc)"
  HOME=$home "$app" --quit
  wait "$pid"
  rm -rf "$home"
done
