// The fake Slack Web API is the core of the local Slack sandbox (src/sandbox): one implementation
// for the tests and for people trying Latch without a workspace.
export * from '../../src/sandbox/fake-slack.ts';
