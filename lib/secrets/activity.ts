// The provider-secret parts of the rotation activities (createSecretVersion, disableVersion): the
// activity loads the key and its policy, these run the dual-credential steps. Results carry ids,
// slots and fingerprints only: they are persisted in orchestration history.
import { InvalidRequestError, InvariantViolationError } from "../domain/errors";
import type { ManagedKey } from "../domain/keys";
import type { SecretProviderSpec } from "../domain/secretProviders";
import { DualCredentialRotation, slotVersions, type Prepared } from "./dualCredential";
import type { ProviderCredentials, SecretVersionStore } from "./port";

type VaultSide = Pick<SecretVersionStore, "listSecretVersions" | "setSecret">;

export interface ProviderSecretRequest {
  vault: string;
  name: string;
  rotationId: string;
  key: ManagedKey;
  spec: SecretProviderSpec;
  emergency: boolean;
  /** Secondary versions whose overlap (from their demotion) is over: the rotation may retire them
   * first (lib/domain/secretProviders.ts claimSlot). */
  overlapEnded?: ReadonlySet<string>;
  expiresOn?: string;
  /** The flow's first call: only choose the slot and fingerprint it (createSecret, part 1). */
  prepare?: boolean;
  /** The first call's answer, from history. Absent (an orchestration started before the prepare
   * step existed): prepared here, without the crash fingerprint. */
  prepared?: Prepared;
}

function rotationOf(vault: VaultSide, credentials: ProviderCredentials | undefined): DualCredentialRotation {
  if (!credentials) throw new InvariantViolationError("SecretProvidersMissing", "[keyrotor] [secrets] this host was composed without secret providers; a policy with secret.provider cannot rotate here");
  // Methods, not a spread: the vault is a class instance (its methods live on the prototype).
  return new DualCredentialRotation({
    listSecretVersions: (v, n) => vault.listSecretVersions(v, n),
    setSecret: (v, n, value, o) => vault.setSecret(v, n, value, o),
    getSecretValue: (v, n, version) => credentials.readSecret(v, n, version),
  }, credentials.providers);
}

async function versionsOf(vault: VaultSide, req: { vault: string; name: string; key: ManagedKey }) {
  return slotVersions(await vault.listSecretVersions(req.vault, req.name), req.key.versions);
}

/** createSecretVersion for a provider secret: prepare (slot + fingerprint), or create + test. */
export async function providerSecretVersion(
  vault: VaultSide, credentials: ProviderCredentials | undefined, req: ProviderSecretRequest,
): Promise<Prepared | { version: string; reused: boolean; slot: string; recovered: boolean }> {
  const rotation = rotationOf(vault, credentials);
  const ref = { vault: req.vault, name: req.name };
  const prepare = async () => rotation.prepare(ref, req.spec, {
    rotationId: req.rotationId, versions: await versionsOf(vault, req), emergency: req.emergency, ...(req.overlapEnded ? { overlapEnded: req.overlapEnded } : {}), ...(req.key.primaryVersion ? { primaryVersion: req.key.primaryVersion } : {}),
  });
  if (req.prepare) return prepare();
  const prepared = req.prepared ?? (await prepare());
  // Only the flow retires (with its ledger entry and event): never regenerate over a live version.
  if (prepared.retireFirst?.length) {
    throw new InvalidRequestError("SlotInOverlap", `[keyrotor] [secrets] slot ${prepared.slot} still backs version ${prepared.retireFirst.join(", ")}, whose overlap is over; the rotation retires it before creating a version`, { status: 409 });
  }
  const made = await rotation.create(ref, req.spec, { rotationId: req.rotationId, prepared, ...(req.expiresOn ? { expiresOn: req.expiresOn } : {}) });
  // testSecret: nothing is promoted unless the stored value authenticates at the provider.
  await rotation.test(ref, req.spec, made.version);
  return made;
}

/** disableVersion for a provider secret, before the vault version is disabled: ends the retiring
 * (or revoked) version's slot at the provider. */
export async function retireProviderSlot(
  vault: VaultSide, credentials: ProviderCredentials | undefined, req: { vault: string; name: string; key: ManagedKey; spec: SecretProviderSpec; version: string },
): Promise<{ slot?: string }> {
  return rotationOf(vault, credentials).retire(req.spec, await versionsOf(vault, req), req.version);
}
