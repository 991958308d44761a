// No memory adapter invents a policy: a key that no policy governs is refused by the rotation engine
// on the memory adapters exactly as on Table Storage (the memory policies once answered a built-in
// default, so the workflow tests rotated keys production would refuse).
import { describe, expect, it } from "vitest";
import type { ManagedKey } from "../../../lib/domain/keys";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { freshDeps, seedPolicy, T0, testPolicy, VAULT } from "./fixtures";

const O = DURABLE.orchestrators;

describe("rotating a key no policy governs", () => {
  it("fails with NoPolicy and creates no key version", async () => {
    const deps = freshDeps();
    const v1 = deps.vault.seedKey(VAULT, "orphan", "wrap");
    const keyId = `kek:${VAULT}/orphan`;
    const key: ManagedKey = { keyId, kind: "kek", tenant: "platform", primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: T0 }] };
    await deps.inventory.put(key, undefined);
    const request: RotationRequest = { rotationId: `${keyId}@manual:1`, keyId, trigger: "manual", actor: "alice", reason: "no policy", mode: "normal" };
    const out = (await new Driver(deps).run(O.rotation, request)) as RotationOutput;
    expect(out).toMatchObject({ outcome: "failed", error: { code: "NoPolicy" } });
    expect(await deps.vault.listKeyVersions(VAULT, "orphan")).toHaveLength(1);
  });

  it("rotates a tenant's DEK under the tenant's active DEK policy, and refuses it while the tenant has none", async () => {
    const deps = freshDeps();
    const kek = deps.vault.seedKey(VAULT, "dek-kek", "wrap");
    await seedPolicy(deps, testPolicy("platform", "platform-default", ["kek"]));
    await deps.inventory.put({ keyId: `kek:${VAULT}/dek-kek`, kind: "kek", tenant: "platform", policyId: "platform-default", primaryVersion: kek, versions: [{ version: kek, state: "primary", createdAt: T0 }] }, undefined);
    const request = (n: number): RotationRequest => ({ rotationId: `dek:t1@manual:${n}`, keyId: "dek:t1", trigger: "manual", actor: "alice", reason: "first DEK", mode: "normal", kekKeyId: `kek:${VAULT}/dek-kek` });
    const refused = (await new Driver(deps).run(O.rotation, request(1))) as RotationOutput;
    expect(refused).toMatchObject({ outcome: "failed", error: { code: "NoPolicy" } });
    await seedPolicy(deps, testPolicy("t1", "t1-deks", ["dek"]));
    const rotated = (await new Driver(deps).run(O.rotation, request(2))) as RotationOutput;
    expect(rotated, JSON.stringify(rotated)).toMatchObject({ outcome: "completed" });
  });
});
