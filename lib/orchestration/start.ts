// The one way every trigger (schedule, expiry event, manual, emergency) starts a rotation. The
// deterministic rotationId is the instance id, so a repeated trigger finds its own instance; the
// keyLock entity is the final arbiter between different rotations of one key.
import { RotationConflictError } from "../domain/errors";
import { DURABLE } from "./names";
import { instanceIdFor, RotationInputSchema, type RotationOutput, type RotationRequest, type RotationStatus } from "./workflows";

/** What startRotation needs of a durable client (durable-functions' DurableClient fits, and so
 * does the dev host's client). */
export interface RotationStarterClient {
  startNew(orchestratorName: string, options: { instanceId: string; input: unknown }): Promise<string>;
  /** Undefined, or a thrown "not found"/404, for an unknown instance. */
  getStatus(instanceId: string): Promise<{ runtimeStatus?: string; customStatus?: unknown; output?: unknown } | undefined>;
}

export interface StartedRotation {
  rotationId: string;
  instanceId: string;
  /** started: this call started it; alreadyRunning / alreadyCompleted: the same trigger repeated. */
  status: "started" | "alreadyRunning" | "alreadyCompleted";
}

export interface StartOptions {
  /** How long to wait for the lock decision (the start is refused if another rotation holds it). */
  decisionTimeoutMs?: number;
  pollMs?: number;
  orchestrator?: string;
  sleep?: (ms: number) => Promise<void>;
}

const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function statusOf(client: RotationStarterClient, instanceId: string): Promise<Awaited<ReturnType<RotationStarterClient["getStatus"]>>> {
  try {
    const s = await client.getStatus(instanceId);
    return s?.runtimeStatus ? s : undefined;
  } catch (err) {
    if (/404|not found/i.test(err instanceof Error ? err.message : String(err))) return undefined;
    throw err;
  }
}

/** Starts the rotation (or finds the one this trigger already started) and waits until it holds
 * the key's lock. Throws RotationConflictError naming the running rotationId when another
 * rotation of the key holds it. */
export async function startRotation(client: RotationStarterClient, request: RotationRequest, opts: StartOptions = {}): Promise<StartedRotation> {
  const input = RotationInputSchema.parse(request);
  const instanceId = instanceIdFor(input.rotationId);
  const orchestrator = opts.orchestrator ?? DURABLE.orchestrators.rotation;
  const existing = await statusOf(client, instanceId);
  let status: StartedRotation["status"] = "started";
  if (existing && ACTIVE.has(existing.runtimeStatus!)) status = "alreadyRunning";
  else if (existing?.runtimeStatus === "Completed" && (existing.output as RotationOutput | undefined)?.outcome !== "refused") {
    return { rotationId: input.rotationId, instanceId, status: "alreadyCompleted" };
  } else {
    try {
      await client.startNew(orchestrator, { instanceId, input: request });
    } catch (err) {
      // A concurrent start of the same trigger won the instance id: that is the same rotation.
      const again = await statusOf(client, instanceId);
      if (!again) throw err;
      status = "alreadyRunning";
    }
  }
  return { rotationId: input.rotationId, instanceId, status: await awaitLockDecision(client, instanceId, status, opts) };
}

async function awaitLockDecision(client: RotationStarterClient, instanceId: string, status: StartedRotation["status"], opts: StartOptions): Promise<StartedRotation["status"]> {
  const deadline = Date.now() + (opts.decisionTimeoutMs ?? 30_000);
  const sleep = opts.sleep ?? delay;
  for (;;) {
    const s = await statusOf(client, instanceId);
    const out = s?.output as RotationOutput | undefined;
    if (s?.runtimeStatus === "Completed" && out?.outcome === "refused") {
      throw new RotationConflictError("LockHeld", `[keyrotor] [rotation] ${out.keyId} is being rotated by ${out.heldBy ?? "another rotation"}`, {
        ...(out.heldBy ? { runningRotationId: out.heldBy } : {}),
      });
    }
    const lock = (s?.customStatus as RotationStatus | undefined)?.lock;
    if (lock === "held" || lock === "released" || (s && !ACTIVE.has(s.runtimeStatus!))) return status;
    if (Date.now() > deadline) return status; // still waiting for the lock: report it as started
    await sleep(opts.pollMs ?? 20);
  }
}
