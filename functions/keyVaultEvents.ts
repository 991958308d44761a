// Event Grid trigger keyVaultEvents: Key Vault expiry and new-version events (lib/api/keyVaultEvents.ts).
// The subscription filter (infra) delivers exactly HANDLED_KEYVAULT_EVENT_TYPES. Malformed events
// are accepted and recorded (EventRejected) rather than thrown: a thrown error makes Event Grid
// retry for 24 hours; see docs/events.md.
import { app, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { rotationClient } from "../lib/api/http";
import { handleKeyVaultEvent } from "../lib/api/keyVaultEvents";
import { composition } from "./_app";
import { HANDLED_KEYVAULT_EVENT_TYPES } from "../lib/domain/keyVaultEventTypes";

export const KEYVAULT_EVENT_TYPES = HANDLED_KEYVAULT_EVENT_TYPES;

export async function keyVaultEvents(event: unknown, ctx: InvocationContext): Promise<void> {
  const outcome = await handleKeyVaultEvent((await composition(ctx)).api, rotationClient(ctx), event, { log: (l) => ctx.log(l) });
  ctx.log(`[keyrotor] [eventgrid] outcome ${outcome.outcome}`);
}

app.eventGrid("keyVaultEvents", { extraInputs: [df.input.durableClient()], handler: keyVaultEvents });
