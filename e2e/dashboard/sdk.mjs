// The real e2b SDK for the dashboard's browser tests (Portal.Tests/Web/Dashboard/Browser):
//   node e2e/dashboard/sdk.mjs create PORTAL_URL API_KEY [key=value...]  -> prints the sandbox ID
//   node e2e/dashboard/sdk.mjs list PORTAL_URL API_KEY                    -> prints IDs, one a line
//   node e2e/dashboard/sdk.mjs read PORTAL_URL API_KEY SANDBOX_ID PATH    -> prints the file's text
// Exits 3 with the SDK's error name when the SDK refuses the key (AuthenticationError).
import { Sandbox } from 'e2b';

if (process.env.E2B_DEBUG !== undefined) throw new Error('E2B_DEBUG must not be set');
const [command, url, apiKey, ...rest] = process.argv.slice(2);
const opts = { apiKey, apiUrl: url, sandboxUrl: url, requestTimeoutMs: 60_000 };

try {
  if (command === 'create') {
    const metadata = Object.fromEntries(rest.map((kv) => kv.split('=', 2)));
    const sbx = await Sandbox.create('base', { ...opts, metadata, timeoutMs: 600_000 });
    console.log(sbx.sandboxId);
  } else if (command === 'list') {
    const paginator = Sandbox.list(opts);
    for (const s of await paginator.nextItems()) console.log(s.sandboxId);
  } else if (command === 'read') {
    const [sandboxId, path] = rest;
    const sbx = await Sandbox.connect(sandboxId, opts);
    process.stdout.write(await sbx.files.read(path));
  } else {
    throw new Error(`unknown command '${command}'`);
  }
} catch (e) {
  console.error(`${e?.name}: ${e?.message}`);
  process.exit(e?.name === 'AuthenticationError' ? 3 : 1);
}
