// Human output: tables for lists, one line per fact for records.
import Table from "cli-table3";

export function table(head: string[], rows: (string | number | undefined)[][]): string {
  // Compact: no rule between rows, so a 20-tenant plan fits a screen.
  const t = new Table({ head, style: { head: [], border: [] }, chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" } });
  for (const r of rows) t.push(r.map((c) => (c === undefined ? "" : String(c))));
  return t.toString();
}

export function shortTime(iso: string | undefined): string | undefined {
  return iso ? iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, "Z") : undefined;
}

export function record(obj: Record<string, unknown>): string {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k.padEnd(14)} ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("\n");
}

/** A rewrap rate for the progress bar: none until the API has measured one (never "0/s"). */
export function rateText(perSec: number | undefined): string {
  if (perSec === undefined || !Number.isFinite(perSec) || perSec <= 0) return "-/s";
  return `${perSec >= 10 ? Math.round(perSec) : Math.round(perSec * 10) / 10}/s`;
}

/** The time left until the API's ETA (an ISO instant), e.g. "eta 2m05s"; "eta -" when there is none. */
export function etaText(eta: string | undefined, nowMs: number): string {
  const at = eta ? Date.parse(eta) : NaN;
  if (!Number.isFinite(at)) return "eta -";
  const s = Math.max(0, Math.round((at - nowMs) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `eta ${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `eta ${m}m${sec}s` : `eta ${s % 60}s`;
}

export interface PlanWarning {
  threshold: string;
  /** When the warning is (or was) due. */
  at: string;
  version?: string;
  expiresAt?: string;
  due?: boolean;
}

/** One plan warning as a table cell names what it is about: "P7D: v 3f2a9c1e expires 2026-05-08
 * (warn 2026-05-01)". A bare "P7D" does not say which version or when. */
export function warningText(w: PlanWarning): string {
  const day = (t: string | undefined) => (t && !Number.isNaN(Date.parse(t)) ? new Date(t).toISOString().slice(0, 10) : t);
  const version = w.version ? ` v ${w.version.slice(0, 8)}` : "";
  const expires = w.expiresAt ? ` expires ${day(w.expiresAt)}` : "";
  return `${w.threshold}${w.due ? " (due)" : ""}:${version}${expires} (warn ${day(w.at) ?? "?"})`;
}

export interface PlanDue {
  dueAt?: string;
  dueNow?: boolean;
  /** Every rotation due within the horizon, in order (the first is dueAt). */
  due?: { dueAt: string }[];
  dueTruncated?: boolean;
}

/** The plan's "due" cell: every rotation due within the horizon, one per line ("now" for one due
 * already), so a P1Y plan shows the year's rotations; the next due date when none falls within it. */
export function dueText(i: PlanDue): string | undefined {
  const dates = i.due?.length ? i.due.map((d) => d.dueAt) : i.dueAt ? [i.dueAt] : [];
  const lines = dates.map((d, n) => (n === 0 && i.dueNow ? "now" : shortTime(d) ?? d));
  if (i.dueNow && lines.length === 0) lines.push("now");
  if (i.dueTruncated) lines.push("… (more)");
  return lines.length ? lines.join("\n") : undefined;
}
