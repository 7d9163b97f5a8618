// The sandbox page: play a Telegram user against the bot through the control API (/control/...).
// Plain DOM, no framework: it polls once a second and redraws a part only when its version moved.
"use strict";

const POLL_MS = 1000;
const INVITE_LINK = /^https:\/\/t\.me\/\+[\w-]+$/;
const URL_IN_TEXT = /https?:\/\/[^\s<>"']+|t\.me\/\+[\w-]+/g;

const view = {
  userId: Number(localStorage.getItem("sandbox.userId")) || null,
  users: [],
  chatVersion: null,
  channelVersion: null,
  seenAnswers: new Set(),
};

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json();
  if (!payload.ok) throw new Error(payload.error || `HTTP ${response.status}`);
  return payload.result;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function toast(message, kind = "") {
  const node = el("div", { class: `toast ${kind}`, "data-testid": "toast", text: message });
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "alert" ? 6000 : 3500);
}

async function act(promise, success) {
  try {
    const result = await promise;
    if (success) toast(typeof success === "function" ? success(result) : success);
    await refresh(true);
    return result;
  } catch (error) {
    toast(error.message, "error");
    return null;
  }
}

// -- links and text ----------------------------------------------------------------------------

function safeHref(url) {
  const full = url.startsWith("t.me/") ? `https://${url}` : url;
  return /^(https?:|tg:)/i.test(full) ? full : null;
}

function link(url, label) {
  const href = safeHref(url);
  if (!href) return document.createTextNode(label);
  if (INVITE_LINK.test(href)) {
    return el("a", {
      href, class: "invite-link", "data-testid": "invite-link", text: label,
      onclick: (event) => { event.preventDefault(); openInviteLink(href); },
    });
  }
  return el("a", { href, target: "_blank", rel: "noopener noreferrer", text: label });
}

function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    fragment.append(text.slice(last, match.index), link(match[0], match[0]));
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

const ENTITY_TAGS = {
  bold: "strong", italic: "em", underline: "u", strikethrough: "s", code: "code", pre: "pre",
  blockquote: "blockquote", expandable_blockquote: "blockquote",
};

// Entity offsets count UTF-16 code units, which is exactly how JavaScript indexes strings.
function renderText(text, entities, start = 0, end = text.length) {
  const fragment = document.createDocumentFragment();
  const inside = (entities || [])
    .filter((e) => e.offset >= start && e.offset + e.length <= end)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  let cursor = start;
  for (const entity of inside) {
    if (entity.offset < cursor) continue; // nested: rendered by its parent
    fragment.append(linkify(text.slice(cursor, entity.offset)));
    const stop = entity.offset + entity.length;
    const children = inside.filter((e) => e !== entity && e.offset >= entity.offset
      && e.offset + e.length <= stop);
    const label = text.slice(entity.offset, stop);
    let node;
    if (entity.type === "text_link") node = link(entity.url, label);
    else if (entity.type === "url") node = link(label, label);
    else if (entity.type === "spoiler") {
      node = el("span", { class: "spoiler", onclick: (e) => e.target.classList.add("revealed") });
    } else node = el(ENTITY_TAGS[entity.type] || "span", { "data-entity": entity.type });
    if (node.childNodes.length === 0) node.append(renderText(text, children, entity.offset, stop));
    fragment.append(node);
    cursor = stop;
  }
  fragment.append(linkify(text.slice(cursor, end)));
  return fragment;
}

// -- the chat ----------------------------------------------------------------------------------

function inlineKeyboard(message) {
  const rows = message.reply_markup && message.reply_markup.inline_keyboard;
  if (!rows) return null;
  const keyboard = el("div", { class: "keyboard", "data-testid": "inline-keyboard" });
  for (const row of rows) {
    const line = el("div", { class: "row" });
    for (const button of row) {
      if (button.url) {
        const anchor = link(button.url, button.text);
        anchor.setAttribute("data-testid", INVITE_LINK.test(button.url) ? "invite-link"
          : "url-button");
        line.append(anchor);
      } else if (button.callback_data !== undefined) {
        line.append(el("button", {
          type: "button", "data-testid": "inline-button",
          "data-callback-data": button.callback_data, text: button.text,
          onclick: () => act(api("POST", `/control/users/${view.userId}/callbacks`,
            { message_id: message.message_id, data: button.callback_data })),
        }));
      } else {
        line.append(el("button", { type: "button", disabled: true, text: button.text }));
      }
    }
    keyboard.append(line);
  }
  return keyboard;
}

function documentBlock(message) {
  const doc = message.document;
  if (!doc) return null;
  const extension = (doc.file_name.split(".").pop() || "file").slice(0, 4).toUpperCase();
  return el("div", { class: "document", "data-testid": "document" },
    el("span", { class: "icon", text: extension }),
    el("span", {},
      el("a", { href: doc.download_url, download: doc.file_name, text: doc.file_name }),
      el("span", { class: "sub muted",
        text: ` ${doc.file_size} byte${doc.file_size === 1 ? "" : "s"} · ${doc.mime_type}` })));
}

function photoBlock(message) {
  const photo = message.photo;
  if (!photo) return null;
  return el("a", { class: "photo", href: photo.url, target: "_blank", rel: "noopener",
                   "data-testid": "photo" },
    el("img", { src: photo.url, alt: message.caption || "photo",
                width: photo.width, height: photo.height }));
}

// A Stars invoice with its Pay button (a pre_checkout_query to the bot), or a payment's
// service message; `payment_state` says where paying stands.
function invoiceBlock(message) {
  const invoice = message.invoice;
  if (!invoice) return null;
  const state = message.payment_state;
  const block = el("div", { class: "invoice", "data-testid": "invoice" },
    el("strong", { text: invoice.title }),
    el("div", { text: invoice.description }),
    el("div", { class: "sub muted", text: `${invoice.total_amount} ⭐ (${invoice.currency})` }));
  if (state) {
    block.append(el("div", { class: "sub", "data-testid": "payment-state", text: state }));
  }
  if (!state || state.startsWith("refused") || state.startsWith("failed")) {
    block.append(el("button", {
      type: "button", "data-testid": "pay-button", text: `Pay ${invoice.total_amount} Stars`,
      onclick: () => act(api("POST", `/control/users/${view.userId}/pay`,
        { message_id: message.message_id })),
    }));
  }
  return block;
}

function paymentBlock(message) {
  const paid = message.successful_payment;
  if (!paid) return null;
  const refunded = message.payment_state === "refunded" ? " (refunded)" : "";
  return el("div", { class: "invoice", "data-testid": "successful-payment",
    text: `You paid ${paid.total_amount} ⭐${refunded}` });
}

function messageNode(message) {
  const bubble = el("div", { class: "bubble" });
  const invoice = invoiceBlock(message) || paymentBlock(message);
  if (invoice) bubble.append(invoice);
  const photo = photoBlock(message);
  if (photo) bubble.append(photo);
  const doc = documentBlock(message);
  if (doc) bubble.append(doc);
  if (message.text !== null) bubble.append(renderText(message.text, message.entities));
  if (message.caption) bubble.append(renderText(message.caption, message.caption_entities));
  const time = new Date(message.date).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  bubble.append(el("div", { class: "meta", text: message.edit_date ? `edited ${time}` : time }));
  return el("div", {
    class: `message ${message.direction}`, "data-testid": "message",
    "data-message-id": message.message_id, "data-direction": message.direction,
  }, bubble, inlineKeyboard(message));
}

function replyKeyboard(messages) {
  const box = $("reply-keyboard");
  box.replaceChildren();
  let rows = null;
  for (const m of messages) {
    if (m.direction !== "bot_to_user" || !m.reply_markup) continue;
    if (m.reply_markup.keyboard) rows = m.reply_markup.keyboard;
    if (m.reply_markup.remove_keyboard) rows = null;
  }
  box.hidden = !rows;
  for (const row of rows || []) {
    const line = el("div", { class: "row" });
    for (const button of row) {
      const text = typeof button === "string" ? button : button.text;
      line.append(el("button", {
        type: "button", "data-testid": "reply-button", text, onclick: () => sendText(text),
      }));
    }
    box.append(line);
  }
}

function renderChat(chat) {
  const box = $("messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.replaceChildren(...chat.messages.map(messageNode));
  if (!chat.messages.length) {
    box.append(el("div", { class: "empty", text: "No messages yet. Press START or say /start." }));
  }
  if (nearBottom || view.chatVersion === null) box.scrollTop = box.scrollHeight;
  replyKeyboard(chat.messages);
  const user = chat.user;
  $("start-button").hidden = user.started && !user.blocked;
  $("block-bot").textContent = user.blocked ? "Unblock bot" : "Block bot";
  $("block-bot").classList.toggle("danger", !user.blocked);
  $("leave-channel").disabled = !["member", "administrator"].includes(user.channel_status);
  $("whoami").textContent = `id ${user.id}${user.username ? " · @" + user.username : ""}`
    + ` · ${user.started ? "started the bot" : "never started the bot"}`
    + `${user.blocked ? " · blocked it" : ""} · ${user.channel_standing}`
    + user.other_chats.map((chat) => ` · ${chat.title}: ${chat.status}`).join("");
  $("whoami").dataset.channelStatus = user.channel_status;
  for (const answer of chat.callback_answers) {
    if (!answer.answered || view.seenAnswers.has(answer.id)) continue;
    view.seenAnswers.add(answer.id);
    if (answer.text) toast(answer.text, answer.show_alert ? "alert" : "");
    if (answer.url) window.open(answer.url, "_blank", "noopener");
  }
}

// -- the channel -------------------------------------------------------------------------------

function renderChannel(channel) {
  $("channel-title").textContent = channel.title;
  const rights = channel.bot_rights;
  $("bot-rights").textContent = `Bot rights: invite users ${rights.can_invite_users ? "✓" : "✗"}`
    + `, ban users ${rights.can_restrict_members ? "✓" : "✗"}`;
  $("members").replaceChildren(...channel.members.map((m) => el("li", {
    "data-testid": "member", "data-user-id": m.user.id, "data-status": m.status,
  }, el("span", { class: "name" }, document.createTextNode(displayName(m.user)),
    el("span", { class: "sub", text: `id ${m.user.id}` })),
  el("span", { class: `badge ${m.status}`, text: m.status }))));
  const requests = channel.join_requests.map((r) => el("li", {
    "data-testid": "join-request", "data-user-id": r.user.id,
  }, el("span", { class: "name" }, document.createTextNode(displayName(r.user)),
    el("span", { class: "sub", text: `id ${r.user.id}` })),
  el("span", { class: "badge", text: "waiting" })));
  $("join-requests").replaceChildren(...(requests.length ? requests
    : [el("li", { class: "muted", text: "none" })]));
  const links = channel.invite_links.map((l) => {
    const expired = l.expire_date && l.expire_date * 1000 < Date.now();
    const state = l.is_revoked ? "revoked" : expired ? "expired" : l.creates_join_request
      ? "approval" : l.member_limit ? `${l.current_members}/${l.member_limit}` : "open";
    return el("li", { "data-testid": "invite-link-row", "data-link": l.invite_link },
      el("span", { class: "name" }, link(l.invite_link, l.name || l.invite_link),
        el("span", { class: "sub", text: `joined ${l.joined_count}` })),
      el("span", { class: `badge ${state}`, text: state }));
  });
  $("invite-links").replaceChildren(...(links.length ? links
    : [el("li", { class: "muted", text: "none yet" })]));
}

function displayName(user) {
  return user.first_name + (user.last_name ? ` ${user.last_name}` : "")
    + (user.username ? ` (@${user.username})` : "");
}

// -- actions -----------------------------------------------------------------------------------

function requireUser() {
  if (view.userId) return true;
  toast("Pick or create a user first", "error");
  return false;
}

function sendText(text) {
  if (!requireUser() || !text.trim()) return null;
  return act(api("POST", `/control/users/${view.userId}/messages`, { text }));
}

function sendPhoto(file, caption) {
  if (!requireUser()) return null;
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => {
      const data = String(reader.result).split(",").pop();
      resolve(act(api("POST", `/control/users/${view.userId}/photos`,
        { data, caption, filename: file.name })));
    };
    reader.readAsDataURL(file);
  });
}

function openInviteLink(url) {
  if (!requireUser()) return;
  act(api("POST", `/control/users/${view.userId}/join`, { invite_link: url }),
    (r) => (r.outcome === "joined" ? "You joined the channel" : "Join request sent"));
}

function selectUser(userId) {
  view.userId = userId;
  view.chatVersion = null;
  localStorage.setItem("sandbox.userId", String(userId));
  $("user-select").value = String(userId);
  refresh(true).catch(() => {});
}

function renderUsers(users) {
  view.users = users;
  const select = $("user-select");
  const options = users.map((u) => el("option", { value: u.id,
    text: `${displayName(u)}${u.is_admin ? " — admin" : ""} · ${u.id}` }));
  if (!view.userId || !users.some((u) => u.id === view.userId)) {
    view.userId = users.length ? users[0].id : null;
  }
  const signature = options.map((o) => o.value + o.textContent).join("|");
  if (select.dataset.signature !== signature) {
    select.replaceChildren(...options);
    select.dataset.signature = signature;
  }
  if (view.userId) select.value = String(view.userId);
}

async function refresh(force = false) {
  if (force) { view.chatVersion = null; view.channelVersion = null; }
  const state = await api("GET", "/control/state");
  $("bot-info").textContent = `@${state.bot.username} · ${state.webhook_url
    ? "webhook " + state.webhook_url : "long polling"} · updates waiting: ${state.pending_updates}`
    + (state.flood.enabled ? " · flood limits on" : "");
  renderUsers(await api("GET", "/control/users"));
  if (view.userId) {
    const chat = await api("GET", `/control/users/${view.userId}/chat`);
    $("chat-header").replaceChildren(document.createTextNode(`@${state.bot.username}`),
      el("span", { class: "muted", text: `as ${displayName(chat.user)}` }));
    if (chat.version !== view.chatVersion) { renderChat(chat); view.chatVersion = chat.version; }
  }
  const channel = await api("GET", "/control/channel");
  if (channel.version !== view.channelVersion) {
    renderChannel(channel);
    view.channelVersion = channel.version;
  }
}

function wire() {
  $("user-select").addEventListener("change", (e) => selectUser(Number(e.target.value)));
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("message-input");
    const text = input.value;
    if (await sendText(text)) input.value = "";
  });
  $("photo-input").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    const input = $("message-input");
    if (await sendPhoto(file, input.value)) input.value = "";
  });
  $("start-button").addEventListener("click", () => sendText("/start"));
  $("block-bot").addEventListener("click", () => {
    if (!requireUser()) return;
    const user = view.users.find((u) => u.id === view.userId);
    act(api("POST", `/control/users/${view.userId}/${user && user.blocked ? "unblock" : "block"}`));
  });
  $("leave-channel").addEventListener("click", () => requireUser()
    && act(api("POST", `/control/users/${view.userId}/leave`), "You left the channel"));
  $("set-standing").addEventListener("click", () => requireUser()
    && act(api("POST", `/control/users/${view.userId}/standing`,
                { status: $("hand-standing").value }),
           (r) => `The owner made them ${r.channel_status} by hand`));
  $("create-user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { first_name: $("new-user-name").value };
    if ($("new-user-username").value.trim()) body.username = $("new-user-username").value.trim();
    if ($("new-user-id").value.trim()) body.id = Number($("new-user-id").value.trim());
    if ($("new-user-language").value.trim()) {
      body.language_code = $("new-user-language").value.trim();
    }
    const user = await act(api("POST", "/control/users", body), (u) => `Created user ${u.id}`);
    if (user) { event.target.reset(); selectUser(user.id); }
  });
  $("reset-world").addEventListener("click", () => {
    const question = "Reset the whole sandbox? Every user, chat and channel member here is "
      + "forgotten, and the engine forgets every subscriber, payment and balance too.";
    if (window.confirm(question)) {
      act(api("POST", "/control/reset"), (r) => (r.engine ? `World reset · ${r.engine}` : "World reset"));
    }
  });
}

// What an operator action did, in its own words; its log only when it failed.
function operatorReport(done) {
  const said = done.output.trim();
  if (done.returncode === 0) return `${done.label}: ${said || "done"}`;
  const log = done.log.trim().split("\n").slice(-5).join("\n");
  return `${done.label} failed (exit ${done.returncode})\n${[said, log].filter(Boolean).join("\n")}`;
}

// Operator actions: commands configured when the stand-in was started (e.g. "run the sweep").
async function loadOperatorActions() {
  let actions = [];
  try { actions = await api("GET", "/control/actions"); } catch (error) { return; }
  if (!actions.length) return;
  const box = $("operator-actions");
  for (const action of actions) {
    const button = el("button", { type: "button", "data-testid": `operator-action-${action.id}` },
      action.label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      $("operator-output").textContent = `${action.label}…`;
      const done = await act(api("POST", `/control/actions/${action.id}`));
      if (done) $("operator-output").textContent = operatorReport(done);
      button.disabled = false;
    });
    box.append(button);
  }
  $("operator").hidden = false;
}

async function loop() {
  try { await refresh(); } catch (error) { $("bot-info").textContent = `offline: ${error.message}`; }
  setTimeout(loop, POLL_MS);
}

wire();
loadOperatorActions();
loop();
