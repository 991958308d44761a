// Entity keyLock: one lease lock per managed key (lib/orchestration/lock.ts, rules in
// lib/domain/rotation.ts). Not context.df.lock: that needs a Durable extension not yet shipped.
import * as df from "durable-functions";
import type { EntityContext } from "durable-functions";
import type { LockState } from "../lib/domain/rotation";
import { keyLockOperation } from "../lib/orchestration/lock";
import { DURABLE } from "../lib/orchestration/names";

export function keyLock(context: EntityContext<LockState>): void {
  keyLockOperation(context);
}

df.app.entity(DURABLE.entities.keyLock, keyLock);
