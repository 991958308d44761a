// The status link's `showHistory` answer on the real Durable extension 3.19.0, for orchestrations with
// activities (completed, failed, retried after a durable timer), sub-orchestrations, a failed
// orchestration, an external event and continueAsNew. With KEYROTOR_RECORD_HISTORY=1 it records the
// answers into test/fixtures/realRuntime/showHistory.json; otherwise it checks the real extension
// still answers in the recorded shape. test/e2e/durableHistoryFormat.test.ts holds dev/host to it.
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { webhookOrigin } from "../../dev/durable-runtime/node/client";
import { durableHistoryContract } from "../support/durableHistoryContract";
import { describeRealRuntime } from "./realRuntimeSupport";

describeRealRuntime("the Durable extension's showHistory format", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: ["orchestrations.ts", "triggers.ts"].map((f) => path.resolve(__dirname, "../fixtures/durableApp", f)), taskHub: "histhub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  durableHistoryContract(() => ({ origin: () => webhookOrigin(rt.client), record: process.env.KEYROTOR_RECORD_HISTORY === "1" }));
});
