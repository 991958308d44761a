// Orchestration history events in the shape the Durable extension sends to out-of-process
// workers (DurableTask.Core HistoryEvent serialized with PascalCase properties).

export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeNumber = (typeof EventType)[keyof typeof EventType];

export interface HistoryEvent {
  EventType: EventTypeNumber;
  /** Sequence number for scheduling events (TaskScheduled, TimerCreated, ...); -1 otherwise. */
  EventId: number;
  IsPlayed: boolean;
  /** ISO 8601 instant. */
  Timestamp: string;
  Name?: string;
  Version?: string;
  /** JSON text (or null) for inputs. */
  Input?: string | null;
  /** JSON text (or null) for results. */
  Result?: string | null;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  Reason?: string;
  Details?: string;
  OrchestrationStatus?: string;
  /** ExecutionStarted: executions before this one that continued as new. */
  Generation?: number;
  OrchestrationInstance?: { InstanceId: string; ExecutionId: string };
  ParentInstance?: { Name: string; TaskScheduleId: number; OrchestrationInstance: { InstanceId: string; ExecutionId: string } };
}

export function eventTypeName(t: number): string {
  for (const [k, v] of Object.entries(EventType)) if (v === t) return k;
  return `EventType${t}`;
}

export function ev(type: EventTypeNumber, at: Date | string, fields: Partial<HistoryEvent> = {}): HistoryEvent {
  return { EventType: type, EventId: -1, IsPlayed: false, Timestamp: typeof at === "string" ? at : at.toISOString(), ...fields };
}

export function isSchedulingEvent(e: HistoryEvent): boolean {
  return (
    e.EventType === EventType.TaskScheduled ||
    e.EventType === EventType.TimerCreated ||
    e.EventType === EventType.SubOrchestrationInstanceCreated ||
    e.EventType === EventType.EventSent
  );
}

/** The entity request message an orchestrator's EventSent carries (what DurableTask entities send). */
export interface EntityRequestMessage {
  id: string;
  op: string;
  signal: boolean;
  input?: string;
  parent?: string;
  parentExecution?: string;
}
