// PUT /api/policies/{id} If-Match (issue 21): a value that is not one ETag or "*" is the caller's
// mistake (400, nothing written); a well-formed ETag that is not the current one is 412.
import { describe, expect, it } from "vitest";
import { putPolicy } from "../../../lib/api/queries";
import { memoryApiServices } from "../../../lib/api/services";
import { InvalidRequestError } from "../../../lib/domain/errors";
import { ROLES, type Principal } from "../../../lib/http/principal";

const ada: Principal = { id: "0f0e0d0c-0b0a-4908-8706-050403020100", name: "ada", roles: [ROLES.admin] };
const body = (over: Record<string, unknown> = {}) => ({ tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P200D", ...over });

async function refusal(p: Promise<unknown>): Promise<InvalidRequestError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidRequestError);
  return err as InvalidRequestError;
}

describe("putPolicy If-Match", () => {
  it("answers 400 IfMatchInvalid to a bare word, a list or a second '*', and writes nothing", async () => {
    const { services } = memoryApiServices();
    const first = await putPolicy(services, ada, "quarterly", body(), undefined);
    for (const ifMatch of ["x", "*, *", `${first.view.etag}, ${first.view.etag}`, '"a b"', 'W/"unterminated', "abc\"", 'w/"lowercase"']) {
      expect(await refusal(putPolicy(services, ada, "quarterly", body({ maxAttempts: 9 }), ifMatch)), ifMatch).toMatchObject({ code: "IfMatchInvalid", status: 400, field: "If-Match" });
    }
    expect(await services.policies.all()).toEqual([first.view.policy]);
  });

  it("answers 412 to a well-formed ETag that is not the policy's current one, and 200 to the current one or '*'", async () => {
    const { services } = memoryApiServices();
    const first = await putPolicy(services, ada, "quarterly", body(), undefined);
    expect(await refusal(putPolicy(services, ada, "quarterly", body({ maxAttempts: 9 }), '"abc"'))).toMatchObject({ code: "PreconditionFailed", status: 412 });
    const replaced = await putPolicy(services, ada, "quarterly", body({ maxAttempts: 9 }), ` ${first.view.etag} `);
    expect(replaced.created).toBe(false);
    expect((await putPolicy(services, ada, "quarterly", body({ maxAttempts: 8 }), "*")).view.policy.maxAttempts).toBe(8);
  });
});
