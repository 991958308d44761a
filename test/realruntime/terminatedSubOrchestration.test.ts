// A terminated sub-orchestration as its parent sees it, on the real Durable extension 3.19.0; the same
// case runs on dev/host in test/e2e/terminatedSubOrchestration.test.ts.
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { webhookOrigin } from "../../dev/durable-runtime/node/client";
import { terminatedSubOrchestrationContract } from "../support/terminatedSubOrchestrationContract";
import { describeRealRuntime } from "./realRuntimeSupport";

describeRealRuntime("a terminated sub-orchestration on the real Durable extension", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: ["orchestrations.ts", "triggers.ts"].map((f) => path.resolve(__dirname, "../fixtures/durableApp", f)), taskHub: "termhub" });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  terminatedSubOrchestrationContract(() => ({ origin: () => webhookOrigin(rt.client), record: process.env.KEYROTOR_RECORD === "1" }));
});
