// If-Match values that are not an ETag Table Storage issued never reach the service as a raw storage
// error (issue 21: `"abc"`, `x`, `*, *` answered 500): the store answers RotationConflictError (the
// API's 412) for any well-formed value that cannot be the row's ETag, and nothing is written.
import { describe, expect, it } from "vitest";
import { RotationConflictError } from "../../../lib/domain/errors";
import { PolicyStore } from "../../../lib/stores/policyStore";
import { freshTable } from "../../support/tables";

const NOW = new Date("2026-11-22T12:00:00Z");
const input = (over: Record<string, unknown> = {}) => ({
  policyId: "quarterly-kek", tenant: "contoso", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D", ...over,
});

describe("PolicyStore If-Match on Table Storage", () => {
  it("answers RotationConflictError to ETags Table Storage never issued, and changes nothing", async () => {
    const s = new PolicyStore(await freshTable("polifm"), () => NOW);
    const v1 = await s.put(input(), undefined);
    expect(v1.etag).toMatch(/^W\/"datetime'[^']+'"$/);
    for (const etag of ['"abc"', 'W/"abc"', "x", "*, *", '""', 'W/"datetime\'not-a-time\'"', `${v1.etag}, ${v1.etag}`, v1.etag.replace("W/", "")]) {
      await expect(s.put(input({ maxAttempts: 9 }), etag), etag).rejects.toBeInstanceOf(RotationConflictError);
    }
    expect(await s.get("contoso", "quarterly-kek")).toEqual(v1);
    expect((await s.put(input({ maxAttempts: 9 }), v1.etag)).policy.maxAttempts).toBe(9);
  });
});
