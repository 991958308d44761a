// POST /api/locks/break/{*keyId} (Admin): clears a lock by hand, audited as LockBroken; a running
// holder only with terminateOwner, which terminates it and its rewrap legs first (200 cleared, 202
// signalled but not yet confirmed, 404 not locked, 409 the holder runs and terminateOwner is absent).
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, rotationClient } from "../lib/api/http";
import { breakLock as breakKeyLock, BreakLockBody } from "../lib/api/locks";
import { routeParams, ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, readBody, validate } from "../lib/http/api";

export const breakLock = api({ role: ROUTES.breakLock.role }, async ({ req, ctx, principal }) => {
  const { keyId } = validate(z.object({ keyId: z.string().min(1).max(300) }), routeParams(req.params));
  const body = await readBody(req, BreakLockBody);
  const broken = await breakKeyLock((await composition(ctx)).api, rotationClient(ctx), principal!, keyId, body);
  return json(broken.confirmed ? 200 : 202, broken);
});

app.http(ROUTES.breakLock.name, httpOptions(ROUTES.breakLock, breakLock));
