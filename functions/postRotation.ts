// POST /api/rotations: a normal rotation starts at once (202 running, 409 with the running
// rotationId); an emergency is recorded and waits for a second person (202 pendingApproval).
import { app } from "@azure/functions";
import { httpOptions, rotationClient } from "../lib/api/http";
import { PostRotationBody, requestRotation } from "../lib/api/rotations";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, readBody } from "../lib/http/api";

export const postRotation = api({ role: ROUTES.postRotation.role }, async ({ req, ctx, principal }) => {
  const body = await readBody(req, PostRotationBody);
  const accepted = await requestRotation((await composition(ctx)).api, rotationClient(ctx), principal!, body);
  return json(202, accepted, { location: accepted.statusUrl });
});

app.http(ROUTES.postRotation.name, httpOptions(ROUTES.postRotation, postRotation));
