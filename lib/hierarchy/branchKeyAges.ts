// The ages of a KEK's primary branch keys, for the branch-key schedule (lib/api/branchSchedule.ts).
// createdAt is part of each record's signed identity; a scheduling read does not verify it (the
// rotation it may start verifies every record it opens), so a planted age can at most move a
// rotation, never let one use an unauthentic key.
import type { BranchKeyAge } from "../domain/planner";
import type { BranchKeyStore } from "./branchKeyStore";

export function branchKeyAges(store: Pick<BranchKeyStore, "all">): { primaries(kekKeyId: string): Promise<BranchKeyAge[]> } {
  return {
    primaries: async (kekKeyId: string) => (await store.all(kekKeyId))
      .filter((r) => r.state === "primary")
      .map((r) => ({ branchId: r.branchId, version: r.version, createdAt: r.createdAt })),
  };
}
