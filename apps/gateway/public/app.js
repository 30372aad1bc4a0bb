// The stagedoor web player: a plain ES module, no framework, no build step. It talks only to the gateway
// (fetch with the session cookie and the X-CSRF-Token header) and plays tokenized media URLs in one
// <audio> element. CONTRACT.md, "The web player", fixes the accessible names used below.
//
// Token lifetime: media tokens live MEDIA_TOKEN_TTL_SECONDS (default 300 s). While a track plays, the
// page asks the gateway for a fresh token at ~70% of the current one's lifetime. That request is also
// the session check: once the session is revoked, signed out elsewhere or expired, the gateway answers
// 401 and the page stops playback and returns to the sign-in form saying why, so a playing device that
// was revoked stops within one token lifetime. (A paused page makes no requests, so that an idle
// session can time out; it finds out on its next play, or when its tab becomes visible again.)
// The fresh URL replaces the player's source only where the player would otherwise fetch again with
// the expired one (see "Playback and token refresh"); a media error gets one refresh and a resume.
//
// No console errors in normal use: Chromium logs every fetch() answered 4xx. A signed-out visitor's
// first load therefore makes no request at all: the page only probes GET /auth/me when this browser
// signed in before (a flag in localStorage, not a secret). A 401 then means the session really ended.
// A wrong password (401) and a session that ended are not normal use: those do log an error.
//
// No `crossorigin` on the <audio> element: plain playback needs no CORS, and the token is in the URL,
// not in a cookie, so nothing is gained by making media requests CORS requests.

const SIGNED_IN_FLAG = 'stagedoor.signedIn';
const REFRESH_AT = 0.7;
const MIN_REFRESH_MS = 1000;

const $ = (id) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element;
};

const ui = {
  status: $('status'),
  account: $('account'),
  accountName: $('account-name'),
  signOut: $('sign-out'),
  signOutEverywhere: $('sign-out-everywhere'),
  signInView: $('sign-in-view'),
  signInReason: $('sign-in-reason'),
  signInForm: $('sign-in-form'),
  signInError: $('sign-in-error'),
  signInButton: $('sign-in'),
  email: $('email'),
  password: $('password'),
  appView: $('app-view'),
  nowPlaying: $('now-playing'),
  audio: /** @type {HTMLAudioElement} */ ($('player')),
  libraryTitle: $('library-title'),
  library: $('library'),
  libraryEmpty: $('library-empty'),
  devices: $('devices'),
  devicesRefresh: $('devices-refresh'),
  libraryItem: /** @type {HTMLTemplateElement} */ ($('library-item')),
  deviceItem: /** @type {HTMLTemplateElement} */ ($('device-item')),
};

const state = {
  /** @type {{id: string, email: string, name: string, role: string} | null} */
  user: null,
  csrfToken: null,
  /** @type {{expiresAt: string} | null} */
  session: null,
  /** @type {{key: string, title: string} | null} */
  track: null,
  refreshTimer: 0,
  /** The newest minted token: {url, lifetime, expiresAt (this browser's clock, ms)}. */
  fresh: null,
  /** Expiry of the token in the player's current source (this browser's clock, ms). */
  srcExpiresAt: 0,
  sourceGeneration: 0,
  refreshDue: false,
  /** True while the page itself changes the source: its pause/timeupdate events are not the listener's. */
  swapping: false,
  wantPlaying: false,
  lastPosition: 0,
  /** Set while a recovery's fresh URL has not loaded yet: a second error then is not retried. */
  recovering: false,
  ending: false,
};

class ApiError extends Error {
  constructor(status, code, message, headers) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** A request to the gateway. Unsafe methods carry the session's CSRF token. */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.csrfToken) headers['X-CSRF-Token'] = state.csrfToken;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'The gateway cannot be reached. Check the connection and try again.');
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    throw new ApiError(
      res.status,
      data?.error ?? 'error',
      data?.message ?? `HTTP ${res.status}`,
      res.headers,
    );
  }
  return { data, headers: res.headers };
}

/** Runs an authenticated call; a 401 means the session is gone, so the page returns to sign-in. */
async function authed(call) {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      endSession(sessionEndedReason());
      return null;
    }
    throw error;
  }
}

function sessionEndedReason() {
  const expiresAt = state.session ? Date.parse(state.session.expiresAt) : Number.NaN;
  if (Number.isFinite(expiresAt) && Date.now() >= expiresAt - 5000) {
    return 'Your session expired. Sign in again to continue.';
  }
  return 'You were signed out: this session was revoked or signed out from another device, or it timed out. Sign in again to continue.';
}

function say(message) {
  ui.status.textContent = message;
}

// ---------------------------------------------------------------------------------------------------
// Signing in and out

function showSignIn(reason) {
  stopPlayback();
  ui.appView.hidden = true;
  ui.account.hidden = true;
  ui.signInView.hidden = false;
  ui.signInError.hidden = true;
  ui.signInButton.disabled = false;
  ui.password.value = '';
  ui.signInReason.hidden = !reason;
  ui.signInReason.textContent = reason ?? '';
  say('');
  ui.email.focus();
}

function endSession(reason) {
  if (state.ending) return;
  state.ending = true;
  try {
    localStorage.removeItem(SIGNED_IN_FLAG);
  } catch {
    // storage may be unavailable (private mode); the flag only saves a request
  }
  state.user = null;
  state.csrfToken = null;
  state.session = null;
  showSignIn(reason);
  state.ending = false;
}

function enterApp(user, csrfToken, session) {
  state.user = user;
  state.csrfToken = csrfToken;
  state.session = session ?? null;
  try {
    localStorage.setItem(SIGNED_IN_FLAG, '1');
  } catch {
    // see endSession
  }
  ui.signInView.hidden = true;
  ui.signInReason.hidden = true;
  ui.appView.hidden = false;
  ui.account.hidden = false;
  ui.accountName.textContent = user.name || user.email;
  say(`Signed in as ${user.email}.`);
  ui.libraryTitle.focus();
  void loadLibrary();
  void loadDevices();
  if (!session) void loadSessionInfo();
}

async function loadSessionInfo() {
  try {
    const result = await authed(() => api('GET', '/auth/me'));
    if (result) {
      state.session = result.data.session;
      state.csrfToken = result.data.csrfToken;
    }
  } catch {
    // only used to tell "expired" from "revoked" later
  }
}

function showSignInError(message) {
  ui.signInError.textContent = message;
  ui.signInError.hidden = false;
}

ui.signInForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const email = ui.email.value.trim();
  const password = ui.password.value;
  if (!email || !password) {
    showSignInError('Enter your email and password.');
    (email ? ui.password : ui.email).focus();
    return;
  }
  ui.signInButton.disabled = true;
  ui.signInError.hidden = true;
  say('Signing in…');
  try {
    const { data } = await api('POST', '/auth/login', { email, password });
    ui.password.value = '';
    enterApp(data.user, data.csrfToken, null);
  } catch (error) {
    say('');
    if (error instanceof ApiError && error.status === 401) {
      showSignInError('Wrong email or password.');
    } else if (error instanceof ApiError && error.status === 429) {
      const wait = Number(error.headers?.get('Retry-After'));
      showSignInError(
        `Too many failed attempts. Try again in ${Number.isFinite(wait) && wait > 0 ? `${wait} seconds` : 'a while'}.`,
      );
    } else if (error instanceof ApiError && error.status === 400) {
      showSignInError('Enter a valid email and password.');
    } else {
      showSignInError(error instanceof Error ? error.message : 'Sign-in failed.');
    }
    ui.password.select();
    ui.password.focus();
  } finally {
    ui.signInButton.disabled = false;
  }
});

async function signOut(path, message) {
  const button = path === '/auth/logout' ? ui.signOut : ui.signOutEverywhere;
  button.disabled = true;
  try {
    const result = await authed(() => api('POST', path));
    if (result) endSession(message);
  } catch (error) {
    say(`Could not sign out: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

ui.signOut.addEventListener('click', () => void signOut('/auth/logout', 'You signed out.'));
ui.signOutEverywhere.addEventListener(
  'click',
  () => void signOut('/auth/logout-all', 'You signed out on every device.'),
);

// ---------------------------------------------------------------------------------------------------
// Library

function isPlayable(item) {
  return /^(audio|video)\//i.test(item.contentType ?? '');
}

function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function kindOf(item) {
  const type = (item.contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type.startsWith('audio/')) return 'Audio';
  if (type.startsWith('video/')) return 'Video';
  if (type.startsWith('text/')) return 'Text';
  return type || 'File';
}

async function loadLibrary() {
  ui.libraryEmpty.hidden = true;
  try {
    const result = await authed(() => api('GET', '/media/library'));
    if (!result) return;
    renderLibrary(result.data.items ?? []);
  } catch (error) {
    ui.library.replaceChildren();
    ui.libraryEmpty.textContent = `The library could not be loaded: ${error.message}`;
    ui.libraryEmpty.hidden = false;
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'secondary small';
    retry.textContent = 'Try again';
    retry.addEventListener('click', () => void loadLibrary());
    const li = document.createElement('li');
    li.append(retry);
    ui.library.append(li);
  }
}

function renderLibrary(items) {
  const rows = items.map((item) => {
    const row = /** @type {HTMLElement} */ (ui.libraryItem.content.firstElementChild.cloneNode(true));
    row.dataset.key = item.key;
    row.querySelector('.item-title').textContent = item.title;
    const meta = [kindOf(item), formatSize(item.size)];
    if (item.key.startsWith('users/')) meta.push('private');
    if (!isPlayable(item)) meta.push('not playable');
    row.querySelector('.item-meta').textContent = meta.filter(Boolean).join(' · ');
    const button = row.querySelector('button.play');
    if (isPlayable(item)) {
      button.textContent = 'Play';
      const hidden = document.createElement('span');
      hidden.className = 'visually-hidden';
      hidden.textContent = ` ${item.title}`;
      button.append(hidden);
      button.addEventListener('click', () => void playItem(item));
    } else {
      button.remove();
    }
    if (state.track?.key === item.key) row.setAttribute('aria-current', 'true');
    return row;
  });
  ui.library.replaceChildren(...rows);
  ui.libraryEmpty.textContent = 'Nothing here yet.';
  ui.libraryEmpty.hidden = rows.length > 0;
}

function markCurrent(key) {
  for (const row of ui.library.querySelectorAll('li[data-key]')) {
    if (row.dataset.key === key) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
}

// ---------------------------------------------------------------------------------------------------
// Playback and token refresh
//
// A swap of the source is a reload (the element fetches again from the new URL), so the page swaps only
// when the element would otherwise make a new request with an expired token: when it is not holding
// the whole track, not receiving a response (a response already streaming is never cut, CONTRACT.md,
// Media), or is seeking outside what it holds. Everything else is caught by the error path: one
// refresh, then a resume from the same position.

/** Mints a media token for `key`; null when the session has ended (the page is back at sign-in). */
async function mintToken(key) {
  const result = await authed(() => api('POST', '/media/tokens', { key }));
  if (!result) return null;
  // expiresAt is on the gateway's clock; measure the lifetime against the response's Date header so
  // a skewed browser clock does not move the refresh past the expiry.
  const expiresAt = Date.parse(result.data.expiresAt);
  const serverNow = Date.parse(result.headers.get('Date') ?? '') || Date.now();
  const lifetime = Math.max(MIN_REFRESH_MS, expiresAt - serverNow);
  return { url: result.data.url, lifetime, expiresAt: Date.now() + lifetime };
}

function scheduleRefresh(minted) {
  clearTimeout(state.refreshTimer);
  state.fresh = minted;
  state.refreshDue = false;
  state.refreshTimer = setTimeout(
    () => void refreshToken(),
    Math.max(MIN_REFRESH_MS, minted.lifetime * REFRESH_AT),
  );
}

/**
 * Points the player at a minted URL, starting at `position` (a media fragment, so that a seek the
 * listener makes meanwhile is not overridden), playing when `play` is true.
 */
function setSource(minted, position, play) {
  const { audio } = ui;
  const generation = ++state.sourceGeneration;
  state.swapping = true;
  state.srcExpiresAt = minted.expiresAt;
  const settle = () => {
    if (generation === state.sourceGeneration) state.swapping = false;
  };
  audio.addEventListener('loadedmetadata', settle, { once: true });
  audio.addEventListener('error', settle, { once: true });
  audio.src = position > 0.25 ? `${minted.url}#t=${position.toFixed(3)}` : minted.url;
  if (play) {
    audio.play().catch((error) => {
      // A failed load is handled by the 'error' listener (one refresh and resume).
      if (error?.name === 'NotAllowedError') say('Press play to start listening.');
    });
  }
}

function holds(time) {
  const { buffered } = ui.audio;
  for (let i = 0; i < buffered.length; i++) {
    if (buffered.start(i) <= time + 0.05 && time < buffered.end(i) - 0.25) return true;
  }
  return false;
}

/** Whether the element holds everything from `time` to the end: it will not fetch again to play on. */
function holdsToEnd(time) {
  const { audio } = ui;
  if (!Number.isFinite(audio.duration)) return false;
  const { buffered } = audio;
  for (let i = 0; i < buffered.length; i++) {
    if (buffered.start(i) <= time + 0.05 && buffered.end(i) >= audio.duration - 0.05) return true;
  }
  return false;
}

async function playItem(item) {
  state.track = item;
  state.recovering = false;
  state.lastPosition = 0;
  state.wantPlaying = true;
  markCurrent(item.key);
  ui.nowPlaying.textContent = item.title;
  say(`Loading ${item.title}…`);
  try {
    const minted = await mintToken(item.key);
    if (!minted || state.track !== item) return;
    scheduleRefresh(minted);
    setSource(minted, 0, true);
  } catch (error) {
    say(`Could not play ${item.title}: ${error.message}`);
  }
}

/** Before the current token expires: a fresh one (this is also the session check), swapped in if needed. */
async function refreshToken() {
  const track = state.track;
  if (!track) return;
  if (ui.audio.paused && !state.swapping) {
    // Paused: no refresh (it would keep an idle session alive); the next 'play' refreshes first.
    state.refreshDue = true;
    return;
  }
  let minted;
  try {
    minted = await mintToken(track.key);
  } catch (error) {
    say(`Could not renew access to ${track.title}: ${error.message}. Retrying…`);
    state.refreshTimer = setTimeout(() => void refreshToken(), 3000);
    return;
  }
  if (!minted || state.track !== track) return;
  scheduleRefresh(minted);
  const { audio } = ui;
  if (
    !state.swapping &&
    !holdsToEnd(audio.currentTime) &&
    audio.networkState !== HTMLMediaElement.NETWORK_LOADING
  ) {
    setSource(minted, currentPosition(), !audio.paused);
  }
}

/**
 * Where playback is: the element's own position once it knows it, else the last one remembered (an
 * element that has just been given a new source reads 0 until it has loaded its metadata, and a swap
 * from there would restart the track).
 */
function currentPosition() {
  const { audio } = ui;
  return !state.swapping && audio.readyState >= HTMLMediaElement.HAVE_METADATA
    ? audio.currentTime
    : state.lastPosition;
}

/** A seek outside what the element holds, once its URL has expired: go there with a fresh URL. */
async function seekWithFreshToken(target) {
  const track = state.track;
  let minted = state.fresh;
  if (!minted || minted.expiresAt - Date.now() < 2 * MIN_REFRESH_MS) {
    minted = await mintToken(track.key).catch(() => null);
    if (!minted || state.track !== track) return;
    scheduleRefresh(minted);
  }
  setSource(minted, target, state.wantPlaying);
}

/** A media error: one refresh and a resume from where playback was; a second failure stops. */
async function recoverFromMediaError() {
  const track = state.track;
  if (!track || state.ending) return;
  const code = ui.audio.error?.code ?? 0;
  if (state.recovering) {
    state.recovering = false;
    say(`${track.title} cannot be played (media error ${code}).`);
    return;
  }
  state.recovering = true;
  let minted;
  try {
    minted = await mintToken(track.key);
  } catch (error) {
    state.recovering = false;
    say(`Could not play ${track.title}: ${error.message}`);
    return;
  }
  if (!minted || state.track !== track) return;
  scheduleRefresh(minted);
  setSource(minted, state.lastPosition, state.wantPlaying);
}

function stopPlayback() {
  clearTimeout(state.refreshTimer);
  state.track = null;
  state.fresh = null;
  state.wantPlaying = false;
  state.recovering = false;
  state.sourceGeneration++;
  state.swapping = false;
  const { audio } = ui;
  audio.pause();
  if (audio.hasAttribute('src')) {
    audio.removeAttribute('src');
    audio.load();
  }
  ui.nowPlaying.textContent = 'Nothing yet: pick a track from the library.';
  markCurrent('');
}

// Where playback is, for a resume after an error: not from an element that has just been given a new
// source (its currentTime reads 0 until the fragment's start applies).
function rememberPosition() {
  if (!state.swapping && ui.audio.readyState >= HTMLMediaElement.HAVE_METADATA) {
    state.lastPosition = ui.audio.currentTime;
  }
}

ui.audio.addEventListener('error', () => void recoverFromMediaError());
ui.audio.addEventListener('loadeddata', () => {
  state.recovering = false;
});
ui.audio.addEventListener('playing', () => {
  if (state.track) say(`Playing ${state.track.title}.`);
});
ui.audio.addEventListener('timeupdate', rememberPosition);
ui.audio.addEventListener('seeking', () => {
  rememberPosition();
  const target = ui.audio.currentTime;
  if (state.swapping || !state.track || holds(target)) return;
  if (Date.now() >= state.srcExpiresAt - MIN_REFRESH_MS) void seekWithFreshToken(target);
});
ui.audio.addEventListener('pause', () => {
  if (!state.swapping && !ui.audio.error) state.wantPlaying = false;
});
ui.audio.addEventListener('play', () => {
  if (state.swapping) return;
  state.wantPlaying = true;
  if (state.track && (state.refreshDue || Date.now() >= state.srcExpiresAt - MIN_REFRESH_MS)) {
    void refreshToken();
  }
});

// ---------------------------------------------------------------------------------------------------
// Devices

function describeUserAgent(ua) {
  if (!ua) return 'Unknown device';
  const browsers = [
    [/Edg\/(\d+)/, 'Edge'],
    [/HeadlessChrome\/(\d+)/, 'Headless Chrome'],
    [/(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
    [/(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
    [/Version\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari/, 'Safari'],
    [/^curl\/(\d+)/, 'curl'],
  ];
  let browser = ua.split(/[\s/]/)[0] || 'Unknown browser';
  for (const [pattern, name] of browsers) {
    const match = pattern.exec(ua);
    if (match) {
      browser = `${name} ${match[1]}`;
      break;
    }
  }
  const systems = [
    [/Windows/, 'Windows'],
    [/iPhone|iPad|iPod/, 'iOS'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/Android/, 'Android'],
    [/CrOS/, 'ChromeOS'],
    [/Linux/, 'Linux'],
  ];
  const system = systems.find(([pattern]) => pattern.test(ua))?.[1];
  return system ? `${browser} on ${system}` : browser;
}

function timeAgo(iso) {
  const then = Date.parse(iso);
  if (!Number.isFinite(then)) return 'unknown';
  const seconds = Math.max(0, Math.round((Date.now() - then) / 1000));
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(then).toLocaleString();
}

async function loadDevices() {
  try {
    const result = await authed(() => api('GET', '/auth/sessions'));
    if (!result) return;
    renderDevices(result.data.sessions ?? []);
  } catch (error) {
    say(`The devices list could not be loaded: ${error.message}`);
  }
}

function renderDevices(sessions) {
  const sorted = [...sessions].sort(
    (a, b) => Number(b.current) - Number(a.current) || Date.parse(b.lastSeenAt) - Date.parse(a.lastSeenAt),
  );
  const rows = sorted.map((session) => {
    const row = /** @type {HTMLElement} */ (ui.deviceItem.content.firstElementChild.cloneNode(true));
    const name = describeUserAgent(session.userAgent);
    row.querySelector('.item-title').textContent = name;
    row.querySelector('.item-meta').textContent =
      `${session.ip || 'unknown address'} · last seen ${timeAgo(session.lastSeenAt)}`;
    row.querySelector('.item-ua').textContent = session.userAgent || 'no user agent';
    if (session.current) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'This device';
      row.append(badge);
      row.setAttribute('aria-current', 'true');
    } else {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'danger small';
      button.textContent = 'Revoke';
      button.setAttribute(
        'aria-label',
        `Revoke ${name}, ${session.ip || 'unknown address'}, last seen ${timeAgo(session.lastSeenAt)}`,
      );
      button.addEventListener('click', () => void revoke(session, name, button));
      row.append(button);
    }
    return row;
  });
  ui.devices.replaceChildren(...rows);
}

async function revoke(session, name, button) {
  button.disabled = true;
  try {
    const result = await authed(() => api('DELETE', `/auth/sessions/${encodeURIComponent(session.id)}`));
    if (!result) return;
    say(`Revoked ${name}: that device is signed out.`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) say(`${name} was already signed out.`);
    else say(`Could not revoke ${name}: ${error.message}`);
  }
  await loadDevices();
  ui.devicesRefresh.focus();
}

ui.devicesRefresh.addEventListener('click', () => void loadDevices());

// ---------------------------------------------------------------------------------------------------
// Start-up and other tabs

async function resume() {
  let signedInBefore = false;
  try {
    signedInBefore = localStorage.getItem(SIGNED_IN_FLAG) === '1';
  } catch {
    signedInBefore = false;
  }
  if (!signedInBefore) {
    showSignIn(null);
    return;
  }
  try {
    const { data } = await api('GET', '/auth/me');
    enterApp(data.user, data.csrfToken, data.session);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) endSession(sessionEndedReason());
    else showSignIn(`Could not check your session: ${error.message}`);
  }
}

// Back to a tab after a while: check that the session still stands (only while signed in).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.user) {
    void authed(() => api('GET', '/auth/me')).catch(() => {});
  }
});

// Signing out in another tab of this browser ends this one too.
window.addEventListener('storage', (event) => {
  if (event.key === SIGNED_IN_FLAG && event.newValue === null && state.user) {
    endSession('You signed out in another tab.');
  }
});

void resume();
