// The playground: one WebSocket to the server (protocol in the README, "Serving many users").
// Typed text is streamed as typed, so inferences appear before Send; the microphone streams
// 16 kHz PCM16; events from the server fill the transcript, actions, conversation and latency.
"use strict";

const RATE = 16000;
const FRAME_S = 0.1; // audio frames sent every 100 ms
const $ = (id) => document.getElementById(id);

let ws = null;
let sent = ""; // text of this turn already sent
let resync = false; // the server refused a text message: send the whole input again (revise)
let answerItem = null; // <li> of the answer streaming now
let dropAudio = false; // after a barge-in, until the next turn's input ends

// -- connection -------------------------------------------------------------------------------

// The server's token, if it asks for one, comes in the page's URL fragment (#token=...): the
// browser never sends a fragment to the server, so it stays out of logs and Referer headers.
function token() {
  return new URLSearchParams(location.hash.slice(1)).get("token");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = token() ? `?token=${encodeURIComponent(token())}` : "";
  ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
  ws.onopen = () => send({ type: "start", mode: mode(), speech: true });
  ws.onmessage = (msg) => onMessage(JSON.parse(msg.data));
  // The close code says why: 1001 the server stopped, 1012 (from a proxy) or 1006 its replica
  // went away, 1008 refused, 1013 full.
  ws.onclose = (e) => setStatus("closed", `disconnected (${e.code}${e.reason ? ": " + e.reason : ""}; reload to reconnect)`);
}

function send(message) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(message));
  return true;
}

function mode() {
  return $("livemind").checked ? "livemind" : "baseline";
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

// -- server -> page ---------------------------------------------------------------------------

const handlers = {
  ready: (m) => setStatus("ready", `ready · ${m.mode} · ${m.model}`),
  mode: (m) => {
    $("livemind").checked = m.mode === "livemind";
    setStatus("ready", `ready · ${m.mode}`);
  },
  error: (m) => {
    showError(`${m.code || "error"}: ${m.message}`);
    // A refused text message (too large, a server fault) is not in the turn's input there.
    if (["too_large", "internal", "not_started"].includes(m.code)) resync = true;
    if (m.code === "busy") $("livemind").checked = !$("livemind").checked;
  },
  words_partial: (m) => setTranscript(m.committed_text, m.text),
  words_committed: (m) => setTranscript(m.committed_text, ""),
  segment: (m) => addAction("segment", `segment: ${m.text}`),
  inference_done: (m) => addAction(m.action === "inference" ? "inference" : "wait",
    m.action === "inference" ? `💡 ${m.text}` : "… wait"),
  inference_aborted: (m) => addAction("aborted", `aborted (${m.reason})`),
  input_ended: (m) => {
    dropAudio = false;
    addAction("segment", `— input ended (turn ${m.turn + 1}) —`);
    addTurn(m.text);
    setTranscript("", "");
    sent = "";
  },
  // Too uncertain to answer: the turn is dropped and the assistant asks for it again.
  repeat_requested: (m) => {
    dropAudio = false;
    addAction("aborted", `not answered: transcript too uncertain (${m.confidence.toFixed(2)} < ${m.threshold})`);
    addTurn(m.text);
    answerItem.classList.add("repeat");
    answerItem.textContent = m.line;
    answerItem = null;
    setTranscript("", "");
  },
  answer_delta: (m) => { if (answerItem) answerItem.textContent += m.text; },
  answer_done: (m) => { if (answerItem) answerItem.textContent = m.text; },
  tts_audio: (m) => { if (!dropAudio && $("speech").checked) play(m); },
  speech_interrupted: () => { dropAudio = true; stopPlayback(); },
  turn_summary: (m) => addLatency(m.turn, m.figures),
};

function onMessage(m) {
  const handle = handlers[m.type];
  if (handle) handle(m);
}

function setTranscript(committed, partial) {
  document.querySelector("#transcript .committed").textContent = committed;
  document.querySelector("#transcript .partial").textContent = partial ? " " + partial : "";
}

function addAction(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;
  $("actions").appendChild(li);
  li.scrollIntoView({ block: "nearest" });
}

function addTurn(userText) {
  const user = document.createElement("li");
  user.className = "user";
  user.textContent = userText;
  answerItem = document.createElement("li");
  answerItem.className = "answer";
  $("conversation").append(user, answerItem);
}

function addLatency(turn, f) {
  const s = (x) => (x === null || x === undefined ? "–" : `${x.toFixed(2)} s`);
  const row = document.createElement("tr");
  const cells = [turn + 1, mode(), f.inferences, s(f.input_end_to_first_token_s),
    s(f.input_end_to_answer_s), s(f.input_end_to_first_audio_s), s(f.end_of_speech_to_first_audio_s)];
  for (const value of cells) {
    const td = document.createElement("td");
    td.textContent = value;
    row.appendChild(td);
  }
  $("latency").querySelector("tbody").appendChild(row);
}

function showError(text) {
  $("errors").textContent = text;
}

// -- typing -----------------------------------------------------------------------------------

function onTyped() {
  const text = $("input").value;
  let ok = true;
  if (text.startsWith(sent) && !resync) {
    if (text.length > sent.length) ok = send({ type: "text", text: text.slice(sent.length) });
  } else {
    // An edit before the end, or text the server refused: replace the turn's input.
    ok = send({ type: "text", text, revise: true });
    if (ok) resync = false;
  }
  if (ok) sent = text; // what was not sent is sent with the next keystroke
}

function submit() {
  onTyped();
  if (!sent.trim()) return;
  send({ type: "end" });
  $("input").value = "";
  sent = "";
}

// -- speech out -------------------------------------------------------------------------------

let playback = null;
let playing = [];
let playUntil = 0;

function play(m) {
  playback = playback || new AudioContext();
  const bytes = Uint8Array.from(atob(m.pcm16), (c) => c.charCodeAt(0));
  const pcm = new Int16Array(bytes.buffer);
  const buffer = playback.createBuffer(1, pcm.length, m.sample_rate);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
  const source = playback.createBufferSource();
  source.buffer = buffer;
  source.connect(playback.destination);
  playUntil = Math.max(playUntil, playback.currentTime);
  source.start(playUntil);
  playUntil += buffer.duration;
  playing.push(source);
  source.onended = () => { playing = playing.filter((s) => s !== source); };
}

function stopPlayback() {
  for (const source of playing) source.stop();
  playing = [];
  playUntil = 0;
}

// -- speech in --------------------------------------------------------------------------------

let capture = null; // { context, stream, node, pending: Float32Array[] }

async function startMic() {
  // Echo cancellation keeps the spoken answer out of the microphone. Gain control and noise
  // suppression stay off: Whisper normalises the level itself, and Chromium's gain control
  // clipped the start of a test question (peaks at full scale), which cost 10-30 points of WER.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: {
      channelCount: 1, echoCancellation: true, autoGainControl: false, noiseSuppression: false,
    },
  });
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/pcm-worklet.js");
  const node = new AudioWorkletNode(context, "pcm-capture");
  const pending = [];
  let pendingLength = 0;
  node.port.onmessage = (e) => {
    pending.push(e.data);
    pendingLength += e.data.length;
    if (pendingLength >= FRAME_S * context.sampleRate) {
      sendAudio(concat(pending, pendingLength), context.sampleRate);
      pending.length = 0;
      pendingLength = 0;
    }
  };
  context.createMediaStreamSource(stream).connect(node);
  capture = { context, stream, node };
  $("mic").classList.add("on");
  $("mic").textContent = "■ Stop";
}

function stopMic() {
  capture.stream.getTracks().forEach((t) => t.stop());
  capture.context.close();
  capture = null;
  // A second of silence: the server's VAD hears the end of the utterance.
  sendAudio(new Float32Array(RATE), RATE);
  $("mic").classList.remove("on");
  $("mic").textContent = "🎤 Talk";
}

function concat(parts, length) {
  const out = new Float32Array(length);
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

function sendAudio(samples, rate) {
  const resampled = rate === RATE ? samples : resample(samples, rate, RATE);
  const pcm = new Int16Array(resampled.length);
  for (let i = 0; i < resampled.length; i++) {
    pcm[i] = Math.max(-32768, Math.min(32767, Math.round(resampled[i] * 32767)));
  }
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(pcm.buffer);
}

function resample(samples, from, to) {
  // Linear interpolation (browsers capture at 44.1 or 48 kHz): good enough for Whisper.
  const length = Math.floor((samples.length * to) / from);
  const out = new Float32Array(length);
  const step = from / to;
  for (let i = 0; i < length; i++) {
    const x = i * step;
    const j = Math.floor(x);
    const a = samples[j] || 0;
    const b = samples[j + 1] || a;
    out[i] = a + (b - a) * (x - j);
  }
  return out;
}

// -- wiring -----------------------------------------------------------------------------------

$("input").addEventListener("input", onTyped);
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); }
});
$("send").addEventListener("click", submit);
$("mic").addEventListener("click", () => {
  (capture ? Promise.resolve(stopMic()) : startMic()).catch((e) => showError(`microphone: ${e.message}`));
});
$("livemind").addEventListener("change", () => send({ type: "mode", mode: mode() }));
$("show-actions").addEventListener("change", (e) => {
  document.body.classList.toggle("hide-actions", !e.target.checked);
});
connect();
