// The local host keeps the seal's private key in the state directory and writes its public half
// beside it: the file an auditor verifies seals and evidence packs with (never the private key).
import { createPublicKey, verify } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { localSealPublicKeyFile, localSealSigner } from "../../../dev/app/composition";

const dir = mkdtempSync(path.join(tmpdir(), "keyrotor-seal-pub-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("local seal public key", () => {
  it("is written beside the private key, holds no private key, and verifies what the seal key signs", async () => {
    const signer = localSealSigner(dir);
    const file = localSealPublicKeyFile(dir);
    expect(file).toBe(path.join(dir, "ledger-seal-key.pub.pem"));
    const pem = readFileSync(file, "utf8");
    expect(pem).toContain("-----BEGIN PUBLIC KEY-----");
    expect(pem).not.toContain("PRIVATE");
    expect(statSync(path.join(dir, "ledger-seal-key.pem")).isFile()).toBe(true);
    const digest = Buffer.alloc(32, 7);
    const sig = await signer.sign(digest);
    expect(verify("sha256", digest, { key: createPublicKey(pem), dsaEncoding: "ieee-p1363" }, sig)).toBe(true);
  });

  it("is written again for a state directory that has only the private key (a host started before this)", () => {
    rmSync(localSealPublicKeyFile(dir));
    localSealSigner(dir);
    expect(readFileSync(localSealPublicKeyFile(dir), "utf8")).toContain("BEGIN PUBLIC KEY");
  });
});

describe("docs hand auditors the public seal key only", () => {
  const root = path.resolve(__dirname, "../../..");
  const docs = ["README.md", ...readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => path.join("docs", f))];
  it.each(docs)("%s passes no private seal key to --seal-key or --public-key", (file) => {
    expect(readFileSync(path.join(root, file), "utf8")).not.toMatch(/--(seal|public)-key\s+\S*ledger-seal-key\.pem/);
  });
});
