// A rotation's lease renewals are part of its record whether it completes or fails: a failed
// rotation that renewed its lease (a slow step) says so in its Failed ledger entry.
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { freshDeps, seedKey } from "./fixtures";

describe("the Failed ledger entry of a rotation", () => {
  it("carries leaseRenewals like the Completed one", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "signing", "signer");
    const driver = new Driver(deps);
    // Each step takes 6 minutes of a 15-minute lease; the JWKS publication then fails for good.
    driver.beforeActivity = (name) => {
      driver.now = new Date(driver.now.getTime() + 6 * 60_000);
      if (name === DURABLE.activities.publishJwks) throw new Error("[invariantViolation] InjectedFailure: the JWKS store refused the document");
    };
    const out = (await driver.run(DURABLE.orchestrators.rotation, {
      rotationId: `${keyId}@manual:slow-fail`, keyId, trigger: "manual", actor: "alice", reason: "test", leaseDuration: "PT15M",
    }, "s")) as RotationOutput;
    expect(out, JSON.stringify(out)).toMatchObject({ outcome: "failed" });
    const entries = [];
    for await (const e of deps.ledger.entries(keyId)) entries.push(e);
    const failed = entries.find((e) => e.type === "Failed");
    expect(failed?.counts?.leaseRenewals).toBeGreaterThanOrEqual(1);
    expect(out.counts?.leaseRenewals).toBe(failed?.counts?.leaseRenewals);
  });
});
