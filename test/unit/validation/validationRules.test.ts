import { describe, expect, it } from "vitest";
import { gateVerdict, sameBytes, sampleVerdict, secretShapeOk, spreadSample, validationFailureText } from "../../../lib/domain/validation";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { Driver } from "../orchestration/driver";
import { freshDeps, seedKekWithDeks, seedKey } from "../orchestration/fixtures";

describe("validation rules", () => {
  it("a gate that checked nothing fails; a sample with nothing to check passes", () => {
    expect(gateVerdict("kekRoundTrip", "v2", 0, [])).toMatchObject({ outcome: "failed", reason: "NothingChecked" });
    expect(sampleVerdict("kekRewrapSample", "v2", 0, [])).toMatchObject({ outcome: "passed", checked: 0 });
    expect(gateVerdict("kekRoundTrip", "v2", 1, [{ version: "v2", reason: "UnwrapMismatch" }])).toMatchObject({ outcome: "failed", failed: 1, reason: "UnwrapMismatch" });
  });

  it("names a retained version that failed, not the new one", () => {
    const r = gateVerdict("signingPublished", "v3", 2, [{ version: "v2", reason: "SignatureDoesNotVerify" }]);
    expect(validationFailureText("signing:vault/key", r)).toMatch(/^signing:vault\/key retained version v2 failed the signingPublished gate \(1 of 2 probes failed, first: SignatureDoesNotVerify\).*nothing was disabled$/);
  });

  it("spreads a sample over the page: first, last and evenly between", () => {
    expect(spreadSample([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)).toEqual([1, 5, 9]);
    expect(spreadSample([1, 2], 5)).toEqual([1, 2]);
    expect(spreadSample([1, 2, 3], 0)).toEqual([]);
  });

  it("compares bytes by length and content", () => {
    expect(sameBytes(Buffer.from("abc"), Buffer.from("abc"))).toBe(true);
    expect(sameBytes(Buffer.from("abc"), Buffer.from("abd"))).toBe(false);
    expect(sameBytes(Buffer.from("abc"), Buffer.from("ab"))).toBe(false);
  });

  it("checks a secret's shape against its policy generator", () => {
    expect(secretShapeOk("ab".repeat(32), "hex", 32)).toBe(true);
    expect(secretShapeOk("ab".repeat(31), "hex", 32)).toBe(false);
    expect(secretShapeOk(Buffer.alloc(32, 7).toString("base64url"), "base64url", 32)).toBe(true);
    expect(secretShapeOk(Buffer.alloc(32, 7).toString("base64"), "base64", 32)).toBe(true);
    expect(secretShapeOk("", "provider-x", 32)).toBe(false);
  });
});

describe("validation gates in completed rotations", () => {
  it("a KEK rotation records a passed round trip before promotion and a passed DEK sample covering every tenant after the rewrap", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 3, 4);
    const out = (await new Driver(deps).run(DURABLE.orchestrators.rotation, { rotationId: `${seeded.keyId}@manual:v1`, keyId: seeded.keyId, trigger: "manual", actor: "alice" })) as RotationOutput;
    expect(out.outcome).toBe("completed");
    const entries = [];
    for await (const e of deps.ledger.entries(seeded.keyId)) entries.push(e);
    const v = entries.filter((e) => e.type === "Validation");
    expect(v.map((e) => [e.details?.gate, e.details?.outcome, e.versionAfter])).toEqual([["kekRoundTrip", "passed", out.versionAfter], ["kekRewrapSample", "passed", out.versionAfter]]);
    // Validated before the promotion: the round trip's entry comes before Promoted.
    const types = entries.map((e) => e.type);
    expect(types.indexOf("Validation")).toBeLessThan(types.indexOf("Promoted"));
    expect(v[1]!.counts).toEqual({ checked: 6, failed: 0 });
  });

  it("a signing rotation verifies the published JWKS with tokens of the new and the retained version", async () => {
    const deps = freshDeps();
    const { keyId } = await seedKey(deps, "signing", "sig");
    const out = (await new Driver(deps).run(DURABLE.orchestrators.rotation, { rotationId: `${keyId}@manual:v1`, keyId, trigger: "manual", actor: "alice" })) as RotationOutput;
    expect(out.outcome).toBe("completed");
    const entries = [];
    for await (const e of deps.ledger.entries(keyId)) if (e.type === "Validation") entries.push(e);
    expect(entries.map((e) => [e.details?.gate, e.details?.outcome, e.counts])).toEqual([
      ["signingProbe", "passed", { checked: 1, failed: 0 }],
      ["signingPublished", "passed", { checked: 2, failed: 0 }],
    ]);
  });
});
