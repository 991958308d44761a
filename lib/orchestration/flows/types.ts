// What a rotation orchestration takes and returns. Inputs, outputs and custom status are persisted
// in history: ids and counts only, never key material.
import { z } from "zod";
import { ROTATION_MODES, ROTATION_TRIGGERS, type RotationPhase } from "../../domain/keys";
import { assignmentOfBranchId } from "../../domain/branchKeys";
import { durationMs } from "../../domain/rotation";
import type { RewrapProgress } from "../rewrap";

const duration = z.string().refine((s) => { try { durationMs(s); return true; } catch { return false; } }, "must be an ISO-8601 duration");

/** A branch id as the branch-key store names it: `s<count>-<index>` (shared) or `d-<tenant>`
 * (dedicated); the shape is checked here, existence when the rotation plans. */
export const BranchIdSchema = z.string().min(1).max(140).regex(/^(s[1-9][0-9]{0,4}-[0-9]{5}|d-[A-Za-z0-9-]{1,127})$/, "must be a branch id: s<count>-<index> or d-<tenant>").refine((b) => { try { assignmentOfBranchId(b); return true; } catch { return false; } }, "must be a branch id: s<count>-<index> or d-<tenant>");

/** Which branch keys of a KEK a branch-key rotation gives new versions: every one (`true`), those
 * the named tenants are assigned to, or the named branch ids. Strict objects: one variant each. */
export const BranchKeysScopeSchema = z.union([
  z.literal(true),
  z.strictObject({ tenants: z.array(z.string().min(1).max(512)).min(1).max(1000) }),
  z.strictObject({ branchIds: z.array(BranchIdSchema).min(1).max(1000) }),
]);
export type BranchKeysScope = z.output<typeof BranchKeysScopeSchema>;

export const RotationInputSchema = z.object({
  rotationId: z.string().min(1).max(400),
  keyId: z.string().min(1).max(300),
  trigger: z.enum(ROTATION_TRIGGERS),
  actor: z.string().min(1),
  reason: z.string().max(500).optional(),
  /** emergency: no propagation wait; with revokeOld the compromised version is disabled after the
   * zero-reference proof. */
  mode: z.enum(ROTATION_MODES).default("normal"),
  revokeOld: z.boolean().optional(),
  /** A second approver who explicitly accepts data loss: only then is a version with references
   * left revoked. */
  dataLossAcceptedBy: z.string().min(1).optional(),
  /** emergency: the version to revoke (the primary when the compromise was reported). Without it,
   * the primary this rotation replaces. Pinning it means a retried emergency, after another
   * rotation promoted a clean version, still revokes the compromised one and not the clean one. */
  compromisedVersion: z.string().min(1).max(64).optional(),
  /** emergency of a KEK with branch keys, the approval's flag: every tenant also gets a new DEK
   * version, so consumers re-encrypt their data (lib/hierarchy/durableActivities.ts). */
  newDekVersions: z.boolean().optional(),
  /** normal mode: the KEK's format-1 DEKs move under branch keys (wrapped under the new version)
   * instead of being re-wrapped flat; later rotations then cost one unwrap per branch key. */
  migrateFlat: z.boolean().optional(),
  /** normal mode, a KEK with branch keys: the branch keys (every one: `true`; those of the named
   * tenants; or the named branch ids) get new versions, their DEKs re-wrapped locally. */
  branchKeys: BranchKeysScopeSchema.optional(),
  /** For a tenant's first DEK: the KEK to wrap it under. */
  kekKeyId: z.string().optional(),
  leaseDuration: duration.default("PT15M"),
  /** Wait between publishing a new version and making it primary (skipped in emergencies). */
  propagationDelay: duration.default("PT0S"),
  batchSize: z.number().int().min(1).max(1000).default(500),
  /** Range activities per rewrap sub-orchestration episode before continueAsNew (bounded history). */
  batchesPerEpisode: z.number().int().min(1).max(500).default(30),
}).superRefine((i, ctx) => {
  // A branch-key rotation is a rotation of its own (no new KEK version): it combines with nothing
  // that makes one, and only a KEK has branch keys.
  if (i.branchKeys === undefined) return;
  const clash = !i.keyId.startsWith("kek:") ? "a KEK's keyId" : i.mode === "emergency" ? "normal mode" : i.migrateFlat ? "no migrateFlat" : i.compromisedVersion ? "no compromisedVersion" : undefined;
  if (clash) ctx.addIssue({ code: "custom", path: ["branchKeys"], message: `a branch-key rotation needs ${clash} (it makes no new KEK version)` });
});
export type RotationInput = z.output<typeof RotationInputSchema>;
export type RotationRequest = z.input<typeof RotationInputSchema>;

export interface RotationOutput {
  rotationId: string;
  keyId: string;
  outcome: "completed" | "failed" | "refused";
  phase: RotationPhase;
  versionBefore?: string;
  versionAfter?: string;
  /** When refused: the rotation holding the key. */
  heldBy?: string;
  counts?: Record<string, number>;
  error?: { code: string; message: string };
}

/** Custom status: ids and counts only. */
export interface RotationStatus {
  rotationId: string;
  phase: RotationPhase;
  lock: "pending" | "held" | "refused" | "released";
  /** total: DEKs that referenced older versions when the rewrap began. */
  progress?: Partial<RewrapProgress> & { rewrapped: number };
}

/** Retirement and rollback: the same lock and frame as a rotation, with fewer inputs. */
export const MaintenanceInputSchema = z.object({
  rotationId: z.string().min(1),
  keyId: z.string().min(1),
  actor: z.string().min(1),
  reason: z.string().optional(),
  trigger: z.enum(ROTATION_TRIGGERS).default("manual"),
  leaseDuration: duration.default("PT15M"),
  /** rollback: the version to re-promote, read by the API from the rolled-back rotation's own
   * record (never "the newest secondary"), and the version that rotation made primary (the
   * rollback is refused once that one is no longer primary). */
  rollbackTo: z.string().min(1).max(64).optional(),
  rollbackFrom: z.string().min(1).max(64).optional(),
});
export type MaintenanceInput = z.output<typeof MaintenanceInputSchema>;

/** A maintenance input as the frame runs it (a normal-mode rotation input). */
export function maintenanceInput(m: MaintenanceInput): RotationInput {
  return RotationInputSchema.parse({ ...m, mode: "normal" });
}
