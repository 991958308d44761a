import { it } from "vitest";
import { startApiHost } from "/work/main/test/e2e/api/support";
it("dbg", async () => {
  const h = await startApiHost();
  try {
    const r = await h.host.invokeHttp("POST", "/runtime/webhooks/eventgrid?functionName=keyVaultEvents", { headers: { "aeg-event-type": "Notification" }, body: JSON.stringify([[null]]) });
    console.log(r.status, r.body);
  } catch (e) { console.log("THROWN", (e as Error).stack); }
  await h.stop();
});
