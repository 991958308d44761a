// `keyrotor evidence verify <dir> --public-key <pem>` run as the real process (bin/keyrotor), the way
// an auditor runs it offline: a pack signed by the seal key verifies with the public key alone; a
// changed file, a changed manifest, an unsigned pack or another key's signature exit 1.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ephemeralSealSigner, memoryLedger, nodeSealSigner } from "../../../lib/ledger";
import { buildEvidencePack, signedEvidenceManifest, writeEvidencePack } from "../../../lib/ledger/evidence";
import { writeQuarter, AFTER_Q1, Q1, keys, policies } from "../../unit/ledger/evidenceScenario";

const BIN = path.resolve(__dirname, "../../../bin/keyrotor");
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const signer = nodeSealSigner({ kid: "local:keyrotor-dev-seal", privateKey });
let root = "";
let pub = "";
let priv = "";

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, KEYROTOR_AS: "", KEYROTOR_TOKEN: "", KEYROTOR_SCOPE: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh copy of the Q1 pack, its manifest signed the way the API signs it (manifestSignature). */
async function pack(name: string, sign = true): Promise<string> {
  const ledger = memoryLedger({ signer: ephemeralSealSigner() });
  await writeQuarter(ledger);
  const p = await buildEvidencePack({ ledger, period: Q1, policies, keys, now: AFTER_Q1 });
  if (sign) p.manifestSignature = await signedEvidenceManifest(p, signer);
  const dir = path.join(root, name);
  await writeEvidencePack(dir, p);
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "keyrotor-evidence-verify-"));
  pub = path.join(root, "ledger-seal-key.pub.pem");
  priv = path.join(root, "ledger-seal-key.pem");
  writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
  writeFileSync(priv, privateKey.export({ type: "pkcs8", format: "pem" }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("keyrotor evidence verify", () => {
  it("verifies an untouched pack with the seal public key alone (exit 0)", async () => {
    const r = cli("evidence", "verify", await pack("ok"), "--public-key", pub);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/verifies: 4 file\(s\) match the manifest, whose signature verifies under the seal public key \(kid local:keyrotor-dev-seal\)/);
    expect(r.code).toBe(0);
  });

  it("fails a pack whose summary.md was changed after signing (exit 1, naming the file)", async () => {
    const dir = await pack("tampered-file");
    const file = path.join(dir, "summary.md");
    writeFileSync(file, readFileSync(file, "utf8").replace("**OVERDUE**", "compliant"));
    const r = cli("evidence", "verify", dir, "--public-key", pub);
    expect(r.stdout).toContain("summary.md: SHA-256 differs from the manifest (the file was changed)");
    expect(r.code).toBe(1);
  });

  it("fails a pack whose manifest was rewritten to match a changed file (exit 1: the signature no longer verifies)", async () => {
    const dir = await pack("tampered-manifest");
    const file = path.join(dir, "compliance.csv");
    const changed = readFileSync(file, "utf8").replace("overdue", "compliant");
    writeFileSync(file, changed);
    const manifestFile = path.join(dir, "manifest.json");
    const m = JSON.parse(readFileSync(manifestFile, "utf8")) as { sha256: Record<string, string> };
    m.sha256["compliance.csv"] = (await import("node:crypto")).createHash("sha256").update(changed).digest("hex");
    writeFileSync(manifestFile, JSON.stringify(m, null, 2));
    const r = cli("evidence", "verify", dir, "--public-key", pub);
    expect(r.stdout).toContain("manifest.json: the signature does not verify under this public key");
    expect(r.stdout).not.toContain("compliance.csv");
    expect(r.code).toBe(1);
  });

  it("fails an unsigned pack, and a pack checked against another public key", async () => {
    expect(cli("evidence", "verify", await pack("unsigned", false), "--public-key", pub)).toMatchObject({ code: 1, stdout: expect.stringContaining("manifest.json: not signed") });
    const other = path.join(root, "other.pub.pem");
    writeFileSync(other, generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }));
    expect(cli("evidence", "verify", await pack("other-key"), "--public-key", other).code).toBe(1);
  });

  it("refuses a private key as --public-key: auditors get the public key only (exit 2)", async () => {
    const r = cli("evidence", "verify", await pack("private"), "--public-key", priv);
    expect(r.stderr).toContain("holds a PRIVATE key");
    expect(r.code).toBe(2);
  });
});
