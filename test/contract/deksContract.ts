// The DEK port's contract (lib/orchestration/ports.ts DekStorePort): one primary DEK per tenant moved
// by rotation and rollback, idempotent per rotation, guarded by the KEK version check; paged scans;
// If-Match rewraps that never overwrite a DEK changed meanwhile; reference counts per KEK version.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidRequestError, InvariantViolationError } from "../../lib/domain/errors";
import type { DekRecord, DekStorePort } from "../../lib/orchestration/ports";
import { contractTitle, type AdapterKind } from "./contract";

export interface DeksFixture {
  deks: DekStorePort;
  /** Stores DEKs as they were before any rotation (seeding). */
  seed: (records: DekRecord[]) => Promise<void>;
}

const KEK = "kek:contract-vault/tenant-kek";
const T0 = "2026-01-01T00:00:00.000Z";
const wrapped = () => randomBytes(48).toString("base64");
const dek = (tenant: string, n: number, over: Partial<DekRecord> = {}): DekRecord => ({
  tenant, dekVersion: `v${n}`, state: "secondary", kekKeyId: KEK, kekVersion: "k1", wrapped: wrapped(), createdAt: T0, ...over,
});
const states = async (deks: DekStorePort, tenant: string) =>
  Object.fromEntries((await deks.tenantDeks(tenant)).map((d) => [d.dekVersion, d.state]));

export function deksContract(kind: AdapterKind, adapter: string, fixture: () => Promise<DeksFixture>): void {
  describe(contractTitle("deks", kind, adapter), () => {
    it("makes a tenant's first rotated DEK its primary and names the rotation that made it", async () => {
      const { deks } = await fixture();
      await deks.rotatePrimary("t1", dek("t1", 1, { state: "primary", rotationId: "dek:t1@r1" }), undefined);
      const [only] = await deks.tenantDeks("t1");
      expect(only).toMatchObject({ tenant: "t1", dekVersion: "v1", state: "primary", kekKeyId: KEK, kekVersion: "k1", rotationId: "dek:t1@r1" });
      expect(await deks.listTenants()).toContain("t1");
    });

    it("demotes the previous primary to secondary when a new DEK is rotated in: one primary per tenant", async () => {
      const { deks } = await fixture();
      await deks.rotatePrimary("t1", dek("t1", 1, { state: "primary", rotationId: "dek:t1@r1" }), undefined);
      const [first] = await deks.tenantDeks("t1");
      await deks.rotatePrimary("t1", dek("t1", 2, { state: "primary", rotationId: "dek:t1@r2" }), { dekVersion: "v1", etag: first!.etag });
      expect(await states(deks, "t1")).toEqual({ v1: "secondary", v2: "primary" });
    });

    it("rotates once per rotation: repeating the same rotation's step changes nothing", async () => {
      const { deks } = await fixture();
      const next = dek("t1", 1, { state: "primary", rotationId: "dek:t1@r1" });
      await deks.rotatePrimary("t1", next, undefined);
      const before = await deks.tenantDeks("t1");
      await deks.rotatePrimary("t1", next, undefined);
      const after = await deks.tenantDeks("t1");
      expect(after.map((d) => [d.dekVersion, d.state, d.wrapped])).toEqual(before.map((d) => [d.dekVersion, d.state, d.wrapped]));
    });

    it("promotes nothing when the guard refuses the KEK version the new DEK is wrapped under", async () => {
      const { deks } = await fixture();
      await deks.rotatePrimary("t1", dek("t1", 1, { state: "primary", rotationId: "dek:t1@r1" }), undefined);
      const refused = new InvariantViolationError("KekVersionUnusable", "[keyrotor] [contract] k2 was revoked");
      const seen: string[] = [];
      await expect(deks.rotatePrimary("t1", dek("t1", 2, { state: "primary", kekVersion: "k2", rotationId: "dek:t1@r2" }), undefined, async (w) => {
        seen.push(`${w.kekKeyId}#${w.kekVersion}`);
        throw refused;
      })).rejects.toBe(refused);
      expect(seen).toEqual([`${KEK}#k2`]);
      expect(Object.entries(await states(deks, "t1")).filter(([, s]) => s === "primary")).toEqual([["v1", "primary"]]);
    });

    it("scans a tenant's DEKs page by page, each once, in a stable order, and ends without a continuation", async () => {
      const { deks, seed } = await fixture();
      await seed([1, 2, 3, 4, 5].map((n) => dek("t1", n, n === 1 ? { state: "primary" } : {})));
      await seed([dek("t2", 1, { state: "primary" })]);
      const seen: string[] = [];
      let continuation: string | undefined;
      let pages = 0;
      do {
        const page = await deks.scanRange("t1", { limit: 2, ...(continuation ? { continuation } : {}) });
        seen.push(...page.records.map((r) => r.dekVersion));
        expect(page.records.every((r) => r.tenant === "t1" && r.etag)).toBe(true);
        continuation = page.continuation;
        pages++;
      } while (continuation && pages < 10);
      expect(seen).toEqual(["v1", "v2", "v3", "v4", "v5"]);
      expect(await deks.listTenants()).toEqual(["t1", "t2"]);
    });

    it("rewraps a DEK only under the etag it was read with; one changed meanwhile is a conflict and keeps its bytes", async () => {
      const { deks, seed } = await fixture();
      await seed([dek("t1", 1, { state: "primary" }), dek("t1", 2)]);
      const { records } = await deks.scanRange("t1", { limit: 10 });
      const [r1, r2] = records;
      const w1 = wrapped();
      const first = await deks.rewrapBatch("t1", [{ dekVersion: r1!.dekVersion, etag: r1!.etag, kekVersion: "k2", wrapped: w1 }]);
      expect(first).toEqual({ written: 1, conflicts: [] });
      const stale = await deks.rewrapBatch("t1", [{ dekVersion: r1!.dekVersion, etag: r1!.etag, kekVersion: "k3", wrapped: wrapped() }]);
      expect(stale.written).toBe(0);
      expect(stale.conflicts).toEqual(["v1"]);
      const now = Object.fromEntries((await deks.tenantDeks("t1")).map((d) => [d.dekVersion, d]));
      expect(now.v1).toMatchObject({ kekVersion: "k2", wrapped: w1, state: "primary" });
      expect(now.v2).toMatchObject({ kekVersion: "k1", wrapped: r2!.wrapped });
    });

    it("counts the DEKs under each version of a KEK, whole or leg by leg", async () => {
      const { deks, seed } = await fixture();
      await seed([dek("t1", 1, { state: "primary" }), dek("t1", 2, { kekVersion: "k2" }), dek("t2", 1, { state: "primary", kekVersion: "k2" })]);
      await seed([dek("t3", 1, { state: "primary", kekKeyId: "kek:contract-vault/other" })]);
      expect(await deks.countByKekVersion(KEK)).toEqual({ k1: 1, k2: 2 });
      const total: Record<string, number> = {};
      let continuation: string | undefined;
      let legs = 0;
      do {
        const leg = await deks.countByKekVersionPage!(KEK, { maxRows: 1, ...(continuation ? { continuation } : {}) });
        for (const [v, n] of Object.entries(leg.byVersion)) total[v] = (total[v] ?? 0) + n;
        continuation = leg.continuation;
        legs++;
      } while (continuation && legs < 10);
      expect(total).toEqual({ k1: 1, k2: 2 });
      expect(await deks.countByKekVersion("kek:contract-vault/none")).toEqual({});
    });

    it("rolls the primary back to a secondary DEK (once), and refuses an unknown or retired one, changing nothing", async () => {
      const { deks, seed } = await fixture();
      await seed([dek("t1", 1, { state: "retired" }), dek("t1", 2)]);
      await deks.rotatePrimary("t1", dek("t1", 3, { state: "primary", rotationId: "dek:t1@r3" }), undefined);
      const guarded: string[] = [];
      expect(await deks.rollbackPrimary!("t1", "v2", async (w) => void guarded.push(w.kekVersion))).toEqual({ moved: true });
      expect(guarded).toEqual(["k1"]);
      expect(await states(deks, "t1")).toEqual({ v1: "retired", v2: "primary", v3: "secondary" });
      expect(await deks.rollbackPrimary!("t1", "v2")).toEqual({ moved: false });
      await expect(deks.rollbackPrimary!("t1", "v9")).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(deks.rollbackPrimary!("t1", "v1")).rejects.toBeInstanceOf(InvariantViolationError);
      expect(await states(deks, "t1")).toEqual({ v1: "retired", v2: "primary", v3: "secondary" });
    });
  });
}
