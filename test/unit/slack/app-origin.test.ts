import { describe, expect, it } from 'vitest';
import { originProblem } from '../../../src/slack/app-origin.ts';

const own = { teamId: 'T0OWN', appId: 'A0OWN' };

describe('originProblem', () => {
  it('takes a payload of its own workspace and app, whatever its type', () => {
    expect(originProblem({ command: '/request-access', team_id: 'T0OWN', api_app_id: 'A0OWN' }, own)).toBeNull();
    expect(originProblem({ type: 'block_actions', team: { id: 'T0OWN' }, user: { id: 'U1', team_id: 'T0OWN' }, api_app_id: 'A0OWN' }, own)).toBeNull();
    expect(originProblem({ type: 'event_callback', team_id: 'T0OWN', api_app_id: 'A0OWN', event: {} }, own)).toBeNull();
  });

  it("reads an org-wide install's workspace from the user (team is null), and a view's from its installing team", () => {
    expect(originProblem({ type: 'block_actions', team: null, user: { id: 'U1', team_id: 'T0OWN' }, api_app_id: 'A0OWN' }, own)).toBeNull();
    expect(originProblem({ type: 'block_actions', team: null, user: { id: 'U1', team_id: 'T0ELSE' }, api_app_id: 'A0OWN' }, own)).toMatch(/another workspace/);
    // A modal opened through a Slack Connect channel: the person's team differs, the app's is ours.
    expect(originProblem({ type: 'view_submission', team: { id: 'T0ELSE' }, api_app_id: 'A0OWN', view: { app_installed_team_id: 'T0OWN', app_id: 'A0OWN' } }, own)).toBeNull();
  });

  it('refuses another workspace, another app, another view app, and a payload that names none', () => {
    expect(originProblem({ team_id: 'T0ELSE', api_app_id: 'A0OWN' }, own)).toMatch(/another workspace/);
    expect(originProblem({ team_id: 'T0OWN', api_app_id: 'A0ELSE' }, own)).toMatch(/another app/);
    expect(originProblem({ type: 'view_submission', team: { id: 'T0OWN' }, api_app_id: 'A0OWN', view: { app_id: 'A0ELSE' } }, own)).toMatch(/another app/);
    expect(originProblem({ team_id: 'T0OWN' }, own)).toBe('it names no app');
    expect(originProblem({ api_app_id: 'A0OWN' }, own)).toBe('it names no workspace');
    expect(originProblem({ team_id: 42, api_app_id: ['A0OWN'] }, own)).toBe('it names no workspace');
    expect(originProblem(null, own)).toBe('it names no workspace');
  });
});
