// The instanceStatus activity: the runtime status of a few orchestration instances, read through
// the durable client. Orchestrators may not use a client, so an orchestrator that must know whether
// an instance it is about to start is still running (dekFanOutChildren.ts) asks this activity.
import { z } from "zod";
import { InvalidRequestError } from "../domain/errors";

export const InstanceStatusInput = z.object({ instanceIds: z.array(z.string().min(1).max(256)).min(1).max(64) });

/** runtimeStatus by instance id; null for an instance that does not exist. */
export type InstanceStatuses = Record<string, string | null>;

export interface StatusClient {
  getStatus(instanceId: string): Promise<{ runtimeStatus?: unknown } | undefined | null>;
}

const FINISHED = new Set(["Completed", "Failed", "Terminated", "Canceled"]);

/** Running, Pending, Suspended or ContinuedAsNew: a start under this id would be discarded. */
export function isLive(status: string | null | undefined): boolean {
  return typeof status === "string" && !FINISHED.has(status);
}

export async function instanceStatuses(client: StatusClient, raw: unknown): Promise<InstanceStatuses> {
  const parsed = InstanceStatusInput.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new InvalidRequestError("ActivityInputInvalid", `[keyrotor] [rotation] instanceStatus: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  }
  const out: InstanceStatuses = {};
  for (const id of parsed.data.instanceIds) {
    try {
      const st = await client.getStatus(id);
      out[id] = typeof st?.runtimeStatus === "string" ? st.runtimeStatus : null;
    } catch (err) {
      // durable-functions answers a missing instance with a 404 error rather than undefined.
      if (/404|not found/i.test((err as Error).message ?? "")) out[id] = null;
      else throw err;
    }
  }
  return out;
}
