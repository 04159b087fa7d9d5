/**
 * Checks an object against a CRD's openAPIV3Schema the way kube-apiserver validates a custom
 * resource under strict field validation: types, required fields, enums, bounds, unknown fields
 * refused unless the schema preserves them, and the Kubernetes extensions (int-or-string,
 * preserve-unknown-fields). Returns the problems, each with its path; empty means valid.
 */
export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  items?: StructuralSchema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  [other: string]: unknown;
}

/** Fields every object has besides its schema's properties, at the root. */
const ROOT_FIELDS = ['apiVersion', 'kind', 'metadata'];

export function checkStructural(schema: StructuralSchema, value: unknown, path = '', root = true): string[] {
  const at = path || '(root)';
  if (schema['x-kubernetes-int-or-string']) {
    return Number.isInteger(value) || typeof value === 'string' ? [] : [`${at}: expected an integer or a string, got ${JSON.stringify(value)}`];
  }
  const problems: string[] = [];
  switch (schema.type) {
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected an object, got ${JSON.stringify(value)}`];
      const object = value as Record<string, unknown>;
      for (const field of schema.required ?? []) if (object[field] === undefined) problems.push(`${at}: "${field}" is required`);
      for (const [field, fieldValue] of Object.entries(object)) {
        const fieldSchema = schema.properties?.[field];
        if (fieldSchema) problems.push(...checkStructural(fieldSchema, fieldValue, `${path}.${field}`, false));
        else if (!(root && ROOT_FIELDS.includes(field)) && !schema['x-kubernetes-preserve-unknown-fields']) problems.push(`${at}: unknown field "${field}"`);
      }
      return problems;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected an array, got ${JSON.stringify(value)}`];
      return value.flatMap((item, i) => (schema.items ? checkStructural(schema.items, item, `${path}[${i}]`, false) : []));
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected a string, got ${JSON.stringify(value)}`];
      break;
    case 'integer':
      if (!Number.isInteger(value)) return [`${at}: expected an integer, got ${JSON.stringify(value)}`];
      break;
    case 'number':
      if (typeof value !== 'number') return [`${at}: expected a number, got ${JSON.stringify(value)}`];
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return [`${at}: expected a boolean, got ${JSON.stringify(value)}`];
      break;
    default:
      if (!schema['x-kubernetes-preserve-unknown-fields']) problems.push(`${at}: the schema gives no type`);
  }
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: expected one of ${JSON.stringify(schema.enum)}, got ${JSON.stringify(value)}`);
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) problems.push(`${at}: ${value} is below the minimum ${schema.minimum}`);
  if (typeof value === 'number' && schema.maximum !== undefined && value > schema.maximum) problems.push(`${at}: ${value} is above the maximum ${schema.maximum}`);
  return problems;
}
