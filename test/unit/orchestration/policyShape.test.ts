// The rotation engine reads the one policy shape (lib/domain/policy.ts) from the policy port itself:
// no engine-side view of a policy, no conversion between them.
import { describe, expect, it } from "vitest";
import { validatePolicy } from "../../../lib/domain/policy";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { freshDeps, seedPolicy, seedSecret, testPolicy, VAULT } from "./fixtures";

const O = DURABLE.orchestrators;

describe("the rotation engine's policy reads", () => {
  it("give the policy governing a key as stored, every field of the policy shape", async () => {
    const deps = freshDeps();
    const input = testPolicy("platform", "platform-default", ["kek", "signing", "secret"], { complianceTags: ["pci"], retainFor: undefined });
    await seedPolicy(deps, input);
    const { keyId } = await seedSecret(deps, "api-key");
    const key = (await deps.inventory.get(keyId))!.key;

    const read = await deps.policies.policyFor(key);

    expect(read).toEqual(validatePolicy(input, { now: deps.clock.now() }));
    expect(read?.retainFor).toBeUndefined(); // absent = kept forever, not a stand-in duration
  });

  it("make a generated secret in the encoding and length the policy's secret names", async () => {
    const deps = freshDeps();
    await seedPolicy(deps, testPolicy("platform", "platform-default", ["kek", "signing", "secret"], { secret: { encoding: "hex", length: 24 } }));
    const { keyId } = await seedSecret(deps, "webhook");

    const out = (await new Driver(deps).run(O.rotation, { rotationId: `${keyId}@manual:hex`, keyId, trigger: "manual", actor: "alice", reason: "test" })) as RotationOutput;

    expect(out.outcome).toBe("completed");
    expect(deps.vault.secretValue(VAULT, "webhook", out.versionAfter!)).toMatch(/^[0-9a-f]{48}$/);
  });
});
