// The host routes a request path as Azure does: decoded once, "%2F" included, before any route is
// matched, so an id holding a "/" reaches a handler only through a catch-all (lib/api/routes.ts),
// and an escape that does not decode to UTF-8 text is refused with 400 before any function runs
// (dev/host/triggers.ts). Generated broken escapes over every route: 400 with an error body, never
// a 5xx, nothing changed.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiPath, ROUTE_LIST, ROUTES } from "../../../lib/api/routes";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { ADMIN, APPROVER, AUDITOR, OPERATOR, seedKey, snapshot, startApiHost, type ApiHost } from "./support";

let h: ApiHost;
let keyId = "";
let signing = "";
beforeAll(async () => {
  h = await startApiHost();
  keyId = (await seedKey(h.mem, "kek", "tenant-kek")).keyId;
  signing = (await seedKey(h.mem, "signing", "token-signer")).keyId;
  await h.mem.policies.put({ policyId: "quarterly", tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P200D" }, undefined);
});
afterAll(async () => h.stop());

const EVERY_ROLE = ["root", ...ADMIN.slice(1), ...OPERATOR.slice(1), ...APPROVER.slice(1), ...AUDITOR.slice(1)] as [string, ...string[]];

describe("a path decoded before routing, as Azure decodes it", () => {
  it("treats an encoded '/' as a segment separator: /api/jwks/demo-vault%2Ftoken-signer answers as /api/jwks/demo-vault/token-signer", async () => {
    expect(signing).toBe("signing:demo-vault/token-signer");
    const plain = await h.call("GET", "/api/jwks/demo-vault/token-signer");
    const encoded = await h.call("GET", "/api/jwks/demo-vault%2Ftoken-signer");
    expect(plain.status, plain.body).toBe(200);
    expect(encoded.status, encoded.body).toBe(200);
    expect(encoded.body).toBe(plain.body);
  });

  it("decodes the /api prefix too: /api%2Fhealth is /api/health, and a broken escape in an admin path is a 404, never a 500", async () => {
    const r = await h.call("GET", "/api%2Fhealth");
    expect(r.status, r.body).toBe((await h.call("GET", "/api/health")).status);
    expect(r.status).toBeLessThan(500);
    expect(r.json()).toHaveProperty("status");
    expect((await h.host.invokeHttp("POST", "/admin/functions/%ZZ", { body: {} })).status).toBe(404);
  });

  it("answers 404 to the old one-segment id routes, as Azure does, and changes nothing; the catch-all route approves", async () => {
    const emergency = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "percent-encoding approval test", mode: "emergency" } });
    expect(emergency.status, emergency.body).toBe(202);
    const pending = emergency.json().rotationId;
    const before = await snapshot(h.mem);
    expect((await h.call("POST", `/api/rotations/${encodeURIComponent(pending)}/approve`, { as: APPROVER, body: {} })).status).toBe(404);
    const id = encodeURIComponent(`${keyId}@manual:none`);
    expect((await h.call("POST", `/api/rotations/${id}/rollback`, { as: EVERY_ROLE, body: { reason: "a reason long enough" } })).status).toBe(404);
    expect((await h.call("POST", `/api/locks/${encodeURIComponent(keyId)}/break`, { as: EVERY_ROLE, body: { reason: "a reason long enough" } })).status).toBe(404);
    expect(await snapshot(h.mem)).toBe(before);
    const approved = await h.call("POST", `/api/rotations/approve/${encodeURIComponent(pending)}`, { as: APPROVER, body: {} });
    expect(approved.status, approved.body).toBe(202);
    expect(approved.headers.location).toBe(`/api/rotations/${pending}`);
    await h.host.client.waitForCompletion(instanceIdFor(pending));
  });

  it("gives a catch-all the rest of the decoded path: a rotation reads the same by its plain and its %2F-encoded id", async () => {
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "percent-encoding test", mode: "manual" } });
    expect(r.status, r.body).toBe(202);
    const rotationId = r.json().rotationId;
    expect(r.json().statusUrl).toBe(`/api/rotations/${rotationId}`);
    expect(r.headers.location).toBe(`/api/rotations/${rotationId}`);
    await h.host.client.waitForCompletion(instanceIdFor(rotationId));
    const plain = await h.call("GET", apiPath(ROUTES.getRotation, { rotationId }), { as: AUDITOR });
    const encoded = await h.call("GET", `/api/rotations/${encodeURIComponent(rotationId)}`, { as: AUDITOR });
    expect(plain.status, plain.body).toBe(200);
    expect(plain.json()).toMatchObject({ rotationId, keyId });
    expect(encoded.json()).toEqual(plain.json());
    const ledger = await h.call("GET", `/api/ledger/${encodeURIComponent(keyId)}`, { as: AUDITOR });
    expect(ledger.status, ledger.body).toBe(200);
    expect(ledger.body).toBe((await h.call("GET", `/api/ledger/${keyId}`, { as: AUDITOR })).body);
  });

  it("decodes the path once; a %2F left in an id (double-escaped here, or as Kestrel under func start leaves it) still names the id", async () => {
    const plain = await h.call("GET", `/api/ledger/${keyId}`, { as: AUDITOR });
    const doubled = await h.call("GET", "/api/ledger/kek:demo-vault%252Ftenant-kek", { as: AUDITOR });
    expect(doubled.status, doubled.body).toBe(200);
    expect(doubled.body).toBe(plain.body);
    // decoded once only: %2541 is the text %41, which is no keyId (a second decoding would make it "A")
    const once = await h.call("GET", "/api/ledger/kek:demo-vault%252Ftenant-kek%2541", { as: AUDITOR });
    expect(once.status).toBe(400);
    expect(once.json().error.field).toBe("keyId");
  });
});

// ---- broken percent-encoding ------------------------------------------------------------------

const hex2 = (n: number) => `%${n.toString(16).toUpperCase().padStart(2, "0")}`;
const byte = (lo: number, hi: number) => fc.integer({ min: lo, max: hi }).map(hex2);
const HEX = "0123456789abcdefABCDEF";
const notHex = fc.constantFrom(..."GHIJKLMNOPQRSTUVWXYZghz-_.~!:@");

/** Percent-escapes that do not decode to UTF-8 text, by the way they break. */
const brokenEscape = fc.oneof(
  // invalid hex digits, or an escape cut short at the end of the text
  fc.tuple(notHex, fc.constantFrom(...HEX, ..."Zz")).map(([a, b]) => `%${a}${b}`),
  fc.tuple(fc.constantFrom(...HEX), notHex).map(([a, b]) => `%${a}${b}`),
  fc.constantFrom("%", "%4", "%%", "%%41"),
  // a lone continuation byte, or a byte that never occurs in UTF-8
  byte(0x80, 0xbf),
  fc.constantFrom("%C0", "%C1", "%F5", "%F8", "%FE", "%FF"),
  // a lead byte without all its continuation bytes
  fc.tuple(byte(0xc2, 0xdf)).map(([a]) => a),
  fc.tuple(byte(0xe1, 0xec), byte(0x80, 0xbf)).map(([a, b]) => a + b),
  fc.tuple(byte(0xf1, 0xf3), byte(0x80, 0xbf), byte(0x80, 0xbf)).map(([a, b, c]) => a + b + c),
  // overlong forms (an ASCII "/" or "." hidden in two, three or four bytes)
  fc.constantFrom("%C0%AF", "%C0%AE", "%C1%BF", "%E0%80%AF", "%E0%9F%BF", "%F0%80%80%AF", "%F0%8F%BF%BF"),
  // UTF-16 surrogates encoded as UTF-8 (a lone high or low surrogate, or a pair)
  fc.tuple(byte(0xa0, 0xbf), byte(0x80, 0xbf)).map(([b, c]) => `%ED${b}${c}`),
  fc.constant("%ED%A0%BD%ED%B8%80"),
  // beyond U+10FFFF
  fc.tuple(byte(0x90, 0xbf), byte(0x80, 0xbf), byte(0x80, 0xbf)).map(([b, c, d]) => `%F4${b}${c}${d}`),
);

const SAMPLE_PARAMS = { vault: "demo-vault", key: "token-signer", policyId: "quarterly", keyId: "kek:demo-vault/tenant-kek", rotationId: "kek:demo-vault/tenant-kek@manual:none" };

/** A route's path with a broken escape spliced into one of its segments (before, inside or after). */
const brokenPath = fc
  .tuple(fc.constantFrom(...ROUTE_LIST), brokenEscape, fc.nat(), fc.nat(), fc.boolean())
  .map(([spec, bad, segPick, cut, asWholeSegment]) => {
    const segments = apiPath(spec, SAMPLE_PARAMS).split("/").slice(1);
    // segment 0 is "api": keep it, so the request is one for the functions and not the host's 404
    const i = 1 + (segPick % Math.max(1, segments.length - 1));
    const seg = segments[i] ?? "";
    const at = seg.length === 0 ? 0 : cut % (seg.length + 1);
    // an escape cut short goes at the end of a segment (a hex digit after it would complete it)
    const safeAt = /%[0-9A-Fa-f]?$/.test(bad) ? seg.length : at;
    const broken = asWholeSegment ? bad : `${seg.slice(0, safeAt)}${bad}${seg.slice(safeAt)}`;
    const out = [...segments];
    if (i < out.length) out[i] = broken;
    else out.push(broken);
    return { spec, path: `/${out.join("/")}` };
  });

describe("broken percent-encoding", () => {
  it("the fuzzer's three paths answer 400 with an error body before authentication", async () => {
    for (const [method, path] of [["GET", "/api/health/%C0"], ["GET", "/api/rotations/%E0%80%AF"], ["POST", "/api/locks/%ZZ/break"], ["POST", "/api/locks/break/%ZZ"]] as const) {
      const r = await h.call(method, path, { as: "none", ...(method === "POST" ? { body: { reason: "a reason long enough" } } : {}) });
      expect(r.status, `${method} ${path} → ${r.body}`).toBe(400);
      expect(r.headers["content-type"]).toMatch(/^application\/json/);
      expect(r.json().error).toMatchObject({ code: "MalformedUrl", message: expect.stringMatching(/percent-escape/) as unknown });
    }
  });

  it("over a real socket too: 400 with a JSON body, not a dropped connection or an empty 500", async () => {
    const res = await fetch(`${h.host.url}/api/rotations/kek:demo-vault%2Ftenant-kek@manual:%E0%80%AF`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("MalformedUrl");
  });

  it("2,000 generated broken escapes over every route, every role: 400 with an error body, never a 5xx, nothing changed", async () => {
    await h.host.idle();
    const before = await snapshot(h.mem);
    await fc.assert(
      fc.asyncProperty(brokenPath, fc.constantFrom<[string, ...string[]] | "none">(EVERY_ROLE, "none"), async ({ spec, path }, who) => {
        expect(() => decodeURIComponent(path), `the generator made a decodable path: ${path}`).toThrow(URIError);
        const r = await h.call(spec.method, path, {
          as: who,
          ...(spec.method !== "GET" ? { body: { keyId: SAMPLE_PARAMS.keyId, reason: "a reason long enough", mode: "manual", policyId: "quarterly", tenant: "platform" } } : {}),
          headers: { "content-type": "application/json" },
        });
        expect(r.status, `${spec.method} ${path} → ${r.body}`).toBe(400);
        expect(r.json().error.code).toBe("MalformedUrl");
      }),
      { numRuns: 2000 },
    );
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
  }, 120_000);
});
