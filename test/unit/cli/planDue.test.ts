// `keyrotor plan` shows the date of every rotation due within the horizon: `plan --horizon P1Y` lists
// the year's four quarterly rotations of a key and its yearly one (the answer is the API's real
// getPlan over the memory adapters, served over HTTP to the CLI).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryApiServices } from "../../../lib/api/services";
import { planOutput, servePlan } from "./cliHarness";
import type { ManagedKey } from "../../../lib/domain/keys";

const NOW = new Date("2026-11-22T12:00:00Z");
let served: Awaited<ReturnType<typeof servePlan>>;

beforeAll(async () => {
  const mem = memoryApiServices({ clock: { now: () => NOW } });
  const base = { tenant: "contoso", kinds: ["kek"], rotateBefore: "P30D", expiresAfter: "P180D" };
  await mem.policies.put({ ...base, policyId: "quarterly", schedule: { preset: "quarterly" } }, undefined);
  await mem.policies.put({ ...base, policyId: "yearly", schedule: { every: "P1Y" }, expiresAfter: "P400D" }, undefined);
  const key = (name: string, policyId: string): ManagedKey => ({
    keyId: `kek:vault1/${name}`, kind: "kek", tenant: "contoso", policyId, primaryVersion: "v1", versions: [{ version: "v1", state: "primary", createdAt: "2026-11-01T00:00:00Z" }],
  });
  await mem.rotation.inventory.put(key("q", "quarterly"), undefined);
  await mem.rotation.inventory.put(key("a", "yearly"), undefined);
  served = await servePlan(mem.services);
});
afterAll(() => served.close());

const plan = (horizon: string): Promise<string> => planOutput(served.url, horizon);

/** The table's "due" cells of a key's row (its row and the continuation lines under it). */
function dueDates(table: string, keyId: string): string[] {
  const lines = table.split("\n");
  const header = lines.find((l) => l.includes("due"))!;
  const start = header.split("│").findIndex((c) => c.trim() === "due");
  const out: string[] = [];
  let inRow = false;
  for (const line of lines) {
    const cells = line.split("│");
    if (cells.length <= start) continue;
    const key = cells[1]?.trim() ?? "";
    if (key) inRow = key === keyId;
    const due = cells[start]?.trim();
    if (inRow && due) out.push(due.slice(0, 10)); // the day (the quarterly preset runs at 02:00 UTC)
  }
  return out;
}

describe("keyrotor plan", () => {
  it("with --horizon P1Y shows the date of each of the year's rotations", async () => {
    const out = await plan("P1Y");
    expect(dueDates(out, "kek:vault1/q")).toEqual(["2027-01-01", "2027-04-01", "2027-07-01", "2027-10-01"]);
    expect(dueDates(out, "kek:vault1/a")).toEqual(["2027-11-01"]);
  });

  it("with a shorter horizon shows only the rotations within it", async () => {
    const out = await plan("P60D");
    expect(dueDates(out, "kek:vault1/q")).toEqual(["2027-01-01"]);
    expect(out).not.toContain("kek:vault1/a");
  });
});
