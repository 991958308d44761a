// The rules of the key hierarchy (KEK → branch keys → DEKs), pure: which branch key a tenant
// belongs to, what a branch-key record's signature covers, what a DEK's wrap binds as associated
// data, and when a compromised KEK version may be revoked. No storage, no vault, no clock.
//
// Decisions (docs/key-hierarchy.md says why at length):
// - The signature covers the branch key's identity and a KEY COMMITMENT (HMAC-SHA256 of a fixed
//   label under the branch key), not the wrapped bytes. A KEK rotation re-wraps the branch key
//   under a new KEK version without a new signature (no remote sign per branch key), and a record
//   whose `wrapped` was replaced by a wrap of another key fails the commitment after unwrap.
// - A shared branch key signs its index and the count of shared branch keys (both inside its
//   branch id); the tenant's stored assignment must name the index sharedIndexFor(tenant, count)
//   gives. A dedicated branch key signs the tenant it belongs to. So a swapped assignment (to
//   another shared key, or to another tenant's dedicated key) is refused from signed data alone,
//   without signing each of millions of assignments.
import { createHash } from "node:crypto";
import { InvalidRequestError, InvariantViolationError } from "./errors";
import { keyCommitment, keyCommitmentMatches } from "./keyCommitment";

export const BRANCH_KEY_BYTES = 32;
export const DEFAULT_SHARED_BRANCHES = 256;
export const MAX_SHARED_BRANCHES = 65_536;
const COMMITMENT_LABEL = "keyrotor branch key commitment v1";

/** Where a tenant's DEKs live: one of N shared branch keys of the KEK, or a key of its own. */
export type BranchAssignment =
  | { kind: "shared"; index: number; count: number }
  | { kind: "dedicated"; tenant: string };

/** The index of a tenant's shared branch key among `count`: the first 4 bytes of SHA-256(tenant),
 * mod count. Stable (a tenant never moves unless its assignment row is rewritten) and even. */
export function sharedIndexFor(tenant: string, count: number): number {
  assertSharedCount(count);
  return createHash("sha256").update(tenant, "utf8").digest().readUInt32BE(0) % count;
}

export function assertSharedCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARED_BRANCHES) {
    throw new InvalidRequestError("BranchCountInvalid", `[keyrotor] [hierarchy] shared branch keys per KEK must be an integer 1-${MAX_SHARED_BRANCHES}, got ${count}`, { field: "branches" });
  }
}

/** The assignment a new tenant gets: dedicated when its policy asks for isolation, else its shared key. */
export function assignTenant(tenant: string, opts: { sharedBranches: number; isolated: boolean }): BranchAssignment {
  return opts.isolated ? { kind: "dedicated", tenant } : { kind: "shared", index: sharedIndexFor(tenant, opts.sharedBranches), count: opts.sharedBranches };
}

/** Branch ids are row-key safe and say what they are: `s256-00017` (shared key 17 of 256),
 * `d-<tenant>`. The id is persisted (RowKeys, signed records, DEK associated data), so this format
 * never changes. */
export function branchIdOf(a: BranchAssignment): string {
  return a.kind === "shared" ? `s${a.count}-${String(a.index).padStart(5, "0")}` : `d-${a.tenant}`;
}

export function assignmentOfBranchId(branchId: string): BranchAssignment {
  const shared = /^s([1-9][0-9]{0,4})-([0-9]{5})$/.exec(branchId);
  if (shared) {
    const count = Number(shared[1]);
    const index = Number(shared[2]);
    assertSharedCount(count);
    if (index >= count) throw new InvalidRequestError("BranchIdInvalid", `[keyrotor] [hierarchy] branch id ${branchId}: index ${index} is not below ${count}`, { field: "branchId" });
    return { kind: "shared", index, count };
  }
  const dedicated = /^d-([A-Za-z0-9-]{1,127})$/.exec(branchId);
  if (dedicated) return { kind: "dedicated", tenant: dedicated[1]! };
  throw new InvalidRequestError("BranchIdInvalid", `[keyrotor] [hierarchy] branch id "${branchId.slice(0, 80)}" is neither s<count>-<index> nor d-<tenant>`, { field: "branchId" });
}

/** The fields of a branch-key record the Key Vault signature covers (everything that must not
 * change for the record's life; `wrapped`, `kekVersion` and `state` change and are not covered). */
export interface BranchKeyIdentity {
  kekKeyId: string;
  branchId: string;
  version: number;
  /** base64url HMAC-SHA256(branch key, COMMITMENT_LABEL). */
  commitment: string;
  createdAt: string;
  /** The signing key (`signing:<vault>/<key>`) and its version: part of what is signed, so a
   * signature cannot be re-labelled as another key's. */
  signerKeyId: string;
  signerVersion: string;
}

/** Canonical bytes of the signed content: a JSON array in fixed order, with a format tag. */
export function signedContent(id: BranchKeyIdentity): Buffer {
  return Buffer.from(JSON.stringify(["keyrotor-branch-key-v1", id.kekKeyId, id.branchId, id.version, id.commitment, id.createdAt, id.signerKeyId, id.signerVersion]), "utf8");
}

export function commitmentOf(branchKey: Uint8Array): string {
  return keyCommitment(branchKey, COMMITMENT_LABEL);
}

/** Does the unwrapped key match the signed commitment? (constant time) */
export function commitmentMatches(branchKey: Uint8Array, commitment: string): boolean {
  return keyCommitmentMatches(branchKey, commitment, COMMITMENT_LABEL);
}

/** May `tenant` use the branch key `branchId` (from a signed record)? Refuses a swapped assignment:
 * a shared key other than the tenant's, another tenant's dedicated key, or a shared key for a
 * tenant that has a dedicated one (an isolation downgrade). */
export function checkTenantBranch(tenant: string, branchId: string, opts: { hasDedicated: boolean }): void {
  const a = assignmentOfBranchId(branchId);
  const refuse = (why: string) => new InvariantViolationError("BranchAssignmentForged", `[keyrotor] [hierarchy] tenant ${tenant} is assigned branch key ${branchId}, ${why}: the assignment row was altered; refusing to use it`);
  if (a.kind === "dedicated" && a.tenant !== tenant) throw refuse(`which is dedicated to tenant ${a.tenant}`);
  if (a.kind === "shared" && sharedIndexFor(tenant, a.count) !== a.index) throw refuse(`but the tenant's shared key of ${a.count} is ${sharedIndexFor(tenant, a.count)}`);
  if (a.kind === "shared" && opts.hasDedicated) throw refuse("a shared key, while the tenant has a dedicated one");
}

/** May keyrotor create the branch key `branchId` (it has no version yet) for `tenant`'s stored
 * assignment? Only the key the configuration assigns now: the tenant's shared key of the configured
 * count, or its dedicated key when isolation is asked. An assignment naming another count (kept
 * from a count configured earlier) or a dedicated key not asked for may only point at a key that
 * exists and is signed: were it created because a row says so, it would be signed and trusted, and
 * one edited row per tenant naming, say, `s1-00000` (which every tenant's index of 1 matches) would
 * pull every tenant onto one key. */
export function checkBranchCreatable(tenant: string, branchId: string, opts: { sharedBranches: number; isolated: boolean }): void {
  const shared = branchIdOf(assignTenant(tenant, { sharedBranches: opts.sharedBranches, isolated: false }));
  if (branchId === shared || (opts.isolated && branchId === branchIdOf({ kind: "dedicated", tenant }))) return;
  throw new InvariantViolationError("BranchAssignmentForged", `[keyrotor] [hierarchy] tenant ${tenant} is assigned branch key ${branchId}, which does not exist and is not the key this configuration assigns (${opts.isolated ? `d-${tenant}` : shared}): the assignment row was altered; refusing to create it`);
}

/** Associated data of a DEK wrapped under a branch key: the wrap cannot be moved to another
 * tenant, DEK version or branch key (id or version) without failing authentication. */
export function dekAad(b: { tenant: string; dekVersion: number; kekKeyId: string; branchId: string; branchVersion: number }): Buffer {
  return Buffer.from(JSON.stringify(["keyrotor-dek-v2", b.tenant, b.dekVersion, b.kekKeyId, b.branchId, b.branchVersion]), "utf8");
}

/** Row key of a branch-key version: zero-padded so versions list in order. */
export function branchRowKey(branchId: string, version: number): string {
  if (!Number.isInteger(version) || version < 1) throw new InvalidRequestError("BranchVersionInvalid", `[keyrotor] [hierarchy] branch key version must be a positive integer, got ${version}`, { field: "version" });
  return `${branchId}~v${String(version).padStart(8, "0")}`;
}

/** Whether a compromised KEK version may be revoked now: only when nothing references it, neither
 * a branch-key record wrapped under it nor a flat (format-1) DEK. */
export function kekRevokeDecision(refs: { branchKeys: number; flatDeks: number }): { revoke: true } | { revoke: false; reason: string } {
  if (refs.branchKeys === 0 && refs.flatDeks === 0) return { revoke: true };
  return { revoke: false, reason: `${refs.branchKeys} branch-key record(s) and ${refs.flatDeks} flat DEK(s) still reference it` };
}
