// The fence port's contract (lib/ports.ts FenceStore): each key's latest lock grant, created once and
// replaced only under the etag read. The rules built on it (claim, check, floor) are proven over
// both adapters in test/integration/stores/fenceStore.test.ts.
import { describe, expect, it } from "vitest";
import { RotationConflictError } from "../../lib/domain/errors";
import type { FenceStore } from "../../lib/ports";
import { contractTitle, type AdapterKind } from "./contract";

export interface FencesFixture {
  fences: FenceStore;
}

const KEY = "kek:contract-vault/k";

export function fencesContract(kind: AdapterKind, adapter: string, fixture: () => Promise<FencesFixture>): void {
  describe(contractTitle("fences", kind, adapter), () => {
    it("has no row for a key never granted, then the grant written, with an etag", async () => {
      const { fences } = await fixture();
      expect(await fences.read(KEY)).toBeUndefined();
      await fences.write(KEY, { owner: "a", token: 1 }, undefined);
      const row = await fences.read(KEY);
      expect(row?.record).toEqual({ owner: "a", token: 1 });
      expect(row?.etag).toBeTruthy();
      expect(await fences.read("kek:contract-vault/other")).toBeUndefined();
    });

    it("creates a row once: a second create is a RotationConflictError and changes nothing", async () => {
      const { fences } = await fixture();
      await fences.write(KEY, { owner: "a", token: 1 }, undefined);
      await expect(fences.write(KEY, { owner: "b", token: 2 }, undefined)).rejects.toBeInstanceOf(RotationConflictError);
      expect((await fences.read(KEY))?.record).toEqual({ owner: "a", token: 1 });
    });

    it("replaces a row only under the etag read; a stale etag is a RotationConflictError and changes nothing", async () => {
      const { fences } = await fixture();
      await fences.write(KEY, { owner: "a", token: 1 }, undefined);
      const first = (await fences.read(KEY))!;
      await fences.write(KEY, { owner: "b", token: 2 }, first.etag);
      const second = (await fences.read(KEY))!;
      expect(second.record).toEqual({ owner: "b", token: 2 });
      expect(second.etag).not.toBe(first.etag);
      await expect(fences.write(KEY, { owner: "c", token: 3 }, first.etag)).rejects.toBeInstanceOf(RotationConflictError);
      expect((await fences.read(KEY))?.record).toEqual({ owner: "b", token: 2 });
    });
  });
}
