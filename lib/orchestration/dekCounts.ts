// The zero-reference count (countReferences) in legs. A full-table count of 1M DEKs is minutes of
// reads; one leg reads at most `maxRows` rows and returns the running totals with the cursor to go
// on from, and the orchestrator passes both to the next leg (its checkpoint, in history). A caller
// that does not ask for legs (`paged`) gets the whole count in one call, as before: a partial count
// must never reach a caller that would read it as the total.
import { z } from "zod";
import type { RotationDeps } from "./ports";

/** Rows one leg reads at most (whole pages of ≤1000): well under a minute on Table Storage. */
export const COUNT_LEG_ROWS = 200_000;

export const CountReferencesInput = z.object({
  kekKeyId: z.string().min(1).max(512),
  keepVersion: z.string().min(1),
  /** Count in legs: the answer may carry a cursor, and its byVersion is then a running total. */
  paged: z.boolean().optional(),
  cursor: z.string().min(1).max(8192).optional(),
  /** The totals of the legs before this one. */
  partial: z.record(z.string(), z.number().int().min(0)).optional(),
  maxRows: z.number().int().min(1).max(1_000_000).default(COUNT_LEG_ROWS),
});

export interface ReferenceCount {
  byVersion: Record<string, number>;
  /** DEKs (and pending DEK rotation intents) under any version but keepVersion. */
  other: number;
  /** Present while legs remain (paged only): byVersion is then a running total. */
  cursor?: string;
}

/** The proof that nothing references old versions: DEKs of this KEK under any other version. */
export async function countReferences(deps: RotationDeps, input: z.input<typeof CountReferencesInput>): Promise<ReferenceCount> {
  let byVersion: Record<string, number>;
  let cursor: string | undefined;
  if (input.paged && deps.deks.countByKekVersionPage) {
    const leg = await deps.deks.countByKekVersionPage(input.kekKeyId, { maxRows: input.maxRows ?? COUNT_LEG_ROWS, ...(input.cursor ? { continuation: input.cursor } : {}) });
    byVersion = { ...input.partial };
    for (const [v, n] of Object.entries(leg.byVersion)) byVersion[v] = (byVersion[v] ?? 0) + n;
    cursor = leg.continuation;
  } else {
    byVersion = await deps.deks.countByKekVersion(input.kekKeyId);
  }
  const other = Object.entries(byVersion).filter(([v]) => v !== input.keepVersion).reduce((s, [, n]) => s + n, 0);
  return { byVersion, other, ...(cursor ? { cursor } : {}) };
}
