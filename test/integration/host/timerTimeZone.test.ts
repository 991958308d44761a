// Azure reads a timer's NCRONTAB schedule in UTC (Flex Consumption ignores WEBSITE_TIME_ZONE); the
// local host must too, whatever the machine's TZ. Run in a child process whose TZ is Asia/Kolkata
// (UTC+05:30, no daylight saving), where a schedule read in local time lands 5.5 hours off.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { nextTimerRun, timeZoneNotice } from "../../../dev/host/schedule";

const ROOT = path.resolve(__dirname, "../../..");

function nextRunsUnder(tz: string, schedule: string, from: string): string {
  const code = `import { nextTimerRun } from "./dev/host/schedule"; console.log(nextTimerRun(${JSON.stringify(schedule)}, new Date(${JSON.stringify(from)}))?.toISOString());`;
  const r = spawnSync(process.execPath, [require.resolve("tsx/cli"), "--eval", code], { cwd: ROOT, env: { ...process.env, TZ: tz }, encoding: "utf8" });
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

describe("timer schedules run in UTC", () => {
  it("fires a 02:30 schedule at 02:30 UTC on a machine whose time zone is UTC+05:30", () => {
    expect(nextRunsUnder("Asia/Kolkata", "0 30 2 * * *", "2026-01-01T00:00:00Z")).toBe("2026-01-01T02:30:00.000Z");
    expect(nextRunsUnder("America/New_York", "0 0 0 1 * *", "2026-01-15T12:00:00Z")).toBe("2026-02-01T00:00:00.000Z");
  });

  it("computes the same in this process, and says that WEBSITE_TIME_ZONE is ignored", () => {
    expect(nextTimerRun("0 30 2 * * *", new Date("2026-01-01T00:00:00Z"))?.toISOString()).toBe("2026-01-01T02:30:00.000Z");
    expect(timeZoneNotice({ WEBSITE_TIME_ZONE: "Europe/Berlin" })).toMatch(/WEBSITE_TIME_ZONE=Europe\/Berlin is ignored.*UTC/);
    expect(timeZoneNotice({})).toBeUndefined();
  });
});
