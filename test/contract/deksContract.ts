// The DEK port's contract (lib/ports.ts DekPort, records as stored: lib/envelope/dekRecord.ts): one
// primary DEK per tenant moved by rotation and rollback, idempotent per rotation, guarded by the KEK
// version check; paged scans, with or without DEKs already under a KEK version; If-Match rewraps
// that never overwrite a DEK changed meanwhile; reference counts per KEK version.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidRequestError, InvariantViolationError } from "../../lib/domain/errors";
import { dekRecord, type DekRecord } from "../../lib/envelope/dekRecord";
import type { DekPort } from "../../lib/ports";
import { contractTitle, type AdapterKind } from "./contract";

export interface DeksFixture {
  deks: DekPort;
  /** Stores DEKs as they were before any rotation (seeding). */
  seed: (records: DekRecord[]) => Promise<void>;
}

const KEK = "kek:contract-vault/tenant-kek";
const T0 = "2026-01-01T00:00:00.000Z";
const wrapped = () => randomBytes(48);
const dek = (tenant: string, n: number, over: Partial<Pick<DekRecord, "state" | "kekKeyId" | "kekVersion">> = {}): DekRecord =>
  dekRecord({ tenant, dekVersion: n, state: "secondary", kekKeyId: KEK, kekVersion: "k1", wrapped: wrapped(), createdAt: T0, ...over });
const rotated = (tenant: string, n: number, rotationId: string, over: Partial<Pick<DekRecord, "kekVersion">> = {}) => ({ ...dek(tenant, n, { state: "primary", ...over }), rotationId });
const states = async (deks: DekPort, tenant: string) =>
  Object.fromEntries((await deks.tenantDeks(tenant)).map((d) => [`v${d.dekVersion}`, d.state]));
const tenants = async (deks: DekPort): Promise<string[]> => {
  const out: string[] = [];
  let continuation: string | undefined;
  do {
    const page = await deks.tenantsPage({ limit: 1, ...(continuation ? { continuation } : {}) });
    out.push(...page.tenants);
    continuation = page.continuation;
  } while (continuation && out.length < 100);
  return out;
};

export function deksContract(kind: AdapterKind, adapter: string, fixture: () => Promise<DeksFixture>): void {
  describe(contractTitle("deks", kind, adapter), () => {
    it("makes a tenant's first rotated DEK its primary and names the rotation that made it", async () => {
      const { deks } = await fixture();
      await deks.rotatePrimary(rotated("t1", 1, "dek:t1@r1"));
      const [only] = await deks.tenantDeks("t1");
      expect(only).toMatchObject({ tenant: "t1", dekVersion: 1, state: "primary", kekKeyId: KEK, kekVersion: "k1", rotationId: "dek:t1@r1" });
      expect(await tenants(deks)).toContain("t1");
    });

    it("demotes the previous primary to secondary when a new DEK is rotated in: one primary per tenant", async () => {
      const { deks } = await fixture();
      await deks.rotatePrimary(rotated("t1", 1, "dek:t1@r1"));
      await deks.rotatePrimary(rotated("t1", 2, "dek:t1@r2"));
      expect(await states(deks, "t1")).toEqual({ v1: "secondary", v2: "primary" });
    });

    it("rotates once per rotation: repeating the same rotation's step changes nothing", async () => {
      const { deks } = await fixture();
      const next = rotated("t1", 1, "dek:t1@r1");
      await deks.rotatePrimary(next);
      const before = await deks.tenantDeks("t1");
      await deks.rotatePrimary(next);
      const after = await deks.tenantDeks("t1");
      expect(after.map((d) => [d.dekVersion, d.state, d.wrapped])).toEqual(before.map((d) => [d.dekVersion, d.state, d.wrapped]));
    });

    it("promotes nothing when the guard refuses the KEK version the new DEK is wrapped under", async () => {
      const { deks } = await fixture();
      await deks.rotatePrimary(rotated("t1", 1, "dek:t1@r1"));
      const refused = new InvariantViolationError("KekVersionUnusable", "[keyrotor] [contract] k2 was revoked");
      const seen: string[] = [];
      await expect(deks.rotatePrimary(rotated("t1", 2, "dek:t1@r2", { kekVersion: "k2" }), async (w) => {
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
        seen.push(...page.records.map((r) => `v${r.dekVersion}`));
        expect(page.records.every((r) => r.tenant === "t1" && r.etag)).toBe(true);
        continuation = page.continuation;
        pages++;
      } while (continuation && pages < 10);
      expect(seen).toEqual(["v1", "v2", "v3", "v4", "v5"]);
      expect(await tenants(deks)).toEqual(["t1", "t2"]);
    });

    it("leaves out of a scan the DEKs already wrapped under the KEK version named in notUnder", async () => {
      const { deks, seed } = await fixture();
      await seed([dek("t1", 1, { state: "primary" }), dek("t1", 2, { kekVersion: "k2" }), dek("t1", 3), dek("t1", 4, { kekKeyId: "kek:contract-vault/other", kekVersion: "k2" })]);
      const { records } = await deks.scanRange("t1", { limit: 10, notUnder: { kekKeyId: KEK, kekVersion: "k2" } });
      expect(records.map((r) => r.dekVersion)).toEqual([1, 3, 4]);
    });

    it("rewraps a DEK only under the etag it was read with; one changed meanwhile is a conflict and keeps its bytes", async () => {
      const { deks, seed } = await fixture();
      await seed([dek("t1", 1, { state: "primary" }), dek("t1", 2)]);
      const { records } = await deks.scanRange("t1", { limit: 10 });
      const [r1, r2] = records;
      const w1 = wrapped();
      const first = await deks.rewrapBatch("t1", [r1!], { kekKeyId: KEK, kekVersion: "k2" }, new Map([[r1!.dekId, w1]]));
      expect(first).toMatchObject({ rewrapped: 1, changed: 0 });
      // Written meanwhile (the etag read is stale): refused; a store that resolves conflicts
      // recomputes from the DEK as it is now, one that does not reports it as changed.
      const recomputed: string[] = [];
      const stale = await deks.rewrapBatch("t1", [r1!], { kekKeyId: KEK, kekVersion: "k3" }, new Map([[r1!.dekId, wrapped()]]), async (now) => {
        recomputed.push(`${now.kekVersion}:${now.wrapped}`);
        return Buffer.from(now.wrapped, "base64url");
      });
      expect(stale.conflicts).toBeGreaterThan(0);
      const now = Object.fromEntries((await deks.tenantDeks("t1")).map((d) => [`v${d.dekVersion}`, d]));
      if (deks.resolvesConflicts) {
        expect(recomputed).toEqual([`k2:${w1.toString("base64url")}`]);
        expect(now.v1).toMatchObject({ kekVersion: "k3", wrapped: w1.toString("base64url"), state: "primary" });
      } else {
        expect(stale).toMatchObject({ rewrapped: 0, changed: 1 });
        expect(now.v1).toMatchObject({ kekVersion: "k2", wrapped: w1.toString("base64url"), state: "primary" });
      }
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
        const leg = await deks.countByKekVersionPage(KEK, { maxRows: 1, ...(continuation ? { continuation } : {}) });
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
      await deks.rotatePrimary(rotated("t1", 3, "dek:t1@r3"));
      const guarded: string[] = [];
      expect(await deks.rollbackPrimary("t1", 2, async (w) => void guarded.push(w.kekVersion))).toEqual({ moved: true });
      expect(guarded).toEqual(["k1"]);
      expect(await states(deks, "t1")).toEqual({ v1: "retired", v2: "primary", v3: "secondary" });
      expect(await deks.rollbackPrimary("t1", 2)).toEqual({ moved: false });
      await expect(deks.rollbackPrimary("t1", 9)).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(deks.rollbackPrimary("t1", 1)).rejects.toBeInstanceOf(InvariantViolationError);
      expect(await states(deks, "t1")).toEqual({ v1: "retired", v2: "primary", v3: "secondary" });
    });
  });
}
