// The DEK rotation of every tenant due in a slot: one rotation per tenant (each under its own
// lock), at most `concurrency` at a time. One page of tenants per episode, then continueAsNew with
// the cursor: input and history hold one page whatever the number of tenants.
import type { OrchestrationContext, Task } from "durable-functions";
import { z } from "zod";
import { rotationIds, ROTATION_TRIGGERS } from "../../domain/keys";
import { chunk } from "../../domain/rotation";
import { TENANT_PAGE_MAX } from "../dekFanOut";
import { earlierChildrenSettled } from "../dekFanOutChildren";
import { DURABLE, instanceIdFor } from "../names";
import { act } from "./act";
import type { RotationOutput, RotationRequest } from "./types";

export const DekFanOutSchema = z.object({
  /** The due period this fan-out rotates; each tenant's rotationId is rotationIds.dekInPeriod(tenant,
   * slot). Named `slot` because orchestration inputs are persisted in history (running fan-outs). */
  slot: z.string().min(1).max(64),
  trigger: z.enum(ROTATION_TRIGGERS).default("schedule"),
  actor: z.string().min(1).default("system:timer"),
  /** An explicit, small list (one page at most) instead of paging the tenants index. */
  tenants: z.array(z.string().min(1)).max(TENANT_PAGE_MAX).optional(),
  concurrency: z.number().int().min(1).max(64).default(8),
  /** Tenants per episode: one listTenants page, then continueAsNew with the cursor. */
  pageSize: z.number().int().min(1).max(TENANT_PAGE_MAX).default(500),
  /** Where the next episode's page starts (from the previous episode). */
  cursor: z.string().min(1).max(2048).optional(),
  /** Totals of the earlier episodes. */
  counts: z.record(z.string(), z.number().int().min(0)).optional(),
  /** How often, and how long at most, to wait for a tenant's rotation an earlier run of this
   * fan-out left running (../dekFanOutChildren). */
  childPollMs: z.number().int().min(100).max(3_600_000).default(15_000),
  childMaxWaitMs: z.number().int().min(0).max(86_400_000).default(3_600_000),
});

export function* dekFanOutOrchestrator(ctx: OrchestrationContext): Generator<Task, Record<string, number>, unknown> {
  const input = DekFanOutSchema.parse(ctx.df.getInput());
  const page: { tenants: string[]; cursor?: string } = input.tenants
    ? { tenants: input.tenants }
    : yield* act<{ tenants: string[]; cursor?: string }>(ctx, DURABLE.activities.listTenants, { slot: input.slot, limit: input.pageSize, ...(input.cursor ? { cursor: input.cursor } : {}) });
  const counts: Record<string, number> = { tenants: 0, completed: 0, failed: 0, refused: 0, ...input.counts };
  counts.tenants = (counts.tenants ?? 0) + page.tenants.length;
  for (const wave of chunk(page.tenants, input.concurrency)) {
    const children = wave.map((t) => ({ t, rotationId: rotationIds.dekInPeriod(t, input.slot) })).map((c) => ({ ...c, instanceId: instanceIdFor(c.rotationId) }));
    if (children.length === 0) continue;
    // The child id is the slot's rotation id on purpose; a restarted fan-out first waits for the
    // children its earlier run left running (../dekFanOutChildren says why).
    const stillRunning = yield* earlierChildrenSettled(ctx, children.map((c) => c.instanceId), input.childPollMs, input.childMaxWaitMs);
    if (stillRunning.size > 0) counts.stillRunning = (counts.stillRunning ?? 0) + stillRunning.size;
    const tasks = children.filter((c) => !stillRunning.has(c.instanceId)).map(({ t, rotationId, instanceId }) =>
      ctx.df.callSubOrchestrator(DURABLE.orchestrators.rotation, { rotationId, keyId: `dek:${t}`, trigger: input.trigger, actor: input.actor } satisfies RotationRequest, instanceId));
    if (tasks.length === 0) continue;
    for (const r of (yield ctx.df.Task.all(tasks)) as RotationOutput[]) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
    ctx.df.setCustomStatus({ ...counts });
  }
  if (page.cursor) {
    const { tenants: _explicit, ...rest } = input;
    ctx.df.continueAsNew({ ...rest, cursor: page.cursor, counts } satisfies z.input<typeof DekFanOutSchema>);
  }
  return counts;
}
