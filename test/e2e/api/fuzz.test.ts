// Generated requests and events (fast-check) against the real functions on the host: whatever a
// client sends, the answer is never a 5xx, every 4xx carries the error body, and nothing changes in
// the ledger (chains of managed keys), the inventory, the vault, approvals or policies.
// The only trace a refused Event Grid event may leave is its EventRejected entry in the
// "system:eventgrid" chain (see lib/api/keyVaultEvents.ts); that chain is excluded from the snapshot.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTE_LIST } from "../../../lib/api/routes";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { openApiPaths } from "../../../lib/http/openapi";
import { seedKey, snapshot, startApiHost, type ApiHost } from "./support";

let h: ApiHost;
let before: string;
beforeAll(async () => {
  h = await startApiHost();
  await seedKey(h.mem, "kek", "tenant-kek");
  await seedKey(h.mem, "signing", "token-signer");
  await h.mem.policies.put({ policyId: "quarterly", tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P200D" }, undefined);
  before = await snapshot(h.mem);
});
afterAll(async () => h.stop());

const ALL_ROLES = Object.values(ROLES);
const principal = fc.oneof(
  fc.constant(undefined),
  fc.string({ maxLength: 40 }),
  fc.base64String({ maxLength: 200 }),
  fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.subarray(ALL_ROLES)).map(([n, r]) => encodePrincipal(n, r)),
);
const json = fc.jsonValue({ maxDepth: 3 });
const keyIdish = fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom("kek:demo-vault/nope", "dek:", "kek:demo-vault/tenant-kek/extra", "secret:x/y", "signing:demo-vault/nope"));
const body = fc.oneof(
  json,
  fc.string({ maxLength: 200 }),
  fc.record({ keyId: keyIdish, reason: fc.string({ maxLength: 30 }), mode: fc.oneof(fc.constantFrom("manual", "emergency"), fc.string()), revokeOld: fc.oneof(fc.boolean(), json) }, { requiredKeys: [] }),
  fc.record({ keyId: keyIdish, evidence: json, reason: fc.string(), extra: json }, { requiredKeys: [] }),
  fc.dictionary(fc.string({ maxLength: 12 }), json, { maxKeys: 6 }),
);
const segment = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("kek:demo-vault/tenant-kek", "demo-vault", "token-signer", "quarterly", "%2F..%2F", "verify"));

describe("fuzzing", () => {
  it("1,500 generated HTTP requests across every route: never a 5xx, 4xx with an error body, nothing changed", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTE_LIST), principal, body, segment, fc.dictionary(fc.constantFrom("horizon", "keyId", "limit", "from", "to", "tenant", "fromSeq", "x"), fc.string({ maxLength: 20 }), { maxKeys: 3 }), async (spec, who, b, seg, query) => {
        const path = openApiPaths(spec.route).at(-1)!.replace(/\{[A-Za-z0-9_]+\}/g, () => encodeURIComponent(seg) || "x");
        const qs = new URLSearchParams(query).toString();
        const r = await h.call(spec.method, `${path}${qs ? `?${qs}` : ""}`, {
          ...(who !== undefined ? { as: who } : { as: "none" }),
          ...(spec.method !== "GET" ? { body: typeof b === "string" ? b : JSON.stringify(b) } : {}),
          headers: { "content-type": "application/json", ...(spec.name === "putPolicy" ? { "if-match": seg } : {}) },
        });
        expect(r.status, `${spec.method} ${path} → ${r.body}`).toBeLessThan(500);
        if (r.status >= 400 && r.status !== 404) {
          const e = (r.json() as { error?: { code?: unknown; message?: unknown } }).error;
          expect(typeof e?.code).toBe("string");
          expect(typeof e?.message).toBe("string");
        }
      }),
      { numRuns: 1500 },
    );
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
  }, 120_000);

  it("600 generated Event Grid deliveries: never a 5xx, nothing started or changed", async () => {
    const data = fc.record({
      Id: fc.string({ maxLength: 40 }), VaultName: fc.oneof(fc.constantFrom("foreign-vault", "demo-vault", "DEMO-VAULT"), fc.string({ maxLength: 30 })),
      ObjectType: fc.oneof(fc.constantFrom("Key", "Secret", "Certificate", "Vault"), json), ObjectName: fc.oneof(fc.constantFrom("not-managed", "also-not"), fc.string({ maxLength: 20 })),
      Version: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), json), NBF: fc.oneof(json, fc.integer()), EXP: fc.oneof(json, fc.integer()),
    }, { requiredKeys: [] });
    const type = fc.oneof(fc.constantFrom("Microsoft.KeyVault.KeyNearExpiry", "Microsoft.KeyVault.KeyExpired", "Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.KeyNewVersionCreated", "Microsoft.KeyVault.VaultAccessPolicyChanged", "Microsoft.Storage.BlobCreated"), fc.string());
    const event = fc.oneof(
      json,
      fc.record({ id: fc.oneof(fc.string(), json), eventType: type, subject: fc.string(), eventTime: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), data: fc.oneof(data, json), dataVersion: fc.string() }, { requiredKeys: [] }),
      fc.record({ specversion: fc.oneof(fc.constant("1.0"), fc.string()), id: fc.string(), type, source: fc.string(), time: fc.string(), data: fc.oneof(data, json) }, { requiredKeys: [] }),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(event, { minLength: 1, maxLength: 3 }), event), async (payload) => {
        const r = await h.host.invokeHttp("POST", "/runtime/webhooks/eventgrid?functionName=keyVaultEvents", { headers: { "aeg-event-type": "Notification", "content-type": "application/json" }, body: JSON.stringify(payload) });
        expect(r.status, JSON.stringify(payload).slice(0, 300)).toBeLessThan(500);
      }),
      { numRuns: 600 },
    );
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.events.messages.filter((m) => m.subject !== "CertificateExpiring")).toEqual([]);
  }, 120_000);
});
