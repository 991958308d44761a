// The policy names a provider kind and its target (data); this picks the adapter for the kind.
import { InvalidRequestError } from "../domain/errors";
import type { ProviderSpecOf, SecretProviderKind, SecretProviderSpec } from "../domain/secretProviders";
import type { CredentialProvider, SecretProviders } from "./port";

export type ProviderFactories = { [K in SecretProviderKind]?: (spec: ProviderSpecOf<K>) => CredentialProvider };

export function secretProviders(factories: ProviderFactories): SecretProviders {
  return {
    for(spec: SecretProviderSpec): CredentialProvider {
      const make = factories[spec.kind] as ((s: SecretProviderSpec) => CredentialProvider) | undefined;
      if (!make) {
        throw new InvalidRequestError("SecretProviderUnavailable", `[keyrotor] [secrets] this deployment has no ${spec.kind} provider configured`, { field: "secret.provider.kind" });
      }
      return make(spec);
    },
  };
}
