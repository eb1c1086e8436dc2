// Validates Kubernetes custom resources with the validators that @kubernetes-models packages
// generate from each project's CRD schema, strictly: a field the schema does not declare is an
// error, as kubectl's strict field validation makes it.
//
// stdin: {"models": "<node_modules dir>", "docs": [...]}; stdout: one list of errors per doc.
//
// The packages ship compiled validators, not JSON schemas. The generated code reads each
// declared property by name and walks free-form maps with `for...in`, so the document is
// wrapped in proxies that record what the validator reads: a key it never read, in an object
// whose properties it did read, is not in the schema.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "external-secrets.io": "@kubernetes-models/external-secrets",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

async function validatorFor(models, apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  const pkg = PACKAGES[group];
  if (!pkg || !version) return null;
  const dir = join(models, pkg);
  let model;
  try {
    model = readFileSync(join(dir, group, version, `${kind}.js`), "utf8");
  } catch {
    return null;
  }
  const schema = model.match(/from\s*"(\.\.\/\.\.\/_schemas\/[^"]+)"/);
  if (!schema) return null;
  const url = pathToFileURL(join(dir, group, version, schema[1])).href;
  return (await import(url)).validate;
}

function watch(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const entry = { read: new Set(), open: false, value };
  seen.set(path, entry);
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") entry.read.add(key);
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !Object.hasOwn(target, key)) return child;
      return watch(child, `${path}/${key}`, seen);
    },
    has(target, key) {
      if (typeof key === "string") entry.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      entry.open = true; // a map: any key is allowed
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(seen) {
  const errors = [];
  for (const [path, { read, open, value }] of seen) {
    if (open || Array.isArray(value) || read.size === 0) continue;
    for (const key of Object.keys(value)) {
      if (!read.has(key)) errors.push(`${path || "/"}: unknown field "${key}"`);
    }
  }
  return errors;
}

const input = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const doc of input.docs) {
  const validate = await validatorFor(input.models, doc.apiVersion, doc.kind);
  if (!validate) {
    results.push([`no CRD validator for ${doc.apiVersion} ${doc.kind}`]);
    continue;
  }
  const seen = new Map();
  const errors = [];
  if (!validate(watch(doc, "", seen))) {
    for (const e of validate.errors) {
      errors.push(`${e.instancePath || "/"}: ${e.keyword} ${JSON.stringify(e.params)}`);
    }
  }
  results.push([...errors, ...unknownFields(seen)]);
}
process.stdout.write(JSON.stringify(results));
