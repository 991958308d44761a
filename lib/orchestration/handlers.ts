// Parse → one lib call → map, for every rotation activity: the functions/ files stay thin, and
// every activity error crosses history with its family tag.
import type { z } from "zod";
import { InvalidRequestError } from "../domain/errors";
import * as a from "./activities";
import { rotationDeps } from "./deps";
import type { RotationDeps } from "./ports";
import { DURABLE } from "./names";

type ActivityName = keyof typeof DURABLE.activities;
interface Entry<S extends z.ZodType> {
  schema: S;
  run: (deps: RotationDeps, input: z.output<S>) => Promise<unknown>;
}
const entry = <S extends z.ZodType>(schema: S, run: (deps: RotationDeps, input: z.output<S>) => Promise<unknown>): Entry<S> => ({ schema, run });

const ACTIVITIES: { [K in ActivityName]: Entry<z.ZodType> } = {
  loadRotationContext: entry(a.LoadContextInput, a.loadRotationContext),
  recordStep: entry(a.RecordStepInput, a.recordStep),
  createKeyVersion: entry(a.CreateVersionInput, a.createKeyVersion),
  createSecretVersion: entry(a.CreateVersionInput, a.createSecretVersion),
  promoteVersion: entry(a.PromoteInput, a.promoteVersion),
  listTenants: entry(a.ListTenantsInput, (d) => a.listTenants(d)),
  rewrapRange: entry(a.RewrapRangeInput, a.rewrapRange),
  countReferences: entry(a.CountReferencesInput, a.countReferences),
  disableVersion: entry(a.DisableVersionInput, a.disableVersion),
  rotateTenantDek: entry(a.RotateTenantDekInput, a.rotateTenantDek),
  publishJwks: entry(a.PublishJwksInput, a.publishJwks),
  setKeyOps: entry(a.SetKeyOpsInput, a.setKeyOps),
  sealLedger: entry(a.SealInput, (d) => a.sealLedger(d)),
};

/** Runs one activity by its key in DURABLE.activities. */
export async function runActivity(name: ActivityName, raw: unknown, deps?: RotationDeps): Promise<unknown> {
  const e = ACTIVITIES[name];
  try {
    const parsed = e.schema.safeParse(raw ?? {});
    if (!parsed.success) throw new InvalidRequestError("ActivityInputInvalid", `[keyrotor] [rotation] ${name}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
    return await e.run(deps ?? (await rotationDeps()), parsed.data);
  } catch (err) {
    throw a.tagError(err);
  }
}
