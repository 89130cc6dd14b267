// Slack's request signing lives with the sandbox, which signs what it sends to Latch the same way.
export * from '../../src/sandbox/slack-signing.ts';
