// Session Connector recording player. The page holds no data: after sign-in it asks the launch
// API for the recording (GET /api/v1/recordings/{session}, HTTP Basic with the Secret Server
// account), fetches the chunks from S3 through the presigned URLs it answers, and lets
// player.wasm (Go, recorder/player/wasm) verify, decode and paint them. Credentials stay in this
// page's memory (to renew the URLs, which live minutes) and are never stored.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const canvas = $('screen');
  const ctx = canvas.getContext('2d', { alpha: false });
  const timeline = $('timeline');
  const playButton = $('play');
  const speedSelect = $('speed');
  const playerEl = $('player');

  const parts = location.pathname.replace(/\/+$/, '').split('/');
  const session = decodeURIComponent(parts[parts.length - 1] || '');
  $('session-id').textContent = session;

  // The WebAssembly loads while the user signs in.
  let wasmReady;
  const wasmLoaded = new Promise((resolve) => { wasmReady = resolve; });
  window.sessionConnectorPlayerReady = () => wasmReady();
  const wasm = (async () => {
    if (typeof Go !== 'function') {
      throw new Error('the player could not be loaded (wasm_exec.js is missing)');
    }
    const go = new Go();
    const res = await fetch('/player/player.wasm', { credentials: 'same-origin' });
    if (!res.ok) {
      throw new Error(`the player could not be loaded (HTTP ${res.status})`);
    }
    const { instance } = await WebAssembly.instantiateStreaming(res, go.importObject);
    go.run(instance); // resolves when the program ends, which it does not
    await wasmLoaded;
    return window.sessionConnectorPlayer;
  })();
  wasm.catch(() => {}); // reported when the user signs in

  let auth = null; // request headers of the signed-in user, in memory only
  let listing = null; // the API's answer
  let urls = new Map(); // chunk seq -> presigned URL
  let expiresAt = 0; // when urls stop working (ms since the epoch)
  let refreshing = null;
  let player = null; // sessionConnectorPlayer
  let duration = 0; // ms
  let position = 0; // ms, of the picture shown
  let image = null; // ImageData of the canvas's size
  let seekNumber = 0;
  let dragging = false;
  let playing = false;
  let speed = 1;
  let anchorWall = 0; // performance.now() when playing (re)started
  let anchorPos = 0; // position then
  let keys = []; // [{ms, text, li}]
  const warnings = new Set();

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function basic(user, password) {
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return `Basic ${btoa(bin)}`;
  }

  function showError(message) {
    const el = $('error');
    el.textContent = message || '';
    el.hidden = !message;
  }

  function setStatus(message) {
    $('status').textContent = message || '';
  }

  function setState(state) {
    playerEl.dataset.state = state;
  }

  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, '0');
    return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
  }

  // fetchListing asks the API for the recording; it throws an Error with the API's problem.
  async function fetchListing(headers) {
    const res = await fetch(`/api/v1/recordings/${encodeURIComponent(session)}`, {
      headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    });
    const text = await res.text();
    if (!res.ok) {
      let message = `The server answered HTTP ${res.status}.`;
      try {
        const p = JSON.parse(text);
        message = p.detail ? `${p.title}: ${p.detail}` : p.title || message;
      } catch (_) { /* not a problem document */ }
      const err = new Error(message);
      err.status = res.status;
      throw err;
    }
    const l = JSON.parse(text);
    listing = l;
    urls = new Map(l.chunks.map((c) => [c.seq, c.url]));
    expiresAt = Date.parse(l.expiresAt);
    return text;
  }

  // refresh renews the presigned URLs (one request at a time).
  function refresh() {
    if (!refreshing) {
      refreshing = fetchListing(auth).finally(() => { refreshing = null; });
    }
    return refreshing;
  }

  async function fetchObject(what, urlOf) {
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > expiresAt - 30000) {
        await refresh();
      }
      const url = urlOf();
      if (!url) {
        throw new Error(`${what} is not in the recording's listing`);
      }
      let res;
      try {
        res = await fetch(url, {
          credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer', mode: 'cors',
          signal: AbortSignal.timeout(120000),
        });
      } catch (e) {
        if (attempt < 2) {
          await sleep(500 * (attempt + 1));
          continue;
        }
        throw new Error(`${what} could not be fetched from the recording storage (network, CORS or TLS): ${e.message}`);
      }
      if (res.status === 403 && attempt < 2) {
        expiresAt = 0; // the URL expired: ask for new ones
        continue;
      }
      if (!res.ok) {
        throw new Error(`the recording storage answered HTTP ${res.status} for ${what}`);
      }
      return new Uint8Array(await res.arrayBuffer());
    }
  }

  const fetchChunk = (seq) => fetchObject(`chunk ${seq}`, () => urls.get(seq));

  function showMeta(l) {
    $('meta-user').textContent = l.user || '';
    $('meta-target').textContent = l.target || '';
    $('meta-secret').textContent = String(l.secretId);
    $('meta-start').textContent = new Date(l.start).toLocaleString();
    $('meta-end').textContent = new Date(l.end).toLocaleString();
    $('meta').hidden = false;
    if (!l.complete) {
      addWarning('The recording is incomplete: the proxy stopped before the session ended, or parts of the session were not recorded.');
    }
    for (const g of l.gaps || []) {
      addWarning(`Chunks ${g.fromSeq} to ${g.toSeq} are lost: ${g.reason}.`);
    }
  }

  function addWarning(text) {
    if (warnings.has(text)) return;
    warnings.add(text);
    const li = document.createElement('li');
    li.textContent = text;
    $('warnings').append(li);
  }

  async function loadKeystrokes(l) {
    if (!l.keystrokesUrl) {
      return;
    }
    const bytes = await fetchObject('the keystroke log', () => listing.keystrokesUrl);
    const out = player.keystrokes(bytes);
    if (out.error) {
      addWarning(`The keystroke log is damaged after ${out.entries.length} entries: ${out.error}`);
    }
    const list = $('keys');
    list.replaceChildren();
    keys = [];
    for (const e of out.entries) {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.ms = String(e.ms);
      const time = document.createElement('time');
      time.textContent = clock(e.ms);
      const text = document.createElement('span');
      text.textContent = e.text;
      button.append(time, text);
      button.addEventListener('click', () => jump(e.ms));
      li.append(button);
      list.append(li);
      keys.push({ ms: e.ms, li });
    }
    $('keys-empty').hidden = keys.length > 0;
  }

  let currentKey = -1;
  function highlightKey() {
    let i = -1;
    while (i + 1 < keys.length && keys[i + 1].ms <= position) i++;
    if (i === currentKey) return;
    if (currentKey >= 0 && keys[currentKey]) keys[currentKey].li.classList.remove('current');
    currentKey = i;
    if (i >= 0) {
      keys[i].li.classList.add('current');
      if (playing) keys[i].li.scrollIntoView({ block: 'nearest' });
    }
  }

  function showTime() {
    $('time').textContent = `${clock(position)} / ${clock(duration)}`;
  }

  function draw(r) {
    if (r.width > 0 && r.height > 0) {
      let resized = false;
      if (canvas.width !== r.width || canvas.height !== r.height || !image) {
        canvas.width = r.width;
        canvas.height = r.height;
        image = ctx.createImageData(r.width, r.height);
        resized = true;
      }
      if ((r.changed || resized) && player.frame(image.data)) {
        ctx.putImageData(image, 0, 0);
      }
    }
    position = r.positionMs;
    canvas.dataset.position = String(Math.round(position));
    if (!dragging) timeline.value = String(position);
    showTime();
    highlightKey();
    for (const w of r.warnings || []) addWarning(w);
  }

  // seekTo moves the picture; a later call supersedes it. It returns whether it drew.
  async function seekTo(ms) {
    const mine = ++seekNumber;
    let r;
    try {
      r = await player.seek(ms);
    } catch (e) {
      if (mine === seekNumber) {
        pause();
        setStatus(`Playback stopped: ${e.message}`);
      }
      return false;
    }
    if (r.cancelled || mine !== seekNumber) {
      return false;
    }
    setStatus('');
    draw(r);
    return true;
  }

  function anchor(at) {
    anchorWall = performance.now();
    anchorPos = at;
  }

  function jump(ms) {
    ms = Math.min(Math.max(0, ms), duration);
    timeline.value = String(ms);
    anchor(ms);
    return seekTo(ms);
  }

  async function tick() {
    if (!playing) return;
    const target = Math.min(anchorPos + (performance.now() - anchorWall) * speed, duration);
    player.prefetch(target + 4000 * speed);
    await seekTo(target);
    if (!playing) return;
    if (target >= duration) {
      pause();
      return;
    }
    requestAnimationFrame(tick);
  }

  function play() {
    if (playing || !player) return;
    if (position >= duration) position = 0;
    playing = true;
    playButton.textContent = 'Pause';
    anchor(position);
    requestAnimationFrame(tick);
  }

  function pause() {
    playing = false;
    playButton.textContent = 'Play';
  }

  playButton.addEventListener('click', () => (playing ? pause() : play()));
  timeline.addEventListener('input', () => {
    dragging = true;
    const ms = Number(timeline.value);
    anchor(ms);
    seekTo(ms);
  });
  timeline.addEventListener('change', () => { dragging = false; });
  speedSelect.addEventListener('change', () => {
    anchor(position);
    speed = Number(speedSelect.value) || 1;
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== ' ' || playerEl.hidden || ev.target.closest('input, select, button, textarea')) return;
    ev.preventDefault();
    if (playing) pause(); else play();
  });

  async function start(listingText) {
    showMeta(listing);
    $('signin').hidden = true;
    playerEl.hidden = false;
    setState('loading');
    setStatus('Loading the player…');
    player = await wasm;
    setStatus('Loading the recording…');
    const info = await player.load(listingText, fetchChunk);
    duration = info.durationMs;
    timeline.max = String(duration);
    showTime();
    await loadKeystrokes(listing);
    await seekTo(0);
    timeline.disabled = false;
    playButton.disabled = false;
    setStatus('');
    setState('ready');
  }

  $('signin').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('user').value.trim();
    const password = $('password').value;
    const otp = $('otp').value.trim();
    const headers = { Authorization: basic(user, password), Accept: 'application/json' };
    if (otp) headers.OTP = otp;
    showError('');
    $('signin-button').disabled = true;
    try {
      const text = await fetchListing(headers);
      auth = headers;
      $('password').value = '';
      $('otp').value = '';
      await start(text);
    } catch (e) {
      if (!auth) {
        $('password').value = '';
        $('password').focus();
      } else {
        setState('error');
      }
      showError(e.message);
    } finally {
      $('signin-button').disabled = false;
    }
  });
})();
