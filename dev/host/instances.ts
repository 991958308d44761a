// Several dev hosts on one store, as Flex Consumption runs an app's HTTP, durable and timer
// functions on different instances that share only storage. What a test needs to wait for them.
import type { DevHost } from "./index";
import type { HistoryStore } from "./store";

/**
 * Resolves when every instance is idle and the store holds no work waiting to be picked up (no
 * pending start, no inbox message): then nothing runs anywhere but durable timers. Work an instance
 * wrote for another one is in the store until that one's poller takes it, so each instance's own
 * idle() is not enough. Rejects after `timeoutMs` (wall time) naming what still waits.
 */
export async function idleAcross(hosts: readonly DevHost[], store: HistoryStore, opts: { pollMs?: number; timeoutMs?: number } = {}): Promise<void> {
  const pollMs = opts.pollMs ?? 2;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    for (const h of hosts) await h.idle();
    const waiting = await store.workTargets();
    if (waiting.length === 0) {
      // A poll may have taken the last message and started work in the meantime: idle again, twice.
      let busy = false;
      for (const h of hosts) {
        const before = h.episodes().length + h.entityBatches();
        await h.idle();
        if (h.episodes().length + h.entityBatches() !== before) busy = true;
      }
      if (!busy && (await store.workTargets()).length === 0) return;
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`[keyrotor] [devhost] instances not idle after ${opts.timeoutMs ?? 30_000} ms: work waits in the store for ${waiting.slice(0, 10).join(", ")} (is a durable instance running?)`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
