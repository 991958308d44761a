import { describe, expect, it } from "vitest";
import { InvariantViolationError } from "../../../lib/domain/errors";
import type { KeyVersion } from "../../../lib/domain/keys";
import {
  add, checkTransition, checkVersions, demote, findRollbackTarget, promote, retire, retirementCandidates, revoke, rollbackTarget,
  VersionRuleError, type VersionedKey,
} from "../../../lib/domain/versions";

const ID = "kek:vault1/tenant-kek";
const T = (day: number) => new Date(Date.UTC(2026, 0, day)).toISOString();
const v = (version: string, state: KeyVersion["state"], day: number, extra: Partial<KeyVersion> = {}): KeyVersion => ({ version, state, createdAt: T(day), ...extra });
const key = (...versions: KeyVersion[]): VersionedKey => {
  const primary = versions.find((x) => x.state === "primary")?.version;
  return { keyId: ID, versions, ...(primary ? { primaryVersion: primary } : {}) };
};
/** a1 primary, a2 secondary, r retired, x revoked. */
const sample = () => key(v("a1", "primary", 1), v("a2", "secondary", 2), v("r", "retired", 0), v("x", "revoked", 0));

/** The refusal, checked to name the key, the version and the rule, and to leave `k` as it was. */
function refusal(k: VersionedKey, op: (k: VersionedKey) => unknown): VersionRuleError {
  const before = structuredClone(k);
  let thrown: unknown;
  try {
    op(k);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(InvariantViolationError);
  expect(thrown).toBeInstanceOf(VersionRuleError);
  const e = thrown as VersionRuleError;
  expect(e.keyId).toBe(ID);
  expect(e.code).toBe(e.rule);
  expect(e.message).toContain(ID);
  expect(e.message).toContain(e.rule);
  if (e.version !== undefined) expect(e.message).toContain(e.version);
  expect(k).toEqual(before);
  return e;
}

describe("add", () => {
  it("makes a key's first version its primary", () => {
    expect(add({ keyId: ID, versions: [] }, v("a1", "primary", 1))).toEqual(key(v("a1", "primary", 1)));
  });
  it("adds a later version as secondary: a new version is not primary the instant it exists", () => {
    const k = add(key(v("a1", "primary", 1)), v("a2", "secondary", 2));
    expect(k.primaryVersion).toBe("a1");
    expect(k.versions.map((x) => x.state)).toEqual(["primary", "secondary"]);
  });
  it("repeating the same addition returns the key unchanged", () => {
    const k = add(key(v("a1", "primary", 1)), v("a2", "secondary", 2, { rotationId: "r@1" }));
    expect(add(k, v("a2", "secondary", 2, { rotationId: "r@1" }))).toBe(k);
  });
  it("refuses a second primary (PrimaryExists)", () => {
    expect(refusal(key(v("a1", "primary", 1)), (k) => add(k, v("a2", "primary", 2)))).toMatchObject({ rule: "PrimaryExists", version: "a2" });
  });
  it("refuses a different version under an existing id (VersionExists)", () => {
    expect(refusal(key(v("a1", "primary", 1)), (k) => add(k, v("a1", "secondary", 5)))).toMatchObject({ rule: "VersionExists", version: "a1" });
  });
  it("refuses a non-primary first version: a key with versions has exactly one primary (NoPrimary)", () => {
    expect(refusal({ keyId: ID, versions: [] }, (k) => add(k, v("a1", "secondary", 1)))).toMatchObject({ rule: "NoPrimary" });
  });
  it("never carries a demotion time into a new version", () => {
    expect(add(key(v("a1", "primary", 1)), v("a2", "secondary", 2, { demotedAt: T(3) })).versions[1]).not.toHaveProperty("demotedAt");
  });
});

describe("promote", () => {
  it("makes a secondary primary; the old primary becomes secondary with its demotion time", () => {
    const k = promote(sample(), "a2", T(10));
    expect(k.primaryVersion).toBe("a2");
    expect(k.versions.find((x) => x.version === "a1")).toMatchObject({ state: "secondary", demotedAt: T(10) });
    expect(k.versions.find((x) => x.version === "a2")).toMatchObject({ state: "primary" });
  });
  it("clears the demotion time of a version promoted again", () => {
    const k = promote(promote(sample(), "a2", T(10)), "a1", T(11));
    expect(k.versions.find((x) => x.version === "a1")).not.toHaveProperty("demotedAt");
    expect(k.versions.find((x) => x.version === "a2")).toMatchObject({ demotedAt: T(11) });
  });
  it("promoting the primary changes nothing", () => {
    const k = sample();
    expect(promote(k, "a1", T(10))).toBe(k);
  });
  it("never promotes a retired version (CannotPromote)", () => {
    expect(refusal(sample(), (k) => promote(k, "r", T(10)))).toMatchObject({ rule: "CannotPromote", version: "r" });
  });
  it("never promotes a revoked version (CannotPromote)", () => {
    expect(refusal(sample(), (k) => promote(k, "x", T(10)))).toMatchObject({ rule: "CannotPromote", version: "x" });
  });
  it("refuses an unknown version (VersionNotFound)", () => {
    expect(refusal(sample(), (k) => promote(k, "zz", T(10)))).toMatchObject({ rule: "VersionNotFound", version: "zz" });
  });
});

describe("demote", () => {
  it("the named primary steps down in favour of its successor, and a repeat changes nothing", () => {
    const k = demote(sample(), "a1", "a2", T(10));
    expect(k.primaryVersion).toBe("a2");
    expect(demote(k, "a1", "a2", T(11))).toBe(k);
  });
  it("refuses to demote a version that is not the primary (NotPrimary): a stale read demotes nothing", () => {
    const k = promote(key(v("a1", "primary", 1), v("a2", "secondary", 2), v("a3", "secondary", 3)), "a2", T(10));
    expect(refusal(k, (s) => demote(s, "a1", "a3", T(11)))).toMatchObject({ rule: "NotPrimary", version: "a1" });
  });
  it("refuses a primary stepping down in its own favour (NotPrimary)", () => {
    expect(refusal(sample(), (k) => demote(k, "a1", "a1", T(10)))).toMatchObject({ rule: "NotPrimary" });
  });
  it("refuses a revoked successor (CannotPromote)", () => {
    expect(refusal(sample(), (k) => demote(k, "a1", "x", T(10)))).toMatchObject({ rule: "CannotPromote", version: "x" });
  });
});

describe("retire and revoke", () => {
  it("retire: secondary → retired; repeating changes nothing", () => {
    const k = retire(sample(), "a2");
    expect(k.versions.find((x) => x.version === "a2")?.state).toBe("retired");
    expect(retire(k, "a2")).toBe(k);
  });
  it("revoke: secondary or retired → revoked; repeating changes nothing", () => {
    const k = revoke(revoke(sample(), "a2"), "r");
    expect(k.versions.filter((x) => x.state === "revoked").map((x) => x.version).sort()).toEqual(["a2", "r", "x"]);
    expect(revoke(k, "a2")).toBe(k);
  });
  it("never retires the primary (DisablePrimary)", () => {
    expect(refusal(sample(), (k) => retire(k, "a1"))).toMatchObject({ rule: "DisablePrimary", version: "a1" });
  });
  it("never revokes the primary (DisablePrimary)", () => {
    expect(refusal(sample(), (k) => revoke(k, "a1"))).toMatchObject({ rule: "DisablePrimary", version: "a1" });
  });
  it("revoked is final: a revoked version is never retired (VersionRevoked)", () => {
    expect(refusal(sample(), (k) => retire(k, "x"))).toMatchObject({ rule: "VersionRevoked", version: "x" });
  });
  it("refuses an unknown version (VersionNotFound)", () => {
    expect(refusal(sample(), (k) => revoke(k, "zz"))).toMatchObject({ rule: "VersionNotFound" });
  });
});

describe("rollback target", () => {
  it("is the version the primary's promotion demoted, even when a newer-created secondary exists", () => {
    // a2 made primary, rolled back to a1 (a2 demoted), then a3 made primary: the rollback target is a1.
    let k = key(v("a1", "primary", 1));
    k = promote(add(k, v("a2", "secondary", 2)), "a2", T(2));
    k = demote(k, "a2", "a1", T(3));
    k = promote(add(k, v("a3", "secondary", 50)), "a3", T(50));
    expect(rollbackTarget(k).version).toBe("a1");
    expect(findRollbackTarget(k)?.version).toBe("a1");
  });
  it("with the replaced version named, is exactly that one while it is secondary", () => {
    expect(rollbackTarget(sample(), { replaced: "a2" }).version).toBe("a2");
  });
  it("never a revoked or retired version (CannotPromote)", () => {
    expect(refusal(sample(), (k) => rollbackTarget(k, { replaced: "x" }))).toMatchObject({ rule: "CannotPromote", version: "x" });
    expect(refusal(sample(), (k) => rollbackTarget(k, { replaced: "r" }))).toMatchObject({ rule: "CannotPromote", version: "r" });
  });
  it("refuses when there is nothing to roll back to (NoRollbackTarget)", () => {
    expect(refusal(key(v("a1", "primary", 1)), (k) => rollbackTarget(k))).toMatchObject({ rule: "NoRollbackTarget" });
    expect(refusal({ keyId: ID, versions: [] }, (k) => rollbackTarget(k))).toMatchObject({ rule: "NoRollbackTarget" });
  });
  it("legacy rows without demotedAt: the newest secondary created before the primary", () => {
    expect(findRollbackTarget(key(v("a1", "secondary", 1), v("a2", "secondary", 2), v("a3", "primary", 3)))?.version).toBe("a2");
  });
});

describe("retirement candidates", () => {
  const DAY = 86_400_000;
  it("count from demotion: a version demoted an hour ago is not a candidate, whatever its successor's age", () => {
    const versions = [v("a1", "secondary", 1, { demotedAt: T(60) }), v("a2", "secondary", 2, { demotedAt: T(3) }), v("a3", "primary", 60)];
    expect(retirementCandidates(versions, new Date(Date.parse(T(60)) + 3_600_000).toISOString(), 30 * DAY).map((x) => x.version)).toEqual(["a2"]);
    expect(retirementCandidates(versions, T(90), 30 * DAY).map((x) => x.version)).toEqual(["a1", "a2"]);
  });
  it("without a demotion time, count from the next newer version's creation (legacy rows, never-promoted versions)", () => {
    const versions = [v("a1", "secondary", 1), v("a2", "primary", 10)];
    expect(retirementCandidates(versions, T(39), 30 * DAY)).toEqual([]);
    expect(retirementCandidates(versions, T(40), 30 * DAY).map((x) => x.version)).toEqual(["a1"]);
  });
  it("only secondaries", () => {
    expect(retirementCandidates(sample().versions, T(400), 0).map((x) => x.version)).toEqual([]);
    expect(retirementCandidates(promote(sample(), "a2", T(10)).versions, T(400), 0).map((x) => x.version)).toEqual(["a1"]);
  });
});

describe("checkVersions and checkTransition (what adapters call on every write)", () => {
  it("refuse two primaries, none at all, a pointer that disagrees, a repeated version", () => {
    expect(refusal(key(v("a1", "primary", 1), v("a2", "primary", 2)), checkVersions)).toMatchObject({ rule: "PrimaryExists" });
    expect(refusal(key(v("a1", "secondary", 1)), checkVersions)).toMatchObject({ rule: "NoPrimary" });
    expect(refusal({ ...sample(), primaryVersion: "a2" }, checkVersions)).toMatchObject({ rule: "PrimaryMismatch" });
    expect(refusal(key(v("a1", "primary", 1), v("a1", "secondary", 1)), checkVersions)).toMatchObject({ rule: "VersionExists" });
  });
  it("accept every state the operations reach", () => {
    const before = sample();
    expect(() => checkTransition(before, revoke(promote(before, "a2", T(10)), "a1"))).not.toThrow();
  });
  it("refuse a revoked version back in use, a retired one back to secondary, a dropped version, an undated demotion", () => {
    const before = sample();
    const set = (state: Record<string, KeyVersion["state"]>, extra: Partial<KeyVersion> = {}) =>
      key(...before.versions.map((x) => ({ ...x, ...extra, state: state[x.version] ?? x.state })));
    expect(refusal(before, (b) => checkTransition(b, set({ x: "primary", a1: "secondary" }, { demotedAt: T(9) })))).toMatchObject({ rule: "VersionRevoked", version: "x" });
    expect(refusal(before, (b) => checkTransition(b, set({ r: "secondary" })))).toMatchObject({ rule: "VersionRetired", version: "r" });
    expect(refusal(before, (b) => checkTransition(b, { ...b, versions: b.versions.filter((x) => x.version !== "x") }))).toMatchObject({ rule: "VersionRemoved", version: "x" });
    expect(refusal(before, (b) => checkTransition(b, set({ a1: "secondary", a2: "primary" })))).toMatchObject({ rule: "DemotionUndated", version: "a1" });
  });
});
