// Branch keys: create (local generate + local wrap under the KEK version + ONE remote sign), open
// (local verify of the signature FIRST, then one remote unwrap, then the key commitment), and the
// tenant → branch key resolution that refuses forged assignments.
import { randomBytes } from "node:crypto";
import {
  assignTenant, BRANCH_KEY_BYTES, branchIdOf, checkBranchCreatable, checkTenantBranch, commitmentMatches, commitmentOf, DEFAULT_SHARED_BRANCHES,
} from "../domain/branchKeys";
import { InvariantViolationError } from "../domain/errors";
import type { KekPort } from "../envelope/kek";
import type { BranchKeyStore, StoredBranchKey } from "./branchKeyStore";
import { BRANCH_RECORD_FORMAT, type BranchState } from "./records";
import { signIdentity, verifyRecord, type BranchSigner } from "./signer";

export interface BranchKeysOptions {
  /** Shared branch keys per KEK for tenants created from now on (stored assignments keep theirs). */
  sharedBranches?: number;
  now?: () => Date;
}

/** Counters of remote calls, for benches and tests. */
export interface RemoteCounts {
  unwraps: number;
  signs: number;
}

export class BranchKeys {
  readonly sharedBranches: number;
  readonly remote: RemoteCounts = { unwraps: 0, signs: 0 };
  private readonly now: () => Date;

  constructor(readonly store: BranchKeyStore, private readonly kek: KekPort, readonly signer: BranchSigner, opts: BranchKeysOptions = {}) {
    this.sharedBranches = opts.sharedBranches ?? DEFAULT_SHARED_BRANCHES;
    this.now = opts.now ?? (() => new Date());
  }

  /** Creates version `version` of `branchId` under kekKeyId#kekVersion. Idempotent: when that
   * version exists already, the stored record is returned without the key (open it). The plaintext
   * is returned to the caller, who zeroes it when done. */
  async create(spec: { kekKeyId: string; kekVersion: string; branchId: string; version: number; state: BranchState }): Promise<{ record: StoredBranchKey; key?: Buffer }> {
    const existing = await this.store.get(spec.kekKeyId, spec.branchId, spec.version);
    if (existing) return { record: existing };
    const key = randomBytes(BRANCH_KEY_BYTES);
    try {
      // The local wrap first: it may have to fetch the KEK version's public key, and a fetch that
      // fails (a 429) must not have cost a remote sign the retry then spends again.
      const wrapped = (await this.kek.wrap(spec.kekKeyId, spec.kekVersion, key, "RSA-OAEP-256")).toString("base64url");
      const { identity, signature } = await signIdentity(this.signer, {
        kekKeyId: spec.kekKeyId, branchId: spec.branchId, version: spec.version, commitment: commitmentOf(key), createdAt: this.now().toISOString(),
      });
      this.remote.signs++;
      const { record, created } = await this.store.create({
        ...identity, format: BRANCH_RECORD_FORMAT, kekVersion: spec.kekVersion, alg: "RSA-OAEP-256", wrapped, signatureAlg: "PS256", signature, state: spec.state,
      });
      if (!created) {
        key.fill(0);
        return { record };
      }
      return { record, key };
    } catch (err) {
      key.fill(0);
      throw err;
    }
  }

  /** The plaintext of a stored version: the signature is verified locally before the key is ever
   * unwrapped, and the unwrapped key must match the signed commitment. */
  async open(r: StoredBranchKey): Promise<Buffer> {
    await verifyRecord(this.signer, r);
    this.remote.unwraps++;
    const key = await this.kek.unwrap(r.kekKeyId, r.kekVersion, Buffer.from(r.wrapped, "base64url"), r.alg);
    if (key.length !== BRANCH_KEY_BYTES || !commitmentMatches(key, r.commitment)) {
      key.fill(0);
      throw new InvariantViolationError("BranchKeyCommitmentMismatch", `[keyrotor] [hierarchy] branch key ${r.branchId}#${r.version}: the wrapped key is not the signed one (its wrap was replaced); refusing it`);
    }
    return key;
  }

  /** The version new DEKs go under: the newest version in state primary. */
  async current(kekKeyId: string, branchId: string): Promise<StoredBranchKey | undefined> {
    const versions = await this.store.versions(kekKeyId, branchId);
    return versions.filter((v) => v.state === "primary").sort((a, b) => b.version - a.version)[0];
  }

  /** The branch key a tenant's new DEK goes under: its stored assignment (made now if it has none),
   * checked against the signed branch ids, and that branch key's current version (version 1 made
   * now, under `kekVersion`, if the branch key does not exist yet and is the one this configuration
   * assigns: see checkBranchCreatable). */
  async forTenant(kekKeyId: string, kekVersion: string, tenant: string, opts: { isolated?: boolean } = {}): Promise<{ record: StoredBranchKey; key?: Buffer }> {
    const wanted = branchIdOf(assignTenant(tenant, { sharedBranches: this.sharedBranches, isolated: opts.isolated ?? false }));
    const stored = (await this.store.assignment(kekKeyId, tenant)) ?? (await this.store.assign({ tenant, kekKeyId, branchId: wanted }));
    const hasDedicated = stored.branchId === `d-${tenant}` || (await this.store.versions(kekKeyId, `d-${tenant}`)).length > 0;
    checkTenantBranch(tenant, stored.branchId, { hasDedicated });
    const current = await this.current(kekKeyId, stored.branchId);
    if (current) return { record: current };
    checkBranchCreatable(tenant, stored.branchId, { sharedBranches: this.sharedBranches, isolated: opts.isolated ?? false });
    return this.create({ kekKeyId, kekVersion, branchId: stored.branchId, version: 1, state: "primary" });
  }
}
