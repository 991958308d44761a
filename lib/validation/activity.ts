// The validateVersion activity: runs one gate against a new version, writes what was checked and
// the outcome to the ledger (entryId rotationId#validation:<gate>, so a replay writes nothing twice),
// and returns the verdict (ids and counts only). The orchestrator stops the rotation on "failed".
import { z } from "zod";
import { GATE_STAGE, validationFailed, validationStep, VALIDATION_GATES, type ValidationResult } from "../domain/validation";
import { InvariantViolationError } from "../domain/errors";
import { ROTATION_TRIGGERS } from "../domain/keys";
import type { KekPort } from "../envelope/kek";
import type { DekRecord } from "../envelope/dekRecord";
import type { FlatDekAuth } from "../envelope/flatDekAuth";
import { dekProbe, kekRewrapSampleLeg, kekRewrapSampleVerdict, kekRoundTrip, secretReadBack, signingProbe, signingPublished, type ProbeToken, type SampleLeg } from "./gates";
import type { ValidationDeps } from "./ports";

const id = z.string().min(1).max(512);
const common = {
  rotationId: id,
  keyId: id,
  /** The new version the gate vouches for. */
  version: z.string().min(1).max(128),
  actor: z.string().min(1).max(400),
  at: z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO instant"),
  trigger: z.enum(ROTATION_TRIGGERS).optional(),
  /** The rotation's phase when the gate runs (telemetry names it on the activity's span and log). */
  phase: z.string().max(32).optional(),
};
const token = z.object({ version: z.string().min(1).max(128), data: z.string().max(200), signature: z.string().max(2000) });
const failure = z.object({ version: z.string(), reason: z.string().max(500) });

export const ValidateVersionInput = z.discriminatedUnion("gate", [
  z.object({ gate: z.literal("kekRoundTrip"), ...common }),
  z.object({
    gate: z.literal("kekRewrapSample"), ...common,
    cursor: z.string().max(2048).optional(),
    before: z.object({ checked: z.number().int().min(0), failed: z.number().int().min(0), failures: z.array(failure).max(10), tenants: z.number().int().min(0) }).optional(),
    perTenant: z.number().int().min(1).max(20).default(2),
    tenantsPerLeg: z.number().int().min(1).max(1000).default(100),
  }),
  z.object({ gate: z.literal("signingProbe"), ...common, alsoSign: z.array(z.string().min(1).max(128)).max(50).default([]) }),
  z.object({ gate: z.literal("signingPublished"), ...common, retained: z.array(z.string().min(1).max(128)).max(50), tokens: z.array(token).max(50) }),
  z.object({ gate: z.literal("secretReadBack"), ...common }),
]);
export type ValidateVersionRequest = z.input<typeof ValidateVersionInput>;

export interface ValidateVersionOutput {
  /** The verdict; absent while a sampled gate has more legs to run (then `next` is the next input). */
  result?: ValidationResult;
  next?: { cursor: string; before: Omit<SampleLeg, "cursor"> };
  /** signingProbe: tokens the retained versions signed, for signingPublished. */
  tokens?: ProbeToken[];
}

/** Rows of a tenant partition read to find the DEKs to sample. */
const SCAN_ROWS = 200;

export async function validateVersion(deps: ValidationDeps, raw: ValidateVersionRequest): Promise<ValidateVersionOutput> {
  const input = ValidateVersionInput.parse(raw);
  let out: ValidateVersionOutput;
  switch (input.gate) {
    case "kekRoundTrip":
      out = { result: await kekRoundTrip(deps.validationVault, input.keyId, input.version) };
      break;
    case "kekRewrapSample": {
      const leg = await kekRewrapSampleLeg(deps, {
        keyId: input.keyId, version: input.version, perTenant: input.perTenant, tenantsPerLeg: input.tenantsPerLeg, scanRows: SCAN_ROWS,
        ...(input.cursor ? { cursor: input.cursor } : {}), ...(input.before ? { before: input.before } : {}),
      });
      if (leg.cursor) {
        const { cursor, ...before } = leg;
        return { next: { cursor, before } };
      }
      out = { result: kekRewrapSampleVerdict(input.version, leg) };
      break;
    }
    case "signingProbe": {
      const r = await signingProbe(deps, input.keyId, input.version, input.alsoSign);
      out = { result: r.result, tokens: r.tokens };
      break;
    }
    case "signingPublished":
      out = { result: await signingPublished(deps, input.keyId, input.version, input.retained, input.tokens) };
      break;
    case "secretReadBack":
      out = { result: await secretReadBack(deps, input.keyId, input.version) };
      break;
  }
  await recordValidation(deps, input, out.result!);
  return out;
}

/** One ledger entry per gate and rotation: what was checked, against which version, the outcome. */
export async function recordValidation(
  deps: Pick<ValidationDeps, "ledger">,
  ctx: { rotationId: string; keyId: string; actor: string; at: string; trigger?: (typeof ROTATION_TRIGGERS)[number] },
  r: ValidationResult,
): Promise<void> {
  await deps.ledger.append({
    keyId: ctx.keyId, entryId: `${ctx.rotationId}#${validationStep(r.gate)}`, type: "Validation", rotationId: ctx.rotationId,
    actor: ctx.actor, at: ctx.at, ...(ctx.trigger ? { trigger: ctx.trigger } : {}),
    versionAfter: r.version,
    counts: { checked: r.checked, failed: r.failed },
    details: {
      gate: r.gate, stage: GATE_STAGE[r.gate], check: r.check, outcome: r.outcome,
      ...(r.reason ? { reason: r.reason } : {}), ...(r.failedVersion ? { failedVersion: r.failedVersion } : {}),
    },
    ...(r.outcome === "failed" ? { error: { code: "ValidationFailed", message: validationFailed(ctx.keyId, r).message } } : {}),
  });
}

/** The DEK gate, inside the DEK rotation activity (the plaintext exists only there): the new DEK
 * must decrypt through lib/envelope a probe it encrypted before it becomes primary. Records the
 * validation and throws ValidationFailed (nothing promoted) when it does not. */
export async function dekGate(
  deps: Pick<ValidationDeps, "ledger">, kek: KekPort, ctx: { rotationId: string; keyId: string; actor: string; at: string },
  dek: DekRecord, plaintext: Buffer, auth?: FlatDekAuth,
): Promise<ValidationResult> {
  const r = await dekProbe(kek, dek, plaintext, auth);
  await recordValidation(deps, ctx, r);
  if (r.outcome === "failed") throw validationFailed(ctx.keyId, r);
  return r;
}

export { VALIDATION_GATES };

/** The gates' deps from the rotation deps; a composition without a validation vault cannot vouch
 * for a version, so the gate refuses (the rotation stops before promotion). */
export function validationDepsOf(d: Omit<ValidationDeps, "validationVault"> & { validationVault?: ValidationDeps["validationVault"] }): ValidationDeps {
  if (!d.validationVault) throw new InvariantViolationError("ValidationUnavailable", "[keyrotor] [validation] the composition has no validation vault (RotationDeps.validationVault); no new version can be validated");
  return { ...d, validationVault: d.validationVault };
}

/** lib/envelope's KEK port over one vault key of the validation vault (wrap local, unwrap remote):
 * the DEK gate resolves the stored DEK the way a consumer does. */
export function kekPortOver(vault: Pick<ValidationDeps["validationVault"], "wrapKey" | "unwrapKey">, vaultName: string, keyName: string): KekPort {
  return {
    wrap: (_kekKeyId, version, dek) => vault.wrapKey(vaultName, keyName, version, Buffer.from(dek)),
    unwrap: (_kekKeyId, version, wrapped) => vault.unwrapKey(vaultName, keyName, version, Buffer.from(wrapped)),
  };
}
