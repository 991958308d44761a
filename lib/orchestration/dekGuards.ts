// Checks a DEK rotation makes before a DEK becomes a tenant's primary: the KEK version it is
// wrapped under must be the KEK's primary in the inventory and enabled in the vault. A DEK under a
// superseded, disabled or revoked KEK version never becomes primary. And the DEK side of a rollback.
import { dekVersionOfLabel } from "../envelope/dekRecord";
import { InvalidRequestError, InvariantViolationError, RotationConflictError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import type { RotationDeps } from "./ports";

/** Throws RotationConflictError (retryable: the retry wraps under the new primary) when the KEK's
 * primary moved on, InvariantViolationError (stop, alert) when the version is disabled in the vault
 * or revoked/retired. With `mustBePrimary: false` (a rollback re-promotes an older DEK, which may
 * sit under a secondary KEK version) only the disabled/revoked checks apply. */
export async function assertKekVersionUsable(deps: RotationDeps, kekKeyId: string, kekVersion: string, opts: { mustBePrimary?: boolean } = {}): Promise<void> {
  const row = await deps.inventory.get(kekKeyId);
  if (!row) throw new InvalidRequestError("KeyNotManaged", `[keyrotor] [rotation] ${kekKeyId} is not in the inventory`, { status: 404 });
  const state = row.key.versions.find((v) => v.version === kekVersion)?.state;
  if (state === "revoked" || state === "retired") {
    throw new InvariantViolationError("KekVersionDisabled", `[keyrotor] [rotation] ${kekKeyId} version ${kekVersion} is ${state}; no DEK wrapped under it may become primary`);
  }
  if ((opts.mustBePrimary ?? true) && row.key.primaryVersion !== kekVersion) {
    throw new RotationConflictError("KekPrimaryMoved", `[keyrotor] [rotation] ${kekKeyId}'s primary is ${row.key.primaryVersion ?? "none"}, not ${kekVersion}; the DEK is wrapped again under the primary on retry`);
  }
  const p = parseKeyId(kekKeyId);
  if (!p.vault) throw new InvalidRequestError("KeyIdInvalid", `[keyrotor] [rotation] ${kekKeyId} has no vault`);
  const inVault = (await deps.vault.listKeyVersions(p.vault, p.name)).find((v) => v.version === kekVersion);
  if (!inVault?.enabled) {
    throw new InvariantViolationError("KekVersionDisabled", `[keyrotor] [rotation] ${kekKeyId} version ${kekVersion} is ${inVault ? "disabled" : "missing"} in the vault; no DEK wrapped under it may become primary`);
  }
}

/** The DEK side of a rollback (promoteVersion with rollback: true): the DEK store's primary, the
 * pointer consumers resolve, moves back to `dekVersion` before the inventory mirror does. A no-op
 * for other kinds and when the store already points there. */
export async function rollBackTenantDek(deps: RotationDeps, keyId: string, dekVersion: string): Promise<void> {
  const p = parseKeyId(keyId);
  if (p.kind !== "dek") return;
  await deps.deks.rollbackPrimary(p.name, dekVersionOfLabel(dekVersion), (w) => assertKekVersionUsable(deps, w.kekKeyId, w.kekVersion, { mustBePrimary: false }));
}
