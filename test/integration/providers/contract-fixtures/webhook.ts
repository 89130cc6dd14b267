import { randomBytes } from 'node:crypto';
import { WebhookReceiver } from '../../../helpers/webhook-receiver.ts';
import type { ContractSetUp } from '../provider-contract.ts';

/** A receiver on loopback that keeps who holds what, and refuses one role as its target would. */
export const setUpContract: ContractSetUp = async () => {
  const secret = randomBytes(32).toString('hex');
  const receiver = await WebhookReceiver.start(secret);
  receiver.refuseRole('no-such-role');
  return {
    // The receiver answers check truthfully, so the contract's verification applies to it.
    settings: { url: receiver.url, secretEnv: 'LATCH_CONTRACT_WEBHOOK_SECRET', verifyRevocations: true },
    env: { LATCH_CONTRACT_WEBHOOK_SECRET: secret },
    role: 'read',
    principal: 'alice',
    bystander: 'bob',
    missingRole: 'no-such-role',
    hasAccess: async (principal, role) => receiver.hasAccess(principal, role, 'contract-resource'),
    cleanup: () => receiver.close(),
  };
};
