// The zero-reference count in legs against the real DEK table (Azurite): each leg reads a bounded
// number of rows, the legs' totals equal the whole count, and no leg's partial answer is final.
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../../../lib/envelope";
import { memoryRotationDeps } from "../../../lib/orchestration/deps";
import { countReferences } from "../../../lib/orchestration/activities";
import type { RotationDeps } from "../../../lib/orchestration/ports";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { freshTable } from "../../support/tables";

const KEK = "kek:demo-vault/tenant-kek";

function rows(tenant: string, n: number, kekVersion: string): DekRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    format: DEK_RECORD_FORMAT, tenant, dekId: dekIdFor(i + 1), dekVersion: i + 1, kekKeyId: KEK, kekVersion,
    alg: "RSA-OAEP-256" as const, wrapped: randomBytes(64).toString("base64url"), createdAt: new Date(0).toISOString(), state: "secondary" as const,
  }));
}

describe("countReferences in legs", () => {
  it("counts 2,500 DEKs in legs of at most a page past maxRows, and the last leg's totals equal the whole count", async () => {
    const port = new TableDekPort(await freshTable("deks"));
    await port.store.putMany([...rows("alpha", 1200, "new"), ...rows("bravo", 1000, "old"), ...rows("charlie", 300, "new")]);
    const deps: RotationDeps = { ...memoryRotationDeps(), deks: port };
    const whole = await countReferences(deps, { kekKeyId: KEK, keepVersion: "new" });
    expect(whole).toEqual({ byVersion: { new: 1500, old: 1000 }, other: 1000 });

    const legs: Awaited<ReturnType<typeof countReferences>>[] = [];
    let leg: Awaited<ReturnType<typeof countReferences>> | undefined;
    do {
      const prev = leg;
      leg = await countReferences(deps, { kekKeyId: KEK, keepVersion: "new", paged: true, maxRows: 1000, ...(prev?.cursor ? { cursor: prev.cursor, partial: prev.byVersion } : {}) });
      legs.push(leg);
    } while (leg.cursor);

    expect(legs.length).toBeGreaterThanOrEqual(3);
    expect(legs.at(-1)).toEqual(whole);
    // Running totals only grow; each leg read at most maxRows + one page.
    const sizes = legs.map((l) => Object.values(l.byVersion).reduce((a, b) => a + b, 0));
    sizes.forEach((n, i) => expect(n - (sizes[i - 1] ?? 0)).toBeLessThanOrEqual(2000));
  });
});
