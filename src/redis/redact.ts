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
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^@/]*)@/, "//***@");
  }
}
