// Just enough of the Prometheus text exposition format (version 0.0.4) to read a sidecar's /metrics:
// `name{label="value",...} number [timestamp]` lines; # HELP / # TYPE and blank lines are skipped.
// Label values may hold escaped \\ \" and \n; numbers may be NaN, +Inf or -Inf.

/**
 * @typedef {{ name: string, labels: Record<string, string>, value: number }} Sample
 */

/** @returns {Sample[]} */
export function parsePrometheusText(text) {
  const samples = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      samples.push(parseSampleLine(line));
    } catch (err) {
      throw new Error(`/metrics line ${i + 1}: ${err.message}: ${line}`);
    }
  }
  return samples;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseSampleLine(line) {
  const nameMatch = METRIC_NAME.exec(line);
  if (!nameMatch) throw new Error('expected a metric name');
  const name = nameMatch[0];
  let at = name.length;
  const labels = {};

  if (line[at] === '{') {
    at++;
    for (;;) {
      at = skipSpaces(line, at);
      if (line[at] === '}') {
        at++;
        break;
      }
      const labelMatch = LABEL_NAME.exec(line.slice(at));
      if (!labelMatch) throw new Error(`expected a label name at column ${at + 1}`);
      at += labelMatch[0].length;
      at = skipSpaces(line, at);
      if (line[at] !== '=' || line[at + 1] !== '"') throw new Error(`expected ="value" after label ${labelMatch[0]}`);
      at += 2;
      let value = '';
      for (;;) {
        const c = line[at];
        if (c === undefined) throw new Error(`label ${labelMatch[0]} has no closing quote`);
        at++;
        if (c === '"') break;
        if (c === '\\') {
          const escaped = line[at++];
          value += escaped === 'n' ? '\n' : escaped ?? '';
        } else {
          value += c;
        }
      }
      labels[labelMatch[0]] = value;
      at = skipSpaces(line, at);
      if (line[at] === ',') at++;
      else if (line[at] !== '}') throw new Error(`expected , or } after label ${labelMatch[0]}`);
    }
  }

  // What follows is the value and, rarely, a timestamp the demo has no use for.
  const [valueText] = line.slice(at).trim().split(/\s+/);
  const value = parseSampleValue(valueText);
  if (value === undefined) throw new Error(`"${valueText ?? ''}" is not a sample value`);
  return { name, labels, value };
}

function skipSpaces(line, at) {
  while (line[at] === ' ' || line[at] === '\t') at++;
  return at;
}

function parseSampleValue(text) {
  if (text === undefined || text === '') return undefined;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  return Number.isNaN(n) ? undefined : n;
}
