// The DEK contract against the memory DEK store the workflow tests use and the rotation engine's
// Table Storage DEK port (lib/orchestration/tableDeks.ts over lib/stores/dekStore.ts) on Azurite.
import { DEK_RECORD_FORMAT, dekIdFor } from "../../lib/envelope/dekRecord";
import { MemoryDekStore } from "../../lib/orchestration/memory";
import { TableDekRotationPort } from "../../lib/orchestration/tableDeks";
import { freshTable } from "../support/tables";
import { deksContract } from "./deksContract";

deksContract("memory", "MemoryDekStore", async () => {
  const deks = new MemoryDekStore();
  return { deks, seed: async (records) => records.forEach((r) => deks.insert(r)) };
});

deksContract("real", "TableDekRotationPort (Table Storage on Azurite)", async () => {
  const deks = new TableDekRotationPort(await freshTable("deks"));
  return {
    deks,
    seed: async (records) => {
      await deks.store.putMany(records.map((r) => {
        const n = Number(r.dekVersion.slice(1));
        return {
          format: DEK_RECORD_FORMAT, tenant: r.tenant, dekId: dekIdFor(n), dekVersion: n, kekKeyId: r.kekKeyId, kekVersion: r.kekVersion,
          alg: "RSA-OAEP-256" as const, wrapped: Buffer.from(r.wrapped, "base64").toString("base64url"), createdAt: r.createdAt, state: r.state,
        };
      }));
    },
  };
});
