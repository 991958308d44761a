// Invokes a registered function the way the Node.js worker does for an InvocationRequest: the
// programming model builds the InvocationContext and inputs from RPC binding data, pre- and
// post-invocation hooks run, and the response is converted back to RPC data. Nothing here knows
// about durable-functions; the durable engine only builds the binding data the extension would send.
import { randomUUID } from "node:crypto";
import {
  coreRegistry,
  type CoreInvocationContext,
  type FunctionCallback,
  type RegisteredFunction,
  type RpcInvocationResponse,
  type RpcParameterBinding,
  type RpcTypedData,
} from "./functionsCore";
import { FunctionTimeoutError, hostLimits, within } from "./limits";

export type UserLog = (functionName: string, invocationId: string, level: string, message: string) => void;

/** A function failed: what the worker would report to the host as RpcException. */
export class InvocationFailure extends Error {
  readonly remoteStack: string | undefined;
  readonly remoteName: string;
  constructor(functionName: string, err: unknown) {
    const message = err instanceof Error ? err.message : typeof err === "string" ? err : JSON.stringify(err);
    super(message);
    this.name = "InvocationFailure";
    this.remoteStack = err instanceof Error ? err.stack : undefined;
    this.remoteName = err instanceof Error ? err.name : "Error";
    this.functionName = functionName;
  }
  readonly functionName: string;
}

export interface InvocationInput {
  inputData: RpcParameterBinding[];
  triggerMetadata?: Record<string, RpcTypedData>;
}

export function findFunction(name: string): RegisteredFunction | undefined {
  return coreRegistry().functions.get(name);
}

export function triggerOf(fn: RegisteredFunction): { name: string; type: string; [k: string]: unknown } {
  for (const [name, b] of Object.entries(fn.metadata.bindings)) {
    if (b.direction === "in" && typeof b.type === "string" && /trigger$/i.test(b.type)) return { ...b, name, type: b.type };
  }
  throw new Error(`[keyrotor] [devhost] function "${fn.metadata.name}" has no trigger binding`);
}

async function runHooks(name: string, ctx: Record<string, unknown>): Promise<void> {
  for (const cb of coreRegistry().hooks.get(name) ?? []) await cb(ctx);
}

/** Runs one invocation; throws InvocationFailure when the function (or a hook) throws. `appHookData`
 * is the worker's app hook data (the Node.js worker's AppContext.appHookData): the one object every
 * hook of that worker sees as `appHookData`, appStart's included. Each host passes its own, so two
 * hosts in one process are two workers, not one. */
export async function invoke(fn: RegisteredFunction, input: InvocationInput, userLog: UserLog, appHookData: Record<string, unknown>): Promise<RpcInvocationResponse> {
  const model = coreRegistry().model;
  if (!model) throw new Error("[keyrotor] [devhost] no programming model was set: is @azure/functions loaded by the app?");
  const invocationId = randomUUID();
  const name = fn.metadata.name;
  const coreCtx: CoreInvocationContext = {
    invocationId,
    request: {
      invocationId,
      functionId: fn.functionId,
      inputData: input.inputData,
      triggerMetadata: input.triggerMetadata ?? {},
      traceContext: {},
      retryContext: null,
    },
    metadata: { name, bindings: fn.metadata.bindings, functionId: fn.functionId },
    state: undefined,
    log: (level, category, message) => {
      if (category === "user") userLog(name, invocationId, level, message);
      else coreRegistry().systemLog(level, category, message);
    },
  };
  const invocationModel = model.getInvocationModel(coreCtx);
  const { context, inputs: initialInputs } = await invocationModel.getArguments();
  const hookData: Record<string, unknown> = {};
  const pre: Record<string, unknown> = { hookData, appHookData, invocationContext: context, inputs: initialInputs, functionCallback: fn.handler };
  coreCtx.state = "preInvocationHooks";
  try {
    await runHooks("preInvocation", pre);
  } catch (err) {
    throw new InvocationFailure(name, err);
  }
  const inputs = pre.inputs as unknown[];
  const handler = pre.functionCallback as FunctionCallback;
  coreCtx.state = "invocation";
  let result: unknown;
  let error: unknown;
  let failed = false;
  try {
    const running = Promise.resolve(invocationModel.invokeFunction(context, inputs, handler));
    // functionTimeout bounds every function but the replaying orchestrators and entities.
    const trigger = triggerOf(fn).type;
    const limit = trigger === "orchestrationTrigger" || trigger === "entityTrigger" ? undefined : hostLimits().functionTimeoutMs;
    result = await within(running, limit, () => {
      throw new FunctionTimeoutError(name, invocationId, limit ?? 0);
    });
  } catch (err) {
    failed = true;
    error = err;
  }
  coreCtx.state = "postInvocationHooks";
  const post: Record<string, unknown> = { hookData, appHookData, invocationContext: context, inputs, result, error };
  try {
    await runHooks("postInvocation", post);
  } catch (err) {
    throw new InvocationFailure(name, err);
  }
  if (failed || post.error !== error) {
    if (post.error !== undefined && post.error !== null) throw new InvocationFailure(name, post.error);
  }
  return invocationModel.getResponse(context, post.result);
}

/** Parses RPC typed data the way the Durable extension reads a function's return value. */
export function typedDataToJson(data: RpcTypedData | null | undefined): string | null {
  if (!data) return null;
  if (typeof data.json === "string") return data.json;
  if (typeof data.string === "string") return JSON.stringify(data.string);
  if (typeof data.int === "number") return String(data.int);
  if (typeof data.double === "number") return String(data.double);
  if (data.bytes) return JSON.stringify(Buffer.from(data.bytes).toString("base64"));
  return null;
}
