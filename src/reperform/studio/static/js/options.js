// The generation options the API accepts — their choices, defaults and bounds — read from the
// server's OpenAPI document, which is generated from the engine's GenerateOptions. The page writes
// none of them down: a choice the server stops offering leaves the form, a new one appears (with a
// plain label until the page has better words for it), and the server's default is the form's.

const SCHEMA_URL = "/openapi.json"; // public, like every page of the API docs: no key needed

/** Follow a local `$ref` ("#/components/schemas/Name") to the schema it names. */
function deref(doc, schema) {
  let s = schema;
  while (s && s.$ref) s = s.$ref.split("/").slice(1).reduce((node, part) => node[part], doc);
  return s || {};
}

/** One option's choices, default and bounds; a nullable option's `anyOf` is read past its null. */
function describe(doc, property) {
  const alternatives = (property.anyOf || [property]).map(s => deref(doc, s)).filter(s => s.type !== "null");
  const schema = alternatives[0] || {};
  return {
    choices: Array.isArray(schema.enum) ? schema.enum : null,
    default: property.default ?? null,
    minimum: schema.minimum,
    maximum: schema.maximum,
    description: property.description || schema.description || "",
  };
}

/**
 * Fetch the options of a generation, keyed by their wire names:
 * `{model_mode, prompt, temperature, sync_mode}`, each `{choices, default, minimum, maximum, description}`.
 */
export async function loadOptions() {
  const response = await fetch(new URL(SCHEMA_URL, window.location.origin));
  if (!response.ok) throw new Error(`the API description answered HTTP ${response.status}`);
  const doc = await response.json();
  const schema = deref(doc, doc.components.schemas.GenerationOptions);
  return Object.fromEntries(Object.entries(schema.properties).map(([name, p]) => [name, describe(doc, p)]));
}

/** Words for a choice the page has no label of its own for: "cut_off" → "Cut off". */
export function plainLabel(value) {
  const text = String(value).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
