import { describe, expect, it } from 'vitest';
import { approvalMessage } from '../../../src/slack/blocks/approval-message.ts';
import { outcomeNotice } from '../../../src/slack/blocks/requester-notices.ts';
import { ownerGroupNotice, requesterInbox } from '../../../src/slack/requester-inbox.ts';
import { requestView } from '../../helpers/request-view-fixture.ts';

const byUser = requestView({ requesterId: 'machine:deploy-pipeline', machine: { id: 'deploy-pipeline', owner: { user: 'U0OWNER01' } }, principal: 'deploy_bot' });
const byGroup = requestView({ requesterId: 'machine:nightly', machine: { id: 'nightly', owner: { group: 'S0PLATFORM' } } });
const orphan = requestView({ requesterId: 'machine:gone', machine: { id: 'gone', owner: null } });

describe('a machine as the requester in Slack', () => {
  it('is shown on the approval card as the machine with its owner, never as a Slack mention of its id', () => {
    const card = JSON.stringify(approvalMessage(byUser));
    expect(card).toContain('machine `deploy-pipeline` (owner <@U0OWNER01>)');
    expect(card).not.toContain('<@machine:');
    expect(JSON.stringify(approvalMessage(byGroup))).toContain('machine `nightly` (owner <!subteam^S0PLATFORM>)');
    expect(JSON.stringify(approvalMessage(orphan))).toContain('machine `gone` (owner none: no longer in the policy)');
  });

  it("shows a machine's reason as the task the machine states, and a person's as their reason", () => {
    const machineCard = approvalMessage(requestView({ ...byUser, reason: 'Run migration 0042 on prod-db for ticket OPS-7' }));
    expect(JSON.stringify(machineCard.blocks)).toContain(JSON.stringify('*Task stated by machine `deploy-pipeline`*\nRun migration 0042 on prod-db for ticket OPS-7'));
    expect(JSON.stringify(approvalMessage(requestView({ reason: 'Look into the invoice job' })).blocks)).toContain(JSON.stringify('*Reason*\nLook into the invoice job'));
  });

  it('has its DMs go to its owner when a person, and to nobody when a group or gone', () => {
    expect(requesterInbox(requestView())).toBe('U1');
    expect(requesterInbox(byUser)).toBe('U0OWNER01');
    expect(requesterInbox(byGroup)).toBeNull();
    expect(requesterInbox(orphan)).toBeNull();
  });

  it('tells an owning group by mentioning it, with the outcome', () => {
    const notice = ownerGroupNotice(byGroup, outcomeNotice(byGroup));
    expect(notice?.text).toMatch(/^<!subteam\^S0PLATFORM>: about machine `nightly`, which your group owns\. Your request for /);
    expect(ownerGroupNotice(byUser, outcomeNotice(byUser))).toBeNull();
  });
});
