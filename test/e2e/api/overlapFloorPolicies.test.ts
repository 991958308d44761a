// F10 over the HTTP edge: PUT /api/policies refuses a signing key's or a secret's overlap/retainFor
// under the floor with 400 PolicyInvalid naming the field, and stores nothing (one Admin cannot
// make the timer disable a version right after the next rotation).
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN, AUDITOR, snapshot, startApiHost, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const signing = { tenant: "platform", kinds: ["signing"], schedule: { preset: "quarterly" }, rotateBefore: "P14D", expiresAfter: "P365D" };

describe("PUT /api/policies overlap floor", () => {
  it.each([
    ["a signing key's overlap and retainFor of PT0S", { ...signing, overlap: "PT0S", retainFor: "PT0S", rollbackWindow: "PT0S" }, "overlap"],
    ["a signing key's retainFor of PT1H", { ...signing, retainFor: "PT1H" }, "retainFor"],
    ["a secret's overlap of PT1S", { ...signing, kinds: ["secret"], schedule: { preset: "monthly" }, expiresAfter: "P45D", rotateBefore: "P7D", overlap: "PT1S", rollbackWindow: "PT0S" }, "overlap"],
  ])("refuses %s with 400 PolicyInvalid naming the field and stores nothing", async (_, body, field) => {
    h = await startApiHost();
    const before = await snapshot(h.mem);
    const r = await h.call("PUT", "/api/policies/short-overlap", { as: ADMIN, body });
    expect(r.status, r.body).toBe(400);
    expect(r.json().error).toMatchObject({ code: "PolicyInvalid", field });
    expect(await snapshot(h.mem)).toBe(before);
    expect((await h.call("GET", "/api/policies/short-overlap", { as: AUDITOR })).status).toBe(404);
  });

  it("accepts a signing key's overlap and retainFor of one day", async () => {
    h = await startApiHost();
    const r = await h.call("PUT", "/api/policies/day-overlap", { as: ADMIN, body: { ...signing, overlap: "P1D", retainFor: "P1D" } });
    expect(r.status, r.body).toBe(201);
  });
});
