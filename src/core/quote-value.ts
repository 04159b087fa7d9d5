/**
 * The offending value as an error message quotes it: JSON, so a string shows its quotes and its
 * invisible characters (`"10.0.0.7 "`), cut short so that a pasted certificate or a long list does
 * not bury the message.
 */
const MAX_CHARS = 60;

export function quoteValue(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? 'nothing' : typeof value === 'bigint' ? String(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (text.length <= MAX_CHARS) return text;
  return `${text.slice(0, MAX_CHARS)}…${typeof value === 'string' ? '"' : ''} (${typeof value === 'string' ? `${value.length} characters` : `${text.length} characters as JSON`})`;
}
