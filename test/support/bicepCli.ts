// Where the real Bicep CLI is, if anywhere: the project-local install (dev/tools/install-bicep.sh,
// which .ci/run runs where dotnet exists) first, then `bicep` on PATH. Tests that need it skip
// with a notice when it is absent, so a clone without dotnet still runs everything else.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const BICEP_INSTALL_HINT = "run dev/tools/install-bicep.sh (needs dotnet) or put bicep on PATH";

export function findBicep(): string | undefined {
  const local = join(resolve(__dirname, "..", ".."), ".tools", "bicep", "bicep");
  for (const candidate of [local, "bicep"]) {
    if (candidate === local && !existsSync(local)) continue;
    const r = spawnSync(candidate, ["--version"], { encoding: "utf8", timeout: 60_000 });
    if (r.status === 0 && /Bicep CLI version/.test(r.stdout)) return candidate;
  }
  return undefined;
}
