// The history the Durable extension's status endpoint answers with `showHistory=true`: what
// DurableClient.GetDurableOrchestrationStatusAsync makes of DurableTask.Core's events. EventType and
// OrchestrationStatus become names; OrchestratorStarted/Completed rows go; each TaskScheduled and
// SubOrchestrationInstanceCreated row is folded into its result (ScheduledTime, FunctionName, Input);
// results are parsed JSON when `showHistoryOutput`, left out otherwise; inputs go with
// `showInput=false`; EventId and IsPlayed go. Field names and order are those the real extension
// 3.19.0 answered (test/fixtures/realRuntime/showHistory.json, held by
// test/support/durableHistoryContract.ts): Json.NET's timestamps (7 fractional digits at most,
// trailing zeros dropped), ScheduledTime with "+00:00", the Azure Storage provider's null TaskScheduled
// input, null Correlation/ParentTraceContext/FailureDetails.
import { EventType, eventTypeName, type HistoryEvent } from "./history";

export interface HistoryViewOptions {
  showHistoryOutput: boolean;
  showInput: boolean;
}

/** An ISO instant as Json.NET writes a UTC DateTime: `yyyy-MM-ddTHH:mm:ss.FFFFFFFZ`. */
export function jsonNetTimestamp(iso: string, offset = false): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const [whole = "", ms = "000"] = d.toISOString().replace("Z", "").split(".");
  const fraction = ms.replace(/0+$/, "");
  return `${whole}${fraction ? `.${fraction}` : ""}${offset ? "+00:00" : "Z"}`;
}

/** A result as ParseToJToken reads it: JSON parsed, anything else as the raw text, blank as "". */
function parsed(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return null;
  const t = text.trim();
  if (t === "") return "";
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return t;
  }
}

export function historyForStatus(events: readonly HistoryEvent[], opts: HistoryViewOptions): Array<Record<string, unknown>> {
  const scheduled = new Map<string, HistoryEvent>();
  for (const e of events) {
    if (e.EventType === EventType.TaskScheduled) scheduled.set(`task:${e.EventId}`, e);
    if (e.EventType === EventType.SubOrchestrationInstanceCreated) scheduled.set(`sub:${e.EventId}`, e);
  }
  const out: Array<Record<string, unknown>> = [];
  const input = (value: unknown): Record<string, unknown> => (opts.showInput ? { Input: value } : {});
  const result = (e: HistoryEvent): Record<string, unknown> => (opts.showHistoryOutput ? { Result: parsed(e.Result) } : {});
  /** What AddScheduledEventDataAndAggregate adds from the folded scheduling row. */
  const origin = (from: HistoryEvent | undefined, withInstance: boolean): Record<string, unknown> =>
    from
      ? { ScheduledTime: jsonNetTimestamp(from.Timestamp, true), FunctionName: from.Name ?? "", ...(withInstance ? { InstanceId: from.InstanceId ?? "" } : {}), ...input(null) }
      : {};
  for (const e of events) {
    const at = jsonNetTimestamp(e.Timestamp);
    const type = eventTypeName(e.EventType);
    switch (e.EventType) {
      case EventType.OrchestratorStarted:
      case EventType.OrchestratorCompleted:
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
        break;
      case EventType.ExecutionStarted:
        out.push({
          EventType: type, ...input(e.Input ?? null), Correlation: null, ParentTraceContext: null, ScheduledStartTime: null,
          // The Azure Storage provider writes no generation for an execution that continued as new.
          Generation: e.Generation ? null : 0, GenerateNewTrace: false, Timestamp: at, FunctionName: e.Name ?? "",
        });
        break;
      // A task's and a sub-orchestration's outcome read alike; a sub-orchestration's adds InstanceId.
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed: {
        const sub = e.EventType === EventType.SubOrchestrationInstanceCompleted || e.EventType === EventType.SubOrchestrationInstanceFailed;
        const failed = e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed;
        const outcome = failed ? { Reason: e.Reason ?? null, Details: e.Details ?? null, FailureDetails: null } : result(e);
        out.push({ EventType: type, ...outcome, Timestamp: at, ...origin(scheduled.get(`${sub ? "sub" : "task"}:${e.TaskScheduledId}`), sub) });
        break;
      }
      case EventType.TimerCreated:
      case EventType.TimerFired:
        out.push({ EventType: type, FireAt: e.FireAt ? jsonNetTimestamp(e.FireAt) : null, Timestamp: at });
        break;
      case EventType.EventRaised:
        out.push({ EventType: type, Name: e.Name ?? "", ...input(e.Input ?? null), ParentTraceContext: null, Timestamp: at });
        break;
      case EventType.EventSent:
        out.push({ EventType: type, InstanceId: e.InstanceId ?? "", Name: e.Name ?? "", ...input(e.Input ?? null), Timestamp: at });
        break;
      case EventType.ExecutionCompleted:
        out.push({ EventType: type, OrchestrationStatus: e.OrchestrationStatus ?? "", ...result(e), FailureDetails: null, Timestamp: at });
        break;
      case EventType.ExecutionTerminated:
        out.push({ EventType: type, ...input(e.Input ?? null), Timestamp: at });
        break;
      case EventType.ExecutionSuspended:
      case EventType.ExecutionResumed:
        out.push({ EventType: type, Reason: e.Reason ?? null, Timestamp: at });
        break;
      default:
        out.push({ EventType: type, Timestamp: at });
        break;
    }
  }
  return out;
}

const ORCHESTRATOR_FAILED = /^Orchestrator function '[^']*' failed: /;

/** What a parent's history gets when its child orchestration failed, as the real extension writes it
 * (test/fixtures/realRuntime/showHistory.json): Reason is the child's output, `Orchestrator function
 * '<name>' failed: <message>`; Details is the .NET exception's `Message: <message>, StackTrace: ...`
 * (the stack is the extension's shim, never the app's). */
export function subOrchestrationFailure(taskScheduledId: number, name: string, output: string | null): Partial<HistoryEvent> {
  const parsedOutput = parsed(output);
  const reason = typeof parsedOutput === "string" ? parsedOutput : `Orchestrator function '${name}' failed: ${output ?? ""}`;
  const message = reason.replace(ORCHESTRATOR_FAILED, "");
  return {
    TaskScheduledId: taskScheduledId,
    Reason: reason,
    Details: `Message: ${message}, StackTrace:    at Microsoft.Azure.WebJobs.Extensions.DurableTask.TaskOrchestrationShim.InvokeUserCodeAndHandleResults(RegisteredFunctionInfo orchestratorInfo, OrchestrationContext innerContext) (dev/host)`,
  };
}
