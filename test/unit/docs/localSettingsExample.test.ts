// local.settings.example.json (copied to local.settings.json for `func start`, README "Development")
// works with the peers as they really run: the CA file it names is the one `npm run peer:keyvault`
// writes, the credential is the one the peer accepts, the URLs and connection string are the
// peers' defaults, and the app's own settings validation accepts the whole set.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { serviceBusConnectionString } from "../../../dev/peers/servicebus";
import { loadConfig } from "../../../lib/config";
import { ROOT } from "./docExamples";

const values = (JSON.parse(readFileSync(path.join(ROOT, "local.settings.example.json"), "utf8")) as { Values: Record<string, string> }).Values;
const work = mkdtempSync(path.join(tmpdir(), "keyrotor-settings-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs `npm run peer:keyvault`'s entry in `cwd` (a fresh clone's root, as far as .keyrotor/ goes)
 * until it prints its CA file, then stops it. */
async function keyVaultPeerCaFile(cwd: string): Promise<string> {
  const loader = pathToFileURL(path.join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
  // No KEYVAULT_PEER_STATE: the peer keeps its default state file, as a user's does.
  const { KEYVAULT_PEER_STATE: _state, ...env } = process.env;
  const child = spawn(process.execPath, ["--import", loader, path.join(ROOT, "dev/peers/keyvault/main.ts")], {
    cwd, env: { ...env, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    let out = "";
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the Key Vault peer printed no CA file in 60 s:\n${out}`)), 60_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /CA file:\s+(\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.once("exit", (code) => reject(new Error(`the Key Vault peer exited (${code}):\n${out}`)));
    });
  } finally {
    child.kill("SIGTERM");
  }
}

describe("local.settings.example.json", () => {
  it("names the CA file the Key Vault peer writes under .keyrotor/", async () => {
    const caFile = await keyVaultPeerCaFile(work);
    expect(existsSync(caFile)).toBe(true);
    expect(values.KEYROTOR_KEYVAULT_CA_FILE).toBe(path.relative(work, caFile));
  }, 90_000);

  it("authenticates to the Key Vault peer the way it accepts, at the peer's default vault and port", () => {
    expect(values.KEYROTOR_KEYVAULT_CREDENTIAL).toBe("local-peer");
    expect(values.KEYROTOR_VAULT_URLS).toBe("demo-vault=https://127.0.0.1:8443");
  });

  it("uses the Service Bus peer's connection string at its default port", () => {
    expect(values.KEYROTOR_SERVICEBUS_CONNECTION).toBe(serviceBusConnectionString(5672));
  });

  it("is accepted by the app's settings validation as a whole", () => {
    const cfg = loadConfig(values);
    expect(cfg.KEYROTOR_KEYVAULT_CREDENTIAL).toBe("local-peer");
  });
});
