// How the real Durable extension records an activity the Node worker reported failed (issue 16,
// difference 3 in dev/durable-runtime/README.md; recorded verbatim in
// test/fixtures/realRuntime/activityFailureMessage.json). The worker reports Result: Failure with the
// error's message and stack; the host raises that as an exception whose message is
// `Result: Failure\nException: <message>\nStack: <stack>` (the Functions host's RpcException); the
// extension cuts the text after `Exception:` up to `\nStack:` (so it keeps the leading space), wraps
// the host's exception in a System.Exception of that message, and records
//   Reason  `Activity function '<name>' failed: ` + that message, i.e. two spaces before the app's,
//   Details the outer exception serialized by Json.NET (type names, the inner exception, the stack).
// durable-functions hands the orchestrator `${Reason} \n ${Details}`.
import type { InvocationFailure } from "./worker";

/** A .NET exception as Json.NET serializes it (ISerializable: the base Exception fields only). */
export function dotnetException(type: string, message: string, inner: Record<string, unknown> | null): Record<string, unknown> {
  const className = type.split(",")[0] ?? type;
  return {
    $type: type, ClassName: className, Message: message, Data: null, InnerException: inner, HelpURL: null,
    StackTraceString: null, RemoteStackTraceString: null, RemoteStackIndex: 0, ExceptionMethod: null,
    HResult: -2146233088, Source: null, WatsonBuckets: null,
  };
}

const RPC_EXCEPTION = "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, Microsoft.Azure.WebJobs.Script";

/** Reason and Details of the TaskFailed event for an activity whose invocation failed in the worker. */
export function workerFailure(name: string, err: InvocationFailure): [reason: string, details: string] {
  const hostMessage = `Result: Failure\nException: ${err.message}\nStack: ${err.remoteStack ?? ""}`;
  const extracted = ` ${err.message}`;
  const inner = dotnetException(RPC_EXCEPTION, hostMessage, null);
  return [`Activity function '${name}' failed: ${extracted}`, JSON.stringify(dotnetException("System.Exception, System.Private.CoreLib", extracted, inner))];
}
