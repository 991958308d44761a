// One word per idea: POST /api/rotations takes the workflow's mode, "normal" (or "emergency");
// "manual", the API's word before, is a deprecated alias read as "normal" at the HTTP edge, so the
// orchestration only ever sees "normal".
import { afterEach, describe, expect, it } from "vitest";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { AUDITOR, OPERATOR, seedKey, startApiHost, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function startedMode(host: ApiHost, mode: string): Promise<{ status: number; inputMode?: unknown; phase?: unknown }> {
  const { keyId } = await seedKey(host.mem, "kek", `kek-${mode}`);
  const r = await host.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode } });
  if (r.status !== 202) return { status: r.status };
  const instanceId = instanceIdFor(r.json().rotationId);
  await host.host.client.waitForCompletion(instanceId);
  const input = (await host.host.client.getStatus(instanceId))?.input as { mode?: unknown } | undefined;
  const view = await host.call("GET", r.json().statusUrl as string, { as: AUDITOR });
  return { status: r.status, inputMode: input?.mode, phase: view.json().phase };
}

describe("POST /api/rotations mode", () => {
  it("takes mode normal: 202, and the rotation runs in normal mode to completion", async () => {
    h = await startApiHost();
    expect(await startedMode(h, "normal")).toEqual({ status: 202, inputMode: "normal", phase: "completed" });
  });

  it("still takes the deprecated mode manual, and hands the workflow normal", async () => {
    h = await startApiHost();
    expect(await startedMode(h, "manual")).toEqual({ status: 202, inputMode: "normal", phase: "completed" });
  });

  it("refuses any other mode with a 400 naming the field and the words it takes, starting nothing", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const r = await h.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "routine rotation", mode: "Normal" } });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({ field: "mode" });
    expect(r.json().error.message).toMatch(/"normal", "emergency"/);
    expect(await h.mem.rotation.vault.listKeyVersions("demo-vault", "tenant-kek")).toHaveLength(1);
  });
});
