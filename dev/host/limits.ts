// The time limits Azure puts on an invocation, which the local host enforces the same way:
// - functionTimeout (host.json; Flex Consumption's default is 30 minutes): an activity, timer, Event
//   Grid or HTTP function still running then fails with the host's FunctionTimeoutException message
//   (an activity's orchestrator sees a TaskFailed). The function's code cannot be stopped (Azure
//   restarts the worker); the host only stops waiting for it.
// - 230 s for an HTTP response (the Azure load balancer's idle timeout): the caller gets a 502
//   (documented; 504 is also seen) while the function goes on running.
// Orchestrator episodes and entity batches are not bounded here: they only replay and decide.
import { readFileSync } from "node:fs";
import path from "node:path";

export const HTTP_RESPONSE_TIMEOUT_MS = 230_000;
export const FLEX_DEFAULT_FUNCTION_TIMEOUT_MS = 30 * 60_000;

export interface HostLimits {
  /** undefined = unbounded (host.json "-1"). */
  functionTimeoutMs: number | undefined;
  httpResponseTimeoutMs: number;
}

let limits: HostLimits = { functionTimeoutMs: FLEX_DEFAULT_FUNCTION_TIMEOUT_MS, httpResponseTimeoutMs: HTTP_RESPONSE_TIMEOUT_MS };

export function setHostLimits(l: HostLimits): void {
  limits = l;
}

export function hostLimits(): HostLimits {
  return limits;
}

/** host.json's functionTimeout ("[d.]hh:mm:ss", "-1" = unbounded), else the Flex default. */
export function functionTimeoutFromHostJson(appDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(appDir, "host.json"), "utf8");
  } catch {
    return FLEX_DEFAULT_FUNCTION_TIMEOUT_MS; // no host.json: the platform default applies
  }
  const value = (JSON.parse(text) as { functionTimeout?: unknown }).functionTimeout;
  if (value === undefined) return FLEX_DEFAULT_FUNCTION_TIMEOUT_MS;
  if (value === "-1") return undefined;
  const m = typeof value === "string" ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(value) : null;
  if (!m) throw new Error(`[keyrotor] [devhost] host.json functionTimeout ${JSON.stringify(value)} is not a time span like "00:10:00" or "-1"`);
  const [, d, h, min, s] = m;
  return (((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s)) * 1000;
}

export function timeSpan(ms: number): string {
  const total = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
}

export class FunctionTimeoutError extends Error {
  constructor(functionName: string, invocationId: string, ms: number) {
    super(`Timeout value of ${timeSpan(ms)} exceeded by function 'Functions.${functionName}' (Id: '${invocationId}'). Initiating cancellation.`);
    this.name = "FunctionTimeoutException";
  }
}

/** Resolves with `work`, or with `onTimeout()` once `ms` passed (the work goes on unobserved). */
export async function within<T>(work: Promise<T>, ms: number | undefined, onTimeout: () => T | Promise<T>): Promise<T> {
  if (ms === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  work.catch(() => undefined); // a late failure after the timeout must not be unhandled
  try {
    const first = await Promise.race([work.then((v) => ({ v })), timedOut]);
    return first === "timeout" ? await onTimeout() : first.v;
  } finally {
    clearTimeout(timer);
  }
}
