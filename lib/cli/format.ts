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
