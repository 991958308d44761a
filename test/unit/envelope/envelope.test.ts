import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { createWrappedDek, dekIdFor, DekResolver, Envelope, MemoryKek, parseCiphertext, type DekRecord, type DekSource } from "../../../lib/envelope";

const KEK = "kek:demo-vault/tenant-kek";

/** The DekSource contract over a Map (the Table-backed one is tested in test/integration/stores). */
class MapDeks implements DekSource {
  readonly rows = new Map<string, DekRecord>();
  primaryOf = new Map<string, string>();
  async get(tenant: string, dekId: string) {
    return this.rows.get(`${tenant}/${dekId}`);
  }
  async getPrimary(tenant: string) {
    const id = this.primaryOf.get(tenant);
    return id ? this.rows.get(`${tenant}/${id}`) : undefined;
  }
  add(r: DekRecord) {
    if (r.state === "primary") {
      const old = this.primaryOf.get(r.tenant);
      if (old) this.rows.set(`${r.tenant}/${old}`, { ...this.rows.get(`${r.tenant}/${old}`)!, state: "secondary" });
      this.primaryOf.set(r.tenant, r.dekId);
    }
    this.rows.set(`${r.tenant}/${r.dekId}`, r);
  }
}

async function setup() {
  const kek = new MemoryKek();
  const kekVersion = kek.addVersion(KEK);
  const deks = new MapDeks();
  let clock = 0;
  const resolver = new DekResolver(deks, kek, { now: () => clock, ttlMs: 1000, primaryTtlMs: 100 });
  const rotate = async (tenant: string, dekVersion: number) =>
    deks.add(await createWrappedDek({ tenant, dekVersion, kekKeyId: KEK, kekVersion }, kek, new Date(0)));
  return { kek, kekVersion, deks, resolver, envelope: new Envelope(resolver), rotate, tick: (ms: number) => (clock += ms) };
}

describe("Envelope", () => {
  it("round-trips data across DEK rotations: old ciphertexts decrypt with their own DEK version", async () => {
    const s = await setup();
    await s.rotate("contoso", 1);
    const c1 = await s.envelope.encrypt("contoso", Buffer.from("first"));
    await s.rotate("contoso", 2);
    s.tick(101); // past the primary pointer's TTL
    const c2 = await s.envelope.encrypt("contoso", Buffer.from("second"));
    expect(parseCiphertext(c1).dekVersion).toBe(1);
    expect(parseCiphertext(c2).dekVersion).toBe(2);
    expect((await s.envelope.decrypt(c1)).toString()).toBe("first");
    expect((await s.envelope.decrypt(c2)).toString()).toBe("second");
  });

  it("binds the tenant, the DEK version and the caller's AAD", async () => {
    const s = await setup();
    await s.rotate("contoso", 1);
    await s.rotate("fabrikam", 1);
    const c = await s.envelope.encrypt("contoso", Buffer.from("data"), Buffer.from("order-42"));
    expect((await s.envelope.decrypt(c, Buffer.from("order-42"))).toString()).toBe("data");
    await expect(s.envelope.decrypt(c, Buffer.from("order-43"))).rejects.toMatchObject({ code: "CiphertextInvalid" });
    const relabelled = c.replace("kr1.contoso.", "kr1.fabrikam.");
    await expect(s.envelope.decrypt(relabelled, Buffer.from("order-42"))).rejects.toMatchObject({ code: "CiphertextInvalid" });
  });

  it("refuses unknown formats and malformed ciphertexts with a clear 4xx", async () => {
    const s = await setup();
    await expect(s.envelope.decrypt("vault:v3:abc")).rejects.toMatchObject({ code: "CiphertextFormatUnknown", status: 400 });
    await expect(s.envelope.decrypt("kr2.contoso.1.aaaa.bbbb")).rejects.toThrow(/"kr2" is not supported/);
    await expect(s.envelope.decrypt("kr1.contoso.x.aaaa.bbbb")).rejects.toMatchObject({ code: "CiphertextMalformed" });
    await expect(s.envelope.decrypt("kr1.contoso.1.AAAA.AAAA")).rejects.toMatchObject({ code: "CiphertextMalformed" });
  });

  it("refuses a DEK version the tenant does not have, and retired or revoked DEKs", async () => {
    const s = await setup();
    await s.rotate("contoso", 1);
    const c = await s.envelope.encrypt("contoso", Buffer.from("x"));
    await expect(s.envelope.decrypt(c.replace("kr1.contoso.1.", "kr1.contoso.9."))).rejects.toMatchObject({ code: "DekUnknown", status: 404 });
    await s.rotate("contoso", 2);
    const key = `contoso/${dekIdFor(1)}`;
    s.deks.rows.set(key, { ...s.deks.rows.get(key)!, state: "retired" });
    s.resolver.clear();
    await expect(s.envelope.decrypt(c)).rejects.toMatchObject({ code: "DekRetired", status: 410 });
  });

  it("encrypting for a tenant without a DEK is a 404, not a crash", async () => {
    const s = await setup();
    await expect(s.envelope.encrypt("nobody", Buffer.from("x"))).rejects.toMatchObject({ code: "DekMissing", status: 404 });
  });

  it("unwraps each DEK once per TTL and again after it expires", async () => {
    const s = await setup();
    await s.rotate("contoso", 1);
    for (let i = 0; i < 20; i++) await s.envelope.decrypt(await s.envelope.encrypt("contoso", Buffer.from(`m${i}`)));
    expect(s.kek.unwrapCalls).toBe(1);
    s.tick(1001);
    await s.envelope.encrypt("contoso", Buffer.from("later"));
    expect(s.kek.unwrapCalls).toBe(2);
  });

  it("keeps plaintext out of error messages", async () => {
    const s = await setup();
    await s.rotate("contoso", 1);
    const c = await s.envelope.encrypt("contoso", Buffer.from("TOP-SECRET-PAYLOAD"));
    const tampered = c.slice(0, -4) + (c.endsWith("AAAA") ? "BBBB" : "AAAA");
    const err = await s.envelope.decrypt(tampered).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    const { key } = await s.resolver.resolve("contoso", 1);
    const text = `${(err as Error).message} ${JSON.stringify(err)}`;
    expect(text).not.toContain("TOP-SECRET");
    expect(text).not.toContain(key.toString("base64url"));
    expect(text).not.toContain(key.toString("hex"));
  });
});

describe("DEK records", () => {
  it("never carry the plaintext: the wrapped DEK unwraps to 32 bytes only through the KEK", async () => {
    const kek = new MemoryKek();
    const v = kek.addVersion(KEK);
    const r = await createWrappedDek({ tenant: "contoso", dekVersion: 3, kekKeyId: KEK, kekVersion: v }, kek, new Date(0));
    expect(r).toMatchObject({ format: 1, dekId: "v00000003", alg: "RSA-OAEP-256", state: "primary", kekVersion: v });
    expect((await kek.unwrap(KEK, v, Buffer.from(r.wrapped, "base64url"), "RSA-OAEP-256")).length).toBe(32);
  });

  it("reject an invalid tenant before generating anything", async () => {
    await expect(createWrappedDek({ tenant: "a/b", dekVersion: 1, kekKeyId: KEK, kekVersion: "v" }, new MemoryKek(), new Date(0))).rejects.toMatchObject({ code: "TenantInvalid" });
  });
});
