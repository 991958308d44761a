// The workflow revokes only in an emergency (which a second person approved), whatever the input
// says: a normal-mode rotation that carries revokeOld (a caller other than the API, a replayed old
// input) keeps the old version enabled; the API refuses such a request outright (400).
import { describe, expect, it } from "vitest";
import { DURABLE } from "../../../lib/orchestration/names";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { Driver } from "./driver";
import { freshDeps, seedKey, seedSecret, VAULT } from "./fixtures";

const O = DURABLE.orchestrators;
const normal = (keyId: string): RotationRequest => ({ rotationId: `${keyId}@manual:r1`, keyId, trigger: "manual", actor: "alice", reason: "test", mode: "normal", revokeOld: true });

describe("revoking needs emergency mode", () => {
  it("a normal signing rotation with revokeOld leaves the old version enabled (verify only) and records no Revoked", async () => {
    const deps = freshDeps();
    const { keyId, v1 } = await seedKey(deps, "signing", "jwt");
    const out = (await new Driver(deps).run(O.rotation, normal(keyId))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    expect((await deps.vault.listKeyVersions(VAULT, "jwt")).find((v) => v.version === v1)).toMatchObject({ enabled: true, keyOps: ["verify"] });
    expect((await deps.inventory.get(keyId))!.key.versions.find((v) => v.version === v1)?.state).toBe("secondary");
    for await (const e of deps.ledger.entries(keyId)) expect(e.type).not.toBe("Revoked");
  });

  it("a normal secret rotation with revokeOld leaves the old version enabled", async () => {
    const deps = freshDeps();
    const { keyId, v1 } = await seedSecret(deps, "api-key");
    const out = (await new Driver(deps).run(O.rotation, normal(keyId))) as RotationOutput;
    expect(out.outcome).toBe("completed");
    expect((await deps.vault.listSecretVersions(VAULT, "api-key")).find((v) => v.version === v1)?.enabled).toBe(true);
  });
});
