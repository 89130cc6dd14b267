import { createHmac } from 'node:crypto';
import { isValidSlackRequest } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { interactionBody, slackSignatureHeaders, slashCommandBody } from '../../../../tools/sandbox/slack-signing.ts';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z

function acceptedByBolt(body: string, headers: ReturnType<typeof slackSignatureHeaders>, nowSeconds = NOW, secret = SECRET) {
  return isValidSlackRequest({
    signingSecret: secret,
    body,
    headers: { 'x-slack-signature': headers['x-slack-signature'], 'x-slack-request-timestamp': Number(headers['x-slack-request-timestamp']) },
    nowMilliseconds: nowSeconds * 1000,
  });
}

describe('slackSignatureHeaders', () => {
  const body = slashCommandBody({ command: '/request-access', text: 'prod-db read 2h incident', user_id: 'U1' });

  it('produces v0= plus the hex HMAC-SHA256 of v0:timestamp:body', () => {
    const expected = createHmac('sha256', SECRET).update(`v0:${NOW}:${body}`).digest('hex');
    expect(slackSignatureHeaders(body, SECRET, NOW)).toEqual({
      'x-slack-request-timestamp': String(NOW),
      'x-slack-signature': `v0=${expected}`,
    });
  });

  it("is accepted by Bolt's own verifier", () => {
    expect(acceptedByBolt(body, slackSignatureHeaders(body, SECRET, NOW))).toBe(true);
  });

  it('is refused for a changed body, another secret, or a timestamp over 5 minutes old', () => {
    const headers = slackSignatureHeaders(body, SECRET, NOW);
    expect(acceptedByBolt(`${body}&extra=1`, headers)).toBe(false);
    expect(acceptedByBolt(body, headers, NOW, 'another-signing-secret')).toBe(false);
    expect(acceptedByBolt(body, headers, NOW + 5 * 60 + 1)).toBe(false);
  });

  it('changes with the timestamp, so a signature cannot be replayed under a new one', () => {
    expect(slackSignatureHeaders(body, SECRET, NOW)['x-slack-signature']).not.toBe(
      slackSignatureHeaders(body, SECRET, NOW + 1)['x-slack-signature'],
    );
  });
});

describe('request bodies', () => {
  it('form-encodes slash commands as Slack does', () => {
    expect(slashCommandBody({ command: '/request-access', text: 'a&b <c>' })).toBe('command=%2Frequest-access&text=a%26b+%3Cc%3E');
  });

  it('sends interactions as a JSON payload field', () => {
    const payload = { type: 'block_actions', user: { id: 'U1' } };
    expect(JSON.parse(new URLSearchParams(interactionBody(payload)).get('payload')!)).toEqual(payload);
  });
});
