// GET /api/ledger/verify[?continuation=…]: {ok, complete, chains, entries, seals, firstBreak?,
// continuation?}. Azure cuts HTTP responses at 230 s: a ledger that does not verify within
// HTTP_VERIFY_BUDGET_MS answers 202 with this page's findings and the continuation to call with
// next (lib/api/queries.ts verifyLedgerWithin); the hourly audit keeps the whole-ledger result.
import { app } from "@azure/functions";
import { httpOptions, queryOf } from "../lib/api/http";
import { VerifyQuery, verifyLedgerWithin } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

export const verifyLedger = api({ role: ROUTES.verifyLedger.role }, async ({ req, ctx }) => {
  const q = validate(VerifyQuery, queryOf(req));
  const v = await verifyLedgerWithin((await composition(ctx)).api, q);
  return json(v.continuation === undefined ? 200 : 202, v);
});

app.http(ROUTES.verifyLedger.name, httpOptions(ROUTES.verifyLedger, verifyLedger));
