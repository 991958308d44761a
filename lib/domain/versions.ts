// The one rule book for a managed key's versions: a pure state machine that every activity and
// every inventory adapter goes through (in the spirit of tink-go's keyset.Manager: a small closed
// set of states, guards in one place, refusals that name the key, the version and the rule).
//
//   add       → primary (a key's first version) | secondary (enabled, not yet primary) |
//               retired / revoked (recording a version found disabled in the vault)
//   promote   secondary → primary; the old primary steps down to secondary, with `demotedAt`
//   demote    the named primary steps down in favour of a named successor (rollback's move)
//   retire    secondary → retired (disabled in the vault)
//   revoke    secondary | retired → revoked (compromised)
//
// Invariants, after every operation: versions are unique; a key with any version has exactly one
// primary and `primaryVersion` names it; revoked is final; a retired or revoked version never
// becomes primary or secondary again; the primary is never disabled (retired or revoked) — it
// steps down only when another version is promoted. A refusal throws VersionRuleError (an
// InvariantViolationError) and returns nothing: the caller's state is never modified in place.
import { InvariantViolationError } from "./errors";
import type { KeyVersion, VersionState } from "./keys";

/** The part of a managed key the rules read and write. */
export interface VersionedKey {
  keyId: string;
  primaryVersion?: string;
  versions: KeyVersion[];
}

export const VERSION_RULES = [
  "VersionNotFound", "VersionExists", "PrimaryExists", "NoPrimary", "PrimaryMismatch", "CannotPromote",
  "VersionRevoked", "VersionRetired", "DisablePrimary", "NotPrimary", "NoRollbackTarget", "VersionRemoved",
  "DemotionUndated",
] as const;
export type VersionRule = (typeof VERSION_RULES)[number];

/** A refused version operation. `code` is the rule, so callers and tests match on it. */
export class VersionRuleError extends InvariantViolationError {
  readonly keyId: string;
  readonly version: string | undefined;
  readonly rule: VersionRule;
  constructor(keyId: string, version: string | undefined, rule: VersionRule, message: string) {
    super(rule, `[keyrotor] [versions] ${keyId}${version !== undefined ? ` version ${version}` : ""}: ${rule}: ${message}`);
    this.keyId = keyId;
    this.version = version;
    this.rule = rule;
  }
}

const refuse = (key: VersionedKey, version: string | undefined, rule: VersionRule, message: string): VersionRuleError =>
  new VersionRuleError(key.keyId, version, rule, message);

const ms = (iso: string): number => Date.parse(iso);

function find(key: VersionedKey, version: string): KeyVersion {
  const v = key.versions.find((x) => x.version === version);
  if (!v) throw refuse(key, version, "VersionNotFound", "no such version");
  return v;
}

function primaryOf(key: VersionedKey): KeyVersion | undefined {
  return key.versions.find((v) => v.state === "primary");
}

/** The whole-state invariants. Every operation ends with it; adapters call it on every write. */
export function checkVersions(key: VersionedKey): void {
  const seen = new Set<string>();
  for (const v of key.versions) {
    if (seen.has(v.version)) throw refuse(key, v.version, "VersionExists", "the version is listed twice");
    seen.add(v.version);
  }
  const primaries = key.versions.filter((v) => v.state === "primary");
  if (primaries.length > 1) throw refuse(key, primaries[1]!.version, "PrimaryExists", `${primaries.map((v) => v.version).join(" and ")} are both primary; a key has exactly one primary`);
  const primary = primaries[0];
  if (key.versions.length > 0 && !primary) throw refuse(key, undefined, "NoPrimary", "a key with versions has exactly one primary; none is");
  if (key.primaryVersion !== primary?.version) {
    throw refuse(key, key.primaryVersion ?? primary?.version, "PrimaryMismatch", `primaryVersion is ${key.primaryVersion ?? "unset"} but the version in state primary is ${primary?.version ?? "none"}`);
  }
}

function withVersions<K extends VersionedKey>(key: K, versions: KeyVersion[], primaryVersion: string | undefined): K {
  const { primaryVersion: _old, ...rest } = key;
  const next = { ...rest, versions, ...(primaryVersion !== undefined ? { primaryVersion } : {}) } as K;
  checkVersions(next);
  return next;
}

/** Adds a new version. The first version of a key is its primary; later ones are added as
 * secondary and become primary only by `promote` (two steps, as tink's Add then SetPrimary), or
 * as retired/revoked to record a version found disabled in the vault. Repeating the same addition
 * (same createdAt and rotationId) returns the key unchanged. */
export function add<K extends VersionedKey>(key: K, version: KeyVersion): K {
  const existing = key.versions.find((v) => v.version === version.version);
  if (existing) {
    if (existing.createdAt === version.createdAt && existing.rotationId === version.rotationId) return key;
    throw refuse(key, version.version, "VersionExists", `a different version ${version.version} is already recorded (created ${existing.createdAt})`);
  }
  const current = primaryOf(key);
  if (version.state === "primary" && current) {
    throw refuse(key, version.version, "PrimaryExists", `cannot add it as primary: ${current.version} is primary; add it as secondary and promote it`);
  }
  if (version.state !== "primary" && !current) {
    throw refuse(key, version.version, "NoPrimary", `the key has no primary yet, so its first version must be added as primary, not ${version.state}`);
  }
  const { demotedAt: _never, ...fresh } = version;
  return withVersions(key, [...key.versions, fresh], version.state === "primary" ? version.version : key.primaryVersion);
}

/** Makes a secondary version primary; the old primary becomes secondary and records `at` as its
 * demotion time (retirement and retainFor count from it). Promoting the primary changes nothing.
 * Never promotes a retired or revoked version. */
export function promote<K extends VersionedKey>(key: K, version: string, at: string): K {
  const target = find(key, version);
  if (target.state === "primary") return key;
  if (target.state !== "secondary") throw refuse(key, version, "CannotPromote", `it is ${target.state}; only a secondary version can become primary`);
  if (Number.isNaN(ms(at))) throw new RangeError(`[keyrotor] [versions] promote of ${key.keyId} needs an ISO instant, got "${at}"`);
  const versions = key.versions.map((v): KeyVersion => {
    if (v.version === version) {
      const { demotedAt: _d, ...rest } = v;
      return { ...rest, state: "primary" };
    }
    if (v.state === "primary") return { ...v, state: "secondary", demotedAt: at };
    return { ...v };
  });
  return withVersions(key, versions, version);
}

/** The primary `version` steps down in favour of `successor` (which must be secondary): a
 * compare-and-swap on the primary pointer, so a demotion based on a stale read is refused rather
 * than demoting whatever is primary now. Repeating a completed demotion changes nothing. */
export function demote<K extends VersionedKey>(key: K, version: string, successor: string, at: string): K {
  const self = find(key, version);
  const next = find(key, successor);
  if (self.state !== "primary") {
    if (next.state === "primary" && self.state === "secondary") return key;
    throw refuse(key, version, "NotPrimary", `it is ${self.state}, not the primary; ${key.primaryVersion ?? "no version"} is`);
  }
  if (successor === version) throw refuse(key, version, "NotPrimary", "a primary cannot step down in its own favour");
  return promote(key, successor, at);
}

function disable<K extends VersionedKey>(key: K, version: string, state: "retired" | "revoked"): K {
  const target = find(key, version);
  if (target.state === state) return key;
  if (target.state === "primary") throw refuse(key, version, "DisablePrimary", `cannot make the primary ${state}; promote another version first`);
  if (target.state === "revoked") throw refuse(key, version, "VersionRevoked", `it is revoked, and revoked is final (cannot become ${state})`);
  return withVersions(key, key.versions.map((v) => (v.version === version ? { ...v, state } : { ...v })), key.primaryVersion);
}

/** secondary → retired (no references left; disabled in the vault). Never the primary. */
export function retire<K extends VersionedKey>(key: K, version: string): K {
  return disable(key, version, "retired");
}

/** secondary | retired → revoked (compromised). Never the primary; final. */
export function revoke<K extends VersionedKey>(key: K, version: string): K {
  return disable(key, version, "revoked");
}

/** The version a rollback re-promotes. With `replaced` (the version the rolled-back rotation
 * demoted, read from that rotation's own record) exactly that one, and only while it is
 * secondary; without it, the version demoted last (legacy rows without demotedAt: the newest
 * secondary created before the primary). */
export function rollbackTarget(key: VersionedKey, opts: { replaced?: string } = {}): KeyVersion {
  const primary = primaryOf(key);
  if (!primary) throw refuse(key, opts.replaced, "NoRollbackTarget", "the key has no primary to roll back");
  if (opts.replaced !== undefined) {
    const v = find(key, opts.replaced);
    if (v.state === "primary") return v;
    if (v.state !== "secondary") throw refuse(key, v.version, "CannotPromote", `it is ${v.state}; a rollback never re-promotes a retired or revoked version`);
    return v;
  }
  const target = findRollbackTarget(key);
  if (!target) throw refuse(key, undefined, "NoRollbackTarget", `no secondary version that ${primary.version} replaced`);
  return target;
}

/** rollbackTarget without a named version, as a lookup: undefined when there is none. */
export function findRollbackTarget(key: Pick<VersionedKey, "versions">): KeyVersion | undefined {
  const primary = primaryOf(key as VersionedKey);
  if (!primary) return undefined;
  const secondaries = key.versions.filter((v) => v.state === "secondary");
  const demoted = secondaries.filter((v) => v.demotedAt !== undefined).sort((a, b) => ms(b.demotedAt!) - ms(a.demotedAt!));
  if (demoted[0]) return demoted[0];
  return secondaries
    .filter((v) => ms(v.createdAt) <= ms(primary.createdAt))
    .sort((a, b) => ms(b.createdAt) - ms(a.createdAt))[0];
}

/** When a secondary stopped being in use: its demotion; for a version without one (never primary,
 * or a row written before demotions were recorded) the creation of the next newer version. */
export function supersededAt(versions: readonly KeyVersion[], version: KeyVersion): string | undefined {
  if (version.demotedAt !== undefined) return version.demotedAt;
  return versions
    .filter((v) => v.version !== version.version && ms(v.createdAt) > ms(version.createdAt))
    .sort((a, b) => ms(a.createdAt) - ms(b.createdAt))[0]?.createdAt;
}

/** Secondary versions out of use for at least `waitMs` (overlap, or retainFor for signing keys),
 * oldest first. Counted from demotion, not from a successor's creation: a version that was
 * primary again after a rollback gets its whole overlap after its later demotion. Reference
 * counts are checked separately, by the caller. */
export function retirementCandidates(versions: readonly KeyVersion[], now: string, waitMs: number): KeyVersion[] {
  return [...versions]
    .sort((a, b) => ms(a.createdAt) - ms(b.createdAt))
    .filter((v) => {
      if (v.state !== "secondary") return false;
      const since = supersededAt(versions, v);
      return since !== undefined && ms(now) - ms(since) >= waitMs;
    });
}

/** States a version may reach from `from` by some sequence of operations. */
const REACHABLE: Record<VersionState, readonly VersionState[]> = {
  primary: ["primary", "secondary", "retired", "revoked"],
  secondary: ["primary", "secondary", "retired", "revoked"],
  retired: ["retired", "revoked"],
  revoked: ["revoked"],
};

/** Refuses a stored row replaced by one no sequence of operations leads to: a version dropped, a
 * revoked or retired version back in use, or a primary that stepped down without its demotion
 * time. Adapters call it on every replace, so a caller that builds the next row by hand is held
 * to the same rules as one that uses the operations above. */
export function checkTransition(before: VersionedKey, after: VersionedKey): void {
  checkVersions(after);
  for (const b of before.versions) {
    const a = after.versions.find((v) => v.version === b.version);
    if (!a) throw refuse(after, b.version, "VersionRemoved", `the version (${b.state}) is gone from the new row; versions are never dropped`);
    if (!REACHABLE[b.state].includes(a.state)) {
      throw refuse(after, b.version, b.state === "revoked" ? "VersionRevoked" : "VersionRetired", `it cannot go from ${b.state} to ${a.state}`);
    }
    if (b.state === "primary" && a.state === "secondary" && a.demotedAt === undefined) {
      throw refuse(after, b.version, "DemotionUndated", "the old primary stepped down without demotedAt");
    }
  }
}

/** A tenant's DEKs seen as the versions of managed key `dek:<tenant>`, so the DEK stores decide
 * every state change with the same operations as the inventory (rows carry no demotedAt; the
 * operations add it to the view, and the adapters write back only the states). */
export function dekVersionView(tenant: string, rows: readonly Pick<KeyVersion, "version" | "state" | "createdAt">[]): VersionedKey {
  const versions = rows.map((r): KeyVersion => ({ version: r.version, state: r.state, createdAt: r.createdAt }));
  const primary = versions.find((v) => v.state === "primary");
  return { keyId: `dek:${tenant}`, ...(primary ? { primaryVersion: primary.version } : {}), versions };
}

/** The states `after` gives versions of `before` (new versions included), once the step is proven
 * allowed by checkTransition: what a DEK adapter writes, nothing else. */
export function stateChanges(before: VersionedKey, after: VersionedKey): Map<string, VersionState> {
  checkTransition(before, after);
  const changes = new Map<string, VersionState>();
  for (const a of after.versions) {
    if (before.versions.find((b) => b.version === a.version)?.state !== a.state) changes.set(a.version, a.state);
  }
  return changes;
}

/** A version's state set by hand (a store's setState): retire and revoke through their
 * operations, any other state only if the rules allow the resulting row. */
export function setVersionState<K extends VersionedKey>(key: K, version: string, state: VersionState): K {
  const current = find(key, version);
  if (current.state === state) return key;
  if (state === "retired") return retire(key, version);
  if (state === "revoked") return revoke(key, version);
  const after = { ...key, versions: key.versions.map((v) => (v.version === version ? { ...v, state } : { ...v })) };
  checkTransition(key, after);
  return after;
}
