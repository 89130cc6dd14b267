/**
 * Every callback_id, block_id and action_id Latch puts in Slack, so builders and listeners agree
 * on one spelling. Prefixed with `latch_` so they never collide with another app's ids in logs.
 * Changing one breaks the buttons on messages already posted: add a new id instead.
 */

// Modals (view callback_id).
export const REQUEST_MODAL = 'latch_request_modal';
export const DENY_MODAL = 'latch_deny_modal';
/** "Approve with changes": a shorter duration or a lesser role, then approve. */
export const APPROVE_WITH_CHANGES_MODAL = 'latch_approve_with_changes_modal';

// Buttons on messages (action_id); their value is the request id and nothing else.
export const APPROVE = 'latch_approve';
export const DENY = 'latch_deny';
/** Opens the approve-with-changes modal; sits in the approval block, so it carries the revision shown. */
export const APPROVE_WITH_CHANGES = 'latch_approve_with_changes';
export const CANCEL = 'latch_cancel';
/** Ends active access before its expiry: "I'm done" for the holder, "Revoke now" for an admin. */
export const END_ACCESS = 'latch_end_access';

// Blocks holding those buttons (block_id).
export const APPROVAL_ACTIONS_BLOCK = 'latch_approval_actions';
/**
 * The approval buttons' block_id also names the request revision the message showed, so a click
 * approves exactly what the approver saw: after an edit, a click on the old message is refused.
 * (The button's value stays the bare request id.)
 */
/**
 * The approval buttons' block_id names the revision shown. In App Home, several requests share
 * one view, whose block_ids must be unique: there the request id follows.
 */
export function approvalActionsBlockId(revision: number, requestId?: string): string {
  return `${APPROVAL_ACTIONS_BLOCK}:r${revision}${requestId ? `:${requestId}` : ''}`;
}

/** The revision an approval click was made on, or undefined for a block_id Latch did not write. */
export function revisionOfApprovalBlock(blockId: string | undefined): number | undefined {
  const match = /^latch_approval_actions:r(\d{1,9})(?::[0-9a-f-]{36})?$/.exec(blockId ?? '');
  return match ? Number(match[1]) : undefined;
}
/**
 * "Approve all" on the card of a request for several resources: its value is the card's request
 * id (the bundle's id); its block_id names the revision of every item shown, in the order asked,
 * so the approval applies to exactly what the approver saw.
 */
export const APPROVE_ALL = 'latch_approve_all';
export const BUNDLE_ACTIONS_BLOCK = 'latch_bundle_actions';

export function bundleActionsBlockId(revisions: readonly number[]): string {
  return `${BUNDLE_ACTIONS_BLOCK}:r${revisions.join('.')}`;
}

/** The revisions an "Approve all" click was made on, in the order asked; undefined for a block_id Latch did not write. */
export function revisionsOfBundleBlock(blockId: string | undefined): number[] | undefined {
  const match = /^latch_bundle_actions:r(\d{1,9}(?:\.\d{1,9}){0,49})$/.exec(blockId ?? '');
  return match ? match[1]!.split('.').map(Number) : undefined;
}
export const REQUESTER_ACTIONS_BLOCK = 'latch_requester_actions';
export const ACTIVE_ACCESS_ACTIONS_BLOCK = 'latch_active_access_actions';

// The request modal's inputs: block_id, then the action_id of the element inside it.
export const REQUEST_RESOURCE_BLOCK = 'latch_request_resource';
export const REQUEST_RESOURCE_ACTION = 'latch_request_resource_select';
/**
 * The role block's id carries the selected resource id after this prefix: Slack keeps what a person
 * chose in a block across views.update while its block_id stays the same, so a role picked for one
 * resource would survive switching to another. A new block_id per resource clears it.
 */
export const REQUEST_ROLE_BLOCK_PREFIX = 'latch_request_role:';
export const REQUEST_ROLE_ACTION = 'latch_request_role_select';
export const REQUEST_ROLE_HINT_BLOCK = 'latch_request_role_hint';
export const REQUEST_DURATION_BLOCK = 'latch_request_duration';
export const REQUEST_DURATION_ACTION = 'latch_request_duration_input';
export const REQUEST_REASON_BLOCK = 'latch_request_reason';
export const REQUEST_REASON_ACTION = 'latch_request_reason_input';
export const REQUEST_TICKET_BLOCK = 'latch_request_ticket';
export const REQUEST_TICKET_ACTION = 'latch_request_ticket_input';
/** More resource and role pairs asked for with the one picked above (a request for several resources). */
export const REQUEST_ALSO_BLOCK = 'latch_request_also';
export const REQUEST_ALSO_ACTION = 'latch_request_also_select';
export const REQUEST_START_BLOCK = 'latch_request_start';
export const REQUEST_START_ACTION = 'latch_request_start_input';
/** One text input per scope parameter of the resource's roles: this prefix, then the parameter's name. */
export const REQUEST_SCOPE_BLOCK_PREFIX = 'latch_request_scope:';
export const REQUEST_SCOPE_ACTION = 'latch_request_scope_input';

// The approve-with-changes modal's inputs.
/**
 * The modal's first block names the request revision the approver saw, as the approval buttons'
 * block_id does; private_metadata stays the bare request id (what `latch audit verify` reads).
 */
export function changeShownBlockId(revision: number): string {
  return `latch_change_shown:r${revision}`;
}

/** The revision a submitted approve-with-changes form was opened on, from its blocks' ids. */
export function revisionOfChangeForm(blockIds: ReadonlyArray<string | undefined>): number | undefined {
  for (const blockId of blockIds) {
    const match = /^latch_change_shown:r(\d{1,9})$/.exec(blockId ?? '');
    if (match) return Number(match[1]);
  }
  return undefined;
}
export const CHANGE_ROLE_BLOCK = 'latch_change_role';
export const CHANGE_ROLE_ACTION = 'latch_change_role_select';
export const CHANGE_DURATION_BLOCK = 'latch_change_duration';
export const CHANGE_DURATION_ACTION = 'latch_change_duration_input';

// The deny-reason modal's one input.
export const DENY_REASON_BLOCK = 'latch_deny_reason';
export const DENY_REASON_ACTION = 'latch_deny_reason_input';

const MAX_BLOCK_ID_LENGTH = 255;

/** The role block's id for `resourceId` (see REQUEST_ROLE_BLOCK_PREFIX), within Slack's 255 chars. */
export function requestRoleBlockId(resourceId: string): string {
  return `${REQUEST_ROLE_BLOCK_PREFIX}${resourceId}`.slice(0, MAX_BLOCK_ID_LENGTH);
}

// Asking for more time on live access: the button on the holder's DM, and its modal.
export const EXTEND_ACCESS = 'latch_extend_access';
export const EXTEND_MODAL = 'latch_extend_modal';
export const EXTEND_DURATION_BLOCK = 'latch_extend_duration';
export const EXTEND_DURATION_ACTION = 'latch_extend_duration_input';
export const EXTEND_REASON_BLOCK = 'latch_extend_reason';
export const EXTEND_REASON_ACTION = 'latch_extend_reason_input';

// Break-glass: the review button on the alert in the security channel.
export const REVIEW_BREAK_GLASS = 'latch_review_break_glass';
export const BREAK_GLASS_ACTIONS_BLOCK = 'latch_break_glass_actions';

// App Home: the buttons of each listed request sit in a block of their own.
export const HOME_BLOCK_PREFIX = 'latch_home';

// A person's `latch login`, confirmed in Slack: the value is `<login id>|<code typed>`.
export const CLI_LOGIN_CONFIRM = 'latch_cli_login_confirm';
export const CLI_LOGIN_REFUSE = 'latch_cli_login_refuse';
