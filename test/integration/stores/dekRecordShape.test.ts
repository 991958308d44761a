// The one DEK record shape (lib/envelope/dekRecord.ts) is the stored one: rows written in the table's
// existing column layout (DEK rows, the primary pointer, a settled rotation intent, as earlier builds
// wrote them) load through the DEK port unchanged, and the port's own writes keep that layout.
import { describe, expect, it } from "vitest";
import { DEK_RECORD_FORMAT, dekIdFor, dekRecord } from "../../../lib/envelope/dekRecord";
import { TableDekPort } from "../../../lib/orchestration/tableDeks";
import { freshTable } from "../../support/tables";

const KEK = "kek:demo-vault/tenant-kek";
const T0 = "2026-01-01T00:00:00.000Z";
const W1 = Buffer.from("wrapped-dek-one").toString("base64url");
const W2 = Buffer.from("wrapped-dek-two").toString("base64url");

/** The columns a DEK row has in the table (format 1), written directly, not through keyrotor. */
const row = (n: number, state: string, wrapped: string) => ({
  partitionKey: "contoso", rowKey: dekIdFor(n), format: 1, tenant: "contoso", dekVersion: n,
  kekKeyId: KEK, kekVersion: "k1", alg: "RSA-OAEP-256", wrapped, createdAt: T0, state,
});

describe("DEK rows in the table's existing layout", () => {
  it("load through the DEK port as DEK records, with the rotation a settled intent names", async () => {
    const table = await freshTable("dekshape");
    await table.createEntity(row(1, "secondary", W1));
    await table.createEntity(row(2, "primary", W2));
    await table.createEntity({ partitionKey: "contoso", rowKey: "~primary", primaryDekId: dekIdFor(2), primaryVersion: 2 });
    await table.createEntity({ partitionKey: "~tenants", rowKey: "contoso", tenant: "contoso" });
    await table.createEntity({ partitionKey: "contoso", rowKey: "~rotation~dek:contoso@r2", rotationId: "dek:contoso@r2", dekVersion: 2, createdAt: T0, settledAt: T0 });
    const port = new TableDekPort(table);

    const deks = await port.tenantDeks("contoso");

    expect(deks.map(({ etag: _e, ...d }) => d)).toEqual([
      { format: DEK_RECORD_FORMAT, tenant: "contoso", dekId: dekIdFor(1), dekVersion: 1, kekKeyId: KEK, kekVersion: "k1", alg: "RSA-OAEP-256", wrapped: W1, createdAt: T0, state: "secondary" },
      { format: DEK_RECORD_FORMAT, tenant: "contoso", dekId: dekIdFor(2), dekVersion: 2, kekKeyId: KEK, kekVersion: "k1", alg: "RSA-OAEP-256", wrapped: W2, createdAt: T0, state: "primary", rotationId: "dek:contoso@r2" },
    ]);
    expect(await port.tenantsPage({ limit: 10 })).toEqual({ tenants: ["contoso"] });
    expect(await port.countByKekVersion(KEK)).toEqual({ k1: 2 });
  });

  it("a DEK rotated in through the port is stored in the same columns, without the rotationId (which stays in the intent row)", async () => {
    const table = await freshTable("dekshape");
    await table.createEntity(row(1, "primary", W1));
    await table.createEntity({ partitionKey: "contoso", rowKey: "~primary", primaryDekId: dekIdFor(1), primaryVersion: 1 });
    const port = new TableDekPort(table);

    await port.rotatePrimary({ ...dekRecord({ tenant: "contoso", dekVersion: 2, kekKeyId: KEK, kekVersion: "k2", wrapped: Buffer.from("wrapped-dek-two"), createdAt: T0 }), rotationId: "dek:contoso@r2" });

    const { etag: _etag, timestamp: _ts, "odata.metadata": _m, ...stored } = await table.getEntity<Record<string, unknown>>("contoso", dekIdFor(2));
    expect(stored).toEqual({ ...row(2, "primary", W2), kekVersion: "k2" });
    expect((await table.getEntity("contoso", dekIdFor(1))).state).toBe("secondary");
  });
});
