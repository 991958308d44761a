// Which of a wave's DEK rotations the fan-out may start now.
//
// A tenant's DEK rotation keeps the deterministic instance id instanceIdFor(`dek:<tenant>@<slot>`)
// ON PURPOSE: the slot's rotation id is the idempotency key (rotateTenantDek reuses the DEK a
// rotation id already promoted, so re-running it never rotates the tenant twice), and the API, the
// lock break (owner status, `<parent>~` legs) and `status --watch` find a rotation by that id. An
// execution-tagged child id (as the rewrap legs use) would let two runs of the same slot's rotation
// work at once and hide them from those lookups.
//
// The cost of a fixed id: a fan-out restarted (terminated, then started again for the same slot)
// while its earlier run's child still runs must not start that id again — Azure Storage discards a
// start on a running instance and the fan-out would wait forever. So before each wave the fan-out
// reads its children's statuses (instanceStatus activity, through the durable client) and waits,
// with durable timers, until the earlier ones finished; starting a finished id again is a new
// execution that reuses the slot's DEK. A child still running after `maxWaitMs` is not started and
// is counted `stillRunning` (its own run records its outcome).
import type { OrchestrationContext, Task } from "durable-functions";
import { isLive, type InstanceStatuses } from "./instanceStatus";
import { CLIENT_ACTIVITIES } from "./names";

const STATUS_READ_ATTEMPTS = 5;

export function* earlierChildrenSettled(
  ctx: OrchestrationContext, instanceIds: string[], pollMs: number, maxWaitMs: number,
): Generator<Task, Set<string>, unknown> {
  const deadline = ctx.df.currentUtcDateTime.getTime() + maxWaitMs;
  let live = instanceIds;
  let failures = 0;
  while (live.length > 0) {
    let statuses: InstanceStatuses;
    try {
      statuses = (yield ctx.df.callActivity(CLIENT_ACTIVITIES.instanceStatus, { instanceIds: live })) as InstanceStatuses;
      failures = 0;
    } catch (err) {
      // A storage hiccup must not fail the whole slot's fan-out: read again after a poll interval.
      if (++failures >= STATUS_READ_ATTEMPTS) throw err;
      yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + pollMs));
      continue;
    }
    live = live.filter((id) => isLive(statuses[id]));
    const now = ctx.df.currentUtcDateTime.getTime();
    if (live.length === 0 || now >= deadline) break;
    yield ctx.df.createTimer(new Date(Math.min(deadline, now + pollMs)));
  }
  return new Set(live);
}
