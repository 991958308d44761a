// Generated requests and events (fast-check) against the real functions on the host: whatever a
// client sends, the answer is never a 5xx, every 4xx carries the error body, and nothing changes in
// the ledger (chains of managed keys), the inventory, the vault, approvals or policies.
// The only trace a refused Event Grid event may leave is its EventRejected entry in the
// "system:eventgrid" chain (see lib/api/keyVaultEvents.ts); that chain is excluded from the snapshot.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTGRID_CHAIN } from "../../../lib/api/keyVaultEvents";
import { ROUTE_LIST } from "../../../lib/api/routes";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { openApiPaths } from "../../../lib/http/openapi";
import { chain, seedKey, snapshot, startApiHost, type ApiHost } from "./support";

let h: ApiHost;
let before: string;
let kekV1 = "";
let signerV1 = "";
beforeAll(async () => {
  h = await startApiHost();
  kekV1 = (await seedKey(h.mem, "kek", "tenant-kek")).v1;
  signerV1 = (await seedKey(h.mem, "signing", "token-signer")).v1;
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

  it("600 generated Event Grid deliveries: never a 5xx but the extension's own for a non-object event, nothing started or changed", async () => {
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
        const r = await h.host.invokeHttp("POST", "/runtime/webhooks/eventgrid?functionName=keyVaultEvents", { headers: { "x-functions-key": h.host.eventGridWebhookKey, "aeg-event-type": "Notification", "content-type": "application/json" }, body: JSON.stringify(payload) });
        // The Event Grid extension cannot bind a non-object event: a 500 before the app runs
        // (test/support/eventGridWebhookContract.ts); every object event reaches the app, which never fails it.
        const events: unknown[] = Array.isArray(payload) ? payload : [payload];
        const nonObject = events.some((e) => e === null || typeof e !== "object" || Array.isArray(e));
        if (nonObject) expect(r.status, JSON.stringify(payload).slice(0, 300)).toBe(500);
        else expect(r.status, JSON.stringify(payload).slice(0, 300)).toBeLessThan(500);
      }),
      { numRuns: 600 },
    );
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect(h.mem.events.messages.filter((m) => m.subject !== "CertificateExpiring")).toEqual([]);
  }, 120_000);
});

// Generators for what an independent fuzzer found (issue 21). Each sends requests that would change
// state if accepted (a valid rotation, emergency, compromise signal or policy write from a principal
// holding the role), so "nothing changed" proves the refusal, not a no-op.
describe("fuzzing hostile input (issue 21)", () => {
  const WEBHOOK = "/runtime/webhooks/eventgrid?functionName=keyVaultEvents";
  const policyBody = { tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P300D" };
  /** State-changing requests that succeed when sent properly: [method, path, role, body]. */
  const changing: readonly [string, string, string, Record<string, unknown>][] = [
    ["POST", "/api/rotations", ROLES.operator, { keyId: "kek:demo-vault/tenant-kek", reason: "fuzzing a valid request", mode: "manual" }],
    ["POST", "/api/rotations", ROLES.operator, { keyId: "kek:demo-vault/tenant-kek", reason: "fuzzing a valid emergency", mode: "emergency" }],
    ["POST", "/api/events/compromise", ROLES.operator, { keyId: "kek:demo-vault/tenant-kek", evidence: "TICKET-1234", reason: "fuzzing a compromise" }],
    ["PUT", "/api/policies/fuzzed", ROLES.admin, policyBody],
  ];
  const request = fc.constantFrom(...changing);
  const unchanged = async () => {
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
  };

  it("hostile principal names (keyrotor's own actors, controls, bidi overrides) and lenient base64 answer 401 and change nothing", async () => {
    const hostileName = fc.oneof(
      fc.constantFrom("system:timer", "system:eventgrid", "system:events", "System:Timer", "ｓｙｓｔｅｍ:timer", "system:"),
      fc.tuple(fc.string({ maxLength: 12 }), fc.constantFrom("\u0000", "\n", "\r", "\u0007", "\u001b[2J", "\u007f", "\u0085", "\u009b", "\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u2028", "\ud800"), fc.string({ maxLength: 12 })).map(([a, c, b]) => `${a}${c}${b}`),
    );
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64");
    const header = fc.oneof(
      fc.tuple(hostileName, fc.constantFrom(...Object.values(ROLES))).map(([n, r]) => encodePrincipal(n, [r, ...ALL_ROLES])),
      fc.tuple(hostileName).map(([n]) => b64({ auth_typ: "aad", claims: [{ typ: "oid", val: n }, { typ: "name", val: "mallory" }, ...ALL_ROLES.map((r) => ({ typ: "roles", val: r }))] })),
      // (Whitespace around a header value is not part of it, RFC 9110 section 5.5, so none is appended.)
      fc.constantFrom("!!junk", "AAAA", "=", "==", "Zm9v", "%3D%3D", "-_", ".").map((g) => `${encodePrincipal("mallory", ALL_ROLES)}${g}`),
    );
    await fc.assert(
      fc.asyncProperty(request, header, async ([method, path, , body], who) => {
        const r = await h.call(method, path, { as: who, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
        expect(r.status, `${method} ${path} as ${JSON.stringify(Buffer.from(who, "base64").toString("utf8").slice(0, 120))} → ${r.body}`).toBe(401);
        expect(r.json().error.code).toBe("Unauthenticated");
      }),
      { numRuns: 200 },
    );
    await unchanged();
  }, 120_000);

  it("state-changing requests sent as text/plain, forms, multipart or with no Content-Type answer 415 and change nothing", async () => {
    const contentType = fc.oneof(
      fc.constantFrom(undefined, "", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=----fuzz", "text/json", "application/jsonp", "application/json-seq", "application/json, text/plain", "application/json; charset=latin1", "*/*"),
      fc.string({ maxLength: 30 }).filter((t) => !/^\s*application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i.test(t)),
    );
    const encoding = fc.constantFrom("json", "form", "empty");
    await fc.assert(
      fc.asyncProperty(request, contentType, encoding, async ([method, path, role, body], type, enc) => {
        const text = enc === "json" ? JSON.stringify(body) : enc === "form" ? new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, typeof v === "string" ? v : JSON.stringify(v)])).toString() : undefined;
        // The host itself, not h.call: that one adds application/json when a test names no type.
        const headers = { "x-ms-client-principal": encodePrincipal("fuzzer", [role]), ...(type !== undefined ? { "content-type": type } : {}) };
        const r = await h.host.invokeHttp(method, path, { headers, ...(text !== undefined ? { body: text } : {}) });
        expect(r.status, `${method} ${path} as ${JSON.stringify(type)} (${enc}) → ${r.body}`).toBe(415);
        expect((r.json() as { error: { code: string } }).error.code).toBe("UnsupportedMediaType");
      }),
      { numRuns: 200 },
    );
    await unchanged();
  }, 120_000);

  it("bodies and Event Grid deliveries nested 33 to 6,000 deep: never a 5xx but the extension's own past 64 levels, nothing started or changed", async () => {
    const nest = (depth: number, open: string) => `${open.repeat(depth)}1${(open === "[" ? "]" : "}").repeat(depth)}`;
    const deep = fc.tuple(fc.integer({ min: 33, max: 6000 }), fc.constantFrom("[", '{"a":')).map(([d, o]) => nest(d, o));
    await fc.assert(
      fc.asyncProperty(request, deep, fc.boolean(), async ([method, path, role, body], value, replaceField) => {
        const fields = Object.keys(body);
        const text = replaceField ? JSON.stringify(body).replace(`"${fields[0]!}":`, `"${fields[0]!}":${value},"_":`) : `{"wrapper":${value}}`;
        const r = await h.call(method, path, { as: ["fuzzer", role], body: text, headers: { "content-type": "application/json" } });
        expect(r.status, `${method} ${path} → ${r.body.slice(0, 200)}`).toBe(400);
      }),
      { numRuns: 60 },
    );
    const event = (nbf: string) => `{"id":"deep","eventType":"Microsoft.KeyVault.KeyNearExpiry","subject":"tenant-kek","eventTime":"2026-03-01T00:00:00Z","dataVersion":"1","data":{"Id":"https://demo-vault.vault.azure.net/keys/tenant-kek/${kekV1}","VaultName":"demo-vault","ObjectType":"Key","ObjectName":"tenant-kek","Version":"${kekV1}","NBF":${nbf}}}`;
    await fc.assert(
      fc.asyncProperty(deep, fc.constantFrom("batch", "event", "bare"), async (value, shape) => {
        const body = shape === "batch" ? `[${event(value)}]` : shape === "event" ? event(value) : value;
        const r = await h.host.invokeHttp("POST", WEBHOOK, { headers: { "x-functions-key": h.host.eventGridWebhookKey, "aeg-event-type": "Notification", "content-type": "application/json" }, body });
        // Past Json.NET's 64 levels, or a bare array (no object event), the Event Grid extension
        // throws before the app runs: its 500 (test/support/eventGridWebhookContract.ts).
        const depth = (body.match(/[[{]/g) ?? []).length;
        if (depth > 64 || (shape === "bare" && value.startsWith("["))) expect(r.status, `${shape} → ${r.body.slice(0, 200)}`).toBe(500);
        else expect(r.status, `${shape} → ${r.body.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 60 },
    );
    await unchanged();
    expect(h.mem.events.messages.filter((m) => m.subject !== "CertificateExpiring")).toEqual([]);
  }, 120_000);

  it("non-ETag If-Match on PUT /api/policies/{id} answers 400 (malformed) or 412 (well-formed, not current), never a 5xx, and changes nothing", async () => {
    const ifMatch = fc.oneof(
      fc.constantFrom('"abc"', "x", "*, *", "*,*", "* *", 'W/"a", W/"b"', '""', "W/", 'W/"', "W/x", '"unterminated', "\"", "**", 'W/"datetime\'2026-01-01T00%3A00%3A00Z\'"', "null", "0"),
      fc.string({ maxLength: 40 }),
      fc.string({ maxLength: 40 }).map((v) => `"${v}"`),
      fc.string({ maxLength: 40 }).map((v) => `W/"${v}"`),
    ).filter((v) => v.trim() !== "*" && v.trim() !== "");
    await fc.assert(
      fc.asyncProperty(ifMatch, async (etag) => {
        const r = await h.call("PUT", "/api/policies/quarterly", { as: ["fuzzer", ROLES.admin], body: JSON.stringify({ ...policyBody, kinds: ["kek"], expiresAfter: "P100D" }), headers: { "content-type": "application/json", "if-match": etag } });
        // RFC 9110 section 8.8.3: one entity-tag is `"…"` or `W/"…"` (no spaces, quotes or controls
        // inside); anything else is malformed (400), a well-formed tag that is not current is 412.
        const wellFormed = /^(W\/)?"[\x21\x23-\x7e]*"$/.test(etag.trim());
        expect(r.status, `If-Match ${JSON.stringify(etag)} → ${r.status} ${r.body}`).toBe(wellFormed ? 412 : 400);
        expect(r.json().error.code).toBe(wellFormed ? "PreconditionFailed" : "IfMatchInvalid");
      }),
      { numRuns: 200 },
    );
    await unchanged();
  }, 120_000);

  it("Key Vault events whose type, ObjectType and object id disagree start nothing and are each recorded as EventContradictory", async () => {
    const family = fc.constantFrom(["Key", "keys"], ["Secret", "secrets"], ["Certificate", "certificates"]);
    const contradictory = fc
      .record({
        type: fc.constantFrom("KeyNearExpiry", "KeyExpired", "KeyNewVersionCreated", "SecretNearExpiry", "SecretExpired", "CertificateNearExpiry", "CertificateExpired"),
        objectType: family, idFamily: family, name: fc.constantFrom("tenant-kek", "token-signer"), idName: fc.constantFrom("same", "other"), idVersion: fc.constantFrom("same", "other"),
        idVault: fc.constantFrom("demo-vault", "DEMO-VAULT", "evil-vault"), cloud: fc.boolean(),
      })
      .filter((e) => !e.type.startsWith(e.objectType[0]) || e.objectType[0] !== e.idFamily[0] || e.idName === "other" || e.idVersion === "other" || e.idVault === "evil-vault");
    const rejectedBefore = (await chain(h.mem, EVENTGRID_CHAIN)).length;
    const messagesBefore = h.mem.events.messages.length;
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(contradictory, fc.uuid(), async (e, id) => {
        const version = e.name === "tenant-kek" ? kekV1 : signerV1;
        const data = {
          Id: `https://${e.idVault}.vault.azure.net/${e.idFamily[1]}/${e.idName === "same" ? e.name : "other-object"}/${e.idVersion === "same" ? version : "0123456789abcdef0123456789abcdef"}`,
          VaultName: "demo-vault", ObjectType: e.objectType[0], ObjectName: e.name, Version: version, NBF: null, EXP: null,
        };
        const ev = e.cloud
          ? { specversion: "1.0", id, type: `Microsoft.KeyVault.${e.type}`, source: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/demo-vault", subject: e.name, time: "2026-03-01T00:00:00Z", data }
          : { id, eventType: `Microsoft.KeyVault.${e.type}`, subject: e.name, eventTime: "2026-03-01T00:00:00Z", dataVersion: "1", metadataVersion: "1", data };
        seen.add(id);
        const r = await h.host.invokeHttp("POST", WEBHOOK, { headers: { "x-functions-key": h.host.eventGridWebhookKey, "aeg-event-type": "Notification", "content-type": "application/json" }, body: JSON.stringify([ev]) });
        expect(r.status, JSON.stringify(ev)).toBeLessThan(300);
      }),
      { numRuns: 150 },
    );
    await unchanged();
    expect(h.mem.events.messages.length).toBe(messagesBefore);
    const rejected = (await chain(h.mem, EVENTGRID_CHAIN)).slice(rejectedBefore);
    expect(rejected.length).toBe(seen.size);
    expect(new Set(rejected.map((e) => e.error?.code))).toEqual(new Set(["EventContradictory"]));
  }, 120_000);
});
