/**
 * Reading a CAP 1.2 alert safely, in four steps, each with its own clear refusal:
 * 1. a `<!DOCTYPE` (or `<!ENTITY`) is refused before any parser sees it (XXE, entity expansion);
 * 2. well-formed XML (libxml2, in wasm): else 400 `invalid_xml` with the line and column;
 * 3. valid against the OASIS CAP 1.2 schema (`schemas/cap12.xsd`, shipped with its notice):
 *    else 422 `cap_schema` with the validator's messages;
 * 4. fast-xml-parser turns it into plain values, checked by zod into a `CapAlert`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { ParseOption, XmlDocument, XmlLibError, XsdValidator } from 'libxml2-wasm';
import { z } from 'zod';
import { AppError, badRequest } from '../../errors.js';
import {
  CAP_CERTAINTIES,
  CAP_MSG_TYPES,
  CAP_NAMESPACE,
  CAP_SEVERITIES,
  CAP_STATUSES,
  CAP_URGENCIES,
  type CapAlert,
  type CapReference,
} from './types.js';

/** The OASIS schema, found from this module upwards (src/… when run from source, dist/src/… built). */
export function findCapSchema(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'schemas', 'cap12.xsd');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('schemas/cap12.xsd (the OASIS CAP 1.2 schema) is missing from the installation');
}

export interface CapParser {
  /** The alert in `xml`; throws AppError 400 (`doctype_refused`, `invalid_xml`) or 422 (`cap_schema`). */
  parse(xml: string): CapAlert;
  /** Frees the schema (wasm memory). */
  close(): void;
}

const NS_PREFIX = `{${CAP_NAMESPACE}}`;
/** Validator messages name elements as {namespace}name: the name alone reads better. */
const tidy = (m: string) => m.replaceAll(NS_PREFIX, '').trim();

const str = z.string();
const optStr = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? null : v.trim()));
const pair = z.object({ valueName: str, value: z.string().default('') });

// What fast-xml-parser gives for a schema-valid alert (repeated elements always arrays).
const areaSchema = z.object({
  areaDesc: str,
  polygon: z.array(str).default([]),
  circle: z.array(str).default([]),
  geocode: z.array(pair).default([]),
});
const infoSchema = z.object({
  language: z.string().default('en-US'),
  category: z.array(str).default([]),
  event: str,
  urgency: z.enum(CAP_URGENCIES),
  severity: z.enum(CAP_SEVERITIES),
  certainty: z.enum(CAP_CERTAINTIES),
  headline: optStr,
  description: optStr,
  instruction: optStr,
  effective: optStr,
  onset: optStr,
  expires: optStr,
  senderName: optStr,
  area: z.array(areaSchema).default([]),
});
const alertSchema = z.object({
  identifier: str,
  sender: str,
  sent: str,
  status: z.enum(CAP_STATUSES),
  msgType: z.enum(CAP_MSG_TYPES),
  scope: str,
  note: optStr,
  references: optStr,
  info: z.array(infoSchema).default([]),
});

/** Elements that may repeat: always arrays, so one and many read the same. */
const REPEATED = new Set(['info', 'area', 'polygon', 'circle', 'geocode', 'category', 'code', 'eventCode']);

/**
 * `references`: whitespace-separated "sender,identifier,sent" triples (§3.2.1). Identifiers and
 * senders hold neither spaces nor commas, so a triple splits on its first and last comma.
 */
export function parseReferences(text: string | null): CapReference[] {
  if (!text) return [];
  const refs: CapReference[] = [];
  for (const item of text.split(/\s+/).filter(Boolean)) {
    const first = item.indexOf(',');
    const last = item.lastIndexOf(',');
    if (first <= 0 || last <= first) continue;
    refs.push({
      sender: item.slice(0, first),
      identifier: item.slice(first + 1, last),
      sent: item.slice(last + 1),
    });
  }
  return refs;
}

export function createCapParser(opts: { xsdPath?: string } = {}): CapParser {
  let validator: XsdValidator | null = null;
  const schema = () => {
    if (!validator) {
      const xsdDoc = XmlDocument.fromString(readFileSync(opts.xsdPath ?? findCapSchema(), 'utf8'));
      try {
        validator = XsdValidator.fromDoc(xsdDoc);
      } finally {
        xsdDoc.dispose();
      }
    }
    return validator;
  };
  const toValues = new XMLParser({
    ignoreAttributes: true,
    removeNSPrefix: true,
    parseTagValue: false,
    trimValues: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    htmlEntities: false,
    isArray: (name) => REPEATED.has(name),
  });

  function wellFormedAndValid(xml: string): void {
    let doc: XmlDocument;
    try {
      // No network, no external entities: belt and braces behind the DOCTYPE refusal.
      doc = XmlDocument.fromString(xml, {
        option: ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE,
      });
    } catch (err) {
      const d = err instanceof XmlLibError ? err.details[0] : undefined;
      throw badRequest(
        'invalid_xml',
        d
          ? `Not well-formed XML at line ${d.line}, column ${d.col}: ${tidy(d.message)}`
          : `Not well-formed XML: ${(err as Error).message}`,
        d ? { line: d.line, column: d.col } : undefined,
      );
    }
    try {
      const root = doc.root;
      if (root.name !== 'alert' || root.namespaceUri !== CAP_NAMESPACE) {
        throw new AppError(
          422,
          'cap_schema',
          `Not a CAP 1.2 alert: the root element is <${root.name}> in namespace "${root.namespaceUri}"; ` +
            `expected <alert xmlns="${CAP_NAMESPACE}">.`,
        );
      }
      try {
        schema().validate(doc);
      } catch (err) {
        if (!(err instanceof XmlLibError)) throw err;
        const errors = err.details
          .slice(0, 10)
          .map((d) => ({ line: d.line, message: tidy(d.message), ...(d.xpath ? { xpath: d.xpath } : {}) }));
        const first = errors[0];
        throw new AppError(
          422,
          'cap_schema',
          first
            ? `Not a valid CAP 1.2 alert (OASIS schema), line ${first.line}: ${first.message}`
            : `Not a valid CAP 1.2 alert (OASIS schema): ${tidy(err.message)}`,
          { errors },
        );
      }
    } finally {
      doc.dispose();
    }
  }

  return {
    parse(xml) {
      // [XXE] A CAP alert needs no document type; one is how entity attacks come in.
      if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
        throw badRequest(
          'doctype_refused',
          'CAP alerts may not contain a <!DOCTYPE> or <!ENTITY> declaration (they carry entity attacks); send the alert without it.',
        );
      }
      const declared = /^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']/i.exec(xml)?.[1];
      if (declared && !/^(utf-?8|us-ascii)$/i.test(declared)) {
        throw badRequest('invalid_xml', `The alert declares encoding "${declared}": send it as UTF-8.`);
      }
      wellFormedAndValid(xml);
      const values = toValues.parse(xml) as { alert?: unknown };
      const parsed = alertSchema.safeParse(values.alert);
      if (!parsed.success) {
        // The schema passed, so this is a value the standard allows but loalang cannot read.
        throw new AppError(422, 'cap_schema', `Unreadable CAP alert: ${z.prettifyError(parsed.error)}`);
      }
      const a = parsed.data;
      return {
        identifier: a.identifier,
        sender: a.sender,
        sent: a.sent,
        status: a.status,
        msgType: a.msgType,
        scope: a.scope,
        note: a.note,
        references: parseReferences(a.references),
        infos: a.info.map((i) => ({
          language: i.language,
          categories: i.category,
          event: i.event,
          urgency: i.urgency,
          severity: i.severity,
          certainty: i.certainty,
          headline: i.headline,
          description: i.description,
          instruction: i.instruction,
          effective: i.effective,
          onset: i.onset,
          expires: i.expires,
          senderName: i.senderName,
          areas: i.area.map((ar) => ({
            areaDesc: ar.areaDesc,
            polygons: ar.polygon,
            circles: ar.circle,
            geocodes: ar.geocode,
          })),
        })),
      };
    },
    close() {
      validator?.dispose();
      validator = null;
    },
  };
}
