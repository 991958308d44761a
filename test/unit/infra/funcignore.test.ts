// .funcignore decides what `azd deploy` uploads to the Function App: local keys and data, tests,
// the local host, benches and local settings must never leave the machine.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { read, ROOT } from "./bicep";

const patterns = read(".funcignore")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

/** A glob of one path segment (`*` within the segment) as a regular expression. */
const segment = (glob: string) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);

/**
 * gitignore semantics for the two forms .funcignore may use (the first test holds it to them):
 * `/path` or `/dir/` anchored at the root, and a slash-free glob matching any file's name.
 */
function ignored(path: string): boolean {
  const parts = path.split("/");
  return patterns.some((p) => {
    if (!p.startsWith("/")) return parts.some((name) => segment(p).test(name));
    const dir = p.endsWith("/");
    const anchored = p.slice(1, dir ? -1 : undefined).split("/");
    if (dir ? parts.length <= anchored.length : parts.length < anchored.length) return false;
    return anchored.every((g, i) => segment(g).test(parts[i]!));
  });
}

describe(".funcignore (what azd deploy never uploads)", () => {
  it("uses only root-anchored paths or slash-free name globs, and no negations", () => {
    expect(patterns.length).toBeGreaterThan(5);
    for (const p of patterns) expect(p, p).toMatch(/^(\/[^!\s]+|[^/!\s]+)$/);
  });

  it.each([
    ".keyrotor/keys/kek.pem",
    ".keyrotor/azurite/__azurite_db_table__.json",
    "test/unit/infra/funcignore.test.ts",
    "test/fixtures/principals.json",
    "dev/start.ts",
    "dev/peers/keyvault/tls.ts",
    "bench/run.ts",
    "local.settings.json",
    "local.settings.staging.json",
    ".azure/keyrotor-prod/.env",
    ".tools/bicep/bicep",
    "npm-debug.log",
  ])("leaves out %s", (path) => {
    expect(ignored(path)).toBe(true);
  });

  it.each([
    "dist/functions/getKeys.js",
    "dist/lib/config.js",
    "host.json",
    "package.json",
    "package-lock.json",
    "node_modules/durable-functions/lib/src/index.js",
    "node_modules/some-package/test/fixture.js",
    "node_modules/some-package/dev/index.js",
    "node_modules/some-package/lib/index.js",
  ])("uploads %s", (path) => {
    expect(ignored(path)).toBe(false);
  });

  it("leaves out every tracked file under test/, dev/ and bench/", () => {
    const tracked = execFileSync("git", ["ls-files", "test", "dev", "bench"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
    expect(tracked.length).toBeGreaterThan(20);
    expect(tracked.filter((f) => !ignored(f))).toEqual([]);
  });
});
