// How an incoming offer gets the agent's attention: a short chime made with WebAudio (no audio file)
// and a browser notification. Both need the agent's consent: the audio context and the notification
// permission are set up on a user gesture (`prepareAlerts`); when refused they stay silent.

let audio: AudioContext | null = null;

/** Called from a click or key press: unlocks audio and asks for notification permission once. */
export function prepareAlerts(): void {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") void audio.resume().catch(() => undefined);
  } catch {
    audio = null;
  }
  if ("Notification" in window && Notification.permission === "default") {
    void Notification.requestPermission().catch(() => undefined);
  }
}

/** Two soft rising tones (about 0.5 s). */
export function chime(): void {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime;
  for (const [offset, frequency] of [[0, 660], [0.18, 880]] as const) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.3);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(start + offset);
    oscillator.stop(start + offset + 0.32);
  }
}

/** A system notification when the page may not be in view; clicking it brings the desktop forward. */
export function notify(title: string, body: string): void {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const note = new Notification(title, { body, tag: "frontdesk-offer" });
    note.onclick = () => {
      window.focus();
      note.close();
    };
  } catch {
    // some browsers only allow notifications from a service worker: stay silent
  }
}
