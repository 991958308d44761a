// Seeds the memory adapters with managed keys and wrapped DEKs; remembers DEK plaintexts so tests
// can prove every DEK still unwraps to the same bytes.
import { randomBytes } from "node:crypto";
import type { KeyKind, ManagedKey } from "../../../lib/domain/keys";
import type { PolicyInput } from "../../../lib/domain/policy";
import { memoryRotationDeps, type MemoryRotationDeps } from "../../../lib/orchestration/deps";
import { dekRecord } from "../../../lib/envelope/dekRecord";

export const VAULT = "demo-vault";
export const T0 = "2026-01-01T00:00:00.000Z";

/** The policy the seeded keys are governed by (no adapter invents one). */
export function testPolicy(tenant: string, policyId: string, kinds: KeyKind[], over: Partial<PolicyInput> = {}): PolicyInput {
  return {
    policyId, tenant, kinds, schedule: { every: "P90D" }, expiresAfter: "P365D", overlap: "P30D", revokeOld: false, retainFor: "P90D",
    rollbackWindow: "P7D", maxAttempts: 5, ...(kinds.includes("secret") ? { secret: { encoding: "base64url", length: 32 } } : {}), ...over,
  };
}

/** Stores `policy` unless a policy with its id exists in its tenant. */
export async function seedPolicy(deps: MemoryRotationDeps, policy: PolicyInput): Promise<string> {
  const store = deps.policies;
  if (!(await store.get(policy.tenant, policy.policyId))) await store.put(policy, undefined);
  return policy.policyId;
}

/** The platform tenant's policy for KEKs, signing keys and secrets. */
const platformPolicy = (deps: MemoryRotationDeps) => seedPolicy(deps, testPolicy("platform", "platform-default", ["kek", "signing", "secret"]));

export async function seedKey(deps: MemoryRotationDeps, kind: "kek" | "signing", name: string): Promise<{ keyId: string; v1: string }> {
  const v1 = deps.vault.seedKey(VAULT, name, kind === "kek" ? "wrap" : "sign");
  const keyId = `${kind}:${VAULT}/${name}`;
  const key: ManagedKey = { keyId, kind, tenant: "platform", policyId: await platformPolicy(deps), primaryVersion: v1, versions: [{ version: v1, state: "primary", createdAt: T0 }] };
  await deps.inventory.put(key, undefined);
  return { keyId, v1 };
}

export async function seedSecret(deps: MemoryRotationDeps, name: string): Promise<{ keyId: string; v1: string }> {
  const made = await deps.vault.setSecret(VAULT, name, "initial-secret-value", { rotationId: "seed" });
  const keyId = `secret:${VAULT}/${name}`;
  await deps.inventory.put({ keyId, kind: "secret", tenant: "platform", policyId: await platformPolicy(deps), primaryVersion: made.version, versions: [{ version: made.version, state: "primary", createdAt: T0 }] }, undefined);
  return { keyId, v1: made.version };
}

export interface SeededKek {
  keyId: string;
  v1: string;
  plaintexts: Map<string, Buffer>;
}

export async function seedKekWithDeks(deps: MemoryRotationDeps, tenants: number, deksPerTenant: number, name = "tenant-kek"): Promise<SeededKek> {
  const { keyId, v1 } = await seedKey(deps, "kek", name);
  const plaintexts = new Map<string, Buffer>();
  for (let t = 0; t < tenants; t++) {
    const tenant = `tenant${t}`;
    // A tenant's DEK follows its tenant's active DEK policy.
    await seedPolicy(deps, testPolicy(tenant, "tenant-deks", ["dek"]));
    for (let i = 0; i < deksPerTenant; i++) {
      const dekVersion = `d${String(i).padStart(4, "0")}`;
      const plaintext = randomBytes(32);
      plaintexts.set(`${tenant}/${dekVersion}`, plaintext);
      const wrapped = await deps.vault.wrapKey(VAULT, name, v1, plaintext);
      deps.deks.insert(dekRecord({ tenant, dekVersion: i + 1, dekId: dekVersion, state: i === 0 ? "primary" : "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: wrapped, createdAt: T0 }));
    }
  }
  return { keyId, v1, plaintexts };
}

/** Unwraps every DEK and compares with what was seeded; returns the KEK versions in use. */
export async function assertAllReadable(deps: MemoryRotationDeps, seeded: SeededKek): Promise<{ versions: Set<string>; mismatches: number }> {
  const name = seeded.keyId.split("/")[1]!;
  const versions = new Set<string>();
  let mismatches = 0;
  for (const tenant of await deps.deks.listTenants()) {
    for (const d of await deps.deks.tenantDeks(tenant)) {
      if (d.kekKeyId !== seeded.keyId) continue;
      versions.add(d.kekVersion);
      const plain = await deps.vault.unwrapKey(VAULT, name, d.kekVersion, Buffer.from(d.wrapped, "base64url"));
      if (!plain.equals(seeded.plaintexts.get(`${tenant}/${d.dekId}`) ?? Buffer.alloc(0))) mismatches++;
    }
  }
  return { versions, mismatches };
}

export function freshDeps(): MemoryRotationDeps {
  return memoryRotationDeps({ clock: { now: () => new Date("2026-03-01T00:00:00Z") } });
}
