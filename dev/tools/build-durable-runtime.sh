#!/usr/bin/env bash
# Builds the real-Durable-runtime test harness (dev/durable-runtime, issue 16) into
# .tools/durable-runtime/ (git-ignored); the tests under test/realruntime/ run it when it exists and
# skip with a notice when it does not. Needs `dotnet`; restores from the machine's NuGet source.
# Prints the path of the built DurableRuntime.dll on its last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v dotnet >/dev/null || { echo "[keyrotor] [build-durable-runtime] dotnet is not on PATH" >&2; exit 1; }
dest=".tools/durable-runtime"
echo "[keyrotor] [build-durable-runtime] building dev/durable-runtime into $dest" >&2
dotnet build dev/durable-runtime/DurableRuntime.csproj -c Release -o "$dest" --nologo -v quiet >&2
[ -f "$dest/DurableRuntime.dll" ] || { echo "[keyrotor] [build-durable-runtime] no $dest/DurableRuntime.dll after the build" >&2; exit 1; }
echo "$PWD/$dest/DurableRuntime.dll"
