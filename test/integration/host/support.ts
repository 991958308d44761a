// Starts the dev host on the fixture app (memory store, manual clock unless told otherwise).
import path from "node:path";
import { functionFiles, ManualClock, startHost, type DevHost, type StartHostOptions } from "../../../dev/host";

// The fixture app is its two registering modules (state.ts holds shared knobs; runWithTsx.ts is a script).
export const fixtureEntries = functionFiles(path.resolve(__dirname, "../../fixtures/durableApp")).filter((f) => /(orchestrations|triggers)\.ts$/.test(f));

export async function fixtureHost(opts: Partial<StartHostOptions> = {}): Promise<DevHost & { manual: ManualClock }> {
  const manual = opts.clock instanceof ManualClock ? opts.clock : new ManualClock();
  const lines: string[] = [];
  const host = await startHost({ entry: fixtureEntries, clock: manual, log: (l) => lines.push(l), ...opts });
  return Object.assign(host, { manual, lines });
}
