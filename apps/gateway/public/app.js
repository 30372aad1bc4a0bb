// The stagedoor web player: a plain ES module, no framework, no build step. It talks only to the gateway
// (fetch with the session cookie and the X-CSRF-Token header) and plays tokenized media URLs in an
// <audio> element, or a <video> element for video and HLS (see "HLS" for hls.js). CONTRACT.md, "The web
// player", fixes the accessible names used below.
//
// Token lifetime: media tokens live MEDIA_TOKEN_TTL_SECONDS (default 300 s). While a track plays, the
// page asks the gateway for a fresh token at ~70% of the current one's lifetime. That request is also
// the session check: once the session is revoked, signed out elsewhere or expired, the gateway answers
// 401 and the page stops playback and returns to the sign-in form saying why. That polling is the
// fallback: the gateway also pushes the end of this session as it happens (see "Session events"), so an
// open page, playing, paused or idle, is back at the sign-in form within a second or two.
// The fresh URL replaces the player's source only where the player would otherwise fetch again with
// the expired one (see "Playback and token refresh"); a media error gets one refresh and a resume.
//
// No console errors in normal use: Chromium logs every fetch() answered 4xx. A signed-out visitor's
// first load therefore makes no request at all: the page only probes GET /auth/me when this browser
// signed in before (a flag in localStorage, not a secret). A 401 then means the session really ended.
// A wrong password (401) and a session that ended are not normal use: those do log an error.
//
// No `crossorigin` on the media elements: plain playback needs no CORS, and the token is in the URL,
// not in a cookie, so nothing is gained by making media requests CORS requests. (hls.js's own requests
// are XHR, so those are CORS requests, without credentials.)

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
  video: /** @type {HTMLVideoElement} */ ($('video-player')),
  qualityField: $('quality-field'),
  quality: /** @type {HTMLSelectElement} */ ($('quality')),
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
  /** The element in use: ui.audio, or ui.video for video and HLS items. */
  element: null,
  /** The hls.js instance playing an HLS item in ui.video, if any. */
  hls: null,
  /** The hls.js module once asked for (a promise of the class, or of null where it cannot play). */
  hlsJs: null,
  /** An HLS token renewal in flight, which requests wait for. */
  renewal: null,
};
state.element = ui.audio;

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
  resetPasswordForm();
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
  stopWatchingSession();
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
  watchSession();
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

/** The text for a 429 `too_many_attempts` (sign-in, password change), with its Retry-After. */
function tooManyAttemptsMessage(error) {
  const wait = Number(error.headers?.get('Retry-After'));
  return `Too many failed attempts. Try again in ${Number.isFinite(wait) && wait > 0 ? `${wait} seconds` : 'a while'}.`;
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
      showSignInError(tooManyAttemptsMessage(error));
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

function baseType(item) {
  return (item.contentType ?? '').split(';')[0].trim().toLowerCase();
}

function isPlayable(item) {
  return /^(audio|video)\//.test(baseType(item)) || isHls(item);
}

function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function kindOf(item) {
  const type = baseType(item);
  if (isHls(item)) return 'Video (HLS, adaptive)';
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
// Audio plays in the <audio> element, video (MP4 and HLS) in the <video> element; only the one in use
// is shown, and events from the other are ignored.
//
// A swap of the source is a reload (the element fetches again from the new URL), so the page swaps only
// when the element would otherwise make a new request with an expired token: when it is not holding
// the whole track, not receiving a response (a response already streaming is never cut, CONTRACT.md,
// Media), or is seeking outside what it holds. Everything else is caught by the error path: one
// refresh, then a resume from the same position. HLS through hls.js never swaps: see "HLS" below.

/** The element playing now (or last): ui.audio or ui.video. */
function player() {
  return state.element;
}

/** Makes `element` the visible player; the other one stops and lets go of its source. */
function usePlayer(element) {
  destroyHls();
  const other = element === ui.audio ? ui.video : ui.audio;
  state.element = element;
  unloadElement(other);
  other.hidden = true;
  element.hidden = false;
}

function unloadElement(element) {
  element.pause();
  if (element.hasAttribute('src')) {
    element.removeAttribute('src');
    element.load();
  }
}

/**
 * What to ask the gateway for: an item's own key, or for an HLS item the prefix of its rendition, so
 * that one token covers the master, the variant playlists and every segment (their relative URIs
 * resolve under `/v1/t/<token>/`), and the URL to play is that base plus the master's file name.
 */
function grantFor(item) {
  if (!isHls(item)) return { body: { key: item.key }, file: '' };
  const slash = item.key.lastIndexOf('/');
  return {
    body: { prefix: item.key.slice(0, slash + 1) },
    file: encodeURIComponent(item.key.slice(slash + 1)),
  };
}

/** Mints a media token for `item`; null when the session has ended (the page is back at sign-in). */
async function mintToken(item) {
  const grant = grantFor(item);
  const result = await authed(() => api('POST', '/media/tokens', grant.body));
  if (!result) return null;
  // expiresAt is on the gateway's clock; measure the lifetime against the response's Date header so
  // a skewed browser clock does not move the refresh past the expiry.
  const expiresAt = Date.parse(result.data.expiresAt);
  const serverNow = Date.parse(result.headers.get('Date') ?? '') || Date.now();
  const lifetime = Math.max(MIN_REFRESH_MS, expiresAt - serverNow);
  return {
    url: `${result.data.url}${grant.file}`,
    token: result.data.token,
    lifetime,
    expiresAt: Date.now() + lifetime,
  };
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
  const element = player();
  const generation = ++state.sourceGeneration;
  state.swapping = true;
  state.srcExpiresAt = minted.expiresAt;
  const settle = () => {
    if (generation === state.sourceGeneration) state.swapping = false;
  };
  element.addEventListener('loadedmetadata', settle, { once: true });
  element.addEventListener('error', settle, { once: true });
  element.src = position > 0.25 ? `${minted.url}#t=${position.toFixed(3)}` : minted.url;
  if (play) startPlaying();
}

function startPlaying() {
  player()
    .play()
    .catch((error) => {
      // A failed load is handled by the 'error' listener (one refresh and resume).
      if (error?.name === 'NotAllowedError') say('Press play to start.');
    });
}

function holds(time) {
  const { buffered } = player();
  for (let i = 0; i < buffered.length; i++) {
    if (buffered.start(i) <= time + 0.05 && time < buffered.end(i) - 0.25) return true;
  }
  return false;
}

/** Whether the element holds everything from `time` to the end: it will not fetch again to play on. */
function holdsToEnd(time) {
  const element = player();
  if (!Number.isFinite(element.duration)) return false;
  const { buffered } = element;
  for (let i = 0; i < buffered.length; i++) {
    if (buffered.start(i) <= time + 0.05 && buffered.end(i) >= element.duration - 0.05) return true;
  }
  return false;
}

async function playItem(item) {
  state.track = item;
  state.recovering = false;
  state.lastPosition = 0;
  state.wantPlaying = true;
  usePlayer(isVideo(item) ? ui.video : ui.audio);
  markCurrent(item.key);
  ui.nowPlaying.textContent = item.title;
  say(`Loading ${item.title}…`);
  try {
    // hls.js (only fetched for HLS items) loads while the token is minted.
    const hlsJs = isHls(item) ? loadHlsJsWhereSupported() : null;
    const minted = await mintToken(item);
    if (!minted || state.track !== item) return;
    scheduleRefresh(minted);
    if (hlsJs) {
      const Hls = await hlsJs;
      if (state.track !== item) return;
      if (Hls) {
        startHls(Hls, minted, 0, true);
        return;
      }
      if (!ui.video.canPlayType(HLS_MIME)) {
        say(`This browser cannot play ${item.title}: it has neither Media Source Extensions nor HLS.`);
        return;
      }
    }
    setSource(minted, 0, true);
  } catch (error) {
    say(`Could not play ${item.title}: ${error.message}`);
  }
}

/** Before the current token expires: a fresh one (this is also the session check), swapped in if needed. */
async function refreshToken() {
  const track = state.track;
  if (!track) return;
  const element = player();
  if (element.paused && !state.swapping) {
    // Paused: no refresh (it would keep an idle session alive); the next 'play' refreshes first.
    state.refreshDue = true;
    return;
  }
  let minted;
  try {
    minted = await mintToken(track);
  } catch (error) {
    say(`Could not renew access to ${track.title}: ${error.message}. Retrying…`);
    state.refreshTimer = setTimeout(() => void refreshToken(), 3000);
    return;
  }
  if (!minted || state.track !== track) return;
  scheduleRefresh(minted);
  if (state.hls) {
    // hls.js's next request already carries the new token (openWithCurrentToken): nothing to reload.
    state.srcExpiresAt = minted.expiresAt;
    return;
  }
  if (
    !state.swapping &&
    !holdsToEnd(element.currentTime) &&
    element.networkState !== HTMLMediaElement.NETWORK_LOADING
  ) {
    setSource(minted, currentPosition(), !element.paused);
  }
}

/**
 * Where playback is: the element's own position once it knows it, else the last one remembered (an
 * element that has just been given a new source reads 0 until it has loaded its metadata, and a swap
 * from there would restart the track).
 */
function currentPosition() {
  const element = player();
  return !state.swapping && element.readyState >= HTMLMediaElement.HAVE_METADATA
    ? element.currentTime
    : state.lastPosition;
}

/** A seek outside what the element holds, once its URL has expired: go there with a fresh URL. */
async function seekWithFreshToken(target) {
  const track = state.track;
  let minted = state.fresh;
  if (!minted || minted.expiresAt - Date.now() < 2 * MIN_REFRESH_MS) {
    minted = await mintToken(track).catch(() => null);
    if (!minted || state.track !== track) return;
    scheduleRefresh(minted);
  }
  setSource(minted, target, state.wantPlaying);
}

/** A media error: one refresh and a resume from where playback was; a second failure stops. */
async function recoverFromMediaError() {
  const track = state.track;
  // hls.js reports its own errors (onHlsError); the element's error under it is the same failure.
  if (!track || state.ending || state.hls) return;
  const code = player().error?.code ?? 0;
  if (state.recovering) {
    state.recovering = false;
    say(`${track.title} cannot be played (media error ${code}).`);
    return;
  }
  state.recovering = true;
  let minted;
  try {
    minted = await mintToken(track);
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
  usePlayer(ui.audio);
  unloadElement(ui.audio);
  ui.nowPlaying.textContent = 'Nothing yet: pick a track from the library.';
  markCurrent('');
}

// Where playback is, for a resume after an error: not from an element that has just been given a new
// source (its currentTime reads 0 until the fragment's start applies).
function rememberPosition() {
  const element = player();
  if (!state.swapping && element.readyState >= HTMLMediaElement.HAVE_METADATA) {
    state.lastPosition = element.currentTime;
  }
}

/** `handler` for events of the element in use only: the other one's pause or abort is not the listener's. */
function onPlayer(type, handler) {
  for (const element of [ui.audio, ui.video]) {
    element.addEventListener(type, (event) => {
      if (event.target === player()) handler(event);
    });
  }
}

onPlayer('error', () => void recoverFromMediaError());
onPlayer('loadeddata', () => {
  state.recovering = false;
});
onPlayer('playing', () => {
  if (state.track) say(`Playing ${state.track.title}.`);
});
onPlayer('timeupdate', rememberPosition);
onPlayer('seeking', () => {
  rememberPosition();
  const target = player().currentTime;
  // hls.js fetches what a seek needs with a current token itself (openWithCurrentToken).
  if (state.hls || state.swapping || !state.track || holds(target)) return;
  if (Date.now() >= state.srcExpiresAt - MIN_REFRESH_MS) void seekWithFreshToken(target);
});
onPlayer('pause', () => {
  if (!state.swapping && !player().error) state.wantPlaying = false;
});
onPlayer('play', () => {
  if (state.swapping) return;
  state.wantPlaying = true;
  if (state.track && (state.refreshDue || Date.now() >= state.srcExpiresAt - MIN_REFRESH_MS)) {
    void refreshToken();
  }
});

// ---------------------------------------------------------------------------------------------------
// HLS
//
// An HLS item plays from `<media>/v1/t/<token>/<rendition prefix>/<master>`; hls.js resolves the variant
// playlists and segments relative to it, so they are fetched under the same token with no playlist
// rewriting. hls.js (the npm package, served by the gateway at /vendor/, loaded on first use) plays it
// where the browser has Media Source Extensions; a browser that plays HLS itself (Safari on iOS) gets
// the URL as the <video> element's source and the audio path's swap-and-resume handling.
//
// Token refresh under hls.js needs no reload: every request hls.js makes passes through
// openWithCurrentToken, which puts the newest token into the URL's `/v1/t/<token>/` segment (renewing
// first when the token has expired, e.g. after a long pause and a seek far ahead), so playback moves to
// the new token at its next request with no stall. A 401 anyway (media's clock, a token refused) gets
// one renewal and one retry of that request; a session that has ended makes the renewal answer 401 and
// the page returns to sign-in. Media answers XHR with CORS (no credentials: the token is the credential).

const HLS_MIME = 'application/vnd.apple.mpegurl';
const HLS_TYPES = new Set([HLS_MIME, 'application/x-mpegurl', 'audio/mpegurl']);
const HLS_JS_URL = '/vendor/hls.light.min.mjs';
const HLS_WORKER_URL = '/vendor/hls.worker.js';

function isHls(item) {
  return HLS_TYPES.has(baseType(item));
}

function isVideo(item) {
  return isHls(item) || baseType(item).startsWith('video/');
}

/** hls.js where it can play (Media Source Extensions); null where it cannot. Fetched once, on first use. */
function loadHlsJsWhereSupported() {
  if (!('MediaSource' in window || 'ManagedMediaSource' in window)) return Promise.resolve(null);
  state.hlsJs ??= import(HLS_JS_URL).then(
    (module) => (module.default.isSupported() ? module.default : null),
    () => {
      state.hlsJs = null;
      return null;
    },
  );
  return state.hlsJs;
}

/** The URL with the newest token in its `/v1/t/<token>/` segment (only URLs to media's origin). */
function withCurrentToken(url) {
  const fresh = state.fresh;
  if (!fresh?.token) return url;
  const parsed = new URL(url, document.baseURI);
  if (parsed.origin !== new URL(fresh.url).origin) return url;
  parsed.pathname = parsed.pathname.replace(/\/v1\/t\/[^/]+\//, `/v1/t/${fresh.token}/`);
  return parsed.href;
}

/** One renewal at a time, shared by every request waiting for it. */
function renewHlsToken() {
  const track = state.track;
  state.renewal ??= mintToken(track)
    .then((minted) => {
      if (minted && state.track === track) {
        scheduleRefresh(minted);
        state.srcExpiresAt = minted.expiresAt;
      }
    })
    .catch(() => {
      // The gateway did not answer: the request goes out with the token it has; a 401 retries once.
    })
    .finally(() => {
      state.renewal = null;
    });
  return state.renewal;
}

/** hls.js's xhrSetup: open every request with the current token, renewing first if it has run out. */
async function openWithCurrentToken(xhr, url) {
  if (state.renewal) await state.renewal;
  else if (state.fresh && Date.now() >= state.fresh.expiresAt - MIN_REFRESH_MS) await renewHlsToken();
  xhr.open('GET', withCurrentToken(url), true);
}

/** A load policy of hls.js's in which a 401 is retried once, after a renewal; others as hls.js decides. */
function retryOnceAfterRenewal(policy) {
  const errorRetry = policy.default.errorRetry;
  if (!errorRetry) return policy;
  const shouldRetry = (_config, retryCount, _isTimeout, response, retry) => {
    if (response?.code !== 401) return retry;
    if (retryCount > 0) return false;
    void renewHlsToken();
    return true;
  };
  return { default: { ...policy.default, errorRetry: { ...errorRetry, shouldRetry } } };
}

function startHls(Hls, minted, position, play) {
  destroyHls();
  const defaults = Hls.DefaultConfig;
  const hls = new Hls({
    workerPath: HLS_WORKER_URL,
    startPosition: position > 0.25 ? position : -1,
    xhrSetup: openWithCurrentToken,
    manifestLoadPolicy: retryOnceAfterRenewal(defaults.manifestLoadPolicy),
    playlistLoadPolicy: retryOnceAfterRenewal(defaults.playlistLoadPolicy),
    fragLoadPolicy: retryOnceAfterRenewal(defaults.fragLoadPolicy),
  });
  state.hls = hls;
  state.srcExpiresAt = minted.expiresAt;
  hls.on(Hls.Events.ERROR, (_event, data) => void onHlsError(Hls, hls, data));
  hls.on(Hls.Events.FRAG_BUFFERED, () => {
    state.recovering = false;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => showQualities(hls));
  hls.on(Hls.Events.LEVEL_SWITCHED, () => showQualities(hls));
  hls.attachMedia(ui.video);
  hls.loadSource(minted.url);
  if (play) startPlaying();
}

function destroyHls() {
  ui.qualityField.hidden = true;
  if (!state.hls) return;
  const hls = state.hls;
  state.hls = null;
  hls.destroy();
}

function describeLevel(level) {
  const kbps = Math.round(level.bitrate / 1000);
  return level.height ? `${level.height}p · ${kbps} kbps` : `${kbps} kbps`;
}

/** The Quality menu of an HLS item: Auto (hls.js's choice, named) and each variant. */
function showQualities(hls) {
  if (hls !== state.hls) return;
  const playing = hls.levels[hls.currentLevel];
  const choices = [
    [-1, playing ? `Auto (${describeLevel(playing)})` : 'Auto'],
    ...hls.levels.map((level, index) => [index, describeLevel(level)]),
  ];
  const options = choices.map(([value, label]) => {
    const option = document.createElement('option');
    option.value = String(value);
    option.textContent = label;
    return option;
  });
  ui.quality.replaceChildren(...options);
  ui.quality.value = String(hls.autoLevelEnabled ? -1 : hls.currentLevel);
  ui.qualityField.hidden = hls.levels.length < 2;
}

// A choice applies at once (hls.js drops what it buffered of the old variant and loads the new one).
ui.quality.addEventListener('change', () => {
  if (state.hls) state.hls.currentLevel = Number(ui.quality.value);
});

/**
 * A fatal hls.js error: a media (decode) error gets hls.js's own recovery; anything else one renewal
 * and a restart from where playback was. A second failure in a row stops and says so.
 */
async function onHlsError(Hls, hls, data) {
  const track = state.track;
  if (!data.fatal || hls !== state.hls || !track || state.ending) return;
  if (state.recovering) {
    state.recovering = false;
    destroyHls();
    say(`${track.title} cannot be played (${data.details}).`);
    return;
  }
  state.recovering = true;
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
    hls.recoverMediaError();
    return;
  }
  const position = state.lastPosition;
  const minted = await mintToken(track).catch(() => null);
  if (!minted || state.track !== track || hls !== state.hls) return;
  scheduleRefresh(minted);
  startHls(Hls, minted, position, state.wantPlaying);
}

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
// Change password
//
// POST /auth/password ends every other session of this user and gives this one a new id, cookie and
// CSRF token; the page then reads the new token (and session) from GET /auth/me. A 401 here is either a
// wrong current password (`invalid_credentials`: the form says so) or a session that has ended (back to
// the sign-in form, as everywhere else).

const PASSWORD_MIN = 12;
const PASSWORD_MAX = 128;
const PASSWORD_LENGTH_RULE = `The new password must have ${PASSWORD_MIN} to ${PASSWORD_MAX} characters.`;

const passwordForm = {
  form: $('password-form'),
  current: /** @type {HTMLInputElement} */ ($('current-password')),
  next: /** @type {HTMLInputElement} */ ($('new-password')),
  message: $('password-message'),
  button: /** @type {HTMLButtonElement} */ ($('change-password')),
};

function showPasswordMessage(text, kind) {
  passwordForm.message.textContent = text;
  passwordForm.message.className = `form-message ${kind}`;
  passwordForm.message.hidden = false;
}

function resetPasswordForm() {
  passwordForm.current.value = '';
  passwordForm.next.value = '';
  passwordForm.message.hidden = true;
  passwordForm.button.disabled = false;
}

async function changePassword() {
  const currentPassword = passwordForm.current.value;
  const newPassword = passwordForm.next.value;
  // Characters as the gateway counts them: code points.
  const length = [...newPassword].length;
  if (!currentPassword) {
    showPasswordMessage('Enter your current password.', 'error');
    passwordForm.current.focus();
    return;
  }
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) {
    showPasswordMessage(PASSWORD_LENGTH_RULE, 'error');
    passwordForm.next.focus();
    return;
  }
  passwordForm.button.disabled = true;
  passwordForm.message.hidden = true;
  try {
    await api('POST', '/auth/password', { currentPassword, newPassword });
    passwordForm.current.value = '';
    passwordForm.next.value = '';
    // The session was rotated: its CSRF token too.
    await loadSessionInfo();
    showPasswordMessage('Password changed. Every other device has been signed out.', 'success');
    void loadDevices();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && error.code !== 'invalid_credentials') {
      endSession(sessionEndedReason());
      return;
    }
    if (error instanceof ApiError && error.status === 401) {
      showPasswordMessage('The current password is wrong. Your password was not changed.', 'error');
      passwordForm.current.select();
      passwordForm.current.focus();
    } else if (error instanceof ApiError && error.status === 429) {
      showPasswordMessage(tooManyAttemptsMessage(error), 'error');
    } else if (error instanceof ApiError && error.status === 400) {
      showPasswordMessage(PASSWORD_LENGTH_RULE, 'error');
    } else {
      showPasswordMessage(`Could not change the password: ${error.message}`, 'error');
    }
  } finally {
    passwordForm.button.disabled = false;
  }
}

passwordForm.form.addEventListener('submit', (event) => {
  event.preventDefault();
  void changePassword();
});

// ---------------------------------------------------------------------------------------------------
// Session events: the gateway pushes the end of this session (GET /auth/events, Server-Sent Events), so
// a page that is playing, paused or idle returns to the sign-in form as soon as its session is ended
// elsewhere (signed out, revoked from another device, by an administrator, a password change), saying
// why. EventSource reconnects by itself when the gateway ends a stream; a reconnect refused (401: the
// session is gone) closes it for good, and the page checks its session once. The token-refresh polling
// stays as the fallback.

const SESSION_END_MESSAGES = {
  logout: 'You were signed out in another window.',
  logout_all: 'You were signed out everywhere.',
  revoked: 'This device was revoked from another device.',
  admin: 'An administrator signed you out.',
  password_changed: 'Your password was changed, so this device was signed out.',
  disabled: 'Your account was disabled.',
  expired: 'Your session expired.',
};

let sessionEvents = null;

function watchSession() {
  stopWatchingSession();
  const source = new EventSource('/auth/events');
  sessionEvents = source;
  source.addEventListener('session-ended', (event) => {
    if (sessionEvents !== source) return;
    stopWatchingSession();
    let reason = '';
    try {
      reason = JSON.parse(event.data).reason;
    } catch {
      // an unreadable event still ends the session; the generic text says so
    }
    void confirmSessionEnded(SESSION_END_MESSAGES[reason]);
  });
  source.addEventListener('error', () => {
    if (sessionEvents === source && source.readyState === EventSource.CLOSED) {
      sessionEvents = null;
      void confirmSessionEnded(undefined);
    }
  });
}

function stopWatchingSession() {
  sessionEvents?.close();
  sessionEvents = null;
}

/**
 * The pushed end of the session this page's stream was opened with. This page may have moved on to a
 * new session meanwhile (its own password change rotates it) or be signing out itself: that action's
 * answer is awaited, and only when the cookie no longer signs in does the page return to the sign-in form.
 */
async function confirmSessionEnded(message) {
  // This page's own sign-out or password change, under way: its answer decides (the push can arrive first).
  const ownActionInFlight = () =>
    ui.signOut.disabled || ui.signOutEverywhere.disabled || passwordForm.button.disabled;
  for (let waited = 0; ownActionInFlight() && waited < 5000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!state.user) return;
  try {
    await api('GET', '/auth/me');
    if (state.user) watchSession();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401) || !state.user) return;
    endSession(message ? `${message} Sign in again to continue.` : sessionEndedReason());
  }
}

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
