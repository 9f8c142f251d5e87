// JavaScript and TypeScript contexts: one long-lived Node process per context, speaking the runner
// protocol of contexts.py. Debian packages no JavaScript Jupyter kernel (E2B uses a fork of
// ijavascript), so this is ours. Each cell is parsed with Debian's TypeScript compiler (also the
// TypeScript transpiler) and rewritten so that:
//   - top-level declarations (var/let/const, functions, classes, imports) outlive the cell;
//   - ESM `import` statements work (turned into dynamic imports resolved from the cwd);
//   - top-level `await` works and the value of a final expression is the cell's result.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const language = process.argv[2] === 'typescript' ? 'typescript' : 'javascript';
const require = createRequire(import.meta.url);
const ts = require('typescript');
const eventsFd = Number(process.env.PORTAL_EVENTS_FD);

const emit = (event) => fs.writeSync(eventsFd, JSON.stringify(event) + '\n');
let silent = false;

// console.log and friends write through these: their output becomes stream events of the cell.
for (const name of ['stdout', 'stderr']) {
  process[name].write = (chunk, encoding, callback) => {
    if (!silent) emit({ type: name, text: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8') });
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (typeof cb === 'function') cb();
    return true;
  };
}
process.on('uncaughtException', (e) => emit({ type: 'stderr', text: `Uncaught ${e?.stack ?? e}\n` }));
process.on('unhandledRejection', (e) => emit({ type: 'stderr', text: `Unhandled rejection: ${e?.stack ?? e}\n` }));

/** import() of a bare name resolved like require from the cwd (so /home/user/node_modules works). */
globalThis.__portal_import = async (specifier) => {
  if (specifier.startsWith('node:') || !/^[./]/.test(specifier) && require('node:module').builtinModules.includes(specifier)) {
    return import(specifier);
  }
  try {
    const resolved = createRequire(path.join(process.cwd(), '/')).resolve(specifier);
    return import(pathToFileURL(resolved).href);
  } catch {
    return import(specifier);
  }
};
globalThis.require = createRequire(path.join(process.cwd(), '/'));

function transpile(code) {
  if (language !== 'typescript') return code;
  return ts.transpileModule(code, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, removeComments: false },
    reportDiagnostics: false,
  }).outputText.replace(/^export \{\};\s*$/m, '');
}

/** Rewrites a cell into the body of an async function evaluated in the global scope. */
function rewrite(code) {
  const source = ts.createSourceFile('cell.js', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const text = (node) => code.slice(node.getStart(source), node.end);
  const hoisted = [];
  const out = [];
  const statements = source.statements;
  statements.forEach((st, i) => {
    const last = i === statements.length - 1;
    if (ts.isImportDeclaration(st)) {
      const spec = JSON.stringify(st.moduleSpecifier.text);
      const clause = st.importClause;
      if (!clause) { out.push(`await __portal_import(${spec});`); return; }
      const tmp = `__portal_m${i}`;
      out.push(`const ${tmp} = await __portal_import(${spec});`);
      if (clause.name) out.push(`globalThis.${clause.name.text} = ${tmp}.default;`);
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) out.push(`globalThis.${bindings.name.text} = ${tmp};`);
      if (bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) {
          out.push(`globalThis.${el.name.text} = ${tmp}[${JSON.stringify((el.propertyName ?? el.name).text)}];`);
        }
      }
      return;
    }
    if (ts.isVariableStatement(st)) {
      for (const decl of st.declarationList.declarations) {
        const init = decl.initializer ? text(decl.initializer) : 'undefined';
        if (ts.isIdentifier(decl.name)) out.push(`globalThis.${decl.name.text} = (${init});`);
        else out.push(`(${text(decl.name)} = (${init}));`); // sloppy mode: assigned names become globals
      }
      return;
    }
    if (ts.isFunctionDeclaration(st) && st.name) {
      out.push(text(st));
      hoisted.push(`globalThis.${st.name.text} = ${st.name.text};`);
      return;
    }
    if (ts.isClassDeclaration(st) && st.name) {
      out.push(text(st), `globalThis.${st.name.text} = ${st.name.text};`);
      return;
    }
    if (ts.isExportDeclaration(st) || ts.isExportAssignment(st)) return;
    if (last && ts.isExpressionStatement(st)) {
      out.push(`return { value: (${text(st.expression)}) };`);
      return;
    }
    out.push(text(st));
  });
  return [...hoisted, ...out].join('\n');
}

function display(value) {
  const data = { 'text/plain': typeof value === 'string' ? `'${value}'` : util.inspect(value, { depth: 4 }) };
  return data;
}

function errorEvent(e) {
  if (e instanceof Error) return { type: 'error', name: e.name, value: e.message, traceback: e.stack ?? String(e) };
  return { type: 'error', name: 'Error', value: String(e), traceback: String(e) };
}

async function run({ code, silent: quiet }) {
  silent = !!quiet;
  try {
    const body = rewrite(transpile(code));
    // Indirect eval: global scope, sloppy mode, and dynamic import() available.
    const fn = (0, eval)(`(async function () {\n${body}\n})`);
    let result = await fn();
    if (result && 'value' in result) {
      let value = result.value;
      if (value && typeof value.then === 'function') value = await value;
      if (value !== undefined && !silent) emit({ type: 'result', data: display(value) });
    }
  } catch (e) {
    if (!silent) emit(errorEvent(e));
  } finally {
    silent = false;
    emit({ type: 'done' });
  }
}

const queue = [];
let busy = false;
const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on('close', () => process.exit(0)); // the server is gone
lines.on('line', async (line) => {
  queue.push(JSON.parse(line));
  if (busy) return;
  busy = true;
  while (queue.length) await run(queue.shift());
  busy = false;
});
emit({ type: 'done' });
