// The hierarchy's validation gate: before anything old is destroyed or revoked, the new
// KEK version must be shown to open the branch keys wrapped under it — through the vault, giving
// back the key each record's signed commitment names.
//
// A bounded sample, not every record (docs/key-hierarchy.md "Validation gate: why a sample"): a
// wrap this run writes is made LOCALLY from a plaintext already proven against the record's signed
// commitment, with the ONE public key of the new version (Key Vault versions are immutable). What
// can go wrong is then a property of the version, the same for every wrap made with that public
// key (the vault's private half does not invert it, refuses to unwrap, answers wrong bytes), so a
// sample of ≤ MAX_PROOF_SAMPLE remote unwraps catches it before any record is replaced, and the run
// costs B + sample unwraps instead of 2B. Records the run did NOT wrap itself (a concurrent writer,
// an earlier attempt without its proof) carry no such argument and are each proven remotely.
// A failure is ValidationFailed (never retried: a version that does not work will not start working
// by asking again); a dependency that is down is not a verdict and propagates as itself, so the run
// resumes at the gate later.
import { DependencyUnavailableError, InvariantViolationError } from "../domain/errors";
import type { BranchKeys } from "./branchKeys";
import type { StoredBranchKey } from "./branchKeyStore";
import { forEachLimited, type Pacer } from "./pace";

/** Remote proofs per run when the caller names none. */
export const DEFAULT_PROOF_SAMPLE = 4;
/** The most a run spends on its sample (the budget: B + 10 remote unwraps). */
export const MAX_PROOF_SAMPLE = 10;

/** The sample size a run uses: the caller's, within 1..MAX_PROOF_SAMPLE. */
export function proofSampleSize(requested: number | undefined): number {
  const n = Math.floor(requested ?? DEFAULT_PROOF_SAMPLE);
  return Math.min(MAX_PROOF_SAMPLE, Math.max(1, Number.isFinite(n) ? n : DEFAULT_PROOF_SAMPLE));
}

/** `n` items spread evenly over `items` (all of them when there are no more than `n`). */
export function spreadSample<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)] as T);
}

interface Failure {
  branch: string;
  reason: string;
}

/** Opens each record (signature, remote unwrap under `kekVersion`, commitment), zeroes the key, and
 * throws ValidationFailed naming the first failure when any did not open. Returns how many it proved.
 * `keep` may take a proven key (returns true: it zeroes the key itself). */
export async function validateUnderKek(d: { keys: BranchKeys }, pacer: Pacer, records: readonly StoredBranchKey[], kekKeyId: string, kekVersion: string, concurrency = 16, keep?: (r: StoredBranchKey, key: Buffer) => boolean): Promise<number> {
  const failures: Failure[] = [];
  await forEachLimited([...records], concurrency, async (r) => {
    const branch = `${r.branchId}#${r.version}`;
    if (r.kekVersion !== kekVersion) {
      failures.push({ branch, reason: `wrapped under ${r.kekVersion}, not the new version` });
      return;
    }
    try {
      const key = await pacer.run(() => d.keys.open(r));
      // A caller that needs the key next (the emergency's re-wrap) takes it instead of opening again.
      if (!keep?.(r, key)) key.fill(0);
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
