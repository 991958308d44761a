// Where notification delivery health lives. On Flex Consumption the HTTP functions (/api/health),
// the activities and the timer run on different instances, so a failure counted in the memory of
// the instance that published is invisible to the one that answers /api/health: the publisher
// records failures (and, throttled, successes) in storage and health reads them back from there.

/** Delivery health of the event publisher, as /api/health shows it. */
export interface NotificationHealth {
  /** False from a failed publish until a later publish succeeds. */
  ok: boolean;
  lastFailureAt?: string;
  lastSuccessAt?: string;
  /** Events that could not be delivered since this process started. */
  failures: number;
}

export interface NotificationHealthRecord {
  failures: number;
  lastFailureAt?: string;
  lastSuccessAt?: string;
}

export interface NotificationHealthStore {
  /** Counts one undelivered event at `at` (ISO). */
  recordFailure(at: string): Promise<void>;
  /** Records a delivered event at `at` (ISO); a later success clears a failure. */
  recordSuccess(at: string): Promise<void>;
  read(): Promise<NotificationHealthRecord>;
}

/** The health /api/health shows: degraded from a recorded failure until a later recorded success. */
export function healthOf(r: NotificationHealthRecord): NotificationHealth {
  const ok = r.lastFailureAt === undefined || (r.lastSuccessAt !== undefined && r.lastSuccessAt >= r.lastFailureAt);
  return {
    ok,
    failures: r.failures,
    ...(r.lastFailureAt !== undefined ? { lastFailureAt: r.lastFailureAt } : {}),
    ...(r.lastSuccessAt !== undefined ? { lastSuccessAt: r.lastSuccessAt } : {}),
  };
}

/** One store shared by every composition that is handed it (tests, the in-memory app). */
export class MemoryNotificationHealthStore implements NotificationHealthStore {
  private record: NotificationHealthRecord = { failures: 0 };

  recordFailure(at: string): Promise<void> {
    const last = this.record.lastFailureAt;
    this.record = { ...this.record, failures: this.record.failures + 1, lastFailureAt: last !== undefined && last > at ? last : at };
    return Promise.resolve();
  }

  recordSuccess(at: string): Promise<void> {
    const last = this.record.lastSuccessAt;
    this.record = { ...this.record, lastSuccessAt: last !== undefined && last > at ? last : at };
    return Promise.resolve();
  }

  read(): Promise<NotificationHealthRecord> {
    return Promise.resolve({ ...this.record });
  }
}
