// Every route × {no principal, wrong role, right role}, through the real functions on the host.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiPath, ROUTE_LIST, type RouteSpec } from "../../../lib/api/routes";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { openApiDocument, openApiPaths } from "../../../lib/http/openapi";
import { seedKey, startApiHost, type ApiHost } from "./support";

let h: ApiHost;
beforeAll(async () => {
  h = await startApiHost();
  await seedKey(h.mem, "signing", "token-signer");
  await seedKey(h.mem, "kek", "tenant-kek");
});
afterAll(async () => h.stop());

const PARAMS: Record<string, string> = {
  vault: "demo-vault", key: "token-signer", rotationId: "kek:demo-vault/tenant-kek@manual:none", policyId: "quarterly", keyId: "kek:demo-vault/tenant-kek",
};
function pathOf(spec: RouteSpec): string {
  // The path a client builds: ids holding a "/" are every route's last, catch-all part.
  const filled = apiPath(spec, PARAMS);
  return spec.name === "getEvidence" ? `${filled}?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z` : filled;
}
/** A role that is not enough: Auditor for changes, no keyrotor role at all for reads. */
function wrongRoles(spec: RouteSpec): string[] {
  if (spec.role === ROLES.auditor) return ["Some.Other.Role"];
  return spec.role === ROLES.operator ? [ROLES.auditor, ROLES.approver, ROLES.admin] : spec.role === ROLES.approver ? [ROLES.operator, ROLES.admin] : [ROLES.operator, ROLES.approver];
}
const BODIES: Record<string, unknown> = {
  postRotation: { keyId: "kek:demo-vault/tenant-kek", reason: "authorization matrix", mode: "emergency" },
  postCompromise: { keyId: "kek:demo-vault/tenant-kek", reason: "authorization matrix", evidence: "ticket 1" },
  putPolicy: { tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P200D" },
  approveRotation: {},
  rollbackRotation: { reason: "authorization matrix" },
  breakLock: { reason: "authorization matrix" },
  putKey: { policyId: "quarterly", tenant: "platform" },
};

describe("authorization matrix", () => {
  for (const spec of ROUTE_LIST) {
    const body = BODIES[spec.name];
    if (spec.role === "none") {
      it(`${spec.method} /api/${spec.route} needs no principal`, async () => {
        const r = await h.call(spec.method, pathOf(spec), { as: "none" });
        expect([401, 403]).not.toContain(r.status);
        expect(r.status).toBeLessThan(500);
      });
      continue;
    }
    it(`${spec.method} /api/${spec.route}: no principal → 401, garbled → 401`, async () => {
      const none = await h.call(spec.method, pathOf(spec), { as: "none", body });
      expect(none.status).toBe(401);
      expect(none.json().error.code).toBe("Unauthenticated");
      const garbled = await h.call(spec.method, pathOf(spec), { as: "%%%not-base64-json", body });
      expect(garbled.status).toBe(401);
    });
    it(`${spec.method} /api/${spec.route}: wrong role → 403 (${wrongRoles(spec).join(", ")})`, async () => {
      for (const role of wrongRoles(spec)) {
        const r = await h.call(spec.method, pathOf(spec), { as: encodePrincipal("mallory", [role]), body });
        expect(r.status, role).toBe(403);
        expect(r.json().error.code).toBe("Forbidden");
      }
    });
    it(`${spec.method} /api/${spec.route}: ${spec.role} → neither 401 nor 403, never 5xx`, async () => {
      const r = await h.call(spec.method, pathOf(spec), { as: ["rita", spec.role], body });
      expect([401, 403], r.body).not.toContain(r.status);
      expect(r.status, r.body).toBeLessThan(500);
    });
  }
});

describe("OpenAPI document", () => {
  it("documents every registered HTTP function and nothing else", async () => {
    const registered = new Set<string>();
    for (const f of h.host.functions.filter((x) => x.trigger.toLowerCase() === "httptrigger")) {
      for (const p of openApiPaths(f.route ?? f.name)) for (const m of f.methods ?? []) registered.add(`${m.toUpperCase()} ${p}`);
    }
    const doc = openApiDocument() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    const documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    expect([...registered].sort()).toEqual([...documented].sort());
    expect(doc.openapi).toBe("3.1.0");
  });

  it("is served at GET /api/openapi.json and every operation has a 400 error body", async () => {
    const r = await h.call("GET", "/api/openapi.json");
    expect(r.status).toBe(200);
    const doc = r.json() as unknown as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    for (const ops of Object.values(doc.paths)) for (const op of Object.values(ops)) expect(op.responses["400"]).toBeDefined();
    expect(doc.paths["/api/rotations"]?.post).toBeDefined();
    expect(doc.paths["/api/events/compromise"]?.post).toBeDefined();
  });
});
