// Old-version use, measured where it happens: every encrypt and decrypt through lib/envelope is
// counted per (tenant, DEK version, KEK version or branch-key version) as OpenTelemetry metrics, so
// "old key usage should decrease" after a rotation is a graph, not a guess.
//
// A consumer that encrypts under a DEK version that is no longer the tenant's primary (a primary
// pointer cached past a rotation, a misconfigured cache) is an alert: at most once per tenant and
// checkEveryMs, an encrypt is compared with the tenant's primary in the DEK store (one table read,
// never a vault call, never on the encrypt's path), and a mismatch is counted and reported.
import { metrics, type Counter, type Meter } from "@opentelemetry/api";
import { METRIC_ATTRIBUTES as A, METRIC_NAMES as M } from "../telemetry/names";

export type EnvelopeOperation = "encrypt" | "decrypt";

/** What the envelope knows of the DEK it used (the resolver's record; fields vary by format). */
export interface UsedDek {
  dekVersion: number;
  kekKeyId?: string;
  kekVersion?: string;
  branchId?: string;
  branchVersion?: number;
}

export interface NonPrimaryEncrypt {
  tenant: string;
  /** The DEK version the consumer encrypted under. */
  dekVersion: number;
  /** The tenant's primary when it was checked. */
  primaryVersion: number;
}

export interface EnvelopeUsageOptions {
  meter?: Meter;
  /** The tenant's primary DEK version as stored (DekSource.getPrimary); without it no check runs. */
  primaryOf?: (tenant: string) => Promise<number | undefined>;
  /** At most one primary check per tenant per this many ms (default 60 s). */
  checkEveryMs?: number;
  /** The alert: a consumer encrypted under a non-primary version (e.g. publish an event). */
  onNonPrimaryEncrypt?: (alert: NonPrimaryEncrypt) => void | Promise<void>;
  now?: () => number;
}

/** Plain-number attributes of a used DEK: the wrapping key's version is the KEK version (format 1)
 * or the branch key's (format 2). */
function attributesOf(tenant: string, op: EnvelopeOperation, used: UsedDek): Record<string, string> {
  return {
    [A.operation]: op, [A.tenant]: tenant, [A.dekVersion]: String(used.dekVersion),
    ...(used.kekKeyId ? { [A.keyId]: used.kekKeyId } : {}),
    ...(used.kekVersion ? { [A.kekVersion]: used.kekVersion } : {}),
    ...(used.branchVersion !== undefined ? { [A.branchKeyVersion]: `${used.branchId ?? ""}#${used.branchVersion}` } : {}),
  };
}

export class EnvelopeUsage {
  private readonly operations: Counter;
  private readonly nonPrimary: Counter;
  private readonly checkedAt = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly checkEveryMs: number;
  private readonly now: () => number;
  /** Checks that could not read the primary (the store was unavailable); never thrown at callers. */
  checkErrors = 0;

  constructor(private readonly opts: EnvelopeUsageOptions = {}) {
    const meter = opts.meter ?? metrics.getMeter("keyrotor");
    this.operations = meter.createCounter(M.envelopeOperations, { description: "Envelope encrypts and decrypts by tenant, DEK version and wrapping key version" });
    this.nonPrimary = meter.createCounter(M.envelopeNonPrimaryEncrypts, { description: "Encrypts under a DEK version that is not the tenant's primary" });
    this.checkEveryMs = opts.checkEveryMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Counts one operation; for an encrypt, schedules the primary check when one is due. */
  record(op: EnvelopeOperation, tenant: string, used: UsedDek): void {
    this.operations.add(1, attributesOf(tenant, op, used));
    if (op !== "encrypt" || !this.opts.primaryOf) return;
    const last = this.checkedAt.get(tenant);
    if (last !== undefined && this.now() - last < this.checkEveryMs) return;
    this.checkedAt.set(tenant, this.now());
    const p = this.check(tenant, used.dekVersion).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async check(tenant: string, dekVersion: number): Promise<void> {
    let primary: number | undefined;
    try {
      primary = await this.opts.primaryOf!(tenant);
    } catch {
      // A check that cannot read the store is counted, never thrown: it must not break encryption.
      this.checkErrors++;
      this.checkedAt.delete(tenant);
      return;
    }
    if (primary === undefined || primary === dekVersion) return;
    this.nonPrimary.add(1, { [A.tenant]: tenant, [A.dekVersion]: String(dekVersion) });
    try {
      await this.opts.onNonPrimaryEncrypt?.({ tenant, dekVersion, primaryVersion: primary });
    } catch {
      this.checkErrors++;
    }
  }

  /** Waits for the checks under way (tests, and a consumer's orderly shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}

/** The used DEK as far as a resolver's record says (fields it lacks are left out). */
export function usedDekOf(record: { dekVersion: number } & Partial<Record<"kekKeyId" | "kekVersion" | "branchId", unknown>> & { branchVersion?: unknown }): UsedDek {
  return {
    dekVersion: record.dekVersion,
    ...(typeof record.kekKeyId === "string" ? { kekKeyId: record.kekKeyId } : {}),
    ...(typeof record.kekVersion === "string" ? { kekVersion: record.kekVersion } : {}),
    ...(typeof record.branchId === "string" ? { branchId: record.branchId } : {}),
    ...(typeof record.branchVersion === "number" ? { branchVersion: record.branchVersion } : {}),
  };
}
