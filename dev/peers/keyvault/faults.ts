// Fault injection: the next N calls of an operation fail with a chosen status, get their
// connection dropped, or every call waits a while first.
import type { FaultBody, OperationSelector } from "./index";

interface FailRule {
  op: OperationSelector;
  remaining: number;
  status: number;
  body: FaultBody;
}

export type FaultDecision = { kind: "drop" } | { kind: "fail"; status: number; body: FaultBody } | undefined;

export class Faults {
  private fails: FailRule[] = [];
  private drops: Array<{ op: OperationSelector; remaining: number }> = [];
  private latency = new Map<OperationSelector, number>();
  /** Lets the hot path skip all lookups when nothing is configured. */
  private active = false;

  failNext(op: OperationSelector, count: number, status: number, body: FaultBody = {}): void {
    if (!Number.isInteger(count) || count < 1) throw new Error(`[keyvault-peer] failNext: count must be a positive integer, got ${count}`);
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new Error(`[keyvault-peer] failNext: status must be 4xx or 5xx, got ${status}`);
    this.fails.push({ op, remaining: count, status, body });
    this.active = true;
  }

  dropNext(op: OperationSelector, count: number): void {
    if (!Number.isInteger(count) || count < 1) throw new Error(`[keyvault-peer] dropNext: count must be a positive integer, got ${count}`);
    this.drops.push({ op, remaining: count });
    this.active = true;
  }

  setLatency(op: OperationSelector, ms: number): void {
    if (!(ms >= 0)) throw new Error(`[keyvault-peer] setLatency: ms must be >= 0, got ${ms}`);
    if (ms === 0) this.latency.delete(op);
    else this.latency.set(op, ms);
    this.refresh();
  }

  clear(): void {
    this.fails = [];
    this.drops = [];
    this.latency.clear();
    this.active = false;
  }

  latencyFor(op: string): number {
    if (!this.active || this.latency.size === 0) return 0;
    return (this.latency.get(op as OperationSelector) ?? 0) + (this.latency.get("*") ?? 0);
  }

  /** Consumes one matching rule, drops before failures. */
  take(op: string): FaultDecision {
    if (!this.active) return undefined;
    const drop = this.drops.find((d) => d.op === op || d.op === "*");
    if (drop) {
      drop.remaining -= 1;
      this.drops = this.drops.filter((d) => d.remaining > 0);
      this.refresh();
      return { kind: "drop" };
    }
    const fail = this.fails.find((f) => f.op === op || f.op === "*");
    if (fail) {
      fail.remaining -= 1;
      this.fails = this.fails.filter((f) => f.remaining > 0);
      this.refresh();
      return { kind: "fail", status: fail.status, body: fail.body };
    }
    return undefined;
  }

  private refresh(): void {
    this.active = this.fails.length > 0 || this.drops.length > 0 || this.latency.size > 0;
  }
}
