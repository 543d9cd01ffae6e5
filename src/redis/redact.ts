/**
 * URL redaction for logs and error messages: a Redis URL may carry a password.
 *
 * @module
 */

/** Returns `url` with any password replaced by `***`, safe for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    // No host parsed (`redis:/:pw@host`): the credentials may sit in the path, so fall through.
    if (parsed.hostname !== "" || !url.includes("@")) return parsed.toString();
  } catch {
    // Unparsable: fall through.
  }
  // Everything from the scheme up to the last "@" may be a credential (a password may hold "/").
  return url.replace(/^(\s*[A-Za-z][A-Za-z0-9+.-]*:\/*)?[^]*@/, "$1***@");
}
