// The memory DEK store decides every DEK state change through the version rule book
// (lib/domain/versions.ts): a tenant's DEKs are the versions of key `dek:<tenant>`.
import { describe, expect, it } from "vitest";
import { VersionRuleError } from "../../../lib/domain/versions";
import { MemoryDekStore } from "../../../lib/orchestration/memory";
import { dekIdFor, dekRecord, type DekRecord, type StoredDek } from "../../../lib/envelope/dekRecord";

const KEK = "kek:demo-vault/tenant-kek";
const dek = (n: number, state: DekRecord["state"]): DekRecord & { rotationId: string } => ({
  ...dekRecord({ tenant: "contoso", dekVersion: n, state, kekKeyId: KEK, kekVersion: "k1", wrapped: Buffer.from(`dek${n}`), createdAt: `2026-0${n}-01T00:00:00.000Z` }),
  rotationId: `dek:contoso@r${n}`,
});

function store(...rows: DekRecord[]): MemoryDekStore {
  const s = new MemoryDekStore();
  for (const r of rows) s.insert(r);
  return s;
}

const snapshot = async (s: MemoryDekStore): Promise<StoredDek[]> => (await s.tenantDeks("contoso")).sort((a, b) => a.dekVersion - b.dekVersion);
const primaries = async (s: MemoryDekStore): Promise<number[]> => (await snapshot(s)).filter((d) => d.state === "primary").map((d) => d.dekVersion);

async function refusal(p: Promise<unknown>): Promise<VersionRuleError> {
  const err: unknown = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(VersionRuleError);
  return err as VersionRuleError;
}

describe("memory DEK store under the version rule book", () => {
  it("refuses to roll back to a revoked DEK with a VersionRuleError naming dek:<tenant>, the DEK and the rule, and changes nothing", async () => {
    const s = store(dek(1, "revoked"), dek(2, "primary"));
    const before = await snapshot(s);

    const err = await refusal(s.rollbackPrimary("contoso", 1));

    expect(err).toMatchObject({ keyId: "dek:contoso", version: dekIdFor(1), rule: "CannotPromote" });
    expect(await snapshot(s)).toEqual(before);
  });

  it("refuses to roll back to a retired DEK, and runs no guard", async () => {
    const s = store(dek(1, "retired"), dek(2, "primary"));
    let guarded = false;

    const err = await refusal(s.rollbackPrimary("contoso", 1, async () => { guarded = true; }));

    expect(err.rule).toBe("CannotPromote");
    expect(guarded).toBe(false);
    expect(await primaries(s)).toEqual([2]);
  });

  it("a new primary DEK demotes the current one, whichever it is: never two primary DEKs", async () => {
    const s = store(dek(1, "secondary"), dek(2, "primary"));

    await s.rotatePrimary(dek(3, "primary"));

    expect(await primaries(s)).toEqual([3]);
    expect((await snapshot(s)).map((d) => d.state)).toEqual(["secondary", "secondary", "primary"]);
  });

  it("a rollback to a secondary DEK leaves exactly one primary", async () => {
    const s = store(dek(1, "secondary"), dek(2, "primary"));

    expect(await s.rollbackPrimary("contoso", 1)).toEqual({ moved: true });

    expect(await primaries(s)).toEqual([1]);
  });
});
