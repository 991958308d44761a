import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decide, parseKeyVaultEvent, validationCode } from "../../../lib/domain/keyVaultEvents";
import { InvalidRequestError } from "../../../lib/domain/errors";

// Real-shape payloads (the PascalCase live form; the Event Grid spec examples use it too).
const eventGrid = {
  id: "00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
  topic: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/demo-vault",
  subject: "tenant-kek",
  eventType: "Microsoft.KeyVault.KeyNearExpiry",
  eventTime: "2026-07-25T01:08:33.1036736Z",
  data: {
    Id: "https://demo-vault.vault.azure.net/keys/tenant-kek/ee059b2bb5bc48398a53b168c6cdcb10",
    VaultName: "demo-vault",
    ObjectType: "Key",
    ObjectName: "tenant-kek",
    Version: "ee059b2bb5bc48398a53b168c6cdcb10",
    NBF: "1559081980",
    EXP: 1559082102,
  },
  dataVersion: "1",
  metadataVersion: "1",
};
const cloudEvent = {
  source: eventGrid.topic,
  subject: "tenant-kek",
  type: "Microsoft.KeyVault.KeyExpired",
  time: "2026-07-25T01:08:33Z",
  id: "c1",
  specversion: "1.0",
  data: { id: "https://demo-vault.vault.azure.net/keys/tenant-kek/abc123", vaultName: "demo-vault", objectType: "Key", objectName: "tenant-kek", version: "abc123", nbf: null, exp: null },
};

describe("parseKeyVaultEvent", () => {
  it("reads the Event Grid schema with PascalCase data and string or number epochs", () => {
    const ev = parseKeyVaultEvent(eventGrid);
    expect(ev).toMatchObject({ schema: "eventgrid", shortType: "KeyNearExpiry", vaultName: "demo-vault", objectName: "tenant-kek", version: eventGrid.data.Version });
    expect(ev.notBefore?.toISOString()).toBe("2019-05-28T22:19:40.000Z");
    expect(ev.expiresOn?.getTime()).toBe(1559082102_000);
  });

  it("reads CloudEvents 1.0 with camelCase data and null NBF/EXP", () => {
    const ev = parseKeyVaultEvent(cloudEvent);
    expect(ev).toMatchObject({ schema: "cloudevents", shortType: "KeyExpired", objectType: "Key", version: "abc123" });
    expect(ev.notBefore).toBeUndefined();
    expect(ev.expiresOn).toBeUndefined();
  });

  it("refuses malformed events naming the field", () => {
    const cases: [unknown, string][] = [
      [null, "event"],
      [{ ...eventGrid, eventType: "Microsoft.Storage.BlobCreated" }, "eventType"],
      [{ ...eventGrid, data: { ...eventGrid.data, VaultName: "../../etc" } }, "data.VaultName"],
      [{ ...eventGrid, data: { ...eventGrid.data, EXP: "tomorrow" } }, "data.EXP"],
      [{ ...eventGrid, data: undefined }, "data"],
      [{ ...cloudEvent, specversion: "0.3" }, "specversion"],
    ];
    for (const [raw, field] of cases) {
      try {
        parseKeyVaultEvent(raw);
        expect.unreachable(`accepted ${JSON.stringify(raw)}`);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidRequestError);
        expect((err as InvalidRequestError).field).toBe(field);
      }
    }
  });

  it("never throws anything but InvalidRequestError on arbitrary input", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseKeyVaultEvent(v);
        } catch (err) {
          return err instanceof InvalidRequestError;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });
});

describe("parseKeyVaultEvent refuses events whose fields contradict each other (issue 21)", () => {
  function refusal(raw: unknown): InvalidRequestError {
    try {
      parseKeyVaultEvent(raw);
    } catch (err) {
      if (err instanceof InvalidRequestError) return err;
      throw err;
    }
    return expect.unreachable(`accepted ${JSON.stringify(raw)}`);
  }
  const secret = (data: Record<string, unknown>, type = "Microsoft.KeyVault.SecretNearExpiry") => ({
    ...eventGrid, eventType: type, subject: "webhook",
    data: { Id: "https://demo-vault.vault.azure.net/secrets/webhook/0123456789abcdef0123456789abcdef", VaultName: "demo-vault", ObjectType: "Secret", ObjectName: "webhook", Version: "0123456789abcdef0123456789abcdef", ...data },
  });

  it("refuses a SecretNearExpiry whose data says ObjectType Key (it started a KEK rotation)", () => {
    const raw = secret({ ObjectType: "Key", ObjectName: "tenant-kek", Id: eventGrid.data.Id, Version: eventGrid.data.Version });
    expect(refusal(raw)).toMatchObject({ code: "EventContradictory", field: "data.ObjectType" });
    expect(refusal({ ...cloudEvent, type: "Microsoft.KeyVault.SecretExpired" })).toMatchObject({ code: "EventContradictory", field: "data.ObjectType" });
    expect(refusal({ ...eventGrid, eventType: "Microsoft.KeyVault.CertificateNearExpiry" })).toMatchObject({ code: "EventContradictory" });
  });

  it("refuses an object id under another collection, object, version or vault than the data names", () => {
    expect(refusal(secret({ Id: "https://demo-vault.vault.azure.net/keys/webhook/0123456789abcdef0123456789abcdef" }))).toMatchObject({ code: "EventContradictory", field: "data.Id" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Id: eventGrid.data.Id.replace("/keys/", "/secrets/") } })).toMatchObject({ code: "EventContradictory", field: "data.Id" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, ObjectName: "other-kek" } })).toMatchObject({ code: "EventContradictory", field: "data.Id" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Version: "ffffffffffffffffffffffffffffffff" } })).toMatchObject({ code: "EventContradictory", field: "data.Id" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Id: eventGrid.data.Id.replace("demo-vault", "evil-vault") } })).toMatchObject({ code: "EventContradictory", field: "data.Id" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Id: `${eventGrid.data.Id}/extra` } })).toMatchObject({ code: "EventContradictory", field: "data.Id" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Id: eventGrid.data.Id.replace("https:", "http:") } })).toMatchObject({ field: "data.Id" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Id: "not a url" } })).toMatchObject({ code: "EventMalformed", field: "data.Id" });
  });

  it("accepts the spec's own example and names that differ only in case", () => {
    const spec = {
      id: "00eccf70-95a7-4e7c-8299-2eb17ee9ad64", subject: "newsecret", eventType: "Microsoft.KeyVault.SecretNewVersionCreated", eventTime: "2019-07-25T01:08:33.1036736Z", dataVersion: "1", metadataVersion: "1",
      data: { Id: "https://sample-kv.vault.azure.net/secrets/newsecret/ee059b2bb5bc48398a53b168c6cdcb10", VaultName: "sample-kv", ObjectType: "Secret", ObjectName: "newsecret", Version: "ee059b2bb5bc48398a53b168c6cdcb10", NBF: "1559081980", EXP: "1559082102" },
    };
    expect(parseKeyVaultEvent(spec)).toMatchObject({ objectType: "Secret", objectName: "newsecret" });
    expect(parseKeyVaultEvent({ ...eventGrid, data: { ...eventGrid.data, Id: eventGrid.data.Id.replace("demo-vault", "Demo-Vault").replace("tenant-kek", "Tenant-KEK") } })).toMatchObject({ objectName: "tenant-kek" });
    expect(parseKeyVaultEvent(secret({ Id: undefined }))).toMatchObject({ objectType: "Secret", objectId: "" });
    // The local Key Vault peer serves every vault from one address.
    expect(parseKeyVaultEvent({ ...eventGrid, data: { ...eventGrid.data, Id: eventGrid.data.Id.replace("demo-vault.vault.azure.net", "127.0.0.1:8443") } })).toMatchObject({ vaultName: "demo-vault" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Id: eventGrid.data.Id.replace("demo-vault.vault.azure.net", "127.0.0.1:8443").replace("/keys/", "/secrets/") } })).toMatchObject({ code: "EventContradictory" });
    expect(refusal({ ...eventGrid, data: { ...eventGrid.data, Id: eventGrid.data.Id.replace("demo-vault.vault.azure.net", "evil.vault.azure.cn") } })).toMatchObject({ code: "EventContradictory" });
  });
});

describe("validationCode", () => {
  it("recognises Event Grid's subscription validation event", () => {
    expect(validationCode({ id: "x", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent", data: { validationCode: "512d38b6" } })).toBe("512d38b6");
    expect(validationCode(eventGrid)).toBeUndefined();
  });
});

describe("decide", () => {
  const managed = new Set(["kek:demo-vault/tenant-kek", "secret:demo-vault/webhook"]);
  const vaults = new Set(["demo-vault"]);
  const isManaged = (k: string) => managed.has(k);

  it("rotates a managed key on near-expiry and expiry", () => {
    expect(decide(parseKeyVaultEvent(eventGrid), isManaged, vaults)).toEqual({ action: "rotate", keyId: "kek:demo-vault/tenant-kek", version: eventGrid.data.Version });
    expect(decide(parseKeyVaultEvent(cloudEvent), isManaged, vaults)).toMatchObject({ action: "rotate" });
  });

  it("ignores foreign vaults and unmanaged objects", () => {
    const foreign = { ...eventGrid, data: { ...eventGrid.data, VaultName: "other-vault", Id: eventGrid.data.Id.replace("demo-vault", "other-vault") } };
    expect(decide(parseKeyVaultEvent(foreign), isManaged, vaults)).toMatchObject({ action: "ignore" });
    const unmanaged = { ...eventGrid, data: { ...eventGrid.data, ObjectName: "not-ours", Id: eventGrid.data.Id.replace("tenant-kek", "not-ours") } };
    expect(decide(parseKeyVaultEvent(unmanaged), isManaged, vaults)).toMatchObject({ action: "ignore" });
  });

  it("alerts on certificates and checks new versions of managed keys", () => {
    const cert = { ...eventGrid, eventType: "Microsoft.KeyVault.CertificateNearExpiry", data: { ...eventGrid.data, ObjectType: "Certificate", ObjectName: "tls", Id: `https://demo-vault.vault.azure.net/certificates/tls/${eventGrid.data.Version}` } };
    expect(decide(parseKeyVaultEvent(cert), isManaged, vaults)).toMatchObject({ action: "alertCertificate", certificate: "demo-vault/tls" });
    const created = { ...eventGrid, eventType: "Microsoft.KeyVault.KeyNewVersionCreated" };
    expect(decide(parseKeyVaultEvent(created), isManaged, vaults)).toMatchObject({ action: "checkNewVersion", keyId: "kek:demo-vault/tenant-kek" });
  });
});
