// Random identifiers from the browser's cryptographic generator (crypto.getRandomValues works on
// plain-HTTP pages too, where crypto.randomUUID does not exist).

export function randomHex(bytes: number): string {
  const values = new Uint8Array(bytes);
  crypto.getRandomValues(values);
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}
