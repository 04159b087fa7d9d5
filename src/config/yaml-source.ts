/**
 * A parsed YAML file that remembers where each value came from, so a schema error about
 * `spec.services.reviews.timeout` can point at line 12, column 16 of the file. Multiple documents
 * (`---`) are kept apart; each knows its own nodes. Documents with nothing in them (a trailing `---`,
 * a comments-only document between separators) are left out, because kubectl, helm and kustomize
 * write them routinely; the others keep their position in the file as their index.
 */
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';

const MAX_ALIAS_COUNT = 100;

export interface YamlDocument {
  readonly index: number;
  readonly value: unknown;
  /** `file:line:col` of the node at `path`, or of its nearest existing parent. */
  locate(path: readonly (string | number)[], preferKey?: boolean): string;
}

export interface YamlProblem {
  where: string;
  message: string;
}

export function parseYamlFile(text: string, fileName: string): { documents: YamlDocument[]; problems: YamlProblem[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${fileName}:${line}:${col}`;
  };
  const problems: YamlProblem[] = [];
  const documents: YamlDocument[] = [];
  list.forEach((doc: Document.Parsed, index) => {
    for (const error of doc.errors) problems.push({ where: at(error.pos[0]), message: `YAML syntax: ${error.message.split('\n')[0]}` });
    if (doc.errors.length > 0 || isEmptyDocument(doc)) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      // Aliases that expand past the limit (a "billion laughs" document) throw here, not as a parse error.
      problems.push({ where: at(doc.range[0]), message: `YAML: document ${index + 1}: ${(err as Error).message} (more than ${MAX_ALIAS_COUNT} alias expansions)` });
      return;
    }
    documents.push({
      index,
      value,
      locate(path, preferKey = false) {
        let node: unknown = doc.contents;
        let keyNode: unknown;
        for (const step of path) {
          if (isMap(node)) {
            const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === step);
            if (!pair) break;
            keyNode = pair.key;
            node = pair.value;
          } else if (isSeq(node) && typeof step === 'number' && node.items[step] !== undefined) {
            keyNode = undefined;
            node = node.items[step];
          } else break;
        }
        const target = (preferKey && keyNode ? keyNode : node) as Node | undefined;
        return at(target?.range?.[0] ?? 0);
      },
    });
  });
  return { documents, problems };
}

/** No content at all: the parser's stand-in is a null scalar spanning no text (an explicit `~` or `null` spans some). */
function isEmptyDocument(doc: Document.Parsed): boolean {
  const contents = doc.contents as Node | null;
  return contents === null || (isScalar(contents) && contents.value === null && contents.range?.[0] === contents.range?.[1]);
}
