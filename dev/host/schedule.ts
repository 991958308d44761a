// Timer schedules as Azure runs them: an NCRONTAB expression is read in UTC, whatever the machine's
// time zone (TZ) is. WEBSITE_TIME_ZONE would move it on Windows and Linux Dedicated/Premium plans,
// but Linux Consumption and Flex Consumption (where keyrotor runs) do not support it: the host
// ignores it too, and says so once.
import { Cron } from "croner";

export const TIMER_TIME_ZONE = "UTC";

export function timerJob(schedule: string, onTick: () => Promise<void>, opts: { paused?: boolean } = {}): Cron {
  return new Cron(schedule, { protect: true, timezone: TIMER_TIME_ZONE, ...(opts.paused ? { paused: true } : {}) }, onTick);
}

/** The next occurrence of a schedule after `from` (UTC), as the host's timers compute it. */
export function nextTimerRun(schedule: string, from: Date): Date | undefined {
  const job = timerJob(schedule, () => Promise.resolve(), { paused: true });
  try {
    return job.nextRun(from) ?? undefined;
  } finally {
    job.stop();
  }
}

export function timeZoneNotice(env: Record<string, string | undefined> = process.env): string | undefined {
  const tz = env.WEBSITE_TIME_ZONE;
  return tz ? `[keyrotor] [devhost] WEBSITE_TIME_ZONE=${tz} is ignored: Flex Consumption runs timer schedules in UTC` : undefined;
}
