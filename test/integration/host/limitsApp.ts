// A tiny app for the time-limit tests: an HTTP function, an activity and a timer that run until the
// test releases them (they then finish late, as a function cut off by Azure goes on running).
import { app } from "@azure/functions";
import * as df from "durable-functions";
import type { OrchestrationContext } from "durable-functions";

let release!: () => void;
export let released = new Promise<void>((r) => (release = r));
export const finishedLate: string[] = [];

export function releaseAll(): void {
  release();
  released = new Promise<void>((r) => (release = r));
}

app.http("slowHttp", {
  route: "slow",
  methods: ["GET"],
  authLevel: "anonymous",
  handler: async () => {
    await released;
    finishedLate.push("slowHttp");
    return { status: 200, body: "late" };
  },
});

app.http("quickHttp", { route: "quick", methods: ["GET"], authLevel: "anonymous", handler: () => ({ status: 200, body: "quick" }) });

df.app.activity("slowActivity", {
  handler: async () => {
    await released;
    finishedLate.push("slowActivity");
    return "late";
  },
});

df.app.orchestration("callsSlowActivity", function* (ctx: OrchestrationContext) {
  try {
    return { result: (yield ctx.df.callActivity("slowActivity", null)) as string };
  } catch (err) {
    return { failed: (err as Error).message };
  }
});

app.timer("slowTimer", {
  schedule: "0 0 0 1 1 *",
  handler: async () => {
    await released;
    finishedLate.push("slowTimer");
  },
});
