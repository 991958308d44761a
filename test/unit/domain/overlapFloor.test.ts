// F10: the dual-running time a policy gives an old version has a floor wherever the timer disables
// that version without a reference count (signing keys after retainFor, secrets and their provider
// credentials after overlap): otherwise one Admin could set PT0S and so invalidate a key on their
// own. KEK versions retire only after a zero-reference count, DEK versions never by the timer.
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { eligibleForRetirement } from "../../../lib/api/retirement";
import type { ManagedKey } from "../../../lib/domain/keys";
import { dualRunningMs, MIN_OVERLAP_MS, parsePolicyShape, validatePolicy } from "../../../lib/domain/policy";
import { DAY } from "../../../lib/domain/schedule";

const NOW = new Date("2026-11-22T12:00:00Z");
const signing = { policyId: "p1", tenant: "platform", kinds: ["signing"], schedule: { preset: "quarterly" }, rotateBefore: "P14D", expiresAfter: "P365D" };
const secret = { ...signing, kinds: ["secret"], schedule: { preset: "monthly" }, expiresAfter: "P45D", rotateBefore: "P7D" };
const pg = { kind: "postgresPassword", host: "orders.postgres.database.azure.com", database: "orders", logins: ["app_a", "app_b"], adminConnectionSetting: "KEYROTOR_PG_ADMIN_ORDERS" };

function fieldRefused(input: unknown): string | undefined {
  try {
    validatePolicy(input, { now: NOW });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).code).toBe("PolicyInvalid");
    return (err as InvalidRequestError).field;
  }
  return undefined;
}

describe("overlap and retainFor floors", () => {
  it("is a day for signing keys and secrets, none for KEKs and DEKs (count-proven or never retired)", () => {
    expect(MIN_OVERLAP_MS).toEqual({ signing: DAY, secret: DAY, kek: 0, dek: 0 });
  });

  it.each([
    ["a signing key with overlap PT0S", { ...signing, overlap: "PT0S", rollbackWindow: "PT0S" }, "overlap"],
    ["a signing key with overlap PT23H59M", { ...signing, overlap: "PT23H59M", rollbackWindow: "PT1H" }, "overlap"],
    ["a signing key with retainFor PT0S (its retirement wait)", { ...signing, retainFor: "PT0S" }, "retainFor"],
    ["a signing key with retainFor PT1S and overlap PT1S", { ...signing, overlap: "PT1S", retainFor: "PT1S", rollbackWindow: "PT0S" }, "overlap"],
    ["a signing key with retainFor shorter than its overlap", { ...signing, overlap: "P7D", retainFor: "P2D" }, "retainFor"],
    ["a random secret with overlap PT0S", { ...secret, overlap: "PT0S", rollbackWindow: "PT0S" }, "overlap"],
    ["a dual-credential provider secret with overlap PT1H", { ...secret, overlap: "PT1H", rollbackWindow: "PT1H", secret: { provider: pg } }, "overlap"],
    ["a mixed kek + signing policy with overlap PT1H (the strictest kind wins)", { ...signing, kinds: ["kek", "signing"], overlap: "PT1H", rollbackWindow: "PT1H" }, "overlap"],
    ["a KEK with retainFor shorter than its overlap", { ...signing, kinds: ["kek"], overlap: "P7D", retainFor: "P1D" }, "retainFor"],
  ])("refuses %s with PolicyInvalid naming the field", (_, input, field) => {
    expect(fieldRefused(input)).toBe(field);
  });

  it.each([
    ["a signing key with overlap and retainFor of exactly P1D", { ...signing, overlap: "P1D", retainFor: "P1D", rollbackWindow: "P1D" }],
    ["a signing key with the default overlap and no retainFor (kept forever)", signing],
    ["a provider secret with overlap P1D", { ...secret, overlap: "P1D", rollbackWindow: "PT1H", secret: { provider: pg } }],
    ["a KEK with overlap PT0S (retired only after a zero-reference count)", { ...signing, kinds: ["kek"], overlap: "PT0S", rollbackWindow: "PT0S" }],
    ["a DEK with overlap PT1H (never retired by the timer)", { ...signing, kinds: ["dek"], overlap: "PT1H", rollbackWindow: "PT1H" }],
  ])("accepts %s", (_, input) => {
    expect(fieldRefused(input)).toBeUndefined();
  });
});

describe("a policy stored before the floors", () => {
  // Rows read back are parsed for shape only (parsePolicyShape), so a PT0S written earlier still
  // loads; the timer and the workflows must not honour it below the floor.
  const stored = parsePolicyShape({ ...signing, overlap: "PT0S", retainFor: "PT0S", rollbackWindow: "PT0S" });
  const key = (kind: "signing" | "secret"): ManagedKey => ({
    keyId: `${kind}:vault1/k`, kind, tenant: "platform", policyId: "p1", primaryVersion: "v2",
    versions: [
      { version: "v1", state: "secondary", createdAt: "2026-01-01T00:00:00Z", demotedAt: "2026-04-15T00:00:00Z" },
      { version: "v2", state: "primary", createdAt: "2026-04-15T00:00:00Z" },
    ],
  });

  it("has its overlap and retainFor raised to the floor of the key's kind", () => {
    expect(dualRunningMs(stored, "signing")).toEqual({ overlapMs: DAY, retainForMs: DAY });
    expect(dualRunningMs(stored, "secret")).toEqual({ overlapMs: DAY, retainForMs: DAY });
    expect(dualRunningMs(stored, "kek")).toEqual({ overlapMs: 0, retainForMs: 0 });
  });

  it.each(["signing", "secret"] as const)("does not hand a %s's old version to retirement until a day after its demotion", (kind) => {
    expect(eligibleForRetirement(key(kind), stored, new Date("2026-04-15T00:00:01Z"))).toEqual([]);
    expect(eligibleForRetirement(key(kind), stored, new Date("2026-04-16T00:00:00Z"))).toEqual(["v1"]);
  });
});
