// The reason rule is one rule: every request that records a "why" in the ledger (a manual or an
// emergency rotation, a compromise signal, a rollback, a lock break) refuses a reason under the
// same minimum (400, field "reason", nothing started) and accepts one at it; README and --help say so.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../../lib/cli/main";
import { MIN_REASON_LENGTH } from "../../../lib/domain/approval";
import { ADMIN, OPERATOR, chain, seedKey, startApiHost, VAULT, type ApiHost } from "../api/support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const SHORT = "x".repeat(MIN_REASON_LENGTH - 1);
const ENOUGH = "y".repeat(MIN_REASON_LENGTH);

describe("one reason rule for every mode", () => {
  it("the minimum is 10 characters (what README and --help state)", () => {
    expect(MIN_REASON_LENGTH).toBe(10);
  });

  it.each([
    ["a manual rotation", "/api/rotations", (keyId: string, reason: string) => ({ keyId, reason, mode: "manual" })],
    ["an emergency rotation", "/api/rotations", (keyId: string, reason: string) => ({ keyId, reason, mode: "emergency" })],
    ["a compromise signal", "/api/events/compromise", (keyId: string, reason: string) => ({ keyId, reason, evidence: "SIEM alert 4711" })],
  ])("%s refuses a reason one character short (also when padded with spaces) and accepts one at the minimum", async (_what, route, body) => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    for (const reason of [SHORT, `   ${SHORT}   `]) {
      const r = await h.call("POST", route, { as: OPERATOR, body: body(keyId, reason) });
      expect(r.status, r.body).toBe(400);
      expect(r.json().error).toMatchObject({ field: "reason" });
    }
    expect(await chain(h.mem, keyId)).toEqual([]);
    expect(await h.mem.rotation.vault.listKeyVersions(VAULT, "tenant-kek")).toHaveLength(1);
    const ok = await h.call("POST", route, { as: OPERATOR, body: body(keyId, ENOUGH) });
    expect(ok.status, ok.body).toBe(202);
  });

  it("a rollback and a lock break apply the same minimum", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const rollback = `/api/rotations/rollback/${encodeURIComponent(`${keyId}@manual:nothing`)}`;
    const lockBreak = `/api/locks/break/${encodeURIComponent(keyId)}`;
    expect((await h.call("POST", rollback, { as: OPERATOR, body: { reason: SHORT } })).json().error.field).toBe("reason");
    expect((await h.call("POST", rollback, { as: OPERATOR, body: { reason: ENOUGH } })).json().error.field).not.toBe("reason");
    expect((await h.call("POST", lockBreak, { as: ADMIN, body: { reason: SHORT } })).json().error.field).toBe("reason");
    expect((await h.call("POST", lockBreak, { as: ADMIN, body: { reason: ENOUGH } })).json().error.field).not.toBe("reason");
  });

  it("README and each --reason's --help state the rule", async () => {
    const readme = readFileSync(path.resolve(__dirname, "../../../README.md"), "utf8");
    expect(readme).toMatch(/Every `--reason`[^]*?one rule: at least 10 characters/);
    for (const verb of [["rotate"], ["rollback"], ["lock", "break"]]) {
      let help = "";
      vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((help += String(s)), true));
      const code = await main([...verb, "--help"]);
      vi.restoreAllMocks();
      expect(code).toBe(0);
      expect(help.replace(/\s+/g, " ")).toMatch(/--reason <text> why, at least 10 characters/);
    }
  });
});
