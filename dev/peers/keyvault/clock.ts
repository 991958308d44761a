// The peer's notion of "now": real time plus an offset tests can move (expiry, nbf and Notify
// thresholds are judged against it). Throttling uses real monotonic time instead.
export class PeerClock {
  private offsetMs = 0;

  nowMs(): number {
    return Date.now() + this.offsetMs;
  }

  /** Seconds since the epoch, as Key Vault attributes carry them. */
  nowSec(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  setNow(at: Date | number): void {
    this.offsetMs = (typeof at === "number" ? at : at.getTime()) - Date.now();
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  reset(): void {
    this.offsetMs = 0;
  }
}

/** ISO-8601 duration (PnYnMnWnDTnHnMnS) in milliseconds; months are 30 days, years 365. */
export function durationMs(iso: string): number {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(iso.trim());
  if (!m || iso.trim().toUpperCase() === "P" || /T$/i.test(iso.trim())) throw new Error(`not an ISO-8601 duration: ${iso}`);
  const n = (i: number): number => Number(m[i] ?? 0);
  const day = 86_400_000;
  return n(1) * 365 * day + n(2) * 30 * day + n(3) * 7 * day + n(4) * day + n(5) * 3_600_000 + n(6) * 60_000 + n(7) * 1000;
}
