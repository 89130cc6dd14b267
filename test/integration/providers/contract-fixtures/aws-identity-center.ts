import { FakeAwsIdentityCenter } from '../../../helpers/fake-aws-identity-center.ts';
import type { ContractSetUp } from '../provider-contract.ts';

const ACCOUNT = '111122223333';

/**
 * The fake SSO Admin and Identity Store on loopback (test/helpers/fake-aws-identity-center.ts):
 * one account, one permission set, two users matched by email; every assignment change is
 * asynchronous (one poll IN_PROGRESS), and a role whose permission set AWS does not have.
 */
export const setUpContract: ContractSetUp = async () => {
  const aws = await FakeAwsIdentityCenter.start();
  aws.addAccount(ACCOUNT);
  const admin = aws.addPermissionSet('contractadmin');
  const users = new Map([
    ['alice@example.com', aws.addUser('alice', 'alice@example.com')],
    ['bob@example.com', aws.addUser('bob', 'bob@example.com')],
  ]);
  const gone = 'arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-gone000000000000';
  return {
    settings: {
      region: 'eu-west-1',
      instanceArn: aws.instanceArn,
      identityStoreId: aws.identityStoreId,
      matchUserBy: 'email',
      roles: { admin: { accountId: ACCOUNT, permissionSetArn: admin }, gone: { accountId: ACCOUNT, permissionSetArn: gone } },
      endpoint: aws.url,
    },
    env: { AWS_ACCESS_KEY_ID: 'AKIAFAKECONTRACT0001', AWS_SECRET_ACCESS_KEY: 'contract-secret-not-a-real-key' },
    role: 'admin',
    principal: 'alice@example.com',
    bystander: 'bob@example.com',
    missingRole: 'gone',
    hasAccess: async (principal, role) => role === 'admin' && aws.hasAssignment(ACCOUNT, admin, users.get(principal) ?? ''),
    cleanup: () => aws.close(),
  };
};
