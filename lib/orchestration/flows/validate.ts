// The validation gates as flow steps (lib/validation): one validateVersion activity per gate (a
// sampled gate in legs, each reading one page of tenants), which records the verdict in the ledger.
// A failed gate stops the rotation with ValidationFailed: the frame records Failed and publishes
// RotationFailed, whose guidance answers the four questions (lib/domain/guidance.ts).
import type { Task } from "durable-functions";
import { validationFailureText, type ValidationGate } from "../../domain/validation";
import type { ValidateVersionOutput } from "../../validation/activity";
import { DURABLE } from "../names";
import { flowError, nowIso, step, type Flow } from "./frame";

/** Runs `gate` on `version`; returns its output when it passed, throws ValidationFailed otherwise. */
export function* validate(f: Flow, gate: ValidationGate, version: string, extra: Record<string, unknown> = {}): Generator<Task, ValidateVersionOutput, unknown> {
  const i = f.input;
  const base = { gate, rotationId: i.rotationId, keyId: i.keyId, version, actor: i.actor, at: nowIso(f.ctx), trigger: i.trigger, phase: f.phase, ...extra };
  let out = yield* step<ValidateVersionOutput>(f, DURABLE.activities.validateVersion, base);
  while (out.next) out = yield* step<ValidateVersionOutput>(f, DURABLE.activities.validateVersion, { ...base, cursor: out.next.cursor, before: out.next.before });
  const r = out.result;
  if (r?.outcome !== "passed") {
    throw flowError("invariantViolation", "ValidationFailed", r ? validationFailureText(i.keyId, r) : `${i.keyId} version ${version}: the ${gate} gate gave no verdict; nothing was disabled`);
  }
  return out;
}
