// `keyrotor plan` shows a KEK's scheduled branch-key rotation (policy branchKeys.every) on a row of
// its own under the KEK's: when it comes, why it waits and how many branch keys it rotates (the
// answer is the API's real getPlan over the memory adapters, the branch keys' ages through the
// API's branchKeys port, served over HTTP to the CLI).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryApiServices } from "../../../lib/api/services";
import { planOutput, servePlan } from "./cliHarness";

const NOW = new Date("2026-11-22T12:00:00Z");
let served: Awaited<ReturnType<typeof servePlan>>;

beforeAll(async () => {
  const mem = memoryApiServices({ clock: { now: () => NOW } });
  await mem.policies.put({
    policyId: "kek-branches", tenant: "contoso", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P180D", branchKeys: { every: "P90D" },
    freezes: [{ from: "2026-11-20", to: "2026-11-30", reason: "year-end" }],
  }, undefined);
  await mem.rotation.inventory.put({
    keyId: "kek:vault1/k", kind: "kek", tenant: "contoso", policyId: "kek-branches", primaryVersion: "v1", versions: [{ version: "v1", state: "primary", createdAt: "2026-11-01T02:00:00Z" }],
  }, undefined);
  const services = {
    ...mem.services,
    branchKeys: { primaries: () => Promise.resolve([{ branchId: "s2-00000", version: 1, createdAt: "2026-08-01T00:00:00Z" }, { branchId: "s2-00001", version: 1, createdAt: "2026-11-01T00:00:00Z" }]) },
  };
  served = await servePlan(services);
});
afterAll(() => served.close());

const plan = (horizon: string): Promise<string> => planOutput(served.url, horizon);

describe("keyrotor plan with a branch-key schedule", () => {
  it("shows the KEK's branch-key rotation on its own row: held by the freeze until its end, one branch key due", async () => {
    const out = await plan("P30D");
    const row = out.split("\n").find((l) => l.includes("kek:vault1/k branch keys (1)"));
    expect(row, out).toBeDefined();
    expect(row).toMatch(/2026-12-01.*frozen/);
  });
});
