import type { RequestScope } from './request-scope.ts';

/**
 * The rules of scoped requests (issue 17): which scope parameters a role declares, whether a
 * request's scope fits them, which scopes need more approvers, and how a scope reads for people.
 * Pure: the policy file (src/config/policy-file.ts) builds these from YAML, the use cases apply them.
 *
 * Scope values are hostile input. Here they are only ever compared with a pattern or an allow-list;
 * downstream they are bound parameters or identifiers quoted after a shape check, never SQL text.
 */

/** One parameter a role's requests fill in, e.g. `customer` or `tables`. */
export interface ScopeParameter {
  /** As written in the policy and typed in `customer=4711`. */
  name: string;
  /** Shown beside the form field, as its hint. */
  description?: string;
  /** A regular expression every value must match as a whole (anchored); null: no pattern. */
  pattern: string | null;
  /** The only values allowed (for table scopes, `schema.table`); null: any value the pattern lets through. */
  values: string[] | null;
  /** The fewest values a request gives; 0 makes the parameter optional. */
  minValues: number;
  /** The most values a request gives. */
  maxValues: number;
}

/** When a scope rule applies, per parameter: every condition given must hold. */
export interface ScopeCondition {
  /** More than this many values of the parameter are asked for. */
  moreThan?: number;
  /** At least one of these values is asked for. */
  anyOf?: string[];
}

/** More approvers for some scopes: `when` every parameter's condition holds, `add` approvals and `oneFrom` groups. */
export interface ScopeApprovalRule {
  when: Readonly<Record<string, ScopeCondition>>;
  /** Approvals needed on top of the resource's. */
  add: number;
  /** User groups (S…) that must each give one of the approvals, on top of the resource's. */
  oneFrom: string[];
}

/** The scope part of a role: its parameters, and which scopes need more approvers. */
export interface ScopedRole {
  id: string;
  scopes?: ScopeParameter[];
  moreApprovers?: ScopeApprovalRule[];
}

/** The longest scope value accepted: a customer id or a `schema.table`, never a document. */
export const MAX_SCOPE_VALUE_LENGTH = 100;
/** The most values a parameter may allow (a policy's maxValues is at most this). */
export const MAX_SCOPE_VALUES = 50;
/** What a parameter's name looks like: it is typed in `name=value` and used in form field ids. */
export const SCOPE_PARAMETER_NAME = /^[a-z][a-z0-9_]{0,31}$/;

// C0 and C1 controls, and the line and paragraph separators: nothing a person means as part of an id.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/**
 * `problems` says everything wrong; `fields` says it again per parameter (a parameter's name, or
 * `''` for what belongs to none), so a form can show each problem beside its own field.
 */
export type ScopeCheck = { ok: true; scope: RequestScope | null } | { ok: false; problems: string[]; fields: Record<string, string> };

/** Whether the role declares scope parameters: then every request of it states its scope. */
export function isScopedRole(role: ScopedRole): boolean {
  return (role.scopes?.length ?? 0) > 0;
}

/** A pattern as the policy wrote it, compiled to match whole values. */
export function wholeValuePattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`, 'u');
}

/**
 * Checks `asked` against the role's parameters and gives back the scope to store: values trimmed,
 * duplicates dropped, parameters in the policy's order, empty optional parameters left out (null
 * when nothing is left). Every problem is a sentence fit to show the person who asked.
 */
export function checkScope(role: ScopedRole, asked: Readonly<Record<string, readonly unknown[]>> | null | undefined): ScopeCheck {
  const given = asked ?? {};
  const parameters = role.scopes ?? [];
  const names = Object.keys(given);
  const problems: string[] = [];
  const fields: Record<string, string> = {};
  const report = (field: string, message: string) => {
    problems.push(message);
    fields[field] = fields[field] === undefined ? message : `${fields[field]} ${message}`;
  };
  if (parameters.length === 0) {
    if (names.length === 0) return { ok: true, scope: null };
    report('', `The role ${role.id} takes no scope (${names.map(shortened).join(', ')}): leave it out to ask for the whole role.`);
    return { ok: false, problems, fields };
  }
  const known = parameters.map((parameter) => parameter.name);
  for (const name of names) {
    if (!known.includes(name)) report('', `The role ${role.id} has no scope parameter "${shortened(name)}"; its parameters are ${known.join(', ')}.`);
  }
  const scope: Record<string, string[]> = {};
  for (const parameter of parameters) {
    const raw = Object.hasOwn(given, parameter.name) ? given[parameter.name] : undefined;
    const values = cleanValues(parameter, raw ?? [], (message) => report(parameter.name, message));
    if (values === null) continue;
    if (values.length < parameter.minValues) {
      report(
        parameter.name,
        parameter.minValues === 1
          ? `Give ${parameter.name}: the role ${role.id} is only granted for ${describeParameter(parameter)}.`
          : `Give at least ${parameter.minValues} values of ${parameter.name}.`,
      );
    } else if (values.length > parameter.maxValues) {
      report(parameter.name, `At most ${parameter.maxValues} ${parameter.maxValues === 1 ? 'value' : 'values'} of ${parameter.name} (${values.length} given).`);
    }
    if (values.length > 0) scope[parameter.name] = values;
  }
  if (problems.length > 0) return { ok: false, problems, fields };
  return { ok: true, scope: Object.keys(scope).length > 0 ? scope : null };
}

/** The values of one parameter, trimmed and deduplicated; null (with problems reported) when one is unusable. */
function cleanValues(parameter: ScopeParameter, raw: readonly unknown[], report: (message: string) => void): string[] | null {
  const problems: string[] = [];
  const done = (values: string[]) => {
    problems.forEach(report);
    return problems.length > 0 ? null : values;
  };
  if (!Array.isArray(raw)) {
    problems.push(`${parameter.name} must be a list of values.`);
    return done([]);
  }
  const values: string[] = [];
  for (const item of raw) {
    if (typeof item !== 'string') {
      problems.push(`Each value of ${parameter.name} must be text.`);
      continue;
    }
    const value = item.trim();
    if (value === '') continue;
    if (CONTROL_CHARACTERS.test(value)) problems.push(`A value of ${parameter.name} contains a control character.`);
    else if (value.length > MAX_SCOPE_VALUE_LENGTH) problems.push(`A value of ${parameter.name} is longer than ${MAX_SCOPE_VALUE_LENGTH} characters.`);
    else if (parameter.pattern !== null && !wholeValuePattern(parameter.pattern).test(value)) problems.push(`${parameter.name} "${value}" does not match ${parameter.pattern}.`);
    else if (parameter.values !== null && !parameter.values.includes(value)) problems.push(`${parameter.name}: ${value} is not one of ${parameter.values.join(', ')}.`);
    else if (!values.includes(value)) values.push(value);
  }
  return done(values);
}

/** "one customer matching ^[0-9]+$", "a value of tables from public.orders, public.invoices". */
function describeParameter(parameter: ScopeParameter): string {
  if (parameter.values !== null) return `${parameter.name} from ${parameter.values.join(', ')}`;
  return `a ${parameter.name} matching ${parameter.pattern}`;
}

/** "customer: 1 to 3 values matching [0-9]+", for `latch policy explain` and the form's hint. */
export function describeScopeParameter(parameter: ScopeParameter): string {
  const count = parameter.minValues === parameter.maxValues ? `${parameter.minValues}` : `${parameter.minValues} to ${parameter.maxValues}`;
  const values = parameter.maxValues === 1 && parameter.minValues <= 1 ? 'value' : 'values';
  const rules = [parameter.pattern !== null ? `matching ${parameter.pattern}` : null, parameter.values !== null ? `from ${parameter.values.join(', ')}` : null].filter(Boolean).join(', ');
  return `${parameter.name}: ${count} ${values} ${rules}`;
}

function shortened(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** The scope-dependent part of who must approve: approvals added and groups that must take part. */
export interface ScopeApprovals {
  add: number;
  oneFrom: string[];
}

/** What the role's moreApprovers rules ask of a request with `scope` (nothing for an unscoped one). */
export function scopeApprovals(role: ScopedRole, scope: RequestScope | null): ScopeApprovals {
  let add = 0;
  const oneFrom: string[] = [];
  for (const rule of role.moreApprovers ?? []) {
    if (!ruleApplies(rule, scope ?? {})) continue;
    add += rule.add;
    for (const group of rule.oneFrom) if (!oneFrom.includes(group)) oneFrom.push(group);
  }
  return { add, oneFrom };
}

function ruleApplies(rule: ScopeApprovalRule, scope: RequestScope): boolean {
  return Object.entries(rule.when).every(([name, condition]) => {
    const values = scope[name] ?? [];
    if (condition.moreThan !== undefined && !(values.length > condition.moreThan)) return false;
    if (condition.anyOf !== undefined && !condition.anyOf.some((value) => values.includes(value))) return false;
    return true;
  });
}

/**
 * "customer 4711, 4712 · tables public.orders": what was asked, for people. Empty for no scope.
 * Parameters in the order of their names: PostgreSQL's jsonb keeps keys in an order of its own,
 * and every message about a request must read the same.
 */
export function formatScope(scope: RequestScope | null | undefined): string {
  if (!scope) return '';
  return Object.entries(scope)
    .filter(([, values]) => values.length > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, values]) => `${name} ${values.join(', ')}`)
    .join(' · ');
}

/** Two scopes that ask for the same (order of parameters and values aside). */
export function sameScope(a: RequestScope | null | undefined, b: RequestScope | null | undefined): boolean {
  const canonical = (scope: RequestScope | null | undefined) =>
    JSON.stringify(
      Object.entries(scope ?? {})
        .filter(([, values]) => values.length > 0)
        .map(([name, values]) => [name, [...values].sort()])
        .sort(([x], [y]) => ((x as string) < (y as string) ? -1 : 1)),
    );
  return canonical(a) === canonical(b);
}

/**
 * A scope as stored (jsonb, or an audit event's data): a mapping of names to lists of text. Null
 * for none; `invalid` for anything else, which a caller treats as a request that no longer fits.
 */
export function readStoredScope(value: unknown): RequestScope | null | 'invalid' {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) return 'invalid';
  const entries = Object.entries(value as Record<string, unknown>);
  if (!entries.every(([, values]) => Array.isArray(values) && values.every((item) => typeof item === 'string'))) return 'invalid';
  return entries.length === 0 ? null : (Object.fromEntries(entries) as RequestScope);
}

/**
 * `customer=4711,4712` tokens, as typed in the inline command: the parameter and its values.
 * Null when the token is not of that shape (it is then the start of the reason).
 */
export function parseScopeToken(token: string): { name: string; values: string[] } | null {
  const match = /^([a-z][a-z0-9_]{0,31})=(.*)$/u.exec(token);
  if (!match) return null;
  return { name: match[1]!, values: match[2]!.split(',').map((value) => value.trim()).filter((value) => value !== '') };
}

/** Several `name=value` tokens as one scope: a parameter given twice gets the values of both. */
export function scopeFromTokens(tokens: ReadonlyArray<{ name: string; values: string[] }>): Record<string, string[]> {
  const scope: Record<string, string[]> = {};
  for (const { name, values } of tokens) scope[name] = [...(Object.hasOwn(scope, name) ? scope[name]! : []), ...values];
  return scope;
}
