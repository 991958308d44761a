// Stands in for `@azure/functions-core`, the module the Azure Functions Node.js worker provides to
// the app at run time. @azure/functions requires it lazily; when it is present, `app.*` and
// `df.app.*` call registerFunction(metadata, handler) exactly as they do inside the real worker, so
// the host captures the real metadata and the real (durable-functions-wrapped) handlers.
//
// One app per process, like the worker: every registration made in this process lands in one
// registry. The interception is installed when this module is first imported.
import Module, { createRequire } from "node:module";
import path from "node:path";

export const CORE_MODULE_ID = "@azure/functions-core";

export interface RpcTypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  stream?: Uint8Array | null;
  http?: RpcHttpData | null;
  int?: number | null;
  double?: number | null;
}

export interface RpcHttpData {
  method?: string | null;
  url?: string | null;
  headers?: Record<string, string> | null;
  body?: RpcTypedData | null;
  params?: Record<string, string> | null;
  query?: Record<string, string> | null;
  statusCode?: string | null;
  cookies?: Array<Record<string, unknown>> | null;
  enableContentNegotiation?: boolean | null;
}

export interface RpcBindingInfo {
  type?: string | null;
  direction?: "in" | "out" | "inout" | null;
  name?: string;
  [key: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
}

export interface RpcParameterBinding {
  name?: string | null;
  data?: RpcTypedData | null;
}

export interface RpcInvocationResponse {
  invocationId?: string | null;
  outputData?: RpcParameterBinding[] | null;
  returnValue?: RpcTypedData | null;
}

export type CoreLog = (level: string, category: string, message: string) => void;

export interface CoreInvocationContext {
  invocationId: string;
  request: {
    invocationId: string;
    functionId: string;
    inputData: RpcParameterBinding[];
    triggerMetadata: Record<string, RpcTypedData>;
    traceContext: { traceParent?: string; traceState?: string; attributes?: Record<string, string> };
    retryContext?: null;
  };
  metadata: { name: string; bindings: Record<string, RpcBindingInfo>; functionId: string; directory?: string };
  state?: "preInvocationHooks" | "postInvocationHooks" | "invocation";
  log: CoreLog;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<RpcInvocationResponse>;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): InvocationModel;
  getCapabilities?(capabilities: Record<string, string>): Promise<Record<string, string>> | Record<string, string>;
}

export type FunctionCallback = (...args: unknown[]) => unknown;
export type HookCallback = (context: Record<string, unknown>) => unknown;

export interface RegisteredFunction {
  readonly functionId: string;
  readonly metadata: FunctionMetadata;
  readonly handler: FunctionCallback;
}

interface CoreRegistry {
  model: ProgrammingModel | undefined;
  functions: Map<string, RegisteredFunction>;
  hooks: Map<string, Set<HookCallback>>;
  /** Where library/system logs go; the running host replaces it. */
  systemLog: CoreLog;
}

const REGISTRY_KEY = Symbol.for("keyrotor.devHost.functionsCore");

/** The process-wide registry (kept on globalThis so two copies of this module share it). */
export function coreRegistry(): CoreRegistry {
  const g = globalThis as unknown as Record<symbol, CoreRegistry | undefined>;
  let reg = g[REGISTRY_KEY];
  if (!reg) {
    reg = { model: undefined, functions: new Map(), hooks: new Map(), systemLog: () => {} };
    g[REGISTRY_KEY] = reg;
  }
  return reg;
}

class Disposable {
  readonly #onDispose: () => void;
  constructor(onDispose: () => void) {
    this.#onDispose = onDispose;
  }
  dispose(): void {
    this.#onDispose();
  }
}

let functionCounter = 0;

/** The module object the app's copy of @azure/functions receives for `require("@azure/functions-core")`. */
function createCoreModule(): Record<string, unknown> {
  const reg = coreRegistry();
  return {
    version: "3.10.1",
    Disposable,
    setProgrammingModel(model: ProgrammingModel): void {
      reg.model = model;
    },
    getProgrammingModel(): ProgrammingModel | undefined {
      return reg.model;
    },
    registerFunction(metadata: FunctionMetadata, handler: FunctionCallback): Disposable {
      if (reg.functions.has(metadata.name)) {
        throw new Error(`[keyrotor] [devhost] a function named "${metadata.name}" is already registered`);
      }
      functionCounter += 1;
      const functionId = `fn-${functionCounter}-${metadata.name}`;
      reg.functions.set(metadata.name, { functionId, metadata: { ...metadata, functionId }, handler });
      return new Disposable(() => reg.functions.delete(metadata.name));
    },
    registerHook(hookName: string, callback: HookCallback): Disposable {
      const known = ["preInvocation", "postInvocation", "appStart", "appTerminate", "log"];
      if (!known.includes(hookName)) throw new RangeError(`[keyrotor] [devhost] unknown hook "${hookName}"`);
      let set = reg.hooks.get(hookName);
      if (!set) {
        set = new Set();
        reg.hooks.set(hookName, set);
      }
      set.add(callback);
      return new Disposable(() => set.delete(callback));
    },
    log(level: string, category: string, message: string): void {
      reg.systemLog(level, category, message);
    },
  };
}

type LoadFn = (request: string, parent: unknown, isMain: boolean) => unknown;
type ResolveFn = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

let installed = false;

/**
 * Makes `require("@azure/functions-core")` return the stand-in, then loads @azure/functions and
 * durable-functions through the CommonJS loader so that their own requires go through the patched
 * loader even when the app is later imported through an ESM loader (tsx, vitest).
 */
export function installFunctionsCore(): void {
  if (installed) return;
  installed = true;
  const core = createCoreModule();
  const mod = Module as unknown as { _load: LoadFn; _resolveFilename: ResolveFn };
  const originalLoad = mod._load;
  const originalResolve = mod._resolveFilename;
  mod._load = function load(request: string, parent: unknown, isMain: boolean): unknown {
    if (request === CORE_MODULE_ID) return core;
    return originalLoad.call(this, request, parent, isMain);
  };
  mod._resolveFilename = function resolve(request: string, parent: unknown, isMain: boolean, options?: unknown): string {
    if (request === CORE_MODULE_ID) return CORE_MODULE_ID;
    return originalResolve.call(this, request, parent, isMain, options);
  };
  const req = createRequire(path.join(process.cwd(), "package.json"));
  req("@azure/functions");
  req("durable-functions");
}

installFunctionsCore();
