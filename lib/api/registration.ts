// PUT /api/keys/{keyId} (Admin): brings a key or secret that already exists in a managed vault under
// keyrotor's care. Its versions are read from the vault (latest enabled = primary, other enabled =
// secondary, disabled = retired), its policy is attached, and a KeyRegistered entry starts the
// key's ledger chain. Safe to repeat: the same registration again answers 200 with the entry.
// Tenant DEKs are not registered here: a tenant's first DEK is made by a DEK rotation naming its KEK.
import { z } from "zod";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { parseKeyId, type KeyVersion, type ManagedKey, type ParsedKeyId } from "../domain/keys";
import type { Principal } from "../http/principal";
import type { VaultVersion } from "../orchestration/ports";
import { checkManagedKey } from "../stores/inventory";
import type { ApiServices } from "./ports";
import { POLICY_ID } from "./queries";

export const RegisterKeyBody = z.strictObject({
  policyId: POLICY_ID,
  tenant: z.string().regex(/^[A-Za-z0-9-]{1,127}$/, "must be 1-127 letters, digits or '-'"),
});
export type RegisterKeyBody = z.output<typeof RegisterKeyBody>;

/** The ledger entry that opens a key's audit trail; one per key, whatever the retries. */
export const REGISTERED_ENTRY_ID = "registered";

export interface Registration {
  created: boolean;
  key: ManagedKey;
  /** kek only: false when the vault could not say whether the key is RSA (e.g. an oct Managed HSM
   * key has no public key to read), so that check was skipped. */
  keyTypeChecked?: boolean;
}

const refuse = (code: string, message: string, opts: { field: string; status?: number; cause?: unknown }) =>
  new InvalidRequestError(code, `[keyrotor] [registration] ${message}`, opts);

/** Vault versions → inventory versions, oldest first: the latest enabled one is primary. */
export function versionsFrom(vault: VaultVersion[]): { versions: KeyVersion[]; primaryVersion: string | undefined } {
  const ordered = vault.map((v, i) => ({ v, i })).sort((a, b) => Date.parse(a.v.createdOn) - Date.parse(b.v.createdOn) || a.i - b.i).map((x) => x.v);
  const primaryVersion = ordered.filter((v) => v.enabled).at(-1)?.version;
  const versions = ordered.map((v): KeyVersion => ({
    version: v.version,
    state: v.version === primaryVersion ? "primary" : v.enabled ? "secondary" : "retired",
    createdAt: v.createdOn,
    ...(v.expiresOn ? { expiresAt: v.expiresOn } : {}),
  }));
  return { versions, primaryVersion };
}

async function vaultVersions(s: ApiServices, keyId: string, p: ParsedKeyId): Promise<VaultVersion[]> {
  const vault = p.vault!;
  if (!s.settings.managedVaults.has(vault.toLowerCase())) {
    throw refuse("VaultNotManaged", `${vault} is not a managed vault (KEYROTOR_VAULT_URLS)`, { field: "keyId", status: 404 });
  }
  const what = p.kind === "secret" ? "secret" : "key";
  let found: VaultVersion[];
  try {
    found = p.kind === "secret" ? await s.vault.listSecretVersions(vault, p.name) : await s.vault.listKeyVersions(vault, p.name);
  } catch (err) {
    if (err instanceof InvalidRequestError && err.status === 404) {
      throw refuse("VaultObjectNotFound", `${vault} has no ${what} ${p.name}`, { field: "keyId", status: 404, cause: err });
    }
    throw err;
  }
  if (found.length === 0) throw refuse("VaultObjectNotFound", `${vault} has no ${what} ${p.name}`, { field: "keyId", status: 404 });
  if (!found.some((v) => v.enabled)) throw refuse("NoEnabledVersion", `${keyId} has no enabled version in the vault to make primary`, { field: "keyId" });
  return found;
}

/** A KEK wraps DEKs: an RSA key (an oct key in Managed HSM also qualifies). EC keys cannot wrap.
 * Returns false when the vault cannot tell the key type (the check is then skipped). */
async function checkKekType(s: ApiServices, keyId: string, p: ParsedKeyId, version: string): Promise<boolean> {
  let kty: string;
  let crv: unknown;
  try {
    const jwk = await s.vault.publicJwk(p.vault!, p.name, version);
    kty = jwk.kty;
    crv = jwk.crv;
  } catch (err) {
    // lib/vault refuses to cache a key without a public part (oct, Managed HSM): type unknown here.
    if (err instanceof InvalidRequestError && err.code === "KeyTypeUnsupported") return false;
    throw err;
  }
  if (/^RSA/i.test(kty) || /^oct/i.test(kty)) return true;
  // lib/vault reports every non-RSA key as EC; only one with a curve is known to be EC.
  if (/^EC/i.test(kty) && typeof crv !== "string") return false;
  throw refuse("KekNotRsa", `${keyId} is a ${kty} key; a KEK must be an RSA key (or an oct key in Managed HSM) to wrap DEKs`, { field: "keyId" });
}

/** Same refusals, codes and field as the Table Storage inventory, so every adapter answers alike. */
async function checkPolicy(s: ApiServices, key: ManagedKey, policyId: string): Promise<void> {
  const own = await s.policies.get(key.tenant, policyId);
  if (own) {
    if (!own.policy.kinds.includes(key.kind)) {
      throw refuse("PolicyKindMismatch", `policy ${policyId} applies to ${own.policy.kinds.join(", ")}, not ${key.kind}`, { field: "policyId" });
    }
    return;
  }
  for await (const other of s.policies.list()) {
    if (other.policy.policyId === policyId) {
      throw refuse("PolicyTenantMismatch", `policy ${policyId} belongs to another tenant; a key of tenant ${key.tenant} can only use its own tenant's policies`, { field: "policyId" });
    }
  }
  throw refuse("PolicyNotFound", `tenant ${key.tenant} has no policy ${policyId}`, { field: "policyId" });
}

/** An existing entry: the same registration is answered with it; anything else is refused. */
function sameRegistration(existing: ManagedKey, body: RegisterKeyBody): ManagedKey {
  if (existing.tenant !== body.tenant || existing.policyId !== body.policyId) {
    throw refuse("KeyAlreadyRegistered",
      `${existing.keyId} is already registered for tenant ${existing.tenant} with policy ${existing.policyId ?? "(none)"}; changing a key's policy or tenant is not done by registering it again`,
      { field: existing.tenant !== body.tenant ? "tenant" : "policyId", status: 409 });
  }
  return existing;
}

async function recordRegistration(s: ApiServices, who: Principal, key: ManagedKey): Promise<void> {
  await s.ledger.append({
    keyId: key.keyId, entryId: REGISTERED_ENTRY_ID, type: "KeyRegistered", actor: who.name, at: s.clock.now().toISOString(),
    ...(key.primaryVersion ? { versionAfter: key.primaryVersion } : {}),
    details: { tenant: key.tenant, policyId: key.policyId ?? "", kind: key.kind, versions: key.versions.length },
  });
}

/** 201 created, 200 the same registration again; 404 unknown vault or vault object; 409 the key is
 * registered differently; 400 DEKs, a policy of another tenant, unknown or not covering the kind. */
export async function registerKey(s: ApiServices, who: Principal, keyId: string, body: RegisterKeyBody): Promise<Registration> {
  const p = parseKeyId(keyId);
  if (p.kind === "dek") {
    throw refuse("DekNotRegistrable", `${keyId}: tenant DEKs are not registered here; a tenant's first DEK is onboarded by a DEK rotation naming its KEK`, { field: "keyId" });
  }
  const existing = await s.inventory.get(keyId);
  if (existing) {
    const key = sameRegistration(existing.key, body);
    // Completes a registration whose ledger entry was not written (the append is idempotent).
    await recordRegistration(s, who, key);
    return { created: false, key };
  }
  const found = await vaultVersions(s, keyId, p);
  const { versions, primaryVersion } = versionsFrom(found);
  const key: ManagedKey = { keyId, kind: p.kind, tenant: body.tenant, policyId: body.policyId, versions, ...(primaryVersion ? { primaryVersion } : {}) };
  checkManagedKey(key);
  await checkPolicy(s, key, body.policyId);
  const keyTypeChecked = p.kind === "kek" ? await checkKekType(s, keyId, p, primaryVersion!) : undefined;
  try {
    await s.inventory.create(key);
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
    // Registered meanwhile by a concurrent request: answer as a repeat would.
    const now = await s.inventory.get(keyId);
    if (!now) throw err;
    const same = sameRegistration(now.key, body);
    await recordRegistration(s, who, same);
    return { created: false, key: same };
  }
  await recordRegistration(s, who, key);
  return { created: true, key, ...(keyTypeChecked !== undefined ? { keyTypeChecked } : {}) };
}
