// `keyrotor plan` shows a KEK's scheduled branch-key rotation (policy branchKeys.every) on a row of
// its own under the KEK's: when it comes, why it waits and how many branch keys it rotates (the
// answer is the API's real getPlan over the memory adapters, the branch keys' ages through the
// API's branchKeys port, served over HTTP to the CLI).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { getPlan } from "../../../lib/api/queries";
import { memoryApiServices } from "../../../lib/api/services";
import { main } from "../../../lib/cli/main";

const NOW = new Date("2026-11-22T12:00:00Z");
let server: Server;
let url = "";

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
  server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    void getPlan(services, u.searchParams.get("horizon") ?? "P90D").then((plan) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(plan));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function plan(horizon: string): Promise<string> {
  let stdout = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  try {
    expect(await main(["--url", url, "--as", "audrey:Auditor", "plan", "--horizon", horizon])).toBe(0);
  } finally {
    vi.restoreAllMocks();
  }
  return stdout;
}

describe("keyrotor plan with a branch-key schedule", () => {
  it("shows the KEK's branch-key rotation on its own row: held by the freeze until its end, one branch key due", async () => {
    const out = await plan("P30D");
    const row = out.split("\n").find((l) => l.includes("kek:vault1/k branch keys (1)"));
    expect(row, out).toBeDefined();
    expect(row).toMatch(/2026-12-01.*frozen/);
  });
});
