import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  chunk, durationMs, fenceAdmits, fenceClaim, forceRelease, lockEntityKey, promote, release, renew, retirementCandidates, retryDelayMs, revokeDecision, rollbackTarget,
  tryAcquire, withinRollbackWindow, type LockState,
} from "../../../lib/domain/rotation";
import type { KeyVersion } from "../../../lib/domain/keys";

const at = (h: number): string => new Date(Date.UTC(2026, 0, 1, h)).toISOString();

describe("lease lock", () => {
  it("grants a free lock and refuses another owner while the lease is live, naming the holder", () => {
    const a = tryAcquire({}, { owner: "r1", now: at(0), leaseUntil: at(1) });
    expect(a.result).toMatchObject({ granted: true });
    const b = tryAcquire(a.state, { owner: "r2", now: at(0), leaseUntil: at(1) });
    expect(b.result).toEqual({ granted: false, heldBy: { owner: "r1", since: at(0), leaseUntil: at(1), token: 1 } });
    expect(b.state).toBe(a.state);
  });

  it("is re-entrant for its owner, keeping the original since and fencing out the earlier grant", () => {
    const a = tryAcquire({}, { owner: "r1", now: at(0), leaseUntil: at(1) });
    const again = tryAcquire(a.state, { owner: "r1", now: at(0), leaseUntil: at(2) });
    expect(again.result).toEqual({ granted: true, lease: { owner: "r1", since: at(0), leaseUntil: at(2), token: 2 } });
    expect(renew(again.state, { owner: "r1", token: 1, now: at(0), leaseUntil: at(3) }).renewed).toBe(false);
    expect(release(again.state, { owner: "r1", token: 1 }).released).toBe(false);
    expect(release(again.state, { owner: "r1", token: 2 }).released).toBe(true);
  });

  it("lets a new owner take over an expired lease and reports whom it broke", () => {
    const a = tryAcquire({}, { owner: "dead", now: at(0), leaseUntil: at(1) });
    const b = tryAcquire(a.state, { owner: "r2", now: at(2), leaseUntil: at(3) });
    expect(b.result).toMatchObject({ granted: true, brokenFrom: { owner: "dead", leaseUntil: at(1) } });
  });

  it("releases only for its owner", () => {
    const held = tryAcquire({}, { owner: "r1", now: at(0), leaseUntil: at(1) }).state;
    expect(release(held, "r2")).toEqual({ state: held, released: false });
    expect(release(held, "r1")).toEqual({ state: { fence: 1 }, released: true });
    expect(release({}, "r1").released).toBe(false);
  });

  it("renews only the owner's lease; a taken-over lease tells the old owner who holds it", () => {
    const held = tryAcquire({}, { owner: "r1", now: at(0), leaseUntil: at(1) }).state;
    expect(renew(held, { owner: "r1", now: at(0), leaseUntil: at(5) }).state.holder?.leaseUntil).toBe(at(5));
    const taken = tryAcquire(held, { owner: "r2", now: at(2), leaseUntil: at(3) }).state;
    expect(renew(taken, { owner: "r1", now: at(2), leaseUntil: at(6) })).toMatchObject({ renewed: false, heldBy: { owner: "r2" } });
  });

  it("never grants two live owners at once, whatever the order of requests (property)", () => {
    const req = fc.record({ owner: fc.constantFrom("a", "b", "c"), start: fc.integer({ min: 0, max: 20 }), len: fc.integer({ min: 1, max: 5 }), op: fc.constantFrom("acquire", "release") });
    fc.assert(fc.property(fc.array(req, { maxLength: 40 }), (reqs) => {
      let state: LockState = {};
      let now = 0;
      for (const r of reqs) {
        now = Math.max(now, r.start);
        if (r.op === "release") state = release(state, r.owner).state;
        else {
          const before = state.holder;
          const res = tryAcquire(state, { owner: r.owner, now: at(now), leaseUntil: at(now + r.len) });
          if (res.result.granted && before && before.owner !== r.owner) expect(Date.parse(before.leaseUntil)).toBeLessThanOrEqual(Date.parse(at(now)));
          state = res.state;
        }
      }
    }));
  });

  it("gives every grant a fencing token greater than any before it, across acquire, renew, release, expiry and hand-breaks (property)", () => {
    const op = fc.record({
      owner: fc.constantFrom("a", "b", "c"), step: fc.integer({ min: 0, max: 3 }), len: fc.integer({ min: 1, max: 5 }),
      op: fc.constantFrom("acquire", "acquire", "release", "renew", "forceRelease"), stale: fc.boolean(),
      floor: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      let state: LockState = {};
      let now = 0;
      let last = 0;
      const granted = new Map<string, number>();
      for (const o of ops) {
        now += o.step;
        const req = { owner: o.owner, now: at(now), leaseUntil: at(now + o.len), ...(o.floor !== undefined ? { floor: o.floor } : {}) };
        const token = o.stale ? (granted.get(o.owner) ?? 0) - 1 : granted.get(o.owner);
        if (o.op === "acquire") {
          const r = tryAcquire(state, req);
          if (r.result.granted) {
            expect(r.result.lease.token).toBeGreaterThan(Math.max(last, o.floor ?? 0));
            last = r.result.lease.token!;
            granted.set(o.owner, last);
          } else expect(r.state).toBe(state);
          state = r.state;
        } else if (o.op === "release") state = release(state, { owner: o.owner, ...(token !== undefined ? { token } : {}) }).state;
        else if (o.op === "renew") state = renew(state, { ...req, ...(token !== undefined ? { token } : {}) }).state;
        else state = forceRelease(state, o.owner).state;
        // The last token is never forgotten, and a holder always holds the last grant.
        expect(state.fence ?? 0).toBe(last);
        if (state.holder) expect(state.holder.token).toBe(last);
      }
    }));
  });

  it("starts a lock that lost its count above the highest token recorded elsewhere", () => {
    const fresh = tryAcquire({}, { owner: "a", now: at(0), leaseUntil: at(1), floor: 41 });
    expect(fresh.result).toMatchObject({ granted: true, lease: { token: 42 } });
    expect(tryAcquire(fresh.state, { owner: "b", now: at(2), leaseUntil: at(3), floor: 7 }).result).toMatchObject({ granted: true, lease: { token: 43 } });
  });

  it("records a newer grant's fence, keeps the same grant's, refuses an older or conflicting one, and admits only the recorded grant", () => {
    expect(fenceClaim(undefined, { owner: "a", token: 1 })).toBe("write");
    expect(fenceClaim({ owner: "a", token: 1 }, { owner: "b", token: 2 })).toBe("write");
    expect(fenceClaim({ owner: "a", token: 2 }, { owner: "a", token: 2 })).toBe("recorded");
    expect(fenceClaim({ owner: "b", token: 3 }, { owner: "a", token: 2 })).toBe("superseded");
    expect(fenceClaim({ owner: "b", token: 2 }, { owner: "a", token: 2 })).toBe("superseded");
    expect(fenceAdmits({ owner: "a", token: 2 }, { owner: "a", token: 2 })).toBe(true);
    expect(fenceAdmits({ owner: "b", token: 3 }, { owner: "a", token: 2 })).toBe(false);
    expect(fenceAdmits(undefined, { owner: "a", token: 2 })).toBe(false);
  });

  it("escapes / in entity keys as _2F (no '%': the key needs no URL encoding)", () => {
    expect(lockEntityKey("kek:demo-vault/tenant-kek")).toBe("kek:demo-vault_2Ftenant-kek");
  });
});

describe("versions", () => {
  const v = (version: string, state: KeyVersion["state"], h: number): KeyVersion => ({ version, state, createdAt: at(h) });

  it("promotes a new version and demotes the old primary to secondary; promoting again changes nothing", () => {
    const once = promote([v("a", "primary", 0), v("z", "retired", 0)], v("b", "primary", 1));
    expect(once.versions.map((x) => [x.version, x.state])).toEqual([["a", "secondary"], ["z", "retired"], ["b", "primary"]]);
    expect(once.previousPrimary).toBe("a");
    expect(promote(once.versions, v("b", "primary", 1)).changed).toBe(false);
  });

  it("rolls back to the newest older secondary, never a retired or revoked one", () => {
    expect(rollbackTarget([v("a", "secondary", 0), v("b", "revoked", 1), v("c", "primary", 2)])?.version).toBe("a");
    expect(rollbackTarget([v("c", "primary", 2)])).toBeUndefined();
    expect(withinRollbackWindow(at(0), at(5), durationMs("PT6H"))).toBe(true);
    expect(withinRollbackWindow(at(0), at(7), durationMs("PT6H"))).toBe(false);
  });

  it("offers a secondary for retirement only once its successor is older than the overlap", () => {
    const versions = [v("a", "secondary", 0), v("b", "primary", 10)];
    expect(retirementCandidates(versions, at(12), durationMs("PT5H"))).toEqual([]);
    expect(retirementCandidates(versions, at(15), durationMs("PT5H")).map((x) => x.version)).toEqual(["a"]);
  });
});

describe("retries and emergency revoke", () => {
  it("retries transient and unknown failures with 1, 2, 4 s backoff up to maxAttempts", () => {
    const e = new Error("[dependencyUnavailable] Throttled: 429");
    expect([1, 2, 3].map((n) => retryDelayMs(e, n))).toEqual([1000, 2000, 4000]);
    expect(retryDelayMs(e, 5)).toBeUndefined();
    expect(retryDelayMs(new Error("socket hang up"), 1)).toBe(1000);
  });

  it("stops at once on invalid requests and invariant violations", () => {
    expect(retryDelayMs(new Error("[invalidRequest] KeyNotManaged: x"), 1)).toBeUndefined();
    expect(retryDelayMs(new Error("[invariantViolation] ReferencesRemain: x"), 1)).toBeUndefined();
  });

  it("revokes only with zero references or an explicit data-loss approval", () => {
    expect(revokeDecision(0, undefined)).toEqual({ revoke: true });
    expect(revokeDecision(3, undefined)).toMatchObject({ revoke: false });
    expect(revokeDecision(3, "bob")).toEqual({ revoke: true, dataLossAcceptedBy: "bob" });
  });
});

describe("helpers", () => {
  it("chunks and parses durations", () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(durationMs("P1DT1H")).toBe(25 * 3600_000);
    expect(() => durationMs("P")).toThrow(/ISO-8601/);
  });
});
