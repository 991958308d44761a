// Checks a DEK rotation makes before a DEK becomes a tenant's primary: the KEK version it is
// wrapped under must be the KEK's primary in the inventory and enabled in the vault. A DEK under a
// superseded, disabled or revoked KEK version never becomes primary.
import { InvalidRequestError, InvariantViolationError, RotationConflictError } from "../domain/errors";
import { parseKeyId } from "../domain/keys";
import type { RotationDeps } from "./ports";

/** Throws RotationConflictError (retryable: the retry wraps under the new primary) when the KEK's
 * primary moved on, InvariantViolationError (stop, alert) when the version is disabled in the vault
 * or revoked/retired while the inventory still names it primary. */
export async function assertKekVersionUsable(deps: RotationDeps, kekKeyId: string, kekVersion: string): Promise<void> {
  const row = await deps.inventory.get(kekKeyId);
  if (!row) throw new InvalidRequestError("KeyNotManaged", `[keyrotor] [rotation] ${kekKeyId} is not in the inventory`, { status: 404 });
  const state = row.key.versions.find((v) => v.version === kekVersion)?.state;
  if (state === "revoked" || state === "retired") {
    throw new InvariantViolationError("KekVersionDisabled", `[keyrotor] [rotation] ${kekKeyId} version ${kekVersion} is ${state}; no DEK wrapped under it may become primary`);
  }
  if (row.key.primaryVersion !== kekVersion) {
    throw new RotationConflictError("KekPrimaryMoved", `[keyrotor] [rotation] ${kekKeyId}'s primary is ${row.key.primaryVersion ?? "none"}, not ${kekVersion}; the DEK is wrapped again under the primary on retry`);
  }
  const p = parseKeyId(kekKeyId);
  if (!p.vault) throw new InvalidRequestError("KeyIdInvalid", `[keyrotor] [rotation] ${kekKeyId} has no vault`);
  const inVault = (await deps.vault.listKeyVersions(p.vault, p.name)).find((v) => v.version === kekVersion);
  if (!inVault?.enabled) {
    throw new InvariantViolationError("KekVersionDisabled", `[keyrotor] [rotation] ${kekKeyId} version ${kekVersion} is ${inVault ? "disabled" : "missing"} in the vault; no DEK wrapped under it may become primary`);
  }
}
