// How long work a crashed host had taken stays out of reach. DurableTask.AzureStorage dequeues a
// message with a visibility timeout: a host killed while it held the message never deletes or
// releases it, so the queue hands it out again only when that timeout ends. host.json sets it per
// queue (extensions.durableTask.storageProvider.controlQueueVisibilityTimeout: orchestration and
// entity messages, 1 to 60 minutes, the extension's AzureStorageOptions.Validate refuses others;
// workItemQueueVisibilityTimeout: activity messages); both default to 5 minutes.
import { readFileSync } from "node:fs";
import path from "node:path";

export const DEFAULT_VISIBILITY_TIMEOUT_MS = 5 * 60_000;

function timeSpanMs(setting: string, value: unknown): number {
  const m = typeof value === "string" ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(value) : null;
  if (!m) throw new Error(`[keyrotor] [devhost] host.json ${setting} ${JSON.stringify(value)} is not a time span like "00:05:00"`);
  const [, d, h, min, s, frac] = m;
  return (((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s)) * 1000 + Math.round(Number(`0.${frac ?? "0"}`) * 1000);
}

/** The longer of the two visibility timeouts host.json configures (dev/host holds all work taken
 * before a crash for one time), else 5 minutes. Throws where the real host would refuse to start. */
export function visibilityTimeoutFromHostJson(appDir: string): number {
  let text: string;
  try {
    text = readFileSync(path.join(appDir, "host.json"), "utf8");
  } catch {
    return DEFAULT_VISIBILITY_TIMEOUT_MS;
  }
  const provider = (JSON.parse(text) as { extensions?: { durableTask?: { storageProvider?: Record<string, unknown> } } }).extensions?.durableTask?.storageProvider ?? {};
  const prefix = "extensions.durableTask.storageProvider.";
  const control = provider.controlQueueVisibilityTimeout === undefined ? DEFAULT_VISIBILITY_TIMEOUT_MS : timeSpanMs(`${prefix}controlQueueVisibilityTimeout`, provider.controlQueueVisibilityTimeout);
  if (control < 60_000 || control > 60 * 60_000) {
    throw new Error(`[keyrotor] [devhost] host.json ${prefix}controlQueueVisibilityTimeout must be between 1 and 60 minutes (ControlQueueVisibilityTimeout, as the Durable extension requires)`);
  }
  const workItem = provider.workItemQueueVisibilityTimeout === undefined ? DEFAULT_VISIBILITY_TIMEOUT_MS : timeSpanMs(`${prefix}workItemQueueVisibilityTimeout`, provider.workItemQueueVisibilityTimeout);
  return Math.max(control, workItem);
}
