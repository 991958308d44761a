// Issue 16, difference 3: on the real Durable extension an activity failure reaches the orchestrator
// as `Activity function '<name>' failed:  <message> \n <the serialized .NET exception>`, whose inner
// message carries the worker's `Result: Failure\nException: …\nStack: <the app's stack>`. The
// recording (test/fixtures/realRuntime/activityFailureMessage.json) is verbatim from a real run; what
// the app keeps of it (ledger, events, the rotation's output the API returns) is the app's message only.
import { describe, expect, it } from "vitest";
import { familyTag, readHistoryError } from "../../../lib/domain/errors";
import type { RotationOutput, RotationRequest } from "../../../lib/orchestration/workflows";
import { DURABLE } from "../../../lib/orchestration/names";
import recorded from "../../fixtures/realRuntime/activityFailureMessage.json";
import { Driver } from "./driver";
import { freshDeps, seedKekWithDeks } from "./fixtures";

/** What betrays the runtime's wrapping: .NET type names, the worker's and the host's stacks, file paths. */
const LEAKS = [/System\./, /\$type/, /Stack/, /Result: Failure/, /Activity function/, /\bat handler\b/, /\/work\//, /\.cs:line/, /node_modules/];

function expectAppTextOnly(text: string): void {
  for (const leak of LEAKS) expect(text).not.toMatch(leak);
}

describe("a failure message recorded on the real Durable extension", () => {
  it("reads back as the app's own message, its family kept, no .NET exception or stack", () => {
    const read = readHistoryError(new Error(recorded.message));
    expect(read).toEqual({ family: "dependencyUnavailable", message: recorded.appMessage });
    expect(familyTag(new Error(recorded.message))).toBe("dependencyUnavailable");
  });

  it("an untagged app error keeps its message without the runtime's wrapping", () => {
    const untagged = recorded.message.split(recorded.appMessage).join("socket hang up");
    expect(readHistoryError(new Error(untagged))).toEqual({ message: "socket hang up" });
  });

  it("the host's RpcException text as the reason (Result: Failure … Stack:) yields the app's message too", () => {
    const stack = "Error: socket hang up\n    at handler (/home/site/wwwroot/dist/functions/x.js:1:1)";
    expect(readHistoryError(`Activity function 'x' failed: Result: Failure\nException: socket hang up\nStack: ${stack} \n {"$type":"System.Exception"}`))
      .toEqual({ message: "socket hang up" });
    expect(readHistoryError(`Sub-orchestration 'rewrap' (i:1) failed: Orchestrator function 'rewrap' failed: Result: Failure\nException: [conflict] ETagChanged: [keyrotor] [deks] row changed\nStack: ${stack}`))
      .toEqual({ family: "conflict", code: "ETagChanged", message: "[conflict] ETagChanged: [keyrotor] [deks] row changed" });
  });

  it("a rotation failing with it records Failed, RotationFailed and its output with the app's message only", async () => {
    const deps = freshDeps();
    const seeded = await seedKekWithDeks(deps, 1, 5);
    const driver = new Driver(deps);
    // The recorded text with the app's message swapped for a coded one everywhere it occurs: the same
    // shape, a failure that stops the rotation at once.
    const appMessage = "[invariantViolation] Broken: [keyrotor] [deks] corrupt partition";
    const onRealRuntime = recorded.message.split(recorded.appMessage).join(appMessage);
    driver.beforeActivity = (name) => {
      if (name === DURABLE.activities.rewrapRange) throw new Error(onRealRuntime);
    };
    const req: RotationRequest = { rotationId: `${seeded.keyId}@manual:r1`, keyId: seeded.keyId, trigger: "manual", actor: "alice", reason: "test" };
    const out = (await driver.run(DURABLE.orchestrators.rotation, req)) as RotationOutput;
    expect(out.outcome).toBe("failed");
    expect(out.error).toEqual({ code: "Broken", message: appMessage });
    const entries = [];
    for await (const e of deps.ledger.entries(seeded.keyId)) entries.push(e);
    const failed = entries.find((e) => e.type === "Failed");
    expect(failed?.error).toEqual({ code: "Broken", message: appMessage });
    expectAppTextOnly(JSON.stringify(failed));
    const event = deps.events.published.find((e) => e.type === "RotationFailed");
    expect(event?.severity).toBe("critical");
    expectAppTextOnly(JSON.stringify(event));
    expectAppTextOnly(JSON.stringify(out));
  });
});
