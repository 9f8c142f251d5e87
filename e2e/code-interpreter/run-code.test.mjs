// runCode through the real @e2b/code-interpreter SDK (header routing): the scenarios of the
// code-interpreter repository's own JS tests (basics, statefulness, callbacks, streaming, errors,
// display data, data, images, charts, execution count, contexts, cwd, languages, env vars).
// One sandbox serves the tests that do not depend on a fresh one; each test that needs fresh
// state makes its own context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxes, sh } from './_sandbox.mjs';

const pool = sandboxes();
let sbx;
before(async () => { sbx = await pool.create(); });
after(() => pool.cleanup());

test('basics: the value of the last expression is the text', async () => {
  const r = await sbx.runCode('x =1; x');
  assert.equal(r.text, '1');
  assert.equal(r.error, undefined);
});

test('statefulness: variables live on between executions', async () => {
  const context = await sbx.createCodeContext();
  await sbx.runCode('y = 1', { context });
  const r = await sbx.runCode('y += 1; y', { context });
  assert.equal(r.text, '2');
});

test('callbacks: onResult, onError, onStdout, onStderr', async () => {
  const results = [];
  const r1 = await sbx.runCode('x =1; x', { onResult: (x) => results.push(x) });
  assert.equal(results.length, 1);
  assert.equal(r1.results[0].text, '1');

  const errors = [];
  const r2 = await sbx.runCode('xyz_undefined', { onError: (e) => errors.push(e) });
  assert.equal(errors.length, 1);
  assert.equal(r2.error.name, 'NameError');

  const stdout = [];
  const r3 = await sbx.runCode('print("hello")', { onStdout: (o) => stdout.push(o) });
  assert.equal(stdout.length, 1);
  assert.equal(stdout[0].line, 'hello\n');
  assert.equal(stdout[0].error, false);
  assert.ok(stdout[0].timestamp > 0);
  assert.deepEqual(r3.logs.stdout, ['hello\n']);

  const stderr = [];
  const r4 = await sbx.runCode('import sys;print("This is an error message", file=sys.stderr)', { onStderr: (o) => stderr.push(o) });
  assert.equal(stderr.length, 1);
  assert.deepEqual(r4.logs.stderr, ['This is an error message\n']);
});

test('streaming: output arrives while the code still runs', async () => {
  const seen = [];
  const started = Date.now();
  await sbx.runCode('import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.7)', {
    onStdout: (o) => seen.push([o.line, Date.now() - started]),
  });
  assert.deepEqual(seen.map(([l]) => l), ['0\n', '1\n', '2\n']);
  assert.ok(seen[2][1] - seen[0][1] >= 1000, `lines came ${seen[0][1]} and ${seen[2][1]} ms after the start: not streamed`);

  const results = [];
  await sbx.runCode(`
        import matplotlib.pyplot as plt
        import numpy as np

        x = np.linspace(0, 20, 100)
        y = np.sin(x)

        plt.plot(x, y)
        plt.show()

        x
        `, { onResult: (r) => results.push(r) });
  assert.equal(results.length, 2, 'the figure (display data) and the value of x');
});

test('errors: name, value and traceback', async () => {
  const r = await sbx.runCode('def f():\n    raise ValueError("bad value")\nf()');
  assert.equal(r.error.name, 'ValueError');
  assert.equal(r.error.value, 'bad value');
  assert.match(r.error.traceback, /ValueError/);
  assert.match(r.error.traceback, /in f\b/);
  assert.doesNotMatch(r.error.traceback, /\u001b\[/, 'no terminal colours in the traceback');
  const syntax = await sbx.runCode('1 +');
  assert.equal(syntax.error.name, 'SyntaxError');
});

test('display data: a matplotlib figure is a PNG with text and no extra formats', async () => {
  const r = await sbx.runCode(`
        import matplotlib.pyplot as plt
        import numpy as np

        x = np.linspace(0, 20, 100)
        y = np.sin(x)

        plt.plot(x, y)
        plt.show()
        `);
  const image = r.results[0];
  assert.ok(image.png, 'png');
  assert.ok(Buffer.from(image.png, 'base64').subarray(1, 4).toString() === 'PNG');
  assert.ok(image.text);
  assert.deepEqual(image.extra, {});
  assert.ok(image.formats().includes('png'));
  assert.equal(image.isMainResult, false);
});

test('data and HTML: a pandas DataFrame', async () => {
  const r = await sbx.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})');
  const result = r.results[0];
  assert.deepEqual(result.data, { a: [1, 2, 3], b: ['x', 'y', 'z'] });
  assert.match(result.html, /<table/);
  assert.equal(result.isMainResult, true);
});

test('other formats: markdown, SVG, LaTeX, JSON, JavaScript and unknown types as extra', async () => {
  const r = await sbx.runCode(`
from IPython.display import display, Markdown, SVG, Latex, JSON, Javascript
display(Markdown("# title"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'))
display(Latex(r"$x^2$"))
display(JSON({"k": [1, 2]}))
display(Javascript("console.log(1)"))
display({"application/x-custom": "custom"}, raw=True)
`);
  const [md, svg, latex, json, js, custom] = r.results;
  assert.equal(md.markdown, '# title');
  assert.match(svg.svg, /<svg/);
  assert.equal(latex.latex, '$x^2$');
  assert.deepEqual(json.json, { k: [1, 2] });
  assert.equal(js.javascript, 'console.log(1)');
  // The server sends other MIME types in "extra", as E2B's does; the JS SDK keeps that object in raw.
  assert.deepEqual(custom.raw.extra, { 'application/x-custom': 'custom' });
});

test('images: PIL show(), a PIL image as the value, and save() display a PNG', async () => {
  const setup = `
    import numpy
    from PIL import Image
    imarray = numpy.random.rand(16,16,3) * 255
    image = Image.fromarray(imarray.astype('uint8')).convert('RGBA')
  `;
  const shown = await sbx.runCode(`${setup}
    image.show()
    print("done")
    `);
  assert.ok(shown.results[0].png);
  const value = await sbx.runCode(`${setup}
    image
    `);
  assert.ok(value.results[0].png);
  const saved = await sbx.runCode(`${setup}
    image.save("test.png")
    `);
  assert.ok(saved.results[0].png);
  assert.equal(Buffer.from(await sbx.files.read('/home/user/test.png', { format: 'bytes' })).subarray(1, 4).toString(), 'PNG');
});

test('execution count: numbered per context', async () => {
  const context = await sbx.createCodeContext();
  await sbx.runCode('!pwd', { context });
  const r = await sbx.runCode('!pwd', { context });
  assert.equal(r.executionCount, 2);
  assert.equal(r.logs.stdout.join('').trim(), '/home/user');
});

test('charts: bar', async () => {
  const r = await sbx.runCode(`
import matplotlib.pyplot as plt
authors = ['Author A', 'Author B', 'Author C', 'Author D']
sales = [100, 200, 300, 400]
plt.figure(figsize=(10, 6))
plt.bar(authors, sales, label='Books Sold', color='blue')
plt.xlabel('Authors')
plt.ylabel('Number of Books Sold')
plt.title('Book Sales by Authors')
plt.tight_layout()
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'bar');
  assert.equal(chart.title, 'Book Sales by Authors');
  assert.equal(chart.x_label, 'Authors');
  assert.equal(chart.y_label, 'Number of Books Sold');
  assert.equal(chart.x_unit, null);
  assert.equal(chart.y_unit, null);
  assert.deepEqual(chart.elements.map((b) => b.value), [100, 200, 300, 400]);
  assert.deepEqual(chart.elements.map((b) => b.group), Array(4).fill('Books Sold'));
  assert.deepEqual(chart.elements.map((b) => b.label), authors());
  function authors() { return ['Author A', 'Author B', 'Author C', 'Author D']; }
});

test('charts: line with a datetime x axis, units, ticks', async () => {
  const r = await sbx.runCode(`
import numpy as np
import matplotlib.pyplot as plt
import datetime
dates = [datetime.date(2023, 9, 1) + datetime.timedelta(seconds=i) for i in range(100)]
x = np.linspace(0, 2*np.pi, 100)
plt.figure(figsize=(10, 6))
plt.plot(dates, np.sin(x), label='sin(x)')
plt.plot(dates, np.cos(x), label='cos(x)')
plt.xlabel("Time (s)")
plt.ylabel("Amplitude (Hz)")
plt.title('Plot of sin(x) and cos(x)')
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'line');
  assert.equal(chart.title, 'Plot of sin(x) and cos(x)');
  assert.equal(chart.x_label, 'Time (s)');
  assert.equal(chart.y_label, 'Amplitude (Hz)');
  assert.equal(chart.x_scale, 'datetime');
  assert.equal(chart.y_scale, 'linear');
  assert.equal(chart.x_unit, 's');
  assert.equal(chart.y_unit, 'Hz');
  assert.ok(chart.x_ticks.length > 0 && chart.x_ticks.every((t) => typeof t === 'string' && !Number.isNaN(Date.parse(t))));
  assert.ok(chart.y_ticks.every((t) => typeof t === 'number'));
  assert.ok(chart.x_tick_labels.every((t) => typeof t === 'string'));
  assert.ok(chart.y_tick_labels.every((t) => typeof t === 'string'));
  const [sin, cos] = chart.elements;
  assert.equal(chart.elements.length, 2);
  assert.equal(sin.label, 'sin(x)');
  assert.equal(sin.points.length, 100);
  assert.ok(sin.points.every(([x, y]) => typeof x === 'string' && typeof y === 'number'));
  assert.equal(new Date(sin.points[0][0]).toISOString(), '2023-09-01T00:00:00.000Z');
  assert.equal(cos.label, 'cos(x)');
  assert.equal(cos.points.length, 100);
});

test('charts: log scale and units', async () => {
  const r = await sbx.runCode(`
import numpy as np
import matplotlib.pyplot as plt
x = np.linspace(0, 100, 100)
plt.figure(figsize=(10, 6))
plt.plot(x, np.exp(x), label='y = e^x')
plt.yscale('log')
plt.xlabel('X-axis')
plt.ylabel('Y-axis (log scale)')
plt.title('Chart with Log Scale on Y-axis')
plt.legend()
plt.grid(True)
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'line');
  assert.equal(chart.x_unit, null);
  assert.equal(chart.y_unit, 'log scale');
  assert.equal(chart.x_scale, 'linear');
  assert.equal(chart.y_scale, 'log');
  assert.equal(chart.elements[0].label, 'y = e^x');
  assert.equal(chart.elements[0].points.length, 100);
});

test('charts: categorical scale', async () => {
  const r = await sbx.runCode(`
import matplotlib.pyplot as plt
plt.figure(figsize=(10, 6))
plt.plot([1, 2, 3, 4, 5], ['A', 'B', 'C', 'D', 'E'])
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'line');
  assert.equal(chart.x_scale, 'linear');
  assert.equal(chart.y_scale, 'categorical');
});

test('charts: pie', async () => {
  const r = await sbx.runCode(`
import matplotlib.pyplot as plt
categories = ["No", "No, in blue"]
sizes = [90, 10]
fig, ax = plt.subplots(figsize=(8, 8))
plt.xlabel("x")
plt.ylabel("y")
ax.pie(sizes, labels=categories, autopct='%1.1f%%', startangle=90, colors=plt.cm.Pastel1.colors[:len(categories)])
ax.axis('equal')
plt.title('Will I wake up early tomorrow?')
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'pie');
  assert.equal(chart.title, 'Will I wake up early tomorrow?');
  assert.deepEqual(chart.elements.map((e) => [e.label, e.angle, e.radius]), [['No', 324, 1], ['No, in blue', 36, 1]]);
});

test('charts: scatter', async () => {
  const r = await sbx.runCode(`
import matplotlib.pyplot as plt
import numpy as np
N = 5
plt.xlabel("A")
plt.ylabel("B")
plt.scatter(np.random.rand(N), np.random.rand(N), c='blue', label='Dataset 1')
plt.scatter(np.random.rand(2*N), np.random.rand(2*N), c='red', label='Dataset 2')
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'scatter');
  assert.equal(chart.title, null);
  assert.equal(chart.x_label, 'A');
  assert.equal(chart.y_label, 'B');
  assert.ok(chart.x_ticks.every((t) => typeof t === 'number'));
  assert.deepEqual(chart.elements.map((e) => [e.label, e.points.length]), [['Dataset 1', 5], ['Dataset 2', 10]]);
  assert.ok(chart.elements[0].points.every(([x, y]) => typeof x === 'number' && typeof y === 'number'));
});

test('charts: box and whisker', async () => {
  const r = await sbx.runCode(`
import matplotlib.pyplot as plt
data = {'Class A': [85, 90, 78, 92, 88], 'Class B': [95, 89, 76, 91, 84, 87], 'Class C': [75, 82, 88, 79, 86]}
fig, ax = plt.subplots(figsize=(10, 6))
ax.set_title('Exam Scores Distribution')
ax.set_xlabel('Class')
ax.set_ylabel('Score')
ax.boxplot(data.values(), labels=data.keys(), patch_artist=True)
ax.legend()
plt.tight_layout()
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'box_and_whisker');
  assert.equal(chart.title, 'Exam Scores Distribution');
  assert.equal(chart.x_label, 'Class');
  assert.equal(chart.y_label, 'Score');
  const boxes = chart.elements;
  assert.deepEqual(boxes.map((b) => b.label), ['Class A', 'Class B', 'Class C']);
  assert.deepEqual(boxes.map((b) => b.outliers), [[], [76], []]);
  assert.deepEqual(boxes.map((b) => b.min), [78, 84, 75]);
  assert.deepEqual(boxes.map((b) => b.first_quartile), [85, 84.75, 79]);
  assert.deepEqual(boxes.map((b) => b.median), [88, 88, 82]);
  assert.deepEqual(boxes.map((b) => b.third_quartile), [90, 90.5, 86]);
  assert.deepEqual(boxes.map((b) => b.max), [92, 95, 88]);
});

test('charts: superchart of several axes, and unknown', async () => {
  const r = await sbx.runCode(`
import matplotlib.pyplot as plt
import numpy as np
x1 = np.linspace(0, 10, 100)
fig, axs = plt.subplots(1, 2, figsize=(10, 8))
fig.suptitle('Multiple Charts Example', fontsize=16)
axs[0].plot(x1, np.sin(x1), 'r')
axs[0].set_title('Sine Wave')
axs[0].grid(True)
axs[1].scatter(np.random.rand(5), np.random.rand(5), c='blue', label='Dataset 1')
axs[1].set_xlabel('X')
axs[1].set_ylabel('Y')
axs[1].set_title('Scatter Plot')
plt.show()
`);
  const chart = r.results[0].chart;
  assert.equal(chart.type, 'superchart');
  assert.equal(chart.title, 'Multiple Charts Example');
  const [line, scatter] = chart.elements;
  assert.equal(chart.elements.length, 2);
  assert.deepEqual([line.type, line.title, line.x_label, line.y_label, line.elements.length, line.elements[0].points.length], ['line', 'Sine Wave', null, null, 1, 100]);
  assert.deepEqual([scatter.type, scatter.title, scatter.x_label, scatter.y_label, scatter.elements[0].points.length], ['scatter', 'Scatter Plot', 'X', 'Y', 5]);

  const unknown = await sbx.runCode(`
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.add_artist(plt.Circle((0, 0), 1, color='blue', fill=False, linewidth=2))
ax.add_artist(plt.Circle((0, 0), 2, color='red', fill=False, linewidth=2))
ax.grid(True)
plt.title('Two Concentric Circles')
plt.show()
`);
  const u = unknown.results[0].chart;
  assert.equal(u.type, 'unknown');
  assert.equal(u.title, 'Two Concentric Circles');
  assert.equal(u.elements.length, 0);
});

test('contexts: create (default and with options), list, remove, independence', async () => {
  const plain = await sbx.createCodeContext();
  assert.equal(plain.language, 'python');
  assert.equal(plain.cwd, '/home/user');
  const rooted = await sbx.createCodeContext({ language: 'python', cwd: '/root' });
  let contexts = await sbx.listCodeContexts();
  const last = contexts[contexts.length - 1];
  assert.deepEqual([last.id, last.language, last.cwd], [rooted.id, 'python', '/root']);
  assert.ok(contexts.some((c) => c.id === plain.id));
  const languages = contexts.map((c) => c.language);
  assert.ok(languages.includes('python') && languages.includes('javascript'), `default contexts: ${languages}`);
  const cwd = await sbx.runCode('import os; os.getcwd()', { context: rooted });
  assert.equal(cwd.text, '/root');

  await sbx.runCode('independent = 1');
  const other = await sbx.runCode('independent', { context: plain });
  assert.equal(other.error.value, "name 'independent' is not defined");

  await sbx.removeCodeContext(plain.id);
  contexts = await sbx.listCodeContexts();
  assert.ok(!contexts.some((c) => c.id === plain.id));
  await assert.rejects(sbx.runCode('1', { context: plain }), (e) => e.name === 'NotFoundError' && /not found/.test(e.message));
  await assert.rejects(sbx.removeCodeContext(plain.id), (e) => e.name === 'NotFoundError');
  await assert.rejects(sbx.runCode('1', { context: rooted, language: 'python' }), /context or language/);
});

test('restart context: state is gone', async () => {
  const context = await sbx.createCodeContext();
  await sbx.runCode('x = 1', { context });
  await sbx.restartCodeContext(context.id);
  const r = await sbx.runCode('x', { context });
  assert.equal(r.error.name, 'NameError');
  assert.equal(r.error.value, "name 'x' is not defined");
  await assert.rejects(sbx.restartCodeContext('no-such-context'), (e) => e.name === 'NotFoundError');
});

test('cwd: every language starts in /home/user', async () => {
  assert.equal((await sbx.runCode('from pathlib import Path; print(Path.cwd())', { language: 'python' })).logs.stdout.join('').trim(), '/home/user');
  assert.equal((await sbx.runCode('process.cwd()', { language: 'js' })).text, '/home/user');
  assert.equal((await sbx.runCode('process.cwd()', { language: 'ts' })).text, '/home/user');
  assert.equal((await sbx.runCode('pwd', { language: 'bash' })).logs.stdout.join('').trim(), '/home/user');
  assert.equal((await sbx.runCode('getwd()', { language: 'r' })).results[0]?.text.trim(), '[1] "/home/user"');
});

test('javascript: console.log, ESM import, top-level await, state, errors', async () => {
  const log = await sbx.runCode('console.log("Hello World!")', { language: 'js' });
  assert.deepEqual(log.logs.stdout, ['Hello World!\n']);
  const esm = await sbx.runCode(`
    import { readFileSync } from 'fs'
    console.log(typeof readFileSync)
    `, { language: 'js' });
  assert.deepEqual(esm.logs.stdout, ['function\n']);
  const awaited = await sbx.runCode(`
    await Promise.resolve('Hello World!')
    `, { language: 'js' });
  assert.equal(awaited.text, 'Hello World!');
  await sbx.runCode('const counter = 41; function bump() { return counter + 1 }', { language: 'js' });
  assert.equal((await sbx.runCode('bump()', { language: 'js' })).text, '42');
  const err = await sbx.runCode('throw new TypeError("nope")', { language: 'js' });
  assert.equal(err.error.name, 'TypeError');
  assert.equal(err.error.value, 'nope');
});

test('typescript: types are stripped, the rest runs', async () => {
  const r = await sbx.runCode('const message: string = "Hello World!"; console.log(message)', { language: 'ts' });
  assert.deepEqual(r.logs.stdout, ['Hello World!\n']);
  const v = await sbx.runCode('interface P { n: number }\nconst p: P = { n: 2 };\np.n * 21', { language: 'typescript' });
  assert.equal(v.text, '42');
});

test('bash: state persists, stderr, exit status', async () => {
  const context = await sbx.createCodeContext({ language: 'bash' });
  await sbx.runCode('GREETING=hi; cd /tmp', { context });
  const r = await sbx.runCode('echo "$GREETING from $(pwd)"; echo oops >&2', { context });
  assert.deepEqual(r.logs.stdout, ['hi from /tmp\n']);
  assert.deepEqual(r.logs.stderr, ['oops\n']);
  const failed = await sbx.runCode('false', { context });
  assert.ok(failed.error);
});

test('r: the IRkernel from Debian', async () => {
  const r = await sbx.runCode('x <- c(1, 2, 3)\nsum(x)', { language: 'r' });
  assert.equal(r.results[0].text.trim(), '[1] 6');
});

test('an unknown language is an error, for runCode and createCodeContext', async () => {
  await assert.rejects(sbx.runCode('System.out.println(1);', { language: 'java' }), /500/);
  await assert.rejects(sbx.createCodeContext({ language: 'cobol' }), /500/);
});

for (const [language, read, readDefault, lines] of [
  ['python', 'import os; os.getenv("FOO")', "import os; os.getenv('FOO', 'default')", (r) => r.results[0]?.text.trim()],
  ['javascript', 'process.env.FOO', "process.env.FOO || 'default'", (r) => r.results[0]?.text.trim()],
  ['bash', 'echo $FOO', 'echo ${FOO:-default}', (r) => r.logs.stdout[0]?.trim()],
  ['r', 'Sys.getenv("FOO")', 'Sys.getenv("FOO", "default")', (r) => r.results[0]?.text.trim().replace(/^\[1\] "(.*)"$/, '$1')],
]) {
  test(`env vars per execution (${language})`, async () => {
    const r = await sbx.runCode(read, { envs: { FOO: 'bar' }, language });
    const after = await sbx.runCode(readDefault, { language });
    assert.equal(lines(r), 'bar');
    assert.equal(lines(after), 'default');
  });
}

test('env vars given at create, and overwritten for one execution', async () => {
  const withEnv = await pool.create({ envs: { TEST_ENV_VAR: 'supertest' } });
  assert.equal((await withEnv.runCode('import os; os.getenv("TEST_ENV_VAR")')).text, 'supertest');
  assert.equal((await withEnv.runCode('process.env.TEST_ENV_VAR', { language: 'js' })).text, 'supertest');
  assert.deepEqual((await withEnv.runCode('echo $TEST_ENV_VAR', { language: 'bash' })).logs.stdout, ['supertest\n']);
  const over = await withEnv.runCode('import os; os.getenv("TEST_ENV_VAR")', { envs: { TEST_ENV_VAR: 'overwrite' } });
  assert.equal(over.text, 'overwrite');
  assert.equal((await withEnv.runCode('import os; os.getenv("TEST_ENV_VAR")')).text, 'supertest');
  const before = (await withEnv.runCode('1')).executionCount;
  await withEnv.runCode('1', { envs: { A: '1' } });
  assert.equal((await withEnv.runCode('1')).executionCount, before + 2, 'env handling adds no executions');
  await withEnv.kill();
  pool.forget(withEnv.sandboxId);
});

test('env var values with quotes, backslashes and newlines arrive intact, in every language', async () => {
  const value = `it's "quoted" \\ back\nslash $HOME \`x\``;
  const py = await sbx.runCode('import os; print(os.environ["TRICKY"], end="")', { envs: { TRICKY: value } });
  assert.equal(py.logs.stdout.join(''), value);
  const js = await sbx.runCode('process.stdout.write(process.env.TRICKY)', { envs: { TRICKY: value }, language: 'js' });
  assert.equal(js.logs.stdout.join(''), value);
  const bash = await sbx.runCode('printf %s "$TRICKY"', { envs: { TRICKY: value }, language: 'bash' });
  assert.equal(bash.logs.stdout.join(''), value);
});

test('bad input gets a plain-text error and changes nothing', async () => {
  const headers = { 'Content-Type': 'application/json', 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49999' };
  const post = (path, body) => fetch(`${sbx.jupyterUrl}${path}`, { method: 'POST', headers, body });
  const cases = [
    ['/execute', '{not json', 400, /JSON object/],
    ['/execute', '[1, 2]', 400, /JSON object/],
    ['/execute', JSON.stringify({ code: 1 }), 400, /string 'code'/],
    ['/execute', JSON.stringify({ code: '1', context_id: 'x', language: 'python' }), 400, /^Only one of context_id or language can be provided$/],
    ['/execute', JSON.stringify({ code: '1', context_id: 'no-such-context' }), 404, /^Context no-such-context not found$/],
    ['/execute', JSON.stringify({ code: '1', env_vars: { "A'] = 1; import os; os.system('touch /tmp/pwned') #": 'x' } }), 400, /env_vars/],
    ['/execute', JSON.stringify({ code: '1', env_vars: { A: 1 } }), 400, /env_vars/],
    ['/contexts', JSON.stringify({ cwd: '/no/such/dir' }), 500, /not a directory/],
    ['/contexts/no-such-context/restart', '', 404, /not found/],
  ];
  for (const [path, body, status, message] of cases) {
    const res = await post(path, body);
    const text = await res.text();
    assert.equal(res.status, status, `${path} ${body}: ${res.status} ${text}`);
    assert.match(text, message);
  }
  const del = await fetch(`${sbx.jupyterUrl}/contexts/no-such-context`, { method: 'DELETE', headers });
  assert.equal(del.status, 404);
  assert.equal((await sh(sbx, 'test -e /tmp/pwned && echo yes || echo no')).stdout.trim(), 'no');
  assert.equal((await sbx.runCode('6*7')).text, '42');
});
