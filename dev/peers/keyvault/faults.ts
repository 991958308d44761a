// Fault injection: the next N calls of an operation fail with a chosen status, get their
// connection dropped, or every call waits a while first. A broken version (breakVersion) is a
// version that exists and lists like any other but does not work: chosen operations on it fail, or
// answer with wrong bytes (a private half that does not match the public key it publishes).
import type { BrokenVersionSpec, FaultBody, KeyVaultOperation, OperationSelector } from "./index";

interface BrokenRule {
  object: "key" | "secret";
  name: string;
  /** undefined until the next version of `name` is created (then that version). */
  version: string | undefined;
  operations: ReadonlySet<KeyVaultOperation>;
  /** Matching calls still answered normally before the version breaks. */
  worksFor: number;
  mode: { kind: "fail"; status: number; body: FaultBody } | { kind: "corrupt" };
}

/** Operations that only read a version: the ones a broken version can be made to fail or corrupt. */
export const BREAKABLE_OPERATIONS: readonly KeyVaultOperation[] = ["getKey", "encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "getSecret"];

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
  private broken: BrokenRule[] = [];
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

  /** Breaks a version of a key or secret: `version`, or the next one created under `name`. */
  breakVersion(spec: BrokenVersionSpec): void {
    const ops = spec.operations;
    if (spec.afterCalls !== undefined && (!Number.isInteger(spec.afterCalls) || spec.afterCalls < 0)) throw new Error(`[keyvault-peer] breakVersion: afterCalls must be a non-negative integer, got ${spec.afterCalls}`);
    for (const op of ops) if (!BREAKABLE_OPERATIONS.includes(op)) throw new Error(`[keyvault-peer] breakVersion: ${op} does not read a version; use one of ${BREAKABLE_OPERATIONS.join(", ")}`);
    if (ops.length === 0) throw new Error("[keyvault-peer] breakVersion: name at least one operation");
    const status = spec.status ?? 400;
    if (spec.mode !== "corrupt" && (!Number.isInteger(status) || status < 400 || status > 599)) throw new Error(`[keyvault-peer] breakVersion: status must be 4xx or 5xx, got ${status}`);
    this.broken.push({
      object: spec.object, name: spec.name.toLowerCase(), version: spec.version, operations: new Set(ops), worksFor: spec.afterCalls ?? 0,
      mode: spec.mode === "corrupt" ? { kind: "corrupt" } : { kind: "fail", status, body: { ...(spec.code ? { code: spec.code } : {}), ...(spec.message ? { message: spec.message } : {}) } },
    });
  }

  /** A version was created: the first rule waiting for the next version of that name takes it. */
  versionCreated(object: "key" | "secret", name: string, version: string): void {
    const rule = this.broken.find((b) => b.version === undefined && b.object === object && b.name === name.toLowerCase());
    if (rule) rule.version = version;
  }

  /** How `op` on this version misbehaves, if it is broken for it. */
  brokenFor(object: "key" | "secret", name: string, version: string, op: KeyVaultOperation): BrokenRule["mode"] | undefined {
    if (this.broken.length === 0 || !version) return undefined;
    const n = name.toLowerCase();
    const rule = this.broken.find((b) => b.object === object && b.name === n && b.version === version && b.operations.has(op));
    if (!rule) return undefined;
    if (rule.worksFor > 0) {
      rule.worksFor -= 1;
      return undefined;
    }
    return rule.mode;
  }

  clear(): void {
    this.broken = [];
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

/** The version an answer is about: the path's, else the last segment of the answer's kid / id. */
export function versionOfReply(pathVersion: string, body: unknown): string {
  if (pathVersion) return pathVersion;
  const b = (body ?? {}) as { kid?: unknown; id?: unknown; key?: { kid?: unknown } };
  const id = typeof b.kid === "string" ? b.kid : typeof b.id === "string" ? b.id : typeof b.key?.kid === "string" ? b.key.kid : "";
  return id.split("/").pop() ?? "";
}

function flipBase64url(text: string): string {
  const bytes = Buffer.from(text, "base64url");
  if (bytes.length > 0) bytes[0] = bytes[0]! ^ 0xff;
  return bytes.toString("base64url");
}

/** Each letter or digit moved one place within its class: the same length and alphabet (a value
 * that still looks right), never the same value. */
function shiftText(text: string): string {
  return text.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 1) % 26) + 97))
    .replace(/[A-Z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 65 + 1) % 26) + 65))
    .replace(/[0-9]/g, (c) => String((Number(c) + 1) % 10));
}

/** The wrong answer a corrupt version gives to `op`. */
export function corruptReply(op: KeyVaultOperation, body: unknown): unknown {
  const b = { ...(body as Record<string, unknown>) };
  if (op === "verify") return { ...b, value: false };
  if (op === "getSecret") return typeof b.value === "string" ? { ...b, value: shiftText(b.value) } : b;
  if (op === "getKey") {
    const key = { ...(b.key as Record<string, unknown>) };
    for (const m of ["n", "x"]) if (typeof key[m] === "string") key[m] = flipBase64url(key[m]);
    return { ...b, key };
  }
  return typeof b.value === "string" ? { ...b, value: flipBase64url(b.value) } : b;
}
