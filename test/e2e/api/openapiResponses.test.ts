// What the running app answers is what its OpenAPI document says: each response body of a short
// session (a policy, a registration-free key, a manual rotation, the reads an operator and an
// auditor make) validates against the schema the document gives for that operation and status.
import { afterEach, describe, expect, it } from "vitest";
import type { RouteName } from "../../../lib/api/routes";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { responseMismatch } from "../../unit/http/openapiResponseSchemas";
import { ADMIN, AUDITOR, OPERATOR, seedKey, startApiHost, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function expectDocumented(name: RouteName, status: number, body: string, byId = false): void {
  expect(responseMismatch(name, status, JSON.parse(body), byId), body.slice(0, 2000)).toBeUndefined();
}

const policy = { tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P200D" };

describe("the API's answers match its OpenAPI document", () => {
  it("for policies, keys, the plan, a manual rotation, its status, the history, the ledger and health", async () => {
    h = await startApiHost();
    const put = await h.call("PUT", "/api/policies/kek-quarterly", { as: ADMIN, body: policy });
    expect(put.status, put.body).toBe(201);
    expectDocumented("putPolicy", 201, put.body);
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek", { policyId: "kek-quarterly" }, "2026-05-01T00:00:00.000Z");

    const keys = await h.call("GET", "/api/keys", { as: AUDITOR });
    expect(keys.status).toBe(200);
    expectDocumented("getKeys", 200, keys.body);

    const plan = await h.call("GET", "/api/plan?horizon=P1Y", { as: AUDITOR });
    expect(plan.status, plan.body).toBe(200);
    expectDocumented("getPlan", 200, plan.body);

    const started = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode: "manual" } });
    expect(started.status, started.body).toBe(202);
    expectDocumented("postRotation", 202, started.body);
    await h.host.client.waitForCompletion(instanceIdFor(started.json().rotationId));

    const view = await h.call("GET", started.json().statusUrl as string, { as: AUDITOR });
    expect(view.status).toBe(200);
    expectDocumented("getRotation", 200, view.body, true);

    for (const [name, url, byId] of [
      ["listRotations", "/api/rotations", false], ["getPolicies", "/api/policies", false], ["getPolicies", "/api/policies/kek-quarterly", true],
      ["getLedger", `/api/ledger/${keyId}`, true], ["verifyLedger", "/api/ledger/verify", false],
    ] as const) {
      const r = await h.call("GET", url, { as: AUDITOR });
      expect(r.status, `${url} ${r.body}`).toBe(200);
      expectDocumented(name, 200, r.body, byId);
    }
    const health = await h.call("GET", "/api/health", { as: "none" });
    expectDocumented("getHealth", health.status, health.body);
    const bad = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "x", mode: "sometimes" } });
    expect(bad.status).toBe(400);
    expectDocumented("postRotation", 400, bad.body);
  });
});
