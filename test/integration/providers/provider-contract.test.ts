import { PROVIDER_DEFINITIONS } from '../../../src/providers/registry.ts';
import { describeProviderContract } from './provider-contract.ts';

// Every registered provider, with the fixture beside this file; one without a fixture fails here.
for (const definition of PROVIDER_DEFINITIONS) describeProviderContract(definition);
