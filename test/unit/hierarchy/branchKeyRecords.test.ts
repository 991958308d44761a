// Branch-key records are authentic: signed once by the trusted Key Vault signing key at creation,
// verified locally before first use; planted, re-signed, re-wrapped and re-assigned records are
// refused. Real Key Vault peer (sign, unwrap) and Azurite.
import { constants, publicEncrypt, randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { branchRowKey, commitmentOf, sharedIndexFor } from "../../../lib/domain/branchKeys";
import { InvariantViolationError } from "../../../lib/domain/errors";
import { Envelope } from "../../../lib/envelope/envelope";
import { HierarchyDekResolver } from "../../../lib/envelope/hierarchyResolver";
import { HierarchyDeks } from "../../../lib/hierarchy/deks";
import { signIdentity, vaultSigner } from "../../../lib/hierarchy/signer";
import { keyClient } from "../../support/keyvault";
import { startHierarchy, stopHierarchy, type Hierarchy } from "./hierarchySupport";

let h: Hierarchy;
beforeEach(async () => {
  h = await startHierarchy({ sharedBranches: 4 });
});
afterEach(() => stopHierarchy(h));

const bpk = (kek: string) => `b|${kek.replace(/\//g, "%2f")}`;

/** A tenant whose shared key of 4 is `index`. */
function tenantInShare(index: number, prefix: string): string {
  for (let i = 0; ; i++) if (sharedIndexFor(`${prefix}${i}`, 4) === index) return `${prefix}${i}`;
}

describe("branch-key records", () => {
  it("a tenant's first DEK creates its shared branch key, signed once remotely, and every DEK decrypts after a cold start", async () => {
    const signsBefore = h.peer.admin.stats().calls.sign ?? 0;
    const writer = new HierarchyDeks(h.keys, h.deks);
    await writer.create({ tenant: "acme", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    expect((h.peer.admin.stats().calls.sign ?? 0) - signsBefore).toBe(1);
    const branch = await h.keys.current(h.kekKeyId, `s4-${String(sharedIndexFor("acme", 4)).padStart(5, "0")}`);
    expect(branch?.signerKeyId).toBe(h.signingKeyId);

    const cold = new Envelope(new HierarchyDekResolver(h.deks, h.keys));
    const ct = await cold.encrypt("acme", Buffer.from("hello"));
    expect((await new Envelope(new HierarchyDekResolver(h.deks, h.keys)).decrypt(ct)).toString()).toBe("hello");
  });

  it("a planted record (a key of the attacker's choosing wrapped under the real KEK's public key) is refused before any unwrap", async () => {
    const tenant = tenantInShare(1, "planted");
    const branchId = "s4-00001";
    const own = randomBytes(32);
    const pub = await keyClient(h.peer).getKey("tenant-kek", { version: h.kekVersion });
    const { createPublicKey } = await import("node:crypto");
    const wrapped = publicEncrypt({ key: createPublicKey({ key: { kty: "RSA", n: Buffer.from(pub.key!.n!).toString("base64url"), e: Buffer.from(pub.key!.e!).toString("base64url") }, format: "jwk" }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, own);
    await h.branchTable.createEntity({
      partitionKey: bpk(h.kekKeyId), rowKey: branchRowKey(branchId, 1), format: 1, kekKeyId: h.kekKeyId, branchId, version: 1, commitment: commitmentOf(own),
      createdAt: new Date().toISOString(), signerKeyId: h.signingKeyId, signerVersion: "0123456789abcdef", kekVersion: h.kekVersion, alg: "RSA-OAEP-256",
      wrapped: wrapped.toString("base64url"), signatureAlg: "PS256", signature: randomBytes(256).toString("base64url"), state: "primary",
    });
    const unwrapsBefore = await h.unwraps();
    const writer = new HierarchyDeks(h.keys, h.deks);
    await expect(writer.create({ tenant, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion })).rejects.toMatchObject({ code: "BranchRecordUnsigned" });
    expect(await h.unwraps()).toBe(unwrapsBefore);
    expect(await h.deks.getPrimary(tenant)).toBeUndefined();
  });

  it("a record re-signed by another Key Vault key (valid signature, untrusted signer) is refused", async () => {
    const tenant = tenantInShare(2, "resigned");
    const writer = new HierarchyDeks(h.keys, h.deks);
    await writer.create({ tenant, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const genuine = (await h.keys.current(h.kekKeyId, "s4-00002"))!;
    await keyClient(h.peer).createRsaKey("other-signer", { keySize: 2048, keyOps: ["sign", "verify"] });
    const other = vaultSigner(`signing:${h.peer.vaultName}/other-signer`, h.vault);
    const { identity, signature } = await signIdentity(other, { kekKeyId: genuine.kekKeyId, branchId: genuine.branchId, version: genuine.version, commitment: genuine.commitment, createdAt: genuine.createdAt });
    await h.branchTable.updateEntity({ partitionKey: bpk(h.kekKeyId), rowKey: branchRowKey("s4-00002", 1), signerKeyId: identity.signerKeyId, signerVersion: identity.signerVersion, signature }, "Merge");
    const resolver = new HierarchyDekResolver(h.deks, h.keys);
    await expect(resolver.resolve(tenant, 1)).rejects.toMatchObject({ code: "BranchRecordUnsigned", message: expect.stringContaining("not by the trusted") as string });
    // Same signer name, signature bytes of another record: refused too.
    await h.branchTable.updateEntity({ partitionKey: bpk(h.kekKeyId), rowKey: branchRowKey("s4-00002", 1), signerKeyId: genuine.signerKeyId, signerVersion: genuine.signerVersion, signature: randomBytes(256).toString("base64url") }, "Merge");
    await expect(new HierarchyDekResolver(h.deks, h.keys).resolve(tenant, 1)).rejects.toMatchObject({ code: "BranchRecordUnsigned" });
  });

  it("a signed record whose wrap was replaced by a wrap of another key fails the signed commitment", async () => {
    const tenant = tenantInShare(3, "rewrapped");
    await new HierarchyDeks(h.keys, h.deks).create({ tenant, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    const other = await h.vault.wrap("tenant-kek", h.kekVersion, randomBytes(32));
    await h.branchTable.updateEntity({ partitionKey: bpk(h.kekKeyId), rowKey: branchRowKey("s4-00003", 1), wrapped: other.toString("base64url") }, "Merge");
    await expect(new HierarchyDekResolver(h.deks, h.keys).resolve(tenant, 1)).rejects.toMatchObject({ code: "BranchKeyCommitmentMismatch" });
  });

  it("a swapped tenant assignment is refused: another shared key, another tenant's dedicated key, or shared when the tenant has a dedicated one", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const victim = tenantInShare(0, "victim");
    const apk = `a|${h.kekKeyId.replace(/\//g, "%2f")}`;
    await h.branchTable.createEntity({ partitionKey: apk, rowKey: victim, branchId: "s4-00001" });
    await expect(writer.create({ tenant: victim, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion })).rejects.toBeInstanceOf(InvariantViolationError);

    await writer.create({ tenant: "isolated-co", dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion, isolated: true });
    const snoop = tenantInShare(0, "snoop");
    await h.branchTable.createEntity({ partitionKey: apk, rowKey: snoop, branchId: "d-isolated-co" });
    await expect(writer.create({ tenant: snoop, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion })).rejects.toMatchObject({ code: "BranchAssignmentForged" });

    await h.branchTable.updateEntity({ partitionKey: apk, rowKey: "isolated-co", branchId: `s4-${String(sharedIndexFor("isolated-co", 4)).padStart(5, "0")}` }, "Merge");
    await expect(writer.create({ tenant: "isolated-co", dekVersion: 2, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion })).rejects.toMatchObject({ code: "BranchAssignmentForged" });
    expect(await h.deks.get(victim, "v00000001")).toBeUndefined();
    expect((await h.deks.getPrimary("isolated-co"))?.dekVersion).toBe(1);
  });

  it("a DEK row copied into another tenant's partition does not authenticate there", async () => {
    const writer = new HierarchyDeks(h.keys, h.deks);
    const a = tenantInShare(0, "copyfrom");
    const b = tenantInShare(0, "copyto");
    const rec = await writer.create({ tenant: a, dekVersion: 1, kekKeyId: h.kekKeyId, kekVersion: h.kekVersion });
    await h.deks.put({ ...rec, tenant: b });
    await expect(new HierarchyDekResolver(h.deks, h.keys).resolve(b, 1)).rejects.toMatchObject({ code: "DekWrapInvalid" });
  });
});
