// xflow's tracking page: plain JavaScript, no framework, no build step.
//
// It is a client of the server's JSON API like any other: GET /workflows,
// GET /workflows/{id}/executions, GET /workflows/{id}/executions/{ex},
// POST /publish and POST /workflows/{id}/executions/{ex}/redrive, with the bearer token the user gives when the server has
// one (kept in sessionStorage, for this tab only). Views are chosen by the
// URL's fragment, so that every view has a link:
//
//   #/                                  the workflows of the config
//   #/workflows/{id}                    one workflow: its flow, a form that
//                                       starts an execution, its executions
//   #/workflows/{id}/executions/{ex}    one execution, event by event, and
//                                       a Redrive button when it failed
//
// Everything is built with DOM calls and textContent, never innerHTML:
// events carry user data. No inline script, style or handler: the page's
// Content-Security-Policy forbids them.
'use strict';

(() => {
  const TOKEN_KEY = 'xflow.token';
  const PAYLOAD_KEY = 'xflow.payload.';
  const PAGE_SIZE = 20;
  const EXECUTION_REFRESH_MS = 2000;
  const LIST_REFRESH_MS = 5000;
  // After a redrive the execution is followed this long even while it
  // still reads as failed: its old failure lines stay in the function's log
  // until its next event is tracked.
  const AFTER_REDRIVE_MS = 120000;
  // Kinesis limits, as the server checks them (publish.Prepare).
  const MAX_RECORD_BYTES = 1048576;
  const MAX_LOG_STREAM_NAME = 512;
  const MAX_PARTITION_KEY = 256;

  const needsToken = document.documentElement.dataset.auth === 'token';
  const main = document.getElementById('main');
  const authSection = document.getElementById('auth');
  const authForm = document.getElementById('auth-form');
  const authInput = document.getElementById('auth-token');
  const authError = document.getElementById('auth-error');
  const forgetButton = document.getElementById('forget-token');
  const encoder = new TextEncoder();

  // ---- the token ----------------------------------------------------------

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // Storage refused (private mode): the token lasts until a reload.
    }
    memoryToken = t;
    forgetButton.hidden = !t;
  }

  let memoryToken = storedToken();

  function askToken(message) {
    stopTimers();
    authSection.hidden = false;
    authError.textContent = message || '';
    authInput.setAttribute('aria-invalid', message ? 'true' : 'false');
    clear(main);
    add(main, h('p', { class: 'muted' }, 'Give the token above to see the workflows.'));
    authInput.focus();
  }

  authForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = authInput.value.trim();
    if (!t) {
      authError.textContent = 'Write the token first.';
      authInput.setAttribute('aria-invalid', 'true');
      authInput.focus();
      return;
    }
    setToken(t);
    authInput.value = '';
    authError.textContent = '';
    authInput.setAttribute('aria-invalid', 'false');
    authSection.hidden = true;
    workflowsPromise = null;
    route(true);
  });

  forgetButton.addEventListener('click', () => {
    setToken('');
    workflowsPromise = null;
    if (needsToken) askToken('');
    else route(true);
  });

  // ---- the API ------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // AuthNeeded ends a view quietly: the token prompt is showing.
  class AuthNeeded extends Error {}

  async function api(path, options = {}) {
    if (needsToken && !memoryToken) {
      askToken('');
      throw new AuthNeeded('token needed');
    }
    const headers = { Accept: 'application/json' };
    if (memoryToken) headers.Authorization = 'Bearer ' + memoryToken;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(path, {
        method: options.method || 'GET',
        headers,
        body: options.body,
        cache: 'no-store',
        credentials: 'same-origin',
        redirect: 'error',
      });
    } catch (err) {
      throw new ApiError(0, 'unreachable', 'The server could not be reached (' + err.message + '). Is xflow server still running?');
    }
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    const e = (data && data.error) || {};
    if (resp.status === 401) {
      const had = memoryToken !== '';
      setToken('');
      askToken(had ? 'The server refused this token: ' + (e.message || 'it is not the server\'s') : 'This server needs a token.');
      throw new AuthNeeded('unauthorized');
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, e.code || 'http_' + resp.status, e.message || 'The server answered ' + resp.status + '.');
    }
    return data;
  }

  let workflowsPromise = null;

  // The workflows do not change while the server runs: fetched once.
  function loadWorkflows() {
    if (!workflowsPromise) {
      workflowsPromise = api('/workflows').then((d) => d.workflows, (err) => {
        workflowsPromise = null;
        throw err;
      });
    }
    return workflowsPromise;
  }

  const enc = encodeURIComponent;
  const workflowHref = (wf) => '#/workflows/' + enc(wf);
  const executionHref = (wf, ex) => '#/workflows/' + enc(wf) + '/executions/' + enc(ex);

  // ---- DOM helpers --------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    return add(el, children);
  }

  // add appends children, leaving out null, undefined and false (append
  // would write them as text).
  function add(el, ...children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.firstChild.remove();
  }

  // timeEl shows a time in the user's zone: the date and time, or only the
  // time when short; the exact UTC time is its tooltip.
  function timeEl(iso, short) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    const d = new Date(iso);
    const text = short
      ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
      : d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    return h('time', { datetime: iso, title: iso }, text);
  }

  function crumbs(...items) {
    return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('ol', null, items.map((it, i) => h('li', null,
        i === items.length - 1 ? h('span', { 'aria-current': 'page' }, it.text) : h('a', { href: it.href }, it.text)))));
  }

  function heading(text) {
    return h('h1', { tabindex: '-1' }, text);
  }

  function errorPanel(err, retry) {
    const p = h('section', { class: 'panel problem', role: 'alert' },
      h('h2', null, err.status === 404 ? 'Not found' : 'Something went wrong'),
      h('p', null, err.message));
    if (retry) p.append(h('button', { type: 'button', onclick: retry }, 'Try again'));
    return p;
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  // ---- status words -------------------------------------------------------

  // statusText says where an execution stands, from its summary in the
  // list or from its report.
  function statusText(s) {
    switch (s.status) {
      case 'finished':
        return 'Finished';
      case 'in_progress':
        return s.next_expected_event ? 'In progress, waiting for ' + s.next_expected_event : 'In progress';
      case 'failed': {
        const fns = s.failing_functions || (s.producers || []).filter((p) => p.failed).map((p) => p.lambda);
        const damaged = (s.damage || []).length ? ': a record damaged on disk' : '';
        return 'Stuck at ' + (s.next_expected_event || '?') + (fns.length ? ': ' + fns.join(', ') + ' failing' : damaged);
      }
      case 'not_found':
        return 'Not tracked yet';
      case 'tracker_failing':
        return 'The tracker of this workflow is failing' + (s.tracker && s.tracker.reason ? ': ' + s.tracker.reason : '');
      default:
        return s.status;
    }
  }

  function badge(s) {
    return h('span', { class: 'badge badge-' + s.status, 'data-status': s.status }, statusText(s));
  }

  // ---- the flow -----------------------------------------------------------

  // flowChain draws a flow: one card per event with its subscribers, and,
  // for an execution, the event's state.
  function flowChain(workflow, report) {
    const states = new Map();
    let next = null;
    let failing = new Set();
    const damaged = new Set();
    if (report) {
      for (const e of report.events) states.set(e.event, e);
      for (const d of report.damage || []) damaged.add(d.event);
      next = report.next_expected_event;
      for (const p of report.producers || []) if (p.failed) failing.add(p.lambda);
    }
    return h('ol', { class: 'flow', 'aria-label': 'Flow of ' + workflow.id },
      workflow.flow.map((step, i) => {
        const e = states.get(step.event);
        let cls = 'step';
        let state = null;
        if (report) {
          if (e && e.state === 'received') {
            cls += ' step-received';
            state = h('div', { class: 'step-state' }, '✓ received ', timeEl(e.received_at, true),
              e.records > 1 ? ' (' + e.records + ' records)' : null);
          } else if (step.event === next && report.status === 'failed') {
            cls += ' step-failed';
            state = h('div', { class: 'step-state' }, '✗ stuck here');
          } else if (step.event === next && report.status !== 'not_found') {
            cls += ' step-next';
            state = h('div', { class: 'step-state' }, '… next expected');
          } else {
            cls += ' step-pending';
            state = h('div', { class: 'step-state muted' }, 'not received');
          }
        }
        // The functions that failed to produce the next event are the
        // subscribers of the event before it.
        const before = i + 1 < workflow.flow.length && workflow.flow[i + 1].event === next;
        return h('li', { class: cls, 'data-event': step.event },
          h('div', { class: 'step-card' },
            h('div', { class: 'step-name' }, step.event),
            step.subscribers.length
              ? h('ul', { class: 'step-subs', 'aria-label': 'Subscribers of ' + step.event },
                step.subscribers.map((s) => h('li', { class: before && failing.has(s) ? 'failing' : null },
                  s, before && failing.has(s) ? ' (failing)' : null)))
              : h('div', { class: 'step-subs' }, i === workflow.flow.length - 1 ? 'end of the flow' : 'no subscriber'),
            state,
            damaged.has(step.event) ? h('div', { class: 'step-state step-damaged' }, '✗ a record damaged on disk') : null));
      }));
  }

  // ---- timers -------------------------------------------------------------

  let timers = [];
  function later(fn, ms) {
    timers.push(setTimeout(fn, ms));
  }
  function stopTimers() {
    for (const t of timers) clearTimeout(t);
    timers = [];
  }

  // view counts the views shown, so that an answer for a view the user left
  // is dropped.
  let view = 0;

  // ---- views --------------------------------------------------------------

  async function showHome(v) {
    const wfs = await loadWorkflows();
    if (v !== view) return;
    clear(main);
    add(main, heading('Workflows'));
    if (!wfs.length) {
      add(main, h('p', { class: 'panel notice' }, 'The config defines no workflows: add a workflows: section to see executions here.'));
      return;
    }
    add(main, h('p', { class: 'muted' }, plural(wfs.length, 'workflow', 'workflows') + ' in this config. Choose one to see its executions or start one.'));
    add(main, h('ul', { class: 'workflows' }, wfs.map((wf) => h('li', { class: 'panel workflow-card' },
      h('h2', null, h('a', { href: workflowHref(wf.id) }, wf.id)),
      wf.description ? h('p', null, wf.description) : null,
      flowChain(wf),
      h('p', { class: 'hint' }, plural(wf.flow.length, 'event', 'events') + '; tracked in ', h('code', null, wf.log_group), '.')))));
  }

  async function showWorkflow(v, id) {
    const wfs = await loadWorkflows();
    if (v !== view) return;
    const wf = wfs.find((w) => w.id === id);
    if (!wf) throw new ApiError(404, 'unknown_workflow', 'Workflow "' + id + '" is not in this config. Its workflows are: ' + wfs.map((w) => w.id).join(', ') + '.');
    clear(main);
    add(main,
      crumbs({ href: '#/', text: 'Workflows' }, { text: wf.id }),
      heading('Workflow ' + wf.id),
      wf.description ? h('p', null, wf.description) : null,
      h('section', { class: 'panel', 'aria-labelledby': 'flow-title' },
        h('h2', { id: 'flow-title' }, 'Flow'),
        flowChain(wf)),
      startForm(wf),
      executionsSection(v, wf));
  }

  // startForm publishes the first event of a workflow.
  function startForm(wf) {
    if (!wf.flow.length) {
      return h('p', { class: 'panel notice' }, 'This workflow has no event to start it with.');
    }
    const first = wf.flow[0].event;
    const textarea = h('textarea', {
      id: 'payload', name: 'payload', rows: '8', spellcheck: 'false', autocomplete: 'off',
      'aria-describedby': 'payload-hint payload-error',
    });
    textarea.value = initialPayload(wf.id);
    const error = h('p', { id: 'payload-error', class: 'error', role: 'alert' });
    const submit = h('button', { type: 'submit' }, 'Publish ' + first);
    const newId = h('button', { type: 'button', class: 'secondary' }, 'New execution id');
    const form = h('form', { id: 'start-form', novalidate: true, 'aria-labelledby': 'start-title' },
      h('label', { for: 'payload' }, 'Payload of ' + first + ' (JSON)'),
      h('p', { id: 'payload-hint', class: 'hint' },
        'A JSON object with a string "execution_id", which names the execution. It is checked here before it is sent, and published to the stream ',
        h('code', null, wf.flow[0].stream), '.'),
      textarea,
      error,
      h('div', { class: 'actions' }, submit, newId));

    const showError = (msg) => {
      error.textContent = msg;
      textarea.setAttribute('aria-invalid', msg ? 'true' : 'false');
    };
    newId.addEventListener('click', () => {
      textarea.value = withExecutionId(textarea.value, newExecutionId());
      showError('');
      textarea.focus();
    });
    textarea.addEventListener('input', () => {
      if (error.textContent) showError('');
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const checked = checkPayload(textarea.value);
      if (checked.error) {
        showError(checked.error);
        textarea.focus();
        return;
      }
      showError('');
      submit.disabled = true;
      submit.textContent = 'Publishing…';
      try {
        const res = await api('/publish', {
          method: 'POST',
          body: '{"stream":' + JSON.stringify(first) + ',"event":' + checked.text + '}',
        });
        rememberPayload(wf.id, checked.text);
        published = { workflow: wf.id, result: res };
        location.hash = executionHref(wf.id, res.execution_id);
      } catch (err) {
        if (err instanceof AuthNeeded) return;
        showError('Not published: ' + err.message);
        textarea.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = 'Publish ' + first;
      }
    });
    return h('section', { class: 'panel', 'aria-labelledby': 'start-title' },
      h('h2', { id: 'start-title' }, 'Start an execution'),
      form);
  }

  // published is the last publish of this page, shown by the execution
  // view it leads to.
  let published = null;

  function newExecutionId() {
    const d = new Date();
    const p = (n) => String(n).padStart(2, '0');
    const rand = new Uint8Array(3);
    crypto.getRandomValues(rand);
    return 'ex-' + d.getFullYear() + p(d.getMonth() + 1) + p(d.getDate()) + '-' + p(d.getHours()) + p(d.getMinutes()) + p(d.getSeconds()) +
      '-' + Array.from(rand, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // withExecutionId sets the execution_id of a JSON object, keeping its
  // other fields; anything else becomes a fresh object.
  function withExecutionId(text, id) {
    try {
      const v = JSON.parse(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const out = { execution_id: id };
        for (const [k, x] of Object.entries(v)) if (k !== 'execution_id') out[k] = x;
        return JSON.stringify(out, null, 2);
      }
    } catch {
      // not JSON: start again
    }
    return JSON.stringify({ execution_id: id }, null, 2);
  }

  function initialPayload(wf) {
    let last = '';
    try {
      last = sessionStorage.getItem(PAYLOAD_KEY + wf) || '';
    } catch {
      last = '';
    }
    return withExecutionId(last || '{}', newExecutionId());
  }

  function rememberPayload(wf, text) {
    try {
      sessionStorage.setItem(PAYLOAD_KEY + wf, text);
    } catch {
      // not kept
    }
  }

  function kindOf(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'an array';
    switch (typeof v) {
      case 'string': return 'a string';
      case 'number': return 'a number';
      case 'boolean': return 'a boolean';
      default: return 'an object';
    }
  }

  // checkPayload checks an event as the server will (publish.Prepare), so
  // that a mistake is shown at once, beside the field.
  function checkPayload(raw) {
    const text = raw.trim();
    if (!text) return { error: 'The payload is empty: write a JSON object such as {"execution_id": "ex-1"}.' };
    let v;
    try {
      v = JSON.parse(text);
    } catch (err) {
      return { error: 'The payload is not valid JSON: ' + err.message };
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      return { error: 'The payload is ' + kindOf(v) + ', not a JSON object: write {"execution_id": "…", …}.' };
    }
    if (!Object.prototype.hasOwnProperty.call(v, 'execution_id')) {
      return { error: 'The payload has no "execution_id": add one (the New execution id button does), so that the execution can be tracked.' };
    }
    const id = v.execution_id;
    if (typeof id !== 'string') return { error: '"execution_id" is ' + kindOf(id) + ', not a string.' };
    if (id === '') return { error: '"execution_id" is empty.' };
    if (/[:*]/.test(id)) return { error: '"execution_id" contains ":" or "*", which a CloudWatch Logs log stream name cannot hold.' };
    if (/[\u0000-\u001f\u007f]/.test(id)) return { error: '"execution_id" contains a control character.' };
    const idBytes = encoder.encode(id).length;
    if (idBytes > MAX_LOG_STREAM_NAME) return { error: '"execution_id" is ' + idBytes + ' bytes long; a log stream name allows ' + MAX_LOG_STREAM_NAME + '.' };
    if ([...id].length > MAX_PARTITION_KEY) return { error: '"execution_id" is longer than the ' + MAX_PARTITION_KEY + ' characters of a Kinesis partition key.' };
    const size = encoder.encode(text).length + idBytes;
    if (size > MAX_RECORD_BYTES) return { error: 'The event weighs ' + size + ' bytes with its partition key, more than the 1 MiB of a Kinesis record.' };
    return { text, id };
  }

  // executionsSection lists a workflow's executions, newest first, a page
  // at a time; the first page refreshes by itself while one of its
  // executions is in progress, or while there is none.
  function executionsSection(v, wf) {
    const cursors = [null]; // the cursor of each page seen; null: the first
    let pageIndex = 0;
    let shown = '';
    const body = h('div', { class: 'table-wrap' }, h('p', { class: 'loading' }, 'Loading executions…'));
    const newer = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Newer');
    const older = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Older →');
    const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');
    const where = h('span', { class: 'muted' });
    const failedOnly = h('input', { type: 'checkbox', id: 'filter-failed' });

    async function load(focusAfter) {
      stopTimers();
      const cursor = cursors[pageIndex];
      let page;
      try {
        page = await api('/workflows/' + enc(wf.id) + '/executions?limit=' + PAGE_SIZE + (failedOnly.checked ? '&status=failed' : '') +
          (cursor ? '&cursor=' + enc(cursor) : ''));
      } catch (err) {
        if (err instanceof AuthNeeded || v !== view) return;
        if (err.code === 'invalid_cursor') {
          // The cursor expired: start again from the newest.
          cursors.length = 1;
          pageIndex = 0;
          return load(focusAfter);
        }
        clear(body);
        add(body, errorPanel(err, () => load(false)));
        return;
      }
      if (v !== view) return;
      cursors.length = pageIndex + 1;
      if (page.next_cursor) cursors.push(page.next_cursor);
      newer.disabled = pageIndex === 0;
      older.disabled = !page.next_cursor;
      where.textContent = 'Page ' + (pageIndex + 1) + (page.next_cursor ? '' : ' (the last)') + ' · updated ' + new Date().toLocaleTimeString();
      const fingerprint = JSON.stringify(page.executions);
      if (fingerprint !== shown || focusAfter) {
        shown = fingerprint;
        const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.execution : null;
        clear(body);
        add(body, executionsTable(wf, page.executions, failedOnly.checked));
        if (focused) {
          const again = body.querySelector('a[data-execution="' + CSS.escape(focused) + '"]');
          if (again) again.focus();
        }
        if (focusAfter) (body.querySelector('a') || older).focus();
      }
      // The first page refreshes while it may change soon: an execution
      // is under way, or none has shown yet.
      if (pageIndex === 0 && (!page.executions.length || page.executions.some((e) => e.status === 'in_progress' || e.status === 'not_found'))) {
        later(() => load(false), LIST_REFRESH_MS);
      }
    }

    newer.addEventListener('click', () => {
      if (pageIndex > 0) pageIndex--;
      load(true);
    });
    older.addEventListener('click', () => {
      if (pageIndex + 1 < cursors.length) pageIndex++;
      load(true);
    });
    refresh.addEventListener('click', () => load(false));
    failedOnly.addEventListener('change', () => {
      cursors.length = 1;
      pageIndex = 0;
      shown = '';
      load(false);
    });
    load(false);

    return h('section', { class: 'panel', 'aria-labelledby': 'executions-title' },
      h('div', { class: 'spread' },
        h('h2', { id: 'executions-title' }, 'Executions'),
        h('div', { class: 'actions' },
          h('label', { class: 'filter', for: 'filter-failed' }, failedOnly, 'Failed only'),
          refresh)),
      h('p', { class: 'hint' }, 'Newest first, by the time of their last event.'),
      body,
      h('div', { class: 'pager' }, newer, older, where));
  }

  function executionsTable(wf, executions, failedOnly) {
    if (!executions.length && failedOnly) {
      return h('p', { class: 'muted' }, 'No failed execution of ' + wf.id + ' on this page.');
    }
    if (!executions.length) {
      return h('p', { class: 'muted' }, 'No execution of ' + wf.id + ' has been tracked yet. Start one with the form above.');
    }
    return h('table', { class: 'cards', id: 'executions' },
      h('caption', { class: 'visually-hidden' }, 'Executions of ' + wf.id + ', newest first'),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Execution'),
        h('th', { scope: 'col' }, 'Started'),
        h('th', { scope: 'col' }, 'Last event'),
        h('th', { scope: 'col' }, 'Status'))),
      h('tbody', null, executions.map((e) => h('tr', { 'data-execution': e.execution_id },
        h('td', { class: 'id', 'data-label': 'Execution' },
          h('a', { href: executionHref(wf.id, e.execution_id), 'data-execution': e.execution_id }, e.execution_id)),
        h('td', { 'data-label': 'Started' }, timeEl(e.started_at)),
        h('td', { 'data-label': 'Last event' },
          h('span', null, e.last_event || '—', e.last_event ? h('br') : null, e.last_event ? timeEl(e.last_event_at) : null)),
        h('td', { 'data-label': 'Status' }, h('div', null, badge(e),
          h('div', { class: 'hint' }, e.events_received + ' of ' + e.events_total + ' events')))))));
  }

  async function showExecution(v, wfID, exID) {
    const wfs = await loadWorkflows();
    if (v !== view) return;
    const wf = wfs.find((w) => w.id === wfID);
    if (!wf) throw new ApiError(404, 'unknown_workflow', 'Workflow "' + wfID + '" is not in this config.');
    const just = published && published.workflow === wfID && published.result.execution_id === exID ? published.result : null;
    published = null;

    clear(main);
    // The live region changes with the state only, so that a screen
    // reader announces a change, not every refresh; the time of the last
    // check is beside it.
    const live = h('span', { 'aria-live': 'polite', id: 'live' });
    const checked = h('span', { class: 'muted' });
    const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');
    const content = h('div', { id: 'execution' }, h('p', { class: 'loading' }, 'Loading the execution…'));
    // The redrive panel lives outside the report, which is redrawn on
    // every change, so that its outcome stays in view.
    const redriveButton = h('button', { type: 'button', id: 'redrive-button' }, 'Redrive');
    const redriveResult = h('div', { id: 'redrive-result', role: 'status' });
    const redrivePanel = h('section', { class: 'panel redrive', id: 'redrive', hidden: true, 'aria-labelledby': 'redrive-title' },
      h('h2', { id: 'redrive-title' }, 'Redrive'),
      h('p', { class: 'hint' }, 'Once the failing function is fixed (and deployed), deliver to it again the records of this execution it gave up on. ' +
        'Only that function gets them: the other subscribers of their events do not see them again.'),
      h('div', { class: 'actions' }, redriveButton),
      redriveResult);
    let followUntil = 0;
    add(main,
      crumbs({ href: '#/', text: 'Workflows' }, { href: workflowHref(wf.id), text: wf.id }, { text: exID }),
      heading('Execution ' + exID),
      just ? h('p', { class: 'panel notice', id: 'published' }, 'Published ' + wf.flow[0].event + ' as record ' + just.sequence_number +
        ' of ' + just.stream + '. Its events show here as the tracker records them.') : null,
      h('div', { class: 'spread' }, h('p', { class: 'live' }, live, ' ', checked), refresh),
      redrivePanel,
      content);

    redriveButton.addEventListener('click', async () => {
      redriveButton.disabled = true;
      redriveButton.textContent = 'Redriving…';
      clear(redriveResult);
      let res;
      try {
        res = await api('/workflows/' + enc(wf.id) + '/executions/' + enc(exID) + '/redrive', { method: 'POST', body: '{}' });
      } catch (err) {
        if (err instanceof AuthNeeded || v !== view) return;
        add(redriveResult, h('p', { class: 'error' }, 'Not redriven: ' + err.message));
        return;
      } finally {
        redriveButton.disabled = false;
        redriveButton.textContent = 'Redrive';
      }
      if (v !== view) return;
      add(redriveResult, h('p', { id: 'redrive-message' }, res.message),
        h('ul', null, res.reports.flatMap((r) => r.batches.map((b) => h('li', { 'data-outcome': b.outcome },
          h('strong', null, r.lambda), ' ', b.event || b.stream, ' ', h('span', { class: 'mono' }, b.start_sequence_number + '–' + b.end_sequence_number), ': ',
          b.outcome.replace('_', ' '), b.new_error ? ': ' + b.new_error.split('\n')[0] : '')))));
      if (res.redriven > 0) followUntil = Date.now() + AFTER_REDRIVE_MS;
      load();
    });

    let shown = '';
    const open = new Set(); // the payloads the user opened, kept across refreshes
    content.addEventListener('toggle', (ev) => {
      const key = ev.target.dataset && ev.target.dataset.key;
      if (!key) return;
      if (ev.target.open) open.add(key);
      else open.delete(key);
    }, true);

    async function load() {
      stopTimers();
      let rep;
      try {
        rep = await api('/workflows/' + enc(wf.id) + '/executions/' + enc(exID));
      } catch (err) {
        if (err instanceof AuthNeeded || v !== view) return;
        clear(content);
        add(content, errorPanel(err, load));
        return;
      }
      if (v !== view) return;
      const fingerprint = JSON.stringify(rep, (k, x) => (k === 'checked_at' || k === 'until' ? undefined : x));
      if (fingerprint !== shown) {
        shown = fingerprint;
        clear(content);
        add(content, ...executionView(wf, rep, open));
      }
      const following = rep.status === 'failed' && Date.now() < followUntil;
      const say = following ? 'Redriven; waiting for the execution to move on, refreshing every ' + EXECUTION_REFRESH_MS / 1000 + ' s.' : {
        not_found: 'Waiting for its first event; refreshing every ' + EXECUTION_REFRESH_MS / 1000 + ' s.',
        in_progress: 'In progress; refreshing every ' + EXECUTION_REFRESH_MS / 1000 + ' s.',
        finished: 'The execution finished.',
        failed: 'The execution is stuck; Refresh to check again.',
        tracker_failing: 'The tracker of this workflow is failing; refreshing every ' + EXECUTION_REFRESH_MS / 1000 + ' s.',
      }[rep.status] || rep.status;
      if (live.textContent !== say) live.textContent = say;
      checked.textContent = 'Checked ' + new Date(rep.checked_at).toLocaleTimeString() + '.';
      // A failed execution can be redriven; one that finished no longer
      // needs it, though the outcome of a redrive stays in view.
      redrivePanel.hidden = rep.status !== 'failed' && !redriveResult.firstChild;
      redriveButton.hidden = rep.status !== 'failed';
      if (rep.status === 'in_progress' || rep.status === 'not_found' || rep.status === 'tracker_failing' || following) later(load, EXECUTION_REFRESH_MS);
    }
    refresh.addEventListener('click', load);
    await load();
  }

  function executionView(wf, rep, open) {
    const received = rep.events.filter((e) => e.state === 'received').length;
    const out = [];
    out.push(h('section', { class: 'panel', 'aria-labelledby': 'summary-title' },
      h('div', { class: 'spread' }, h('h2', { id: 'summary-title' }, 'Status'), badge(rep)),
      h('dl', { class: 'facts' },
        h('dt', null, 'Events'), h('dd', { id: 'events-count' }, received + ' of ' + rep.events.length + ' events received'),
        h('dt', null, 'Started'), h('dd', null, timeEl(rep.events_received.length ? rep.events_received[0].timestamp : null)),
        h('dt', null, 'Last event'), h('dd', null,
          rep.events_received.length
            ? [rep.tracking_summary.last_received_event, ' · ', timeEl(rep.events_received[rep.events_received.length - 1].timestamp)]
            : '—'),
        h('dt', null, 'Next expected'), h('dd', { id: 'next-expected' }, rep.next_expected_event || (rep.status === 'finished' ? 'none: the flow is complete' : '—')),
        h('dt', null, 'Tracked in'), h('dd', null, h('code', null, rep.log_group), ' / ', h('code', null, rep.log_stream)))));

    if (rep.tracker && rep.tracker.failing) {
      const t = rep.tracker;
      out.push(h('section', { class: 'panel problem', id: 'tracker', 'aria-labelledby': 'tracker-title' },
        h('h2', { id: 'tracker-title' }, 'The tracker of this workflow is failing'),
        h('p', null, t.reason),
        h('p', { class: 'hint' }, 'This page shows what the tracker ', h('code', null, t.function),
          ' writes: the execution\'s events may well have been published, and show here once the tracker works again.'),
        (t.errors || []).length ? logLines(t.errors.slice(-3)) : null));
    }
    if (rep.status === 'not_found' && !rep.log_group_found) {
      out.push(h('p', { class: 'panel notice' }, 'The workflow\'s tracking log group ' + rep.log_group + ' does not exist: ' +
        (rep.hint || 'the workflow is not deployed where the server looks.')));
    } else if (rep.status === 'not_found') {
      out.push(h('p', { class: 'panel notice' }, 'No event of execution ' + rep.execution_id + ' has been tracked yet. ' +
        'If it was just started, its first event shows here in a moment; otherwise check the execution id.'));
    }

    out.push(h('section', { class: 'panel', 'aria-labelledby': 'exflow-title' },
      h('h2', { id: 'exflow-title' }, 'Flow'),
      flowChain(wf, rep)));

    const producers = (rep.producers || []).filter((p) => p.failed || p.lines.length);
    if (producers.length) {
      const failed = producers.some((p) => p.failed);
      out.push(h('section', { class: 'panel' + (failed ? ' problem' : ''), id: 'producers', 'aria-labelledby': 'producers-title' },
        h('h2', { id: 'producers-title' }, failed ? 'Failing functions' : 'Logs of the functions that produce ' + rep.next_expected_event),
        h('p', { class: 'hint' }, 'The lines of this execution in the logs of the functions that should publish ' + rep.next_expected_event + '.'),
        producers.map((p) => h('div', { class: 'producer', 'data-lambda': p.lambda },
          h('h3', null, p.lambda, p.failed ? ' — failed' : '', p.function !== p.lambda ? h('span', { class: 'muted' }, ' (function ' + p.function + ')') : null),
          h('p', { class: 'hint' }, plural(p.lines.length, 'line', 'lines') + ' from ', h('code', null, p.log_group), ' since ', timeEl(p.since),
            p.truncated ? '; more were cut off' : '', '.'),
          logLines(p.lines)))));
    }

    out.push(h('section', { class: 'panel', 'aria-labelledby': 'received-title' },
      h('h2', { id: 'received-title' }, 'Received events'),
      rep.events_received.length
        ? h('ul', { class: 'payloads' }, rep.events_received.map((r) => {
          const key = r.event_name + '/' + r.shard_id + '/' + r.sequence_number;
          return h('li', null, h('details', { 'data-key': key, open: open.has(key) },
            h('summary', null,
              h('span', { class: 'summary-event' }, r.event_name),
              timeEl(r.timestamp),
              h('span', { class: 'muted mono' }, 'record ' + r.sequence_number)),
            h('pre', null, pretty(r.data))));
        }))
        : h('p', { class: 'muted' }, 'None yet.')));

    if ((rep.dead_letters || []).length) {
      out.push(h('section', { class: 'panel problem', id: 'dead-letters', 'aria-labelledby': 'dead-letters-title' },
        h('h2', { id: 'dead-letters-title' }, 'Records functions gave up on'),
        h('ul', null, rep.dead_letters.map((d) => h('li', null,
          timeEl(d.time), ' ', h('strong', null, d.function), ' gave up on the ' + (d.event || d.stream) + ' batch ',
          h('span', { class: 'mono' }, d.start_sequence_number + '–' + d.end_sequence_number), ' (' + d.condition + ')',
          d.error ? [': ', h('code', null, d.error.split('\n')[0])] : null,
          '; the record is in ', h('code', null, d.where))))));
    }
    if ((rep.damage || []).length) {
      out.push(h('section', { class: 'panel problem', id: 'damage', 'aria-labelledby': 'damage-title' },
        h('h2', { id: 'damage-title' }, 'Records damaged on disk'),
        h('p', { class: 'hint' }, 'Bytes of the state folder that held this execution\'s id and were no longer a record: ' +
          'the runtime moved them to its quarantine folder and delivered every other record.'),
        h('ul', null, rep.damage.map((d) => h('li', null,
          timeEl(d.time), ' the ', h('strong', null, d.event || d.stream), ' record at ',
          h('span', { class: 'mono' }, d.sequence_number),
          ' (' + d.length + ' bytes, ' + (d.kind === 'torn' ? 'cut short at the end of the stream' : 'failing its checksums') + ')',
          '; the bytes are in ', h('code', null, d.where))))));
    }
    if ((rep.unexpected_events || []).length) {
      out.push(h('section', { class: 'panel notice' },
        h('h2', null, 'Events outside the flow'),
        h('ul', null, rep.unexpected_events.map((e) => h('li', null, e.event, ' · ', timeEl(e.received_at))))));
    }
    if ((rep.unparsed_entries || []).length) {
      out.push(h('section', { class: 'panel notice' },
        h('h2', null, 'Log entries that are not tracker entries'),
        h('ul', null, rep.unparsed_entries.map((u) => h('li', null, timeEl(u.time), ' ', u.error, ': ', h('code', null, u.message))))));
    }
    return out;
  }

  // logLines shows log lines as a terminal would: Lambda keeps a
  // traceback in one log event with "\r" between its lines.
  function logLines(lines) {
    if (!lines.length) return h('p', { class: 'muted' }, 'No line of this execution.');
    return h('pre', { class: 'log', tabindex: '0', 'aria-label': 'Log lines' }, lines.map((l) => h('span', { class: 'line' + (l.failure ? ' line-failure' : '') },
      h('span', { class: 'line-time' }, new Date(l.time).toLocaleTimeString() + ' '),
      l.failure ? h('span', { class: 'visually-hidden' }, 'failure: ') : null,
      l.message.replace(/\r\n?/g, '\n').replace(/\n$/, ''),
      '\n')));
  }

  function pretty(data) {
    try {
      return JSON.stringify(data, null, 2);
    } catch {
      return String(data);
    }
  }

  // ---- routing ------------------------------------------------------------

  async function route(focus) {
    stopTimers();
    const v = ++view;
    if (needsToken && !memoryToken) {
      askToken('');
      return;
    }
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
    try {
      if (parts.length === 0) await showHome(v);
      else if (parts[0] === 'workflows' && parts.length === 2) await showWorkflow(v, parts[1]);
      else if (parts[0] === 'workflows' && parts.length === 4 && parts[2] === 'executions') await showExecution(v, parts[1], parts[3]);
      else throw new ApiError(404, 'not_found', 'This page has no view at ' + location.hash + '.');
    } catch (err) {
      if (err instanceof AuthNeeded || v !== view) return;
      clear(main);
      add(main, crumbs({ href: '#/', text: 'Workflows' }, { text: 'Error' }), heading('Error'), errorPanel(err, () => route(true)));
    }
    if (focus && v === view) {
      const h1 = main.querySelector('h1');
      if (h1) h1.focus();
    }
  }

  window.addEventListener('hashchange', () => route(true));
  forgetButton.hidden = !memoryToken;
  route(false);
})();
