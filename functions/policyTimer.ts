// Timer policyTimer (KEYROTOR_TIMER_SCHEDULE, NCRONTAB): plans every key and starts what is due,
// emits due expiry warnings once, starts KEKs' due branch-key rotations (lib/api/timer.ts). A
// past-due fire does the same.
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { rotationClient } from "../lib/api/http";
import { composition } from "./_app";
import { runPolicyTimer } from "../lib/api/timer";

export async function policyTimer(timer: Timer, ctx: InvocationContext): Promise<void> {
  const report = await runPolicyTimer((await composition(ctx)).api, rotationClient(ctx), { isPastDue: timer.isPastDue, log: (l) => ctx.log(l) });
  if (report.failures.length > 0) {
    throw new Error(`[keyrotor] [timer] ${report.failures.length} key(s) failed: ${report.failures.slice(0, 5).map((f) => `${f.keyId}: ${f.message}`).join("; ")}`);
  }
}

app.timer("policyTimer", {
  // Resolved from the app setting by the Functions host (lib/config.ts documents and defaults it).
  schedule: "%KEYROTOR_TIMER_SCHEDULE%",
  useMonitor: true,
  extraInputs: [df.input.durableClient()],
  handler: policyTimer,
});
