// Format-1 ("flat") DEK records are authenticated (finding F5): a DEK wrapped directly under the KEK
// is signed once by the Key Vault signing key, its signature verified locally before any unwrap and
// the unwrapped DEK checked against the signed commitment after. Over the real components: Azurite
// tables and the Key Vault peer through the SDK (RSA KEK, RSA signing key).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { Envelope } from "../../../lib/envelope/envelope";
import { DekResolver } from "../../../lib/envelope/resolver";
import { kekFromVaults, type KekPort } from "../../../lib/envelope/kek";
import { createWrappedDek, dekIdFor, dekRecord, type DekRecord } from "../../../lib/envelope/dekRecord";
import { FlatDekAuth } from "../../../lib/envelope/flatDekAuth";
import { vaultSigner } from "../../../lib/envelope/recordSigner";
import { keyVaultRewrapVault, rewrapCursors, type RewrapDeps } from "../../../lib/orchestration/rewrap";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { migrateFlat } from "../../../lib/hierarchy/workflows";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { keyClient } from "../../support/keyvault";
import { kekRewrapSampleLeg } from "../../../lib/validation/gates";
import { keyVaultValidationVault } from "../../../lib/validation/vaults";
import { startHierarchy, stopHierarchy, type Hierarchy } from "../../unit/hierarchy/hierarchySupport";

let h: Hierarchy;
let kek: KekPort;
let signed: FlatDekAuth;
let strict: FlatDekAuth;
beforeEach(async () => {
  h = await startHierarchy();
  kek = kekFromVaults(() => h.vault);
  signed = new FlatDekAuth({ signer: vaultSigner(h.signingKeyId, h.vault) });
  strict = new FlatDekAuth({ signer: vaultSigner(h.signingKeyId, h.vault), requireSignature: true });
});
afterEach(() => stopHierarchy(h));

const now = () => new Date();

/** What an attacker with only the KEK's PUBLIC key (n, e) and write access to the DEK table makes:
 * a well-formed row wrapping a DEK they know. */
async function planted(tenant: string, dekVersion: number, kekVersion = h.kekVersion): Promise<{ row: DekRecord; known: Buffer }> {
  const kv = (await keyClient(h.peer).getKey("tenant-kek", { version: kekVersion })).key!;
  const pub = createPublicKey({ key: { kty: "RSA", n: Buffer.from(kv.n!).toString("base64url"), e: Buffer.from(kv.e!).toString("base64url") }, format: "jwk" });
  const known = randomBytes(32);
  const wrapped = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, known);
  return { row: dekRecord({ tenant, dekVersion, kekKeyId: h.kekKeyId, kekVersion, wrapped, createdAt: now().toISOString() }), known };
}

/** A DEK as keyrotor makes it: signed, or (legacy: "unsigned") as builds before signing made it. */
const mint = (tenant: string, dekVersion: number, how: "signed" | "unsigned" = "signed") =>
  createWrappedDek({ tenant, dekVersion, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion }, kek, now(), how === "signed" ? signed : undefined);

function rewrapDeps(flatAuth: FlatDekAuth | undefined): RewrapDeps {
  return {
    deks: new TableDekPort(h.flatTable), vaultFor: keyVaultRewrapVault(() => h.vault), budgetFraction: 0.8, vaultLimitPer10s: 0,
    ...(flatAuth ? { flatAuth } : {}),
    now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: () => Math.random(),
  };
}

const rewrapTenants = (deps: RewrapDeps, tenants: string[], newVersion: string) =>
  rewrapCursors(deps, { op: "range", rotationId: `${h.kekKeyId}@flatauth`, kekKeyId: h.kekKeyId, newVersion, cursors: tenants.map((tenant) => ({ tenant })), sharePerSec: 0, sliceMs: 60_000, maxDeks: 1000 });

async function stored(tenant: string, dekVersion: number): Promise<DekRecord> {
  const { etag: _e, ...r } = (await h.flat.get(tenant, dekIdFor(dekVersion)))!;
  return r;
}

describe("a new flat DEK", () => {
  it("carries a commitment and the signing key's signature, stored and read back by the DEK table", async () => {
    await h.flat.addPrimary(await mint("t-a", 1));
    const r = await stored("t-a", 1);
    expect(r.signerKeyId).toBe(h.signingKeyId);
    expect(r.signerVersion).toMatch(/\S/);
    expect(r.signature).toMatch(/^[A-Za-z0-9_-]{100,}$/);
    expect(r.commitment).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // ...and the consumer that requires signatures reads it.
    expect((await new DekResolver(h.flat, kek, { auth: strict }).primary("t-a")).record.dekVersion).toBe(1);
  });

  it("through the rotation port's intent row keeps its signature when an earlier attempt's intent is promoted", async () => {
    const port = new TableDekPort(h.flatTable);
    const first = await mint("t-i", 1);
    const retry = await mint("t-i", 1);
    // The first attempt recorded its intent and stopped before promotion: the retry promotes it.
    await port.rotatePrimary({ ...first, rotationId: "dek:t-i@r1" }, async () => { throw new Error("stopped"); }).catch(() => undefined);
    await port.rotatePrimary({ ...retry, rotationId: "dek:t-i@r1" });
    const r = await stored("t-i", 1);
    expect(r.wrapped).toBe(first.wrapped);
    expect(r.signature).toBe(first.signature);
    const env = new Envelope(new DekResolver(h.flat, kek, { auth: strict }));
    expect((await env.decrypt(await env.encrypt("t-i", Buffer.from("x")))).toString()).toBe("x");
  });
});

describe("the consumer's resolver", () => {
  it("refuses a planted row wrapping a DEK the attacker knows (the review's repro) and encrypts nothing under it", async () => {
    await h.flat.addPrimary(await mint("t-f", 1));
    const { row } = await planted("t-f", 2);
    await h.flat.addPrimary(row);
    const env = new Envelope(new DekResolver(h.flat, kek, { auth: strict }));
    await expect(env.encrypt("t-f", Buffer.from("tenant secret"))).rejects.toMatchObject({ code: "FlatDekUnsigned" });
    await expect(new DekResolver(h.flat, kek, { auth: strict }).resolve("t-f", 2)).rejects.toMatchObject({ code: "FlatDekUnsigned" });
  });

  it("refuses a planted row carrying a signature copied from another row, or made by another signing key, whatever the legacy setting", async () => {
    const legit = await mint("t-c", 1);
    await h.flat.addPrimary(legit);
    const { row } = await planted("t-c", 2);
    const sig = { commitment: legit.commitment!, signerKeyId: legit.signerKeyId!, signerVersion: legit.signerVersion!, signature: legit.signature! };
    await h.flat.addPrimary({ ...row, ...sig });
    await expect(new DekResolver(h.flat, kek, { auth: signed }).primary("t-c")).rejects.toMatchObject({ code: "FlatDekSignatureInvalid" });
    // Another signing key of the same vault: a valid signature, but not by the trusted key.
    await keyClient(h.peer).createRsaKey("other-signer", { keySize: 2048, keyOps: ["sign", "verify"] });
    const other = new FlatDekAuth({ signer: vaultSigner(`signing:${h.peer.vaultName}/other-signer`, h.vault) });
    const { row: row3, known } = await planted("t-c", 3);
    await h.flat.addPrimary(await other.sign(row3, known));
    await expect(new DekResolver(h.flat, kek, { auth: signed }).primary("t-c")).rejects.toMatchObject({ code: "FlatDekSignatureInvalid" });
  });

  it("refuses a signed row whose wrap was replaced by a wrap of a known DEK (commitment), after one unwrap", async () => {
    const legit = await mint("t-w", 1);
    await h.flat.addPrimary(legit);
    const { row } = await planted("t-w", 1);
    await h.flatTable.updateEntity({ partitionKey: "t-w", rowKey: dekIdFor(1), wrapped: row.wrapped }, "Merge");
    const resolver = new DekResolver(h.flat, kek, { auth: signed });
    await expect(resolver.primary("t-w")).rejects.toMatchObject({ code: "FlatDekCommitmentMismatch" });
    expect(resolver.cachedDeks).toBe(0);
  });

  it("refuses a signed row whose identity was edited (tenant, DEK version, KEK), before any unwrap", async () => {
    const legit = await mint("t-e", 1);
    await h.flat.addPrimary(legit);
    const resolver = () => new DekResolver(h.flat, kek, { auth: signed });
    // Copied into another tenant's partition as that tenant's DEK.
    await h.flat.addPrimary({ ...legit, tenant: "t-e2" });
    // Re-numbered as the tenant's next DEK version.
    await h.flat.addPrimary({ ...legit, dekVersion: 2, dekId: dekIdFor(2) });
    // Re-labelled as wrapped under another KEK (the column edited in place).
    await h.flat.addPrimary(await mint("t-e3", 1));
    await h.flatTable.updateEntity({ partitionKey: "t-e3", rowKey: dekIdFor(1), kekKeyId: `kek:${h.peer.vaultName}/another-kek` }, "Merge");
    const before = await h.unwraps();
    await expect(resolver().primary("t-e2")).rejects.toMatchObject({ code: "FlatDekSignatureInvalid" });
    await expect(resolver().primary("t-e")).rejects.toMatchObject({ code: "FlatDekSignatureInvalid" });
    await expect(resolver().resolve("t-e", 2)).rejects.toMatchObject({ code: "FlatDekSignatureInvalid" });
    await expect(resolver().primary("t-e3")).rejects.toMatchObject({ code: "FlatDekSignatureInvalid" });
    expect(await h.unwraps()).toBe(before);
    // The untouched row still reads.
    expect((await resolver().resolve("t-e", 1)).record.dekVersion).toBe(1);
  });

  it("without a signing key refuses signed rows (it cannot verify them) and still reads legacy unsigned rows", async () => {
    await h.flat.addPrimary(await mint("t-s", 1));
    await h.flat.addPrimary(await mint("t-l", 1, "unsigned"));
    await expect(new DekResolver(h.flat, kek).primary("t-s")).rejects.toMatchObject({ code: "FlatDekSignerMissing" });
    expect((await new DekResolver(h.flat, kek).primary("t-l")).record.dekVersion).toBe(1);
  });
});

describe("legacy (unsigned) rows", () => {
  it("are read, re-wrapped and migrated while KEYROTOR_FLAT_DEKS_REQUIRE_SIGNATURE is off, and refused by all three once it is on", async () => {
    await h.flat.addPrimary(await mint("t-old", 1, "unsigned"));
    const env = new Envelope(new DekResolver(h.flat, kek, { auth: signed }));
    const ct = await env.encrypt("t-old", Buffer.from("old data"));
    expect(() => new FlatDekAuth({ requireSignature: true })).toThrow(/FlatDekSignerMissing|no signing key/);
    await expect(new DekResolver(h.flat, kek, { auth: strict }).resolve("t-old", 1)).rejects.toMatchObject({ code: "FlatDekUnsigned" });
    const v2 = await h.newKekVersion();
    expect(await rewrapTenants(rewrapDeps(strict), ["t-old"], v2)).toMatchObject({ rewrapped: 0, refused: 1 });
    expect(await rewrapTenants(rewrapDeps(signed), ["t-old"], v2)).toMatchObject({ rewrapped: 1, refused: 0 });
    expect((await stored("t-old", 1)).kekVersion).toBe(v2);
    const strictRun = await migrateFlat({ keys: h.keys, deks: h.deks, kek, flat: h.flat, flatTable: h.flatTable, flatAuth: strict }, { runId: "m-strict", kekKeyId: h.kekKeyId, kekVersion: v2 });
    expect(strictRun.counts).toMatchObject({ flatRowsRefused: 1, flatRowsDeleted: 0 });
    const run = await migrateFlat({ keys: h.keys, deks: h.deks, kek, flat: h.flat, flatTable: h.flatTable, flatAuth: signed }, { runId: "m-legacy", kekKeyId: h.kekKeyId, kekVersion: v2 });
    expect(run.counts).toMatchObject({ flatRowsUnsignedAdopted: 1, flatRowsDeleted: 1 });
    const after = new Envelope(new HierarchyDekResolver(h.deks, h.keys, new DekResolver(h.flat, kek, { auth: strict })));
    expect((await after.decrypt(ct)).toString()).toBe("old data");
  });
});

describe("the KEK re-wrap", () => {
  it("carries signatures across a KEK rotation without signing, every DEK decrypts, and refuses a planted row (left under the old version)", async () => {
    const tenants = ["t-r1", "t-r2", "t-r3"];
    const cts = new Map<string, string>();
    const env1 = new Envelope(new DekResolver(h.flat, kek, { auth: strict, primaryTtlMs: 0 }));
    for (const t of tenants) {
      await h.flat.addPrimary(await mint(t, 1));
      cts.set(`${t}/1`, await env1.encrypt(t, Buffer.from(`${t} v1`)));
      await h.flat.addPrimary(await mint(t, 2));
      cts.set(`${t}/2`, await env1.encrypt(t, Buffer.from(`${t} v2`)));
    }
    const { row } = await planted("t-r2", 3);
    await h.flat.addPrimary(row);
    const before = new Map<string, DekRecord>();
    for (const t of tenants) for (const v of [1, 2]) before.set(`${t}/${v}`, await stored(t, v));
    const signsBefore = (h.peer.admin.stats().calls.sign ?? 0);
    const v2 = await h.newKekVersion();

    const out = await rewrapTenants(rewrapDeps(strict), tenants, v2);

    expect(out).toMatchObject({ rewrapped: 6, refused: 1, unreadable: 0 });
    expect((h.peer.admin.stats().calls.sign ?? 0)).toBe(signsBefore);
    expect((await stored("t-r2", 3)).kekVersion).toBe(h.kekVersion);
    for (const [k, b] of before) {
      const [t, v] = k.split("/");
      const a = await stored(t!, Number(v));
      expect(a.kekVersion).toBe(v2);
      expect(a.wrapped).not.toBe(b.wrapped);
      expect({ c: a.commitment, s: a.signature, k: a.signerKeyId, v: a.signerVersion }).toEqual({ c: b.commitment, s: b.signature, k: b.signerKeyId, v: b.signerVersion });
    }
    const env2 = new Envelope(new DekResolver(h.flat, kek, { auth: strict }));
    for (const [k, ct] of cts) expect((await env2.decrypt(ct)).toString()).toBe(`${k.split("/")[0]} v${k.split("/")[1]}`);
  });
});

describe("migrateFlat", () => {
  it("refuses a planted row: not migrated into a signed format-2 DEK, not deleted, counted; the tenant's signed DEKs move", async () => {
    await h.flat.addPrimary(await mint("t-m", 1));
    const { row } = await planted("t-m", 2);
    await h.flat.addPrimary(row);

    const run = await migrateFlat({ keys: h.keys, deks: h.deks, kek, flat: h.flat, flatTable: h.flatTable, flatAuth: strict }, { runId: "m-planted", kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });

    expect(run.counts).toMatchObject({ flatRowsRefused: 1, dekRowsWritten: 1, flatRowsDeleted: 1 });
    expect((await h.deks.scan("t-m")).items.map((d) => d.dekVersion)).toEqual([1]);
    expect(await h.flat.get("t-m", dekIdFor(2))).toBeDefined();
    // No consumer encrypts under the planted DEK afterwards.
    const env = new Envelope(new HierarchyDekResolver(h.deks, h.keys, new DekResolver(h.flat, kek, { auth: strict })));
    await expect(env.encrypt("t-m", Buffer.from("tenant secret"))).rejects.toThrow();
  });
});

describe("the KEK rewrap sample gate", () => {
  it("fails on a sampled row whose wrap was replaced after the re-wrap (commitment), naming the code", async () => {
    await h.flat.addPrimary(await mint("t-g", 1));
    const v2 = await h.newKekVersion();
    expect(await rewrapTenants(rewrapDeps(strict), ["t-g"], v2)).toMatchObject({ rewrapped: 1 });
    const sample = (auth?: FlatDekAuth) => kekRewrapSampleLeg(
      { validationVault: keyVaultValidationVault(() => h.vault), deks: new TableDekPort(h.flatTable), ...(auth ? { flatDekAuth: auth } : {}) },
      { keyId: h.kekKeyId, version: v2, perTenant: 2, tenantsPerLeg: 10, scanRows: 100 },
    );
    expect(await sample(strict)).toMatchObject({ checked: 1, failed: 0 });
    const { row } = await planted("t-g", 1, v2);
    await h.flatTable.updateEntity({ partitionKey: "t-g", rowKey: dekIdFor(1), wrapped: row.wrapped }, "Merge");
    expect(await sample(strict)).toMatchObject({ checked: 1, failed: 1, failures: [{ version: v2, reason: expect.stringContaining("FlatDekCommitmentMismatch") }] });
  });
});
