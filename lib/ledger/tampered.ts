// The one error every ledger read throws when the stored rows are not what the ledger wrote.
import { InvariantViolationError } from "../domain/errors";
import type { LedgerBreak } from "../ports";

/** The ledger refuses to read (or append to) a chain whose rows verify would not accept: an
 * InvariantViolationError (500, never retried, alerted) carrying the break verify would report. */
export class LedgerTamperedError extends InvariantViolationError {
  readonly break: LedgerBreak;
  constructor(b: LedgerBreak) {
    super("LedgerTampered", `[keyrotor] [ledger] ${b.keyId} #${b.seq}: ${b.problem}${b.detail ? ` (${b.detail})` : ""}; refusing to read it, run ledger verify`);
    this.break = b;
  }
}
