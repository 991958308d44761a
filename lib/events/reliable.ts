// The part every publisher shares: a publish failure never passes silently. Each event is tried a
// bounded number of times with exponential backoff; if it still cannot be delivered, a
// NotificationFailed entry goes to the ledger and the failure shows in notificationHealth()
// (which /api/health reports). A rotation never fails because notifications are down — but if the
// failure cannot even be recorded, publish throws.
import { DependencyUnavailableError } from "../domain/errors";
import { systemClock, type Clock, type EventPublisher, type Ledger, type RotationEvent } from "../ports";
import { rotationMetrics } from "../telemetry";
import { healthOf, type NotificationHealth, type NotificationHealthStore } from "./healthStore";
import { toEventMessage, type EventMessage } from "./message";

/** Sends one message or throws. */
export type EventTransport = (message: EventMessage) => Promise<void>;

export type { NotificationHealth } from "./healthStore";

export interface NotificationHealthSource {
  notificationHealth(): NotificationHealth;
}

export interface DeliveryRetry {
  /** Total tries per event, first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_DELIVERY_RETRY: DeliveryRetry = { attempts: 4, baseDelayMs: 500, maxDelayMs: 8_000 };

export interface ReliablePublisherOptions {
  retry?: Partial<DeliveryRetry>;
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
  /** Errors that retrying cannot fix (e.g. the topic does not exist) skip the remaining tries. */
  isRetryable?: (err: unknown) => boolean;
  /** Where a failed delivery is logged (besides the ledger); default console.error. */
  log?: (line: string) => void;
  /** Storage shared by every instance of the app, which /api/health reads (lib/events/healthStore.ts):
   * each failure is recorded there, a success at most once per `successWriteIntervalMs` (60 s)
   * unless it follows a failure this instance saw. */
  healthStore?: NotificationHealthStore;
  successWriteIntervalMs?: number;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ReliableEventPublisher implements EventPublisher, NotificationHealthSource {
  private readonly retry: DeliveryRetry;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly isRetryable: (err: unknown) => boolean;
  private readonly log: (line: string) => void;
  private failures = 0;
  private lastFailureAt: string | undefined;
  private lastSuccessAt: string | undefined;
  private readonly healthStore: NotificationHealthStore | undefined;
  private readonly successWriteIntervalMs: number;
  private storedSuccessAt: number | undefined;
  private failedSinceStoredSuccess = false;

  constructor(
    private readonly transport: EventTransport,
    private readonly ledger: Ledger,
    opts: ReliablePublisherOptions = {},
  ) {
    this.retry = { ...DEFAULT_DELIVERY_RETRY, ...opts.retry };
    this.clock = opts.clock ?? systemClock;
    this.sleep = opts.sleep ?? realSleep;
    this.isRetryable = opts.isRetryable ?? (() => true);
    this.log = opts.log ?? ((line) => console.error(line));
    this.healthStore = opts.healthStore;
    this.successWriteIntervalMs = opts.successWriteIntervalMs ?? 60_000;
  }

  async publish(event: RotationEvent): Promise<void> {
    const message = toEventMessage(event);
    let lastError: unknown;
    let attempts = 0;
    while (attempts < this.retry.attempts) {
      attempts++;
      try {
        await this.transport(message);
        this.lastSuccessAt = this.clock.now().toISOString();
        await this.storeSuccess();
        return;
      } catch (err) {
        lastError = err;
        if (!this.isRetryable(err) || attempts >= this.retry.attempts) break;
        await this.sleep(Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempts - 1)));
      }
    }
    await this.recordFailure(event, lastError, attempts);
  }

  notificationHealth(): NotificationHealth {
    const ok = this.lastFailureAt === undefined || (this.lastSuccessAt !== undefined && this.lastSuccessAt >= this.lastFailureAt);
    return {
      ok,
      failures: this.failures,
      ...(this.lastFailureAt !== undefined ? { lastFailureAt: this.lastFailureAt } : {}),
      ...(this.lastSuccessAt !== undefined ? { lastSuccessAt: this.lastSuccessAt } : {}),
    };
  }

  /** The health every instance sees: from the shared store when there is one, else this process's. */
  async sharedNotificationHealth(): Promise<NotificationHealth> {
    return this.healthStore ? healthOf(await this.healthStore.read()) : this.notificationHealth();
  }

  private async storeSuccess(): Promise<void> {
    if (!this.healthStore) return;
    const now = this.clock.now();
    if (!this.failedSinceStoredSuccess && this.storedSuccessAt !== undefined && now.getTime() - this.storedSuccessAt < this.successWriteIntervalMs) return;
    try {
      await this.healthStore.recordSuccess(now.toISOString());
      this.storedSuccessAt = now.getTime();
      this.failedSinceStoredSuccess = false;
    } catch (err) {
      // The event was delivered; only the health row is stale (it shows a past failure longer).
      this.log(`[keyrotor] [events] could not record a delivery in the notification health store: ${describeError(err).message}`);
    }
  }

  private async recordFailure(event: RotationEvent, err: unknown, attempts: number): Promise<void> {
    const at = this.clock.now().toISOString();
    this.failures++;
    this.lastFailureAt = at;
    rotationMetrics().notificationFailed(event.type);
    const error = describeError(err);
    this.log(`[keyrotor] [events] ${event.type} ${event.messageId} for ${event.keyId} not delivered after ${attempts} attempt(s): ${error.code}: ${error.message}`);
    try {
      await this.ledger.append({
        keyId: event.keyId,
        entryId: `NotificationFailed:${event.messageId}`,
        type: "NotificationFailed",
        ...(event.rotationId !== undefined ? { rotationId: event.rotationId } : {}),
        actor: "system:events",
        error,
        details: { eventType: event.type, messageId: event.messageId, severity: event.severity, attempts },
        at,
      });
    } catch (ledgerErr) {
      throw new DependencyUnavailableError(
        "servicebus",
        `[keyrotor] [events] ${event.type} ${event.messageId} was not delivered and the NotificationFailed entry could not be written`,
        { code: "NotificationUnrecorded", cause: ledgerErr },
      );
    }
    if (this.healthStore) {
      this.failedSinceStoredSuccess = true;
      try {
        await this.healthStore.recordFailure(at);
      } catch (storeErr) {
        // The ledger holds the NotificationFailed entry; only /api/health misses this one.
        this.log(`[keyrotor] [events] ${event.messageId}: could not record the failure in the notification health store: ${describeError(storeErr).message}`);
      }
    }
  }
}

function describeError(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === "string" ? e.code : typeof e?.name === "string" ? e.name : "UnknownError";
  const message = typeof e?.message === "string" ? e.message : String(err);
  return { code, message: message.slice(0, 500) };
}
