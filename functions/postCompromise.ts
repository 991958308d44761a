// POST /api/events/compromise: an external system reports a compromised key. It opens an emergency
// request (revokeOld by default) that still needs a second person's approval.
import { app } from "@azure/functions";
import { httpOptions } from "../lib/api/http";
import { CompromiseBody, reportCompromise } from "../lib/api/rotations";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, readBody } from "../lib/http/api";

export const postCompromise = api({ role: ROUTES.postCompromise.role }, async ({ req, ctx, principal }) => {
  const body = await readBody(req, CompromiseBody);
  const accepted = await reportCompromise((await composition(ctx)).api, principal!, body);
  return json(202, accepted, { location: accepted.statusUrl });
});

app.http(ROUTES.postCompromise.name, httpOptions(ROUTES.postCompromise, postCompromise));
