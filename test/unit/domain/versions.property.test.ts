// Properties of the version rule book over random sequences of operations: after every step the
// invariants hold, every refusal is a VersionRuleError that leaves the state exactly as it was,
// every accepted step is a transition the adapters accept, and the states only move forward.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { KeyVersion, VersionState } from "../../../lib/domain/keys";
import {
  add, checkTransition, checkVersions, demote, promote, retire, revoke, rollbackTarget, VersionRuleError, type VersionedKey,
} from "../../../lib/domain/versions";

const NAMES = ["v1", "v2", "v3", "v4", "v5"] as const;
const name = fc.constantFrom(...NAMES);

type Op =
  | { op: "add"; version: string; state: VersionState }
  | { op: "promote"; version: string }
  | { op: "demote"; version: string; successor: string }
  | { op: "retire"; version: string }
  | { op: "revoke"; version: string }
  | { op: "rollback"; replaced?: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("add" as const), version: name, state: fc.constantFrom<VersionState>("primary", "secondary", "secondary", "retired", "revoked") }),
  fc.record({ op: fc.constant("promote" as const), version: name }),
  fc.record({ op: fc.constant("demote" as const), version: name, successor: name }),
  fc.record({ op: fc.constant("retire" as const), version: name }),
  fc.record({ op: fc.constant("revoke" as const), version: name }),
  fc.record({ op: fc.constant("rollback" as const), replaced: fc.option(name, { nil: undefined }) }),
);

/** Half the runs start from a key with one primary, so most operations have something to act on. */
const startArb = fc.boolean().map((seeded): VersionedKey => seeded
  ? { keyId: "kek:vault1/prop", primaryVersion: "v1", versions: [{ version: "v1", state: "primary", createdAt: "2025-12-31T00:00:00.000Z" }] }
  : { keyId: "kek:vault1/prop", versions: [] });

const ORDER: Record<VersionState, number> = { primary: 0, secondary: 0, retired: 1, revoked: 2 };

function apply(k: VersionedKey, o: Op, step: number): VersionedKey {
  const at = new Date(Date.UTC(2026, 0, 1) + step * 3_600_000).toISOString();
  switch (o.op) {
    case "add": {
      const v: KeyVersion = { version: o.version, state: o.state, createdAt: at };
      return add(k, v);
    }
    case "promote": return promote(k, o.version, at);
    case "demote": return demote(k, o.version, o.successor, at);
    case "retire": return retire(k, o.version);
    case "revoke": return revoke(k, o.version);
    case "rollback": {
      const target = rollbackTarget(k, o.replaced !== undefined ? { replaced: o.replaced } : {});
      return k.primaryVersion === target.version ? k : demote(k, k.primaryVersion!, target.version, at);
    }
  }
}

describe("the version rule book (property)", () => {
  it("keeps its invariants over any sequence of operations; refusals change nothing; states only move forward", () => {
    fc.assert(
      fc.property(startArb, fc.array(opArb, { minLength: 1, maxLength: 40 }), (start, ops) => {
        let k = start;
        ops.forEach((o, step) => {
          const before = structuredClone(k);
          let next: VersionedKey;
          try {
            next = apply(k, o, step);
          } catch (err) {
            expect(err).toBeInstanceOf(VersionRuleError);
            expect(k).toEqual(before);
            return;
          }
          expect(k).toEqual(before); // operations never modify their input
          checkVersions(next);
          checkTransition(before, next);
          if (next.versions.length > 0) expect(next.versions.filter((v) => v.state === "primary")).toHaveLength(1);
          for (const b of before.versions) {
            const a = next.versions.find((v) => v.version === b.version)!;
            expect(a).toBeDefined();
            if (b.state === "revoked") expect(a.state).toBe("revoked");
            if (b.state === "retired" || b.state === "revoked") expect(ORDER[a.state]).toBeGreaterThanOrEqual(ORDER[b.state]);
            if (b.state === "primary" && a.state === "secondary") expect(a.demotedAt).toBeDefined();
            if (b.state === "primary" && a.state !== "primary") expect(next.primaryVersion).not.toBe(b.version);
          }
          if (o.op === "retire" || o.op === "revoke") expect(next.primaryVersion).toBe(before.primaryVersion);
          k = next;
        });
      }),
      { numRuns: 500 },
    );
  });

  it("replaying an accepted operation changes nothing (idempotent steps)", () => {
    fc.assert(
      fc.property(startArb, fc.array(opArb, { minLength: 1, maxLength: 30 }), (start, ops) => {
        let k = start;
        ops.forEach((o, step) => {
          let next: VersionedKey;
          try {
            next = apply(k, o, step);
          } catch {
            return;
          }
          if (o.op !== "rollback") expect(apply(next, o, step)).toEqual(next);
          k = next;
        });
      }),
      { numRuns: 300 },
    );
  });
});
