// A tiny app that records the raw trigger payloads the host hands the durable library, to compare
// them with what the real Durable extension sends.
import { app } from "@azure/functions";
import * as df from "durable-functions";
import type { EntityContext, OrchestrationContext } from "durable-functions";

export const payloads: { functionName: string; input: unknown }[] = [];

app.hook.preInvocation((ctx) => {
  const name = ctx.invocationContext.functionName;
  if (name.startsWith("shapes")) payloads.push({ functionName: name, input: structuredClone(ctx.inputs[0]) });
});

df.app.entity("shapesCounter", (ctx: EntityContext<number>) => {
  const n = ctx.df.getState(() => 0) ?? 0;
  switch (ctx.df.operationName) {
    case "add":
      ctx.df.setState(n + ctx.df.getInput<number>()!);
      break;
    case "forward":
      // An entity signalling another: the host must deliver every such signal, batch after batch.
      ctx.df.signalEntity(new df.EntityId("shapesCounter", "forwarded"), "add", 1);
      break;
    case "get":
      ctx.df.return(n);
      break;
  }
});

df.app.orchestration("shapesOrchestrator", function* (ctx: OrchestrationContext) {
  const id = new df.EntityId("shapesCounter", "mine");
  yield ctx.df.callEntity(id, "add", 2);
  return (yield ctx.df.callEntity(id, "get")) as number;
});
