// The Key Vault peer held to the official specs: every response and error body it sends is
// validated against the Key Vault data-plane swagger (2025-07-01 keys.json / secrets.json), and its
// events against the Event Grid Key Vault schema. The specs live in ../shared (not vendored); in a
// clone without them this file skips with a visible notice.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyVaultPeer } from "../../dev/peers/keyvault";
import { rawRequest, startTestVault, startWebhookSink, type RawResponse, type WebhookSink } from "../support/keyvault";
import { describeErrors, missingSpecs, SpecValidator, specFiles } from "./specs";

const missing = missingSpecs();
if (missing.length > 0) {
  console.warn(`[keyrotor] [spec] skipping Key Vault peer spec validation: missing ${missing.join(", ")}`);
}

const API = "api-version=2025-07-01";
const b64u = (b: Buffer): string => b.toString("base64url");

describe.skipIf(missing.length > 0)("Key Vault peer against the official REST API specs", () => {
  let peer: KeyVaultPeer;
  let sink: WebhookSink;
  const specs = new SpecValidator();
  const exercised = new Set<string>();

  /** A raw request whose response must match the spec's schema for that operation and status. */
  async function call(method: string, path: string, opts: { body?: unknown; token?: string | false } = {}): Promise<RawResponse> {
    const res = await rawRequest(peer, method, path.includes("?") ? `${path}&${API}` : `${path}?${API}`, opts);
    const file = /^\/(keys|deletedkeys)/i.test(path) ? specFiles.keys : specFiles.secrets;
    const { operationId, validate } = specs.response(file, method, path, res.status);
    exercised.add(`${operationId} ${res.status}`);
    if (validate) {
      const valid = validate(res.body);
      expect(valid, `${method} ${path} → ${res.status} (${operationId}): ${describeErrors(validate.errors)}\n${JSON.stringify(res.body)}`).toBe(true);
    } else {
      expect(res.body, `${operationId} ${res.status} declares no body`).toBeUndefined();
    }
    return res;
  }

  beforeAll(async () => {
    sink = await startWebhookSink();
    peer = await startTestVault({ vaultName: "spec-vault", eventGridWebhook: sink.url });
  });
  afterAll(async () => {
    await peer?.stop();
    await sink?.close();
  });

  it("sends key bundles, lists, rotation policies and soft-delete results shaped as keys.json declares", async () => {
    const soon = Math.floor(Date.now() / 1000) + 40 * 86_400;
    const rsa = await call("POST", "/keys/spec-rsa/create", { body: { kty: "RSA", key_size: 2048, attributes: { exp: soon }, tags: { a: "b" } } });
    expect(rsa.status).toBe(200);
    await call("POST", "/keys/spec-ec/create", { body: { kty: "EC", crv: "P-384" } });
    await call("POST", "/keys/spec-oct/create", { body: { kty: "oct-HSM", key_size: 256 } });
    const version = rsa.body.key.kid.split("/").pop();
    await call("GET", "/keys/spec-rsa/");
    await call("GET", `/keys/spec-rsa/${version}`);
    const firstPage = await call("GET", "/keys?maxresults=1");
    expect(typeof firstPage.body.nextLink).toBe("string");
    const next = new URL(firstPage.body.nextLink);
    const nextPage = await rawRequest(peer, "GET", `${next.pathname}${next.search}`);
    const listValidator = specs.response(specFiles.keys, "GET", "/keys", 200).validate!;
    expect(listValidator(nextPage.body), describeErrors(listValidator.errors)).toBe(true);
    await call("GET", "/keys/spec-rsa/versions");
    await call("PATCH", `/keys/spec-rsa/${version}`, { body: { attributes: { enabled: true, nbf: soon - 90 * 86_400 }, key_ops: ["wrapKey", "unwrapKey", "encrypt", "decrypt", "sign", "verify"], tags: { c: "d" } } });
    await call("GET", "/keys/spec-rsa/rotationpolicy");
    await call("PUT", "/keys/spec-rsa/rotationpolicy", {
      body: { lifetimeActions: [{ trigger: { timeAfterCreate: "P60D" }, action: { type: "Rotate" } }, { trigger: { timeBeforeExpiry: "P30D" }, action: { type: "Notify" } }], attributes: { expiryTime: "P90D" } },
    });
    await call("POST", "/keys/spec-rsa/rotate");
    await call("DELETE", "/keys/spec-ec");
    await call("GET", "/deletedkeys/spec-ec");
    await call("GET", "/deletedkeys");
    await call("POST", "/deletedkeys/spec-ec/recover");
    await call("DELETE", "/keys/spec-ec");
    expect((await call("DELETE", "/deletedkeys/spec-ec")).status).toBe(204);
  });

  it("sends cryptographic results shaped as keys.json declares", async () => {
    const rsa = await call("POST", "/keys/spec-crypto/create", { body: { kty: "RSA", key_size: 2048 } });
    const oct = await call("POST", "/keys/spec-aes/create", { body: { kty: "oct-HSM", key_size: 256 } });
    const ec = await call("POST", "/keys/spec-sig/create", { body: { kty: "EC", crv: "P-256" } });
    const rsaPath = new URL(rsa.body.key.kid).pathname;
    const dek = b64u(randomBytes(32));
    const wrapped = await call("POST", `${rsaPath}/wrapkey`, { body: { alg: "RSA-OAEP-256", value: dek } });
    expect((await call("POST", `${rsaPath}/unwrapkey`, { body: { alg: "RSA-OAEP-256", value: wrapped.body.value } })).body.value).toBe(dek);
    const enc = await call("POST", `${rsaPath}/encrypt`, { body: { alg: "RSA-OAEP", value: dek } });
    await call("POST", `${rsaPath}/decrypt`, { body: { alg: "RSA-OAEP", value: enc.body.value } });
    const aesPath = new URL(oct.body.key.kid).pathname;
    const kw = await call("POST", `${aesPath}/wrapkey`, { body: { alg: "A256KW", value: dek } });
    await call("POST", `${aesPath}/unwrapkey`, { body: { alg: "A256KW", value: kw.body.value } });
    const digest = b64u(createHash("sha256").update("spec").digest());
    for (const [path, alg] of [[rsaPath, "RS256"], [rsaPath, "PS256"], [new URL(ec.body.key.kid).pathname, "ES256"]] as const) {
      const sig = await call("POST", `${path}/sign`, { body: { alg, value: digest } });
      expect((await call("POST", `${path}/verify`, { body: { alg, digest, value: sig.body.value } })).body.value).toBe(true);
    }
  });

  it("sends secret bundles, lists and soft-delete results shaped as secrets.json declares", async () => {
    const set = await call("PUT", "/secrets/spec-secret", { body: { value: "s3cr3t", contentType: "text/plain", tags: { a: "b" }, attributes: { exp: Math.floor(Date.now() / 1000) + 86_400 } } });
    const version = set.body.id.split("/").pop();
    await call("PUT", "/secrets/spec-secret", { body: { value: "second" } });
    await call("GET", "/secrets/spec-secret/");
    await call("GET", `/secrets/spec-secret/${version}`);
    await call("GET", "/secrets?maxresults=1");
    await call("GET", "/secrets/spec-secret/versions?maxresults=1");
    await call("PATCH", `/secrets/spec-secret/${version}`, { body: { contentType: "application/json", attributes: { enabled: false }, tags: { c: "d" } } });
    await call("DELETE", "/secrets/spec-secret");
    await call("GET", "/deletedsecrets/spec-secret");
    await call("GET", "/deletedsecrets");
    await call("POST", "/deletedsecrets/spec-secret/recover");
    await call("DELETE", "/secrets/spec-secret");
    expect((await call("DELETE", "/deletedsecrets/spec-secret")).status).toBe(204);
  });

  it("sends error bodies shaped as KeyVaultError: 400, 401, 403, 404, 409, 429 and injected faults", async () => {
    const created = await call("POST", "/keys/spec-errors/create", { body: { kty: "RSA" } });
    const path = new URL(created.body.key.kid).pathname;
    const version = path.split("/").pop()!;
    expect((await call("GET", "/keys/no-such-key/")).status).toBe(404);
    expect((await call("POST", "/keys/spec-errors/create", { body: { kty: "RSA", key_size: 1024 } })).status).toBe(400);
    expect((await call("GET", "/keys", { token: false })).status).toBe(401);
    await call("PATCH", `/keys/spec-errors/${version}`, { body: { attributes: { enabled: false } } });
    const disabled = await call("POST", `${path}/unwrapkey`, { body: { alg: "RSA-OAEP-256", value: b64u(randomBytes(256)) } });
    expect([disabled.status, disabled.body.error.innererror.code]).toEqual([403, "KeyDisabled"]);
    await call("PUT", "/secrets/spec-gone", { body: { value: "v" } });
    await call("DELETE", "/secrets/spec-gone");
    expect((await call("PUT", "/secrets/spec-gone", { body: { value: "v" } })).status).toBe(409);
    peer.admin.setThrottle({ ratePerSecond: 0.01 });
    try {
      await call("GET", "/secrets");
      const throttled = await call("GET", "/secrets");
      expect([throttled.status, throttled.body.error.code]).toEqual([429, "Throttled"]);
    } finally {
      peer.admin.setThrottle(false);
    }
    peer.admin.failNext("getKey", 1, 503);
    expect((await call("GET", "/keys/spec-errors/")).status).toBe(503);
  });

  it("rejects bodies that break the spec (the validators can fail)", async () => {
    const created = await call("POST", "/keys/spec-negative/create", { body: { kty: "EC", crv: "P-256" } });
    const validate = specs.response(specFiles.keys, "POST", "/keys/spec-negative/create", 200).validate!;
    expect(validate({ ...created.body, unexpected: true })).toBe(false);
    expect(validate({ ...created.body, attributes: { ...created.body.attributes, created: "yesterday" } })).toBe(false);
    expect(validate({ ...created.body, key: { ...created.body.key, kty: "DSA" } })).toBe(false);
    const error = specs.response(specFiles.keys, "GET", "/keys/x/", 404).validate!;
    expect(error({ error: { code: 404 } })).toBe(false);
  });

  it("covers every operation keyrotor relies on", () => {
    const ops = new Set([...exercised].map((e) => e.split(" ")[0]));
    for (const op of [
      "CreateKey", "GetKey", "GetKeys", "GetKeyVersions",
      "UpdateKey", "RotateKey", "GetKeyRotationPolicy", "UpdateKeyRotationPolicy",
      "DeleteKey", "GetDeletedKey", "RecoverDeletedKey", "wrapKey",
      "unwrapKey", "sign", "verify", "encrypt", "decrypt",
      "SetSecret", "GetSecret", "GetSecretVersions", "UpdateSecret",
    ]) {
      expect(ops, `${op} was not validated`).toContain(op);
    }
  });

  it("delivers events whose data matches the Event Grid Key Vault schema", async () => {
    const now = Math.floor(Date.now() / 1000);
    const key = await call("POST", "/keys/spec-events/create", { body: { kty: "RSA", attributes: { nbf: now - 60, exp: now + 10 * 86_400 } } });
    await call("PUT", "/secrets/spec-events", { body: { value: "v", attributes: { nbf: now - 60, exp: now + 10 * 86_400 } } });
    await peer.admin.checkNotifications();
    peer.admin.advanceTime(11 * 86_400_000);
    try {
      await peer.admin.checkNotifications();
    } finally {
      peer.admin.resetTime();
    }
    const version = key.body.key.kid.split("/").pop();
    const events = peer.admin.deliveredEvents().filter((e) => e.subject === "spec-events");
    const types = new Set(events.map((e) => e.eventType));
    expect([...types].sort()).toEqual([
      "Microsoft.KeyVault.KeyExpired", "Microsoft.KeyVault.KeyNearExpiry", "Microsoft.KeyVault.KeyNewVersionCreated",
      "Microsoft.KeyVault.SecretExpired", "Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.SecretNewVersionCreated",
    ]);
    // The envelope: Event Grid's event schema (the fields of the spec's event-grid-schema example).
    const envelope = {
      type: "object",
      required: ["id", "topic", "subject", "eventType", "eventTime", "data", "dataVersion", "metadataVersion"],
      additionalProperties: false,
      properties: {
        id: { type: "string", minLength: 1 }, topic: { type: "string", pattern: "^/subscriptions/.+/providers/Microsoft\\.KeyVault/vaults/spec-vault$" },
        subject: { type: "string" }, eventType: { type: "string" }, eventTime: { type: "string", format: "date-time" },
        data: { type: "object" }, dataVersion: { type: "string" }, metadataVersion: { const: "1" },
      },
    };
    const checkEnvelope = specs.compile(envelope);
    for (const e of events) {
      expect(checkEnvelope(e), describeErrors(checkEnvelope.errors)).toBe(true);
      const definition = `KeyVault${e.eventType.replace("Microsoft.KeyVault.", "")}EventData`;
      const validate = specs.definition(specFiles.events, definition);
      expect(validate(e.data), `${definition}: ${describeErrors(validate.errors)}`).toBe(true);
      expect(Object.keys(e.data).sort()).toEqual(["EXP", "Id", "NBF", "ObjectName", "ObjectType", "VaultName", "Version"]);
    }
    expect(events.find((e) => e.eventType === "Microsoft.KeyVault.KeyNearExpiry")!.data.Version).toBe(version);
    const delivered = await sink.waitFor(events.length);
    expect(delivered.filter((e) => e.subject === "spec-events")).toHaveLength(events.length);
  });
});
