// The local host enforces Azure's time limits: an HTTP caller gets a 502 once the response takes
// longer than the front end waits (230 s in Azure), and functionTimeout (host.json; Flex default 30
// minutes) fails an activity or a timer still running, with the host's FunctionTimeoutException
// message. Here both limits are configured tiny.
import "../../../dev/host";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, startHost, type DevHost } from "../../../dev/host";
import { FLEX_DEFAULT_FUNCTION_TIMEOUT_MS, functionTimeoutFromHostJson, HTTP_RESPONSE_TIMEOUT_MS } from "../../../dev/host/limits";
import { finishedLate, releaseAll } from "./limitsApp";

const ENTRY = [path.resolve(__dirname, "limitsApp.ts")];
let host: DevHost | undefined;
const lines: string[] = [];
afterEach(async () => {
  releaseAll();
  await host?.stop();
  host = undefined;
  lines.length = 0;
});

const start = (opts: { functionTimeoutMs?: number; httpResponseTimeoutMs?: number }) =>
  startHost({ entry: ENTRY, clock: new ManualClock("2026-01-01T00:00:00Z"), log: (l) => lines.push(l), ...opts });

describe("Azure's time limits in the local host", () => {
  it("answers 502 when an HTTP function does not respond in time, and lets the function run on", async () => {
    host = await start({ httpResponseTimeoutMs: 150, functionTimeoutMs: 60_000 });
    const t0 = Date.now();
    const r = await fetch(`${host.url}/api/slow`);
    expect(r.status).toBe(502);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect((await fetch(`${host.url}/api/quick`)).status).toBe(200);
    releaseAll();
    await new Promise((res) => setTimeout(res, 50));
    expect(finishedLate).toContain("slowHttp");
  });

  it("fails an activity that outlives functionTimeout with the host's message; the orchestrator sees a task failure", async () => {
    host = await start({ functionTimeoutMs: 200 });
    const id = await host.client.startNew("callsSlowActivity");
    const s = await host.client.waitForCompletion(id, { timeoutMs: 10_000 });
    expect(s.runtimeStatus).toBe("Completed");
    expect((s.output as { failed: string }).failed).toMatch(/^Activity function 'slowActivity' failed: Timeout value of 00:00:00 exceeded by function 'Functions\.slowActivity' \(Id: '[0-9a-f-]+'\)\. Initiating cancellation\./);
  });

  it("fails a timer function that outlives functionTimeout", async () => {
    host = await start({ functionTimeoutMs: 100 });
    await expect(host.fireTimer("slowTimer")).rejects.toThrow(/Timeout value of 00:00:00 exceeded by function 'Functions\.slowTimer'/);
  });

  it("reads functionTimeout from host.json, with the Flex Consumption default when it is absent, and 230 s for HTTP", () => {
    expect(functionTimeoutFromHostJson(path.resolve(__dirname, "../../.."))).toBe(10 * 60_000); // keyrotor's host.json: 00:10:00
    expect(functionTimeoutFromHostJson(__dirname)).toBe(FLEX_DEFAULT_FUNCTION_TIMEOUT_MS);
    expect(FLEX_DEFAULT_FUNCTION_TIMEOUT_MS).toBe(30 * 60_000);
    expect(HTTP_RESPONSE_TIMEOUT_MS).toBe(230_000);
  });
});
