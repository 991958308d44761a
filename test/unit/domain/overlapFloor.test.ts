// F10: the dual-running time a policy gives an old version has a floor wherever the timer disables
// that version without a reference count (signing keys after retainFor, secrets and their provider
// credentials after overlap): otherwise one Admin could set PT0S and so invalidate a key on their
// own. KEK versions retire only after a zero-reference count, DEK versions never by the timer.
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { MIN_OVERLAP_MS, validatePolicy } from "../../../lib/domain/policy";
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
