// The hierarchy's validation gate (issue 20): branch-key records under a new KEK version must each
// unwrap THROUGH THE VAULT under that version and give back the key their signed commitment names,
// before anything old is destroyed or revoked. Every record, not a sample: there are few branch keys
// (B = shared slots + dedicated ones, not the number of DEKs), the gate costs B remote unwraps on
// top of the B the re-wrap spends, and "every branch key opens under the new version" is exactly
// the invariant that lets the old version go. A failure is ValidationFailed (never retried: a
// version that does not work will not start working by asking again); a dependency that is down
// is not a verdict and propagates as itself, so the run resumes at the gate later.
import { DependencyUnavailableError, InvariantViolationError } from "../domain/errors";
import type { BranchKeys } from "./branchKeys";
import type { StoredBranchKey } from "./branchKeyStore";
import { forEachLimited, type Pacer } from "./pace";

interface Failure {
  branch: string;
  reason: string;
}

/** Opens each record (signature, remote unwrap under `kekVersion`, commitment), zeroes the key, and
 * throws ValidationFailed naming the first failure when any did not open. Returns how many it proved. */
export async function validateUnderKek(d: { keys: BranchKeys }, pacer: Pacer, records: readonly StoredBranchKey[], kekKeyId: string, kekVersion: string, concurrency = 16): Promise<number> {
  const failures: Failure[] = [];
  await forEachLimited([...records], concurrency, async (r) => {
    const branch = `${r.branchId}#${r.version}`;
    if (r.kekVersion !== kekVersion) {
      failures.push({ branch, reason: `wrapped under ${r.kekVersion}, not the new version` });
      return;
    }
    try {
      const key = await pacer.run(() => d.keys.open(r));
      key.fill(0);
    } catch (err) {
      if (err instanceof DependencyUnavailableError) throw err;
      failures.push({ branch, reason: reasonOf(err) });
    }
  });
  const first = failures[0];
  if (first) {
    throw new InvariantViolationError("ValidationFailed", `[keyrotor] [hierarchy] ${kekKeyId} version ${kekVersion} failed the branch-key validation (${failures.length} of ${records.length} branch keys did not unwrap under it to their signed key, first: ${first.branch}: ${first.reason}): every branch key re-wrapped under the new KEK version must unwrap in the vault and match its key commitment; nothing was destroyed or revoked`);
  }
  return records.length;
}

/** An error code, never key material or a whole upstream message. */
function reasonOf(err: unknown): string {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return err instanceof Error ? err.name : "UnknownError";
}
