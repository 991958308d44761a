// Starts the dev host on the fixture app (memory store, manual clock unless told otherwise).
import path from "node:path";
import { ManualClock, startHost, type DevHost, type StartHostOptions } from "../../../dev/host";

export const fixtureEntries = ["orchestrations.ts", "triggers.ts"].map((f) => path.resolve(__dirname, "../../fixtures/durableApp", f));

export async function fixtureHost(opts: Partial<StartHostOptions> = {}): Promise<DevHost & { manual: ManualClock }> {
  const manual = opts.clock instanceof ManualClock ? opts.clock : new ManualClock();
  const lines: string[] = [];
  const host = await startHost({ entry: fixtureEntries, clock: manual, log: (l) => lines.push(l), ...opts });
  return Object.assign(host, { manual, lines });
}
