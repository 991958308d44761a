// The Table DEK store (Azurite) decides every DEK state change through the version rule book
// (lib/domain/versions.ts): a tenant's DEKs are the versions of key `dek:<tenant>` (version = dekId).
import { describe, expect, it } from "vitest";
import { VersionRuleError } from "../../../lib/domain/versions";
import { DEK_RECORD_FORMAT, dekIdFor, type DekRecord } from "../../../lib/envelope";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { DekStore, type StoredDek } from "../../../lib/stores/dekStore";
import { freshTable } from "../../support/tables";

const KEK = "kek:demo-vault/tenant-kek";
const record = (n: number, state: DekRecord["state"]): DekRecord => ({
  format: DEK_RECORD_FORMAT, tenant: "contoso", dekId: dekIdFor(n), dekVersion: n, kekKeyId: KEK, kekVersion: "k1",
  alg: "RSA-OAEP-256", wrapped: Buffer.from(`dek${n}`).toString("base64url"), createdAt: `2026-0${n}-01T00:00:00.000Z`, state,
});

/** v1 and v2 secondary, v3 primary (through addPrimary, so the pointer names it). */
async function threeDeks(): Promise<DekStore> {
  const s = new DekStore(await freshTable("deks"));
  await s.put(record(1, "secondary"));
  await s.put(record(2, "secondary"));
  await s.addPrimary(record(3, "primary"));
  return s;
}

const states = async (s: DekStore): Promise<Record<string, string>> =>
  Object.fromEntries((await s.scanRange("contoso")).items.map((d: StoredDek) => [d.dekId, d.state]));

async function refusal(p: Promise<unknown>): Promise<VersionRuleError> {
  const err: unknown = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(VersionRuleError);
  return err as VersionRuleError;
}

describe("Table DEK store under the version rule book", () => {
  it("refuses to roll back to a revoked DEK with a VersionRuleError naming dek:<tenant>, the DEK and the rule, and the pointer stays", async () => {
    const s = await threeDeks();
    await s.setState("contoso", dekIdFor(2), "revoked");
    const before = await states(s);

    const err = await refusal(s.rollBackTo("contoso", dekIdFor(2)));

    expect(err).toMatchObject({ keyId: "dek:contoso", version: dekIdFor(2), rule: "CannotPromote" });
    expect(await s.getPrimary("contoso")).toMatchObject({ dekVersion: 3, state: "primary" });
    expect(await states(s)).toEqual(before);
  });

  it("refuses to bring a revoked DEK back into use by setState (revoked is final)", async () => {
    const s = await threeDeks();
    await s.setState("contoso", dekIdFor(1), "revoked");

    const err = await refusal(s.setState("contoso", dekIdFor(1), "secondary"));

    expect(err).toMatchObject({ version: dekIdFor(1), rule: "VersionRevoked" });
    expect((await states(s))[dekIdFor(1)]).toBe("revoked");
  });

  it("refuses a setState that would leave two primary DEKs", async () => {
    const s = await threeDeks();

    const err = await refusal(s.setState("contoso", dekIdFor(2), "primary"));

    expect(err.rule).toBe("PrimaryExists");
    expect(await states(s)).toEqual({ [dekIdFor(1)]: "secondary", [dekIdFor(2)]: "secondary", [dekIdFor(3)]: "primary" });
  });

  it("refuses to retire the primary DEK with a VersionRuleError (DisablePrimary)", async () => {
    const s = await threeDeks();

    const err = await refusal(s.setState("contoso", dekIdFor(3), "retired"));

    expect(err).toMatchObject({ keyId: "dek:contoso", version: dekIdFor(3), rule: "DisablePrimary" });
    expect((await states(s))[dekIdFor(3)]).toBe("primary");
  });

  it("a new primary DEK demotes every DEK in state primary, even one stored without the pointer: never two primaries", async () => {
    const s = new DekStore(await freshTable("deks"));
    await s.put(record(1, "primary"));

    await s.addPrimary(record(2, "primary"));

    expect(await states(s)).toEqual({ [dekIdFor(1)]: "secondary", [dekIdFor(2)]: "primary" });
    expect(await s.getPrimary("contoso")).toMatchObject({ dekVersion: 2 });
  });

  it("a rollback to a secondary DEK moves the pointer and leaves exactly one primary", async () => {
    const s = await threeDeks();

    expect(await s.rollBackTo("contoso", dekIdFor(2))).toEqual({ moved: true, previous: dekIdFor(3) });

    expect(await states(s)).toEqual({ [dekIdFor(1)]: "secondary", [dekIdFor(2)]: "primary", [dekIdFor(3)]: "secondary" });
  });

  it("the rotation port refuses a rollback to a revoked DEK through the rule book before its KEK guard runs", async () => {
    const port = new TableDekPort(await freshTable("deks"));
    await port.store.put(record(1, "secondary"));
    await port.store.addPrimary(record(2, "primary"));
    await port.store.setState("contoso", dekIdFor(1), "revoked");
    let guarded = false;

    const err = await refusal(port.rollbackPrimary("contoso", 1, async () => { guarded = true; }));

    expect(err.rule).toBe("CannotPromote");
    expect(guarded).toBe(false);
    expect(await port.store.getPrimary("contoso")).toMatchObject({ dekVersion: 2 });
  });

  it("refuses to put a second DEK in state primary beside the primary, and stores nothing", async () => {
    const s = await threeDeks();

    const err = await refusal(s.put(record(4, "primary")));

    expect(err).toMatchObject({ keyId: "dek:contoso", version: dekIdFor(4), rule: "PrimaryExists" });
    expect(await s.get("contoso", dekIdFor(4))).toBeUndefined();
  });
});
