// PUT /api/keys/{keyId} (Admin): brings a key or secret that already exists in a managed vault under
// keyrotor's care. Its versions are read from the vault (latest enabled = primary, other enabled =
// secondary, disabled = retired), its policy is attached, and a KeyRegistered entry starts the
// key's ledger chain. Safe to repeat: the same registration again answers 200 with the entry.
// Tenant DEKs are not registered here: a tenant's first DEK is made by a DEK rotation naming its KEK.
// One vault object, one managed key: the keyId is stored in canonical spelling (vault and object
// names are case-insensitive in Key Vault) and an object already managed under any kind or spelling
// is refused with 409 naming its keyId; otherwise two keyIds would hold two locks and two reference
// counts for one object, and a retirement under one could disable a version the other still needs.
import { z } from "zod";
import { InvalidRequestError, RotationConflictError } from "../domain/errors";
import { formatKeyId, parseKeyId, sameObjectKeyIds, vaultObjectOf, type KeyVersion, type ManagedKey, type ParsedKeyId } from "../domain/keys";
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
  /** kek and signing: false when the vault could not say the key's type (e.g. an oct Managed HSM
   * key has no public key to read), so that check was skipped (a KEK only; a signing key must show it). */
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

/** The key's type as the vault reports it: kty (and crv), or undefined when the vault cannot tell
 * (lib/vault refuses to cache a key without a public part: oct, Managed HSM). */
async function keyType(s: ApiServices, p: ParsedKeyId, version: string): Promise<{ kty: string; crv: unknown } | undefined> {
  try {
    const jwk = await s.vault.publicJwk(p.vault!, p.name, version);
    return { kty: jwk.kty, crv: jwk.crv };
  } catch (err) {
    if (err instanceof InvalidRequestError && err.code === "KeyTypeUnsupported") return undefined;
    throw err;
  }
}

/** The operations the primary version must permit for the kind (when the vault lists them). */
function checkKeyOps(keyId: string, kind: "kek" | "signing", primary: VaultVersion | undefined): void {
  const ops = primary?.keyOps;
  if (ops === undefined || ops.length === 0) return;
  const needed = kind === "kek" ? ["wrapKey", "unwrapKey"] : ["sign", "verify"];
  const missing = needed.filter((op) => !ops.includes(op));
  if (missing.length > 0) {
    throw refuse(kind === "kek" ? "KekOpsMissing" : "SigningOpsMissing",
      `${keyId}'s current version does not permit ${missing.join(", ")} (it permits ${ops.join(", ")}); a ${kind === "kek" ? "KEK must wrap and unwrap" : "signing key must sign and verify"}`, { field: "keyId" });
  }
}

/** The key type must fit the kind. A KEK wraps DEKs: an RSA key (an oct key in Managed HSM also
 * qualifies; EC keys cannot wrap). A signing key signs tokens whose public keys are published as
 * JWKS: an EC or RSA key. Returns false when the vault cannot tell a KEK's type (check skipped). */
async function checkKeyType(s: ApiServices, keyId: string, p: ParsedKeyId, found: VaultVersion[], version: string): Promise<boolean> {
  const kind = p.kind === "kek" ? "kek" : "signing";
  const t = await keyType(s, p, version);
  let checked = true;
  if (kind === "kek") {
    // lib/vault reports every non-RSA key as EC; only one with a curve is known to be EC.
    if (!t || (/^EC/i.test(t.kty) && typeof t.crv !== "string")) checked = false;
    else if (!/^RSA/i.test(t.kty) && !/^oct/i.test(t.kty)) {
      throw refuse("KekNotRsa", `${keyId} is a ${t.kty} key; a KEK must be an RSA key (or an oct key in Managed HSM) to wrap DEKs`, { field: "keyId" });
    }
  } else if (!t || !(/^RSA/i.test(t.kty) || /^EC/i.test(t.kty))) {
    throw refuse("SigningKeyType", `${keyId} is ${t ? `a ${t.kty}` : "a symmetric or unreadable"} key; a signing key must be an EC or RSA key whose public key can be published`, { field: "keyId" });
  }
  checkKeyOps(keyId, kind, found.find((v) => v.version === version));
  return checked;
}

/** 409 naming the keyId under which the same vault object is already managed (any kind). */
async function checkObjectFree(s: ApiServices, keyId: string): Promise<void> {
  for (const other of sameObjectKeyIds(keyId)) {
    if (other === keyId) continue;
    const found = await s.inventory.get(other);
    if (found) throw objectRegistered(keyId, found.key.keyId);
  }
}

function objectRegistered(keyId: string, existing: string, cause?: unknown): InvalidRequestError {
  return refuse("VaultObjectRegistered",
    `${keyId} names vault object ${vaultObjectOf(keyId) ?? keyId}, which is already managed as ${existing}; one vault object is one managed key (register it once, under the kind it serves)`,
    { field: "keyId", status: 409, ...(cause !== undefined ? { cause } : {}) });
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
export async function registerKey(s: ApiServices, who: Principal, requestedKeyId: string, body: RegisterKeyBody): Promise<Registration> {
  const p = parseKeyId(requestedKeyId);
  if (p.kind === "dek") {
    throw refuse("DekNotRegistrable", `${requestedKeyId}: tenant DEKs are not registered here; a tenant's first DEK is onboarded by a DEK rotation naming its KEK`, { field: "keyId" });
  }
  // Any spelling is accepted; the key is registered (and found again) under the canonical one.
  const keyId = formatKeyId(p);
  const existing = await s.inventory.get(requestedKeyId);
  if (existing) {
    const key = sameRegistration(existing.key, body);
    // Completes a registration whose ledger entry was not written (the append is idempotent).
    await recordRegistration(s, who, key);
    return { created: false, key };
  }
  await checkObjectFree(s, keyId);
  const found = await vaultVersions(s, keyId, p);
  const { versions, primaryVersion } = versionsFrom(found);
  const key: ManagedKey = { keyId, kind: p.kind, tenant: body.tenant, policyId: body.policyId, versions, ...(primaryVersion ? { primaryVersion } : {}) };
  checkManagedKey(key);
  await checkPolicy(s, key, body.policyId);
  const keyTypeChecked = p.kind === "secret" ? undefined : await checkKeyType(s, keyId, p, found, primaryVersion!);
  try {
    await s.inventory.create(key);
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
    // Another kind or spelling claimed the same vault object meanwhile (the adapter's atomic check).
    if (err.code === "VaultObjectRegistered" || err.code === "VaultObjectClaimed") {
      await checkObjectFree(s, keyId);
      throw refuse("VaultObjectRegistered", `${keyId}: ${err.message}`, { field: "keyId", status: 409, cause: err });
    }
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
