// The widget's strings. English and German; the language comes from data-lang, else the browser.

const en = {
  launcherOpen: "Open chat",
  launcherClose: "Close chat",
  title: "Chat with us",
  subtitle: "We usually reply within a few minutes",
  close: "Close",
  offlineTitle: "We are offline right now",
  offlineBody: "Our team is not available at the moment. Please come back during our opening hours.",
  prechatIntro: "Tell us a little about yourself and we will connect you with our team.",
  firstName: "First name",
  lastName: "Last name",
  email: "Email",
  phone: "Phone",
  account: "Account number",
  company: "Company",
  question: "How can we help?",
  startChat: "Start chat",
  connecting: "Connecting…",
  queued: "Waiting for the next available agent",
  ewtMinutes: "Estimated wait: about {n} min",
  ewtSoon: "Estimated wait: less than a minute",
  joined: "{name} joined the chat",
  left: "{name} left the chat",
  typing: "{name} is typing…",
  placeholder: "Write a message…",
  messageLabel: "Message",
  send: "Send",
  attach: "Attach a file",
  uploading: "Sending {name}…",
  uploadFailed: "{name} was not sent: {error}",
  sendFailed: "Not sent: {error}",
  delivered: "Delivered",
  read: "Read",
  endChat: "End chat",
  ended: "The chat has ended.",
  newChat: "Start a new chat",
  inactivityWarning: "Are you still there? The chat will end soon if there is no reply.",
  inactivityEnded: "The chat ended because there was no activity.",
  submit: "Submit",
  cancel: "Cancel",
  formSent: "Thank you, your answer was sent.",
  formCancelled: "You closed the form.",
  formMissing: "The requested form is not available.",
  textFormHint: "Your next message answers this question.",
  locationAsk: "{name} asks for your location. It is only sent if you agree.",
  shareLocation: "Share my location",
  dontShare: "Don't share",
  locationShared: "You shared your location.",
  locationDeclined: "You did not share your location.",
  locationUnavailable: "Your location could not be determined.",
  reconnecting: "Connection lost. Reconnecting…",
  you: "You",
  agent: "Agent",
  assistant: "Assistant",
  download: "Download",
  startFailed: "The chat could not be started: {error}",
  logLabel: "Chat messages",
  required: "(required)",
  loading: "Loading…",
  unavailable: "The chat is not available right now.",
  imageAlt: "Image {name}",
};

export type Strings = typeof en;
export type StringKey = keyof Strings;

const de: Strings = {
  launcherOpen: "Chat öffnen",
  launcherClose: "Chat schließen",
  title: "Chatten Sie mit uns",
  subtitle: "Wir antworten meist innerhalb weniger Minuten",
  close: "Schließen",
  offlineTitle: "Wir sind gerade nicht erreichbar",
  offlineBody: "Unser Team ist im Moment nicht da. Bitte schauen Sie während unserer Öffnungszeiten wieder vorbei.",
  prechatIntro: "Erzählen Sie uns kurz etwas über sich, dann verbinden wir Sie mit unserem Team.",
  firstName: "Vorname",
  lastName: "Nachname",
  email: "E-Mail",
  phone: "Telefon",
  account: "Kundennummer",
  company: "Firma",
  question: "Wie können wir helfen?",
  startChat: "Chat starten",
  connecting: "Verbindung wird hergestellt…",
  queued: "Sie warten auf die nächste freie Person",
  ewtMinutes: "Geschätzte Wartezeit: etwa {n} Min.",
  ewtSoon: "Geschätzte Wartezeit: unter einer Minute",
  joined: "{name} ist dem Chat beigetreten",
  left: "{name} hat den Chat verlassen",
  typing: "{name} schreibt…",
  placeholder: "Nachricht schreiben…",
  messageLabel: "Nachricht",
  send: "Senden",
  attach: "Datei anhängen",
  uploading: "{name} wird gesendet…",
  uploadFailed: "{name} wurde nicht gesendet: {error}",
  sendFailed: "Nicht gesendet: {error}",
  delivered: "Zugestellt",
  read: "Gelesen",
  endChat: "Chat beenden",
  ended: "Der Chat wurde beendet.",
  newChat: "Neuen Chat starten",
  inactivityWarning: "Sind Sie noch da? Ohne Antwort endet der Chat bald.",
  inactivityEnded: "Der Chat wurde wegen Inaktivität beendet.",
  submit: "Absenden",
  cancel: "Abbrechen",
  formSent: "Danke, Ihre Antwort wurde gesendet.",
  formCancelled: "Sie haben das Formular geschlossen.",
  formMissing: "Das angeforderte Formular ist nicht verfügbar.",
  textFormHint: "Ihre nächste Nachricht beantwortet diese Frage.",
  locationAsk: "{name} bittet um Ihren Standort. Er wird nur mit Ihrer Zustimmung gesendet.",
  shareLocation: "Standort teilen",
  dontShare: "Nicht teilen",
  locationShared: "Sie haben Ihren Standort geteilt.",
  locationDeclined: "Sie haben Ihren Standort nicht geteilt.",
  locationUnavailable: "Ihr Standort konnte nicht ermittelt werden.",
  reconnecting: "Verbindung unterbrochen. Neuer Versuch…",
  you: "Sie",
  agent: "Mitarbeiter",
  assistant: "Assistent",
  download: "Herunterladen",
  startFailed: "Der Chat konnte nicht gestartet werden: {error}",
  logLabel: "Chatnachrichten",
  required: "(Pflichtfeld)",
  loading: "Wird geladen…",
  unavailable: "Der Chat ist gerade nicht verfügbar.",
  imageAlt: "Bild {name}",
};

const TABLES: Record<string, Strings> = { en, de };

export type Translate = (key: StringKey, values?: Record<string, string | number>) => string;

/** The supported language for a requested one ("de-AT" → "de"); English otherwise. */
export function pickLanguage(requested: readonly string[]): string {
  for (const tag of requested) {
    const base = tag.toLowerCase().split("-")[0] ?? "";
    if (base in TABLES) return base;
  }
  return "en";
}

export function translator(lang: string): Translate {
  const table = TABLES[lang] ?? en;
  return (key, values = {}) =>
    table[key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}
