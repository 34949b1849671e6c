#!/usr/bin/env bash
# Runs one set-up step quietly: says in one line what it does, sends the tool's own output to the set-up log
# (var/setup.log; RELENGOTRON_SETUP_LOG to change it) and shows the log's end only when the step fails.
# Usage: scripts/quietly.sh "installing something…" command [argument…]   (exits with the command's status)
set -uo pipefail
what=$1
shift
log=${RELENGOTRON_SETUP_LOG:-$(cd "$(dirname "$0")/.." && pwd)/var/setup.log}
mkdir -p "$(dirname "$log")"
echo "$what"
printf '\n== %s %s\n$ %s\n' "$(date -Iseconds)" "$what" "$*" >>"$log"
start=$(stat -c %s "$log")
"$@" >>"$log" 2>&1 </dev/null
status=$?
if [ "$status" -ne 0 ]; then
    echo "failed (exit $status): $what — its output ends (all of it in $log):" >&2
    tail -c +"$((start + 1))" "$log" | tail -n 40 >&2
fi
exit "$status"
