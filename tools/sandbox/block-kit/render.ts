import { escapeHtml, formatSlackDate, mrkdwnHtml, plainTextHtml, type Directory } from './mrkdwn.ts';

/**
 * Block Kit as HTML for the sandbox page: the blocks and elements Latch sends (header, section with
 * text, fields and an accessory, context, divider, actions with buttons and their styles, static
 * and external selects, plain-text inputs, date and time pickers, input blocks with their labels,
 * hints and the app's validation errors), as real buttons, selects and labelled inputs a person
 * (or a browser test) can use. Pure functions: a string of HTML out, everything escaped.
 *
 * Interactive elements carry `data-action-id`, `data-block-id` and `data-type`; the page finds the
 * surface they sit on (a message's `data-ts`, a view's `data-view-id`) on an ancestor. A block type
 * this renderer does not know is shown as such, never silently dropped.
 */

type Json = Record<string, unknown>;
type Text = { type?: string; text?: string };
type Option = { text?: Text; value?: string; description?: Text };

export type Surface = 'message' | 'modal' | 'home';

export interface RenderContext {
  directory: Directory;
  surface: Surface;
  /** Prefix of element ids, unique per surface on the page (a view id, a message ts). */
  idPrefix: string;
  /** What the person typed or picked so far (`view.state.values`); wins over initial values. */
  state?: Record<string, Record<string, Json>>;
  /** Errors by block_id, from the app's `response_action: errors` or a required field left empty. */
  errors?: Record<string, string>;
}

export function renderBlocks(blocks: unknown, context: RenderContext): string {
  if (!Array.isArray(blocks)) return '';
  return blocks.map((block, index) => renderBlock(block as Json, index, context)).join('');
}

function renderBlock(block: Json, index: number, context: RenderContext): string {
  const blockId = typeof block.block_id === 'string' ? block.block_id : `b${index}`;
  const attrs = `data-block-id="${escapeHtml(blockId)}" data-block-type="${escapeHtml(String(block.type))}"`;
  switch (block.type) {
    case 'header':
      return `<div class="bk-block bk-header" ${attrs} role="heading" aria-level="3">${plainTextHtml(textOf(block.text))}</div>`;
    case 'section':
      return `<div class="bk-block bk-section" ${attrs}>${sectionBody(block, blockId, context)}</div>`;
    case 'context':
      return `<div class="bk-block bk-context" ${attrs}>${((block.elements as Json[] | undefined) ?? []).map((element) => contextElement(element, context)).join('')}</div>`;
    case 'divider':
      return `<hr class="bk-block bk-divider" ${attrs}>`;
    case 'actions':
      return `<div class="bk-block bk-actions" ${attrs} role="group">${((block.elements as Json[] | undefined) ?? []).map((element) => renderElement(element, blockId, context)).join('')}</div>`;
    case 'input':
      return inputBlock(block, blockId, attrs, context);
    case 'image':
      return `<figure class="bk-block bk-image" ${attrs}><img src="${escapeHtml(String(block.image_url ?? ''))}" alt="${escapeHtml(String(block.alt_text ?? ''))}">${block.title ? `<figcaption>${plainTextHtml(textOf(block.title))}</figcaption>` : ''}</figure>`;
    case 'rich_text':
      return `<div class="bk-block bk-rich-text" ${attrs}>${plainTextHtml(richTextOf(block))}</div>`;
    default:
      return `<div class="bk-block bk-unsupported" ${attrs}>Block type <code>${escapeHtml(String(block.type))}</code> is not shown by the sandbox.</div>`;
  }
}

function sectionBody(block: Json, blockId: string, context: RenderContext): string {
  const text = block.text ? `<div class="bk-text">${formatted(block.text as Text, context)}</div>` : '';
  const fields = Array.isArray(block.fields)
    ? `<div class="bk-fields">${(block.fields as Text[]).map((field) => `<div class="bk-field">${formatted(field, context)}</div>`).join('')}</div>`
    : '';
  const accessory = block.accessory ? `<div class="bk-accessory">${renderElement(block.accessory as Json, blockId, context)}</div>` : '';
  return `<div class="bk-section-main">${text}${fields}</div>${accessory}`;
}

function contextElement(element: Json, context: RenderContext): string {
  if (element.type === 'image') return `<img class="bk-context-image" src="${escapeHtml(String(element.image_url ?? ''))}" alt="${escapeHtml(String(element.alt_text ?? ''))}">`;
  return `<span class="bk-context-text">${formatted(element as Text, context)}</span>`;
}

function inputBlock(block: Json, blockId: string, attrs: string, context: RenderContext): string {
  const element = (block.element as Json | undefined) ?? {};
  const id = elementId(context, blockId, String(element.action_id ?? ''));
  const error = context.errors?.[blockId];
  const optional = block.optional === true ? ' <span class="bk-optional">(optional)</span>' : '';
  const hint = block.hint ? `<div class="bk-hint" id="${id}-hint">${plainTextHtml(textOf(block.hint))}</div>` : '';
  const errorHtml = error ? `<div class="bk-error" role="alert" id="${id}-error" data-testid="field-error">${plainTextHtml(error)}</div>` : '';
  const described = [error ? `${id}-error` : '', block.hint ? `${id}-hint` : ''].filter(Boolean).join(' ');
  const label = `<div class="bk-label-row"><label class="bk-label" for="${id}">${plainTextHtml(textOf(block.label))}</label>${optional}</div>`;
  const dispatch = block.dispatch_action === true ? ' data-dispatch-action="true"' : '';
  const control = renderElement(element, blockId, context, { id, describedBy: described, invalid: Boolean(error), required: block.optional !== true, inInput: true });
  return `<div class="bk-block bk-input${error ? ' bk-has-error' : ''}" ${attrs}${dispatch}>${label}${control}${hint}${errorHtml}</div>`;
}

interface ControlOptions {
  id?: string;
  describedBy?: string;
  invalid?: boolean;
  required?: boolean;
  /** Inside an input block: its label names the control, and changes are kept, not sent. */
  inInput?: boolean;
}

export function renderElement(element: Json, blockId: string, context: RenderContext, options: ControlOptions = {}): string {
  const actionId = String(element.action_id ?? '');
  const id = options.id ?? elementId(context, blockId, actionId);
  const data = `data-action-id="${escapeHtml(actionId)}" data-block-id="${escapeHtml(blockId)}" data-type="${escapeHtml(String(element.type))}"`;
  const aria = `${options.describedBy ? ` aria-describedby="${options.describedBy}"` : ''}${options.invalid ? ' aria-invalid="true"' : ''}`;
  const state = context.state?.[blockId]?.[actionId];
  const placeholder = element.placeholder ? textOf(element.placeholder) : '';
  // Outside an input block nothing labels a select: its placeholder is its name.
  const ownLabel = options.inInput ? '' : ` aria-label="${escapeHtml(placeholder || actionId)}"`;
  switch (element.type) {
    case 'button': {
      const style = element.style === 'primary' || element.style === 'danger' ? ` bk-button-${element.style}` : '';
      const value = element.value !== undefined ? ` data-value="${escapeHtml(String(element.value))}"` : '';
      const confirm = element.confirm ? ` data-confirm="${escapeHtml(JSON.stringify(confirmOf(element.confirm as Json)))}"` : '';
      const url = typeof element.url === 'string' ? ` data-url="${escapeHtml(element.url)}"` : '';
      return `<button type="button" class="bk-button${style}" ${data}${value}${confirm}${url}${element.style ? ` data-style="${escapeHtml(String(element.style))}"` : ''}>${plainTextHtml(textOf(element.text))}</button>`;
    }
    case 'static_select': {
      const selected = (state?.selected_option as Option | undefined)?.value ?? (element.initial_option as Option | undefined)?.value;
      const optionHtml = (option: Option) =>
        `<option value="${escapeHtml(String(option.value ?? ''))}"${option.value === selected ? ' selected' : ''}>${escapeHtml(textOf(option.text))}${option.description ? ` — ${escapeHtml(textOf(option.description))}` : ''}</option>`;
      const groups = Array.isArray(element.option_groups)
        ? (element.option_groups as Array<{ label?: Text; options?: Option[] }>).map((group) => `<optgroup label="${escapeHtml(textOf(group.label))}">${(group.options ?? []).map(optionHtml).join('')}</optgroup>`).join('')
        : ((element.options as Option[] | undefined) ?? []).map(optionHtml).join('');
      return `<select id="${id}" class="bk-select" ${data}${ownLabel}${aria}${options.required ? ' aria-required="true"' : ''}><option value="">${escapeHtml(placeholder || 'Select an item')}</option>${groups}</select>`;
    }
    case 'external_select': {
      const selected = (state?.selected_option as Option | undefined) ?? (element.initial_option as Option | undefined);
      const selectedAttrs = selected ? ` data-selected-value="${escapeHtml(String(selected.value ?? ''))}" data-selected-text="${escapeHtml(textOf(selected.text))}" value="${escapeHtml(textOf(selected.text))}"` : ' value=""';
      const minQuery = Number(element.min_query_length ?? 3);
      return `<div class="bk-external"><input id="${id}" class="bk-combobox" role="combobox" aria-expanded="false" aria-autocomplete="list" aria-controls="${id}-options" autocomplete="off" placeholder="${escapeHtml(placeholder)}" data-min-query-length="${minQuery}" ${data}${ownLabel}${aria}${selectedAttrs}><ul class="bk-listbox" role="listbox" id="${id}-options" hidden></ul></div>`;
    }
    case 'plain_text_input': {
      const value = typeof state?.value === 'string' ? state.value : typeof element.initial_value === 'string' ? element.initial_value : '';
      const limits = `${element.max_length ? ` maxlength="${Number(element.max_length)}"` : ''}${element.min_length ? ` minlength="${Number(element.min_length)}"` : ''}`;
      const common = `id="${id}" class="bk-text-input" ${data}${ownLabel}${aria}${limits} placeholder="${escapeHtml(placeholder)}"${options.required ? ' aria-required="true"' : ''}`;
      return element.multiline === true ? `<textarea ${common} rows="3">${escapeHtml(value)}</textarea>` : `<input type="text" ${common} value="${escapeHtml(value)}">`;
    }
    case 'number_input': {
      const value = typeof state?.value === 'string' ? state.value : String(element.initial_value ?? '');
      return `<input type="number" id="${id}" class="bk-text-input" ${data}${ownLabel}${aria} value="${escapeHtml(value)}"${element.is_decimal_allowed ? ' step="any"' : ''}>`;
    }
    case 'datetimepicker': {
      // The browser shows local time; the page converts to and from Unix seconds.
      const seconds = typeof state?.selected_date_time === 'number' ? state.selected_date_time : typeof element.initial_date_time === 'number' ? element.initial_date_time : undefined;
      return `<input type="datetime-local" id="${id}" class="bk-datetime" ${data}${ownLabel}${aria}${seconds !== undefined ? ` data-seconds="${seconds}"` : ''}>`;
    }
    case 'datepicker': {
      const date = String(state?.selected_date ?? element.initial_date ?? '');
      return `<input type="date" id="${id}" class="bk-date" ${data}${ownLabel}${aria} value="${escapeHtml(date)}">`;
    }
    case 'timepicker': {
      const time = String(state?.selected_time ?? element.initial_time ?? '');
      return `<input type="time" id="${id}" class="bk-time" ${data}${ownLabel}${aria} value="${escapeHtml(time)}">`;
    }
    case 'checkboxes':
    case 'radio_buttons': {
      const kind = element.type === 'checkboxes' ? 'checkbox' : 'radio';
      const chosen = new Set(
        (element.type === 'checkboxes'
          ? ((state?.selected_options ?? element.initial_options) as Option[] | undefined) ?? []
          : [(state?.selected_option ?? element.initial_option) as Option | undefined].filter((option): option is Option => Boolean(option))
        ).map((option) => option.value),
      );
      const choices = ((element.options as Option[] | undefined) ?? [])
        .map((option, n) => `<label class="bk-choice"><input type="${kind}" name="${id}" id="${id}-${n}" value="${escapeHtml(String(option.value ?? ''))}"${chosen.has(option.value) ? ' checked' : ''} ${data}> ${formatted(option.text ?? {}, context)}</label>`)
        .join('');
      return `<div role="${kind === 'radio' ? 'radiogroup' : 'group'}" id="${id}" class="bk-choices"${aria}>${choices}</div>`;
    }
    case 'image':
      return `<img class="bk-accessory-image" src="${escapeHtml(String(element.image_url ?? ''))}" alt="${escapeHtml(String(element.alt_text ?? ''))}">`;
    default:
      return `<span class="bk-unsupported">Element <code>${escapeHtml(String(element.type))}</code> is not shown by the sandbox.</span>`;
  }
}

function confirmOf(confirm: Json): Record<string, string> {
  return {
    title: textOf(confirm.title) || 'Are you sure?',
    text: textOf(confirm.text),
    confirm: textOf(confirm.confirm) || 'Yes',
    deny: textOf(confirm.deny) || 'Cancel',
    style: typeof confirm.style === 'string' ? confirm.style : '',
  };
}

function formatted(text: Text | undefined, context: RenderContext): string {
  if (!text) return '';
  return text.type === 'mrkdwn' ? mrkdwnHtml(text.text ?? '', context.directory) : plainTextHtml(text.text ?? '');
}

function textOf(text: unknown): string {
  return typeof text === 'string' ? text : String((text as Text | undefined)?.text ?? '');
}

function richTextOf(block: Json): string {
  const walk = (node: unknown): string => {
    if (!node || typeof node !== 'object') return '';
    const n = node as Json;
    if (typeof n.text === 'string') return n.text;
    if (n.type === 'user') return `@${String(n.user_id)}`;
    return Array.isArray(n.elements) ? (n.elements as unknown[]).map(walk).join('') : '';
  };
  return walk(block);
}

/** An element's id on the page: unique per surface, block and action, and safe in HTML. */
export function elementId(context: RenderContext, blockId: string, actionId: string): string {
  return `${context.idPrefix}-${blockId}-${actionId}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

// ---- surfaces -----------------------------------------------------------------------------------

export interface MessageLike {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  user: string;
  threadTs?: string;
  replyBroadcast?: boolean;
  visibleTo?: string;
  edited?: boolean;
}

/**
 * One message: the poster, its time, the blocks (or the text when it has none, as Slack shows a
 * message without blocks), whether it was edited, and "Only visible to you" on an ephemeral one.
 */
export function renderMessage(message: MessageLike, directory: Directory, options: { appName?: string; botUserId?: string } = {}): string {
  const isApp = message.user === options.botUserId;
  const poster = isApp ? (options.appName ?? 'App') : (directory.userName(message.user) ?? message.user);
  const context: RenderContext = { directory, surface: 'message', idPrefix: `m${message.ts.replace('.', '_')}` };
  const body = Array.isArray(message.blocks) && message.blocks.length > 0 ? renderBlocks(message.blocks, context) : `<div class="bk-text">${mrkdwnHtml(message.text, directory)}</div>`;
  const at = new Date(Number(message.ts) * 1000);
  const time = Number.isFinite(at.getTime()) ? `<time class="message-time" datetime="${at.toISOString()}" data-slack-date="${Math.floor(at.getTime() / 1000)}" data-format="{time}">${escapeHtml(formatSlackDate(at, '{time}', 'UTC'))}</time>` : '';
  const attributes = [
    `class="message${message.visibleTo ? ' message-ephemeral' : ''}${message.threadTs ? ' message-reply' : ''}"`,
    'data-testid="message"',
    `data-ts="${escapeHtml(message.ts)}"`,
    `data-channel="${escapeHtml(message.channel)}"`,
    message.threadTs ? `data-thread-ts="${escapeHtml(message.threadTs)}"` : '',
    message.visibleTo ? `data-visible-to="${escapeHtml(message.visibleTo)}"` : '',
    message.edited ? 'data-edited="true"' : '',
    `aria-label="Message from ${escapeHtml(poster)}"`,
  ].filter(Boolean);
  const note = message.visibleTo ? '<div class="message-note">Only visible to you</div>' : '';
  const broadcast = message.threadTs && message.replyBroadcast ? '<div class="message-note">Also sent to the channel</div>' : '';
  return `<article ${attributes.join(' ')}>${note}<header class="message-header"><span class="message-poster">${escapeHtml(poster)}</span>${isApp ? '<span class="app-badge">APP</span>' : ''}${time}${message.edited ? '<span class="message-edited">(edited)</span>' : ''}</header><div class="message-body">${body}</div>${broadcast}</article>`;
}

export interface ViewLike {
  id: string;
  type: 'modal' | 'home';
  view: Record<string, unknown>;
  state: { values: Record<string, Record<string, Json>> };
  errors: Record<string, string>;
}

/**
 * A modal as a labelled dialog (title, blocks, Cancel/Close and the submit button) or the App Home
 * tab. The page places it; this only draws it.
 */
export function renderView(view: ViewLike, directory: Directory, options: { stackDepth?: number } = {}): string {
  const context: RenderContext = { directory, surface: view.type, idPrefix: view.id, state: view.state.values, errors: view.errors };
  const blocks = renderBlocks(view.view.blocks, context);
  if (view.type === 'home') return `<section class="home-view" data-view-id="${escapeHtml(view.id)}" data-view-type="home" aria-label="Home">${blocks}</section>`;
  const title = textOf(view.view.title) || 'Modal';
  const close = textOf(view.view.close) || (view.view.submit ? 'Cancel' : 'Close');
  const submit = view.view.submit ? `<button type="submit" class="bk-button bk-button-primary" data-testid="modal-submit">${plainTextHtml(textOf(view.view.submit))}</button>` : '';
  const general = view.errors[''] ? `<div class="bk-error" role="alert">${plainTextHtml(view.errors[''])}</div>` : '';
  const back = (options.stackDepth ?? 1) > 1 ? '<span class="modal-stack-note">Back goes to the previous view</span>' : '';
  return (
    `<form class="modal" role="dialog" aria-modal="true" aria-labelledby="${view.id}-title" data-testid="modal" data-view-id="${escapeHtml(view.id)}" data-view-type="modal" data-callback-id="${escapeHtml(String(view.view.callback_id ?? ''))}" novalidate>` +
    `<header class="modal-header"><h2 id="${view.id}-title">${plainTextHtml(title)}</h2>${back}<button type="button" class="modal-x" data-modal-close aria-label="Close this view">×</button></header>` +
    `<div class="modal-body">${blocks}${general}</div>` +
    `<footer class="modal-footer"><button type="button" class="bk-button" data-modal-close>${plainTextHtml(close)}</button>${submit}</footer></form>`
  );
}
