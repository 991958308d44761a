// A fresh Functions worker whose first invocation is rewrapRange, before any appStart: nothing handed
// the app a composition, the settings come from the environment (as in Azure). The invocation runs
// through dev/host's worker (its preInvocation hooks with an empty app hook data), as the Node.js
// worker runs it. The rewrap it runs must be
// production's: the DEK table scanned with the version filter, Key Vault with the SDK's retries off
// (a 429 reaches the rewrap's own pacing and is counted), the configured budget share and batch size.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
// Stands in for the worker's @azure/functions-core before the app loads @azure/functions.
import "../../../dev/host/functionsCore";
import { findFunction, invoke, triggerOf, typedDataToJson } from "../../../dev/host/worker";
import { DURABLE } from "../../../lib/orchestration/names";
import { loadConfig } from "../../../lib/config";
import { claimFence } from "../../../lib/orchestration/fence";
import { rewrapCursors, type RangeResult, type RewrapPlan } from "../../../lib/orchestration/rewrap";
import { TableFenceStore } from "../../../lib/stores/fenceStore";
import { tableClient } from "../../../lib/stores/tables";
import { freshTable, uniqueTableName } from "../../support/tables";
import { fixture, type Fixture } from "../../integration/rewrap/support";

const saved = { ...process.env };
// Loaded only once the settings are in the environment, as a worker loads the app.
const loadFunctionFile = (): Promise<typeof import("../../../functions/rewrapRange")> => import("../../../functions/rewrapRange.js");
/** The worker's app hook data: empty, no appStart ran. */
const appHookData: Record<string, unknown> = {};

async function callActivity(input: unknown): Promise<unknown> {
  const fn = findFunction(DURABLE.activities.rewrapRange);
  if (!fn) throw new Error("rewrapRange is not registered");
  const resp = await invoke(fn, { inputData: [{ name: triggerOf(fn).name, data: { json: JSON.stringify(input) } }] }, () => undefined, appHookData);
  return JSON.parse(typedDataToJson(resp.returnValue) ?? "null") as unknown;
}
let fx: Fixture;
let locksTable: string;

beforeAll(async () => {
  fx = await fixture(2, 20);
  // Tenant t000 is already under the new version: a filtered scan never reads its DEKs again.
  await rewrapCursors(fx.deps(), { op: "range", rotationId: "earlier", kekKeyId: fx.kekKeyId, newVersion: fx.v2, cursors: [{ tenant: "t000" }], sharePerSec: 0, sliceMs: 60_000, maxDeks: 1000 });
  const caFile = path.join(mkdtempSync(path.join(tmpdir(), "keyrotor-cold-")), "ca.pem");
  writeFileSync(caFile, fx.peer.caPem);
  locksTable = (await freshTable("locks")).tableName;
  Object.assign(process.env, {
    KEYROTOR_TABLES_CONNECTION: inject("azuriteConnectionString"),
    KEYROTOR_TABLE_DEKS: fx.table.tableName, KEYROTOR_TABLE_LOCKS: locksTable,
    KEYROTOR_TABLE_LEDGER: uniqueTableName("led"), KEYROTOR_TABLE_SEALS: uniqueTableName("seal"),
    KEYROTOR_VAULT_URLS: `${fx.peer.vaultName}=${fx.peer.url}`, KEYROTOR_KEYVAULT_CA_FILE: caFile, KEYROTOR_KEYVAULT_CREDENTIAL: "local-peer",
    // Never reached (nothing here publishes); the client connects on first send only.
    KEYROTOR_SERVICEBUS_CONNECTION: "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=none;SharedAccessKey=none",
    KEYROTOR_VAULT_BUDGET_FRACTION: "0.5",
    KEYROTOR_REWRAP_BATCH_SIZE: "7",
  });
}, 120_000);

afterAll(async () => {
  process.env = saved;
  await fx?.stop();
});

describe("a cold worker's first rewrapRange", () => {
  it("runs production's rewrap: configured budget share, version-filtered scan, SDK retries off, configured batch size", async () => {
    // The worker loads the function file and is invoked at once (no appStart has run yet).
    await loadFunctionFile();
    const plan = (await callActivity({ op: "plan", kekKeyId: fx.kekKeyId, newVersion: fx.v2 })) as RewrapPlan;
    expect(plan.budgetFraction).toBe(0.5);
    expect(plan.total).toBe(20); // t001's DEKs; t000 is done
    expect(plan.limitPer10s).toBeGreaterThan(0); // Key Vault's documented limit, not "unpaced"

    const fence = { owner: "kek-rotation", token: 1 };
    await claimFence(new TableFenceStore(tableClient(loadConfig(), "locks")), fx.kekKeyId, fence);
    // One 429 without Retry-After: with the SDK's retries on, the SDK would swallow it.
    fx.peer.admin.failNext("unwrapKey", 1, 429, { code: "Throttled", message: "Request was not processed because too many requests were received." });
    const range = (await callActivity({
      op: "range", rotationId: "kek-rotation", kekKeyId: fx.kekKeyId, newVersion: fx.v2, cursors: [{ tenant: "t000" }, { tenant: "t001" }],
      sharePerSec: 0, sliceMs: 60_000, maxDeks: 1000, fence,
    })) as RangeResult;
    expect(range.throttled).toBe(1);
    // KEYROTOR_REWRAP_BATCH_SIZE: at most 7 DEKs in one range activity.
    expect(range.rewrapped).toBe(7);
    // The filtered scan read none of t000's 20 DEKs (already under the new version).
    expect(range.skipped).toBe(0);
    expect(range.scanned).toBeLessThan(20);
    // Composed once, from configuration, and kept in the worker's app hook data for the next invocation.
    expect(Object.keys(appHookData)).toEqual(["keyrotor.composition"]);
  }, 120_000);
});
