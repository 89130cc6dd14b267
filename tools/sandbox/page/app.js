// The sandbox page: a plain browser module, no bundler. The server renders Block Kit to HTML
// (tools/sandbox/block-kit, unit-tested in Node); this file only places that HTML, turns clicks,
// picks and submissions into calls to the sandbox's API, and follows its live feed (SSE).

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const page = {
  directory: null,
  me: null,
  /** { kind: 'channel', id } | { kind: 'dm' } | { kind: 'home' } */
  place: { kind: 'dm' },
  unread: new Set(),
};

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.error || `HTTP ${response.status}`);
  return json;
}

function dmChannel(userId) {
  return `D${userId}`;
}

function currentChannel() {
  if (page.place.kind === 'channel') return page.place.id;
  if (page.place.kind === 'dm') return dmChannel(page.me);
  return null;
}

function userById(id) {
  return page.directory.users.find((user) => user.id === id);
}

// ---- start -------------------------------------------------------------------------------------

async function start() {
  page.directory = await api('GET', '/sandbox/api/directory');
  const params = new URLSearchParams(location.search);
  const users = page.directory.users;
  page.me = users.some((user) => user.id === params.get('as')) ? params.get('as') : (localStorage.getItem('sandbox-as') ?? users[0]?.id);
  if (!users.some((user) => user.id === page.me)) page.me = users[0]?.id;
  const where = params.get('c');
  if (where === 'home') page.place = { kind: 'home' };
  else if (where && page.directory.channels.some((channel) => channel.id === where)) page.place = { kind: 'channel', id: where };

  const switcher = $('#acting-as');
  for (const user of users) switcher.append(new Option(`${user.realName} (@${user.name})`, user.id));
  switcher.value = page.me;
  switcher.addEventListener('change', () => {
    page.me = switcher.value;
    localStorage.setItem('sandbox-as', page.me);
    page.unread.clear();
    show(page.place);
  });

  const list = $('#channel-list');
  for (const channel of page.directory.channels) {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sidebar-item';
    button.dataset.channel = channel.id;
    button.dataset.testid = `channel-${channel.name}`;
    button.textContent = `# ${channel.name}`;
    button.addEventListener('click', () => show({ kind: 'channel', id: channel.id }));
    item.append(button);
    list.append(item);
  }
  const people = $('#people-list');
  for (const user of users) {
    const item = document.createElement('li');
    item.textContent = `${user.realName} · ${user.email}`;
    people.append(item);
  }
  $('#open-home').addEventListener('click', () => show({ kind: 'home' }));
  $('#open-dm').addEventListener('click', () => show({ kind: 'dm' }));
  $('#composer').addEventListener('submit', sendMessage);
  document.addEventListener('click', onClick);
  document.addEventListener('change', onChange);
  document.addEventListener('input', onInput);
  document.addEventListener('submit', onModalSubmit);

  for (const entry of (await api('GET', '/sandbox/api/log')).entries) addLogEntry(entry);
  for (const panel of (await api('GET', '/sandbox/api/panels')).panels) showPanel(panel);
  follow();
  await show(page.place);
}

// ---- places: a channel, the DM with the app, the Home tab ---------------------------------------

async function show(place) {
  page.place = place;
  const params = new URLSearchParams({ as: page.me, c: place.kind === 'channel' ? place.id : place.kind });
  history.replaceState(null, '', `?${params}`);
  for (const button of $$('.sidebar-item')) {
    const selected =
      (place.kind === 'channel' && button.dataset.channel === place.id) ||
      (place.kind === 'home' && button.id === 'open-home') ||
      (place.kind === 'dm' && button.id === 'open-dm');
    button.toggleAttribute('aria-current', selected);
    if (selected) button.setAttribute('aria-current', 'page');
  }
  const home = place.kind === 'home';
  $('#messages').hidden = home;
  $('#composer').hidden = false;
  $('#home').hidden = !home;
  const channel = place.kind === 'channel' ? page.directory.channels.find((c) => c.id === place.id) : null;
  $('#conversation-title').textContent = home ? `${page.directory.app.name} — Home` : channel ? `# ${channel.name}` : `${page.directory.app.name} — Messages`;
  $('#message-box-label').textContent = home ? `Message ${page.directory.app.name}` : channel ? `Message #${channel.name}` : `Message ${page.directory.app.name}`;
  page.unread.delete(currentChannel() ?? '');
  markUnread();
  await refreshModal();
  if (home) {
    await refreshHome();
    // Opening the tab is what tells the app to (re)build it.
    await api('POST', '/sandbox/api/home/open', { user: page.me }).catch(showError);
    return;
  }
  const conversation = await api('GET', `/sandbox/api/conversation?${new URLSearchParams({ user: page.me, channel: currentChannel() })}`);
  const messages = $('#messages');
  messages.replaceChildren();
  for (const message of conversation.messages) placeMessage(message);
  hydrate(messages);
  messages.scrollTop = messages.scrollHeight;
}

async function refreshHome() {
  const { view } = await api('GET', `/sandbox/api/home?user=${encodeURIComponent(page.me)}`);
  const home = $('#home');
  home.innerHTML = view ? view.html : '<p class="empty">Nothing here yet: the app has not published a Home tab for you.</p>';
  hydrate(home);
}

async function refreshModal() {
  const { view } = await api('GET', `/sandbox/api/modal?user=${encodeURIComponent(page.me)}`);
  const layer = $('#modal-layer');
  // While a modal is open the rest of the page cannot be used, as in Slack.
  for (const behind of $$('body > header, body > .layout')) behind.inert = Boolean(view);
  if (!view) {
    layer.hidden = true;
    layer.replaceChildren();
    return;
  }
  const focused = document.activeElement?.id;
  layer.innerHTML = view.html;
  layer.hidden = false;
  hydrate(layer);
  const again = focused ? document.getElementById(focused) : null;
  (again ?? $('input, textarea, select', layer))?.focus();
}

/** Puts a rendered message in place: replaces the one with the same ts, or adds it. */
function placeMessage(message) {
  const messages = $('#messages');
  const existing = $(`article[data-ts="${CSS.escape(message.ts)}"]`, messages);
  if (message.deleted) {
    existing?.remove();
    return;
  }
  const template = document.createElement('template');
  template.innerHTML = message.html;
  const element = template.content.firstElementChild;
  hydrate(element);
  if (existing) {
    const thread = $(':scope > .thread', existing);
    if (thread) element.append(thread);
    existing.replaceWith(element);
    return;
  }
  if (message.threadTs) {
    const parent = $(`article[data-ts="${CSS.escape(message.threadTs)}"]`, messages);
    if (parent) {
      let thread = $(':scope > .thread', parent);
      if (!thread) {
        thread = document.createElement('div');
        thread.className = 'thread';
        thread.setAttribute('aria-label', 'Thread');
        parent.append(thread);
      }
      thread.append(element);
      return;
    }
  }
  messages.append(element);
  messages.scrollTop = messages.scrollHeight;
}

function markUnread() {
  for (const button of $$('[data-channel]')) button.classList.toggle('unread', page.unread.has(button.dataset.channel));
  $('#open-dm').classList.toggle('unread', page.unread.has(dmChannel(page.me)));
}

// ---- the live feed -----------------------------------------------------------------------------

function follow() {
  const events = new EventSource('/sandbox/events');
  events.addEventListener('open', () => ($('[data-testid=connection]').textContent = 'live'));
  events.addEventListener('error', () => ($('[data-testid=connection]').textContent = 'reconnecting…'));
  events.addEventListener('message', (event) => {
    const message = JSON.parse(event.data);
    if (message.visibleTo && message.visibleTo !== page.me) return;
    if (message.channel.startsWith('D') && message.channel !== dmChannel(page.me)) return;
    if (message.channel === currentChannel()) placeMessage(message);
    else if (!message.deleted) {
      page.unread.add(message.channel);
      markUnread();
    }
  });
  events.addEventListener('modal', (event) => {
    if (JSON.parse(event.data).userId === page.me) refreshModal().catch(showError);
  });
  events.addEventListener('home', (event) => {
    if (JSON.parse(event.data).userId === page.me && page.place.kind === 'home') refreshHome().catch(showError);
  });
  events.addEventListener('call', (event) => addLogEntry(JSON.parse(event.data)));
  events.addEventListener('panel', (event) => showPanel(JSON.parse(event.data)));
}

function addLogEntry(entry) {
  const item = document.createElement('li');
  item.className = `api-call ${entry.ok ? 'ok' : 'failed'} ${entry.direction}`;
  item.dataset.testid = 'api-call';
  item.dataset.method = entry.method;
  item.dataset.seq = String(entry.seq);
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  const arrow = entry.direction === 'to-latch' ? '→ Latch' : 'Latch →';
  summary.textContent = `${arrow} ${entry.method}${entry.ok ? '' : ` (${entry.error ?? 'failed'})`} · ${new Date(entry.at).toLocaleTimeString()}`;
  const body = document.createElement('pre');
  body.textContent = JSON.stringify({ body: entry.body, answer: entry.answer }, null, 2);
  details.append(summary, body);
  item.append(details);
  const log = $('#api-log');
  log.prepend(item);
  while (log.children.length > 300) log.lastElementChild.remove();
}

function showPanel(panel) {
  const container = $('#panels');
  let section = $(`section[data-panel="${panel.index}"]`, container);
  if (!section) {
    section = document.createElement('section');
    section.className = 'panel';
    section.dataset.panel = String(panel.index);
    section.dataset.testid = 'panel';
    const title = document.createElement('h2');
    title.id = `panel-${panel.index}-title`;
    section.setAttribute('aria-labelledby', title.id);
    section.append(title, document.createElement('div'));
    container.append(section);
  }
  section.firstElementChild.textContent = panel.title;
  const body = section.lastElementChild;
  if (panel.error) {
    body.innerHTML = '';
    const error = document.createElement('p');
    error.className = 'bk-error';
    error.textContent = panel.error;
    body.append(error);
    return;
  }
  const columns = [...new Set(panel.rows.flatMap((row) => Object.keys(row)))];
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = column;
    head.append(th);
  }
  const rows = table.createTBody();
  for (const row of panel.rows) {
    const tr = rows.insertRow();
    for (const column of columns) tr.insertCell().textContent = row[column] === undefined ? '' : String(row[column]);
  }
  if (panel.rows.length === 0) rows.insertRow().insertCell().textContent = 'no rows';
  body.replaceChildren(table);
}

// ---- gestures ----------------------------------------------------------------------------------

async function sendMessage(event) {
  event.preventDefault();
  const box = $('#message-box');
  const text = box.value.trim();
  if (!text) return;
  const status = $('#composer-status');
  status.textContent = '';
  const channel = currentChannel() ?? dmChannel(page.me);
  try {
    box.value = '';
    await api('POST', '/sandbox/api/messages', { user: page.me, channel, text });
  } catch (error) {
    box.value = text;
    status.textContent = error.message;
  }
}

/** Where an element sits: a view (with what its inputs hold) or a message. */
function containerOf(element) {
  const view = element.closest('[data-view-id]');
  if (view) return { container: { type: 'view', viewId: view.dataset.viewId }, values: collectValues(view) };
  const message = element.closest('article[data-ts]');
  return { container: { type: 'message', channel: message.dataset.channel, ts: message.dataset.ts } };
}

async function onClick(event) {
  const button = event.target.closest('button[data-action-id]');
  if (button) {
    event.preventDefault();
    if (button.dataset.confirm && !(await confirmed(JSON.parse(button.dataset.confirm)))) return;
    if (button.dataset.url) window.open(button.dataset.url, '_blank', 'noopener');
    button.disabled = true;
    try {
      await act(button, undefined);
    } finally {
      button.disabled = false;
    }
    return;
  }
  const close = event.target.closest('[data-modal-close]');
  if (close) {
    const view = close.closest('[data-view-id]');
    await api('POST', `/sandbox/api/views/${view.dataset.viewId}/close`, { user: page.me, values: collectValues(view) }).catch(showError);
    return;
  }
  const option = event.target.closest('[role=option][data-value]');
  if (option) pickSuggestion(option);
}

async function act(element, value) {
  const where = containerOf(element);
  await api('POST', '/sandbox/api/actions', {
    user: page.me,
    ...where,
    blockId: element.dataset.blockId,
    actionId: element.dataset.actionId,
    ...(value !== undefined ? { value } : {}),
  }).catch(showError);
}

/** A select or picker sends block_actions at once outside input blocks, or with dispatch_action. */
function dispatches(element) {
  const input = element.closest('.bk-input');
  return !input || input.dataset.dispatchAction === 'true';
}

function onChange(event) {
  const element = event.target.closest('[data-action-id]');
  if (!element || element.matches('button, .bk-combobox, .bk-text-input')) return;
  if (!dispatches(element)) return;
  act(element, valueOf(element));
}

function confirmed(confirm) {
  const dialog = $('#confirm-dialog');
  $('#confirm-title').textContent = confirm.title;
  $('#confirm-text').textContent = confirm.text;
  $('#confirm-ok').textContent = confirm.confirm;
  $('#confirm-ok').className = `bk-button ${confirm.style === 'danger' ? 'bk-button-danger' : 'bk-button-primary'}`;
  $('#confirm-deny').textContent = confirm.deny;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true }));
}

async function onModalSubmit(event) {
  const form = event.target.closest('form[data-view-id]');
  if (!form) return;
  event.preventDefault();
  const submit = $('[data-testid=modal-submit]', form);
  if (submit) submit.disabled = true;
  try {
    await api('POST', `/sandbox/api/views/${form.dataset.viewId}/submit`, { user: page.me, values: collectValues(form) });
  } catch (error) {
    showError(error);
  } finally {
    if (submit) submit.disabled = false;
  }
}

// ---- external selects: options come from the app (block_suggestion) ----------------------------

let suggestTimer;
function onInput(event) {
  const box = event.target.closest('.bk-combobox');
  if (!box) return;
  delete box.dataset.selectedValue;
  delete box.dataset.selectedText;
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(() => suggest(box), 250);
}

async function suggest(box) {
  const listbox = document.getElementById(box.getAttribute('aria-controls'));
  if (box.value.length < Number(box.dataset.minQueryLength ?? 3)) {
    listbox.hidden = true;
    box.setAttribute('aria-expanded', 'false');
    return;
  }
  const view = box.closest('[data-view-id]');
  const { options } = await api('POST', `/sandbox/api/views/${view.dataset.viewId}/suggestions`, {
    user: page.me,
    blockId: box.dataset.blockId,
    actionId: box.dataset.actionId,
    query: box.value,
  });
  listbox.replaceChildren(
    ...options.map((option) => {
      const item = document.createElement('li');
      item.setAttribute('role', 'option');
      item.dataset.value = option.value;
      item.dataset.text = option.text;
      item.textContent = option.group ? `${option.text} (${option.group})` : option.text;
      return item;
    }),
  );
  if (options.length === 0) listbox.innerHTML = '<li class="empty">No matches</li>';
  listbox.hidden = false;
  box.setAttribute('aria-expanded', 'true');
}

function pickSuggestion(option) {
  const listbox = option.closest('[role=listbox]');
  const box = document.querySelector(`[aria-controls="${listbox.id}"]`);
  box.value = option.dataset.text;
  box.dataset.selectedValue = option.dataset.value;
  box.dataset.selectedText = option.dataset.text;
  listbox.hidden = true;
  box.setAttribute('aria-expanded', 'false');
  if (dispatches(box)) act(box, valueOf(box));
}

// ---- values and dates --------------------------------------------------------------------------

function valueOf(element) {
  switch (element.dataset.type) {
    case 'datetimepicker':
      return element.value ? Math.floor(new Date(element.value).getTime() / 1000) : null;
    case 'external_select':
      return element.dataset.selectedValue ? { value: element.dataset.selectedValue, text: element.dataset.selectedText } : null;
    case 'checkboxes': {
      const group = element.closest('[role=group]') ?? element;
      return $$('input:checked', group).map((input) => input.value);
    }
    case 'radio_buttons': {
      const group = element.closest('[role=radiogroup]') ?? element;
      return $('input:checked', group)?.value ?? null;
    }
    default:
      return element.value === '' ? null : element.value;
  }
}

/** What every input of a view holds: block_id → action_id → value. */
function collectValues(root) {
  const values = {};
  for (const element of $$('[data-action-id][data-block-id]', root)) {
    if (element.matches('button')) continue;
    const { blockId, actionId } = element.dataset;
    values[blockId] = { ...values[blockId], [actionId]: valueOf(element) };
  }
  return values;
}

const pad = (n) => String(n).padStart(2, '0');

/** Fills date and time pickers from Unix seconds, and shows Slack dates in the acting person's zone. */
function hydrate(root) {
  for (const input of $$('input[type=datetime-local][data-seconds]', root)) {
    const at = new Date(Number(input.dataset.seconds) * 1000);
    input.value = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
  }
  const timeZone = userById(page.me)?.tz || 'UTC';
  for (const time of $$('time[data-slack-date]', root)) {
    try {
      time.textContent = formatSlackDate(new Date(Number(time.dataset.slackDate) * 1000), time.dataset.format, timeZone);
      time.title = time.getAttribute('datetime');
    } catch {
      // An unknown time zone keeps the server's UTC rendering.
    }
  }
}

/** The same tokens as tools/sandbox/block-kit/mrkdwn.ts's formatSlackDate. */
function formatSlackDate(at, format, timeZone) {
  const part = (options) => new Intl.DateTimeFormat('en-GB', { timeZone, ...options }).format(at);
  const zone = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const time = `${part({ hour: '2-digit', minute: '2-digit', hour12: false })} ${zone}`.trim();
  const tokens = {
    '{date_num}': part({ year: 'numeric', month: '2-digit', day: '2-digit' }),
    '{date}': part({ year: 'numeric', month: 'long', day: 'numeric' }),
    '{date_short}': part({ year: 'numeric', month: 'short', day: 'numeric' }),
    '{date_long}': part({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    '{date_pretty}': part({ year: 'numeric', month: 'long', day: 'numeric' }),
    '{date_short_pretty}': part({ year: 'numeric', month: 'short', day: 'numeric' }),
    '{date_long_pretty}': part({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    '{time}': time,
    '{time_secs}': `${part({ hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })} ${zone}`.trim(),
  };
  return format.replace(/\{[a-z_]+\}/g, (token) => tokens[token] ?? token);
}

function showError(error) {
  const status = $('#composer-status');
  status.textContent = error.message;
}

start().catch(showError);
