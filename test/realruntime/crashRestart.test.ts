// Issue 16: the harness process killed (SIGKILL) while an activity is in flight, then started again on
// the same Azurite state. The same case as test/integration/host/crash.test.ts on dev/host: the
// activity in flight at the crash runs again, every other step once, and the orchestration ends as
// without a crash.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRealRuntime, type RealRuntime } from "../../dev/durable-runtime/node/harness";
import { fixture, gate } from "../fixtures/durableApp/state";
import { CRASH_RECOVERY_ENV, describeRealRuntime, durableClient, reportSeconds, waitForEnd } from "./realRuntimeSupport";

describeRealRuntime("a crash of the harness process", () => {
  let rt: RealRuntime;
  beforeAll(async () => {
    rt = await startRealRuntime({ entries: [path.resolve(__dirname, "../fixtures/durableApp/orchestrations.ts")], taskHub: "crashhub", env: CRASH_RECOVERY_ENV });
  }, 180_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  it("re-runs the activity in flight at the SIGKILL after the restart, every other step once, and ends as without a crash", async () => {
    const t0 = Date.now();
    const run = "real-crash-1";
    const id = await durableClient(rt.client).startNew("steps", { instanceId: run, input: { run, gateAt: 2 } });
    await gate(`${run}/gate`).entered;
    await rt.crash();
    await rt.restart();
    // The re-run of step 2 reaches the (still closed) gate before it opens.
    const deadline = Date.now() + 240_000;
    while ((fixture.stepRuns.get(`${run}/2`) ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(fixture.stepRuns.get(`${run}/2`), rt.output().slice(-3000)).toBe(2);
    gate(`${run}/gate`).open();
    const end = await waitForEnd(durableClient(rt.client), id, 240_000);
    expect(end.output).toEqual({ sum: 100, total: 100 });
    expect(fixture.stepRuns.get(`${run}/1`)).toBe(1);
    expect(fixture.stepRuns.get(`${run}/3`)).toBe(1);
    expect(fixture.stepRuns.get(`${run}/4`)).toBe(1);
    reportSeconds("crash and restart with an activity in flight (fixture)", t0);
  }, 300_000);
});
