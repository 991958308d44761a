#!/usr/bin/env bash
# Installs the Bicep CLI into .tools/bicep/ (git-ignored) from the NuGet package
# Azure.Bicep.CommandLine.linux-x64, restored with dotnet through a throwaway project, because the
# machines that run keyrotor's tests reach NuGet but not Bicep's GitHub releases. Needs `dotnet`.
# Prints the path of the bicep binary on its last line. Idempotent: an installed binary of the
# pinned version is kept. Usage: dev/tools/install-bicep.sh [version]
set -euo pipefail
cd "$(dirname "$0")/../.."

version="${1:-0.49.2}"
package="Azure.Bicep.CommandLine.linux-x64"
dest=".tools/bicep"
bin="$dest/bicep"

if [ -x "$bin" ] && [ "$(cat "$dest/VERSION" 2>/dev/null || true)" = "$version" ]; then
  echo "[keyrotor] [install-bicep] bicep $version already in $bin" >&2
  echo "$PWD/$bin"
  exit 0
fi
command -v dotnet >/dev/null || { echo "[keyrotor] [install-bicep] dotnet is not on PATH; cannot restore $package" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# PackageDownload fetches the package as is (no assets resolved), which is all a CLI needs.
cat >"$work/bicep.csproj" <<CSPROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="$package" Version="[$version]" />
  </ItemGroup>
</Project>
CSPROJ
echo "[keyrotor] [install-bicep] restoring $package $version" >&2
dotnet restore "$work/bicep.csproj" --packages "$work/packages" >&2

found="$(find "$work/packages" -type f -name bicep -path '*/tools/*' | head -n 1)"
[ -n "$found" ] || { echo "[keyrotor] [install-bicep] no tools/**/bicep in $package $version" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
cp -R "$(dirname "$found")/." "$dest/"
chmod +x "$bin"
echo "$version" >"$dest/VERSION"
"$bin" --version >&2
echo "$PWD/$bin"
