// The policy timer's retirement pre-check counts the overlap from each version's demotion.
import { describe, expect, it } from "vitest";
import type { ManagedKey } from "../../../lib/domain/keys";
import { validatePolicy } from "../../../lib/domain/policy";
import { eligibleForRetirement } from "../../../lib/api/retirement";

describe("eligibleForRetirement", () => {
  it("does not hand a version to retirement that was primary until an hour ago (rollback, then rotation)", () => {
    const policy = validatePolicy({ policyId: "q", tenant: "contoso", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P400D", overlap: "P30D" });
    // v1 (Jan) → v2 promoted 1 Mar → rolled back 2 Mar (v2 demoted) → v3 promoted 15 Apr (v1 demoted).
    const key: ManagedKey = {
      keyId: "kek:vault1/k", kind: "kek", tenant: "contoso", policyId: "q", primaryVersion: "v3",
      versions: [
        { version: "v1", state: "secondary", createdAt: "2026-01-01T00:00:00Z", demotedAt: "2026-04-15T00:00:00Z" },
        { version: "v2", state: "secondary", createdAt: "2026-03-01T00:00:00Z", demotedAt: "2026-03-02T00:00:00Z" },
        { version: "v3", state: "primary", createdAt: "2026-04-15T00:00:00Z" },
      ],
    };
    expect(eligibleForRetirement(key, policy, new Date("2026-04-15T01:00:00Z"))).toEqual(["v2"]);
    expect(eligibleForRetirement(key, policy, new Date("2026-05-15T00:00:00Z"))).toEqual(["v1", "v2"]);
  });
});
